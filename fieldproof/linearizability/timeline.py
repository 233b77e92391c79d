"""Entries drawn on one time axis, one lane per client: how a counterexample is shown in text."""

from __future__ import annotations

from collections.abc import Sequence

from fieldproof.linearizability.fielding_run import Entry, call_key, describe

TIMELINE_WIDTH = 60  # columns of the time axis
TIMELINE_MAX_OPS = 60  # a timeline of a linearizable history shows at most this many operations


def render_timeline(ops: Sequence[Entry], numbers: Sequence[int] | None = None) -> str:
    """Operations drawn on one time axis, one lane per client: `[call ==== return]` and the answer.

    `numbers` (optional) labels the operations in call order; by default #1, #2, ... in call order.
    An operation without an answer is drawn `[---->?` up to the end of the axis.
    """
    if not ops:
        return "(no operations)"
    ordered = sorted(ops, key=call_key(ops))
    labels = list(numbers) if numbers is not None else list(range(1, len(ordered) + 1))
    label_of = {id(op): n for op, n in zip(ordered, labels, strict=True)}
    t0 = min(op.call for op in ordered)
    ends = [op.ret for op in ordered if op.ret is not None and not op.unknown] + [op.call for op in ordered]
    span = max(ends) - t0
    scale, unit = (1.0, "s") if span >= 1.0 else (1000.0, "ms")
    width = TIMELINE_WIDTH

    def col(t: float) -> int:
        return 0 if span <= 0 else min(width - 1, round((t - t0) / span * (width - 1)))

    def fmt(t: float) -> str:
        return f"{(t - t0) * scale:.3f}"

    lanes: dict[str, list[Entry]] = {}
    for op in ordered:
        lanes.setdefault(op.client, []).append(op)
    lane_width = max(len(c) for c in lanes) + 2
    lines = [f"time axis: 0 = the first call; {width} columns = {span * scale:.3f} {unit}"]
    ruler = "".join("|" if i % 10 == 0 or i == width - 1 else "-" for i in range(width))
    end_label = f"{span * scale:.3f} {unit}"
    lines.append(" " * lane_width + f"0 {unit}".ljust(width - len(end_label)) + end_label)
    lines.append(" " * lane_width + ruler)
    for client, lane in lanes.items():
        for k, op in enumerate(lane):
            head = (f"{client}" if k == 0 else "").ljust(lane_width)
            start = col(op.call)
            if op.unknown or op.ret is None:
                bar = " " * start + "[" + "-" * max(0, width - start - 2) + ">?"
                when = f"{fmt(op.call)} {unit} .. " + ("no answer" if op.unknown else "no return time")
            else:
                end = max(col(op.ret), start + 1)
                bar = " " * start + "[" + "=" * (end - start - 1) + "]"
                when = f"{fmt(op.call)} .. {fmt(op.ret)} {unit}"
            lines.append(f"{head}{bar.ljust(width + 1)} #{label_of[id(op)]} {describe(op)}   ({when})")
    return "\n".join(lines)
