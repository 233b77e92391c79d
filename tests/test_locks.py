"""One session per target, whatever the spelling (issue 20, point 4): the target lock is keyed by
what the client will reach (scheme, resolved addresses, effective port, path prefix, account),
one lock per address, so that `localhost` and `127.0.0.1` are one target.

The resolver is a parameter: the unit tests give it fixed answers (this machine's `localhost`
may or may not have ::1), a hanging one and a failing one. The end-to-end test holds the lock
in-process, as tests/test_safety.py's lock tests do, and runs the second session for real.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from helpers import fieldproof_run, staging

from fieldproof.errors import ExitCode, LockHeld, UsageError
from fieldproof.locks import target_keys, target_lock, validate_wait
from fieldproof.target import Target, load_target, parse_target

RUN = {"role": "resumable", "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "R1"}
HOSTS = {"localhost": ["127.0.0.1", "::1", "127.0.0.1"], "127.0.0.1": ["127.0.0.1"], "::1": ["::1"],
         "staging.example.com": ["203.0.113.7", "2001:db8::7"], "other.example.com": ["203.0.113.7"],
         "mapped.example.com": ["::ffff:203.0.113.7"]}


def target(base_url: str, account_id: str = "101") -> Target:
    return parse_target({"base_url": base_url, "api_version": "2025-12-18", "account_id": account_id, "token_env": "T",
                         "runs": [RUN]}, {"T": "tok"})


def resolve(host: str, port: int) -> Sequence[str]:
    return HOSTS[host]


def keys(base_url: str, account_id: str = "101") -> set[str]:
    return set(target_keys(target(base_url, account_id), resolve))


@pytest.mark.parametrize(
    "first, second",
    [
        ("http://127.0.0.1:8080/v1", "http://localhost:8080/v1"),
        ("http://[::1]:8080/v1", "http://localhost:8080/v1"),
        ("http://127.0.0.1:80/v1", "http://127.0.0.1/v1"),
        ("https://staging.example.com:443/v1", "https://staging.example.com/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("http://LOCALHOST.:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://staging.example.com/v1", "https://other.example.com/v1"),  # two names, one address
        ("https://mapped.example.com/v1", "https://other.example.com/v1"),  # ::ffff:a.b.c.d is a.b.c.d
    ],
)
def test_spellings_of_one_target_share_a_key(first: str, second: str) -> None:
    assert keys(first) & keys(second)


@pytest.mark.parametrize(
    "first, second",
    [
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8081/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v2"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:443/v1", "https://127.0.0.1:443/v1"),
        ("http://127.0.0.1:8080/v1", "http://[::1]:8080/v1"),
    ],
)
def test_other_targets_have_other_keys(first: str, second: str) -> None:
    assert not keys(first) & keys(second)


def test_another_account_on_the_same_target_has_other_keys() -> None:
    assert not keys("http://127.0.0.1:8080/v1", "101") & keys("http://127.0.0.1:8080/v1", "102")


def test_a_key_names_scheme_address_effective_port_path_and_account() -> None:
    assert keys("http://localhost/v1/") == {"http|127.0.0.1|80|/v1|101", "http|::1|80|/v1|101", "http|localhost|80|/v1|101"}
    assert keys("https://[::1]") == {"https|::1|443||101"}


def test_one_base_url_is_one_target_even_when_its_name_resolves_to_other_addresses_each_time() -> None:
    """DNS round robin, a CDN: the host name's own key keeps two sessions on it apart."""
    first = set(target_keys(target("https://staging.example.com/v1"), resolve=lambda host, port: ["192.0.2.1"]))
    second = set(target_keys(target("https://staging.example.com/v1"), resolve=lambda host, port: ["192.0.2.2"]))
    assert first & second == {"https|staging.example.com|443|/v1|101"}


def test_the_real_resolver_gives_an_address_literal_back() -> None:
    assert target_keys(target("http://127.0.0.1:8080/v1")) == ("http|127.0.0.1|8080|/v1|101",)


