"""pytest fixtures of the offline kit (registered as the `fieldproof` pytest plugin).

Override `fieldproof_api_base_url` in a conftest.py to simulate another base URL, and
`fieldproof_api_pass_through` to let calls to other hosts reach the network (as `mock_api`'s
`pass_through`); either can also be parametrized for one test:
`@pytest.mark.parametrize("fieldproof_api_pass_through", [["auth.example.com"]])`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from fieldproof.testing.kit import DEFAULT_BASE_URL, MockApi, mock_api


@pytest.fixture
def fieldproof_api_base_url() -> str:
    return DEFAULT_BASE_URL


@pytest.fixture
def fieldproof_api_pass_through() -> Sequence[str]:
    """Hosts whose calls go to the real network; a call to any other host is refused."""
    return ()


@pytest.fixture
def fieldproof_api(fieldproof_api_base_url: str, fieldproof_api_pass_through: Sequence[str]) -> Iterator[MockApi]:
    """The simulated API for `httpx.Client` calls to `fieldproof_api_base_url`."""
    with mock_api(fieldproof_api_base_url, pass_through=fieldproof_api_pass_through) as api:
        yield api


@pytest.fixture
def fieldproof_async_api(fieldproof_api_base_url: str, fieldproof_api_pass_through: Sequence[str]) -> Iterator[MockApi]:
    """The simulated API for `httpx.AsyncClient` calls to `fieldproof_api_base_url`."""
    with mock_api(fieldproof_api_base_url, asynchronous=True, pass_through=fieldproof_api_pass_through) as api:
        yield api
