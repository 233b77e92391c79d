"""pytest fixtures of the offline kit (registered as the `fieldproof` pytest plugin).

Override `fieldproof_api_base_url` in a conftest.py to simulate another base URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fieldproof.testing.kit import DEFAULT_BASE_URL, MockApi, mock_api


@pytest.fixture
def fieldproof_api_base_url() -> str:
    return DEFAULT_BASE_URL


@pytest.fixture
def fieldproof_api(fieldproof_api_base_url: str) -> Iterator[MockApi]:
    """The simulated API for `httpx.Client` calls to `fieldproof_api_base_url`."""
    with mock_api(fieldproof_api_base_url) as api:
        yield api


@pytest.fixture
def fieldproof_async_api(fieldproof_api_base_url: str) -> Iterator[MockApi]:
    """The simulated API for `httpx.AsyncClient` calls to `fieldproof_api_base_url`."""
    with mock_api(fieldproof_api_base_url, asynchronous=True) as api:
        yield api
