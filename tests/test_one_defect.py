"""One defect, one finding, told the same way everywhere: a defect schemathesis also sees is the
rule's finding, counted once; every output opens with the most severe groups; a baseline written
with one seed holds with another, and then every output says the session passed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import fieldproof_run, summary

from fieldproof.ci.github import annotation_lines
from fieldproof.errors import ExitCode
from fieldproof.report.summary import load_summary

QUICK = ("--profile", "quick")
HEADER_FAULT = {"FIELDPROOF_SANDBOX_FAULT": "no_traceparent_on_refusals"}  # minor: header form, on 412 and 422
RANK = {"critical": 0, "major": 1, "minor": 2}


def test_a_severe_defect_opens_every_output_and_schemathesis_repeats_nothing(tmp_path: Path) -> None:
    env = {"FIELDPROOF_SANDBOX_FAULT": "no_traceparent_on_refusals,check_then_act_race"}
    # the race (concurrency), the header on refusals (if_match) and schemathesis, which sees the header too
    result = fieldproof_run(tmp_path, *QUICK, "--quiet", "--suites", "concurrency,if_match,schemathesis", env=env)
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    data = summary(tmp_path)
    groups = [group for rule in data["rules"] for group in rule["groups"]]
    # the missing traceparent is traceparent_on_every_response's, however many checkers saw it
    assert any(g["rule"] == "traceparent_on_every_response" for g in groups)
    assert not [g for g in groups if g["rule"].startswith("schemathesis.") and "traceparent" in g["signature"].lower()]
    # the console opens with the verdict and the most serious groups, each with its reproduction
    lines = result.stdout.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("FAIL: "))
    assert "critical" in lines[start] and lines[start + 1].startswith("most serious")
    assert lines[start + 2].startswith("1. [critical] ")
    assert "reproduce:" in "\n".join(lines[start + 2:start + 8])
    # summary.md and report.html open the same way
    md = (tmp_path / "reports" / "summary.md").read_text()
    assert md.index("### Most serious") < md.index("### Documented facts")
    assert re.search(r"### Most serious\n\n- \*\*critical\*\*", md)
    page = (tmp_path / "reports" / "report.html").read_text()
    assert page.index("<h2>Most serious</h2>") < page.index("<h2>Other findings</h2>")
    assert page.index("class='group critical") < page.index("class='group minor")
    # junit: the rules' failures most severe first, their messages the groups' own heads
    rules = next(s for s in ET.parse(tmp_path / "reports" / "junit.xml").getroot() if s.get("name") == "fieldproof.rules")
    failures = [case.find("failure") for case in rules if case.find("failure") is not None]
    kinds = [RANK[str(f.get("type"))] for f in failures if f is not None]
    assert kinds == sorted(kinds) and kinds[0] == 0
    suites_ = next(s for s in ET.parse(tmp_path / "reports" / "junit.xml").getroot() if s.get("name") == "fieldproof.suites")
    for case in suites_:
        failure = case.find("failure")
        if failure is not None and failure.text:
            assert "hookimpl" not in failure.text and "item = <" not in failure.text  # never fieldproof's own source
    # SARIF and the annotations: most severe first
    sarif = json.loads((tmp_path / "reports" / "fieldproof.sarif").read_text())
    ranks = [RANK[r["properties"]["severity"]] for r in sarif["runs"][0]["results"]]
    assert ranks == sorted(ranks) and ranks[0] == 0
    annotations = annotation_lines(load_summary(tmp_path / "reports" / "summary.json"))
    assert annotations[0].startswith("::error ") and "[critical]" in annotations[0]
    assert annotations[-1].startswith("::warning ")  # the minor header defect


def test_a_baseline_written_with_one_seed_holds_with_another_and_every_output_passes(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.toml"
    first = fieldproof_run(tmp_path, *QUICK, "--seed", "1", "--baseline-update", str(baseline), env=HEADER_FAULT, reports="one")
    assert first.returncode == ExitCode.FINDING, first.stdout[-3000:]
    assert "signature = " in baseline.read_text()
    second = fieldproof_run(tmp_path, *QUICK, "--seed", "2", "--baseline", str(baseline), env=HEADER_FAULT, reports="two")
    assert second.returncode == ExitCode.OK, second.stdout[-3000:]
    data = summary(tmp_path, "two")
    groups = [group for rule in data["rules"] for group in rule["groups"]]
    assert groups and all(group["accepted"] for group in groups)  # found again, every one accepted
    assert data["baseline"]["not_seen"] == []  # and every entry matched: the signatures are the seed's no more
    assert data["tests"]["failed"] == 0
    assert any(line.startswith("PASS: ") for line in second.stdout.splitlines())
    assert not any(line.startswith("FAIL") for line in second.stdout.splitlines())
    assert re.search(r"suite tests: \d+ passed, 0 failed", second.stdout)
    junit = ET.parse(tmp_path / "two" / "junit.xml").getroot()
    assert not list(junit.iter("failure")) and not list(junit.iter("error"))
    accepted = [p for p in junit.iter("property") if p.get("name") == "accepted"]
    assert accepted and all(p.get("value") for p in accepted)
    sarif = json.loads((tmp_path / "two" / "fieldproof.sarif").read_text())
    assert all(result.get("suppressions") for result in sarif["runs"][0]["results"])
    assert annotation_lines(load_summary(tmp_path / "two" / "summary.json")) == []
    assert (tmp_path / "two" / "summary.md").read_text().startswith("## fieldproof: PASS")
