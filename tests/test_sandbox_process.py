"""`fieldproof sandbox` as a user runs it: the CLI, workers, --db, seeding, target files."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import tomllib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from conftest import API_VERSION, Api
from fieldproof.errors import SandboxError
from fieldproof.sandbox.process import sandbox_process
from fieldproof.sandbox.server import bind

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "sandbox-seed.toml"


def fieldproof(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldproof", *args], capture_output=True, text=True, timeout=timeout
    )


# usage errors: exit 2, one line, no traceback


@pytest.mark.parametrize(
    "args, says",
    [
        (["sandbox", "--missing-if-match", "429"], "must be one of 400, 412, 428"),
        (["sandbox", "--workers", "two"], "must be int"),
        (["sandbox", "--seed", "no/such/seed.toml"], "seed file no/such/seed.toml does not exist"),
        (["sandbox", "--seed", "x.toml", "--no-seed"], "contradict"),
        (["sandbox", "--config", "no/such.toml"], "settings file no/such.toml does not exist"),
        (["sandbox", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["sandbox", "token", "--account", "abc"], "--account must be digits"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = fieldproof(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0] and "Traceback" not in result.stderr


def test_a_broken_seed_file_names_the_entry(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text('[[runs]]\nrole = "resumable"\n\n[[runs]]\nrole = "paused_forever"\n')
    result = fieldproof("sandbox", "--seed", str(seed), "--port", "0")
    assert result.returncode == 2
    assert "[[runs]] entry 2: role must be one of" in result.stderr.strip()
    seed.write_text("runs = [[[")
    result = fieldproof("sandbox", "--seed", str(seed), "--port", "0")
    assert result.returncode == 2 and "is not valid TOML" in result.stderr


def test_a_busy_port_is_one_line_and_exit_2() -> None:
    sock = bind("127.0.0.1", 0)
    sock.listen()
    try:
        result = fieldproof("sandbox", "--port", str(sock.getsockname()[1]), "--no-seed")
    finally:
        sock.close()
    assert result.returncode == 2
    assert "cannot listen on 127.0.0.1" in result.stderr and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sandbox_did_not_start_reports_the_reason() -> None:
    with pytest.raises(SandboxError, match="must be one of"):
        with sandbox_process(["--resume-live", "maybe"]):
            pass


# tokens


def test_printed_tokens_are_accepted_and_expired_ones_get_403() -> None:
    token = fieldproof("sandbox", "token", "--account", "101").stdout.strip()
    expired = fieldproof("sandbox", "token", "--account", "101", "--expired").stdout.strip()
    with sandbox_process() as sandbox, httpx.Client() as client:
        url = _seeded_run_url(sandbox.output, sandbox.base_url, "resumable")
        headers = {"Cint-API-Version": API_VERSION}
        ok = client.get(url, headers={**headers, "Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        refused = client.get(url, headers={**headers, "Authorization": f"Bearer {expired}"})
        assert refused.status_code == 403


# the default seed, the banner and --write-target


def _seeded_run_url(output: list[str], base_url: str, role: str) -> str:
    run_id = next(line.split()[1] for line in output if line.strip().startswith(role + " "))
    return (
        f"{base_url}/demand/accounts/101/projects/01JD000000000000000000P101"
        f"/target-groups/01JD000000000000000000T101/fielding-runs/{run_id}"
    )


def test_default_seed_gives_every_status_of_the_resume_contract(tmp_path: Path) -> None:
    target = tmp_path / "target.toml"
    with sandbox_process(["--write-target", str(target)]) as sandbox, httpx.Client() as client:
        banner = "".join(sandbox.output)
        assert "export FIELDPROOF_TOKEN=" in banner and "curl -i -X POST" in banner
        config = tomllib.loads(target.read_text())
        env_file = Path(str(target) + ".env")
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        tokens = dict(line.split("=", 1) for line in env_file.read_text().split())
        assert config["base_url"] == sandbox.base_url
        assert config["token_env"] == "FIELDPROOF_TOKEN" and config["api_version"] == API_VERSION
        assert Counter(run["role"] for run in config["runs"]) == {
            "resumable": 4, "live": 1, "goal_reached": 1, "end_date_passed": 1, "completed": 1, "completable": 1,
            "launchable": 1, "relaunchable": 1,
        }

        def resume(run: dict, token_env: str = "FIELDPROOF_TOKEN", if_match: str = 'W/"1"') -> int:
            url = (
                f"{config['base_url']}/demand/accounts/{config['account_id']}/projects/{run['project_id']}"
                f"/target-groups/{run['target_group_id']}/fielding-runs/{run['fielding_run_id']}/resume"
            )
            headers = {
                "Authorization": f"Bearer {tokens[token_env]}",
                "Cint-API-Version": config["api_version"],
                "If-Match": if_match,
            }
            return client.post(url, headers=headers).status_code

        runs = {run["role"]: run for run in config["runs"]}
        assert resume(runs["resumable"], "FIELDPROOF_FOREIGN_TOKEN") == 403
        assert resume(runs["resumable"], if_match='W/"7"') == 412
        assert resume(runs["resumable"]) == 204
        for role in ("live", "goal_reached", "end_date_passed", "completed"):
            assert resume(runs[role]) == 422, role


def test_state_survives_a_restart_with_db(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    with sandbox_process(["--db", str(db), "--control"]) as first, httpx.Client() as client:
        api = Api(first, client)
        url = _seeded_run_url(first.output, first.base_url, "resumable")
        response = client.post(url + "/resume", headers=api.headers(If_Match='W/"1"'))
        assert response.status_code == 204
    assert db.exists()
    with sandbox_process(["--db", str(db), "--control"]) as second, httpx.Client() as client:
        api = Api(second, client)
        body = client.get(url.replace(first.base_url, second.base_url), headers=api.headers()).json()
        assert (body["status"], body["version"]) == ("live", 2)
    with sandbox_process(["--db", str(db), "--control", "--seed", str(SEED)]) as third:
        with httpx.Client() as client:
            api = Api(third, client)
            body = client.get(url.replace(first.base_url, third.base_url), headers=api.headers()).json()
            assert (body["status"], body["version"]) == ("paused", 1)  # a named seed resets


# the optimistic lock across worker processes


def test_concurrent_resumes_across_two_workers_have_exactly_one_winner() -> None:
    clients_n, rounds = 16, 50
    with sandbox_process(["--workers", "2", "--control", "--no-seed"]) as sandbox:
        with httpx.Client(timeout=10) as control:
            api = Api(sandbox, control)
            run = api.new_run(role="resumable")
            clients = _clients_on_both_workers(sandbox.root_url, clients_n)
            try:
                barrier = threading.Barrier(clients_n)
                url = api.url(run, "resume")
                for round_no in range(rounds):
                    version = round_no + 1
                    api.new_run(role="resumable", fielding_run_id=run["id"],
                                project_id=run["project_id"], target_group_id=run["target_group_id"],
                                version=version)
                    statuses: list[int] = []
                    headers = api.headers(If_Match=f'W/"{version}"')

                    def resume(client: httpx.Client) -> None:
                        barrier.wait(timeout=10)
                        statuses.append(client.post(url, headers=headers).status_code)

                    threads = [threading.Thread(target=resume, args=(c,)) for c in clients]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join(30)
                    assert sorted(statuses) == [204] + [412] * (clients_n - 1), f"round {round_no}"
                    assert api.get(run).json()["version"] == version + 1
            finally:
                for client in clients:
                    client.close()


def _clients_on_both_workers(root_url: str, n: int) -> list[httpx.Client]:
    """N one-connection clients, connected beforehand, spread over both worker processes."""
    for _ in range(20):
        clients = [httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) for _ in range(n)]
        pids = {client.get(root_url + "/healthz").json()["pid"] for client in clients}
        if len(pids) == 2:
            return clients
        for client in clients:
            client.close()
    raise AssertionError(f"all {n} connections kept landing on one worker: {pids}")
