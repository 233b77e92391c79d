"""A finding group's reproduction: text a person pastes into a shell to see the defect again,
with the preconditions it had re-created first.

- one exchange: a curl command; a write sent with the run's current tag first GETs the run and
  takes its ETag, since the run has moved on since the session (a stale or foreign tag is sent
  as it was, and the text says so);
- a race (one_winner_among_concurrent_writes): a stand-alone Python script (httpx) that brings
  the run to where the race started, releases the writes together with one ETag and prints
  their statuses.

On the built-in sandbox the session's port is gone when it ends: the reproduction says how to
start a sandbox like it, and names a run of the same role from the sandbox's default seed when
the session's run was one it created on the way. Secrets never appear: a token is read from
the env var it came from. Inputs are plain: the rule's name, the group's examples as
summary.json holds them (Finding.to_dict()), the concurrency evidence and the target's facts.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fieldproof import contract, rules
from fieldproof.exchange import curl_command
from fieldproof.facts import IfMatch, PathKind
from fieldproof.target import SANDBOX_SOURCE

if TYPE_CHECKING:
    from fieldproof.sandbox.seed import Seed

RACE_RULE = rules.OneWinner.rule
CURL, RACE_SCRIPT = "curl", "race_script"
DEFAULT_RACERS = 8  # when the evidence of a race does not say how many wrote


@dataclass(frozen=True)
class Reproduction:
    """How to see a finding group's defect again: `text` to paste into a shell (CURL) or to save
    and run with Python (RACE_SCRIPT), after what `needs` says."""

    kind: str  # CURL | RACE_SCRIPT
    text: str
    needs: tuple[str, ...]  # what must hold first, in words: an env var, a sandbox to start

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "needs": list(self.needs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reproduction:
        return cls(data["kind"], data["text"], tuple(data["needs"]))


@dataclass(frozen=True)
class Where:
    """The target a session ran against, as summary.json's "target" holds it."""

    base_url: str
    sandbox: Mapping[str, str] | None  # the built-in sandbox's behaviour settings (SandboxSettings.record); None: a target file
    token_env: str = "FIELDPROOF_TOKEN"
    settings_known: bool = True  # False: a summary that does not record the sandbox's settings

    @classmethod
    def from_summary(cls, target: Mapping[str, Any]) -> Where:
        built_in = target.get("source") == SANDBOX_SOURCE
        sandbox = dict(target.get("sandbox") or {}) if built_in else None
        return cls(target["base_url"], sandbox, target.get("token_env") or "FIELDPROOF_TOKEN", "sandbox" in target)


def sandbox_command(flags: Mapping[str, str], port: int | None) -> str:
    """`fieldproof sandbox …` that starts a sandbox with these settings, on `port`."""
    parts = ["fieldproof", "sandbox", *(("--port", str(port)) if port else ())]
    for name, value in flags.items():
        parts += ["--" + name.replace("_", "-"), shlex.quote(value)]
    return " ".join(parts)


def replayable(rule: str) -> bool:
    """Whether `fieldproof replay` can re-run a group of this rule: an exchange rule's, or a race's."""
    return rule == RACE_RULE or rule in rules.EXCHANGE_RULES


def group_id(rule: str, signature: str) -> str:
    """A short name for a finding group (what `fieldproof replay` takes): it depends on the
    rule and signature alone, so it names the same group in every output and session."""
    return hashlib.sha256(f"{rule}\n{signature}".encode()).hexdigest()[:8]


# --- a race --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Race:
    """A round of concurrent writes as the concurrency suite sent it."""

    kinds: tuple[str, ...]  # one write per racer, in order
    start: str  # the run's status the round started from (paused, live)
    role: str  # the role of the run raced

    @property
    def set_up(self) -> str:
        """The write that brings a run to `start`."""
        return "pause" if self.start == "paused" else "resume"


def race_of(example: Mapping[str, Any], evidence: Sequence[Mapping[str, Any]] = ()) -> Race:
    """The round a race finding came from: its kinds and racers from the round's evidence (the
    first violated one, else the first), else the example's write, DEFAULT_RACERS times."""
    exchange = example["exchange"]
    operation = exchange["operation"]
    rounds = [e for e in evidence if e.get("requests")]
    round_ = next((e for e in rounds if e.get("violated")), rounds[0] if rounds else None)
    if round_ is not None:
        labels = [str(request[3]).split() for request in round_["requests"]]
        kinds = tuple(label[-1] if label and label[-1] in contract.WRITES else operation for label in labels)
    else:
        kinds = (operation,) * DEFAULT_RACERS
    start = (round_ or {}).get("run_status") or sorted(contract.TRANSITIONS[operation].sources)[-1]
    role = (exchange.get("facts") or {}).get("role") or ("live" if start == "live" else "resumable")
    return Race(kinds, str(start), str(role))


