"""One exceptions module: every error a user can cause is a FieldproofError defined in
fieldproof/errors.py, with its exit code; the exit codes are defined and explained there once."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from fieldproof import errors
from fieldproof.cli import main
from fieldproof.errors import MEANINGS, ExitCode, FieldproofError

PACKAGE = Path(errors.__file__).resolve().parent


def _error_classes() -> list[type[BaseException]]:
    """The user's errors: every exception class of the module but the target's doing."""
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, BaseException) and c.__module__ == errors.__name__ and c not in errors.TARGETS_DOING]


def test_every_error_in_the_errors_module_is_a_fieldproof_error_with_an_exit_code() -> None:
    classes = _error_classes()
    assert len(classes) > 10
    for cls in classes:
        assert issubclass(cls, FieldproofError), cls
        assert isinstance(cls.exit_code, ExitCode), cls


def test_no_other_module_defines_a_user_facing_error() -> None:
    names = {cls.__name__ for cls in _error_classes()}
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & names:
                    elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert elsewhere == []


def test_no_other_module_defines_exit_codes() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.startswith("EXIT_"):
                        offenders.append(f"{path.relative_to(PACKAGE)}: {target.id}")
    assert offenders == []


def test_every_exit_code_is_explained_once_and_shown_by_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(MEANINGS) == set(ExitCode)
    for argv in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        shown = capsys.readouterr().out
        for code in ExitCode:
            assert f"  {int(code):<4} " in shown, (argv, code)


def test_the_manual_lists_every_exit_code() -> None:
    from fieldproof import manual

    page = manual.fill((PACKAGE.parent / "docs" / "exit-codes.md").read_text())
    for code in ExitCode:
        assert f"| {int(code)} |" in page, code


def test_a_user_error_is_one_line_on_stderr_with_its_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "target.toml"
    broken.write_text("base_url = [")
    code = main(["run", "--target", str(broken), "--reports", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1 and err.startswith("fieldproof: error: ") and "Traceback" not in err


def test_a_bug_of_ours_is_never_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fieldproof import session

    def broken(options: object) -> int:
        raise ZeroDivisionError("a harness bug")

    monkeypatch.setattr(session, "run_session", broken)
    assert main(["run"]) == ExitCode.INCONCLUSIVE
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "internal error" in err


def test_the_targets_doing_is_no_users_error() -> None:
    """What the target did that stops a test is never printed as a user's mistake with an exit code."""
    assert errors.TARGETS_DOING
    for cls in errors.TARGETS_DOING:
        assert not issubclass(cls, FieldproofError) and not hasattr(cls, "exit_code"), cls
