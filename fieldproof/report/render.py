"""Rendering a summary: the console's closing table, summary.md for CI job summaries, and a
self-contained report.html (no external assets).

Every documented fact of the ledger shows one of four states (violated with its findings,
accepted, verified with what verified it, not exercised with the reason), violated first; every
rule shows one of four states (violated, accepted, held with its count, not exercised with the
reason); every finding group shows its count, its first examples and "N more like this": nothing
a rule found is dropped silently.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from fieldproof import contract
from fieldproof.report.summary import (
    ACCEPTED,
    FACT_STATES,
    NOT_EXERCISED,
    VERIFIED,
    VIOLATED,
    CoverageCell,
    FactRow,
    FindingGroup,
    Summary,
    fact_counts,
    group_head,
    group_text,
)
from fieldproof.reproduce import RACE_SCRIPT, text_of
from fieldproof.rules.locking import LOCKING_RULES


def _cell(cell: CoverageCell) -> str:
    if not cell.observed:
        return "-"
    mark = "asserted" if cell.asserted else "seen"
    return f"{mark} ({cell.observed})" if cell.documented else f"UNDOCUMENTED ({cell.observed})"


def coverage_rows(summary: Summary) -> tuple[list[int], list[list[str]]]:
    statuses = sorted({cell.status for cell in summary.coverage})
    cells = {(cell.operation, cell.status): cell for cell in summary.coverage}
    table = []
    for operation in contract.OPERATIONS:
        line = [operation]
        for status in statuses:
            cell = cells.get((operation, status))
            line.append(_cell(cell) if cell and (cell.documented or cell.observed) else "n/a")
        table.append(line)
    return statuses, table


def _rule_rows(summary: Summary) -> Iterable[list[str]]:
    for rule in summary.rules:
        found = str(rule.failing) if rule.state != NOT_EXERCISED else "-"
        if rule.accepted:
            found += f" (+{rule.accepted} accepted)"
        yield [rule.name, rule.severity, rule.state.upper() if rule.state == VIOLATED else rule.state, str(rule.checks), found]


def opening(summary: Summary) -> str:
    """The line every output opens with: the verdict and, on a failure, the failing groups by severity."""
    counts = summary.severity_counts()
    failing = sum(counts.values())
    if not failing:
        return summary.outcome.line
    by = ", ".join(f"{n} {severity}" for severity, n in counts.items() if n)
    return f"{summary.outcome.line}: {_plural(failing, 'finding group')} ({by})"


def _others(summary: Summary) -> list[FindingGroup]:
    """Every group but the most serious ones the output opened with, in the same order."""
    top = summary.most_serious()
    return [group for group in summary.groups if all(group is not shown for shown in top)]


def _ordered_facts(summary: Summary) -> list[FactRow]:
    """Violated first, then accepted, not exercised, verified; in the ledger's order within each."""
    return sorted(summary.facts, key=lambda row: FACT_STATES.index(row.state))


def facts_line(summary: Summary) -> str:
    counts = fact_counts(summary.facts)
    accepted = f", {counts[ACCEPTED]} accepted" if counts[ACCEPTED] else ""
    return (f"facts: {counts[VERIFIED]} verified, {counts[VIOLATED]} violated{accepted}, "
            f"{counts[NOT_EXERCISED]} not exercised (of {counts['documented']} documented)")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _fact_verified_by(row: FactRow) -> str:
    """What verified a fact: its rules' checks, and the answers of its scope seen."""
    judged = "judged by " + ", ".join(f"{rule} ({_plural(checks, 'check')})" for rule, checks in row.checks.items())
    return f"{judged}; {row.scope}: {_plural(row.seen, 'time')}" if row.scope else judged


def _finding_note(accepted: str | None) -> str:
    return f" (accepted: {accepted})" if accepted is not None else ""


