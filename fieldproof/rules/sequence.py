"""The rules on sequences: each a `SequenceJudge` that judges several exchanges together and
owns its bookkeeping, declared as its fields: `observe(item)` as the suite feeds it, `finish()`
at the end, `evidence()` for the report's pictures (concurrency rounds, the lifecycle model, a
concurrent history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from fieldproof import contract
from fieldproof.contract import OPEN_QUESTIONS
from fieldproof.exchange import Exchange, Snapshot
from fieldproof.model import Observation, RunState, step
from fieldproof.rules.registry import Finding, Result, SequenceJudge, Severity, finding, ours, rate_limited, sequence_rule, what_happened

if TYPE_CHECKING:
    from fieldproof.linearizability import Analysis, Entry


RACE_ANSWERS = frozenset({204}) | OPEN_QUESTIONS["gate_order"].refusals  # what a raced write may be answered


@sequence_rule("N concurrent writes with one ETag: exactly one 204, the others 412 (422 once the winner "
               "changed the state: the gate order is open), and one step of the run; writes of different "
               "kinds: some order of them, then the GET after them, is one the run's model allows",
               "the concurrency suite did not run")
@dataclass
class OneWinner(SequenceJudge):
    """One round: the run before, the racers' writes, then a GET of the run after them.

    A round of one kind (N resumes) started where that write changes the run: one 204, the
    others refused. A round of several kinds (a pause beside a resume, a complete beside a
    pause) may also hold 204 no-ops and 422s by the open questions, so it is judged by the
    run's model instead: the writes are concurrent, so any order of them will do, followed by
    the GET; at most one of them changes the run, whichever racer came first.
    """

    before: Snapshot
    rule: ClassVar[str] = "one_winner_among_concurrent_writes"
    writes: list[Exchange] = field(default_factory=list)
    after: Snapshot | None = None
    resumable: bool = True  # the run's completes goal and end date allow a resume
    violated: bool = field(default=False, init=False)  # the round's verdict had findings (its picture says so)

    def observe(self, item: Exchange) -> Result:
        if item.operation == "get":
            self.after = Snapshot(item.status, item.header("etag"), item.json() if item.status == 200 else None)
        else:
            self.writes.append(item)
        return None

    @property
    def mixed(self) -> bool:
        """Writes of more than one kind were raced."""
        return len({w.operation for w in self.writes}) > 1

    def finish(self) -> Result:
        settled = [e for e in self.writes if not rate_limited(e)]
        if len(settled) < 2:
            return None
        findings = self._judge_by_the_model(settled) if self.mixed else self._judge_one_kind(settled)
        if findings is None:
            return None
        self.violated = bool(findings)
        return findings

    def _judge_one_kind(self, settled: list[Exchange]) -> list[Finding]:
        statuses = sorted(e.status for e in settled)
        winners = [e for e in settled if e.status == 204]
        losers_may = OPEN_QUESTIONS["gate_order"].refusals
        findings: list[Finding] = []
        if len(winners) != 1 or any(e.status not in losers_may for e in settled if e.status != 204):
            defect = "more than one winner" if len(winners) > 1 else ("no winner" if not winners else "a loser not refused with 412")
            by = [w.sender for w in winners if w.sender]
            won_by = f"; the 204s went to {', '.join(by)}" if len(by) > 1 else ""
            # the write blamed (and so the group) must not depend on which racer answered first
            odd = sorted((e for e in settled if e.status != 204 and e.status not in losers_may), key=lambda e: e.status)
            blamed = winners[1] if len(winners) > 1 else (odd or sorted(settled, key=lambda e: e.status))[0]
            findings += finding(self.rule, blamed, defect,
                                 f"{len(settled)} concurrent writes with If-Match {settled[0].request_header('if-match')} "
                                 f"were answered {statuses}; expected one 204 and {len(settled) - 1} x 412 (or 422)"
                                 f"{won_by}")
        if len(winners) == 1:
            findings += self._stepped(winners[0], winners[0].header("etag"))
        return findings

    def _stepped(self, winner: Exchange, winner_etag: str | None) -> list[Finding]:
        """The run after a round one write won: one version on, at the winner's ETag."""
        after = self.after
        if not self.before.body or after is None or not after.body:
            return []
        versions = self.before.version, after.version
        if not (isinstance(versions[0], int) and isinstance(versions[1], int) and versions[1] > versions[0]):
            return finding(self.rule, winner, "the version did not step",
                            f"after the race the version went from {versions[0]} to {versions[1]}")
        if winner_etag is not None and winner_etag != after.etag:  # a missing one: etag_on_success
            return finding(self.rule, winner, "another write took effect too",
                            f"the winner's ETag {winner_etag} is not the current {after.etag}: another write took effect too")
        return []

    def _judge_by_the_model(self, settled: list[Exchange]) -> list[Finding] | None:
        """Some order of the writes, then the GET after them, in which every answer is one the
        run's model allows (None: the run before is not known, nothing to judge from)."""
        from fieldproof import linearizability
        from fieldproof.linearizability import Entry

        before, after = self.before, self.after
        if before.run_status is None:
            return None
        initial = RunState(before.run_status, before.etag, self.resumable)
        seen = [(e, Observation(e.operation, e.request_header("if-match"), e.status, e.header("etag"))) for e in settled]
        # all called together, all answered before the GET was sent: no order among them is known
        writes = [Entry(f"racer {n}", 0.0, 1.0, observation) for n, (_, observation) in enumerate(seen)]
        look = None
        if after is not None and after.status_code == 200:
            look = Entry("get", 2.0, 3.0, Observation("get", None, 200, after.etag, after.run_status))
        verdict = linearizability.analyse([*writes, *([look] if look else [])], initial)
        # the write blamed (and so the finding's group) must not depend on which racer came first
        ranked = sorted(seen, key=lambda pair: (pair[0].operation, pair[0].status))
        changes = [e for e, o in ranked if o.status == 204 and o.etag is not None and o.etag != o.if_match]
        if verdict.ok is None:
            return None
        if verdict.ok:
            # the model allows at most one change from one tag: the run moved on only if one won
            moved = after is not None and (after.run_status, after.etag) != (before.run_status, before.etag)
            return self._stepped(changes[0], changes[0].header("etag")) if moved and changes else []
        alone = linearizability.analyse(writes, initial) if look else verdict  # the answers, without the GET's
        culprit, defect, reason = self._why_no_order(ranked, initial, changes, alone)
        tag = settled[0].request_header("if-match")
        kinds = ", ".join(e.operation for e in settled)
        answered = ", ".join(str(e.status) for e in settled)
        return finding(self.rule, culprit, defect,
                        f"{len(settled)} concurrent writes ({kinds}) with If-Match {tag} on a {before.run_status} run were "
                        f"answered [{answered}]; no order of them is one a correct server gives: {reason}")

    def _why_no_order(self, seen: list[tuple[Exchange, Observation]], initial: RunState, changes: list[Exchange],
                      alone: Analysis) -> tuple[Exchange, str, str]:
        """(the write to blame, the defect, the reason in words) for a round no order explains;
        `alone`: the verdict on the writes without the GET after them."""
        odd = [e for e, _ in seen if e.status not in RACE_ANSWERS]
        if odd:
            return (odd[0], "a raced write answered neither 204, 412 nor 422",
                    f"{odd[0].operation} was answered {odd[0].status}, and a raced write is answered 204, 412 or 422")
        if len(changes) > 1:
            count = {2: "two", 3: "three"}.get(len(changes), str(len(changes)))
            by = ", ".join(f"{e.operation} -> {e.header('etag')}" for e in changes)
            return changes[1], "more than one write changed the run", f"{count} changes from one tag ({by})"
        after = self.after
        if alone.ok is not False and after is not None:  # the writes fit an order: the GET after them does not
            blamed = changes[0] if changes else seen[0][0]
            return (blamed, "the run after the race is not where the answers leave it",
                    f"the GET after them shows the run {after.run_status} with ETag {after.etag}, where no order of the answers "
                    "leaves it")
        # each answer alone: possible on the run before, or after the one write that may have changed it?
        movers = [(e, moved) for e, o in seen for moved in step(initial, o) if moved != initial]
        for exchange, observation in seen:
            if not any(step(state, observation) for state in [initial, *(moved for _, moved in movers)]):
                answer = f"204 (ETag {observation.etag})" if observation.status == 204 else str(observation.status)
                won = f", nor after the {movers[0][0].operation} that won" if movers else ", and no write changed it"
                return (exchange, "an answer no order of the race allows",
                        f"no correct server answers {exchange.operation} with {answer} to that tag on a {initial.run_status} run{won}")
        return seen[0][0], "no order of the race is possible", alone.explain()

    def evidence(self) -> dict[str, Any] | None:
        """The round as a timeline: each write from its sending to its answer (and, in a round of
        several kinds, which kind it was)."""
        if not self.writes:
            return None
        mixed = self.mixed
        return {"if_match": self.writes[0].request_header("if-match"), "run_status": self.before.run_status,
                "violated": self.violated,
                "requests": [[w.sent_at, w.sent_at + w.elapsed_s, w.status,
                              f"{w.sender or f'racer {n}'}{f' {w.operation}' if mixed else ''}"]
                             for n, w in enumerate(self.writes)]}


