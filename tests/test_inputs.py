"""Every bad input is one line and exit 2, before any request (issue 20, point 9): files that are
no regular file or too large, TOML nested too deeply, numbers beyond a sane cap (or NaN and
infinities), hosts and URLs the client would reach under another name, empty values, tokens
that are not visible ASCII, a ca_file that holds no CA, and empty or unbounded flags.

Most run in-process (`parse_target`, `load_target`, `cli.main`); a few through the real command
to prove the shape a user sees: one line on stderr, exit 2, no traceback, no token.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import fieldproof_run

from fieldproof import cli
from fieldproof.errors import ContractError, ExitCode, TargetError
from fieldproof.target import parse_target
from fieldproof.tomlfile import MAX_TOML_BYTES
from fieldproof.userfiles import read_user_text

TOKEN = "tok-main-abc123"
FOREIGN = "tok-foreign-xyz789"
RUN = {"role": "resumable", "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "R1"}
# A CA certificate (self-signed, valid until 2126): what a ca_file holds.
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUSHg0rzukontHhIaL/kcmclaNnSEwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSZmllbGRwcm9vZiB0ZXN0IENBMCAXDTI2MTIwNzA4MjY1OVoY
DzIxMjYxMTEzMDgyNjU5WjAdMRswGQYDVQQDDBJmaWVsZHByb29mIHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASTIjgPgyKYDBCW9WGtuKRhsH0dKMze
rZKR5Mjq/pfAijPYmi4AcPJZX667rfJvHNto11CZ6t7NH5T1RgRputY1o1MwUTAd
BgNVHQ4EFgQUxZa/Ajc/YoaTp8YXc3aNCAE3WjwwHwYDVR0jBBgwFoAUxZa/Ajc/
YoaTp8YXc3aNCAE3WjwwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEAgFtGmha+/mZGQx/jbH4NATCk27+Wdb+EV3lWFZ+yhVkCIQD1HRFEDYyTTdCN
fRM+XSp/PWWilE1JtaYShEgcFsroGg==
-----END CERTIFICATE-----
"""


def data(**changes: Any) -> dict[str, Any]:
    """A valid target file's table, with `changes` (None: the key left out)."""
    table: dict[str, Any] = {"base_url": "https://staging.example.com/v1", "api_version": "2025-12-18", "account_id": "101",
                             "token_env": "FIELDPROOF_TOKEN", "runs": [dict(RUN)]}
    table.update(changes)
    return {key: value for key, value in table.items() if value is not None}


