"""Self-tests of the fault modes an independent tester added to tests/servers/docs_server.py.

Each scenario is a short exchange an ordinary client of the documented API could have with the
runs of the server's target file (plain httpx, no harness, no control API) and answers "did the
server misbehave?". The correct server (no --fault) must say no under both sets of answers to the
open questions, and the server with the fault must say yes under both.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from helpers import docs_server

API_VERSION = "2025-12-18"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)")
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def new_ulid() -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(26))


@dataclass
class Server:
    base_url: str
    account_id: str
    runs: dict[str, list[dict[str, str]]]  # role -> runs of the target file
    token: str
    other_token: str

    def run(self, role: str, index: int = 0) -> dict[str, str]:
        return self.runs[role][index]

    def url(self, run: dict[str, str], action: str | None = None, **ids: str) -> str:
        parts = {"account": self.account_id, "project": run["project_id"],
                 "group": run["target_group_id"], "run_id": run["fielding_run_id"], **ids}
        url = (f"{self.base_url}/demand/accounts/{parts['account']}/projects/{parts['project']}"
               f"/target-groups/{parts['group']}/fielding-runs/{parts['run_id']}")
        return f"{url}/{action}" if action else url

    def headers(self, auth: str | None = "", **extra: str) -> dict[str, str]:
        headers = {"Cint-API-Version": API_VERSION}
        if auth is not None:
            headers["Authorization"] = auth or f"Bearer {self.token}"
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        return headers


@contextlib.contextmanager
def started(tmp_path: Path, *args: str) -> Iterator[Server]:
    with docs_server(tmp_path, *args) as (target, tokens):
        data = tomllib.loads(target.read_text())
        runs: dict[str, list[dict[str, str]]] = {}
        for run in data["runs"]:
            runs.setdefault(run["role"], []).append(run)
        yield Server(data["base_url"], data["account_id"], runs,
                     tokens[data["token_env"]], tokens[data["foreign_token_env"]])


# --- small client steps -----------------------------------------------------------------------


def get(c: httpx.Client, s: Server, run: dict[str, str], **ids: str) -> httpx.Response:
    return c.get(s.url(run, **ids), headers=s.headers())


def write(c: httpx.Client, s: Server, run: dict[str, str], action: str, tag: str,
          method: str = "POST") -> httpx.Response:
    return c.request(method, s.url(run, action), headers=s.headers(If_Match=tag))


def tag_of(c: httpx.Client, s: Server, run: dict[str, str]) -> str:
    r = get(c, s, run)
    assert r.status_code == 200, r.text
    return r.headers["etag"]


def trace_id(r: httpx.Response) -> str:
    return r.headers["traceparent"].split("-")[1]


# --- scenarios: each returns True when the server misbehaved ----------------------------------


def etag_from_get_after_write_refused(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    tag = tag_of(c, s, run)
    assert write(c, s, run, "resume", tag).status_code == 204
    return write(c, s, run, "pause", tag_of(c, s, run)).status_code == 412


def etag_of_last_write_refused(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    first = write(c, s, run, "resume", tag_of(c, s, run))
    assert first.status_code == 204
    return write(c, s, run, "pause", first.headers["etag"]).status_code == 412


def stale_retry_succeeds(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    tag = tag_of(c, s, run)
    resumed = write(c, s, run, "resume", tag)
    assert resumed.status_code == 204
    assert write(c, s, run, "pause", resumed.headers["etag"]).status_code == 204
    again = write(c, s, run, "resume", tag)  # stale now: the run was paused since
    return again.status_code < 300 or get(c, s, run).json()["status"].lower() != "paused"


def get_on_action_path_pauses(c: httpx.Client, s: Server) -> bool:
    run = s.run("live")
    r = write(c, s, run, "pause", tag_of(c, s, run), method="GET")
    return r.status_code < 300 or get(c, s, run).json()["status"].lower() != "live"


def no_content_has_content_length(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    r = write(c, s, run, "resume", tag_of(c, s, run))
    assert r.status_code == 204
    return "content-length" in r.headers


def malformed_id_error_lacks_object(c: httpx.Client, s: Server) -> bool:
    r = get(c, s, s.run("resumable"), project="not-a-ulid")
    assert r.status_code in (400, 404)
    return "object" not in r.json() or "detail" not in r.json()


def concurrent_pause_and_complete_both_succeed(c: httpx.Client, s: Server) -> bool:
    run = s.run("live")
    tag = tag_of(c, s, run)

    async def both() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as ac:
            answers = await asyncio.gather(
                *(ac.post(s.url(run, action), headers=s.headers(If_Match=tag))
                  for action in ("pause", "complete")))
        return [r.status_code for r in answers]

    statuses = asyncio.run(both())
    assert all(status in (204, 412, 422) for status in statuses), statuses
    return statuses == [204, 204]


def last_changed_at_stays(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    before = get(c, s, run)
    assert write(c, s, run, "resume", before.headers["etag"]).status_code == 204
    after = get(c, s, run).json()
    assert after["version"] > before.json()["version"]
    return after["last_changed_at"] == before.json()["last_changed_at"]


def last_changed_at_not_utc(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    assert write(c, s, run, "resume", tag_of(c, s, run)).status_code == 204
    return not RFC3339_UTC.fullmatch(get(c, s, run).json()["last_changed_at"])


def served_under_another_project(c: httpx.Client, s: Server) -> bool:
    return get(c, s, s.run("resumable"), project=new_ulid()).status_code < 300


def served_under_another_account(c: httpx.Client, s: Server) -> bool:
    return get(c, s, s.run("resumable"), account="999").status_code < 300


def lower_case_bearer_refused(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    return c.get(s.url(run), headers=s.headers(auth=f"bearer {s.token}")).status_code == 401


def write_has_two_etags(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    r = write(c, s, run, "resume", tag_of(c, s, run))
    assert r.status_code == 204
    return len(r.headers.get_list("etag")) != 1


def missing_token_served_on_reused_connection(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    assert get(c, s, run).status_code == 200
    return c.get(s.url(run), headers=s.headers(auth=None)).status_code != 401


def second_trace_not_continued(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    ids = [secrets.token_hex(16) for _ in range(2)]
    answers = [c.get(s.url(run), headers=s.headers(traceparent=f"00-{i}-{secrets.token_hex(8)}-01"))
               for i in ids]
    return [trace_id(r) for r in answers] != ids


def first_429(c: httpx.Client, s: Server) -> httpx.Response:
    for _ in range(20):
        r = get(c, s, s.run("resumable"))
        if r.status_code == 429:
            return r
    raise AssertionError("no 429 within 20 requests")


def retry_after_not_seconds(c: httpx.Client, s: Server) -> bool:
    return not re.fullmatch(r"[0-9]+", first_429(c, s).headers.get("retry-after", ""))


def rate_limit_body_not_documented(c: httpx.Client, s: Server) -> bool:
    body = first_429(c, s).json()
    return body.get("object") != "too_many_requests_problem_details" or "details" not in body


def non_digit_account_served(c: httpx.Client, s: Server) -> bool:
    assert s.account_id == "101"
    run = s.run("resumable")
    return any(get(c, s, run, account=a).status_code < 300 for a in ("+101", "1_01"))


def similar_run_id_served(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    rid = run["fielding_run_id"]
    other = rid[:-1] + ("0" if rid[-1] != "0" else "1")  # another ULID, same first 25 characters
    return get(c, s, run, run_id=other).status_code < 300


def error_not_plain_json(c: httpx.Client, s: Server) -> bool:
    r = get(c, s, s.run("resumable"), run_id=new_ulid())
    assert r.status_code == 404
    return r.headers["content-type"].split(";")[0].strip() != "application/json"


def invalid_params_not_a_list(c: httpx.Client, s: Server) -> bool:
    body = get(c, s, s.run("resumable"), project="not-a-ulid").json()
    params = body.get("invalid_params")
    return not (params is None or (isinstance(params, list)
                                   and all({"name", "reason"} <= set(p) for p in params)))


def invalid_traceparent_continued(c: httpx.Client, s: Server) -> bool:
    run = s.run("resumable")
    zero = c.get(s.url(run), headers=s.headers(traceparent=f"00-{'0' * 32}-{'1' * 16}-01"))
    upper = c.get(s.url(run), headers=s.headers(traceparent=f"00-{'AB' * 16}-{'1' * 16}-01"))
    answers = [zero.headers["traceparent"], upper.headers["traceparent"]]
    return any(not TRACEPARENT.fullmatch(tp) or tp.split("-")[1] == "0" * 32 for tp in answers)


def tracestate_not_members(c: httpx.Client, s: Server) -> bool:
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    r = c.get(s.url(s.run("resumable")),
              headers=s.headers(traceparent=traceparent, tracestate="not a member"))
    return any("=" not in member for member in r.headers["tracestate"].split(","))


# fault -> (scenario, extra server arguments)
SCENARIOS: dict[str, tuple[Callable[[httpx.Client, Server], bool], tuple[str, ...]]] = {
    "get_etag_cached": (etag_from_get_after_write_refused, ()),
    "if_match_checked_on_replica": (etag_of_last_write_refused, ("--stale-read-ms", "3000")),
    "write_retry_replayed": (stale_retry_succeeds, ()),
    "action_route_any_method": (get_on_action_path_pauses, ()),
    "content_length_on_204": (no_content_has_content_length, ()),
    "unmatched_route_framework_404": (malformed_id_error_lacks_object, ()),
    "lock_per_action": (concurrent_pause_and_complete_both_succeed, ("--race-window-ms", "300")),
    "last_changed_at_frozen": (last_changed_at_stays, ()),
    "last_changed_at_naive": (last_changed_at_not_utc, ()),
    "run_lookup_ignores_parents": (served_under_another_project, ()),
    "account_from_token": (served_under_another_account, ()),
    "bearer_scheme_case_sensitive": (lower_case_bearer_refused, ()),
    "etag_header_duplicated": (write_has_two_etags, ()),
    "auth_sticky_on_connection": (missing_token_served_on_reused_connection, ()),
    "trace_id_sticky_on_connection": (second_trace_not_continued, ()),
    "retry_after_fractional": (retry_after_not_seconds,
                               ("--rate-limit-burst", "2", "--rate-limit-refill", "0.5")),
    "rate_limit_generic_error_body": (rate_limit_body_not_documented,
                                      ("--rate-limit-burst", "2", "--rate-limit-refill", "0.5")),
    "account_id_python_int": (non_digit_account_served, ()),
    "run_id_compared_truncated": (similar_run_id_served, ()),
    "errors_problem_json": (error_not_plain_json, ()),
    "invalid_params_as_map": (invalid_params_not_a_list, ()),
    "traceparent_invalid_continued": (invalid_traceparent_continued, ()),
    "tracestate_copied_verbatim": (tracestate_not_members, ()),
}


def observe(tmp_path: Path, fault_name: str, with_fault: bool, answers: str) -> bool:
    scenario, extra = SCENARIOS[fault_name]
    args = ["--answers", answers, *extra]
    if with_fault:
        args += ["--fault", fault_name]
    with started(tmp_path, *args) as server, httpx.Client(timeout=10) as client:
        return scenario(client, server)


@pytest.mark.parametrize("answers", ["other", "likely"])
@pytest.mark.parametrize("fault_name", sorted(SCENARIOS))
def test_correct_server_passes_the_scenario(tmp_path: Path, fault_name: str, answers: str) -> None:
    assert observe(tmp_path, fault_name, with_fault=False, answers=answers) is False


@pytest.mark.parametrize("answers", ["other", "likely"])
@pytest.mark.parametrize("fault_name", sorted(SCENARIOS))
def test_fault_misbehaves(tmp_path: Path, fault_name: str, answers: str) -> None:
    assert observe(tmp_path, fault_name, with_fault=True, answers=answers) is True


def test_every_scenario_names_a_fault_of_the_server() -> None:
    server = Path(__file__).resolve().parent / "docs_server.py"
    listing = subprocess.run([sys.executable, str(server), "--fault", "list"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    assert set(SCENARIOS) <= {line.split()[0] for line in listing.splitlines() if line.strip()}