@sequence_rule("the ETag a 204 returns is accepted by the next write",
               "no write followed a 204 with its ETag", severity=Severity.MAJOR)
@dataclass
class NewTagAccepted(SequenceJudge):
    """Writes in order: each one sent with the tag the last 204 answered is judged."""

    rule: ClassVar[str] = "new_etag_accepted_by_next_write"
    last_success: Exchange | None = None

    def observe(self, item: Exchange) -> Result:
        first, self.last_success = self.last_success, (item if item.status == 204 else self.last_success)
        if first is None or item.operation not in contract.WRITES or rate_limited(item):
            return None
        if item.request_header("if-match") != first.header("etag"):
            return None
        if item.status in (400, 412):  # 400: the server cannot even parse the tag it issued
            return finding(self.rule, item, "the tag a 204 returned was refused by the next write",
                            f"the ETag {first.header('etag')} returned by {first.operation} was refused "
                            f"with {item.status} by the next {item.operation}")
        return []



def observation_of(exchange: Exchange) -> Observation:
    """An exchange as the run's model sees it (a 5xx is no answer: it may or may not have acted)."""
    body = exchange.json() if exchange.status == 200 else None
    status = body.get("status") if isinstance(body, dict) else None
    return Observation(
        operation=exchange.operation,
        if_match=exchange.request_header("if-match"),
        status=None if exchange.status >= 500 else exchange.status,
        etag=exchange.header("etag"),
        run_status=status.lower() if isinstance(status, str) else None,
    )