def refused(table: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """The one-line message parse_target refuses `table` with."""
    with pytest.raises(TargetError) as info:
        parse_target(table, {"FIELDPROOF_TOKEN": TOKEN, "FOREIGN": FOREIGN} if env is None else env)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert "Traceback" not in message
    return message


def toml_value(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return json.dumps(value)  # a JSON number or string is a TOML one too


def target_file(path: Path, **changes: Any) -> Path:
    table = data(**changes)
    runs = table.pop("runs")
    lines = [f"{key} = {toml_value(value)}" for key, value in table.items()]
    for run in runs:
        lines += ["", "[[runs]]", *(f"{key} = {toml_value(value)}" for key, value in run.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- files: a regular file of bounded size, or one line saying what it is -------------------


@contextlib.contextmanager
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO no one writes to: opening it to read blocks (unless non-blocking) until a writer
    comes. At the end a writer opens and closes it, so that a reader stuck on it ends too."""
    path = tmp_path / "target.toml"
    os.mkfifo(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):  # no reader left: nothing to release
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def _within(seconds: float, call: Any) -> BaseException | None:
    """The exception `call()` raised, run in a thread; fails if it has not ended within
    `seconds` (a guard against a hang only: with the fix it ends at once)."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "still reading the file"
    return raised[0] if raised else None


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    from fieldproof.target import load_target

    with fifo(tmp_path) as path:
        error = _within(30, lambda: load_target(path, env={"FIELDPROOF_TOKEN": TOKEN}))
    assert isinstance(error, TargetError)
    assert str(error) == f"target file {path} is a FIFO (named pipe), not a regular file; give the path of the file itself"


@pytest.mark.parametrize("device, kind", [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_a_device_is_refused_without_reading_it(device: str, kind: str) -> None:
    from fieldproof.target import load_target

    with pytest.raises(TargetError, match=f"^target file {device} is {kind}, not a regular file; give the path of the file itself$"):
        load_target(device, env={"FIELDPROOF_TOKEN": TOKEN})


def test_a_file_larger_than_the_bound_is_refused_and_never_read_whole(tmp_path: Path) -> None:
    from fieldproof.target import load_target

    huge = tmp_path / "target.toml"
    with huge.open("wb") as out:
        out.truncate(MAX_TOML_BYTES + 1)  # sparse: no disk, and no TOML either
    with pytest.raises(TargetError, match=f"^target file {huge} is larger than {MAX_TOML_BYTES} bytes"):
        load_target(huge, env={"FIELDPROOF_TOKEN": TOKEN})


def test_read_user_text_reads_no_more_than_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x" * 100)
    assert read_user_text(path, "file", 100, ContractError) == "x" * 100
    with pytest.raises(ContractError, match="larger than 99 bytes"):
        read_user_text(path, "file", 99, ContractError)
    path.write_bytes(b"ok\xff")
    with pytest.raises(ContractError, match=r"cannot be read as text: byte 2 is not UTF-8; save it as UTF-8$"):
        read_user_text(path, "file", 100, ContractError)


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 5000 + "1" + "}" * 5000],
                         ids=["arrays", "inline-tables"])
def test_toml_nested_too_deeply_is_one_line(tmp_path: Path, text: str) -> None:
    from fieldproof.target import load_target

    path = tmp_path / "target.toml"
    path.write_text(text)
    with pytest.raises(TargetError, match=f"^target file {path} nests arrays or tables too deeply to be read; flatten it$"):
        load_target(path, env={"FIELDPROOF_TOKEN": TOKEN})


def test_a_contract_document_that_is_a_fifo_or_device_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fifo(tmp_path) as path:
        error = _within(30, lambda: cli.main(["run", "--contract", str(path), "--reports", str(tmp_path / "r")]))
    assert error is None
    assert capsys.readouterr().err == f"fieldproof: error: contract document {path} is a FIFO (named pipe), not a regular file; give the path of the file itself\n"  # noqa: E501
    assert cli.main(["run", "--contract", "/dev/zero", "--reports", str(tmp_path / "r")]) == ExitCode.USAGE
    assert "contract document /dev/zero is a character device" in capsys.readouterr().err


# --- numbers: finite, positive, and within a sane cap ----------------------------------------

NUMBERS = ["max_requests", "max_rps", "timeout_s", "max_duration_s", "max_body_bytes"]


@pytest.mark.parametrize("key", NUMBERS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused_for_every_number(key: str, value: float) -> None:
    message = refused(data(**{key: value}))
    assert message.startswith(f"{key} must be ")
    assert ("a whole number" in message) if key in ("max_requests", "max_body_bytes") else ("finite number greater than 0" in message)


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("timeout_s", 1e10, "timeout_s must be at most 600 (seconds), got 10000000000.0; give a smaller timeout_s"),
        ("timeout_s", 600.5, "timeout_s must be at most 600 (seconds)"),
        ("max_duration_s", 1e9, "max_duration_s must be at most 86400 (seconds)"),
        ("max_requests", 10**12, "max_requests must be at most 1000000 (requests)"),
        ("max_requests", 2**63 - 1, "max_requests must be at most 1000000 (requests)"),
        ("max_body_bytes", 2**40, "max_body_bytes must be at most 67108864 (bytes)"),
        ("max_rps", 1e5, "max_rps must be at most 10000 (requests a second)"),
        ("max_rps", 1e-9, "max_rps must be at least 0.001 (one request every 1000 s), got 1e-09"),
        ("max_rps", 0.0009, "max_rps must be at least 0.001"),
    ],
)
def test_numbers_beyond_a_sane_cap_are_refused_saying_the_cap(key: str, value: float, says: str) -> None:
    assert refused(data(**{key: value})).startswith(says)


def test_the_caps_themselves_are_accepted_and_a_slow_paced_session_is_for_the_session_to_judge() -> None:
    target = parse_target(data(timeout_s=600, max_duration_s=86400, max_requests=1_000_000, max_body_bytes=64 * 1024 * 1024,
                               max_rps=10_000), {"FIELDPROOF_TOKEN": TOKEN})
    assert (target.timeout_s, target.max_requests) == (600.0, 1_000_000)
    slow = parse_target(data(max_rps=0.05, max_duration_s=15), {"FIELDPROOF_TOKEN": TOKEN})
    assert (slow.max_rps, slow.max_duration_s) == (0.05, 15.0)


def test_a_long_or_nested_value_is_shown_short_in_the_message() -> None:
    message = refused(data(timeout_s="9" * 100_000))
    assert message.startswith("timeout_s must be a number, got '999") and len(message) < 200
    nested: Any = []
    for _ in range(900):
        nested = [nested]
    assert len(refused(data(max_rps=nested))) < 200


# --- base_url: what the client will reach, or one line ---------------------------------------


@pytest.mark.parametrize(
    "url, says",
    [
        ("https://xn--api-.cint.com/v1", "has the label 'xn--api-', which is no valid IDNA encoding"),
        ("https://xn--zz.example.com/v1", "has the label 'xn--zz', which is no valid IDNA encoding"),
        ("https://[api.cint.com]/v1", "base_url's host '[api.cint.com]' is no IPv6 address in brackets"),
        ("https://[api.cint.com]:443/v1", "is no IPv6 address in brackets"),
        ("https://[v1.fe]/v1", "base_url's host '[v1.fe]' is no IPv6 address in brackets"),
        ("https://[::1]x/v1", "base_url's host '[::1]x' is no IPv6 address in brackets"),
        ("https://[fe80::1%25eth0]/v1", "is no IPv6 address in brackets; write an IPv6 address as [2001:db8::1] (without a zone)"),
        ("https://[::1/v1", "is no IPv6 address in brackets"),
        ("https://staging.example.com/v1?tenant=7", "base_url must not hold a query ('?') or a fragment ('#')"),
        ("https://staging.example.com/v1?", "base_url must not hold a query ('?') or a fragment ('#')"),
        ("https://staging.example.com/v1#top", "base_url must not hold a query ('?') or a fragment ('#')"),
        ("https://staging.example.com/v\n1", "base_url holds a space or control character at character 30; remove it"),
        ("https://staging.example.com/v1\t", "base_url holds a space or control character at character 31"),
        (" https://staging.example.com/v1", "base_url holds a space or control character at character 1"),
        ("https://staging.example.com:0/v1", "base_url's port must be from 1 to 65535"),
        ("https://" + "a" * 64 + ".example.com/v1", "is longer than DNS allows (63 characters a label, 253 in all)"),
        ("https://" + "a." * 127 + "com/v1", "is longer than DNS allows"),
    ],
)
def test_a_base_url_the_client_would_reach_otherwise_is_refused(url: str, says: str) -> None:
    assert says in refused(data(base_url=url))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://[::1]:8443/v1", "https://[::1]:8443/v1"),
        ("https://[2001:DB8::1]/v1", "https://[2001:db8::1]/v1"),
        ("https://xn--bcher-kva.example/v1", "https://xn--bcher-kva.example/v1"),
        ("http://[::ffff:127.0.0.1]:8080/v1", "http://[::ffff:7f00:1]:8080/v1"),  # loopback: plain http is fine
        ("https://staging.example.com:/v1", "https://staging.example.com/v1"),
    ],
)
def test_valid_hosts_stay_accepted(url: str, expected: str) -> None:
    assert parse_target(data(base_url=url), {"FIELDPROOF_TOKEN": TOKEN}).base_url == expected


# --- empty values of every string key --------------------------------------------------------


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"base_url": ""}, "base_url must be a URL"),
        ({"api_version": ""}, "api_version must look like"),
        ({"account_id": ""}, "account_id must be the account's number"),
        ({"token_env": ""}, "token_env must name an environment variable"),
        ({"foreign_token_env": ""}, "foreign_token_env must name an environment variable"),
        ({"ca_file": ""}, "ca_file must name a PEM file of CA certificates"),
        ({"ca_file": "  "}, "ca_file must name a PEM file of CA certificates"),
        *[({"runs": [{**RUN, key: ""}]}, f"[[runs]] entry 1: {key}") for key in RUN],
    ],
    ids=lambda v: "-".join(f"{k}={v!r}" for k, v in v.items())[:40] if isinstance(v, dict) else None,
)
def test_an_empty_value_of_any_string_key_is_refused(changes: dict[str, Any], says: str) -> None:
    assert says in refused(data(**changes))