def _outside_ledger(summary: Summary) -> list[FindingGroup]:
    """Failing finding groups of rules no documented fact names (another checker's): the ledger
    does not show them, so its section points to them."""
    asserting = {rule for row in summary.facts for rule in row.checks}
    return [g for rule in summary.rules if rule.name not in asserting for g in rule.groups if g.accepted is None]


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _most_serious_lines(summary: Summary) -> list[str]:
    top = summary.most_serious()
    if not top:
        return []
    lines = [f"most serious {'finding' if len(top) == 1 else f'{len(top)} findings'} (of {len(summary.groups)} groups):"]
    for number, group in enumerate(top, 1):
        lines.append(f"{number}. " + group_text(group, scripts=False))
    return [*lines, ""]


def not_exercised(summary: Summary) -> list[tuple[str, str]]:
    """(rule, why) for every rule that judged nothing, for every output alike. The locking
    oracles judge only what a session opts into: when none of them judged anything, they are one
    entry saying how to opt in, not seven."""
    rows = [(rule.name, rule.unexercised) for rule in summary.rules if rule.state == NOT_EXERCISED and rule.unexercised]
    locking = [name for name, _ in rows if name in LOCKING_RULES]
    if len(locking) < len(LOCKING_RULES):
        return rows
    first = rows.index(next(row for row in rows if row[0] in LOCKING_RULES))
    rows = [row for row in rows if row[0] not in LOCKING_RULES]
    rows.insert(first, (f"the {len(LOCKING_RULES)} locking oracles", "no conditional write besides pause, resume and complete "
                        "was opted into: fieldproof run --resources KIND,…|all (fielding-runs, projects, webhooks, …), "
                        "or [[resources]] in the target file"))
    return rows


def render_console(summary: Summary) -> str:
    statuses, matrix = coverage_rows(summary)
    parts = [opening(summary), *_most_serious_lines(summary),
        _text_table(["rule", "severity", "state", "checks", "findings"], list(_rule_rows(summary))),
        "",
        "coverage (operation x status: asserted = a rule expected that status; seen = only observed; - = not observed)",
        _text_table(["operation", *map(str, statuses)], matrix),
        "",
    ]
    others = _others(summary)
    if others and summary.most_serious():
        parts.append("the other finding groups, most severe first:")
    for group in others:
        parts.append(group_head(group) if group.accepted is not None else group_text(group, scripts=False))
    for name, why in not_exercised(summary):
        parts.append(f"not exercised: {name}: {why}")
    parts += _swarm_lines(summary)
    parts += _baseline_lines(summary)
    for problem in summary.problems:
        parts.append(f"{problem.kind}: {problem.message} [{problem.test}]")
    for note in summary.notes:
        parts.append(f"note: {note}")
    if summary.facts:
        parts.append(facts_line(summary))
    parts.append(_totals(summary))
    parts.append(summary.outcome.line)
    return "\n".join(parts)


def _swarm_lines(summary: Summary) -> list[str]:
    """The swarm section: load, latency per operation x status, race rounds, histories."""
    swarm = summary.swarm
    if not swarm:
        return []
    rates = swarm.get("requests_per_s") or []
    workers = swarm.get("workers") or []
    lines = [f"swarm: {swarm.get('users', 0)} users on {len(workers)} worker{'s' if len(workers) != 1 else ''} "
             f"({', '.join(workers)}) for {swarm.get('duration_s', 0):.1f} s; "
             f"{sum(rates)} requests recorded, at most {max(rates, default=0)} in a second"]
    table = [[e["name"], e["method"], str(e["requests"]), str(e["failures"]), *(str(e[f"p{p}_ms"]) for p in (50, 95, 99))]
             for e in swarm.get("latency") or []]
    if table:
        lines.append(_text_table(["latency (ms)", "method", "requests", "findings", "p50", "p95", "p99"], table))
    lines.append(f"race rounds: {swarm.get('rounds', 0)}, with exactly one winner: {swarm.get('rounds_won_once', 0)}")
    for run_id, history in sorted((swarm.get("histories") or {}).items()):
        lines.append(f"history of {run_id}: {history['operations']} operations from {', '.join(history['workers'])}: "
                     f"{history['verdict']}")
    clocks = swarm.get("clocks") or {}
    if clocks:
        lines.append("clocks: " + "; ".join(f"{name} {offset * 1000:+.1f} ms ±{bound * 1000:.1f} ms"
                                            for name, (offset, bound) in sorted(clocks.items())))
    lines += [f"worker {name}: its final report never arrived" for name in swarm.get("missing_finals") or []]
    return lines