@sequence_rule("in any sequence of requests, every answer is one the contract's model of a run allows",
               "the lifecycle model suite did not run")
@dataclass
class LifecycleModel(SequenceJudge):
    """Judges each answer of a sequence against the states the model allows so far.

    After a violation the model no longer knows the run: it judges nothing until a GET's 200
    shows the run again (the suite sends one), and then goes on from there.
    """

    first: RunState
    rule: ClassVar[str] = "lifecycle_model_allows"
    states: list[RunState] = field(default_factory=list)
    script: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states = [self.first]

    def observe(self, item: Exchange) -> Result:
        self.script.append(f"{item.method} {item.operation}"
                           f"{' If-Match ' + str(item.request_header('if-match')) if item.method == 'POST' else ''}"
                           f" -> {item.status} {item.header('etag') or ''}".rstrip())
        observed = observation_of(item)
        if not ours(item):
            return None
        if not self.states:  # lost after a violation: a GET shows the run again
            if item.operation == "get" and item.status == 200 and observed.run_status:
                self.states = [RunState(observed.run_status, observed.etag, self.first.resumable)]
                self.script = self.script[-1:]
            return None
        after = [state for before in self.states for state in step(before, observed)]
        if after:
            self.states = after
            return []
        held = " or ".join(sorted({f"{s.run_status} with ETag {s.etag}" for s in self.states}))
        steps = "".join(f"\n    {line}" for line in self.script)
        self.states = []
        return finding(self.rule, item, "an answer no correct server gives in the run's state",
                        f"{what_happened(item)} (ETag {observed.etag}), which no correct server answers to "
                        f"If-Match {observed.if_match} when the run is {held}; the requests so far:{steps}")

    @property
    def lost(self) -> bool:
        """The model lost track after a violation and needs a GET."""
        return not self.states



@sequence_rule("a history of concurrent requests is linearizable against the run's model",
               "no concurrent history was checked; on a target file pass --history-size N")
@dataclass
class LinearizableHistory(SequenceJudge):
    """The operations of several clients on one run (linearizability.Entry), checked at the end."""

    initial: RunState
    rule: ClassVar[str] = "history_linearizable"
    operations: list[Entry] = field(default_factory=list)
    example: Exchange | None = None
    max_states: int | None = None  # the checker's bound before it gives up (None: its default)
    verdict: Analysis | None = field(default=None, init=False)  # the checker's, once finished

    def observe(self, item: Any) -> Result:
        self.operations.append(item)
        return None

    def evidence(self) -> dict[str, Any] | None:
        """A non-linearizable history's smallest counterexample, as a timeline."""
        from fieldproof import linearizability

        verdict = self.verdict
        if verdict is None or verdict.ok is not False or not verdict.counterexample:
            return None
        return {"operations": [[op.client, op.call, op.ret, linearizability.describe(op)] for op in verdict.counterexample]}

    def finish(self) -> Result:
        from fieldproof import linearizability

        bound = {} if self.max_states is None else {"max_states": self.max_states}
        verdict = linearizability.analyse(self.operations, self.initial, **bound)
        self.verdict = verdict
        if verdict.ok is None:
            return None
        if verdict.ok:
            return []
        return finding(self.rule, self.example, "no order of the history is one the run's model accepts",
                        f"{verdict.history_size} concurrent requests have no order the run's model accepts. "
                        f"{verdict.explain()}\n{verdict.timeline()}")
