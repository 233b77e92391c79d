"""`fieldproof swarm`: the contract judged under load from several Locust worker processes (and
hosts, simulated here by separate commands), races between workers judged across them, the
merged history checked on one clock, and the safety of `fieldproof run` kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import rules_by_name, run_statuses, staging, summary

from fieldproof.errors import ExitCode
from fieldproof.linearizability import Entry, analyse
from fieldproof.model import Observation, RunState
from fieldproof.swarm.config import SwarmConfig
from fieldproof.swarm.history import ClockOffset, merge, to_record

SHORT = ["--duration", "6s", "--users", "10", "--spawn-rate", "10"]


def fieldproof_swarm(tmp_path: Path, *args: str, env: dict[str, str] | None = None, reports: str = "reports",
                     timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
    full_env["FIELDPROOF_STATE_DIR"] = str(tmp_path / "state")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fieldproof", "swarm", "--reports", str(tmp_path / reports), *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env, cwd=tmp_path)


def test_a_clean_sandbox_under_load_from_two_processes_passes_with_a_merged_history(tmp_path: Path) -> None:
    result = fieldproof_swarm(tmp_path, *SHORT, "--processes", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = summary(tmp_path)
    swarm = data["swarm"]
    assert swarm["workers"] == ["w0", "w1"] and swarm["missing_finals"] == []
    # every run's history was merged from both worker processes and checked
    assert rules_by_name(data)["history_linearizable"]["checks"] == len(swarm["histories"]) >= 2
    assert any({"w0", "w1"} <= set(h["workers"]) for h in swarm["histories"].values())
    assert all(h["verdict"] == "linearizable" for h in swarm["histories"].values())
    assert swarm["rounds"] >= 1 and swarm["rounds_won_once"] == swarm["rounds"]
    assert rules_by_name(data)["one_winner_among_concurrent_writes"]["checks"] == swarm["rounds"]
    assert {e["name"] for e in swarm["latency"]} >= {"get 200", "resume 204", "pause 204"}  # by operation and status
    assert sum(swarm["requests_per_s"]) > 100
    junit = (tmp_path / "reports" / "junit.xml").read_text()
    assert 'classname="fieldproof.rules" name="history_linearizable"' in junit
    assert "race rounds:" in result.stdout and "swarm:" in (tmp_path / "reports" / "summary.md").read_text()


def test_a_check_then_act_race_is_a_round_won_by_requests_of_different_workers(tmp_path: Path) -> None:
    # a window far wider than the workers' firing skew, however loaded the machine: every racer
    # of the round checks inside it, so the 204s go to both workers' requests
    env = {"FIELDPROOF_SANDBOX_FAULT": "check_then_act_race", "FIELDPROOF_SANDBOX_RACE_WINDOW_MS": "300"}
    result = fieldproof_swarm(tmp_path, *SHORT, env=env)
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    winner = rules_by_name(summary(tmp_path))["one_winner_among_concurrent_writes"]
    assert winner["state"] == "violated"
    messages = [example["message"] for group in winner["groups"] for example in group["examples"]]
    assert any("the 204s went to" in m and "w0/" in m and "w1/" in m for m in messages), messages


def test_an_etag_dropped_under_load_is_found(tmp_path: Path) -> None:
    result = fieldproof_swarm(tmp_path, *SHORT, env={"FIELDPROOF_SANDBOX_FAULT": "no_etag_on_204"})
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:]
    etag = rules_by_name(summary(tmp_path))["etag_on_success"]
    assert etag["state"] == "violated" and etag["groups"][0]["signature"].endswith("204: no ETag")


def test_a_worker_whose_clock_is_off_raises_no_false_violation(tmp_path: Path) -> None:
    result = fieldproof_swarm(tmp_path, *SHORT, env={"FIELDPROOF_SWARM_CLOCK_SKEW": "1:5.0"})
    assert result.returncode == 0, result.stdout[-3000:]
    swarm = summary(tmp_path)["swarm"]
    offset, bound = swarm["clocks"]["w1"]
    # measured, not assumed: the true skew lies within the measured offset's bound (how wide
    # the bound is depends on the machine's load; that it holds the skew, and not 0, does not)
    assert abs(offset - 5.0) <= bound + 0.001 and offset - bound > 0
    assert all(h["verdict"] == "linearizable" for h in swarm["histories"].values())


def test_importing_the_locustfile_reads_nothing(tmp_path: Path) -> None:
    # Locust imports the locustfile before it knows which part the process plays (and, with
    # --processes, before it forks): the config, the target file and the contract document are
    # read in Locust's init event, so no config, or one naming files that do not exist, imports
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}
    missing = SwarmConfig(target_file=str(tmp_path / "no-target.toml"), contract_file=str(tmp_path / "no-contract.yaml"))
    code = "import fieldproof.swarm.locustfile as f, locust; assert issubclass(f.FieldproofUser, locust.User)"
    for swarm_env in ({}, missing.to_env()):
        result = subprocess.run([sys.executable, "-c", code], env={**env, **swarm_env}, capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]


def test_merging_moves_each_worker_onto_the_masters_clock_and_widens_by_the_bound() -> None:
    paused, t = RunState("paused", 'W/"1"'), 'W/"{}"'.format
    w0 = [to_record("R", Entry("a", 0.0, 1.0, Observation("resume", t(1), 204, t(2)))),
          to_record("R", Entry("a", 4.0, 5.0, Observation("get", None, 200, t(3), "paused")))]
    # w1's clock runs 5 s ahead: its pause really happened between the resume and the GET
    w1 = [to_record("R", Entry("b", 7.0, 8.0, Observation("pause", t(2), 204, t(3))))]
    right = merge({"w0": w0, "w1": w1}, {"w0": ClockOffset(0.0, 0.001), "w1": ClockOffset(5.0, 0.001)})
    assert analyse(right["R"], paused).ok is True
    assert [op.client for op in right["R"]] == ["w0/a", "w0/a", "w1/b"]
    wrong = merge({"w0": w0, "w1": w1}, {"w0": ClockOffset(0.0, 0.001), "w1": ClockOffset(0.0, 0.001)})
    assert analyse(wrong["R"], paused).ok is False  # uncorrected, the skew alone makes a "violation"
    measured = ClockOffset.measure(sent=10.0, worker_time=15.002, received=10.004)
    assert abs(measured.offset_s - 5.0) < 1e-9 and abs(measured.bound_s - 0.002) < 1e-9


def test_a_master_and_workers_started_apart_judge_one_swarm_on_a_file_target(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        before = run_statuses(sandbox)
        port = str(_free_port())
        full = {**{k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}, **env,
                "FIELDPROOF_STATE_DIR": str(tmp_path / "state")}
        workers = [subprocess.Popen([sys.executable, "-m", "fieldproof", "swarm", "--worker", "--master-host", "127.0.0.1",
                                     "--master-port", port, "--target", str(target), "--processes", "1"], env=full,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            result = fieldproof_swarm(tmp_path, "--master", "--expect-workers", "2", "--master-port", port,
                                      "--target", str(target), *SHORT, env=env)
        finally:
            for worker in workers:
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
        after = run_statuses(sandbox)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert summary(tmp_path)["swarm"]["workers"] == ["w0", "w1"]
    assert after == before  # every listed run put back
    outputs = result.stdout + result.stderr + "".join(p.read_text(errors="replace") for p in (tmp_path / "reports").rglob("*") if p.is_file())
    assert env["FIELDPROOF_TOKEN"] not in outputs


def test_max_requests_is_a_total_over_all_workers(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        limited = target.with_name("limited.toml")
        limited.write_text(target.read_text().replace('token_env = "FIELDPROOF_TOKEN"', 'token_env = "FIELDPROOF_TOKEN"\nmax_requests = 400'))
        result = fieldproof_swarm(tmp_path, "--target", str(limited), *SHORT, env=env)
        sent = httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"]
    assert sent <= 400, sent
    # a spent budget ends the load early, said so; the verdict is on what was sent
    assert result.returncode == 0, result.stdout[-3000:]
    assert "the load ended when its share of the budget was spent" in result.stdout and "max_requests = 400 in" in result.stdout


def test_one_swarm_per_target(tmp_path: Path, monkeypatch) -> None:
    from fieldproof.locks import target_lock
    from fieldproof.target import load_target

    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    with staging(tmp_path) as (sandbox, target, env):
        loaded = load_target(target, env=env)
        with target_lock(loaded):
            result = fieldproof_swarm(tmp_path, "--target", str(target), *SHORT, env=env)
    assert result.returncode == ExitCode.USAGE and "another fieldproof session holds the target" in result.stderr


@pytest.mark.parametrize("args, says", [
    (["--duration", "soon"], "--duration must be a time"),
    (["--worker"], "--worker needs --master-host"),
    (["--worker", "--master-host", "h"], "--worker needs --target"),
    (["--master", "--worker"], "contradict"),
    (["--users", "0"], "argument --users: must be from 1 to 10000, got 0"),
])
def test_bad_swarm_flags_are_exit_2_with_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    result = fieldproof_swarm(tmp_path, *args, timeout=60)
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Locust is an extra: without it, one line and nothing started

LOCUST_BLOCKER = '''
import sys


class RefuseLocust:
    """Makes `import locust` fail as it does where the package is not installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "locust" or name.startswith("locust."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, RefuseLocust)
'''


def test_swarm_without_locust_says_how_to_install_it_in_one_line(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(LOCUST_BLOCKER)
    env = {"PYTHONPATH": os.pathsep.join([str(shim), *filter(None, [os.environ.get("PYTHONPATH")])])}
    blocked = subprocess.run([sys.executable, "-c", "import locust"], capture_output=True, text=True, env={**os.environ, **env})
    assert "No module named 'locust'" in blocked.stderr  # the shim works as a missing package would
    result = fieldproof_swarm(tmp_path, *SHORT, env=env, timeout=60)
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.splitlines() == ['fieldproof: error: `fieldproof swarm` runs on Locust, which is not installed: '
                                          'pip install "fieldproof[swarm]"']
    assert result.stdout == "" and not (tmp_path / "reports").exists()  # no sandbox, no session, no report


def test_swarm_without_locust_is_refused_before_its_options_are_read(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    from fieldproof import cli

    monkeypatch.setitem(sys.modules, "locust", None)  # as Python marks a module that cannot be imported
    assert cli.main(["swarm", "--worker", "--reports", str(tmp_path / "reports")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "fieldproof[swarm]"' in err