_RACE_SCRIPT = '''\
"""{title}

Run it with Python and httpx ({token_env} holds the main token): it brings the run to {start},
takes its ETag, releases the writes together with that tag and prints each one's answer. A
correct server lets at most one of them change the run (a 204 with a new ETag; {expected}).
A race depends on timing: a server with a race window may need a few tries.
"""
import os
import threading

import httpx

RUN = {run!r}
KINDS = {kinds!r}
START, SET_UP = {start!r}, {set_up!r}  # the status the race starts from, and the write that gets there
HEADERS = {{"Cint-API-Version": {api_version!r}, "Authorization": "Bearer " + os.environ[{token_env!r}]}}


def look(client):
    answer = client.get(RUN)
    answer.raise_for_status()
    return str(answer.json().get("status", "")).lower(), answer.headers.get("etag")


with httpx.Client(headers=HEADERS, timeout=30) as client:
    status, etag = look(client)
    if status == "completed":
        raise SystemExit("the run is completed: point RUN at another run")
    if status != START:
        client.post(f"{{RUN}}/{{SET_UP}}", headers={{"If-Match": etag}})
        status, etag = look(client)
print(f"the run is {{status}}, ETag {{etag}}; {{len(KINDS)}} writes with that tag, released together:")
racers = [httpx.Client(headers=HEADERS, timeout=30) for _ in KINDS]
for racer in racers:
    racer.get(RUN)  # each connection open before the release
barrier = threading.Barrier(len(KINDS))
answers = [None] * len(KINDS)


def race(n):
    barrier.wait()
    answer = racers[n].post(f"{{RUN}}/{{KINDS[n]}}", headers={{"If-Match": etag}})
    answers[n] = answer.status_code, answer.headers.get("etag")


threads = [threading.Thread(target=race, args=(n,)) for n in range(len(KINDS))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for kind, (status, new_etag) in zip(KINDS, answers):
    print(kind, status, new_etag or "")
changes = sum(status == 204 and new_etag not in (None, etag) for status, new_etag in answers)
print(f"writes that changed the run: {{changes}} ({expected})")
'''


def race_script(example: Mapping[str, Any], race: Race, run_url: str, token_env: str) -> str:
    """A stand-alone Python script that re-runs the race of `example` on the run at `run_url`."""
    exchange = example["exchange"]
    api_version = _header(exchange, "cint-api-version") or contract.DEFAULT_API_VERSION
    kinds = sorted(set(race.kinds), key=race.kinds.index)
    title = f"{len(race.kinds)} concurrent {', '.join(kinds)} with one ETag on a {race.start} run"
    expected = "a correct server: exactly 1" if len(kinds) == 1 else "a correct server: at most 1"
    return _RACE_SCRIPT.format(title=title, run=run_url, kinds=list(race.kinds), start=race.start, set_up=race.set_up,
                               api_version=api_version, token_env=token_env, expected=expected)


# --- one exchange --------------------------------------------------------------------------

# If-Match kinds whose tag was the run's current one: a reproduction takes the run's tag now
_CURRENT_TAG = (IfMatch.CURRENT, IfMatch.RACE, IfMatch.STRONG_SPELLING_OF_CURRENT, IfMatch.LIST_WITH_CURRENT)
_LITERAL_WHY = {
    IfMatch.STALE: "a tag the run had before it changed (stale)",
    IfMatch.OTHER_RUN: "another run's tag",
    IfMatch.NEVER_ISSUED: "a tag the run never had",
    IfMatch.UNKNOWN: "a tag the harness could not place",
    IfMatch.LIST_WITHOUT_CURRENT: "a list of tags that were not the run's current one",
}


def exchange_curl(exchange: Mapping[str, Any], run_url: str | None, token_env: str) -> str:
    """Shell lines that send the request of `exchange` (Exchange.to_dict()) again: a write that
    carried the run's current tag first GETs the run at `run_url` and sends the tag it shows
    (None: the path was not the run's own, the tag is sent as it was)."""
    headers = dict(exchange["request_headers"])
    secret_env = dict(exchange.get("secret_env") or {})
    url = str(exchange["url"])
    kind = _if_match_kind(exchange)
    sent = next((name for name in headers if name.lower() == "if-match"), None)
    lines = []
    if sent is not None and kind in _CURRENT_TAG and run_url is not None:
        lines += ["# the write carried the run's current ETag: take the tag the run has now",
                  "etag=$(" + _look(exchange, run_url, token_env) + " | sed -n 's/^etag: *//Ip' | tr -d '\\r')"]
        before = (exchange.get("before") or {}).get("status")
        if before:
            lines.insert(0, f"# the run was {before} when this was found; a run in another state is judged by other rules")
        lines.append(curl_command(exchange["method"], url, headers, secret_env, {sent: _tag_expansion(kind, headers[sent], exchange)},
                                  body=_body(exchange)))
        return "\n".join(lines)
    if sent is not None and kind in _LITERAL_WHY:
        lines.append(f"# If-Match {headers[sent]} is {_LITERAL_WHY[kind]}, sent as it was: on a run at that version again it "
                     "would be current")
    lines.append(curl_command(exchange["method"], url, headers, secret_env, body=_body(exchange)))
    return "\n".join(lines)


