"""Writes of different kinds raced against each other (issue 21): a server whose write lock is
keyed by the operation, not the run (the sandbox's lock_per_operation), and rounds that release
a pause, a resume and (on the sandbox's own runs) a complete together with one ETag.

The rounds' judgement on hand-built answers is in tests/test_rules.py (MIXED_PASSES,
MIXED_BREAKS); here: the fault itself, and `fieldproof run` end to end."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import fieldproof_run, rules_by_name, staging, summary

from fieldproof.sandbox import store as store_module
from fieldproof.sandbox.store import Action, Decision, Outcome, Policy, Precondition, Store, make_run
from fieldproof.selfcheck import FAULT_NEEDS, answers

QUICK = ["--profile", "quick"]
RULE = "one_winner_among_concurrent_writes"
MIXED_TEST = "test_concurrent_writes_of_different_kinds_with_one_etag_have_one_winner"
LOCK_PER_OPERATION = {**FAULT_NEEDS["lock_per_operation"], "FIELDPROOF_SANDBOX_FAULT": "lock_per_operation"}
# every open question a round of several kinds meets, answered the second way (no-ops, complete
# from paused, the state refused before the tag)
SECOND_ANSWERS = answers(1)


def _flags(env: dict[str, str]) -> list[str]:
    """FIELDPROOF_SANDBOX_X_Y=v as the sandbox's `--x-y v` flags."""
    return [part for key, value in env.items()
            for part in ("--" + key.removeprefix("FIELDPROOF_SANDBOX_").lower().replace("_", "-"), value)]


# --- the fault, in the store ----------------------------------------------------------------