def _baseline_lines(summary: Summary) -> list[str]:
    report = summary.baseline
    if report is None:
        return []
    lines = [f"baseline {report.source}: entry not seen in this session (prune it): {e.describe()}" for e in report.not_seen]
    lines += [f"baseline {report.source}: entry expired, its findings fail again: {e.describe()}" for e in report.expired]
    return lines


def _totals(summary: Summary) -> str:
    """Rules counted as the rule table counts them, then the suite tests (a test that failed on
    accepted findings only passed), the requests and the time."""
    rules = ", ".join(f"{n} {state}" for state, n in summary.rule_counts().items() if n)
    tests = summary.tests
    waited = f", waited {summary.waited_429_s:.1f} s on 429s" if summary.waited_429_s else ""
    paced = f", paced at {summary.paced_rps:g} requests/s learned from them" if summary.paced_rps else ""
    return (f"rules: {rules}; suite tests: {tests.passed} passed, {tests.failed} failed, {tests.skipped} skipped; "
            f"{summary.requests} requests in {summary.duration_s:.1f} s{waited}{paced} "
            f"(profile {summary.profile}, target {summary.target['base_url']})")


# emphasis, links and images, table cells, strikethrough; a _ between two letters or digits
# (FIELDPROOF_TOKEN) can neither open nor close emphasis, and stays as it is
_MARKDOWN_INLINE = re.compile(r"([\\*\[\]|~]|(?<![^\W_])_|_(?![^\W_]))")
_MARKDOWN_BLOCK_START = re.compile(r"^([#+\-=]|\d+(?=[.)]))")  # a heading, a list, a rule, at the text's start
_NEWLINES = re.compile(r"\r\n|\r|\n")


