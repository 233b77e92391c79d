"""The offline kit for client teams: the documented API simulated in process, through respx.

    from fieldproof.testing import mock_api

    with mock_api(base_url="https://api.cint.com/v1") as api:
        run = api.add_run(status="paused")
        ...  # your httpx-based client talks to run.url with api.token

Scenario switches: `api.rate_limit_next(n, retry_after_s=…)`, `api.fail_next(n)`,
`api.expire_token_next(n)`, `api.concurrent_write_before_next_write(run)`, and
`api.configure(missing_if_match="412", resume_live="204", latency_ms=50, …)` for the API doc's
open questions and faults. pytest fixtures: `fieldproof_api` and `fieldproof_async_api`.
"""

from fieldproof.testing.kit import DEFAULT_BASE_URL, KitRun, MockApi, mock_api

__all__ = ["DEFAULT_BASE_URL", "KitRun", "MockApi", "mock_api"]
