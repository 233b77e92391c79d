"""Histories recorded on several hosts, merged onto one clock for the linearizability checker.

Each worker records its operations on its own clock (`time.time()`); the master measures each
worker's offset with a ping (`measure`) and moves every interval onto its own clock, widened by
the offset's uncertainty (`on_master_clock`). Widening only relaxes the real-time order the
checker must respect (an operation that returned before another was called must come first),
so a clock skew, however large, can never create a false violation; an offset not corrected
for (or underestimated) could.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from fieldproof.linearizability import Entry
from fieldproof.model import Observation


@dataclass(frozen=True)
class ClockOffset:
    offset_s: float  # the worker's clock minus the master's
    bound_s: float  # how wrong offset_s may be: half the ping's round trip

    @classmethod
    def measure(cls, sent: float, worker_time: float, received: float) -> ClockOffset:
        """From a ping: the master's clock when it sent it and got the answer, the worker's
        clock when it answered (somewhere in between)."""
        return cls(worker_time - (sent + received) / 2, max(0.0, (received - sent) / 2))


def on_master_clock(op: Entry, clock: ClockOffset) -> Entry:
    """The operation's interval on the master's clock, widened by the offset's uncertainty."""
    call = op.call - clock.offset_s - clock.bound_s
    ret = None if op.ret is None else op.ret - clock.offset_s + clock.bound_s
    return replace(op, call=call, ret=ret)


def to_record(run_id: str, op: Entry) -> list[object]:
    """An operation as a worker ships it (JSON)."""
    seen = op.observation
    return [run_id, op.client, op.call, op.ret, seen.operation, seen.if_match, seen.status, seen.etag, seen.run_status]


def from_record(record: list[object]) -> tuple[str, Entry]:
    run_id, client, call, ret, operation, if_match, status, etag, run_status = record
    observation = Observation(str(operation), _text(if_match), None if status is None else int(str(status)), _text(etag),
                              _text(run_status))
    return str(run_id), Entry(str(client), float(str(call)), None if ret is None else float(str(ret)), observation)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# A worker whose clock was never measured: an uncertainty longer than any swarm, so that its
# operations constrain nothing by time (finite, so that a timeline can still be drawn).
UNMEASURED = ClockOffset(0.0, 24 * 3600.0)


def merge(shipped: Mapping[str, Iterable[list[object]]], clocks: Mapping[str, ClockOffset]) -> dict[str, list[Entry]]:
    """Every worker's records, per fielding run, on the master's clock, each client named by
    its worker too."""
    histories: dict[str, list[Entry]] = {}
    for worker, records in shipped.items():
        clock = clocks.get(worker, UNMEASURED)
        for record in records:
            run_id, op = from_record(record)
            op = on_master_clock(replace(op, client=f"{worker}/{op.client}"), clock)
            histories.setdefault(run_id, []).append(op)
    return histories