def _body(exchange: Mapping[str, Any]) -> bytes | None:
    """The request body the exchange sent (Exchange.to_dict's), as bytes to send again."""
    body = exchange.get("request_body")
    return body.encode() if isinstance(body, str) else None


def _tag_expansion(kind: IfMatch | None, sent: str, exchange: Mapping[str, Any]) -> str:
    """The If-Match to send, in shell words around `${etag}` (the run's tag now)."""
    if kind is IfMatch.STRONG_SPELLING_OF_CURRENT:
        return "${etag#W/}"
    if kind is IfMatch.LIST_WITH_CURRENT:
        then = (exchange.get("before") or {}).get("etag")
        if then and then in sent:
            before, _, after = sent.partition(then)
            return _shell_literal(before) + "${etag}" + _shell_literal(after)
        return _shell_literal(sent) + ", ${etag}"
    return "${etag}"


def _shell_literal(text: str) -> str:
    """`text` inside a double-quoted shell string, as it is."""
    return "".join("\\" + c if c in '\\"$`' else c for c in text)


def _look(exchange: Mapping[str, Any], run_url: str, token_env: str) -> str:
    """A curl that GETs the run with the main token, printing only the response's headers."""
    headers = {"Cint-API-Version": _header(exchange, "cint-api-version") or contract.DEFAULT_API_VERSION,
               "Authorization": "Bearer [REDACTED]"}
    return curl_command("GET", run_url, headers, {"Authorization": token_env}, options="-sS -o /dev/null -D -")


# --- a group -------------------------------------------------------------------------------


def reproduction(rule: str, examples: Sequence[Mapping[str, Any]], where: Where, *,
                 evidence: Sequence[Mapping[str, Any]] = (), replay: str | None = None) -> Reproduction | None:
    """A finding group's reproduction, from its rule, its examples (Finding.to_dict(), as
    summary.json holds them; the first with an exchange is reproduced), the concurrency
    evidence of its tests (for a race), where the session ran and the `fieldproof replay`
    command that re-runs it (None: not given). None: no example has an exchange."""
    example = next((e for e in examples if e.get("exchange")), None)
    if example is None:
        return None
    exchange = example["exchange"]
    needs: list[str] = []
    if where.sandbox is not None:
        needs.append(_sandbox_needs(where, exchange["url"]))
    else:
        needs.append(f"{where.token_env} holds the target's main token, as for the session")
    for variable in sorted(set((exchange.get("secret_env") or {}).values()) - {where.token_env}):  # another account's token
        needs.append(f"`export {variable}=$(fieldproof sandbox token --account {_seed_foreign_account()})`"
                     if where.sandbox is not None else f"{variable} holds the token it held for the session")
    if replay:
        needs.append(f"or let fieldproof re-create it and judge it: {replay}")
    run_url = _run_url(exchange)
    if rule == RACE_RULE and exchange.get("operation") in contract.WRITES and run_url is not None:
        race = race_of(example, evidence)
        run_url = _portable(run_url, race.role, where)
        return Reproduction(RACE_SCRIPT, race_script(example, race, run_url, where.token_env), tuple(needs))
    if run_url is not None:
        portable = _portable(run_url, _role(exchange), where)
        exchange = {**exchange, "url": _moved(exchange["url"], run_url, portable)}
        run_url = portable
    elif where.sandbox is not None:  # a path off the run's on purpose: the ids it kept, the others a run a new sandbox has
        exchange = {**exchange, "url": _kept_ids_moved(str(exchange["url"]), exchange)}
    return Reproduction(CURL, exchange_curl(exchange, run_url, where.token_env), tuple(needs))


# a path id is sent as it was recorded where a fact of the request says it differed from the run's
# on purpose; every other id is a run's that the target (a new sandbox, a replay's run) has
KEPT_BY = {
    "account_id": {PathKind.MALFORMED_ACCOUNT_ID, PathKind.UNKNOWN_ACCOUNT_ID},
    "project_id": {PathKind.MALFORMED_PROJECT_ID, PathKind.OTHER_SCOPE, PathKind.UNKNOWN_RUN},
    "target_group_id": {PathKind.MALFORMED_TARGET_GROUP_ID, PathKind.OTHER_SCOPE, PathKind.UNKNOWN_RUN},
    "fielding_run_id": {PathKind.UNKNOWN_RUN, PathKind.ODD_RUN_ID},
}


