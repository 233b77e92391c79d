"""`fieldproof run` through a real gateway: nginx in front of the sandbox, configured as production
gateways are (tests/gateway.py): TLS from a local CA, gzip for JSON, connections closed every few
requests, proxy buffering, keep-alive to the upstream.

nginx is needed: without it the lane fails under CI (CI=true) and is skipped elsewhere, saying how
to install it; an nginx that is there but does not start fails it everywhere. One nginx serves the
module; each test starts its own sandbox behind it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from gateway import Gateway, GatewayUnavailable, NotInstalled, default_search_path, nginx_gateway, sandbox_behind
from helpers import fieldproof_run, rules_by_name, summary

QUICK = ["--profile", "quick"]


def in_ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str, installed: bool, env: Mapping[str, str]) -> NoReturn:
    """An nginx that is there but does not start fails every test of the lane. A missing one fails
    them under CI, where the lane must run (never a skip there), and skips them elsewhere."""
    if installed:
        pytest.fail(f"the nginx gateway lane cannot run: {reason}", pytrace=False)
    if in_ci(env):
        pytest.fail(f"the nginx gateway lane cannot run under CI={env['CI']}: {reason}", pytrace=False)
    pytest.skip(f"the nginx gateway lane needs nginx and openssl: {reason}")


@contextmanager
def gateway_for_lane(folder: Path, env: Mapping[str, str], search_path: str | None = None) -> Iterator[Gateway]:
    with ExitStack() as stack:
        reason, installed = None, True
        try:
            running = stack.enter_context(nginx_gateway(folder, search_path=search_path))
        except GatewayUnavailable as exc:
            reason, installed = str(exc), not isinstance(exc, NotInstalled)
        if reason is not None:  # outside the handler: the reason alone, no chained traceback
            unavailable(reason, installed, env)
        yield running


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_for_lane(tmp_path_factory.mktemp("gateway"), os.environ) as running:
        yield running


@pytest.mark.parametrize("env, outcome", [({"CI": "true"}, pytest.fail.Exception), ({}, pytest.skip.Exception)], ids=["ci", "not-ci"])
def test_without_nginx_the_lane_fails_under_ci_and_elsewhere_says_how_to_install_it(tmp_path: Path, env: dict[str, str],
                                                                                     outcome: type[BaseException]) -> None:
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:  # both, so that a skip cannot skip this test
        with gateway_for_lane(tmp_path / "gateway", env, search_path=str(tmp_path)):  # a PATH without nginx
            pass
    assert raised.type is outcome
    raised.match(r"`nginx` is not installed .*apt-get install -y nginx openssl")


def test_an_nginx_that_does_not_start_fails_the_lane_also_outside_ci(tmp_path: Path) -> None:
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    broken = bin_folder / "nginx"
    broken.write_text("#!/bin/sh\necho 'nginx: [emerg] this nginx cannot start' >&2\nexit 1\n")
    broken.chmod(0o755)
    search_path = os.pathsep.join([str(bin_folder), default_search_path()])  # this nginx first; openssl where the lane finds it
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        with gateway_for_lane(tmp_path / "gateway", {}, search_path=search_path):
            pass
    assert raised.type is pytest.fail.Exception
    raised.match("nginx did not start: nginx: \\[emerg\\] this nginx cannot start")


def _run_url(target: Path) -> str:
    config = tomllib.loads(target.read_text())
    run = config["runs"][0]
    return (f"{config['base_url']}/demand/accounts/{config['account_id']}/projects/{run['project_id']}"
            f"/target-groups/{run['target_group_id']}/fielding-runs/{run['fielding_run_id']}")


def test_the_gateway_speaks_tls_from_the_local_ca_compresses_json_and_passes_the_trace_headers(gateway: Gateway,
                                                                                                tmp_path: Path) -> None:
    with sandbox_behind(gateway, tmp_path, host="localhost") as (target, env):
        url = _run_url(target)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # the system's CAs do not know it
            httpx.get(url)
        traceparent = "00-" + "4bf92f3577b34da6a3ce929d0e0e4736" + "-" + "00f067aa0ba902b7" + "-01"
        headers = {"Authorization": f"Bearer {env['FIELDPROOF_TOKEN']}", "Cint-API-Version": "2025-12-18",
                   "Accept-Encoding": "gzip", "traceparent": traceparent, "tracestate": "fieldproof=gateway"}
        gateway.clear_access_log()
        with httpx.Client(verify=gateway.ca.client_context(), timeout=10) as client:
            answers = [client.get(url, headers=headers) for _ in range(6)]
    first = answers[0]
    assert first.status_code == 200, first.text
    assert first.headers["content-encoding"] == "gzip" and "content-length" not in first.headers  # compressed, chunked
    assert first.json()["id"] == url.rsplit("/", 1)[1]
    assert first.headers["traceparent"].split("-")[1] == traceparent.split("-")[1]  # the sandbox saw the caller's trace
    log = gateway.access_log()
    assert [entry["request_traceparent"] for entry in log] == [traceparent] * 6
    assert [entry["request_tracestate"] for entry in log] == ["fieldproof=gateway"] * 6
    assert {entry["ssl_protocol"] for entry in log} <= {"TLSv1.2", "TLSv1.3"}
    assert [entry["connection_requests"] for entry in log] == ["1", "2", "3", "4", "5", "1"]  # closed after 5
    assert answers[4].headers["connection"] == "close"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_contract_holds_through_the_gateway(gateway: Gateway, tmp_path: Path, host: str) -> None:
    with sandbox_behind(gateway, tmp_path, host=host) as (target, env):
        gateway.clear_access_log()
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PASS: the contract holds" in result.stdout
    data = summary(tmp_path)
    assert data["target"]["base_url"] == gateway.base_url(host)
    log = gateway.access_log(expected=data["requests"])
    assert len(log) == data["requests"]  # every request went through the gateway, and each was counted
    assert all(entry["upstream_status"] for entry in log)  # the sandbox answered each, not the gateway
    ok = [entry for entry in log if entry["status"] == "200"]
    assert ok and all(entry["content_encoding"] == "gzip" for entry in ok)  # every JSON 200 arrived compressed
    per_connection = [int(entry["connection_requests"]) for entry in log]
    assert max(per_connection) == 5 and per_connection.count(1) > 10  # the gateway closed connections often


@pytest.mark.parametrize(
    "sandbox_args, suite, rule",
    [
        (["--fault", "no_etag_on_204"], "first_pass", "etag_on_success"),
        (["--fault", "ignore_if_match"], "if_match", "stale_tag_refused"),
        (["--fault", "check_then_act_race", "--race-window-ms", "25"], "concurrency", "one_winner_among_concurrent_writes"),
        (["--fault", "skip_business_rules"], "business_rules", "business_rules_refuse"),
    ],
    ids=["headers", "locking", "race", "business-rules"],
)
def test_a_faulty_sandbox_behind_the_gateway_fails_by_its_rule(gateway: Gateway, tmp_path: Path, sandbox_args: list[str],
                                                               suite: str, rule: str) -> None:
    with sandbox_behind(gateway, tmp_path, *sandbox_args) as (target, env):
        result = fieldproof_run(tmp_path, "--target", str(target), *QUICK, "--suites", suite, env=env)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "FAIL: the target violates the contract" in result.stdout
    rules = rules_by_name(summary(tmp_path))
    assert rules[rule]["violations"], {name: r["violations"] for name, r in rules.items()}
