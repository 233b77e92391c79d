"""JUnit XML of a summary, in the shape CI parsers keep: one testcase per rule (classname
`fieldproof.rules`), failures carrying the rule's finding groups, rules that judged nothing
marked skipped with the reason; then one testcase per suite test (classname
`fieldproof.suites.<module>`). A session that did not reach a verdict (interrupted, or ended by
its budget, its deadline, an unreachable target, a suite that could not judge) has one more: an
error testcase (classname `fieldproof.session`, named after the verdict) saying why, so that no
CI test reporter shows it green. Every classname + name pair is unique."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fieldproof.report.summary import NOT_EXERCISED, VIOLATED, GroupRow, Summary


def _groups_text(rule_groups: list[GroupRow], accepted: bool) -> str:
    lines = []
    for group in rule_groups:
        if (group.accepted is not None) != accepted:
            continue
        lines.append(f"{group.signature}: {group.count} finding{'s' if group.count != 1 else ''}"
                     + (f" (accepted: {group.accepted})" if accepted else ""))  # fmt: skip
        for example in group.examples:
            lines.append(f"  {example['message'].splitlines()[0]}")
            if example.get("exchange"):
                lines.append(f"    {example['exchange']['curl']}")
        if group.more:
            lines.append(f"  ... and {group.more} more like this")
    return "\n".join(lines)


def _session_suite(root: ET.Element, summary: Summary) -> None:
    """The error testcase of a session that ended before its verdict: the verdict's line, and
    the problems and notes that say what happened."""
    outcome = summary.outcome
    suite = ET.SubElement(root, "testsuite", name="fieldproof.session", tests="1", failures="0", errors="1", skipped="0")
    case = ET.SubElement(suite, "testcase", classname="fieldproof.session", name=outcome.key, time=f"{summary.duration_s:.3f}")
    error = ET.SubElement(case, "error", message=outcome.line, type=outcome.word)
    error.text = "\n".join([f"{p.kind}: {p.message}" + (f" [{p.test}]" if p.test else "") for p in summary.problems]
                           + [f"note: {note}" for note in summary.notes]) or outcome.line  # fmt: skip


def render_junit(summary: Summary) -> str:
    root = ET.Element("testsuites")
    if not summary.outcome.completed:
        _session_suite(root, summary)
    rules = ET.SubElement(root, "testsuite", name="fieldproof.rules")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for rule in summary.rules:
        case = ET.SubElement(rules, "testcase", classname="fieldproof.rules", name=rule.name, time="0")
        counts["tests"] += 1
        if rule.state == VIOLATED:
            counts["failures"] += 1
            failure = ET.SubElement(case, "failure", message=f"{rule.violations} findings of {rule.name}", type="violation")
            failure.text = _groups_text(rule.groups, accepted=False)
        elif rule.state == NOT_EXERCISED:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"not exercised: {rule.unexercised}")
        if rule.accepted:
            ET.SubElement(case, "system-out").text = _groups_text(rule.groups, accepted=True)
    rules.attrib.update({key: str(value) for key, value in counts.items()})
    if summary.tests.cases:
        suite = ET.SubElement(root, "testsuite", name="fieldproof.suites")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for test in summary.tests.cases:
            case = ET.SubElement(suite, "testcase", classname=test.classname, name=test.name, time=f"{test.seconds:.3f}")
            counts["tests"] += 1
            if test.outcome == "failed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=test.message[:500]).text = test.message
            elif test.outcome == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=test.message[:500])
        suite.attrib.update({key: str(value) for key, value in counts.items()})
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
