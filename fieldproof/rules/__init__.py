"""The contract rules: each one function (exchange rules) or one `SequenceJudge` class (sequence
rules), named after the rule, returning what it found. Suites, schemathesis checks, the CLI and
reports call these; no rule is written anywhere else.

- `registry`: what a rule and a finding are, the registry, the decorators and the guards they
  declare, `judge_exchange`.
- `exchange`: the rules on single exchanges; the recorder runs every one on every exchange.
- `sequence`: the rules on sequences, which judge several exchanges together.

Each kind has its own table, filled in the order its module writes the rules, and `all_rules()`
lists the exchange rules before the sequence rules: every listing (the docs, the reports)
follows that order.
"""

from fieldproof.rules.exchange import (
    END_DATE_MARGIN,
    REFUSALS,
    api_version_required,
    auth_refused,
    business_rules_refuse,
    current_tag_wins,
    documented_status,
    end_date_passed,
    error_body_documented,
    etag_on_success,
    get_serves_the_run,
    http_message_well_formed,
    if_match_variant_answered,
    no_body_on_204,
    refusal_changes_nothing,
    response_body_bounded,
    retry_after_on_429,
    run_body_documented,
    stale_tag_refused,
    state_answers,
    success_changes_the_run,
    trace_continues_callers_trace,
    traceparent_on_every_response,
    tracestate_well_formed,
    undeclared_method_refused,
    unknown_api_version_answered,
    unknown_path_refused,
)
from fieldproof.rules.registry import (
    EXCHANGE_RULES,
    SEQUENCE_RULES,
    ExternalFailure,
    Finding,
    Guards,
    Result,
    Rule,
    SequenceJudge,
    Severity,
    Signature,
    all_rules,
    exchange_rule,
    finding,
    judge_exchange,
    ours,
    rate_limited,
    sequence_rule,
    severity_of,
    signature_of,
    what_happened,
)
from fieldproof.rules.sequence import (
    RACE_ANSWERS,
    LifecycleModel,
    LinearizableHistory,
    NewTagAccepted,
    OneWinner,
    observation_of,
)

# transitional, for plugin.py until the pytest-seam work is merged (it then imports SequenceJudge)
SequenceCheck = SequenceJudge

__all__ = [
    "END_DATE_MARGIN",
    "EXCHANGE_RULES",
    "RACE_ANSWERS",
    "REFUSALS",
    "SEQUENCE_RULES",
    "ExternalFailure",
    "Finding",
    "Guards",
    "LifecycleModel",
    "LinearizableHistory",
    "NewTagAccepted",
    "OneWinner",
    "Result",
    "Rule",
    "SequenceCheck",
    "SequenceJudge",
    "Severity",
    "Signature",
    "all_rules",
    "api_version_required",
    "auth_refused",
    "business_rules_refuse",
    "current_tag_wins",
    "documented_status",
    "end_date_passed",
    "error_body_documented",
    "etag_on_success",
    "exchange_rule",
    "finding",
    "get_serves_the_run",
    "http_message_well_formed",
    "if_match_variant_answered",
    "judge_exchange",
    "no_body_on_204",
    "observation_of",
    "ours",
    "rate_limited",
    "refusal_changes_nothing",
    "response_body_bounded",
    "retry_after_on_429",
    "run_body_documented",
    "sequence_rule",
    "severity_of",
    "signature_of",
    "stale_tag_refused",
    "state_answers",
    "success_changes_the_run",
    "trace_continues_callers_trace",
    "traceparent_on_every_response",
    "tracestate_well_formed",
    "undeclared_method_refused",
    "unknown_api_version_answered",
    "unknown_path_refused",
    "what_happened",
]
