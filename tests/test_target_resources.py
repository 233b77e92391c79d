"""A target file's [[resources]] and create_delete: which other resources a session may judge,
and which kinds it may create and delete."""

from __future__ import annotations

from typing import Any

import pytest

from fieldproof.errors import TargetError
from fieldproof.target import ResourceRef, parse_target

RUN = {"role": "live", "project_id": "0" * 26, "target_group_id": "1" * 26, "fielding_run_id": "R1"}
BASE = {"base_url": "https://staging.example.com/v1", "api_version": "2025-12-18", "account_id": "101",
        "token_env": "TOKEN", "runs": [RUN]}
ENV = {"TOKEN": "secret-token"}


def _target(**extra: Any) -> Any:
    return parse_target({**BASE, **extra}, ENV)


def test_nothing_besides_runs_and_nothing_created_or_deleted_unless_listed() -> None:
    target = _target()
    assert target.resources == () and target.create_delete == frozenset()


def test_resources_are_listed_by_kind_with_their_path_ids() -> None:
    target = _target(resources=[{"kind": "webhooks", "webhook_id": "W1"},
                                {"kind": "fielding-assistant-assignment", "project_id": "P", "target_group_id": "T"},
                                {"kind": "allocation-template-association"}],
                     create_delete=["webhooks"])
    hook, assignment, association = target.resources
    assert hook == ResourceRef("webhooks", "101", (("webhook_id", "W1"),))
    assert assignment.params() == {"account_id": "101", "project_id": "P", "target_group_id": "T"}
    assert association.params() == {"account_id": "101"}
    assert target.resources_of("webhooks") == (hook,)
    assert target.create_delete == frozenset({"webhooks"})
    assert hook.label() == "webhooks webhook_id=W1"


@pytest.mark.parametrize(("extra", "says"), [
    ({"resources": {"kind": "webhooks"}}, "resources must be [[resources]] entries"),
    ({"resources": ["webhooks"]}, "[[resources]] entry 1 must be a table"),
    ({"resources": [{"webhook_id": "W1"}]}, "kind must name a resource kind"),
    ({"resources": [{"kind": "Webhooks!"}]}, "kind must name a resource kind"),
    ({"resources": [{"kind": "webhooks", "account_id": "202"}]}, "unknown key 'account_id'"),
    ({"resources": [{"kind": "webhooks", "url": "x"}]}, "unknown key 'url'"),
    ({"resources": [{"kind": "webhooks", "webhook_id": "a/b"}]}, "webhook_id must be a non-empty id"),
    ({"resources": [{"kind": "webhooks", "webhook_id": 7}]}, "webhook_id must be a non-empty id"),
    ({"resources": [{"kind": "webhooks", "webhook_id": "W"}, {"kind": "webhooks", "webhook_id": "W"}]}, "listed twice"),
    ({"create_delete": "webhooks"}, "create_delete must be a list of resource kinds"),
    ({"create_delete": ["webhooks", 3]}, "create_delete must be a list of resource kinds"),
])
def test_a_broken_resource_entry_is_one_line_that_says_what_to_fix(extra: dict[str, Any], says: str) -> None:
    with pytest.raises(TargetError) as caught:
        _target(**extra)
    message = str(caught.value)
    assert says in message and "\n" not in message and "secret-token" not in message
