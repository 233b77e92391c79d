"""The sandbox's whole surface, in process: the Demand API's other resources (every operation
our document tags "Demand resources"), the fielding run's update, launch-now and relaunch, the
resource fault modes, the seed's [[resources]] and the target file it writes."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldproof import contract, surface
from fieldproof.document import read_document
from fieldproof.errors import SeedError
from fieldproof.headers import parse_traceparent
from fieldproof.sandbox.app import LostUpdateWindow, build
from fieldproof.sandbox.auth import issue_token
from fieldproof.sandbox.faults import FAULT_MODES
from fieldproof.sandbox.resources import KINDS
from fieldproof.sandbox.seed import load_seed, write_target
from fieldproof.sandbox.settings import load_settings
from fieldproof.rules.registry import all_rules
from fieldproof.selfcheck import RESOURCE_FAULTS
from fieldproof.target import parse_target

TG = "/demand/accounts/{a}/projects/01JD000000000000000000P101/target-groups/01JD000000000000000000T101"
PATHS = {
    "projects": "/demand/accounts/{a}/projects/01JD000000000000000000P101",
    "webhooks": "/accounts/{a}/webhooks/01JD0000000000000000000WH1",
    "allocation-templates": "/demand/accounts/{a}/allocation-templates/01JD0000000000000000000AT1",
    "allocation-template-association": "/demand/accounts/{a}/allocation-template-association",
    "fielding-assistant-assignment": TG + "/fielding-assistant-assignment",
}
# a body each kind's schema allows, and the field it changes
BODIES = {
    "projects": {"name": "renamed project"},
    "webhooks": {"url": "https://hooks.example.com/renamed"},
    "allocation-templates": {"name": "renamed allocation", "supply_allocations": [{"type": "group"}]},
    "allocation-template-association": {"template_id": "01JD0000000000000000000AT9"},
    "fielding-assistant-assignment": {"pricing": {"type": "rate_card"}},
}
RUN = TG + "/fielding-runs/{run}"


def path(kind: str, account: str = "101") -> str:
    return PATHS[kind].format(a=account)


@dataclass
class Served:
    """The sandbox app in process, seeded with the default seed; every answer is traced."""

    app: Any
    sandbox: Any
    secret: str
    answers: list[httpx.Response] = field(default_factory=list)

    def headers(self, if_match: str | None = None, token: bool = True, account: str = "101", **more: str) -> dict[str, str]:
        found = {"cint-api-version": contract.DEFAULT_API_VERSION, **more}
        if token:
            found["authorization"] = f"Bearer {issue_token(self.secret, account)}"
        if if_match is not None:
            found["if-match"] = if_match
        return found

    async def _send(self, client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        response = await client.request(method, url, headers=headers, content=content)
        parse_traceparent(response.headers["traceparent"])  # on every response, as for runs
        self.answers.append(response)
        return response

    def many(self, requests: list[tuple[str, str, dict[str, str], Any]]) -> list[httpx.Response]:
        """Send these together (one event loop, released at once); answers in order."""

        async def go() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox/v1") as client:
                return list(await asyncio.gather(*(self._send(client, *request) for request in requests)))

        return asyncio.run(go())

    def send(self, method: str, url: str, headers: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
        return self.many([(method, url, self.headers() if headers is None else headers, body)])[0]

    def get(self, url: str) -> httpx.Response:
        return self.send("GET", url)

    def put(self, url: str, if_match: str | None, body: Any) -> httpx.Response:
        return self.send("PUT", url, self.headers(if_match), body)

    def post(self, url: str, if_match: str | None = None, body: Any = None) -> httpx.Response:
        return self.send("POST", url, self.headers(if_match), body)


def serve(tmp_path: Path, **overrides: Any) -> Iterator[Served]:
    settings = load_settings(env={}, overrides={"db": str(tmp_path / "sandbox.db"), "control": True, **overrides})
    sandbox, app = build(settings)
    load_seed().apply(sandbox.store, sandbox.resources)
    try:
        yield Served(app, sandbox, settings.jwt_secret)
    finally:
        sandbox.store.close()
        sandbox.resources.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Any]:
    """Start a sandbox with some settings changed (once per test)."""
    started: list[Iterator[Served]] = []

    def start(**overrides: Any) -> Served:
        started.append(serve(tmp_path, **overrides))
        return next(started[-1])

    yield start
    for one in started:
        next(one, None)


def error_object(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return str(body["object"])


# the table agrees with the document


def test_the_sandbox_serves_every_kind_and_operation_of_the_document_with_its_success() -> None:
    document, text = read_document(contract.CONTRACT_PATH)
    kinds = {name: kind for name, kind in surface.resource_kinds(surface.operations(document, text)).items() if name != "fielding-runs"}
    assert set(kinds) == set(KINDS)
    for name, kind in kinds.items():
        served = KINDS[name]
        assert kind.read.path == served.path and kind.path_parameters == ("account_id", *served.ids), name
        writes = {pair.write.method: pair.write for pair in kind.writes}
        assert set(writes) == {"put", *(("delete",) if served.deletable else ())}, name
        assert writes["put"].successes() == [str(served.write_status)], name
        assert (kind.create is not None) == served.creatable, name


# reads


@pytest.mark.parametrize("kind", list(PATHS))
def test_a_read_is_200_with_the_resource_its_ids_and_a_weak_etag(served: Served, kind: str) -> None:
    response = served.get(path(kind))
    assert response.status_code == 200 and response.headers["ETag"] == 'W/"1"'
    body = response.json()
    assert body["account_id"] == "101"
    for name in KINDS[kind].ids:
        assert body[name] in path(kind)


@pytest.mark.parametrize("kind", list(PATHS))
def test_refusals_of_a_read_are_the_runs_refusals(served: Served, kind: str) -> None:
    assert error_object(served.send("GET", path(kind), served.headers(token=False)), 401) == "authorization_error"
    no_version = served.headers()
    del no_version["cint-api-version"]
    assert error_object(served.send("GET", path(kind), no_version), 403) == "required_header_missing"
    assert error_object(served.get(path(kind, account="202")), 403) == "authorization_error"  # another account's


def test_an_unknown_id_is_404_and_another_accounts_id_under_ours_is_refused(served: Served) -> None:
    assert error_object(served.get("/accounts/101/webhooks/01JD0000000000000000000WH9"), 404) == "not_found_error"
    assert error_object(served.get("/demand/accounts/101/projects/01JD000000000000000000P999"), 404) == "not_found_error"
    assert error_object(served.get("/accounts/101/webhooks/01JD0000000000000000000WH2"), 403) == "authorization_error"


def test_another_accounts_resource_is_404_when_so_configured(serving: Any) -> None:
    served = serving(foreign_account="404")
    assert error_object(served.get(path("webhooks", account="202")), 404) == "not_found_error"
    assert error_object(served.get("/accounts/101/webhooks/01JD0000000000000000000WH2"), 404) == "not_found_error"


# writes


@pytest.mark.parametrize("kind", list(PATHS))
def test_a_write_with_the_current_tag_succeeds_as_documented_with_a_new_etag(served: Served, kind: str) -> None:
    response = served.put(path(kind), 'W/"1"', BODIES[kind])
    assert response.status_code == KINDS[kind].write_status, response.text
    assert response.headers["ETag"] == 'W/"2"'
    after = served.get(path(kind))
    assert after.headers["ETag"] == 'W/"2"'
    assert {name: after.json()[name] for name in BODIES[kind]} == BODIES[kind]
    if KINDS[kind].write_status == 200:
        assert response.json() == after.json()
    else:
        assert response.content == b""


@pytest.mark.parametrize("kind", list(PATHS))
def test_a_stale_or_never_issued_tag_is_412_and_changes_nothing(served: Served, kind: str) -> None:
    before = served.get(path(kind))
    for tag in ('W/"0"', 'W/"2"', 'W/"99"', 'W/"x"'):
        assert error_object(served.put(path(kind), tag, BODIES[kind]), 412) == "precondition_failed_error"
    after = served.get(path(kind))
    assert (after.headers["ETag"], after.json()) == (before.headers["ETag"], before.json())


def test_a_tag_used_once_is_stale_afterwards(served: Served) -> None:
    assert served.put(path("projects"), 'W/"1"', {"name": "first write"}).status_code == 200
    assert served.put(path("projects"), 'W/"1"', {"name": "second write"}).status_code == 412
    assert served.get(path("projects")).json()["name"] == "first write"


def test_a_webhooks_put_merges_the_object_sent_and_a_put_with_required_fields_replaces(served: Served) -> None:
    before = served.get(path("webhooks")).json()
    served.put(path("webhooks"), 'W/"1"', {"url": "https://b.example/hook"})  # "both fields are optional"
    assert served.get(path("webhooks")).json()["events"] == before["events"]
    served.put(path("projects"), 'W/"1"', {"name": "renamed project"})
    assert "project_customer_reference_number" not in served.get(path("projects")).json()
    served.put(path("fielding-assistant-assignment"), 'W/"1"', {"pricing": {"type": "rate_card"}})
    assert "quota_balancing" not in served.get(path("fielding-assistant-assignment")).json()


def test_the_ids_are_read_only(served: Served) -> None:
    response = served.put(path("webhooks"), 'W/"1"', {"id": "X", "webhook_id": "Y", "account_id": "202", "url": "https://a.example"})
    assert response.status_code == 200
    body = served.get(path("webhooks")).json()
    assert (body["id"], body["webhook_id"], body["account_id"], body["url"]) == (
        "01JD0000000000000000000WH1", "01JD0000000000000000000WH1", "101", "https://a.example")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b"", b"\xff"])
def test_a_body_that_is_no_json_object_is_400_and_changes_nothing(served: Served, body: bytes) -> None:
    assert error_object(served.put(path("projects"), 'W/"1"', body), 400) == "bad_request_error"
    assert error_object(served.post("/accounts/101/webhooks", body=body), 400) == "bad_request_error"
    assert served.get(path("projects")).headers["ETag"] == 'W/"1"'


@pytest.mark.parametrize("kind", list(PATHS))
def test_refusals_of_a_write_are_the_runs_refusals(served: Served, kind: str) -> None:
    assert error_object(served.send("PUT", path(kind), served.headers('W/"1"', token=False), BODIES[kind]), 401) == "authorization_error"
    assert error_object(served.send("PUT", path(kind, "202"), served.headers('W/"1"'), BODIES[kind]), 403) == "authorization_error"
    assert error_object(served.put(path(kind), None, BODIES[kind]), 400) == "bad_request_error"  # missing If-Match
    assert error_object(served.put(path(kind), "1", BODIES[kind]), 400) == "bad_request_error"  # malformed
    assert served.get(path(kind)).headers["ETag"] == 'W/"1"'


@pytest.mark.parametrize(("settings", "if_match", "status"), [
    ({"missing_if_match": "428"}, None, 428),
    ({"missing_if_match": "412"}, None, 412),
    ({"malformed_if_match": "412"}, "1", 412),
    ({}, "*", 204),
    ({"if_match_star": "412"}, "*", 412),
    ({"if_match_star": "400"}, "*", 400),
    ({}, 'W/"7", W/"1"', 204),
    ({"if_match_list": "400"}, 'W/"7", W/"1"', 400),
    ({}, '"1"', 204),
    ({"if_match_comparison": "exact"}, '"1"', 412),
])
def test_if_match_is_read_with_the_runs_parser_and_settings(serving: Any, settings: dict[str, str], if_match: str | None,
                                                           status: int) -> None:
    served = serving(**settings)
    response = served.put(path("allocation-templates"), if_match, BODIES["allocation-templates"])
    assert response.status_code == status, response.text
    assert served.get(path("allocation-templates")).headers["ETag"] == ('W/"2"' if status == 204 else 'W/"1"')


def test_a_webhook_is_created_with_a_new_id_and_deleted_with_its_tag(served: Served) -> None:
    created = served.post("/accounts/101/webhooks", body={"url": "https://new.example", "events": ["project.status_changed"]})
    assert created.status_code == 201 and created.headers["ETag"] == 'W/"1"'
    new_id = created.json()["id"]
    assert len(new_id) == 26 and new_id != "01JD0000000000000000000WH1"
    url = f"/accounts/101/webhooks/{new_id}"
    assert served.get(url).json() == created.json()
    assert error_object(served.send("DELETE", url, served.headers('W/"2"')), 412) == "precondition_failed_error"
    assert served.get(url).status_code == 200
    deleted = served.send("DELETE", url, served.headers('W/"1"'))
    assert deleted.status_code == 204 and deleted.content == b"" and "etag" not in deleted.headers
    assert error_object(served.get(url), 404) == "not_found_error"
    assert error_object(served.send("DELETE", url, served.headers('W/"1"')), 404) == "not_found_error"


def test_only_webhooks_are_created_or_deleted(served: Served) -> None:
    assert served.send("DELETE", path("projects"), served.headers('W/"1"')).status_code == 405
    assert served.post("/demand/accounts/101/allocation-templates", body={"name": "x"}).status_code in (404, 405)


# the fielding run's other writes


def run_url(run_id: str) -> str:
    return RUN.format(a="101", run=run_id)


def new_run(served: Served, **spec: Any) -> str:
    ids = {"project_id": "01JD000000000000000000P101", "target_group_id": "01JD000000000000000000T101"}
    response = served.send("POST", "http://sandbox/_control/runs", {}, {**ids, **spec})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_an_update_is_202_with_a_new_etag_and_changes_the_dates(served: Served) -> None:
    run = new_run(served, role="live")
    response = served.put(run_url(run), 'W/"1"', {"end_fielding_at": "2099-01-01T00:00:00Z", "status": "completed"})
    assert response.status_code == 202 and response.headers["ETag"] == 'W/"2"', response.text
    after = served.get(run_url(run)).json()
    assert after["end_fielding_at"] == "2099-01-01T00:00:00.000Z" and after["status"] == "live" and after["version"] == 2


def test_an_update_keeping_the_runs_own_past_start_is_accepted(served: Served) -> None:
    run = new_run(served, role="live")
    start = served.get(run_url(run)).json()["start_fielding_at"]  # a day ago
    assert served.put(run_url(run), 'W/"1"', {"start_fielding_at": start}).status_code == 202


@pytest.mark.parametrize(("role", "body", "status"), [
    ("live", {"start_fielding_at": "2020-01-01T00:00:00Z"}, 400),  # a new start in the past
    ("live", {"start_fielding_at": "2098-01-01T00:00:00Z", "end_fielding_at": "2097-01-01T00:00:00Z"}, 400),  # end before start
    ("live", {"end_fielding_at": "tomorrow"}, 400),
    ("live", [1], 400),
    ("completed", {"end_fielding_at": "2099-01-01T00:00:00Z"}, 422),
])
def test_an_update_refused_changes_nothing(served: Served, role: str, body: Any, status: int) -> None:
    run = new_run(served, role=role)
    before = served.get(run_url(run)).json()
    response = served.put(run_url(run), 'W/"1"', body)
    assert response.status_code == status, response.text
    assert served.get(run_url(run)).json() == before


def test_a_run_write_with_a_stale_tag_is_412(served: Served) -> None:
    run = new_run(served, role="launchable")
    assert served.put(run_url(run), 'W/"2"', {"end_fielding_at": "2099-01-01T00:00:00Z"}).status_code == 412
    assert served.post(run_url(run) + "/launch-now", 'W/"2"').status_code == 412
    assert served.get(run_url(run)).json()["status"] == "scheduled"


def test_launch_now_takes_a_scheduled_run_live_and_answers_the_run(served: Served) -> None:
    run = new_run(served, role="launchable")
    assert served.get(run_url(run)).json()["status"] == "scheduled"
    response = served.post(run_url(run) + "/launch-now", 'W/"1"')
    assert response.status_code == 200 and response.headers["ETag"] == 'W/"2"'
    body = response.json()
    assert body["status"] == "live" and body["version"] == 2 and body["start_fielding_at"] == body["last_changed_at"]
    assert served.get(run_url(run)).json() == body
    assert error_object(served.post(run_url(run) + "/launch-now", 'W/"2"'), 422) == "invalid_state_error"


def test_relaunch_takes_a_completed_run_live_when_its_goal_and_end_date_allow(served: Served) -> None:
    run = new_run(served, role="relaunchable")
    response = served.post(run_url(run) + "/relaunch", 'W/"1"')
    assert response.status_code == 204 and response.headers["ETag"] == 'W/"2"' and response.content == b""
    assert served.get(run_url(run)).json()["status"] == "live"
    assert error_object(served.post(run_url(run) + "/relaunch", 'W/"2"'), 422) == "invalid_state_error"


@pytest.mark.parametrize("spec", [{"status": "completed", "goal_reached": True}, {"status": "completed", "end_date_passed": True}])
def test_relaunch_is_refused_when_the_goal_or_end_date_do_not_allow(served: Served, spec: dict[str, Any]) -> None:
    run = new_run(served, **spec)
    assert error_object(served.post(run_url(run) + "/relaunch", 'W/"1"'), 422) == "invalid_state_error"
    assert served.get(run_url(run)).json()["status"] == "completed"


def test_the_seeded_runs_of_the_new_roles_are_in_their_states(served: Served) -> None:
    assert served.get(run_url("01JD000000000000000000LN01")).json()["status"] == "scheduled"
    assert served.get(run_url("01JD000000000000000000RL01")).json()["status"] == "completed"
    assert served.post(run_url("01JD000000000000000000RL01") + "/relaunch", 'W/"1"').status_code == 204


# the fault modes


def test_the_resource_fault_modes_are_registered_with_the_rule_that_catches_each() -> None:
    names = list(FAULT_MODES)
    assert set(RESOURCE_FAULTS) <= set(names)
    assert all(FAULT_MODES[name].family == "resources" for name in RESOURCE_FAULTS)
    # before the independently written modes (tests/test_adversarial.py reads them from there)
    assert max(names.index(name) for name in RESOURCE_FAULTS) < names.index("error_body_without_detail")
    assert set(RESOURCE_FAULTS.values()) <= set(all_rules())


def test_resource_ignores_if_match_breaks_allocation_templates_only(serving: Any) -> None:
    served = serving(fault="resource_ignores_if_match")
    assert served.put(path("allocation-templates"), 'W/"99"', BODIES["allocation-templates"]).status_code == 204
    assert served.get(path("allocation-templates")).json()["name"] == "renamed allocation"
    assert served.put(path("projects"), 'W/"99"', BODIES["projects"]).status_code == 412


def concurrent_puts(served: Served, writers: int) -> list[int]:
    requests = [("PUT", path("projects"), served.headers('W/"1"'), {"name": f"writer number {i}"}) for i in range(writers)]
    return [response.status_code for response in served.many(requests)]


def test_without_the_fault_one_of_concurrent_writers_with_one_tag_wins(served: Served) -> None:
    statuses = concurrent_puts(served, 6)
    assert sorted(statuses) == [200] + [412] * 5
    assert served.get(path("projects")).headers["ETag"] == 'W/"2"'


def test_resource_lost_update_lets_every_concurrent_writer_with_one_tag_win(serving: Any) -> None:
    served = serving(fault="resource_lost_update", race_window_ms=0)
    assert concurrent_puts(served, 6) == [200] * 6
    # every writer checked version 1 and wrote version 2: five updates lost, one version step
    assert served.get(path("projects")).headers["ETag"] == 'W/"2"'
    assert served.put(path("projects"), 'W/"1"', {"name": "a stale writer"}).status_code == 412  # alone, it is checked


def test_the_lost_update_window_waits_for_every_writer_that_arrived_to_check() -> None:
    """What makes the lost update deterministic: a writer that has checked does not write while
    another PUT of the resource that arrived meanwhile has not checked yet, however slow its
    check (here: fifty turns of the event loop)."""
    order: list[str] = []

    async def scenario() -> None:
        window = LostUpdateWindow(0.0)
        params = {"account_id": "101", "project_id": "01JD000000000000000000P101"}

        async def quick() -> None:
            async with window.entered(KINDS["projects"], params) as slot:
                await slot.wait_for_the_others()
                order.append("quick writes")

        async def slow() -> None:
            async with window.entered(KINDS["projects"], params) as slot:
                for _ in range(50):
                    await asyncio.sleep(0)
                order.append("slow checks")
                slot.checked()

        await asyncio.gather(quick(), slow())

    asyncio.run(scenario())
    assert order == ["slow checks", "quick writes"]


def test_delete_ignores_tag_deletes_whatever_the_tag(serving: Any) -> None:
    served = serving(fault="delete_ignores_tag")
    assert served.send("DELETE", path("webhooks"), served.headers('W/"99"')).status_code == 204
    assert served.get(path("webhooks")).status_code == 404
    assert served.put(path("projects"), 'W/"99"', BODIES["projects"]).status_code == 412


def test_resource_etag_unchanged_changes_the_body_but_not_the_etag(serving: Any) -> None:
    served = serving(fault="resource_etag_unchanged")
    response = served.put(path("allocation-templates"), 'W/"1"', BODIES["allocation-templates"])
    assert response.status_code == 204 and response.headers["ETag"] == 'W/"1"'
    after = served.get(path("allocation-templates"))
    assert after.headers["ETag"] == 'W/"1"' and after.json()["name"] == "renamed allocation"


@pytest.mark.parametrize("fault", list(RESOURCE_FAULTS))
def test_a_resource_fault_leaves_the_fielding_runs_alone(serving: Any, fault: str) -> None:
    served = serving(fault=fault)
    run = new_run(served, role="resumable")
    assert served.post(run_url(run) + "/resume", 'W/"7"').status_code == 412
    resumed = served.post(run_url(run) + "/resume", 'W/"1"')
    assert resumed.status_code == 204 and resumed.headers["ETag"] == 'W/"2"'


# the seed and the target file


def test_the_default_seed_has_one_resource_of_each_kind_in_each_account() -> None:
    seed = load_seed()
    assert sorted(r.kind for r in seed.main_resources()) == sorted(KINDS)
    assert sorted(r.kind for r in seed.resources if r.account == "202") == sorted(KINDS)


@pytest.mark.parametrize(("entry", "message"), [
    ('kind = "gadgets"', "kind must be one of"),
    ('kind = "webhooks"', "webhook_id is missing"),
    ('kind = "webhooks"\nwebhook_id = "W1"\nbody = 3', "body must be a table"),
    ('kind = "webhooks"\nwebhook_id = "W1"\ncolour = "red"', "unknown key(s) colour"),
    ('kind = "webhooks"\nwebhook_id = "W1"\naccount = "nobody"', "account must be"),
    ('kind = "webhooks"\nwebhook_id = "W1"\n[[resources]]\nkind = "webhooks"\nwebhook_id = "W1"', "same ids"),
])
def test_a_broken_resources_entry_is_one_seed_error_line(tmp_path: Path, entry: str, message: str) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(f"[[resources]]\n{entry}\n")
    with pytest.raises(SeedError) as caught:
        load_seed(seed)
    assert message in str(caught.value) and "\n" not in str(caught.value) and "[[resources]] entry" in str(caught.value)


def test_the_written_target_file_lists_the_resources_by_kind_and_what_may_be_created_or_deleted(tmp_path: Path) -> None:
    seed = load_seed()
    target_file = tmp_path / "target.toml"
    write_target(target_file, "http://127.0.0.1:8080/v1", seed, "a-signing-key-long-enough-for-hs256-0123", 60)
    data = tomllib.loads(target_file.read_text())
    assert data["create_delete"] == ["webhooks"]
    assert all("body" not in entry for entry in data["resources"])
    tokens = {"FIELDPROOF_TOKEN": issue_token("k" * 32, "101"), "FIELDPROOF_FOREIGN_TOKEN": issue_token("k" * 32, "202")}
    target = parse_target(data, tokens)
    assert target.create_delete == frozenset({"webhooks"})
    listed = {ref.kind: ref.params() for ref in target.resources}
    assert set(listed) == set(KINDS)
    served_paths = {kind: KINDS[kind].path.format(**params) for kind, params in listed.items()}
    assert served_paths == {kind: path(kind) for kind in KINDS}