def markdown_text(text: str) -> str:
    """Text fieldproof did not write itself (what a target sent, messages and curl lines that
    quote it, notes, a baseline's reasons) as it goes into summary.md, which GitHub renders as
    the job summary: shown as it is, never HTML nor markdown of its own (no tag, link, image,
    emphasis, heading or list), on one line, and one table cell where it is put in one."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    text = _MARKDOWN_BLOCK_START.sub(lambda m: m.group() + "\\" if m.group().isdigit() else "\\" + m.group(), text)
    text = html.escape(text, quote=False).replace("`", "&#96;")  # no tag, entity or code span
    text = re.sub(r"^[ \t]+", lambda m: "&#32;" * len(m.group()), text)  # leading spaces: no code block
    return _NEWLINES.sub("<br>", text)


def _md_code(text: str) -> str:
    """Text not ours, in a monospace span (curl lines): escaped as any, so that it cannot end
    the span; `<code>`, not backticks, for a code span would show the escapes."""
    return f"<code>{markdown_text(text)}</code>"


def _fenced(lines: list[str]) -> list[str]:
    """A code block that no line can end: its fence longer than any run of backticks in it."""
    fence = "`" * max(3, 1 + max((len(run) for line in lines for run in re.findall("`+", line)), default=0))
    return [fence, *lines, fence]


FACTS_SAY = ("a fact is verified when every rule that asserts it judged answers, none broke it, and an answer "
             "it is about was seen")
COVERAGE_SAYS = "Which answers the session saw: asserted = a rule expected that status; seen = only observed; - = not observed"


def _md_fact(row: FactRow) -> str:
    fact = f"`{row.name}`<br>{markdown_text(row.says)}"
    if row.questions:
        fact += "<br>open questions: " + ", ".join(f"`{q}`" for q in row.questions)
    state = f"**{row.state.upper()}**" if row.state == VIOLATED else row.state
    if row.findings:
        said = "<br>".join(f"`{f.rule}` {_md_code(f.signature)}: {_plural(f.count, 'finding')}"
                           + (f" (accepted: {markdown_text(f.accepted)})" if f.accepted is not None else "")
                           for f in row.findings)
    else:
        said = markdown_text(row.reason if row.state == NOT_EXERCISED else _fact_verified_by(row))
    return f"| {state} | {fact} | {markdown_text(row.source)} | {said} |"


def _md_facts(summary: Summary) -> list[str]:
    """The ledger's section: counts, a row per fact (violated first), then the coverage matrix."""
    md = []
    if summary.facts:
        md += ["### Documented facts", "", f"**{markdown_text(facts_line(summary))}**: {FACTS_SAY}.", ""]
        md += ["| state | fact | documented in | findings, why not exercised, or what verified it |", "|---|---|---|---|"]
        md += [_md_fact(row) for row in _ordered_facts(summary)]
        outside = _outside_ledger(summary)
        if outside:
            md += ["", "Findings of no documented fact's rule: " + ", ".join(
                f"**{markdown_text(g.rule)}** {_md_code(g.signature)} ({_plural(g.count, 'finding')})" for g in outside) + "."]
        md += ["", "#### Coverage: operation x status", ""]
    else:
        md += ["### Coverage: operation x status", ""]
    statuses, matrix = coverage_rows(summary)
    md += [COVERAGE_SAYS + ".", ""]
    md += ["| operation | " + " | ".join(map(str, statuses)) + " |", "|---" * (len(statuses) + 1) + "|"]
    md += ["| " + " | ".join(row) + " |" for row in matrix]
    return md


def _md_group(group: FindingGroup, lead: str = "- ", scripts: bool = True) -> list[str]:
    """A group in summary.md (`scripts` False: a race's script is left to report.html and the
    most serious groups, its needs and replay command shown)."""
    md = [f"{lead}**{markdown_text(group.severity)}** `{markdown_text(group.rule)}` {_md_code(group.signature)}: "
          f"{_plural(group.count, 'finding')}, id `{group.id}`"
          + (f" (accepted: {markdown_text(group.accepted)})" if group.accepted is not None else "")
          + (f" (acceptance expired: {markdown_text(group.expired)})" if group.expired is not None else "")]
    for example in group.examples:
        md.append(f"  - {markdown_text(example['message'].splitlines()[0] if example['message'] else '')}")
    again = group.reproduction
    if again is not None and group.accepted is None:
        block = [f"  {line}" for line in _fenced(text_of(again).splitlines())]
        if again.kind == RACE_SCRIPT and not scripts:
            md += ["", "  reproduce (its script: in report.html):", "",
                   *(f"  {line}" for line in _fenced([f"# needs: {need}" for need in again.needs])), ""]
        elif again.kind == RACE_SCRIPT:  # a script: folded, so that the groups after it stay in sight
            lines = len(again.text.splitlines())
            md += ["", f"  <details><summary>reproduce: a stand-alone Python script ({lines} lines)</summary>", "", *block, "",
                   "  </details>", ""]
        else:
            md += ["", "  reproduce:", "", *block, ""]
    if group.more:
        md.append(f"  - ... and {group.more} more like this")
    return md


