"""Tests for fieldproof.target: loading and validating a target file.

Every file is written under tmp_path and every token comes from the ``env=`` mapping, never from
the real environment.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest

from fieldproof.target import RunRef, Target, TargetError, load_target, parse_target

TOKEN = "tok-main-abc123"
FOREIGN = "tok-foreign-xyz789"
ENV = {"FIELDPROOF_TOKEN": TOKEN, "FIELDPROOF_FOREIGN_TOKEN": FOREIGN}

P1, G1 = "01J" + "A" * 23, "01J" + "B" * 23
P2, G2 = "01J" + "C" * 23, "01J" + "D" * 23


class Raw(str):
    """A value written into the TOML file verbatim (a date literal, an empty array...)."""


def _value(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # nan / inf / -inf are valid TOML floats too
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise TypeError(value)


def dumps(data: dict[str, Any]) -> str:
    """A small TOML writer: top-level scalars, then `runs` as [[runs]] tables if it is a list of dicts."""
    lines = []
    runs = data.get("runs")
    as_tables = isinstance(runs, list) and runs and all(isinstance(r, dict) for r in runs)
    for key, value in data.items():
        if key == "runs" and as_tables:
            continue
        lines.append(f"{key} = {_value(value)}")
    if as_tables:
        for run in runs:
            lines.append("")
            lines.append("[[runs]]")
            lines.extend(f"{k} = {_value(v)}" for k, v in run.items())
    return "\n".join(lines) + "\n"


def minimal() -> dict[str, Any]:
    return {
        "base_url": "https://staging.example.com/v1",
        "api_version": "2025-12-18",
        "account_id": "101",
        "token_env": "FIELDPROOF_TOKEN",
        "runs": [
            {"role": "resumable", "project_id": P1, "target_group_id": G1, "fielding_run_id": "run-1"},
        ],
    }


def full() -> dict[str, Any]:
    return {
        "base_url": "https://staging.example.com/v1/",
        "api_version": "2025-12-18",
        "account_id": 101,
        "token_env": "FIELDPROOF_TOKEN",
        "foreign_token_env": "FIELDPROOF_FOREIGN_TOKEN",
        "max_requests": 500,
        "max_rps": 2.5,
        "timeout_s": 30,
        "rate_limit_probe": True,
        "allow_production": False,
        "allow_insecure_http": False,
        "runs": [
            {"role": "resumable", "project_id": P1, "target_group_id": G1, "fielding_run_id": "run-r1"},
            {"role": "live", "project_id": P1, "target_group_id": G1, "fielding_run_id": "run-live"},
            {"role": "resumable", "project_id": P2, "target_group_id": G2, "fielding_run_id": "run-r2"},
            {"role": "goal_reached", "project_id": P1, "target_group_id": G1, "fielding_run_id": "run-goal"},
            {"role": "end_date_passed", "project_id": P2, "target_group_id": G2, "fielding_run_id": "run-end"},
            {"role": "completed", "project_id": P2, "target_group_id": G2, "fielding_run_id": "run-done"},
        ],
    }


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "target.toml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else dumps(data), encoding="utf-8")
    return path


def load(tmp_path: Path, data: dict[str, Any] | str, env: dict[str, str] | None = None) -> Target:
    return load_target(write(tmp_path, data), env=dict(ENV if env is None else env))


def assert_one_line_error(exc: TargetError, path: Path, keywords: list[str]) -> str:
    message = str(exc)
    assert message, "empty error message"
    assert "\n" not in message and "\r" not in message, f"message spans several lines: {message!r}"
    assert str(path) in message, f"message does not name the file: {message!r}"
    for word in keywords:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------------
# valid files


def test_full_file_loads_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, full())
    target = load_target(path, env=dict(ENV))

    assert isinstance(target, Target)
    assert target.base_url == "https://staging.example.com/v1"  # prefix kept, trailing slash dropped
    assert target.api_version == "2025-12-18"
    assert target.account_id == "101"  # integer in the file, string in the target
    assert target.token == TOKEN
    assert target.foreign_token == FOREIGN
    assert target.token_env == "FIELDPROOF_TOKEN"
    assert target.max_requests == 500
    assert target.max_rps == 2.5
    assert target.timeout_s == 30.0 and isinstance(target.timeout_s, float)
    assert target.rate_limit_probe is True
    assert target.source == str(path)
    assert target.secrets == (TOKEN, FOREIGN)

    assert [run.fielding_run_id for run in target.runs] == [
        "run-r1", "run-live", "run-r2", "run-goal", "run-end", "run-done",
    ]
    assert all(run.account_id == "101" for run in target.runs)
    assert target.runs[0] == RunRef("resumable", "101", P1, G1, "run-r1")


def test_runs_of_filters_by_role_in_file_order(tmp_path: Path) -> None:
    target = load(tmp_path, full())
    assert [r.fielding_run_id for r in target.runs_of("resumable")] == ["run-r1", "run-r2"]
    assert [r.fielding_run_id for r in target.runs_of("live")] == ["run-live"]
    assert [r.fielding_run_id for r in target.runs_of("goal_reached")] == ["run-goal"]
    assert [r.fielding_run_id for r in target.runs_of("end_date_passed")] == ["run-end"]
    assert [r.fielding_run_id for r in target.runs_of("completed")] == ["run-done"]
    assert target.runs_of("paused") == ()


def test_run_ref_path() -> None:
    run = RunRef("live", "101", P1, G1, "run-7")
    assert run.path() == (
        f"/demand/accounts/101/projects/{P1}/target-groups/{G1}/fielding-runs/run-7"
    )


def test_run_ref_path_from_loaded_file_joins_onto_base_url(tmp_path: Path) -> None:
    target = load(tmp_path, full())
    run = target.runs_of("live")[0]
    assert target.base_url + run.path() == (
        f"https://staging.example.com/v1/demand/accounts/101/projects/{P1}"
        f"/target-groups/{G1}/fielding-runs/run-live"
    )


def test_minimal_file_gets_the_defaults(tmp_path: Path) -> None:
    target = load(tmp_path, minimal(), env={"FIELDPROOF_TOKEN": TOKEN})
    assert target.max_requests == 2000
    assert target.timeout_s == 10.0
    assert target.rate_limit_probe is False
    assert target.max_rps is None
    assert target.foreign_token is None
    assert target.secrets == (TOKEN,)
    assert target.base_url == "https://staging.example.com/v1"
    assert len(target.runs) == 1


def test_tokens_come_from_the_named_env_vars(tmp_path: Path) -> None:
    data = minimal() | {"token_env": "MY_MAIN_TOKEN", "foreign_token_env": "_OTHER_ACCOUNT_TOKEN2"}
    env = {"MY_MAIN_TOKEN": "  main-secret\n", "_OTHER_ACCOUNT_TOKEN2": "other-secret", "FIELDPROOF_TOKEN": "x"}
    target = load(tmp_path, data, env=env)
    assert target.token == "main-secret"  # surrounding whitespace of the variable is dropped
    assert target.foreign_token == "other-secret"
    assert target.token_env == "MY_MAIN_TOKEN"


def test_repr_never_contains_a_token(tmp_path: Path) -> None:
    target = load(tmp_path, full())
    for text in (repr(target), str(target), repr(target.runs)):
        assert TOKEN not in text
        assert FOREIGN not in text
    assert "FIELDPROOF_TOKEN" in repr(target)  # the env var *name* is fine to show


def test_parse_target_accepts_a_mapping_directly() -> None:
    data = minimal()
    target = parse_target(data, {"FIELDPROOF_TOKEN": TOKEN}, source="inline")
    assert target.source == "inline"
    assert target.runs[0].path().startswith("/demand/accounts/101/")


@pytest.mark.parametrize(
    "base_url, extra, expected",
    [
        ("https://staging.example.com", {}, "https://staging.example.com"),
        ("https://staging.example.com/", {}, "https://staging.example.com"),
        ("https://staging.example.com:8443/api/v1", {}, "https://staging.example.com:8443/api/v1"),
        ("http://staging.example.com/v1", {"allow_insecure_http": True}, "http://staging.example.com/v1"),
        ("http://127.0.0.1:8080/v1", {}, "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1", {}, "http://127.0.0.1"),
        ("http://localhost:8080/v1/", {}, "http://localhost:8080/v1"),
        ("http://LOCALHOST:8080", {}, "http://localhost:8080"),  # the host as the client connects to it
        ("http://[::1]:8080/v1", {}, "http://[::1]:8080/v1"),
        ("https://api.cint.com/v1", {"allow_production": True}, "https://api.cint.com/v1"),
        ("https://API.CINT.COM", {"allow_production": True}, "https://api.cint.com"),
        ("https://api.cint.com.staging.example.com", {}, "https://api.cint.com.staging.example.com"),
    ],
)
def test_accepted_base_urls(tmp_path: Path, base_url: str, extra: dict[str, Any], expected: str) -> None:
    target = load(tmp_path, minimal() | {"base_url": base_url} | extra)
    assert target.base_url == expected


# --------------------------------------------------------------------------------------------
# file-level errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, ["does not exist"])


def test_directory_instead_of_file(tmp_path: Path) -> None:
    path = tmp_path / "targets"
    path.mkdir()
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, ["directory", ".toml"])


@pytest.mark.parametrize(
    "text",
    [
        "base_url = \n",
        "base_url = \"https://x\"\nbase_url = \"https://y\"\n",  # duplicate key
        "[[runs]\nrole = \"live\"\n",
        "account_id = \"101\nmore\"\n",  # newline inside a basic string
    ],
)
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, ["not valid TOML"])


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_bytes(b"base_url = \"\xff\xfe\"\n")
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    # either "cannot be read" or "not valid TOML" says what is wrong with the file
    message = assert_one_line_error(info.value, path, [])
    assert "cannot be read" in message or "not valid TOML" in message


# --------------------------------------------------------------------------------------------
# content errors: each case is (mutation of the minimal/full data, env, words the message must hold)

Mutation = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[key] = value

    return mutate


def _drop(key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del data[key]

    return mutate


def _run(index: int, key: str, value: Any = None, drop: bool = False) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        if drop:
            del data["runs"][index][key]
        else:
            data["runs"][index][key] = value

    return mutate


def _append_run(**run: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["runs"].append(run)

    return mutate


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(ENV)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


_FOREIGN = _set("foreign_token_env", "FIELDPROOF_FOREIGN_TOKEN")
_PROD = ["production", "api.cint.com", "allow_production"]
_HTTP = ["plain http", "https", "allow_insecure_http"]

CASES: list[Any] = [
    # unknown top-level key
    pytest.param(_set("colour", "blue"), ENV, ["unknown key", "colour"], id="unknown-key"),
    pytest.param(_set("token", "inline"), ENV, ["unknown key", "token"], id="unknown-key-token"),
    # each required key missing
    *[
        pytest.param(_drop(key), ENV, [key, "missing"], id=f"missing-{key}")
        for key in ("base_url", "api_version", "account_id", "token_env")
    ],
    # base_url: not http(s) or no host
    *[
        pytest.param(_set("base_url", url), ENV, ["base_url", "http"], id=f"base_url-{i}")
        for i, url in enumerate(
            [
                "ftp://staging.example.com/v1",
                "staging.example.com/v1",
                "https:///v1",
                "https://",
                "file:///etc/passwd",
                "",
                Raw("5"),
            ]
        )
    ],
    # plain http to a non-loopback host
    pytest.param(_set("base_url", "http://staging.example.com/v1"), ENV, _HTTP + ["staging.example.com"], id="http-remote"),
    pytest.param(_set("base_url", "http://10.0.0.5:8080"), ENV, _HTTP, id="http-private-ip"),
    pytest.param(_set("base_url", "http://0.0.0.0:8080"), ENV, _HTTP, id="http-any-address"),
    pytest.param(_set("base_url", "http://localhost.example.com"), ENV, _HTTP, id="http-localhost-lookalike"),
    # production host without allow_production
    *[
        pytest.param(_set("base_url", url), ENV, _PROD, id=f"production-{i}")
        for i, url in enumerate(
            [
                "https://api.cint.com",
                "https://api.cint.com/",
                "https://api.cint.com/v1",
                "https://API.Cint.Com/v1",
                "HTTPS://API.CINT.COM",
                "https://api.cint.com:443/v1",
                "http://api.cint.com/v1",
            ]
        )
    ],
    pytest.param(
        lambda d: d.update(base_url="https://api.cint.com/v1", allow_production=False),
        ENV, _PROD, id="production-explicitly-false",
    ),
    # api_version not YYYY-MM-DD
    *[
        pytest.param(_set("api_version", v), ENV, ["api_version", "2025-12-18"], id=f"api_version-{i}")
        for i, v in enumerate(["2025-12", "20251218", "v2025-12-18", "2025-12-18 ", "25-12-18", "", 20251218])
    ],
    pytest.param(_set("api_version", Raw("2025-12-18")), ENV, ["api_version", "2025-12-18"], id="api_version-toml-date"),
    # account_id not digits
    *[
        pytest.param(_set("account_id", v), ENV, ["account_id", "number"], id=f"account_id-{i}")
        for i, v in enumerate(["abc", "10a", "", " 101", "-101", -101, 101.0, True])
    ],
    # token env var unset / empty / whitespace
    pytest.param(None, _env(FIELDPROOF_TOKEN=None), ["FIELDPROOF_TOKEN", "not set", "101"], id="token-unset"),
    pytest.param(None, _env(FIELDPROOF_TOKEN=""), ["FIELDPROOF_TOKEN", "not set", "101"], id="token-empty"),
    pytest.param(None, _env(FIELDPROOF_TOKEN=" \t\n"), ["FIELDPROOF_TOKEN", "not set", "101"], id="token-blank"),
    pytest.param(
        lambda d: d.update(token_env="ACME_TOKEN", account_id="4242"),
        ENV, ["ACME_TOKEN", "not set", "4242"], id="token-unset-custom-name",
    ),
    # token_env not a valid env var name
    *[
        pytest.param(_set("token_env", v), ENV, ["token_env", "environment variable"], id=f"token_env-{i}")
        for i, v in enumerate(["1TOKEN", "MY-TOKEN", "MY TOKEN", "$FIELDPROOF_TOKEN", "", 5, True])
    ],
    # foreign token
    pytest.param(
        _FOREIGN, _env(FIELDPROOF_FOREIGN_TOKEN=None),
        ["foreign_token_env", "FIELDPROOF_FOREIGN_TOKEN", "not set"], id="foreign-unset",
    ),
    pytest.param(
        _FOREIGN, _env(FIELDPROOF_FOREIGN_TOKEN="  "),
        ["foreign_token_env", "FIELDPROOF_FOREIGN_TOKEN", "not set"], id="foreign-blank",
    ),
    pytest.param(
        _FOREIGN, _env(FIELDPROOF_FOREIGN_TOKEN=TOKEN), ["foreign_token_env", "same token"], id="foreign-equal",
    ),
    pytest.param(
        _FOREIGN, _env(FIELDPROOF_FOREIGN_TOKEN=f" {TOKEN}\n"), ["foreign_token_env", "same token"],
        id="foreign-equal-modulo-whitespace",
    ),
    pytest.param(
        _set("foreign_token_env", "FIELDPROOF_TOKEN"), ENV, ["foreign_token_env", "same token"],
        id="foreign-same-variable",
    ),
    *[
        pytest.param(_set("foreign_token_env", v), ENV, ["foreign_token_env", "environment variable"], id=f"foreign-name-{i}")
        for i, v in enumerate(["2ND", "FOREIGN-TOKEN", "", 7])
    ],
    # max_requests
    *[
        pytest.param(_set("max_requests", v), ENV, ["max_requests", words], id=f"max_requests-{i}")
        for i, (v, words) in enumerate(
            [(0, "greater than 0"), (-1, "greater than 0"), (-2000, "greater than 0"),
             ("2000", "number"), (True, "number"), (False, "number")]
        )
    ],
    # max_rps / timeout_s non-positive or not numbers
    *[
        pytest.param(_set(key, v), ENV, [key, words], id=f"{key}-{i}")
        for key in ("max_rps", "timeout_s")
        for i, (v, words) in enumerate(
            [(0, "greater than 0"), (0.0, "greater than 0"), (-1, "greater than 0"), (-0.5, "greater than 0"),
             (-math.inf, "greater than 0"), ("5", "number"), (True, "number")]
        )
    ],
    # booleans
    *[
        pytest.param(_set(key, v), ENV, [key, "true or false"], id=f"{key}-{i}")
        for key in ("rate_limit_probe", "allow_production", "allow_insecure_http")
        for i, v in enumerate(["true", 1, 0, "yes"])
    ],
    # runs missing / empty / wrong shape
    pytest.param(_drop("runs"), ENV, ["[[runs]]", "at least one run"], id="runs-missing"),
    pytest.param(_set("runs", Raw("[]")), ENV, ["[[runs]]", "at least one run"], id="runs-empty"),
    pytest.param(_set("runs", "run-1"), ENV, ["[[runs]]", "at least one run"], id="runs-string"),
    pytest.param(_set("runs", Raw("{ role = \"live\" }")), ENV, ["[[runs]]", "at least one run"], id="runs-table"),
    pytest.param(_set("runs", Raw("[1, 2]")), ENV, ["[[runs]] entry 1", "table"], id="runs-entry-not-table"),
    # a run entry
    pytest.param(_run(0, "name", "x"), ENV, ["[[runs]] entry 1", "unknown key", "name"], id="run-unknown-key"),
    pytest.param(_run(0, "account_id", "101"), ENV, ["[[runs]] entry 1", "unknown key", "account_id"], id="run-unknown-key-account"),
    *[
        pytest.param(_run(0, key, drop=True), ENV, ["[[runs]] entry 1", key, "missing"], id=f"run-missing-{key}")
        for key in ("role", "project_id", "target_group_id", "fielding_run_id")
    ],
    *[
        pytest.param(_run(0, "role", v), ENV, ["[[runs]] entry 1", "role", "resumable", "completed"], id=f"run-role-{i}")
        for i, v in enumerate(["paused", "Resumable", "", "live ", 1])
    ],
    *[
        pytest.param(_run(0, key, v), ENV, ["[[runs]] entry 1", key, "ULID"], id=f"run-{key}-{i}")
        for key in ("project_id", "target_group_id")
        for i, v in enumerate(
            ["01j" + "a" * 23, "01J" + "A" * 22, "01J" + "A" * 24, "01J" + "A" * 22 + "-", "", 12345,
             " 01J" + "A" * 23]
        )
    ],
    *[
        pytest.param(_run(0, "fielding_run_id", v), ENV, ["[[runs]] entry 1", "fielding_run_id", "non-empty"], id=f"run-id-{i}")
        for i, v in enumerate(["", "   ", "a/b", "/", "run-1/", 7])
    ],
    pytest.param(
        _append_run(role="live", project_id=P2, target_group_id=G2, fielding_run_id="a/b"),
        ENV, ["[[runs]] entry 2", "fielding_run_id"], id="run-error-names-second-entry",
    ),
    pytest.param(
        _append_run(role="live", project_id=P2, target_group_id=G2, fielding_run_id="run-1"),
        ENV, ["fielding_run_id", "run-1", "twice"], id="run-duplicate-id",
    ),
]


@pytest.mark.parametrize("mutate, env, keywords", CASES)
def test_content_errors(
    tmp_path: Path, mutate: Mutation | None, env: dict[str, str], keywords: list[str]
) -> None:
    data = copy.deepcopy(minimal())
    if mutate is not None:
        mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(env))
    assert_one_line_error(info.value, path, keywords)


def test_unknown_key_message_lists_the_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, minimal() | {"max_request": 10})
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    message = assert_one_line_error(info.value, path, ["'max_request'"])
    assert "max_requests" in message.split("known keys:")[1]


def test_missing_token_message_does_not_leak_other_tokens(tmp_path: Path) -> None:
    path = write(tmp_path, minimal() | {"foreign_token_env": "FIELDPROOF_FOREIGN_TOKEN"})
    with pytest.raises(TargetError) as info:
        load_target(path, env={"FIELDPROOF_FOREIGN_TOKEN": FOREIGN})
    assert FOREIGN not in str(info.value)


def test_a_target_error_ends_the_command_with_the_usage_code() -> None:
    from fieldproof.errors import ExitCode, FieldproofError

    assert issubclass(TargetError, FieldproofError) and TargetError("x").exit_code == ExitCode.USAGE


# --------------------------------------------------------------------------------------------
# bugs found while writing these tests: each test below fails against the current target.py


@pytest.mark.parametrize("account_id", ["１０１", "²", "١٠١"])
def test_account_id_must_be_ascii_digits(tmp_path: Path, account_id: str) -> None:
    """str.isdigit() accepts fullwidth, superscript and Arabic-Indic digits; they end up in URL paths."""
    path = write(tmp_path, minimal() | {"account_id": account_id})
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, ["account_id", "number"])


@pytest.mark.parametrize("url", ["https://api.cint.com./v1", "https://API.CINT.COM."])
def test_production_host_with_trailing_dot_is_refused(tmp_path: Path, url: str) -> None:
    """'api.cint.com.' is the same host as 'api.cint.com' (fully qualified name) but is not caught."""
    path = write(tmp_path, minimal() | {"base_url": url})
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, _PROD)


@pytest.mark.parametrize("key", ["max_rps", "timeout_s"])
def test_nan_is_not_a_positive_number(tmp_path: Path, key: str) -> None:
    """`nan <= 0` is False, so `max_rps = nan` / `timeout_s = nan` (valid TOML) are accepted."""
    path = write(tmp_path, minimal() | {key: math.nan})
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, [key])


def test_duplicate_run_id_message_stays_on_one_line(tmp_path: Path) -> None:
    """A fielding_run_id with a newline is refused on one line (it could not go into a URL anyway)."""
    data = minimal()
    data["runs"] = [
        {"role": "resumable", "project_id": P1, "target_group_id": G1, "fielding_run_id": "run\nx"},
        {"role": "live", "project_id": P2, "target_group_id": G2, "fielding_run_id": "run\nx"},
    ]
    path = write(tmp_path, data)
    with pytest.raises(TargetError) as info:
        load_target(path, env=dict(ENV))
    assert_one_line_error(info.value, path, ["fielding_run_id", "printable"])
