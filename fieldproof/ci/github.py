"""The GitHub Action's script (action.yml runs `python -m fieldproof.ci.github`): run
`fieldproof run` with the action's inputs, then publish what it found, and keep its exit code.

- `summary.md` is appended to $GITHUB_STEP_SUMMARY, cut below GitHub's 1 MiB with a note saying
  what was cut;
- at most 10 annotations (GitHub caps them), one per finding group, most severe first, each at
  the operation's line in the contract document;
- outputs `verdict`, `exit-code` and `findings` (failing findings) in $GITHUB_OUTPUT.

Inputs come as INPUT_TARGET, INPUT_PROFILE, INPUT_BASELINE, INPUT_REPORTS and INPUT_ARGS
(extra `fieldproof run` arguments); tokens come from the job's env (secrets), as for any run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from fieldproof.report.sarif import findings_file
from fieldproof.report.summary import FindingGroup, Summary, load_summary
from fieldproof.rules import Severity

SUMMARY_LIMIT = 1024 * 1024 - 4096  # GitHub refuses a step summary of 1 MiB or more
ANNOTATIONS = 10


def _escape(text: str, property_: bool = False) -> str:
    """GitHub's workflow-command encoding (properties also escape ':' and ',')."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_ else text


def command(inputs: dict[str, str]) -> list[str]:
    args = [sys.executable, "-m", "fieldproof", "run", "--reports", inputs.get("REPORTS") or "fieldproof-reports",
            "--profile", inputs.get("PROFILE") or "default"]
    if inputs.get("TARGET"):
        args += ["--target", inputs["TARGET"]]
    if inputs.get("BASELINE"):
        args += ["--baseline", inputs["BASELINE"]]
    return args + shlex.split(inputs.get("ARGS") or "")


def step_summary(markdown: str) -> str:
    encoded = markdown.encode()
    if len(encoded) <= SUMMARY_LIMIT:
        return markdown
    kept = encoded[:SUMMARY_LIMIT].decode(errors="ignore").rsplit("\n", 1)[0]
    return (kept + f"\n\n> **Cut here:** {len(kept.encode())} of {len(encoded)} bytes of the summary are shown (GitHub's "
            "step summary holds at most 1 MiB); the whole of it is `summary.md` in the reports.\n")


def annotation_lines(summary: Summary) -> list[str]:
    found = findings_file(summary)  # a file of the user's, or none
    groups: list[FindingGroup] = [group for group in summary.groups if group.accepted is None]  # most severe first
    lines = []
    for group in groups[:ANNOTATIONS]:
        example = group.examples[0]["message"].splitlines()[0] if group.examples else ""
        message = f"[{group.severity}] {group.signature}: {group.count} finding{'s' if group.count != 1 else ''}. {example}"
        place = ""
        if found is not None:
            path, lines_of = found
            line = lines_of.get(group.operation or "") or lines_of.get("resume") or 1
            place = f"file={_escape(path, True)},line={line},"
        lines.append(f"::{Severity(group.severity).level} {place}title={_escape(group.rule, True)}::{_escape(message)}")
    return lines


def publish(reports: Path, exit_code: int, environ: dict[str, str]) -> None:
    """Step summary, annotations and outputs for a finished session."""
    try:
        summary: Summary | None = load_summary(reports / "summary.json")
    except (OSError, ValueError):  # no summary (a usage error): the exit code says what happened
        summary = None
    findings = sum(rule.failing for rule in summary.rules) if summary else 0
    verdict = summary.verdict if summary else "error"
    if summary is not None and environ.get("GITHUB_STEP_SUMMARY"):
        with open(environ["GITHUB_STEP_SUMMARY"], "a") as out:
            out.write(step_summary((reports / "summary.md").read_text()))
    for line in annotation_lines(summary) if summary else []:
        print(line)
    if environ.get("GITHUB_OUTPUT"):
        with open(environ["GITHUB_OUTPUT"], "a") as out:
            out.write(f"verdict={verdict}\nexit-code={exit_code}\nfindings={findings}\n")


def main() -> int:
    inputs = {key.removeprefix("INPUT_"): value for key, value in os.environ.items() if key.startswith("INPUT_")}
    exit_code = subprocess.run(command(inputs)).returncode
    publish(Path(inputs.get("REPORTS") or "fieldproof-reports"), exit_code, dict(os.environ))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
