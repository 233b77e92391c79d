"""Rendering a summary: the console's closing table, summary.md for CI job summaries, and a
self-contained report.html (no external assets)."""

from __future__ import annotations

import html
from typing import Iterable

from fieldproof.contract import OPERATION_IDS
from fieldproof.report.summary import PASS, VIOLATION, Summary

VERDICT_LINE = {
    PASS: "PASS: the contract holds",
    VIOLATION: "FAIL: the target violates the contract",
    "error": "ERROR: the run could not reach a verdict",
}


def _cell(row: dict) -> str:
    if not row["observed"]:
        return "-"
    mark = "asserted" if row["asserted"] else "seen"
    return f"{mark} ({row['observed']})" if row["documented"] else f"UNDOCUMENTED ({row['observed']})"


def coverage_rows(summary: Summary) -> tuple[list[int], list[list[str]]]:
    statuses = sorted({row["status"] for row in summary.coverage})
    cells = {(row["operation"], row["status"]): row for row in summary.coverage}
    table = []
    for operation in OPERATION_IDS:
        line = [operation]
        for status in statuses:
            row = cells.get((operation, status))
            line.append(_cell(row) if row and (row["documented"] or row["observed"]) else "n/a")
        table.append(line)
    return statuses, table


def _rule_rows(summary: Summary) -> Iterable[list[str]]:
    for rule in summary.rules:
        yield [rule["name"], str(rule["checks"]), str(rule["violations"])]


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def render_console(summary: Summary) -> str:
    statuses, matrix = coverage_rows(summary)
    parts = [
        _text_table(["rule", "checks", "violations"], list(_rule_rows(summary))),
        "",
        "coverage (operation x status: asserted = a rule expected that status; seen = only observed; - = not observed)",
        _text_table(["operation", *map(str, statuses)], matrix),
        "",
    ]
    for rule in summary.rules:
        for finding in rule["findings"][:5]:
            parts.append(f"[{finding['rule']}] {finding['message']}")
            if finding.get("exchange"):
                parts.append(f"    reproduce: {finding['exchange']['curl']}")
    for problem in summary.problems[:10]:
        parts.append(f"problem ({problem['kind']}): {problem.get('message', '')} [{problem.get('test', '')}]")
    for note in summary.notes:
        parts.append(f"note: {note}")
    tests = summary.tests
    parts.append(
        f"{summary.requests} requests, {tests.passed} passed, {tests.failed} failed, {tests.skipped} skipped "
        f"in {summary.duration_s:.1f} s (profile {summary.profile}, target {summary.target['base_url']})"
    )
    parts.append(VERDICT_LINE[summary.verdict])
    return "\n".join(parts)


def render_markdown(summary: Summary) -> str:
    statuses, matrix = coverage_rows(summary)
    md = [f"## fieldproof: {VERDICT_LINE[summary.verdict]}", ""]
    md.append(f"Target `{summary.target['base_url']}`, profile `{summary.profile}`, {summary.requests} requests, "
              f"{summary.duration_s:.1f} s; tests: {summary.tests.passed} passed, {summary.tests.failed} failed, "
              f"{summary.tests.skipped} skipped.")  # fmt: skip
    md += ["", "| rule | checks | violations |", "|---|---:|---:|"]
    md += [f"| `{name}` | {checks} | {violations} |" for name, checks, violations in _rule_rows(summary)]
    md += ["", "| operation | " + " | ".join(map(str, statuses)) + " |", "|---" * (len(statuses) + 1) + "|"]
    md += ["| " + " | ".join(row) + " |" for row in matrix]
    findings = [(r["name"], f) for r in summary.rules for f in r["findings"]]
    if findings:
        md += ["", "### Findings", ""]
        for name, finding in findings[:50]:
            md.append(f"- **{name}**: {finding['message']}")
            if finding.get("exchange"):
                md.append(f"  ```\n  {finding['exchange']['curl']}\n  ```")
    if summary.tests.skips:
        md += ["", "### Skipped", ""] + [f"- `{s['test']}`: {s['reason']}" for s in summary.tests.skips]
    return "\n".join(md) + "\n"


def render_html(summary: Summary) -> str:
    e = html.escape
    statuses, matrix = coverage_rows(summary)
    rows = "".join(f"<tr><td><code>{e(n)}</code></td><td>{c}</td><td class='{'bad' if v != '0' else ''}'>{v}</td></tr>"
                   for n, c, v in _rule_rows(summary))  # fmt: skip
    head = "".join(f"<th>{s}</th>" for s in statuses)
    cov = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in matrix)
    items = []
    for rule in summary.rules:
        for finding in rule["findings"]:
            curl = finding["exchange"]["curl"] if finding.get("exchange") else ""
            items.append(f"<li><b>{e(rule['name'])}</b>: {e(finding['message'])}<pre>{e(curl)}</pre></li>")
    skips = "".join(f"<li><code>{e(s['test'])}</code>: {e(s['reason'])}</li>" for s in summary.tests.skips)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>fieldproof report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}
.bad{{background:#fdd}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:4px}}</style></head>
<body><h1>{e(VERDICT_LINE[summary.verdict])}</h1>
<p>Target <code>{e(summary.target['base_url'])}</code>, profile {e(summary.profile)}, {summary.requests} requests,
{summary.duration_s:.1f} s. Tests: {summary.tests.passed} passed, {summary.tests.failed} failed, {summary.tests.skipped} skipped.</p>
<h2>Rules</h2><table><tr><th>rule</th><th>checks</th><th>violations</th></tr>{rows}</table>
<h2>Coverage</h2><table><tr><th>operation</th>{head}</tr>{cov}</table>
<h2>Findings</h2><ul>{''.join(items) or '<li>none</li>'}</ul>
<h2>Skipped</h2><ul>{skips or '<li>none</li>'}</ul>
</body></html>
"""
