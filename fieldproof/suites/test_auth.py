"""Auth: no token, a malformed one, an expired one, another account's: refused, unchanged.
And the documented 403 for a missing Cint-API-Version."""

from __future__ import annotations

import pytest

from fieldproof.plugin import Harness


@pytest.mark.parametrize("auth", ["none", "malformed", "foreign", "expired"])
@pytest.mark.parametrize("operation", ["get", "resume"])
def test_requests_without_valid_credentials_are_refused(fp: Harness, auth: str, operation: str) -> None:
    if auth == "foreign" and fp.client.credentials.foreign is None:
        pytest.skip("set foreign_token_env in the target file (a token of another account) to enable this test")
    if auth == "expired" and fp.client.credentials.expired is None:
        pytest.skip("an expired token can only be minted by the sandbox")
    with fp.run("resumable") as run:
        if operation == "get":
            fp.client.get(run, auth=auth, context={"auth": auth})
        else:
            fp.client.write("resume", run, auth=auth, context={"auth": auth})
        fp.check()


@pytest.mark.parametrize("operation", ["get", "resume"])
def test_missing_api_version_is_403(fp: Harness, operation: str) -> None:
    with fp.run("resumable") as run:
        no_version = {"Cint-API-Version": None}
        if operation == "get":
            fp.client.get(run, headers=no_version, context={"api_version": "missing"})
        else:
            fp.client.write("resume", run, headers=no_version, context={"api_version": "missing"})
        fp.check()