def render_markdown(summary: Summary) -> str:
    md = [f"## fieldproof: {markdown_text(opening(summary))}", ""]
    top = summary.most_serious()
    if top:
        md += ["### Most serious", ""]
        for group in top:
            md += _md_group(group)
        md.append("")
    md += [markdown_text(_totals(summary)) + ".", ""]
    md += _md_facts(summary)
    md += ["", "### Rules", "", "| rule | severity | state | checks | findings |", "|---|---|---|---:|---:|"]
    md += [f"| `{name}` | {severity} | {state} | {checks} | {found} |" for name, severity, state, checks, found in _rule_rows(summary)]
    others = _others(summary)
    if others:
        md += ["", "### Other findings" if top else "### Findings", ""]
        for group in others:
            md += _md_group(group, scripts=False)
    unexercised = not_exercised(summary)
    if unexercised:
        md += ["", "### Not exercised", ""] + [f"- `{name}`: {markdown_text(why)}" for name, why in unexercised]
    if summary.swarm:
        md += ["", "### Swarm", "", *_fenced(_swarm_lines(summary))]
    extra = _baseline_lines(summary) + [f"{p.kind}: {p.message} ({p.test})" for p in summary.problems]
    extra += [f"note: {note}" for note in summary.notes]
    if extra:
        md += ["", "### Problems and notes", ""] + [f"- {markdown_text(line)}" for line in extra]
    if summary.tests.skips:
        md += ["", "### Skipped", ""] + [f"- {_md_code(s.test)}: {markdown_text(s.reason)}" for s in summary.tests.skips]
    return "\n".join(md) + "\n"


