"""Issue 24, part 5 ("safe by default"), the session's side of the resources besides fielding
runs: which kinds a session judges (`--resources`, the target file's [[resources]]), the bad
inputs refused before any request, and every judged resource put back on every way out (and
what a test created and did not delete, deleted).

The restore is judged here against a small stateful fake of the document's resources (an
httpx transport: the real ApiClient, the real restore); the end-to-end tests at the bottom run
`fieldproof run` against a seeded sandbox standing in for staging.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import faulty_target, fieldproof_run, sent_by_route, staging

from fieldproof import cli
from fieldproof.client.limits import Budget
from fieldproof.client.recording import ApiClient
from fieldproof.document import ContractDocument
from fieldproof.errors import ExitCode, TargetError, UsageError
from fieldproof.records import CreatedRecord, DeletedRecord, from_line, left_created, to_line
from fieldproof.resource_restore import (
    Kept,
    ResourceRestoration,
    created_ref,
    delete_created,
    judged_kinds,
    put_of,
    restore_resource,
    validate_target_resources,
)
from fieldproof.resources import judged_resources, look, write_resource
from fieldproof.target import Target, load_target, parse_target

TOKEN = "tok-main-abc123"
RUN = {"role": "resumable", "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "R1"}
WEBHOOK = {"kind": "webhooks", "webhook_id": "01JD0000000000000000000WH1"}
TEMPLATE = {"kind": "allocation-templates", "template_id": "01JD0000000000000000000AT1"}
PROJECT = {"kind": "projects", "project_id": "0" * 26}
BASE = "https://staging.example.com/v1"


def target(**changes: Any) -> Target:
    table: dict[str, Any] = {"base_url": BASE, "api_version": "2025-12-18", "account_id": "101",
                             "token_env": "FIELDPROOF_TOKEN", "runs": [dict(RUN)], **changes}
    return parse_target(table, {"FIELDPROOF_TOKEN": TOKEN}, source="staging.toml")


@pytest.fixture(scope="module")
def document() -> ContractDocument:
    return ContractDocument.load()


# --- which kinds a session judges ---------------------------------------------------------------


def test_the_default_sandbox_session_judges_no_resource_besides_fielding_runs(document: ContractDocument) -> None:
    seeded = target(resources=[WEBHOOK, TEMPLATE, PROJECT])
    validate_target_resources(document, target(resources=[{"kind": "surveys", "survey_id": "S"}]), only=())
    assert judged_kinds(document, seeded, None, sandbox=True) == ()
    assert judged_kinds(document, seeded, ("webhooks",), sandbox=True) == ("webhooks",)
    assert judged_kinds(document, seeded, ("all",), sandbox=True) == ("fielding-runs", "webhooks", "allocation-templates", "projects")
    # the fielding run's writes besides pause, resume and complete: only when named (or all)
    assert judged_kinds(document, seeded, ("fielding-runs",), sandbox=True) == ("fielding-runs",)


def test_a_target_file_judges_the_kinds_it_lists_and_the_flag_narrows_them(document: ContractDocument) -> None:
    listed = target(resources=[WEBHOOK, TEMPLATE])
    assert judged_kinds(document, listed, None, sandbox=False) == ("webhooks", "allocation-templates")
    assert judged_kinds(document, listed, ("all",), sandbox=False) == ("fielding-runs", "webhooks", "allocation-templates")
    assert judged_kinds(document, listed, ("allocation-templates",), sandbox=False) == ("allocation-templates",)
    # pause, resume and complete are always judged; naming fielding-runs adds the run's other writes
    assert judged_kinds(document, listed, ("fielding-runs",), sandbox=False) == ("fielding-runs",)
    assert judged_kinds(document, target(), None, sandbox=False) == ()


def test_the_judged_resources_are_the_listed_ones_of_the_judged_kinds(document: ContractDocument) -> None:
    listed = target(resources=[WEBHOOK, TEMPLATE])
    judged = judged_resources(document, listed, ("webhooks",))
    assert [j.label for j in judged] == ["webhooks webhook_id=01JD0000000000000000000WH1"]
    assert judged[0].url(BASE, judged[0].kind.read) == BASE + "/accounts/101/webhooks/01JD0000000000000000000WH1"


def _one_line(error: pytest.ExceptionInfo[Exception]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_an_unknown_kind_names_the_kinds_the_document_has(document: ContractDocument) -> None:
    with pytest.raises(UsageError) as error:
        judged_kinds(document, target(resources=[WEBHOOK]), ("webhook",), sandbox=False)
    message = _one_line(error)
    assert "--resources: unknown resource kind 'webhook'" in message and "webhooks" in message and "projects" in message


def test_a_kind_the_target_file_lists_none_of_is_refused(document: ContractDocument) -> None:
    with pytest.raises(TargetError) as error:
        judged_kinds(document, target(resources=[WEBHOOK]), ("projects",), sandbox=False)
    assert "--resources names 'projects', but target file staging.toml lists no [[resources]] of that kind" in _one_line(error)
    assert "choose from fielding-runs, webhooks" in str(error.value)


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"resources": [{"kind": "webhooks"}]}, "[[resources]] entry 1 (webhooks) lacks webhook_id, a path parameter of "
                                                "GET /accounts/{account_id}/webhooks/{webhook_id}"),
        ({"resources": [{"kind": "fielding-assistant-assignment", "project_id": "P"}]},
         "lacks target_group_id, a path parameter of GET /demand/accounts/{account_id}/projects/{project_id}/target-groups/"),
        ({"resources": [{"kind": "surveys", "survey_id": "S1"}]}, "kind 'surveys' is no resource kind to list here; the "
                                                                   "contract document fielding-runs.openapi.yaml has"),
        ({"resources": [{"kind": "fielding-runs", "fielding_run_id": "R"}]}, "fielding runs are listed as [[runs]] by role"),
        ({"create_delete": ["surveys"]}, "create_delete names 'surveys', which is no resource kind"),
        ({"create_delete": ["projects"]}, "create_delete names 'projects', but the contract document fielding-runs.openapi.yaml "
                                          "has no create (POST on its collection) nor DELETE for it; remove it"),
    ],
    ids=["missing-id", "missing-second-id", "unknown-kind", "fielding-runs-listed", "create-unknown", "create-not-creatable"],
)
def test_a_target_file_the_document_cannot_serve_is_one_line(document: ContractDocument, changes: dict[str, Any], says: str) -> None:
    with pytest.raises(TargetError) as error:
        validate_target_resources(document, target(**changes))
    assert says in _one_line(error)


def test_a_target_file_the_document_serves_is_accepted(document: ContractDocument) -> None:
    validate_target_resources(document, target(resources=[WEBHOOK, TEMPLATE, PROJECT], create_delete=["webhooks"]))


# --- through the command: one line, exit 2, before any request -------------------------------------


def _target_file(path: Path, resources: list[dict[str, str]], create_delete: list[str] | None = None) -> Path:
    lines = ['base_url = "http://127.0.0.1:9/v1"', 'api_version = "2025-12-18"', 'account_id = "101"',
             'token_env = "FIELDPROOF_TOKEN"', "timeout_s = 2"]
    if create_delete is not None:
        lines.append(f"create_delete = {json.dumps(create_delete)}")
    lines += ["", "[[runs]]", *(f"{key} = {json.dumps(value)}" for key, value in RUN.items())]
    for entry in resources:
        lines += ["", "[[resources]]", *(f"{key} = {json.dumps(value)}" for key, value in entry.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    "resources, create_delete, flag, says",
    [
        ([WEBHOOK], None, ["--resources", "hooks"], "--resources: unknown resource kind 'hooks'; the contract document"),
        ([WEBHOOK], None, ["--resources", ""], "argument --resources: names no resource kind; give one or more of fielding-runs, projects"),
        ([WEBHOOK], None, ["--resources", "projects"], "--resources names 'projects', but target file"),
        ([{"kind": "webhooks"}], None, [], "lacks webhook_id, a path parameter of GET /accounts/{account_id}/webhooks/{webhook_id}"),
        ([{"kind": "surveys", "survey_id": "S"}], None, [], "kind 'surveys' is no resource kind to list here"),
        ([WEBHOOK], ["projects"], [], "create_delete names 'projects', but the contract document"),
    ],
    ids=["unknown-kind", "empty-flag", "unlisted-kind", "missing-id", "kind-not-in-document", "create-without-create"],
)
def test_a_bad_resource_input_is_one_line_and_exit_2_before_any_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        resources: list[dict[str, str]], create_delete: list[str] | None, flag: list[str], says: str) -> None:
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FIELDPROOF_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    path = _target_file(tmp_path / "target.toml", resources, create_delete)
    # nothing listens on port 9: a check let through would end in exit 3, not 2
    code = _main(["run", "--target", str(path), "--profile", "quick", *flag])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err and TOKEN not in err, err


# --- the restore, against a stateful fake of the document's resources ------------------------------


class FakeResources:
    """Every resource kind of our document at one id each, versioned: a GET shows the body and
    ETag; a PUT with the current tag replaces the writable fields and bumps the version, another
    tag gets 412; a DELETE with the current tag deletes. `refuse_puts`: every PUT answers 500."""

    def __init__(self, document: ContractDocument, refuse_puts: bool = False) -> None:
        self.kinds = document.kinds
        self.refuse_puts = refuse_puts
        self.state: dict[str, tuple[int, dict[str, Any]]] = {}  # path -> (version, body)
        self.sent: list[tuple[str, str]] = []

    def put(self, path: str, body: dict[str, Any]) -> None:
        self.state[path] = (1, dict(body))

    def etag(self, path: str) -> str:
        return f'"v{self.state[path][0]}"'

    def handle(self, request: httpx.Request) -> httpx.Response:
        answer = self._answer(request)  # streamed, as a server's answer is: the client reads it as it arrives
        return httpx.Response(answer.status_code, headers=answer.headers, stream=httpx.ByteStream(answer.content))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        self.sent.append((request.method, path))
        if path not in self.state:
            return httpx.Response(404, json={"detail": "not found"})
        version, body = self.state[path]
        if request.method == "GET":
            return httpx.Response(200, json=body, headers={"ETag": self.etag(path)})
        if request.headers.get("if-match") != self.etag(path):
            return httpx.Response(412, json={"detail": "stale"})
        if request.method == "DELETE":
            del self.state[path]
            return httpx.Response(204)
        if self.refuse_puts:
            return httpx.Response(500, json={"detail": "broken"})
        self.state[path] = (version + 1, {**body, **json.loads(request.content)})
        return httpx.Response(204, headers={"ETag": self.etag(path)})


def _client(fake: FakeResources, limit: int = 100) -> ApiClient:
    return ApiClient(target(), budget=Budget(limit), transport=httpx.MockTransport(fake.handle))


def _path(judged: Any) -> str:
    return judged.url("", judged.kind.read)


def _all_kinds(document: ContractDocument) -> list[dict[str, str]]:
    """One entry of each kind besides fielding runs, its ids from its path parameters."""
    entries = []
    for name, kind in document.kinds.items():
        if name != "fielding-runs":
            ids = {p: f"{p.upper()}1" for p in {p for w in kind.writes for p in w.write.path_parameters} | set(kind.path_parameters)}
            ids.pop("account_id")
            entries.append({"kind": name, **ids})
    return entries


def test_every_kind_changed_by_a_test_is_put_back_as_the_first_read_showed_it(document: ContractDocument) -> None:
    listed = target(resources=_all_kinds(document))
    judged = judged_resources(document, listed, tuple(document.kinds))
    assert len(judged) == 5
    fake = FakeResources(document)
    fields = {each.label: list((put_of(each.kind).write.request_schema or {})["properties"]) for each in judged}  # type: ignore[union-attr]
    for each in judged:
        fake.put(_path(each), {"id": "x", "created_at": "the server's", **{name: f"before {name}" for name in fields[each.label]}})
    with _client(fake) as client:
        kept = [Kept(each, look(client, each, record=False)) for each in judged]
        for each in judged:  # what a test does: a write with the current tag
            version, body = fake.state[_path(each)]
            fake.state[_path(each)] = (version + 1, {**body, **{name: f"after {name}" for name in fields[each.label]}})
        results = {each.judged.label: restore_resource(client, each) for each in kept}
    for each in judged:
        version, body = fake.state[_path(each)]
        assert body == {"id": "x", "created_at": "the server's", **{name: f"before {name}" for name in fields[each.label]}}
        assert version == 3, each.label
    for label, result in results.items():
        assert result.ok and result.note and "put back as it was" in result.note, (label, result)
    # the write back sends the fields the PUT's schema names only (the server keeps the others)
    puts = [method for method, _ in fake.sent if method == "PUT"]
    assert len(puts) == 5


def test_a_resource_no_test_changed_costs_one_read_and_no_write(document: ContractDocument) -> None:
    judged = judged_resources(document, target(resources=[WEBHOOK]), ("webhooks",))[0]
    fake = FakeResources(document)
    fake.put(_path(judged), {"url": "https://hooks.example.com/a", "events": ["fielding_run.status_changed"]})
    with _client(fake) as client:
        kept = Kept(judged, look(client, judged, record=False))
        fake.sent.clear()
        assert restore_resource(client, kept) == ResourceRestoration(True)
    assert fake.sent == [("GET", _path(judged))]


def test_a_change_that_kept_the_etag_is_still_put_back(document: ContractDocument) -> None:
    """A target whose write changes the representation without a new ETag (resource_etag_unchanged):
    the restore compares the fields too, not only the tag."""
    judged = judged_resources(document, target(resources=[WEBHOOK]), ("webhooks",))[0]
    fake = FakeResources(document)
    fake.put(_path(judged), {"url": "https://hooks.example.com/a", "events": ["fielding_run.status_changed"]})
    with _client(fake) as client:
        kept = Kept(judged, look(client, judged, record=False))
        fake.state[_path(judged)] = (1, {"url": "https://hooks.example.com/b", "events": ["project.status_changed"]})
        assert restore_resource(client, kept).ok
    assert fake.state[_path(judged)][1] == {"url": "https://hooks.example.com/a", "events": ["fielding_run.status_changed"]}


@pytest.mark.parametrize(
    "break_it, says",
    [
        (lambda fake, path: fake.state.update({path: (2, {"url": "https://x.example/changed"})}) or setattr(fake, "refuse_puts", True),
         "the target refused to put webhooks webhook_id=01JD0000000000000000000WH1 back with its current ETag (answered 500)"),
        (lambda fake, path: fake.state.pop(path), "is gone (GET answered 404)"),
    ],
    ids=["refused", "gone"],
)
def test_a_resource_that_could_not_be_put_back_says_how_to_do_it_by_hand(
        document: ContractDocument, break_it: Callable[[FakeResources, str], None], says: str) -> None:
    judged = judged_resources(document, target(resources=[WEBHOOK]), ("webhooks",))[0]
    fake = FakeResources(document)
    fake.put(_path(judged), {"url": "https://hooks.example.com/a", "events": ["fielding_run.status_changed"], "id": "W"})
    with _client(fake) as client:
        kept = Kept(judged, look(client, judged, record=False))
        break_it(fake, _path(judged))
        result = restore_resource(client, kept)
    assert not result.ok and result.note is not None and says in result.note
    assert ('put it back by hand: PUT https://staging.example.com/v1/accounts/101/webhooks/01JD0000000000000000000WH1 with a '
            'current If-Match and {"events":["fielding_run.status_changed"],"url":"https://hooks.example.com/a"}') in result.note


def test_a_created_resource_a_test_left_is_deleted_and_one_it_deleted_is_not_touched(document: ContractDocument) -> None:
    records = [CreatedRecord("webhooks", {"webhook_id": "NEW1"}, "t1"), CreatedRecord("webhooks", {"webhook_id": "NEW2"}, "t2"),
               DeletedRecord("webhooks", {"webhook_id": "NEW2"}, "t2")]
    records = [from_line(to_line(record)) for record in records]  # as the session reads them back
    left = left_created(records)  # type: ignore[arg-type]
    assert [record.ids for record in left] == [{"webhook_id": "NEW1"}]
    fake = FakeResources(document)
    judged = judged_resources(document, target(resources=[WEBHOOK]), ("webhooks",))[0]
    made = type(judged)(judged.kind, created_ref("webhooks", "101", left[0].ids))
    fake.put(_path(made), {"url": "https://hooks.example.com/new"})
    with _client(fake) as client:
        result = delete_created(client, made)
        assert result.ok and result.note and "was deleted" in result.note
        assert delete_created(client, made) == ResourceRestoration(True)  # already gone: nothing to do
    assert _path(made) not in fake.state


# --- end to end: a session on a seeded sandbox standing in for staging -----------------------------


def _resource_routes(by_route: dict[str, int]) -> dict[str, int]:
    """The requests the sandbox counted to anything but fielding runs and their actions."""
    return {route: count for route, count in by_route.items() if not route.split(" ", 1)[1].startswith("run")}


def test_a_session_that_lists_no_resource_sends_nothing_but_fielding_run_operations(tmp_path: Path) -> None:
    """Safe by default: with no [[resources]] judged (the built-in sandbox's default; a target
    file that lists none), every request goes to a fielding run."""
    with staging(tmp_path) as (sandbox, target_path, env):  # its target file lists runs only
        assert "[[resources]]" not in target_path.read_text()
        result = fieldproof_run(tmp_path, "--target", str(target_path), "--profile", "quick", "--suites", "first_pass", env=env)
        assert result.returncode in (ExitCode.OK, ExitCode.FINDING), result.stdout[-2000:] + result.stderr
        by_route = sent_by_route(sandbox)
    assert sum(by_route.values()) > 0
    assert _resource_routes(by_route) == {}, by_route


def _listing(text: str, resources: list[dict[str, str]], create_delete: list[str]) -> str:
    """A target file's text with these [[resources]] and create_delete instead of its own."""
    head = "\n".join(line for line in text.split("[[resources]]", 1)[0].splitlines() if not line.startswith("create_delete"))
    head = head.replace("token_env =", f"create_delete = {json.dumps(create_delete)}\ntoken_env =", 1)
    return head + "".join("\n[[resources]]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in entry.items())
                          for entry in resources)


