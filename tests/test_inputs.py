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
                             "token_env": "FIELDPROOF_TOKEN", "runs": [dict(RUN)]}  # fmt: skip
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
                         ids=["arrays", "inline-tables"])  # fmt: skip
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
