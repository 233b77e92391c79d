"""The fact ledger: every documented fact of the fielding-run endpoints a client can observe, one
entry each, with where it is documented, the rules that assert it and the probes that exercise it.

Written from shared/api/fielding-runs.md line by line (and the RFCs and W3C Trace Context it
defers to). The contract table (contract.py) holds the values the rules compare with; this
ledger says which promise each rule keeps, so that a session can report which documented
promises it verified, not only which rules passed. tests/test_ledger.py keeps it true: every
fact has a rule and a probe, every rule asserts a fact, every probe named here exists, and every
open question named is one of contract.OPEN_QUESTIONS.

A probe is a suite's test, `<suite>::<test>` (fieldproof/suites/test_<suite>.py), or a step of
the first pass, `first_pass[<step>]`.
"""

from __future__ import annotations

from dataclasses import dataclass

# where a fact is documented
DOCS = "the Demand API docs"
OPENAPI = "the vendor's published OpenAPI"
RFC9110 = "RFC 9110"
RFC9112 = "RFC 9112"
W3C = "W3C Trace Context"
USERS = "the users' own requirement (beyond the vendor's)"

_GET, _WRITES = frozenset({"get"}), frozenset({"pause", "resume", "complete"})


@dataclass(frozen=True)
class Fact:
    name: str
    says: str  # the fact, in the words of fielding-runs.md
    source: str  # where it is documented, and where there
    rules: tuple[str, ...]  # the rules that assert it (fieldproof.rules)
    probes: tuple[str, ...]  # what sends the requests that exercise it
    operations: frozenset[str] = frozenset()  # what it is about (empty: every operation)
    statuses: frozenset[int] = frozenset()  # the answers it is about (empty: any)
    questions: tuple[str, ...] = ()  # the open questions that qualify it (contract.OPEN_QUESTIONS)
    # its statuses are answers it forbids (a 5xx), not answers it must see to be exercised
    forbids: bool = False
    # its rules also judge the requests of other facts: it is exercised only when one of its own
    # probes ran (else any request of its scope exercises it, whatever sent it)
    own_probe: bool = False

    def concerns(self, operation: str | None, status: int | None) -> bool:
        """Whether a finding about `operation` answered `status` breaks this fact (a finding
        that names neither concerns every fact of its rule)."""
        if operation is not None and self.operations and operation not in self.operations:
            return False
        return status is None or not self.statuses or status in self.statuses


_EVERY_STEP = ("first_pass[concurrency]", "first_pass[lifecycle]", "schemathesis::test_the_contract_document_holds")