_STATE_CLASS = {VIOLATED: "bad", ACCEPTED: "ok-ish", "held": "ok", VERIFIED: "ok", NOT_EXERCISED: "idle"}
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.4}
h1{font-size:1.6em}h1.pass{color:#2e7d32}h1.violation{color:#c62828}h1.inconclusive,h1.interrupted,h1.usage,h1.unreachable{color:#ef6c00}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:10px}
.card{border:1px solid #ddd;border-left:6px solid #999;border-radius:6px;padding:8px 10px;background:#fff}
.card.bad{border-left-color:#c62828;background:#fff5f5}.card.ok{border-left-color:#2e7d32}
.card.ok-ish{border-left-color:#f9a825}.card.idle{border-left-color:#bdbdbd;color:#666}
.card h3{margin:0 0 2px;font-size:.9em;font-family:monospace;word-break:break-all}.card .n{font-weight:bold;font-size:.85em}
.card p{margin:4px 0;font-size:.85em}.state{font-size:.75em;text-transform:uppercase;letter-spacing:.05em}
.group{border:1px solid #e0e0e0;border-radius:6px;margin:10px 0;padding:8px 12px}
.group h3{margin:0;font-size:1em}.group.accepted{opacity:.7}
.group.critical{border-left:6px solid #b71c1c}.group.major{border-left:6px solid #ef6c00}.group.minor{border-left:6px solid #fbc02d}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:6px;margin:4px 0;font-size:.8em}
button.copy{float:right;font-size:.75em;cursor:pointer}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:.85em}
figure{margin:10px 0}figcaption{font-size:.85em;color:#555}
.tally span{display:inline-block;border-radius:10px;padding:1px 10px;margin-right:6px;font-size:.9em;background:#eee}
.tally .bad{background:#ffcdd2}.tally .ok{background:#c8e6c9}.tally .ok-ish{background:#fff3c4}.tally .idle{background:#e0e0e0}
.tally .none{color:#888}
table.facts{width:100%}table.facts td{vertical-align:top}table.facts td:first-child{border-left:6px solid #bdbdbd;white-space:nowrap}
table.facts tr.bad td{background:#fff5f5}table.facts tr.bad td:first-child{border-left-color:#c62828;color:#c62828;font-weight:bold}
table.facts tr.ok td:first-child{border-left-color:#2e7d32}table.facts tr.ok-ish td:first-child{border-left-color:#f9a825}
table.facts tr.idle{color:#666}table.facts code{font-size:1.05em}table.facts code.name{font-weight:bold}
table.facts ul{margin:0;padding-left:1.2em}
.q{color:#666;font-size:.9em}
"""
_COPY = """<script>
for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => {
  const text = b.nextElementSibling.textContent;
  (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject()).then(
    () => { b.textContent = 'copied'; }, () => { b.textContent = 'select and copy'; });
});
</script>"""


LATENCY_CAPTION = "answer time per operation and status: whiskers p5 to p95, the box p25 to p75, the line the median"
HEAT_CAPTION = ("coverage: the darker, the more answers; a dot: a rule expected that status; "
                "a red frame: an undocumented status was answered")


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>" if svg else ""


def _html_facts(summary: Summary) -> str:
    """The ledger's section: counts, a row per fact (violated first); the coverage comes under it."""
    e = html.escape
    if not summary.facts:
        return ""
    counts = fact_counts(summary.facts)
    tally = "".join(f"<span class='{_STATE_CLASS[state] if counts[state] else 'none'}'>{counts[state]} {e(state)}</span>"
                    for state in (VIOLATED, ACCEPTED, VERIFIED, NOT_EXERCISED) if counts[state] or state != ACCEPTED)
    rows = []
    for row in _ordered_facts(summary):
        questions = ", ".join(f"<code>{e(q)}</code>" for q in row.questions)
        questions = f"<div class='q'>open questions: {questions}</div>" if questions else ""
        if row.findings:
            said = "<ul>" + "".join(f"<li><code>{e(f.rule)}</code> {e(f.signature)}: {_plural(f.count, 'finding')}"
                                    f"{e(_finding_note(f.accepted))}</li>" for f in row.findings) + "</ul>"
        else:
            said = e(row.reason if row.state == NOT_EXERCISED else _fact_verified_by(row))
        rows.append(f"<tr class='{_STATE_CLASS[row.state]}' id='fact-{e(row.name)}'><td>{e(row.state)}</td>"
                    f"<td><code class='name'>{e(row.name)}</code><br>{e(row.says)}{questions}</td><td>{e(row.source)}</td>"
                    f"<td>{said}</td></tr>")
    outside = _outside_ledger(summary)
    others = "; ".join(f"<code>{e(g.rule)}</code> {e(g.signature)} ({_plural(g.count, 'finding')})" for g in outside)
    others = f"<p>Findings of no documented fact's rule: {others}.</p>" if others else ""
    return (f"<h2 id='facts'>Documented facts</h2><p class='tally'>{tally}of {counts['documented']} documented</p>"
            f"<p>{e(FACTS_SAY[0].upper() + FACTS_SAY[1:])}; the <a href='#coverage'>coverage</a> below shows which "
            f"answers were seen.</p><table class='facts'><tr><th>state</th><th>fact</th><th>documented in</th>"
            f"<th>findings, why not exercised, or what verified it</th></tr>{''.join(rows)}</table>{others}")


def render_html(summary: Summary) -> str:
    """A self-contained page (no network): the verdict, the documented facts (the coverage under
    them), a card per rule, the finding groups with their curl lines and a copy button, and
    pictures drawn as inline SVG."""
    from fieldproof.report import svg

    e = html.escape
    cards = []
    for rule in summary.rules:
        count = rule.failing if rule.state == VIOLATED else (rule.accepted if rule.accepted else rule.checks)
        unit = "findings" if rule.state == VIOLATED else ("accepted" if rule.accepted else "checks")
        why = f"<p>{e(rule.unexercised)}</p>" if rule.state == NOT_EXERCISED else ""
        cards.append(f"<div class='card {_STATE_CLASS.get(rule.state, '')}'><h3>{e(rule.name)}</h3>"
                     f"<div class='state'>{e(rule.state)} · <span class='n'>{count} {unit}</span></div>"
                     f"<p>{e(rule.summary)}</p>{why}</div>")
    def group_div(group: FindingGroup) -> str:
        examples = "".join(f"<pre>{e(x['message'])}</pre>" if "\n" in x["message"] else f"<p>{e(x['message'])}</p>"
                           for x in group.examples)
        again = ""
        if group.reproduction is not None:
            shown = f"<button class='copy'>copy</button><pre>{e(text_of(group.reproduction))}</pre>"
            if group.reproduction.kind == RACE_SCRIPT:  # a script: folded, so that the groups after it stay in sight
                lines = len(group.reproduction.text.splitlines())
                again = f"<details><summary>reproduce: a stand-alone Python script ({lines} lines)</summary>{shown}</details>"
            else:
                again = f"<p>reproduce:</p>{shown}"
        more = f"<p>… and {group.more} more like this</p>" if group.more else ""
        accepted = " accepted" if group.accepted is not None else ""
        return f"<div class='group {e(group.severity)}{accepted}'><h3>{e(group_head(group))}</h3>{examples}{again}{more}</div>"

    top = "".join(map(group_div, summary.most_serious()))
    groups = [group_div(group) for group in _others(summary)]
    rounds = [ev for ev in summary.evidence if ev.get("rule") == "one_winner_among_concurrent_writes"]
    rounds.sort(key=lambda ev: not ev.get("violated"))  # a broken round first
    counterexamples = [ev for ev in summary.evidence if ev.get("rule") == "history_linearizable"]
    pictures = []
    for ev in rounds[:6]:
        caption = "a round the rule found wrong" if ev.get("violated") else "a round with one winner"
        pictures.append(f"<figure>{svg.round_timeline(ev)}<figcaption>{caption}: each bar a write, from its sending to "
                        "its answer (green 204, grey 412, orange 422)</figcaption></figure>")
    for ev in counterexamples[:3]:
        pictures.append(f"<figure>{svg.counterexample_timeline(ev)}<figcaption>the smallest part of a concurrent history "
                        "with no order the run's model accepts</figcaption></figure>")
    latency = svg.latency_boxes(summary.latency)
    heat = svg.coverage_heat_map(summary.coverage, list(contract.OPERATIONS))
    statuses, matrix = coverage_rows(summary)
    head = "".join(f"<th>{s}</th>" for s in statuses)
    cov = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in matrix)
    unexercised = "".join(f"<li><code>{e(name)}</code>: {e(why)}</li>" for name, why in not_exercised(summary))
    problems = "".join(f"<li>{e(line)}</li>" for line in _baseline_lines(summary)
                       + [f"{p.kind}: {p.message} [{p.test}]" for p in summary.problems]
                       + [f"note: {note}" for note in summary.notes])
    skips = "".join(f"<li><code>{e(s.test)}</code>: {e(s.reason)}</li>" for s in summary.tests.skips)
    swarm = f"<h2>Swarm</h2><pre>{e(chr(10).join(_swarm_lines(summary)))}</pre>" if summary.swarm else ""
    coverage_level = "h3" if summary.facts else "h2"  # one view of the facts, under their section
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fieldproof report</title><style>{_CSS}</style></head>
<body><h1 class="{e(summary.outcome.key)}">{e(opening(summary))}</h1>
{f"<h2>Most serious</h2>{top}" if top else ""}
<p>{e(_totals(summary))}.</p>
{_html_facts(summary)}
<{coverage_level} id='coverage'>Coverage: operation x status</{coverage_level}>
<p>{e(COVERAGE_SAYS)}.</p>
<table><tr><th>operation</th>{head}</tr>{cov}</table>
{_figure(heat, HEAT_CAPTION)}
<h2>Rules</h2><div class="cards">{''.join(cards)}</div>
<h2>{"Other findings" if top else "Findings"}</h2>{''.join(groups) or '<p>none</p>'}
<h2>Pictures</h2>
{''.join(pictures) or '<p>no concurrency round or counterexample was recorded</p>'}
{_figure(latency, LATENCY_CAPTION)}
{swarm}
<h2>Not exercised</h2><ul>{unexercised or '<li>none</li>'}</ul>
<h2>Problems and notes</h2><ul>{problems or '<li>none</li>'}</ul>
<h2>Skipped</h2><ul>{skips or '<li>none</li>'}</ul>
{_COPY}
</body></html>
"""
