"""A small sub-history of a failing history that is not linearizable either.

Sub-histories are re-searched: the shortest failing prefix by call time, then the latest start of
that prefix that still fails, then entries dropped one at a time while it still fails
(deterministic, at most `MINIMIZE_CHECKS` re-searches). Entries left out are relaxed, not deleted:
a left-out write that may have changed the run stays, free to take effect with its recorded answer
at any time after its call, or never (even more than once: a coarser relaxation, still sound, that
keeps the re-searches cheap); left-out answers that never change anything are removed. Deleting
the write that issued a tag would make every later use of the tag look impossible; relaxed, the
counterexample fails whatever the other entries did, so it proves the whole history is not
linearizable.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fieldproof.linearizability.fielding_run import Entry, may_change, search_entries
from fieldproof.model import RunState

MINIMIZE_CHECKS = 200  # re-checks spent on making a counterexample small
_INF = math.inf


@dataclass(frozen=True)
class Deepest:
    """The longest order found for a failing (small) history: where every attempt got stuck."""

    placed: tuple[tuple[Entry, bool], ...]  # (operation, relaxed: left out of the counterexample)
    states: tuple[RunState, ...]  # the states reached with those operations placed (left-out writes vary)
    stuck: tuple[Entry, ...]  # the counterexample's operations that could not be placed after it


class Minimizer:
    """Sub-histories of one failing history H (sorted by call), judged with the rest relaxed."""

    def __init__(self, ops: list[Entry], initial: RunState, max_states: int, max_checks: int) -> None:
        self.ops = ops
        # the ops that are relaxed when left out (the others are removed), in call order
        self.relaxable = [k for k, op in enumerate(ops) if may_change(op)]
        self.relaxable_calls = [ops[k].call for k in self.relaxable]
        self.initial = initial
        self.budget = max_states  # states, all re-checks together
        self.max_checks = max_checks
        self.checks = 0
        self.explored = 0
        self._known: dict[tuple[int, ...], bool] = {}  # the steps below may ask of one sub-history twice

    def split(self, kept: Sequence[int]) -> tuple[list[Entry], list[Entry]]:
        keep = set(kept)
        real = [self.ops[k] for k in sorted(keep)]
        limit = max((op.ret for op in real if op.ret is not None), default=_INF)
        if any(op.ret is None for op in real):
            limit = _INF
        called = bisect.bisect_right(self.relaxable_calls, limit)
        optional = [self.ops[k] for k in self.relaxable[:called] if k not in keep]
        return real, optional

    def fails(self, kept: Sequence[int]) -> bool:
        """True only when proven: the sub-history is not linearizable (inconclusive counts as no)."""
        key = tuple(kept)
        if key in self._known:
            return self._known[key]
        if self.checks >= self.max_checks or self.budget <= 0:
            return False
        self.checks += 1
        real, optional = self.split(kept)
        result = search_entries(real, optional, self.initial, max(1, self.budget), reusable=True)
        self.explored += result.explored
        self.budget -= result.explored
        if result.ok is not None:  # an inconclusive one may be conclusive with more budget: never kept
            self._known[key] = result.ok is False
        return result.ok is False

    def exhausted(self) -> bool:
        return self.checks >= self.max_checks or self.budget <= 0


def first_true(lo: int, hi: int, test: Callable[[int], bool]) -> int:
    """The least k in [lo, hi] with test(k), assuming monotone and test(hi) known true: galloping
    up from lo, then a binary search."""
    step, good, bad = 1, hi, lo - 1  # test(good) is true; test(bad) is false (or unknown)
    k = lo
    while k < good:
        if test(k):
            good = k
            break
        bad = k
        k = lo + step
        step *= 2
    while good - bad > 1:
        mid = (bad + good) // 2
        if test(mid):
            good = mid
        else:
            bad = mid
    return good


def minimise(
    history: list[Entry], real_pos: list[int], initial: RunState, max_prefix: int, max_states: int
) -> tuple[list[int], int, Minimizer]:
    """Positions (into the sorted history) of a small failing sub-history, and the prefix size."""
    mini = Minimizer(history, initial, max_states, MINIMIZE_CHECKS)
    n_real = len(real_pos)
    # 1. the shortest failing prefix: k answered ops in call order (no prefix of <= max_prefix fails)
    k = first_true(max(1, max_prefix + 1), n_real, lambda k: mini.fails(real_pos[:k]))
    prefix = real_pos[:k]
    prefix_size = prefix[-1] + 1
    # 2. the latest start of that prefix that still fails (its last operation always stays)
    width = first_true(1, k, lambda w: mini.fails(prefix[k - w :]))
    kept = prefix[k - width :]
    # 3. drop one operation at a time while it still fails, until nothing more can go
    changed = True
    while changed and not mini.exhausted():
        changed = False
        for pos in list(kept):
            if len(kept) == 1 or mini.exhausted():
                break
            trial = [p for p in kept if p != pos]
            if mini.fails(trial):
                kept = trial
                changed = True
    return kept, prefix_size, mini