def test_a_target_file_session_sends_nothing_to_a_kind_it_does_not_list(tmp_path: Path) -> None:
    """Every request the session sent (seen by a proxy in front of the target) goes to a
    fielding run or to a listed resource; none to another kind, and neither a DELETE nor a create
    of a kind create_delete does not name."""
    with staging(tmp_path, resources=True) as staged:
        sandbox, target_path, env = staged
        with faulty_target(tmp_path, staged) as (proxied_target, root):
            proxied_target.write_text(_listing(proxied_target.read_text(), [WEBHOOK, TEMPLATE], []))
            result = fieldproof_run(tmp_path, "--target", str(proxied_target), "--profile", "quick", env=env)
            assert result.returncode in (ExitCode.OK, ExitCode.FINDING), result.stdout[-2000:] + result.stderr
            sent: dict[str, int] = httpx.get(root + "/healthz", timeout=5).json()["by_request"]
    listed = ("/v1/accounts/101/webhooks/" + WEBHOOK["webhook_id"], "/v1/demand/accounts/101/allocation-templates/"
              + TEMPLATE["template_id"])
    elsewhere = {request: n for request, n in sent.items() if "/fielding-runs/" not in request
                 and request.split(" ", 1)[1] not in listed}
    assert sum(sent.values()) > 0 and not elsewhere, elsewhere
    assert not [request for request in sent if request.startswith(("DELETE ", "POST /v1/accounts/101/webhooks "))]
    # the listed ones were judged: read before the suites (and again at the end)
    assert all(sent.get(f"GET {path}", 0) >= 2 for path in listed), sent