def _race(store: Store, actions: list[Action], window: Any) -> list[Outcome]:
    """`actions` on one live run with its current tag, each in its own thread; the store's race
    window replaced by `window` (so that the test, not the clock, says who is inside it)."""
    run = make_run(account_id="101", status="live", version=3)
    store.put(run)
    results: list[Any] = [None] * len(actions)

    def write(i: int) -> None:
        results[i] = store.apply(run.id, actions[i], Precondition(frozenset({3})), f"t{i}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(actions))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module.time, "sleep", window)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def faulty_store(tmp_path: Path) -> Any:
    store = Store(tmp_path / "s.db", Policy(faults=frozenset({"lock_per_operation"}), race_window_s=0.025))
    yield store
    store.close()


def test_lock_per_operation_lets_a_pause_and_a_complete_with_one_tag_both_write(faulty_store: Store) -> None:
    both_decided = threading.Barrier(2)  # the window ends once both writes are inside it: they decided on one snapshot
    outcomes = _race(faulty_store, [Action.PAUSE, Action.COMPLETE], lambda _: both_decided.wait(timeout=10))
    assert [o.decision for o in outcomes] == [Decision.CHANGED, Decision.CHANGED]
    assert [o.run.version for o in outcomes if o.run] == [4, 4]  # two changes from one tag, one of them lost


class _AnnouncingLock:
    """A lock that says when a thread has to wait for it (so that a test knows the thread is
    held there, not merely late)."""

    def __init__(self, waiting: threading.Event) -> None:
        self._lock, self.waiting = threading.Lock(), waiting

    def __enter__(self) -> _AnnouncingLock:
        if not self._lock.acquire(blocking=False):
            self.waiting.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


class _AnnouncingLocks(dict):  # type: ignore[type-arg]
    def __init__(self, waiting: threading.Event) -> None:
        super().__init__()
        self.waiting = waiting

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return super().setdefault(key, _AnnouncingLock(self.waiting))


def test_lock_per_operation_queues_writes_of_one_kind(faulty_store: Store) -> None:
    inside: list[float] = []
    second_held, second_inside = threading.Event(), threading.Event()
    faulty_store._operation_locks = _AnnouncingLocks(second_held)

    def window(seconds: float) -> None:
        """Held open until the other pause is either held at the lock (queued: correct) or inside
        the window too (not queued): whichever, not a matter of time."""
        inside.append(seconds)
        if len(inside) == 2:
            second_inside.set()
        while not (second_held.wait(0.01) or second_inside.is_set()):
            pass

    outcomes = _race(faulty_store, [Action.PAUSE, Action.PAUSE], window)
    assert sorted(o.decision.value for o in outcomes) == [Decision.CHANGED.value, Decision.PRECONDITION_FAILED.value]
    assert len(inside) == 1 and second_held.is_set()  # the other waited at the lock, then decided on the new version


# --- end to end -------------------------------------------------------------------------------


def _findings(data: dict[str, Any]) -> list[str]:
    return [example["message"] for group in rules_by_name(data)[RULE]["groups"] for example in group["examples"]]


def _mixed_rounds(data: dict[str, Any], test: str) -> list[dict[str, Any]]:
    """The rounds of several kinds a test sent, from the summary's timelines."""
    rounds = [ev for ev in data["evidence"] if ev["rule"] == RULE and ev["test"].endswith(test)]
    return [ev for ev in rounds if len(_kinds(ev)) > 1]


def _kinds(round_: dict[str, Any]) -> set[str]:
    """The kinds of write a round's timeline names (a round of one kind names none)."""
    return {label.rsplit(" ", 1)[-1] for *_, label in round_["requests"]} & {"pause", "resume", "complete"}


def test_a_lock_per_operation_is_caught_by_rounds_of_several_kinds_and_only_by_them(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, *QUICK, env=LOCK_PER_OPERATION)
    data = summary(tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert {row["name"] for row in data["rules"] if row["violations"]} == {RULE}
    assert any(re.fullmatch(r"\d+ concurrent writes \(.*\) with If-Match W/\"\d+\" on a live run were answered \[.*\]; "
                            r"no order of them is one a correct server gives: two changes from one tag \(.*\)", m)
               for m in _findings(data)), _findings(data)
    failed = {case["name"] for case in data["tests"]["cases"] if case["outcome"] == "failed"}
    assert f"{MIXED_TEST}[live]" in failed and "test_every_rule_once[concurrency]" in failed
    # the rounds of one kind still have one winner each: they alone would miss it
    assert not failed & {f"test_concurrent_{kind}s_with_one_etag_have_one_winner" for kind in ("resume", "pause", "complete")}


def test_rounds_of_several_kinds_pass_a_sandbox_that_answers_every_open_question_the_second_way(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, *QUICK, "--suites", "first_pass,concurrency", env=SECOND_ANSWERS)
    data = summary(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    # (whether a resume's no-op came before the pause or complete that won is the racers' luck; the
    # judgement of every such round, in every order, is tests/test_rules.py's)
    for start in ("live", "paused"):
        assert {ev["run_status"] for ev in _mixed_rounds(data, f"{MIXED_TEST}[{start}]")} == {start}


def test_a_target_file_gets_rounds_of_several_kinds_in_the_first_pass(tmp_path: Path) -> None:
    with staging(tmp_path, *_flags(SECOND_ANSWERS)) as (_, target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "first_pass,concurrency", env=env)
    data = summary(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    first_pass = _mixed_rounds(data, "test_every_rule_once[concurrency]")
    undone = [ev for ev in first_pass if "complete" not in _kinds(ev)]
    assert sorted(ev["run_status"] for ev in undone) == ["live", "paused"]
    assert all(_kinds(ev) == {"pause", "resume"} for ev in undone)
    # complete, which cannot be undone, only on the run the file lists as completable: once, from live
    completing = [ev for ev in first_pass if "complete" in _kinds(ev)]
    assert [(ev["run_status"], _kinds(ev)) for ev in completing] == [("live", {"complete", "pause"})]


def test_a_target_file_without_a_live_run_races_from_a_paused_one_and_says_which_role_is_missing(tmp_path: Path) -> None:
    with staging(tmp_path) as (_, target, env):
        text = target.read_text()
        live = re.search(r'\[\[runs\]\]\nrole = "live"\n(?:\w+ = "[^"]*"\n)*', text)
        assert live is not None
        target.write_text(text.replace(live.group(0), ""))
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "first_pass,concurrency", env=env)
    data = summary(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    undone = [ev for ev in _mixed_rounds(data, "test_every_rule_once[concurrency]") if "complete" not in _kinds(ev)]
    assert [ev["run_status"] for ev in undone] == ["paused"]
    skips = {skip["test"].rsplit("::", 1)[-1]: skip["reason"] for skip in data["tests"]["skips"]}
    assert "role = 'live'" in skips[f"{MIXED_TEST}[live]"], skips
    assert f"{MIXED_TEST}[paused]" not in skips


def test_a_lock_per_operation_is_caught_on_a_target_file_through_its_completable_run(tmp_path: Path) -> None:
    """Pause and resume alone cannot show it (only one of them can change a run in any state):
    complete, sent to a target file only on the run it lists as completable, can."""
    with staging(tmp_path, "--fault", "lock_per_operation", "--race-window-ms", "25") as (_, target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "first_pass", env=env)
    assert result.returncode == 1, result.stdout[-3000:]
    assert rules_by_name(summary(tmp_path))[RULE]["violations"]


def test_a_completable_run_an_earlier_session_completed_is_a_note_not_an_error(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        run = next(r for r in httpx.get(sandbox.root_url + "/_control/runs").json() if r["id"].endswith("CM01"))
        url = (f"{sandbox.base_url}/demand/accounts/{run['account_id']}/projects/{run['project_id']}"
               f"/target-groups/{run['target_group_id']}/fielding-runs/{run['id']}")
        headers = {"Authorization": f"Bearer {env['FIELDPROOF_TOKEN']}", "Cint-API-Version": "2025-12-18"}
        etag = httpx.get(url, headers=headers).headers["etag"]
        assert httpx.post(url + "/complete", headers={**headers, "If-Match": etag}).status_code == 204
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "first_pass", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"{run['id']} (completable) is completed, as its role lets a session make it" in " ".join(summary(tmp_path)["notes"])
