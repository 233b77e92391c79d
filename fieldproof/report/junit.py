"""JUnit XML of a summary, in the shape CI parsers keep: one testcase per rule (classname
`fieldproof.rules`), failures carrying the rule's finding groups, rules that judged nothing
marked skipped with the reason; then one testcase per suite test (classname
`fieldproof.suites.<module>`). A session that did not reach a verdict (interrupted, or ended by
its budget, its deadline, an unreachable target, a suite that could not judge) has one more: an
error testcase (classname `fieldproof.session`, named after the verdict) saying why, so that no
CI test reporter shows it green. Every classname + name pair is unique."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fieldproof.report.summary import NOT_EXERCISED, VIOLATED, FindingGroup, RuleRow, Summary, group_head, group_text
from fieldproof.rules import Severity


def _groups_text(rule_groups: list[FindingGroup], accepted: bool) -> str:
    chosen = sorted((group for group in rule_groups if (group.accepted is not None) == accepted), key=lambda g: g.rank)
    return "\n".join(group_text(group, examples=len(group.examples)) for group in chosen)


def _rule_order(rule: RuleRow) -> tuple[int, int, int]:
    """Violated rules first, by their most severe group, then by how much it found; then the rest
    as the registry lists them."""
    if not rule.failing:
        return (1, 0, 0)
    worst = rule.severity  # its worst failing group's
    return (0, Severity(worst).rank, -sum(g.count for g in rule.groups if g.accepted is None and g.severity == worst))


def _session_suite(root: ET.Element, summary: Summary) -> None:
    """The error testcase of a session that ended before its verdict: the verdict's line, and
    the problems and notes that say what happened."""
    outcome = summary.outcome
    suite = ET.SubElement(root, "testsuite", name="fieldproof.session", tests="1", failures="0", errors="1", skipped="0")
    case = ET.SubElement(suite, "testcase", classname="fieldproof.session", name=outcome.key, time=f"{summary.duration_s:.3f}")
    error = ET.SubElement(case, "error", message=outcome.line, type=outcome.word)
    error.text = "\n".join([f"{p.kind}: {p.message}" + (f" [{p.test}]" if p.test else "") for p in summary.problems]
                           + [f"note: {note}" for note in summary.notes]) or outcome.line


def render_junit(summary: Summary) -> str:
    root = ET.Element("testsuites")
    if not summary.outcome.completed:
        _session_suite(root, summary)
    rules = ET.SubElement(root, "testsuite", name="fieldproof.rules")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for rule in sorted(summary.rules, key=_rule_order):
        case = ET.SubElement(rules, "testcase", classname="fieldproof.rules", name=rule.name, time="0")
        counts["tests"] += 1
        accepted = [group.accepted for group in rule.groups if group.accepted is not None]
        if accepted:  # accepted findings pass, and say why
            properties = ET.SubElement(case, "properties")
            for reason in dict.fromkeys(accepted):
                ET.SubElement(properties, "property", name="accepted", value=reason)
        if rule.state == VIOLATED:
            counts["failures"] += 1
            worst = min((group for group in rule.groups if group.accepted is None), key=lambda g: g.rank)
            failure = ET.SubElement(case, "failure", message=group_head(worst), type=worst.severity)
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
            if test.accepted:
                properties = ET.SubElement(case, "properties")
                ET.SubElement(properties, "property", name="accepted", value=test.accepted)
            if test.outcome == "failed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=test.message.splitlines()[0][:500] if test.message else "failed").text = test.message
            elif test.outcome == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=test.message[:500])
        suite.attrib.update({key: str(value) for key, value in counts.items()})
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