def kept_ids(url: str, facts: Mapping[str, Any]) -> dict[str, str]:
    """The path ids of a request that its facts say were off the run's on purpose."""
    kinds = {PathKind(kind) for kind in facts.get("path", ()) if kind in {k.value for k in PathKind}}
    sent = contract.path_ids(url.partition("?")[0]) or {}
    return {name: sent[name] for name, kept_by in KEPT_BY.items() if name in sent and kinds & kept_by}


def _kept_ids_moved(url: str, exchange: Mapping[str, Any]) -> str:
    """A request to another path, its other ids those of the seed's run of its role."""
    run = _seed_runs().get(_role(exchange)) or _seed_runs().get("resumable")
    ids = contract.path_ids(url.partition("?")[0])
    if run is None or ids is None:
        return url
    base = url[: url.index("/demand/accounts/")]
    kept = kept_ids(url, exchange.get("facts") or {})
    return _moved(url, base + contract.run_path(**ids), base + contract.run_path(**{**run, **kept}))


def _seed_foreign_account() -> str:
    return str(_seed().foreign_account)


def _sandbox_needs(where: Where, url: str) -> str:
    unknown = "" if where.settings_known else " (with the session's fault settings: this summary does not record them)"
    return (f"the session's built-in sandbox is gone: start one like it in another shell, "
            f"`{sandbox_command(where.sandbox or {}, _port(url))}`{unknown}, "
            f"then `export {where.token_env}=$(fieldproof sandbox token)`")


def _port(url: str) -> int | None:
    try:
        return urllib.parse.urlsplit(url).port
    except ValueError:
        return None


def _run_url(exchange: Mapping[str, Any]) -> str | None:
    """The URL of the run the request was aimed at: its path as sent, without the action, when
    its ids were the run's own (None: the request went to another path on purpose)."""
    if (exchange.get("facts") or {}).get("path"):
        return None
    url = str(exchange["url"])
    ids = contract.path_ids(url.partition("?")[0])
    if ids is None:
        return None
    base = url[: url.index("/demand/accounts/")]
    return base + contract.run_path(**ids)


def _role(exchange: Mapping[str, Any]) -> str:
    return str((exchange.get("facts") or {}).get("role") or "resumable")


def _moved(url: str, old_run_url: str, new_run_url: str | None) -> str:
    """`url` with the run it addresses moved from `old_run_url` to `new_run_url`."""
    if new_run_url is None or not url.startswith(old_run_url):
        return url
    return new_run_url + url[len(old_run_url):]


def _portable(run_url: str, role: str, where: Where) -> str:
    """On the built-in sandbox, a run a new sandbox also has: the session's run if the default
    seed has it, else the seed's run of the same role (the session's own runs are created as it
    goes, and gone with it). On a target file, the run as it was."""
    if where.sandbox is None:
        return run_url
    seeded = _seed_runs()
    ids = contract.path_ids(run_url[run_url.index("/demand/accounts/"):])
    if ids is None or ids["fielding_run_id"] in {run["fielding_run_id"] for run in seeded.values()}:
        return run_url
    run = seeded.get(role) or seeded.get("resumable")
    if run is None:
        return run_url
    return run_url[: run_url.index("/demand/accounts/")] + contract.run_path(**run)


@functools.lru_cache(maxsize=1)
def _seed() -> Seed:
    """The built-in sandbox's default seed (read once)."""
    from fieldproof.sandbox.seed import load_seed

    return load_seed()


@functools.lru_cache(maxsize=1)
def _seed_runs() -> dict[str, dict[str, str]]:
    """The default seed's first run of each role, by its path ids."""
    runs: dict[str, dict[str, str]] = {}
    for role, run in _seed().runs:
        if role is not None and role not in runs:
            runs[role] = {"account_id": run.account_id, "project_id": run.project_id,
                          "target_group_id": run.target_group_id, "fielding_run_id": run.id}
    return runs


def _header(exchange: Mapping[str, Any], name: str) -> str | None:
    return next((v for k, v in exchange["request_headers"].items() if k.lower() == name), None)


def _if_match_kind(exchange: Mapping[str, Any]) -> IfMatch | None:
    value = (exchange.get("facts") or {}).get("if_match")
    try:
        return IfMatch(value) if value is not None else None
    except ValueError:
        return None


def text_of(reproduction: Reproduction) -> str:
    """A reproduction as the console and summary.md show it: what it needs, then the text."""
    return "\n".join([*(f"# needs: {need}" for need in reproduction.needs), reproduction.text])