# --- tokens: visible ASCII, checked before any request, never echoed --------------------------


@pytest.mark.parametrize(
    "token, kind, position",
    [
        ("abc\r\nInjected: yes", "a line break", 4),
        ("abc\ndef", "a line break", 4),
        ("abc\rdef", "a line break", 4),
        ("abc def", "a space or tab", 4),
        ("abc\tdef", "a space or tab", 4),
        ("abc\x00def", "a control character", 4),
        ("abc\x7fdef", "a control character", 4),
        ("tøken-abc", "a non-ASCII character", 2),
        ("abc\u00a0def", "a non-ASCII character", 4),
        ("abc\u2028def", "a non-ASCII character", 4),
        ("token-\U0001f511", "a non-ASCII character", 7),
    ],
)
@pytest.mark.parametrize("key, env_name", [("token_env", "FIELDPROOF_TOKEN"), ("foreign_token_env", "FOREIGN")])
def test_a_token_that_is_not_visible_ascii_is_refused_without_echoing_it(token: str, kind: str, position: int, key: str,
                                                                        env_name: str) -> None:
    env = {"FIELDPROOF_TOKEN": TOKEN, "FOREIGN": FOREIGN, env_name: token}
    message = refused(data(foreign_token_env="FOREIGN"), env)
    assert message == (f"{env_name} ({key}) holds {kind} at character {position} of the token; a bearer token is visible "
                       f"ASCII only (letters, digits, punctuation): set {env_name} to the token alone")
    odd = token[position - 1]
    assert token not in message and (odd.isascii() or odd not in message)
    assert all(part not in message for part in token.split(odd) if len(part) > 2)


