"""A reader that leaves (`fieldproof … | head -1`) ends what it sees, never the command: a session
still writes its reports and exits with its verdict, and no traceback is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path



def _first_line_then_gone(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run fieldproof, read one line of its standard output, close the pipe as `head -1` does."""
    process = subprocess.Popen([sys.executable, "-m", "fieldproof", *argv], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def test_a_session_whose_reader_left_still_reports_and_exits_with_its_verdict(tmp_path: Path) -> None:
    code, err = _first_line_then_gone(["run", "--profile", "quick", "--suites", "paths", "--reports", str(tmp_path / "r")],
                                      tmp_path)
    assert code == 0 and "Traceback" not in err and "internal error" not in err, err[-2000:]
    assert (tmp_path / "r" / "summary.json").stat().st_size > 0


def test_lint_whose_reader_left_exits_with_its_own_code(tmp_path: Path) -> None:
    # far more findings than a pipe holds, so the lint is still writing when its reader leaves
    item = ("  /things{n}/{{id}}:\n    get: {{responses: {{'200': {{description: ok}}}}}}\n"
            "    put:\n      parameters: [{{name: If-Match, in: header, schema: {{type: string}}}}]\n"
            "      responses: {{'200': {{description: ok}}}}\n")
    document = tmp_path / "many.yaml"
    document.write_text("openapi: 3.1.0\ninfo: {title: many, version: '1'}\npaths:\n" + "".join(item.format(n=n) for n in range(1500)))
    code, err = _first_line_then_gone(["lint", "--contract", str(document)], tmp_path)
    assert code == 1 and "Traceback" not in err, err[-2000:]
