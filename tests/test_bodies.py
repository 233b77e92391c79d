"""Request bodies from the document's request schema (fieldproof.bodies): N bodies that all
differ, from each other and from the resource as it is, valid under the schema, the same for
the same seed."""

from __future__ import annotations

import datetime
from typing import Any

import jsonschema
import pytest

from fieldproof.bodies import distinct_bodies, resolved
from fieldproof.document import ContractDocument

DOCUMENT = ContractDocument.load()
HELD: dict[str, dict[str, Any]] = {
    "updateFieldingRun": {"start_fielding_at": "2026-10-01T00:00:00Z", "end_fielding_at": "2026-12-01T00:00:00Z"},
    "updateProject": {"name": "Brand tracker", "project_customer_reference_number": "PO-7"},
    "updateWebhook": {"url": "https://hooks.example.com/fieldproof", "events": ["fielding_run.status_changed"]},
    "updateAllocationTemplate": {"name": "Default", "supply_allocations": [{"type": "exchange"}]},
    "setFieldingAssistantAssignment": {"pricing": {"type": "dynamic"}, "quota_balancing": {"enabled": False}},
}
WRITES = {w.write.name: w.write for kind in DOCUMENT.kinds.values() for w in kind.writes}


@pytest.mark.parametrize("name", sorted(HELD))
def test_bodies_differ_from_each_other_and_the_resource_and_are_valid(name: str) -> None:
    schema = resolved(DOCUMENT.data, WRITES[name].request_schema)
    bodies = distinct_bodies(schema, HELD[name], 8, seed=3, document=DOCUMENT.data)
    assert len(bodies) == 8
    assert len({repr(sorted(b.items())) for b in bodies}) == 8 and HELD[name] not in bodies
    for body in bodies:
        jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())


def test_the_same_seed_gives_the_same_bodies_and_another_seed_others() -> None:
    schema = WRITES["updateProject"].request_schema
    first = distinct_bodies(schema, HELD["updateProject"], 4, 7, DOCUMENT.data)
    assert first == distinct_bodies(schema, HELD["updateProject"], 4, 7, DOCUMENT.data)
    assert first != distinct_bodies(schema, HELD["updateProject"], 4, 8, DOCUMENT.data)


def test_a_fielding_runs_start_stays_and_its_end_moves_later() -> None:
    """A start already in the past is refused by the vendor: the latest date is the one moved."""
    held = HELD["updateFieldingRun"]
    for body in distinct_bodies(WRITES["updateFieldingRun"].request_schema, held, 3, 1, DOCUMENT.data):
        assert body["start_fielding_at"] == held["start_fielding_at"]
        moved = datetime.datetime.fromisoformat(body["end_fielding_at"].replace("Z", "+00:00"))
        assert moved > datetime.datetime.fromisoformat(held["end_fielding_at"].replace("Z", "+00:00"))


def test_an_id_is_never_made_up_and_no_body_is_built_without_a_schema() -> None:
    """An association names a template by its id: one made up would be refused, so no body varies it."""
    held = {"template_id": "01JD0000000000000000000AT1"}
    assert distinct_bodies(WRITES["setAllocationTemplateAssociation"].request_schema, held, 4, 1, DOCUMENT.data) == []
    assert distinct_bodies(None, {}, 4, 1) == []


def test_a_required_field_the_resource_does_not_show_is_filled_from_the_schema() -> None:
    (body,) = distinct_bodies(WRITES["updateAllocationTemplate"].request_schema, {}, 1, 1, DOCUMENT.data)
    assert set(body) >= {"name", "supply_allocations"}