def test_a_token_longer_than_any_header_is_refused_by_its_length() -> None:
    message = refused(data(), {"FIELDPROOF_TOKEN": "x" * 20_000})
    assert message == "FIELDPROOF_TOKEN (token_env) holds 20000 characters, more than any bearer token (16384); set it to the token alone"


def test_surrounding_whitespace_of_a_token_is_still_dropped() -> None:
    assert parse_target(data(), {"FIELDPROOF_TOKEN": f"\n {TOKEN}\r\n"}).token == TOKEN


# --- ca_file: a PEM file of CA certificates, relative to the target file ----------------------


def test_ca_file_is_read_relative_to_the_target_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldproof.target import load_target

    folder = tmp_path / "targets"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "ca.pem").write_text(CA_PEM)
    monkeypatch.chdir(tmp_path)  # elsewhere than the target file
    target = load_target(target_file(folder / "staging.toml", ca_file="certs/ca.pem"), env={"FIELDPROOF_TOKEN": TOKEN})
    assert target.ca_file == str(folder / "certs" / "ca.pem")
    assert parse_target(data(ca_file=str(folder / "certs" / "ca.pem")), {"FIELDPROOF_TOKEN": TOKEN}).ca_file == target.ca_file
    assert load_target(target_file(folder / "plain.toml"), env={"FIELDPROOF_TOKEN": TOKEN}).ca_file is None


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda d: d / "missing.pem", "ca_file {path} does not exist; give the PEM file of the CA that signed the target's certificate"),
        (lambda d: d, "ca_file {path} is a directory; give the PEM file"),
        (lambda d: Path("/dev/zero"), "ca_file /dev/zero is a character device, not a regular file"),
        (lambda d: _write(d / "key.pem", "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"),
         "ca_file {path} holds no certificate (no '-----BEGIN CERTIFICATE-----' line)"),
        (lambda d: _write(d / "bad.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"),
         "ca_file {path} cannot be loaded as CA certificates ("),
        (lambda d: _write(d / "der.pem", b"\x30\x82\x01\x92\xff"), "ca_file {path} cannot be read as text"),
        (lambda d: _write(d / "huge.pem", CA_PEM * 8000), "ca_file {path} is larger than 4194304 bytes"),
    ],
    ids=["missing", "directory", "device", "no-certificate", "corrupt", "binary", "huge"],
)
def test_a_ca_file_that_holds_no_usable_ca_is_refused(tmp_path: Path, make: Any, says: str) -> None:
    path = make(tmp_path)
    assert refused(data(ca_file=str(path))).startswith(says.format(path=path))


