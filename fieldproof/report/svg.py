"""Pictures for report.html, drawn as inline SVG (no scripts, no network): concurrency rounds and
linearizability counterexamples as timelines, latency as box plots, coverage as a heat map."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from fieldproof.report.summary import CoverageCell, LatencyRow

WIDTH = 720
LANE = 18
LEFT = 150  # room for lane labels
RIGHT = 110  # room for the labels after a bar
STATUS_COLOURS = {204: "#2e7d32", 200: "#2e7d32", 412: "#9e9e9e", 422: "#ef6c00", 429: "#6a1b9a", None: "#bdbdbd"}


def _colour(status: int | None) -> str:
    return STATUS_COLOURS.get(status, "#c62828")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{html.escape(title)}" font-family="sans-serif" font-size="11">'
            f"<title>{html.escape(title)}</title>{''.join(body)}</svg>")


def _axis(span_ms: float, top: int, height: int) -> list[str]:
    """A time axis in ms along the top, with a few ticks."""
    body = [f'<line x1="{LEFT}" y1="{top}" x2="{WIDTH - RIGHT}" y2="{top}" stroke="#444"/>']
    step = 10 ** math.floor(math.log10(span_ms)) if span_ms > 0 else 1
    ticks = [n * step for n in range(int(span_ms // step) + 1)][:12]
    for tick in ticks:
        x = LEFT + (WIDTH - RIGHT - LEFT) * (tick / span_ms if span_ms else 0)
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" stroke="#eee"/>')
        body.append(f'<text x="{x:.1f}" y="{top - 3}" text-anchor="middle" fill="#444">{tick:g}</text>')
    body.append(f'<text x="{LEFT - 6}" y="{top - 3}" text-anchor="end" fill="#444">ms</text>')
    return body


def round_timeline(evidence: dict[str, Any]) -> str:
    """One concurrency round: a bar per write from its sending to its answer, coloured by status,
    the winner (a 204) marked."""
    requests = sorted(evidence["requests"], key=lambda r: r[0])
    start = min(r[0] for r in requests)
    span = max(max(r[1] for r in requests) - start, 1e-6) * 1000
    top, body = 22, []
    body += _axis(span, top, LANE * len(requests) + 4)
    scale = (WIDTH - RIGHT - LEFT) / span
    for lane, (sent, answered, status, sender) in enumerate(requests):
        y = top + 4 + lane * LANE
        x0, x1 = LEFT + (sent - start) * 1000 * scale, LEFT + (answered - start) * 1000 * scale
        winner = status == 204
        outline = ' stroke="#000" stroke-width="2"' if winner else ""
        body.append(f'<text x="{LEFT - 6}" y="{y + 11}" text-anchor="end">{html.escape(str(sender))}</text>')
        body.append(f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 1.5):.1f}" height="{LANE - 6}" rx="2" '
                    f'fill="{_colour(status)}"{outline}>'
                    f"<title>{html.escape(str(sender))}: {status}, {(answered - sent) * 1000:.1f} ms</title></rect>")
        label = f"{status}{' ★ winner' if winner else ''}"
        body.append(f'<text x="{x1 + 4:.1f}" y="{y + 11}">{label}</text>')
    title = f"concurrency round, If-Match {evidence.get('if_match')}"
    return _svg(WIDTH, top + 8 + LANE * len(requests), body, title)


def counterexample_timeline(evidence: dict[str, Any]) -> str:
    """A non-linearizable counterexample: one lane per client, each operation from its call to
    its return (no answer: dashed to the end), labelled with what it was answered."""
    operations = sorted(evidence["operations"], key=lambda o: o[1])
    start = min(o[1] for o in operations)
    end = max((o[2] if o[2] is not None else o[1]) for o in operations)
    span = max(end - start, 1e-6) * 1000
    clients = sorted({o[0] for o in operations})
    top, body = 22, []
    body += _axis(span, top, LANE * len(operations) + 4)
    scale = (WIDTH - RIGHT - LEFT) / span
    for lane, (client, call, ret, said) in enumerate(operations):
        y = top + 4 + lane * LANE
        x0 = LEFT + (call - start) * 1000 * scale
        x1 = WIDTH - RIGHT if ret is None else LEFT + (ret - start) * 1000 * scale
        dash = ' stroke-dasharray="4 3"' if ret is None else ""
        body.append(f'<text x="{LEFT - 6}" y="{y + 11}" text-anchor="end">{html.escape(client)}</text>')
        body.append(f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 1.5):.1f}" height="{LANE - 6}" fill="#1565c0" '
                    f'fill-opacity="0.25" stroke="#1565c0"{dash}><title>{html.escape(said)}</title></rect>')
        body.append(f'<text x="{x0 + 3:.1f}" y="{y + 11}">#{lane + 1} {html.escape(said)}</text>')
    title = f"non-linearizable counterexample: {len(operations)} operations of {len(clients)} clients"
    return _svg(WIDTH, top + 8 + LANE * len(operations), body, title)


def latency_boxes(rows: Sequence[LatencyRow]) -> str:
    """Answer time per operation x status: whiskers p5..p95, the box p25..p75, the median."""
    rows = [row for row in rows if row.count]
    if not rows:
        return ""
    top = 22
    span = max(row.ms[95] for row in rows) or 1.0
    body = _axis(span, top, LANE * len(rows) + 4)
    scale = (WIDTH - RIGHT - LEFT) / span

    def x(ms: float) -> float:
        return LEFT + min(ms, span) * scale

    for lane, row in enumerate(rows):
        y = top + 4 + lane * LANE + LANE / 2
        q = {p: x(row.ms[p]) for p in (5, 25, 50, 75, 95)}
        body.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{row.operation} {row.status} ({row.count})</text>')
        body.append(f'<line x1="{q[5]:.1f}" y1="{y}" x2="{q[95]:.1f}" y2="{y}" stroke="#555"/>')
        body.append(f'<rect x="{q[25]:.1f}" y="{y - 5}" width="{max(q[75] - q[25], 1):.1f}" height="10" '
                    f'fill="{_colour(row.status)}" fill-opacity="0.6" stroke="#333">'
                    f"<title>{row.operation} {row.status}: median {row.ms[50]:.1f} ms, "
                    f"p95 {row.ms[95]:.1f} ms, {row.count} answers</title></rect>")
        body.append(f'<line x1="{q[50]:.1f}" y1="{y - 6}" x2="{q[50]:.1f}" y2="{y + 6}" stroke="#000" stroke-width="2"/>')
    return _svg(WIDTH, top + 8 + LANE * len(rows), body, "latency per operation and status (ms)")


def coverage_heat_map(cells: Sequence[CoverageCell], operations: Sequence[str]) -> str:
    """Operation x status: the darker, the more answers; a red frame marks an undocumented
    status that was answered, a dot a status some rule expected (asserted)."""
    statuses = sorted({cell.status for cell in cells})
    by = {(cell.operation, cell.status): cell for cell in cells}
    most = max((cell.observed for cell in cells), default=1) or 1
    size, left, top = 40, 80, 30
    body = []
    for column, status in enumerate(statuses):
        body.append(f'<text x="{left + column * size + size / 2}" y="{top - 8}" text-anchor="middle">{status}</text>')
    for line, operation in enumerate(operations):
        y = top + line * size
        body.append(f'<text x="{left - 6}" y="{y + size / 2 + 4}" text-anchor="end">{operation}</text>')
        for column, status in enumerate(statuses):
            cell = by.get((operation, status))
            x = left + column * size
            if cell is None or (not cell.documented and not cell.observed):
                body.append(f'<rect x="{x}" y="{y}" width="{size - 2}" height="{size - 2}" fill="#fafafa"/>')
                continue
            shade = 0.08 + 0.92 * (math.log1p(cell.observed) / math.log1p(most)) if cell.observed else 0.0
            undocumented = bool(cell.observed) and not cell.documented
            stroke, width = ("#c62828", 2) if undocumented else ("#ccc", 1)
            what = f"{operation} {status}: {cell.observed} answers" + (", asserted" if cell.asserted else "")
            what += ", UNDOCUMENTED" if undocumented else ""
            body.append(f'<rect x="{x}" y="{y}" width="{size - 2}" height="{size - 2}" fill="#1565c0" fill-opacity="{shade:.2f}" '
                        f'stroke="{stroke}" stroke-width="{width}"><title>{what}</title></rect>')
            if cell.asserted:
                body.append(f'<circle cx="{x + size - 8}" cy="{y + 7}" r="3" fill="#000"/>')
    return _svg(left + size * len(statuses) + 10, top + size * len(operations) + 10, body, "coverage: operation x status")
