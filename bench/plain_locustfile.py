"""The plain Locust baseline for bench/swarm_scale.py: an HttpUser sending the swarm's mix
(GET 2 : resume 1 : pause 1, each write with the tag the user last saw) to the same runs, and
judging nothing. FIELDPROOF_BENCH_TARGET names the target file, its tokens in the environment."""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

from fieldproof.target import load_target

TARGET = load_target(os.environ["FIELDPROOF_BENCH_TARGET"])
RUNS = [run for run in TARGET.runs_of("resumable")][:-1]  # the swarm keeps the last one for races
HEADERS = {"Authorization": f"Bearer {TARGET.token}", "Cint-API-Version": TARGET.api_version}


class PlainUser(HttpUser):
    wait_time = between(0.0, 0.02)
    host = TARGET.base_url

    def on_start(self) -> None:
        self.tags = {run.fielding_run_id: None for run in RUNS}

    def _send(self, action: str | None) -> None:
        run = random.choice(RUNS)
        path = TARGET.base_url + run.path() + (f"/{action}" if action else "")
        tag = self.tags[run.fielding_run_id]
        if action is None or tag is None:
            response = self.client.get(TARGET.base_url + run.path(), headers=HEADERS, name="get")
        else:
            with self.client.post(path, headers={**HEADERS, "If-Match": tag}, name=action, catch_response=True) as response:
                response.success()  # 412 and 422 are answers here, not failures
        if response.status_code in (200, 204) and response.headers.get("etag"):
            self.tags[run.fielding_run_id] = response.headers["etag"]

    @task(2)
    def read(self) -> None:
        self._send(None)

    @task(1)
    def resume(self) -> None:
        self._send("resume")

    @task(1)
    def pause(self) -> None:
        self._send("pause")