@pytest.mark.parametrize("value", [5, True, ["ca.pem"]])
def test_ca_file_must_be_a_path(value: Any) -> None:
    assert refused(data(ca_file=value)).startswith("ca_file must name a PEM file of CA certificates")


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# --- flags: each refused in one line naming it, before anything starts ------------------------


def _main(argv: list[str]) -> int:
    """cli.main's exit code, also when argparse ends it."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture
def unreachable_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid target file nothing answers (so that a flag let through ends in exit 3, not a
    session), with the locks and the working folder under tmp_path."""
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FIELDPROOF_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    return target_file(tmp_path / "target.toml", base_url="http://127.0.0.1:9/v1", timeout_s=2)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--reports", ""], "argument --reports: is empty; give a folder"),
        (["--reports", "  "], "argument --reports: is empty; give a folder"),
        (["--suites", ""], "argument --suites: names no suite; give one or more of auth, "),
        (["--suites", " , "], "argument --suites: names no suite"),
        (["--wait-for-lock", "nan"], "argument --wait-for-lock: must be a finite number, got 'nan'"),
        (["--wait-for-lock", "inf"], "argument --wait-for-lock: must be a finite number, got 'inf'"),
        (["--wait-for-lock=-inf"], "argument --wait-for-lock: must be a finite number"),
        (["--wait-for-lock", "-1"], "--wait-for-lock must be a number of seconds from 0 to 86400, got -1"),
        (["--wait-for-lock", "1e9"], "--wait-for-lock must be a number of seconds from 0 to 86400, got 1e+09"),
        (["--workers", "100000"], "--workers must be a whole number from 1 to 16, or 'auto' (one per CPU, at most 4), got '100000'"),
        (["--workers", "17"], "--workers must be a whole number from 1 to 16"),
        (["--workers", "1" * 5000], "--workers must be a whole number from 1 to 16"),
        (["--workers", "\uff12"], "--workers must be a whole number from 1 to 16"),  # a fullwidth 2
        (["--contract", ""], "argument --contract: is empty; give a file's path"),
        (["--baseline", ""], "argument --baseline: is empty"),
        (["--baseline-update", ""], "argument --baseline-update: is empty"),
    ],
)
def test_a_bad_run_flag_is_one_line_and_exit_2(unreachable_target: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                               says: str) -> None:
    code = _main(["run", "--target", str(unreachable_target), "--profile", "quick", *argv])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["run", "--target", ""], "argument --target: is empty; give a target file's path, or leave --target out for the built-in sandbox"),
        (["selfcheck", "--faults", ""], "argument --faults: names no fault mode"),
        (["selfcheck", "--reports", ""], "argument --reports: is empty"),
        (["swarm", "--spawn-rate", "nan"], "argument --spawn-rate: must be a finite number, got 'nan'"),
        (["swarm", "--wait-for-lock", "inf"], "argument --wait-for-lock: must be a finite number"),
        (["swarm", "--reports", ""], "argument --reports: is empty"),
        (["sandbox", "--seed", ""], "argument --seed: is empty"),
    ],
)
def test_a_bad_flag_of_any_command_is_one_line_and_exit_2(unreachable_target: Path, capsys: pytest.CaptureFixture[str],
                                                          argv: list[str], says: str) -> None:
    assert _main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--processes", "100000"], "argument --processes: must be from 1 to 64, got 100000"),
        (["--sandbox-workers", "17"], "argument --sandbox-workers: must be from 1 to 16, got 17"),
        (["--users", "1" + "0" * 30], "argument --users: must be from 1 to 10000"),
        (["--users", "\u0663"], "argument --users: must be a whole number"),  # an Arabic-Indic 3
        (["--users", "-5"], "argument --users: must be from 1 to 10000, got -5"),
        (["--processes", "0"], "argument --processes: must be from 1 to 64, got 0"),
    ],
)
def test_swarm_counts_that_start_processes_or_users_are_capped(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                               says: str) -> None:
    # --worker without --master-host: were the count let through, the swarm would still refuse to start
    assert _main(["swarm", "--worker", *argv]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


@pytest.mark.parametrize("name, raw", [("latency_ms", "nan"), ("jitter_ms", "inf"), ("error_rate", "nan"),
                                       ("rate_limit_refill", "inf"), ("race_window_ms", math.nan)])
def test_a_sandbox_setting_is_a_finite_number(name: str, raw: Any) -> None:
    from fieldproof.errors import SettingsError
    from fieldproof.sandbox.settings import load_settings

    with pytest.raises(SettingsError, match=f"setting '{name}' must be a finite number, got "):
        load_settings(None, env={}, overrides={name: raw})


def test_workers_auto_stays_capped_at_four() -> None:
    from fieldproof.session import _worker_count

    assert 1 <= _worker_count("auto") <= 4
    assert _worker_count("16") == 16


# --- through the real command: one line on stderr, exit 2, no traceback, no token -------------


@pytest.mark.parametrize(
    "changes, env, args, says",
    [
        ({}, {"FIELDPROOF_TOKEN": "s3cret-tok\u00e9n"}, [], "FIELDPROOF_TOKEN (token_env) holds a non-ASCII character at character 11"),
        ({}, {"FIELDPROOF_TOKEN": "s3cret\r\nX-Evil: 1"}, [], "FIELDPROOF_TOKEN (token_env) holds a line break at character 7"),
        ({"base_url": "https://[v1.fe]/v1"}, {}, [], "base_url's host '[v1.fe]' is no IPv6 address in brackets"),
        ({"timeout_s": 1e10}, {}, [], "timeout_s must be at most 600 (seconds)"),
        ({}, {}, ["--wait-for-lock", "nan"], "argument --wait-for-lock: must be a finite number"),
    ],
    ids=["non-ascii-token", "crlf-token", "ipvfuture-host", "huge-timeout", "nan-wait"],
)
def test_through_the_command_a_bad_input_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, changes: dict[str, Any], env: dict[str, str], args: list[str], says: str
) -> None:
    path = target_file(tmp_path / "target.toml", **{"base_url": "http://127.0.0.1:9/v1", **changes})
    env = {"FIELDPROOF_TOKEN": TOKEN, **env}
    result = fieldproof_run(tmp_path, "--target", str(path), "--profile", "quick", *args, env=env, timeout=120)
    assert result.returncode == ExitCode.USAGE, result.stdout[-2000:] + result.stderr
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert result.stderr.startswith("fieldproof") and "Traceback" not in result.stderr
    assert env["FIELDPROOF_TOKEN"] not in result.stdout + result.stderr


def test_through_the_command_toml_nested_5000_deep_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("base_url = " + "[" * 5000 + "]" * 5000 + "\n")
    result = fieldproof_run(tmp_path, "--target", str(path), env={"FIELDPROOF_TOKEN": TOKEN}, timeout=120)
    assert result.returncode == ExitCode.USAGE
    assert result.stderr == f"fieldproof: error: target file {path} nests arrays or tables too deeply to be read; flatten it\n"


@pytest.mark.parametrize("jobs, says", [("0", "must be from 1 to 16, got 0"), ("17", "must be from 1 to 16, got 17"),
                                        ("two", "must be a whole number")])
def test_selfcheck_jobs_are_a_count_from_1_to_16(capsys: pytest.CaptureFixture[str], jobs: str, says: str) -> None:
    assert _main(["selfcheck", "--jobs", jobs]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument --jobs: {says}" in err, err