FACTS: tuple[Fact, ...] = (
    # --- statuses ------------------------------------------------------------------------------
    Fact("get_statuses", "GET answers 200, 400, 401, 403, 404, 429 or 500, and no other status",
         f"{DOCS}; {OPENAPI}", ("documented_status",), _EVERY_STEP, _GET),
    Fact("write_statuses", "pause, resume and complete answer 204, 400, 401, 403, 404, 412, 422, 429 or 500; "
         "no operation documents 409 (nor 428, but for a missing If-Match, an open question)",
         f"{DOCS}; {OPENAPI}", ("documented_status",), _EVERY_STEP, _WRITES, questions=("missing_if_match",)),
    Fact("no_server_error", "a 500 is never a pass; no other 5xx is documented", f"{USERS}; {DOCS}",
         ("documented_status",), _EVERY_STEP, statuses=frozenset(range(500, 600)), forbids=True),
    # --- the answer to a success ---------------------------------------------------------------
    Fact("get_200_etag", "a GET's 200 carries an ETag, a quoted entity tag (W/\"1234\" in the docs)",
         f"{DOCS}; {OPENAPI} (required on 200)", ("etag_on_success",), _EVERY_STEP, _GET, frozenset({200})),
    Fact("write_204_etag", "a write's 204 carries the new ETag", f"{DOCS}; {OPENAPI} (required on 204)",
         ("etag_on_success",), ("first_pass[lifecycle]", "lifecycle::test_every_tag_of_a_long_life_is_stale"),
         _WRITES, frozenset({204})),
    Fact("write_204_no_body", "a write's 204 has no body", DOCS, ("no_body_on_204",),
         ("first_pass[lifecycle]", "lifecycle::test_every_tag_of_a_long_life_is_stale"), _WRITES, frozenset({204})),
    Fact("get_200_run", "a GET's 200 carries the run as JSON: id, status (scheduled, live, paused, completed), "
         "version (an integer), start_fielding_at, end_fielding_at, last_changed_at (RFC 3339 UTC), "
         "last_changed_by (a UUID); unknown extra fields are allowed", f"{DOCS}; {OPENAPI} (FieldingRunItem, all required)",
         ("run_body_documented",), _EVERY_STEP, _GET, frozenset({200}), ("status_case",)),
    Fact("get_200_names_the_run", "a GET's 200 shows the run its path names: its id, and the account, project and "
         "target group where the body gives them", DOCS, ("run_body_documented",), _EVERY_STEP, _GET, frozenset({200})),
    # --- what a write does -----------------------------------------------------------------------
    Fact("resume_makes_live", "resume sets a paused run's status to live", DOCS, ("success_changes_the_run",),
         ("first_pass[lifecycle]", "lifecycle::test_every_tag_of_a_long_life_is_stale"), frozenset({"resume"}),
         frozenset({204})),
    Fact("pause_makes_paused", "pause sets a live run's status to paused", DOCS, ("success_changes_the_run",),
         ("first_pass[lifecycle]", "lifecycle::test_every_tag_of_a_long_life_is_stale"), frozenset({"pause"}),
         frozenset({204})),
    Fact("complete_makes_completed", "complete immediately completes a live or scheduled run", OPENAPI,
         ("success_changes_the_run",), ("lifecycle::test_complete_ends_the_lifecycle",), frozenset({"complete"}),
         frozenset({204}), ("complete_paused",)),
    Fact("success_bumps_version", "every successful change bumps version and last_changed_at, and its 204's ETag is "
         "the run's new current tag", DOCS, ("success_changes_the_run",),
         ("first_pass[lifecycle]", "lifecycle::test_every_tag_of_a_long_life_is_stale"), _WRITES, frozenset({204})),
    Fact("new_tag_works", "If-Match holds the ETag from the last GET or write: the tag a 204 returned is accepted by "
         "the next write", DOCS, ("new_etag_accepted_by_next_write",),
         ("first_pass[lifecycle]", "lifecycle::test_every_tag_of_a_long_life_is_stale"), _WRITES),
    # --- optimistic locking ----------------------------------------------------------------------
    Fact("current_tag_wins", "If-Match with the current ETag is the precondition a write needs: with it, a write "
         "the run's state allows succeeds", DOCS, ("current_tag_wins",),
         ("first_pass[lifecycle]", "if_match::test_only_the_current_tag_wins"), _WRITES),
    Fact("stale_tag_412", "a stale, foreign or never-issued ETag gets 412 (precondition_failed_error) and nothing "
         "changes; the server compares If-Match with the tag it issued", DOCS, ("stale_tag_refused",),
         ("first_pass[if_match]", "lifecycle::test_every_tag_of_a_long_life_is_stale", "if_match::test_only_the_current_tag_wins"),
         _WRITES, questions=("gate_order",)),
    Fact("if_match_spellings", "If-Match values are double-quoted entity tags, weak or not; * is true when the run "
         "exists and a list when any member matches (RFC 9110 §13.1.1), each answered as the docs allow",
         f"{DOCS}; {RFC9110} §13.1.1", ("if_match_variant_answered",),
         ("first_pass[if_match]", "if_match::test_if_match_values_are_answered_by_the_contract"), _WRITES,
         questions=("missing_if_match", "malformed_if_match", "if_match_star", "if_match_list", "if_match_comparison")),
    Fact("one_winner", "N concurrent writes with one ETag, of one kind or of several: exactly one changes the run, once; "
         "the others get 412 (or 422 once the winner changed the state)", DOCS, ("one_winner_among_concurrent_writes",),
         ("first_pass[concurrency]", "concurrency::test_concurrent_resumes_with_one_etag_have_one_winner",
          "concurrency::test_concurrent_pauses_with_one_etag_have_one_winner",
          "concurrency::test_concurrent_writes_of_different_kinds_with_one_etag_have_one_winner"), _WRITES,
         questions=("gate_order", "resume_live", "pause_paused", "complete_paused")),
    Fact("behaves_as_one_run", "under any sequence of requests, and concurrently, every answer is one a run with the "
         "documented states, transitions and optimistic lock gives", DOCS,
         ("lifecycle_model_allows", "history_linearizable"),
         ("first_pass[lifecycle_model]", "first_pass[linearizability]",
          "lifecycle_model::test_clients_interleaving_fresh_and_stale_tags_follow_the_model",
          "linearizability::test_a_concurrent_history_is_linearizable"),
         questions=("resume_live", "pause_paused", "complete_paused", "gate_order")),
    # --- every other conditional write (the generic locking oracles) ------------------------------
    Fact("conditional_writes_locked", "every other conditional write of the document (update, launch-now and relaunch of a "
         "run; the resources a session opts into): the current ETag succeeds and, where it changed the resource, gives a "
         "new one; a stale, foreign or never-issued tag, a missing If-Match and a list of tags none current are refused "
         "(412) and change nothing; * and a list holding the current tag as RFC 9110 §13.1.1 says",
         f"{DOCS}; {RFC9110} §13.1.1",
         ("conditional_write_current_tag_succeeds", "conditional_write_issues_new_etag", "conditional_write_stale_tag_refused",
          "conditional_write_missing_if_match_refused", "conditional_write_if_match_star_and_lists"),
         ("locking::test_a_conditional_write_is_locked",),
         questions=("missing_if_match", "if_match_star", "if_match_list", "gate_order"), own_probe=True),
    Fact("conditional_writes_one_winner", "N concurrent conditional writes of a resource with one ETag: at most one succeeds, "
         "the others get 412, the resource one version on; a concurrent history fits a versioned register", DOCS,
         ("conditional_writes_one_winner", "resource_history_linearizable"), ("locking::test_a_conditional_write_is_locked",),
         questions=("gate_order",), own_probe=True),
    # --- the state rules --------------------------------------------------------------------------
    Fact("resume_refused_by_goal_or_end_date", "resume is refused with 422 (invalid_state_error) when the completes "
         "goal or the end date is reached (and, as every refusal, changes nothing)", DOCS, ("business_rules_refuse",),
         ("first_pass[business_rules]", "business_rules::test_resume_is_refused_by_the_runs_state"),
         frozenset({"resume"}), questions=("resume_live",), own_probe=True),
    Fact("write_refused_by_state", "a write the run's state does not allow (resume of a completed run) gets 422", DOCS,
         ("business_rules_refuse",), ("business_rules::test_resume_is_refused_by_the_runs_state",), frozenset({"resume"}), own_probe=True),
    Fact("refusal_changes_nothing", "no refusal (400, 401, 403, 404, 412, 422, 429) changes the run", DOCS,
         ("refusal_changes_nothing",), ("first_pass[lifecycle]", "paths::test_unknown_runs_are_404_and_touch_nothing",
                                       "auth::test_requests_without_valid_credentials_are_refused"),
         statuses=frozenset({400, 401, 403, 404, 412, 422, 428, 429})),
    # --- who may ask --------------------------------------------------------------------------
    Fact("auth", "no token or a malformed one gets 401; an expired one 403 (not 401); another account's token 403 "
         "(404 is open); none of them changes the run (as every refusal)", DOCS, ("auth_refused",),
         ("first_pass[auth]", "auth::test_requests_without_valid_credentials_are_refused"), questions=("foreign_account",)),
    Fact("get_serves_the_run", "a GET of a run, with a token of its account, on its own path, is answered 200", DOCS,
         ("get_serves_the_run",), _EVERY_STEP, _GET),
    Fact("auth_scheme_any_case", "the Bearer scheme is matched in any letter case ('bearer <token>' is the token), and "
         "header names in any letter case are the same headers", f"{RFC9110} §11.1, §5.1; RFC 6750 §2.1",
         ("get_serves_the_run", "current_tag_wins"), ("auth::test_the_auth_scheme_and_header_names_ignore_case",),
         own_probe=True),
    Fact("each_request_on_its_own", "each request is judged on its own headers: nothing (credentials, trace context, "
         "API version) carries over from an earlier request on the same connection", f"{DOCS} (on every request)",
         ("auth_refused", "trace_continues_callers_trace", "api_version_required"),
         ("first_pass[auth]", "first_pass[api_version]", "first_pass[trace_context]")),
    Fact("api_version_required", "Cint-API-Version on every request, no default: a missing one is 403 "
         "required_header_missing", DOCS, ("api_version_required",),
         ("first_pass[api_version]", "auth::test_a_missing_or_unknown_api_version_is_answered")),
    Fact("api_version_unknown", "a Cint-API-Version that is no known version is refused or served (open)", DOCS,
         ("unknown_api_version_answered",), ("first_pass[api_version]", "auth::test_a_missing_or_unknown_api_version_is_answered"),
         questions=("unknown_api_version",)),
    # --- the path names the run ---------------------------------------------------------------
    Fact("unknown_run_404", "an unknown run (well-formed ids that name none) gets 404 (and, as every refusal, changes "
         "nothing)", DOCS, ("unknown_path_refused",),
         ("first_pass[paths]", "paths::test_unknown_runs_are_404_and_touch_nothing"), own_probe=True),
    Fact("malformed_ids_refused", "account_id is an integer and project and target-group ids are ULIDs: a malformed "
         "one is refused (400 or 404)", f"{DOCS}; {RFC9110}",
         ("unknown_path_refused",), ("paths::test_malformed_ids_are_refused_and_touch_nothing",),
         questions=("malformed_id",), own_probe=True),
    Fact("whole_path_names_the_run", "the whole path names the run: its id under another project or target group (even "
         "of the same account) or account is not that run, nor is an id one character off: each is refused (404; "
         "400 or 403 open), never served or written", DOCS,
         ("unknown_path_refused",), ("first_pass[whole_path]", "paths::test_a_run_is_named_by_its_whole_path"),
         questions=("other_scope",), own_probe=True),
    Fact("undeclared_method", "a method the contract does not declare is not a success and changes nothing (501 for a "
         "method not recognised, 405 for one not allowed)", f"{RFC9110} §15.5.6, §15.6.2",
         ("undeclared_method_refused",),
         ("first_pass[undeclared_methods]", "paths::test_undeclared_methods_are_refused_and_change_nothing"),
         questions=("undeclared_method",)),
    # --- error bodies ------------------------------------------------------------------------
    Fact("error_body", "an error is plain application/json: {id, object, detail, invalid_params?} with object (a "
         "snake_case code) and detail required, invalid_params null or a list of {name, reason}; a 429's body is "
         "{object: too_many_requests_problem_details, details}", f"{DOCS}; {OPENAPI}", ("error_body_documented",),
         _EVERY_STEP, statuses=frozenset(range(400, 600))),
    Fact("error_object_codes", "each refusal's object is its documented code: 400 bad_request_error, 401 "
         "authorization_error, 403 authorization_error or required_header_missing, 404 not_found_error, 412 "
         "precondition_failed_error, 422 invalid_state_error, 500 unexpected_internal_error", DOCS,
         ("error_body_documented",), _EVERY_STEP, statuses=frozenset({400, 401, 403, 404, 412, 422, 500})),
    # --- headers on every response -----------------------------------------------------------
    Fact("traceparent_everywhere", "every response carries a valid traceparent: 00-<32 hex>-<16 hex>-<2 hex>, lower "
         "case, ids not all zero", f"{USERS}; {DOCS}; {W3C}", ("traceparent_on_every_response",),
         (*_EVERY_STEP, "trace_context::test_every_caller_gets_a_valid_trace")),
    Fact("trace_continues", "a response to a request with a valid traceparent continues its trace: the same trace-id, "
         "its own parent-id", f"{DOCS}; {W3C}", ("trace_continues_callers_trace",),
         (*_EVERY_STEP, "trace_context::test_every_caller_gets_a_valid_trace")),
    Fact("trace_restarts", "a request without a traceparent, or with an invalid one, gets a new trace, never the "
         "invalid one's", f"{DOCS} (when absent the service makes one); {W3C} (an invalid traceparent is ignored)",
         ("trace_continues_callers_trace", "traceparent_on_every_response"),
         ("first_pass[trace_context]", "trace_context::test_every_caller_gets_a_valid_trace"), own_probe=True),
    Fact("tracestate_list", "tracestate, when present, is a list of key=value members (a malformed one a caller sent is "
         "not passed on)", f"{DOCS}; {W3C}",
         ("tracestate_well_formed",), (*_EVERY_STEP, "trace_context::test_every_caller_gets_a_valid_trace")),
    Fact("retry_after_on_429", "a 429 carries Retry-After, a count of seconds", f"{DOCS}; {USERS}", ("retry_after_on_429",),
         ("rate_limit::test_a_burst_gets_429_with_retry_after",), statuses=frozenset({429})),
    # --- HTTP itself ---------------------------------------------------------------------------
    Fact("http_framing", "every response is a well-formed HTTP/1.1 message: a valid status line, one Content-Length and "
         "none on a 204, a body as long as it says and none on 204 or 304, in a content coding the client asked for",
         f"{RFC9112}; {RFC9110} §8.4, §8.6", ("http_message_well_formed",), _EVERY_STEP),
    Fact("body_bounded", "a response body fits in the target file's max_body_bytes", USERS, ("response_body_bounded",),
         _EVERY_STEP),
)


def by_name() -> dict[str, Fact]:
    return {fact.name: fact for fact in FACTS}


def facts_of(rule: str) -> tuple[Fact, ...]:
    """The facts a rule asserts."""
    return tuple(fact for fact in FACTS if rule in fact.rules)
