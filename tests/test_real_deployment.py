"""A session against a target as a real deployment serves it: behind a gateway that compresses,
sets cookies and sits behind environment proxies; and against one whose HTTP or answers are
broken, which must be findings of the rules they break, never "unreachable" and never blamed on
the user's target file. Each test runs `fieldproof run` as a user does, against the staging
sandbox behind tests/servers/faulty_proxy.py."""

from __future__ import annotations

import resource
from pathlib import Path

import httpx
from helpers import faulty_target, fieldproof_run, proxied, rules_by_name, staging, summary

from fieldproof.errors import ExitCode

QUICK = ["--profile", "quick"]


def _found(tmp_path: Path) -> dict[str, int]:
    """The rules that found something, with how many findings."""
    return {name: rule["violations"] for name, rule in rules_by_name(summary(tmp_path)).items() if rule["violations"]}


def test_a_gateway_that_compresses_every_answer_serves_a_correct_target_that_passes(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--gzip") as (target, root):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=staged[2])
        compressed = httpx.get(root + "/v1/x", headers={"Accept-Encoding": "gzip"}).headers.get("content-encoding")
    assert result.returncode == ExitCode.OK, result.stdout[-3000:] + result.stderr
    assert compressed == "gzip"  # the proxy really compressed


def test_a_gzip_bomb_is_cut_not_inflated_and_is_a_finding(tmp_path: Path) -> None:
    bomb = str(1024**3)  # inflates to 1 GiB; about 1 MiB on the wire
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--gzip-bomb-bytes", bomb) as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "lifecycle", env=staged[2])
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:] + result.stderr
    assert "response_body_bounded" in _found(tmp_path) and "Traceback" not in result.stderr
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400 * 1024  # KiB: never inflated whole


def test_headers_that_drip_are_cut_off_by_timeout_s(tmp_path: Path) -> None:
    # every GET's head arrives one byte a second: each read is quick, the head never ends
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--drip-headers-ms", "1000", timeout_s=3,
                                                    max_duration_s=20) as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=staged[2], timeout=120)
    assert result.returncode == ExitCode.UNREACHABLE, result.stdout[-2000:] + result.stderr
    assert result.stderr.count("\n") == 1 and "no whole answer within timeout_s = 3 s" in result.stderr


def test_a_paced_session_that_cannot_finish_in_max_duration_s_says_so_before_the_first_request(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, max_rps=0.05, max_duration_s=15) as (target, root):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=staged[2], timeout=120)
        sent = proxied(root)
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stdout[-2000:] + result.stderr
    assert "at max_rps = 0.05 the suites can send about" in result.stderr and "raise max_duration_s to at least" in result.stderr
    assert sent == 0


def test_the_time_kept_for_putting_the_runs_back_is_said_up_front(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, timeout_s=2, max_duration_s=600) as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "paths", env=staged[2])
    assert result.returncode == ExitCode.OK, result.stdout[-2000:] + result.stderr
    runs = target.read_text().count("[[runs]]")
    assert (f"max_duration_s = 600 s: the suites stop after {600 - 2 * runs * 2:g} s, keeping {2 * runs * 2:g} s to put "
            f"{runs} runs back ({2 * runs} requests, each within timeout_s = 2 s)") in result.stdout


def test_the_time_kept_for_putting_the_runs_back_is_at_most_a_quarter_of_max_duration_s(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, timeout_s=3, max_duration_s=20) as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "paths", env=staged[2])
    assert result.returncode == ExitCode.OK, result.stdout[-2000:] + result.stderr
    assert "max_duration_s = 20 s: the suites stop after 15 s, keeping 5 s to put" in result.stdout


def test_no_cookie_is_replayed_and_no_environment_proxy_sees_a_loopback_target(tmp_path: Path) -> None:
    nowhere = "http://127.0.0.1:9"  # a proxy there refuses every connection: using it would be exit 3
    proxies = {"HTTP_PROXY": nowhere, "HTTPS_PROXY": nowhere, "ALL_PROXY": nowhere}
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--set-cookie") as (target, root):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "auth", env={**staged[2], **proxies})
        carried = httpx.get(root + "/healthz").json()["cookies"]
    assert result.returncode == ExitCode.OK, result.stdout[-2000:] + result.stderr
    assert carried == 0


def test_a_body_on_a_204_is_a_finding_not_an_unreachable_target(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--body-on-204") as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "lifecycle", env=staged[2])
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:] + result.stderr
    (group, *_) = rules_by_name(summary(tmp_path))["http_message_well_formed"]["groups"]
    assert group["signature"].endswith(": a body on a response that has none (204, 304 or HEAD)")
    assert "null" in group["examples"][0]["message"] and "unreachable" not in result.stdout


def test_a_write_the_target_refuses_is_its_finding_never_the_target_files(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--refuse", "resume:412") as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=staged[2])
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:] + result.stderr
    assert "current_tag_wins" in _found(tmp_path)
    assert "fix the run or its role" not in result.stdout + result.stderr
    problems = summary(tmp_path)["problems"]
    assert problems and all(p["kind"] == "not exercised" and "the target refused" in p["message"] for p in problems), problems


def test_a_get_whose_200_carries_no_run_is_its_finding_never_the_target_files(tmp_path: Path) -> None:
    with staging(tmp_path) as staged, faulty_target(tmp_path, staged, "--empty-200") as (target, _):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", "lifecycle,paths", env=staged[2])
    assert result.returncode == ExitCode.FINDING, result.stdout[-3000:] + result.stderr
    assert "run_body_documented" in _found(tmp_path)
    assert "fix the run or its role" not in result.stdout + result.stderr


def test_a_run_in_a_state_its_role_cannot_be_put_back_to_is_the_target_files_fault(tmp_path: Path) -> None:
    with staging(tmp_path) as (sandbox, target, env):
        runs = httpx.get(sandbox.root_url + "/_control/runs").json()
        resumable = next(run for run in runs if run["id"].endswith("R01"))
        headers = {"Authorization": f"Bearer {env['FIELDPROOF_TOKEN']}", "Cint-API-Version": "2025-12-18"}
        url = (f"{sandbox.base_url}/demand/accounts/{resumable['account_id']}/projects/{resumable['project_id']}"
               f"/target-groups/{resumable['target_group_id']}/fielding-runs/{resumable['id']}")
        for action in ("resume", "complete"):  # complete is documented from live
            etag = httpx.get(url, headers=headers).headers["etag"]
            assert httpx.post(f"{url}/{action}", headers={**headers, "If-Match": etag}).status_code == 204
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=env)
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stdout[-2000:] + result.stderr
    assert f"{resumable['id']} is completed and cannot be put back to paused; fix the run or its role in" in result.stderr
