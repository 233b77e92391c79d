"""The generic locking oracles (fieldproof.rules.locking) on hand-built exchanges of a resource
besides the fielding runs (a webhook's PUT and DELETE, an action of a run): each rule passes a
correct answer and finds a broken one; the rules of the four operations raise no false alarm on
these operations, and the rules every response must satisfy still judge them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from fieldproof import contract, rules
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.facts import IfMatch, RequestFacts
from fieldproof.linearizability.register import READ, WRITE, RegisterEntry, RegisterOp, Version, canonical
from fieldproof.rules import EXCHANGE_RULES, SEQUENCE_RULES, Severity, judge_exchange

URL = "https://sandbox.test/v1/accounts/101/webhooks/01JD0000000000000000000WH1"
RUN_URL = "https://sandbox.test/v1/demand/accounts/101/projects/P/target-groups/T/fielding-runs/R"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"
DOCUMENTED = frozenset({200, 400, 401, 403, 404, 429, 500})  # as the vendor documents update_webhook: no 412
DELETE = frozenset({204, 400, 401, 403, 404, 429, 500})
LAUNCH = frozenset({200, 400, 401, 403, 404, 412, 422, 429, 500})
LOCKING = {name for name, rule in rules.all_rules().items() if rule.judge.__module__ == "fieldproof.rules.locking"}


def hook(url: str = "https://hooks.example.com/a", version: int = 1) -> Snapshot:
    return Snapshot(200, f'"{version}"', {"id": "WH1", "url": url, "events": ["fielding_run.status_changed"]})


def put(status: int, kind: IfMatch, if_match: str | None = '"1"', *, url: str = "https://hooks.example.com/b",
        etag: str | None = None, before: Snapshot | None = None, after: Snapshot | None = None, method: str = "PUT",
        operation: str = "updateWebhook", role: str | None = None, where: str = URL, body: bool = True,
        documented: frozenset[int] = DOCUMENTED) -> Exchange:
    """A write as the client records it: a correct server's headers (traceparent, an error body)."""
    sent = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    if if_match is not None:
        sent["If-Match"] = if_match
    got = {"traceparent": TRACE, **({"etag": etag} if etag else {})}
    content = b""
    if status >= 400:
        got["content-type"] = "application/json"
        content = json.dumps({"object": "precondition_failed_error", "detail": "no"}).encode()
    elif status == 200:
        got["content-type"] = "application/json"
        content = json.dumps((after or hook(url, 2)).body).encode()
    return Exchange(operation, method, where, sent, status, got, content, 0.01, facts=RequestFacts(if_match=kind, role=role),
                    before=before or hook(), after=after or (before or hook()), documented=documented,
                    request_body=json.dumps({"url": url}).encode() if body else None)


def read(etag: str = '"2"', url: str = "https://hooks.example.com/b") -> Exchange:
    return Exchange("getWebhook", "GET", URL, {}, 200, {"traceparent": TRACE, "etag": etag, "content-type": "application/json"},
                    json.dumps(hook(url).body).encode(), 0.01, documented=DOCUMENTED)


def found(exchange: Exchange) -> dict[str, list[str]]:
    """Every exchange rule's findings on it, by rule (the defects)."""
    return {name: [f.defect for f in result] for name, result in judge_exchange(exchange).items() if result}


# a correct server's answers: no rule finds anything

