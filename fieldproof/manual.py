"""The manual's generated pages: the rule reference, the exit codes, the fault modes and the
open questions.

Each is read from the registry that defines it (`rules.all_rules()` and the fact ledger,
`errors.ExitCode`, `sandbox.faults.FAULT_MODES`, `contract.OPEN_QUESTIONS`), so the manual
cannot drift from the code.
Every rule's example finding is produced by running the rule on a hand-built exchange (or
sequence), so the example is the rule's own words, and a rule without an example fails the
build. `docs/hooks.py` puts each page where a docs page holds its marker,
`<!-- generated: NAME -->`; `python -m fieldproof.manual NAME` prints it.
"""

from __future__ import annotations

import enum
import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from fieldproof import contract, errors, ledger, rules
from fieldproof.exchange import REDACTED, Exchange, Snapshot
from fieldproof.facts import ApiVersion, Auth, IfMatch, PathKind, RequestFacts
from fieldproof.linearizability import Entry
from fieldproof.linearizability.register import READ, WRITE, RegisterEntry, RegisterOp, Version, canonical
from fieldproof.model import Observation, RunState

# --- the example exchanges: a correct answer, then the one thing each rule's example breaks -------

_BASE_URL = "https://staging.example.com/v1"
_RUN = {"account_id": "101", "project_id": "01JD2Z6Q8W3N5P7R9T1V3X5Z7B", "target_group_id": "01JD2Z6Q8W3N5P7R9T1V3X5Z7C",
        "fielding_run_id": "01JD2Z6Q8W3N5P7R9T1V3X5Z7D"}
_CALLER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
_ANSWER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"  # the caller's trace continued
_AUTHOR = "9b2c4f0e-5d1a-4c3e-8f7a-2b6d9e0c1a54"


def _run_body(status: str = "paused", version: int = 7, changed: str = "2026-11-02T09:30:00Z") -> dict[str, Any]:
    return {"id": _RUN["fielding_run_id"], "status": status, "version": version,
            "start_fielding_at": "2026-10-01T00:00:00Z", "end_fielding_at": "2099-12-31T00:00:00Z",
            "last_changed_at": changed, "last_changed_by": _AUTHOR}


def _look(status: str = "paused", version: int = 7, changed: str = "2026-11-02T09:30:00Z") -> Snapshot:
    """What a GET of the run showed."""
    return Snapshot(200, f'W/"{version}"', _run_body(status, version, changed))


def _error_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {"object": "too_many_requests_problem_details", "details": "too many requests; retry later"}
    code = sorted(contract.ERROR_OBJECTS.get(status, {"bad_request_error"}))[0]
    return {"id": "5f0c6a53-0c8e-4d38-9a53-1c1f1d2f3e4a", "object": code, "detail": "refused", "invalid_params": None}