# what a test might write to each kind: every kind's writable fields changed
CHANGES: dict[str, dict[str, Any]] = {
    "projects": {"name": "changed by a test"},
    "webhooks": {"url": "https://hooks.example.com/changed"},
    "allocation-templates": {"name": "changed by a test"},
    "allocation-template-association": {"template_id": "01JD0000000000000000000AT9"},
    "fielding-assistant-assignment": {"quota_balancing": {"enabled": False}},
}


def _writable(client: ApiClient, judged: Any) -> tuple[str | None, dict[str, Any]]:
    seen = look(client, judged, record=False)
    assert seen.status_code == 200, (judged.label, seen)
    return seen.etag, seen.writable(put_of(judged.kind).write.request_schema)  # type: ignore[union-attr]


def test_sigterm_mid_session_puts_every_resource_kind_back(tmp_path: Path) -> None:
    """Every kind judged (--resources all on a target file that lists one of each), each changed
    after the session's first read of it, then SIGTERM: each resource's writable fields are the
    seed's again. What changed them does not matter to the restore (here the test itself, so that
    a write to every kind is certain at a state the test can see)."""
    with staging(tmp_path, "--latency-ms", "5", resources=True) as (sandbox, target_path, env):
        document = ContractDocument.load()
        listed = load_target(target_path, env)
        judged = judged_resources(document, listed, tuple(CHANGES))
        assert sorted(each.kind.name for each in judged) == sorted(CHANGES), "the seed lists one resource of each kind"
        with ApiClient(listed, budget=Budget(100)) as client:
            seed = {each.label: _writable(client, each) for each in judged}
        elsewhere = sent_by_route(sandbox).get("GET elsewhere", 0)
        full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}, **env,
                    "FIELDPROOF_STATE_DIR": str(tmp_path / "state")}
        process = subprocess.Popen(
            [sys.executable, "-m", "fieldproof", "run", "--target", str(target_path), "--reports", str(tmp_path / "r"),
             "--resources", "all", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
        try:
            # the session reads every judged resource before its suites start: once the sandbox
            # has served those reads, whatever changes a resource is for the restore to undo
            deadline = time.monotonic() + 120  # guards a hang only
            while sent_by_route(sandbox).get("GET elsewhere", 0) < elsewhere + len(judged):
                assert process.poll() is None, "the session ended before reading the resources"
                assert time.monotonic() < deadline, "the resources were not read within 120 s"
                time.sleep(0.02)
            with ApiClient(listed, budget=Budget(100)) as client:
                for each in judged:
                    etag, fields = _writable(client, each)
                    put = put_of(each.kind)
                    assert put is not None
                    written = write_resource(client, each, put, etag, {**fields, **CHANGES[each.kind.name]}, record=False)
                    assert 200 <= written.status < 300, (each.label, written.status)
                    assert _writable(client, each)[1] != seed[each.label][1]
            assert process.poll() is None, "the session ended before it could be stopped"
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == ExitCode.TERMINATED, output[-3000:]
        with ApiClient(listed, budget=Budget(100)) as client:
            after = {each.label: _writable(client, each)[1] for each in judged}
    assert after == {label: fields for label, (_, fields) in seed.items()}
    assert "Traceback" not in output and env["FIELDPROOF_TOKEN"] not in output
    notes = json.loads((tmp_path / "r" / "summary.json").read_text())["notes"]
    assert sum("put back as it was" in note for note in notes) == len(judged), notes


def test_sigterm_once_the_locking_suite_has_written_puts_every_resource_kind_back(tmp_path: Path) -> None:
    """The session's own writes (the locking suite, every kind judged), stopped by SIGTERM once
    one of them took effect (a resource's ETag moved from the seed's: a version only grows, so
    the moment cannot be missed): every resource's writable fields are the seed's again."""
    with staging(tmp_path, "--latency-ms", "5", resources=True) as (sandbox, target_path, env):
        listed = load_target(target_path, env)
        judged = judged_resources(ContractDocument.load(), listed, tuple(CHANGES))
        with ApiClient(listed, budget=Budget(10_000)) as client:
            seed = {each.label: _writable(client, each) for each in judged}
            full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_")}, **env,
                        "FIELDPROOF_STATE_DIR": str(tmp_path / "state")}
            process = subprocess.Popen(
                [sys.executable, "-m", "fieldproof", "run", "--target", str(target_path), "--reports", str(tmp_path / "r"),
                 "--resources", "all", "--suites", "locking", "--quiet"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
            try:
                deadline = time.monotonic() + 120  # guards a hang only
                while all(look(client, each, record=False).etag == seed[each.label][0] for each in judged):
                    assert process.poll() is None, "the session ended before writing a resource"
                    assert time.monotonic() < deadline, "no resource written within 120 s"
                process.send_signal(signal.SIGTERM)
                output, _ = process.communicate(timeout=120)
            finally:
                if process.poll() is None:
                    process.kill()
            assert process.returncode == ExitCode.TERMINATED, output[-3000:]
            after = {each.label: _writable(client, each)[1] for each in judged}
    assert after == {label: fields for label, (_, fields) in seed.items()}
    assert "Traceback" not in output


def test_the_request_budget_keeps_the_resources_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """max_requests must leave room for putting the judged resources back (three requests each),
    as for the runs: checked before any request."""
    monkeypatch.setenv("FIELDPROOF_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FIELDPROOF_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    path = _target_file(tmp_path / "target.toml", [WEBHOOK, TEMPLATE])
    path.write_text(path.read_text().replace("timeout_s = 2", "timeout_s = 2\nmax_requests = 30"))
    assert _main(["run", "--target", str(path), "--resources", "fielding-runs"]) == ExitCode.UNREACHABLE  # the runs alone fit
    capsys.readouterr()
    assert _main(["run", "--target", str(path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "max_requests = 30" in err and "is too small for 1 runs and 2 resources; allow at least 116" in err, err


def test_a_process_keeps_a_reserve_to_delete_what_a_test_created_only_where_it_may_create() -> None:
    from fieldproof.harness import Limits, PartSettings

    listed = target(resources=[WEBHOOK, TEMPLATE], create_delete=["webhooks"])
    reserve = {kinds: Limits.for_part(PartSettings("t.toml", "w", budget=100, resource_kinds=kinds), listed).budget.reserve
               for kinds in ((), ("allocation-templates",), ("webhooks",))}
    assert reserve == {(): 4, ("allocation-templates",): 4, ("webhooks",): 7}