CORRECT = {
    "current tag, 200 with a new ETag": put(200, IfMatch.CURRENT, etag='"2"', after=hook("https://hooks.example.com/b", 2)),
    "current tag, a body refused with 400, nothing changed": put(400, IfMatch.CURRENT),
    "a stale tag, 412 (the document lists none: RFC 9110's answer)": put(412, IfMatch.STALE, '"0"'),
    "another resource's tag, 412": put(412, IfMatch.OTHER_RUN, '"9"'),
    "a never-issued tag, 412": put(412, IfMatch.NEVER_ISSUED, '"x"'),
    "no If-Match, 428": put(428, IfMatch.MISSING, None),
    "no If-Match, 400": put(400, IfMatch.MISSING, None),
    "If-Match *, served": put(200, IfMatch.STAR, "*", etag='"2"', after=hook("https://hooks.example.com/b", 2)),
    "If-Match *, refused": put(412, IfMatch.STAR, "*"),
    "a list with the current tag, served": put(200, IfMatch.LIST_WITH_CURRENT, '"0", "1"', etag='"2"',
                                               after=hook("https://hooks.example.com/b", 2)),
    "a list of tags none current, 412": put(412, IfMatch.LIST_WITHOUT_CURRENT, '"0", "x"'),
    "a write that changes nothing may keep its ETag": put(200, IfMatch.CURRENT, etag='"1"', url="https://hooks.example.com/a",
                                                          after=hook()),
    "a DELETE with the current tag, then the read 404s": put(204, IfMatch.CURRENT, method="DELETE", operation="deleteWebhook",
                                                             after=Snapshot(404, None, None), body=False, documented=DELETE),
    "a stale launch-now on a run of another role, 422 (gate order open)": put(
        422, IfMatch.STALE, '"0"', operation="launchNowFieldingRun", method="POST", role="resumable", where=RUN_URL + "/launch-now",
        body=False, documented=LAUNCH),
    "a read": read(),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_a_correct_answer_is_found_wrong_by_no_rule(name: str) -> None:
    assert found(CORRECT[name]) == {}


# broken answers: the rule that judges the fact finds it, and no rule of the four operations does

BROKEN: dict[str, tuple[Exchange, str, str]] = {
    "the current tag refused with 412": (put(412, IfMatch.CURRENT), "conditional_write_current_tag_succeeds",
                                          "the current ETag refused with 412"),
    "the current tag refused with an undocumented 409": (put(409, IfMatch.CURRENT), "conditional_write_current_tag_succeeds",
                                                         "expected 200 or 400 or 401 or 403 or 404: If-Match held the current ETag"),
    "a refusal of the current tag that changed it": (put(400, IfMatch.CURRENT, after=hook("https://hooks.example.com/b", 2)),
                                                     "conditional_write_current_tag_succeeds",
                                                     "a refusal of the current ETag, but the resource changed"),
    "a DELETE that still reads": (put(204, IfMatch.CURRENT, method="DELETE", operation="deleteWebhook", body=False, documented=DELETE),
                                  "conditional_write_current_tag_succeeds", "the resource still reads after its DELETE"),
    "a change under the old ETag": (put(200, IfMatch.CURRENT, etag='"1"', after=hook("https://hooks.example.com/b", 1)),
                                    "conditional_write_issues_new_etag", "the resource changed but its ETag did not"),
    "a write's ETag the read does not show": (put(200, IfMatch.CURRENT, etag='"7"', after=hook("https://hooks.example.com/b", 2)),
                                              "conditional_write_issues_new_etag",
                                              "the write's ETag is not the one the read afterwards shows"),
    "a stale tag wins": (put(200, IfMatch.STALE, '"0"', etag='"2"', after=hook("https://hooks.example.com/b", 2)),
                         "conditional_write_stale_tag_refused", "expected 412: If-Match held a stale tag"),
    "another resource's tag wins": (put(200, IfMatch.OTHER_RUN, '"9"', etag='"2"', after=hook("https://hooks.example.com/b", 2)),
                                    "conditional_write_stale_tag_refused", "expected 412: If-Match held another resource's tag"),
    "a never-issued tag refused with 422": (put(422, IfMatch.NEVER_ISSUED, '"x"'), "conditional_write_stale_tag_refused",
                                            "expected 412: If-Match held a tag never issued"),
    "a 412 that changed the resource": (put(412, IfMatch.STALE, '"0"', after=hook("https://hooks.example.com/b", 2)),
                                        "conditional_write_stale_tag_refused",
                                        "a refusal (If-Match held a stale tag), but the resource changed"),
    "no If-Match served": (put(200, IfMatch.MISSING, None, etag='"2"', after=hook("https://hooks.example.com/b", 2)),
                           "conditional_write_missing_if_match_refused",
                           "expected 400 or 401 or 403 or 404 or 412 or 428: no If-Match (open question)"),
    "a list of tags none current served": (put(200, IfMatch.LIST_WITHOUT_CURRENT, '"0", "x"', etag='"2"',
                                               after=hook("https://hooks.example.com/b", 2)),
                                           "conditional_write_if_match_star_and_lists",
                                           "expected 400 or 412: an If-Match list of tags that are not current"),
    "If-Match * refused with 409": (put(409, IfMatch.STAR, "*"), "conditional_write_if_match_star_and_lists",
                                    "expected 200 or 400 or 401 or 403 or 404 or 412: If-Match: * (open question)"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_answer_is_found_by_its_rule(name: str) -> None:
    exchange, rule, defect = BROKEN[name]
    assert defect in found(exchange).get(rule, []), found(exchange)
    assert set(found(exchange)) <= LOCKING | {"documented_status"}, "no rule of the four operations judges a resource's write"


def test_a_stale_tag_that_wins_is_critical_and_a_wrong_refusal_major() -> None:
    (served,) = rules.conditional_write_stale_tag_refused(BROKEN["a stale tag wins"][0]) or []
    (wrong,) = rules.conditional_write_stale_tag_refused(BROKEN["a never-issued tag refused with 422"][0]) or []
    assert served.severity is Severity.CRITICAL and wrong.severity is Severity.MAJOR


def test_a_finding_carries_the_write_and_its_reproduction_with_the_body() -> None:
    exchange = BROKEN["a stale tag wins"][0]
    (finding,) = rules.conditional_write_stale_tag_refused(exchange) or []
    assert finding.signature == "updateWebhook 200: expected 412: If-Match held a stale tag"
    assert "--data-binary" in exchange.curl() and "hooks.example.com/b" in exchange.curl()


def test_the_rules_every_response_must_satisfy_judge_a_resources_operations() -> None:
    no_trace = put(412, IfMatch.STALE, '"0"')
    no_trace.response_headers.pop("traceparent")
    assert found(no_trace) == {"traceparent_on_every_response": ["no traceparent header"]}
    assert "documented_status" in found(put(409, IfMatch.STALE, '"0"'))
    assert "documented_status" in found(put(500, IfMatch.CURRENT))
    assert "documented_status" not in found(put(412, IfMatch.STALE, '"0"')), "412 on a conditional write counts as documented"


def test_the_rule_on_undeclared_methods_leaves_a_resources_write_alone() -> None:
    """It used to judge every operation but the four: a resource's 200 read as an undeclared method served."""
    assert rules.undeclared_method_refused(CORRECT["current tag, 200 with a new ETag"]) is None
    assert rules.undeclared_method_refused(dataclasses.replace(read(), operation=contract.OTHER)) is not None


def test_the_four_operations_are_left_to_their_own_rules() -> None:
    ours = put(200, IfMatch.STALE, '"0"', operation="resume", method="POST", where=RUN_URL + "/resume")
    assert all(EXCHANGE_RULES[name].judge(ours) is None for name in LOCKING if name in EXCHANGE_RULES)


def test_a_rate_limited_write_is_left_to_retry_after_on_429() -> None:
    limited = put(429, IfMatch.STALE, '"0"')
    limited.response_headers["retry-after"] = "1"
    assert found(limited) == {}


# --- sequences ---


def race(*answers: tuple[int, str | None, str], after: Snapshot, role: str | None = None) -> rules.Result:
    judge = rules.OneWinnerOfConditionalWrites(hook())
    for n, (status, etag, url) in enumerate(answers):
        write = put(status, IfMatch.RACE, etag=etag, url=url, role=role)
        write.before = write.after = None
        write.sender = f"racer {n}"
        judge.observe(write)
    look = read(after.etag or "", (after.body or {}).get("url", ""))
    judge.observe(dataclasses.replace(look, status=after.status_code))
    return judge.finish()


B, C, D = (f"https://hooks.example.com/{x}" for x in "bcd")


def test_one_winner_and_the_others_412_is_a_pass() -> None:
    assert race((200, '"2"', B), (412, None, C), (412, None, D), after=hook(B, 2)) == []


def test_two_winners_is_a_critical_finding() -> None:
    (finding,) = race((200, '"2"', B), (200, '"3"', C), (412, None, D), after=hook(C, 3)) or []
    assert finding.defect == "more than one winner" and finding.severity is Severity.CRITICAL
    assert finding.rule == "conditional_writes_one_winner"


def test_a_lost_update_with_one_2xx_shows_in_the_body_read_after() -> None:
    (finding,) = race((200, None, B), (412, None, C), after=hook(C, 2)) or []
    assert finding.defect == "the resource shows another writer's body"


def test_a_winner_whose_etag_did_not_step_is_a_finding() -> None:
    (finding,) = race((204, None, B), (412, None, C), after=hook(B, 1)) or []
    assert finding.defect == "the ETag did not step"


def test_a_loser_not_refused_with_412_is_a_finding_except_a_runs_422() -> None:
    (finding,) = race((200, '"2"', B), (422, None, C), after=hook(B, 2)) or []
    assert finding.defect == "a loser not refused with 412" and finding.severity is Severity.MAJOR
    assert race((200, '"2"', B), (422, None, C), after=hook(B, 2), role="launchable") == []


def test_every_write_refused_with_412_though_none_won() -> None:
    (finding,) = race((412, None, B), (412, None, C), after=hook()) or []
    assert finding.defect == "every write refused with 412 though none won"


def history(*entries: RegisterEntry) -> rules.Result:
    judge = rules.ResourceHistory(Version('"1"', canonical({"url": "https://hooks.example.com/a"})),
                                  example=put(200, IfMatch.UNKNOWN, etag='"2"'))
    for entry in entries:
        judge.observe(entry)
    return judge.finish()


def w(client: str, call: float, ret: float, status: int, etag: str | None, url: str, tag: str = '"1"') -> RegisterEntry:
    return RegisterEntry(client, call, ret, RegisterOp(WRITE, status, etag, canonical({"url": url}), tag))


def test_a_linearizable_history_passes_and_two_winners_do_not() -> None:
    assert history(w("a", 0, 2, 200, '"2"', B), w("b", 1, 3, 412, None, C)) == []
    (finding,) = history(w("a", 0, 2, 200, '"2"', B), w("b", 1, 3, 200, '"3"', C)) or []
    assert finding.rule == "resource_history_linearizable" and "a [" in finding.message and "b [" in finding.message
    assert finding.exchange is not None and finding.signature.startswith("updateWebhook 200:")


def test_a_stale_read_after_a_write_returned_is_a_finding() -> None:
    stale = RegisterEntry("b", 3, 4, RegisterOp(READ, 200, '"1"', canonical({"url": "https://hooks.example.com/a"})))
    assert history(w("a", 0, 2, 200, '"2"', B), stale)


def test_the_locking_judges_keep_all_their_state_in_their_declared_fields() -> None:
    fed: dict[str, tuple[rules.SequenceJudge, list[Any]]] = {
        "conditional_writes_one_winner": (rules.OneWinnerOfConditionalWrites(hook()),
                                          [put(200, IfMatch.RACE, etag='"2"'), put(200, IfMatch.RACE, etag='"3"'), read('"3"')]),
        "resource_history_linearizable": (rules.ResourceHistory(Version('"1"', None)),
                                          [w("a", 0, 2, 200, '"2"', B), w("b", 1, 3, 200, '"3"', C)]),
    }
    assert set(fed) == {name for name in SEQUENCE_RULES if name in LOCKING}
    for name, (judge, items) in fed.items():
        assert type(judge) is SEQUENCE_RULES[name].judge
        found_ = [f for item in items for f in judge.observe(item) or []] + (judge.finish() or [])
        assert found_, name
        judge.evidence()
        assert set(vars(judge)) <= {f.name for f in dataclasses.fields(judge)}, name


def test_every_locking_rule_is_tested_here() -> None:
    broken = {rule for _, rule, _ in BROKEN.values()}
    assert broken | {"conditional_writes_one_winner", "resource_history_linearizable"} == LOCKING


def test_every_operation_the_locking_suite_sends_has_its_documented_statuses() -> None:
    """The client hands each exchange its operation's documented statuses: a create (of a kind a
    session may create and delete) without them would be judged against none."""
    from fieldproof.document import ContractDocument

    document = ContractDocument.load()
    sent = {op.name for kind in document.kinds.values()
            for op in (kind.read, *(w.write for w in kind.writes), *((kind.create,) if kind.create else ()))}
    assert "createWebhook" in sent and sent <= set(document.documented)


def test_a_timestamp_written_back_in_another_spelling_is_the_same_value() -> None:
    """A server may write back `…22.442Z` for the `…22.442000Z` it was sent: not another writer's body."""
    judge = rules.OneWinnerOfConditionalWrites(Snapshot(200, '"1"', {"end_fielding_at": "2027-01-01T00:00:00Z"}))
    for n, status in enumerate((202, 412)):
        write = put(status, IfMatch.RACE, etag='"2"' if status == 202 else None)
        write.request_body = json.dumps({"end_fielding_at": f"2027-01-1{n}T17:35:22.442000Z"}).encode()
        write.before = write.after = None
        judge.observe(write)
    shown = dataclasses.replace(read('"2"'), body=json.dumps({"end_fielding_at": "2027-01-10T17:35:22.442Z"}).encode())
    judge.observe(shown)
    assert judge.finish() == []
    assert not rules.locking.same("2027-01-10T17:35:22.442Z", "2027-01-10T17:35:22.443Z")