def _exchange(operation: str, status: int, *, if_match: str | None = None, facts: RequestFacts | None = None,
              method: str | None = None, url: str | None = None, request: dict[str, str | None] | None = None,
              response: dict[str, str | None] | None = None, body: Any = None, **fields: Any) -> Exchange:
    """An exchange as the client records it: the documented answer to `operation`, with the
    request and response headers given in `request` / `response` added, replaced or (None) removed."""
    action = operation if operation in contract.WRITES else None
    sent = {"Authorization": f"Bearer {REDACTED}", "Cint-API-Version": contract.DEFAULT_API_VERSION,
            "traceparent": _CALLER_TRACE, **({"If-Match": if_match} if if_match is not None else {})}
    if body is None:
        body = _run_body() if status == 200 else (b"" if status == 204 else _error_body(status))
    got: dict[str, str | None] = {"traceparent": _ANSWER_TRACE, "tracestate": "cint=7a2f"}
    if status in (200, 204):
        got["etag"] = 'W/"8"' if status == 204 else 'W/"7"'
    if status == 429:
        got["retry-after"] = "2"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    if content:
        got["content-type"] = "application/json"
    for headers, changes in ((sent, request), (got, response)):
        for name, value in (changes or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
    known = contract.OPERATIONS.get(operation)
    return Exchange(
        operation=operation, method=method or (known.method if known else "GET"),
        url=url or _BASE_URL + contract.run_path(**_RUN, action=action),
        request_headers={k: v for k, v in sent.items() if v is not None},
        status=status, response_headers={k: v for k, v in got.items() if v is not None}, body=content, elapsed_s=0.012,
        facts=facts or RequestFacts(if_match=IfMatch.CURRENT if action else IfMatch.NOT_A_WRITE, role="resumable"),
        secret_env={"Authorization": "FIELDPROOF_TOKEN"}, **fields,
    )


def _judge(name: str, exchange: Exchange) -> rules.Result:
    return rules.all_rules()[name].judge(exchange)  # type: ignore[no-any-return]


def _facts(**kw: Any) -> RequestFacts:
    return RequestFacts(**{"role": "resumable", **kw})


def _sequence(check: Any, items: Iterable[Any]) -> rules.Result:
    found: list[rules.Finding] = []
    for item in items:
        found += check.observe(item) or []
    return found + (check.finish() or [])


def _one_winner() -> rules.Result:
    round_ = rules.OneWinner(before=_look("paused", 1))
    writes = [_exchange("resume", status, if_match='W/"1"', response={"etag": etag} if etag else None,
                        facts=_facts(if_match=IfMatch.RACE), sender=f"racer {n}")
              for n, (status, etag) in enumerate([(204, 'W/"2"'), (412, None), (204, 'W/"3"'), (412, None)])]
    after = _exchange("get", 200, body=_run_body("live", 3), response={"etag": 'W/"3"'})
    return _sequence(round_, [*writes, after])


def _new_tag_accepted() -> rules.Result:
    return _sequence(rules.NewTagAccepted(), [_exchange("resume", 204, if_match='W/"7"'),
                                             _exchange("pause", 412, if_match='W/"8"')])


def _lifecycle_model() -> rules.Result:
    model = rules.LifecycleModel(first=RunState("paused", 'W/"1"'))
    return _sequence(model, [_exchange("resume", 204, if_match='W/"1"', response={"etag": 'W/"2"'}),
                             _exchange("pause", 204, if_match='W/"2"', response={"etag": 'W/"3"'}),
                             _exchange("resume", 204, if_match='W/"2"', response={"etag": 'W/"4"'})])


def _linearizable() -> rules.Result:
    history = rules.LinearizableHistory(initial=RunState("paused", 'W/"1"'),
                                        example=_exchange("resume", 204, if_match='W/"1"', response={"etag": 'W/"3"'}))
    history.observe(Entry("c1", 0.000, 0.004, Observation("resume", 'W/"1"', 204, 'W/"2"')))
    history.observe(Entry("c2", 0.005, 0.009, Observation("resume", 'W/"1"', 204, 'W/"3"')))
    return history.finish()


_STALE = _facts(if_match=IfMatch.STALE)
_EXPIRED_GET = RequestFacts(auth=Auth.EXPIRED, role="resumable")

# a resource besides the fielding runs: a webhook, read and written as the document declares it
_WEBHOOK_URL = _BASE_URL + "/accounts/101/webhooks/01JD0000000000000000000WH1"


def _webhook(url: str = "https://hooks.example.com/fieldproof", version: int = 7) -> Snapshot:
    """What a read of the webhook showed."""
    return Snapshot(200, f'"{version}"', {"id": "01JD0000000000000000000WH1", "url": url,
                                          "events": ["fielding_run.status_changed"]})


def _webhook_write(status: int, if_match: str | None, kind: IfMatch, *, url: str = "https://hooks.example.com/fieldproof/a1",
                   etag: str | None = None, before: Snapshot | None = None, after: Snapshot | None = None) -> Exchange:
    """A PUT of the webhook (updateWebhook) with the reads before and after it attached."""
    body = json.dumps({"url": url}).encode()
    answer: Any = {**(before or _webhook()).body, "url": url} if status == 200 else None  # type: ignore[dict-item]
    exchange = _exchange("updateWebhook", status, if_match=if_match, facts=RequestFacts(if_match=kind), method="PUT",
                         url=_WEBHOOK_URL, body=answer, response={"etag": etag} if etag else None,
                         before=before or _webhook(), after=after or _webhook(), documented=_WEBHOOK_STATUSES)
    exchange.request_body = body
    exchange.request_headers["Content-Type"] = "application/json"
    return exchange


_WEBHOOK_STATUSES = frozenset({200, 400, 401, 403, 404, 412, 429, 500})


def _one_winner_of_writes() -> rules.Result:
    round_ = rules.OneWinnerOfConditionalWrites(before=_webhook())
    writes = [_webhook_write(200, '"7"', IfMatch.RACE, url=f"https://hooks.example.com/fieldproof/r{n}", etag=f'"{8 + n}"')
              for n in range(2)]
    for n, write in enumerate(writes):
        write.before = write.after = None
        write.sender = f"racer {n}"
    after = _exchange("getWebhook", 200, url=_WEBHOOK_URL, body=dict(_webhook("https://hooks.example.com/fieldproof/r1", 9).body
                                                                          or {}), response={"etag": '"9"'})
    return _sequence(round_, [*writes, after])


def _resource_history() -> rules.Result:
    fields = ["url"]
    start = _webhook()
    history = rules.ResourceHistory(initial=Version(start.etag, canonical({"url": (start.body or {})["url"]})),
                                    example=_webhook_write(200, '"7"', IfMatch.UNKNOWN, etag='"8"'))
    history.observe(RegisterEntry("c1", 0.000, 0.004, RegisterOp(WRITE, 200, '"8"', canonical({"url": "https://a.example.com"}),
                                                                  '"7"')))
    history.observe(RegisterEntry("c2", 0.005, 0.009, RegisterOp(WRITE, 200, '"9"', canonical({"url": "https://b.example.com"}),
                                                                  '"7"')))
    history.observe(RegisterEntry("c1", 0.010, 0.012, RegisterOp(READ, 200, '"9"', canonical(dict.fromkeys(fields,
                                                                                                        "https://b.example.com")))))
    return history.finish()

# Each rule's example: what it is shown breaking (the exchange rules' broken exchange, judged
# by the rule alone; the sequence rules' whole sequence, fed to a new check).
EXAMPLES: dict[str, Callable[[], rules.Result]] = {
    "documented_status": lambda: _judge("documented_status", _exchange("resume", 409, if_match='W/"3"', facts=_STALE)),
    "traceparent_on_every_response": lambda: _judge("traceparent_on_every_response",
                                                    _exchange("get", 404, response={"traceparent": None})),
    "trace_continues_callers_trace": lambda: _judge("trace_continues_callers_trace", _exchange(
        "get", 200, response={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01"})),
    "tracestate_well_formed": lambda: _judge("tracestate_well_formed", _exchange("get", 200, response={"tracestate": "cint"})),
    "etag_on_success": lambda: _judge("etag_on_success", _exchange("resume", 204, if_match='W/"7"', response={"etag": None})),
    "run_body_documented": lambda: _judge("run_body_documented", _exchange(
        "get", 200, body={k: v for k, v in _run_body().items() if k != "last_changed_by"})),
    "no_body_on_204": lambda: _judge("no_body_on_204", _exchange("resume", 204, if_match='W/"7"', body=_run_body("live", 8))),
    "retry_after_on_429": lambda: _judge("retry_after_on_429", _exchange("get", 429, response={"retry-after": None})),
    "error_body_documented": lambda: _judge("error_body_documented", _exchange(
        "resume", 412, if_match='W/"3"', facts=_STALE, body={"object": "precondition_failed_error"})),
    "refusal_changes_nothing": lambda: _judge("refusal_changes_nothing", _exchange(
        "resume", 412, if_match='W/"3"', facts=_STALE, before=_look("paused", 7),
        after=_look("live", 8, "2026-11-02T09:31:00Z"))),
    "success_changes_the_run": lambda: _judge("success_changes_the_run", _exchange(
        "resume", 204, if_match='W/"7"', before=_look("paused", 7), after=_look("paused", 7))),
    "undeclared_method_refused": lambda: _judge("undeclared_method_refused", _exchange(
        contract.OTHER, 200, method="QUERY", request={"If-Match": 'W/"7"'})),
    "http_message_well_formed": lambda: _judge("http_message_well_formed", _exchange(
        "resume", 204, if_match='W/"7"', response={"content-length": "0"})),
    "response_body_bounded": lambda: _judge("response_body_bounded", _exchange("get", 200, body_cut_at=1_048_576)),
    "current_tag_wins": lambda: _judge("current_tag_wins", _exchange("resume", 412, if_match='W/"7"', before=_look())),
    "stale_tag_refused": lambda: _judge("stale_tag_refused", _exchange("resume", 204, if_match='W/"3"', facts=_STALE,
                                                                       before=_look())),
    "if_match_variant_answered": lambda: _judge("if_match_variant_answered", _exchange(
        "resume", 204, if_match='W/"3", W/"4"', facts=_facts(if_match=IfMatch.LIST_WITHOUT_CURRENT), before=_look())),
    "business_rules_refuse": lambda: _judge("business_rules_refuse", _exchange(
        "resume", 204, if_match='W/"7"', facts=_facts(if_match=IfMatch.CURRENT, role="goal_reached"), before=_look())),
    "get_serves_the_run": lambda: _judge("get_serves_the_run", _exchange("get", 404)),
    "auth_refused": lambda: _judge("auth_refused", _exchange("get", 200, facts=_EXPIRED_GET)),
    "unknown_path_refused": lambda: _judge("unknown_path_refused", _exchange(
        "get", 200, facts=_facts(path=frozenset({PathKind.OTHER_SCOPE})))),
    "api_version_required": lambda: _judge("api_version_required", _exchange(
        "get", 400, facts=_facts(api_version=ApiVersion.MISSING), request={"Cint-API-Version": None})),
    "unknown_api_version_answered": lambda: _judge("unknown_api_version_answered", _exchange(
        "get", 404, facts=_facts(api_version=ApiVersion.UNKNOWN), request={"Cint-API-Version": "1999-01-01"})),
    "one_winner_among_concurrent_writes": _one_winner,
    "new_etag_accepted_by_next_write": _new_tag_accepted,
    "lifecycle_model_allows": _lifecycle_model,
    "history_linearizable": _linearizable,
    "conditional_write_current_tag_succeeds": lambda: _judge("conditional_write_current_tag_succeeds", _webhook_write(
        412, '"7"', IfMatch.CURRENT)),
    "conditional_write_issues_new_etag": lambda: _judge("conditional_write_issues_new_etag", _webhook_write(
        200, '"7"', IfMatch.CURRENT, etag='"7"', after=_webhook("https://hooks.example.com/fieldproof/a1"))),
    "conditional_write_stale_tag_refused": lambda: _judge("conditional_write_stale_tag_refused", _webhook_write(
        200, '"6"', IfMatch.STALE, etag='"8"', after=_webhook("https://hooks.example.com/fieldproof/a1", 8))),
    "conditional_write_missing_if_match_refused": lambda: _judge("conditional_write_missing_if_match_refused", _webhook_write(
        200, None, IfMatch.MISSING, etag='"8"', after=_webhook("https://hooks.example.com/fieldproof/a1", 8))),
    "conditional_write_if_match_star_and_lists": lambda: _judge("conditional_write_if_match_star_and_lists", _webhook_write(
        200, '"5", "6"', IfMatch.LIST_WITHOUT_CURRENT, etag='"8"', after=_webhook("https://hooks.example.com/fieldproof/a1", 8))),
    "conditional_writes_one_winner": _one_winner_of_writes,
    "resource_history_linearizable": _resource_history,
}


class ManualError(Exception):
    """A generated page cannot be written as the code stands (a rule without its example)."""


def example_finding(name: str) -> rules.Finding:
    """The finding a rule reports on its example; ManualError if it has none, or finds nothing."""
    make = EXAMPLES.get(name)
    if make is None:
        raise ManualError(f"rule {name} has no example in fieldproof/manual.py EXAMPLES; add one that breaks it")
    found = make() or []
    mine = [finding for finding in found if finding.rule == name]
    if not mine:
        raise ManualError(f"rule {name} found nothing on its example in fieldproof/manual.py EXAMPLES; "
                          "make the example break what the rule asserts")
    return mine[0]


# --- the pages ------------------------------------------------------------------------------


def severity_name(rule: rules.Rule) -> str:
    """A rule's severity as the reports spell it (an enum's value, or the string itself)."""
    severity: Any = rule.severity
    return str(severity.value if isinstance(severity, enum.Enum) else severity)


def _severity_rank(rule: rules.Rule) -> int:
    """Most severe first: the order the severities are defined in."""
    severity: Any = rule.severity
    order: list[Any] = list(type(severity)) if isinstance(severity, enum.Enum) else list(getattr(rules, "SEVERITIES", ()))
    return order.index(severity) if severity in order else len(order)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return name.replace("_", "-")


def rules_page() -> str:
    """The rule reference: each rule, most severe first, with what it asserts, the documented
    facts it keeps and their source, its severity, and an example finding."""
    every = sorted(rules.all_rules().values(), key=lambda rule: (_severity_rank(rule), rule.name))
    lines = ["| rule | severity | asserts |", "|---|---|---|"]
    lines += [f"| [`{rule.name}`](#{_anchor(rule.name)}) | {severity_name(rule)} | {_cell(rule.summary)} |" for rule in every]
    for rule in every:
        kind = "each exchange" if rule.name in rules.EXCHANGE_RULES else "a sequence of exchanges"
        finding = example_finding(rule.name)
        signature = getattr(finding, "signature", finding.defect)
        lines += ["", f"## `{rule.name}` {{#{_anchor(rule.name)}}}", "",
                  f"**Severity:** {severity_name(rule)} · **judges:** {kind}", "",
                  f"**Asserts:** {rule.summary}.", "", "**Documented facts:**", ""]
        facts = ledger.facts_of(rule.name)
        lines += [f"- `{fact.name}`: {fact.says} ({fact.source})" for fact in facts] or ["- none in the ledger"]
        lines += ["", f"**Not exercised when:** {rule.unexercised}.", "", "**Example finding:**", "", "```text",
                  f"[{rule.name}] {signature}", *finding.message.splitlines(), "```"]
    return "\n".join(lines) + "\n"


def _error_classes(code: errors.ExitCode) -> list[str]:
    """The errors.py classes that end a command with `code`."""
    found: list[str] = []
    pending: list[type[errors.FieldproofError]] = [errors.FieldproofError]
    while pending:
        cls = pending.pop(0)
        if cls is not errors.FieldproofError and cls.exit_code == code:
            found.append(cls.__name__)
        pending += cls.__subclasses__()
    return found


def exit_codes_page() -> str:
    """The exit codes, as errors.ExitCode defines them, with the errors that carry each."""
    lines = ["| code | name | meaning | raised as |", "|---|---|---|---|"]
    for code in errors.ExitCode:
        raised = ", ".join(f"`{name}`" for name in _error_classes(code)) or "-"
        lines.append(f"| {int(code)} | `{code.name}` | {_cell(errors.MEANINGS[code])} | {raised} |")
    return "\n".join(lines) + "\n"


def faults_page() -> str:
    """The sandbox's fault modes, by family."""
    from fieldproof.sandbox.faults import FAULT_MODES

    # faults.py's own convention: the modes after this one were invented from the API doc alone
    invented = list(FAULT_MODES)[list(FAULT_MODES).index("error_body_without_detail") + 1:]
    lines = ["| fault mode | family | layer | the bug | written |", "|---|---|---|---|---|"]
    for mode in sorted(FAULT_MODES.values(), key=lambda m: (m.family, m.name)):
        origin = "from the API doc alone" if mode.name in invented else "with the suites"
        lines.append(f"| `{mode.name}` | {mode.family} | {mode.layer} | {_cell(mode.description)} | {origin} |")
    return "\n".join(lines) + "\n"


def open_questions_page() -> str:
    """The questions the API docs leave open (contract.OPEN_QUESTIONS), each a sandbox setting."""
    lines = ["| setting | answers (the default first) | the open question | a correct server may refuse with |",
             "|---|---|---|---|"]
    for question in contract.OPEN_QUESTIONS.values():
        flag = "--" + question.name.replace("_", "-")
        refusals = ", ".join(str(status) for status in sorted(question.refusals)) or "-"
        lines.append(f"| `{flag}` | {', '.join(f'`{c}`' for c in question.choices)} | {_cell(question.question)} | {refusals} |")
    return "\n".join(lines) + "\n"


PAGES: dict[str, Callable[[], str]] = {"rules": rules_page, "exit-codes": exit_codes_page, "faults": faults_page,
                                       "open-questions": open_questions_page}
MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def fill(markdown: str) -> str:
    """A docs page with each `<!-- generated: NAME -->` marker replaced by that page."""

    def page(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PAGES:
            raise ManualError(f"unknown generated page {name!r}; known: {', '.join(PAGES)}")
        return PAGES[name]()

    return MARKER.sub(page, markdown)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in PAGES:
        print(f"usage: python -m fieldproof.manual {{{','.join(PAGES)}}}", file=sys.stderr)
        return int(errors.ExitCode.USAGE)
    sys.stdout.write(PAGES[args[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
