"""`fieldproof run --fault NAME[,NAME]`: a faulty built-in sandbox from a flag, and reports that
say which faults (and seed) the sandbox ran with."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import fieldproof_run, rules_by_name, summary

from fieldproof import cli
from fieldproof.errors import ExitCode
from fieldproof.sandbox.faults import FAULT_MODES
from fieldproof.sandbox.settings import ENV_PREFIX, load_settings


def test_an_unknown_fault_is_one_line_naming_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["run", "--fault", "no_etag_on_204,no_such_fault", "--reports", str(tmp_path / "reports")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown fault mode 'no_such_fault'" in err, err
    assert all(name in err for name in FAULT_MODES)
    assert not (tmp_path / "reports").exists()  # refused before anything started


def test_a_fault_with_a_target_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["run", "--target", str(tmp_path / "staging.toml"), "--fault", "no_etag_on_204", "--reports", str(tmp_path / "r")]
    assert cli.main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--fault" in err and "--target" in err, err


def test_run_help_lists_the_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--fault NAME" in out and all(name in out for name in FAULT_MODES)


def test_a_fault_gets_what_it_needs_to_show_unless_the_environment_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PREFIX + "RACE_WINDOW_MS", raising=False)
    env = cli._fault_environment(("check_then_act_race", "no_etag_on_204", "check_then_act_race"))
    assert env == {ENV_PREFIX + "FAULT": "check_then_act_race,no_etag_on_204", ENV_PREFIX + "RACE_WINDOW_MS": "25"}
    monkeypatch.setenv(ENV_PREFIX + "RACE_WINDOW_MS", "300")
    assert cli._fault_environment(("check_then_act_race",)) == {ENV_PREFIX + "FAULT": "check_then_act_race"}


def test_a_sandbox_record_holds_its_faults_and_changed_behaviour_but_never_its_key() -> None:
    assert load_settings(env={}).record() == {}
    faulty = load_settings(env={ENV_PREFIX + "FAULT": "no_etag_on_204,check_then_act_race", ENV_PREFIX + "RACE_WINDOW_MS": "25",
                                ENV_PREFIX + "JWT_SECRET": "a-key-of-their-own", ENV_PREFIX + "PORT": "0"})
    assert faulty.record() == {"fault": "no_etag_on_204,check_then_act_race", "race_window_ms": "25.0"}


def test_run_with_a_fault_finds_it_and_every_report_says_which_faults_and_seed(tmp_path: Path) -> None:
    result = fieldproof_run(tmp_path, "--fault", "no_etag_on_204", "--profile", "quick", "--suites", "lifecycle", "--seed", "7")
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:] + result.stderr[-2000:]
    data = summary(tmp_path)
    assert data["target"]["sandbox"] == {"fault": "no_etag_on_204"} and data["target"]["seed"] == 7
    assert rules_by_name(data)["etag_on_success"]["state"] == "violated"
    said = "the built-in sandbox ran with fault modes no_etag_on_204"
    assert said in result.stdout and said in (tmp_path / "reports" / "summary.md").read_text()