def test_a_resolver_that_fails_leaves_the_host_name_as_the_key() -> None:
    def failing(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    assert target_keys(target("https://staging.example.com/v1"), failing) == ("https|staging.example.com|443|/v1|101",)


def test_a_resolver_that_hangs_does_not_hang_the_session() -> None:
    release = threading.Event()

    def hanging(host: str, port: int) -> Sequence[str]:
        release.wait()  # until the test ends: far longer than the time given
        return ["203.0.113.7"]

    try:
        found = target_keys(target("https://staging.example.com/v1"), hanging, timeout_s=0.05)
    finally:
        release.set()
    assert found == ("https|staging.example.com|443|/v1|101",)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    """target_lock resolves with the fixed answers above."""
    from fieldproof import locks

    monkeypatch.setattr(locks, "_getaddrinfo", resolve)


def test_a_target_is_held_by_any_spelling_that_shares_an_address(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed(monkeypatch)
    with target_lock(target("http://[::1]:8080/v1")):
        with pytest.raises(LockHeld, match=rf"^another fieldproof session holds the target http://localhost:8080/v1 "
                                           rf"\(account 101\) \(host .*, pid {os.getpid()}, since .*\); wait for it to end"):
            with target_lock(target("http://localhost:8080/v1")):
                pass
        with target_lock(target("http://127.0.0.1:8080/v1")):  # no address in common with [::1]
            pass


def test_a_refused_session_keeps_none_of_the_locks_it_took(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed(monkeypatch)
    with target_lock(target("http://[::1]:8080/v1")):
        with pytest.raises(LockHeld):
            with target_lock(target("http://localhost:8080/v1")):  # takes 127.0.0.1's, then finds ::1's held
                pass
        with target_lock(target("http://127.0.0.1:8080/v1")):  # so 127.0.0.1's is free again
            pass
    assert not list((state / "locks").glob("*.holder.json"))


def test_every_lock_is_released_at_the_end(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed(monkeypatch)
    with target_lock(target("http://localhost:8080/v1")):
        assert len(list((state / "locks").glob("*.holder.json"))) == 3  # 127.0.0.1, ::1 and localhost
    with target_lock(target("http://[::1]:8080/v1")), target_lock(target("http://127.0.0.1:8080/v1")):
        pass


@pytest.mark.parametrize("wait_s", [float("nan"), float("inf"), -1.0, 86_401.0])
def test_a_wait_for_a_lock_is_a_finite_number_of_seconds_up_to_a_day(wait_s: float) -> None:
    with pytest.raises(UsageError, match=r"^--wait-for-lock must be a number of seconds from 0 to 86400, got "):
        validate_wait(wait_s)
    assert validate_wait(0.0) == 0.0 and validate_wait(86_400.0) == 86_400.0


@pytest.fixture
def localhost_resolves_to_loopback() -> Iterator[None]:
    import socket

    found = {info[4][0] for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}
    assert "127.0.0.1" in found, f"this machine's localhost resolves to {found}, not 127.0.0.1"
    yield


def test_a_session_on_localhost_is_refused_while_one_on_127_0_0_1_holds_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, localhost_resolves_to_loopback: None
) -> None:
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    with staging(tmp_path) as (sandbox, staged, env):
        text = staged.read_text()
        assert "http://127.0.0.1:" in text
        other = tmp_path / "localhost.toml"
        other.write_text(text.replace("http://127.0.0.1:", "http://localhost:"))
        with target_lock(load_target(staged, env=env)):  # another session holds the target under its 127.0.0.1 spelling
            result = fieldproof_run(tmp_path, "--target", str(other), "--profile", "quick", env=env)
        sent = httpx.get(sandbox.root_url + "/_control/stats").json()["api_requests"]
    assert result.returncode == ExitCode.USAGE and result.stderr.count("\n") == 1, result.stdout[-2000:] + result.stderr
    assert "another fieldproof session holds the target http://localhost:" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr and sent == 0

