"""A lifecycle model: several simulated clients, each holding the ETags it has seen, interleave
GET, pause, resume (and complete, on the sandbox's own runs) with fresh and stale tags; every
answer is checked against the contract's model of a run (fieldproof/model.py). A finding shows
the requests of its sequence as a script; the exploration goes on after it (the model picks up
the run again from a GET), and nothing is ever replayed against a target that has moved on."""

from __future__ import annotations

from fieldproof.harness import Harness
from fieldproof.probes import clients_follow_the_model


def test_clients_interleaving_fresh_and_stale_tags_follow_the_model(fp: Harness) -> None:
    clients_follow_the_model(fp)
