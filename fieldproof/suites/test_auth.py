"""Auth: no token, a malformed one, an expired one, another account's: refused, unchanged.
And the documented 403 for a missing Cint-API-Version, and an unknown one."""

from __future__ import annotations

import pytest

from fieldproof.facts import Auth
from fieldproof.harness import Harness
from fieldproof.suites import UNKNOWN_API_VERSION


# each kind of credential once in the first pass; another account's on a read and a write (a server may check one only)
@pytest.mark.first_pass("auth", auth=Auth.NONE, operation="get")
@pytest.mark.first_pass("auth", auth=Auth.MALFORMED, operation="resume")
@pytest.mark.first_pass("auth", auth=Auth.FOREIGN, operation="get")
@pytest.mark.first_pass("auth", auth=Auth.FOREIGN, operation="resume")
@pytest.mark.first_pass("auth", auth=Auth.EXPIRED, operation="get")
@pytest.mark.parametrize("auth", [Auth.NONE, Auth.MALFORMED, Auth.FOREIGN, Auth.EXPIRED], ids=lambda a: a.value)
@pytest.mark.parametrize("operation", ["get", "resume"])
def test_requests_without_valid_credentials_are_refused(fp: Harness, auth: Auth, operation: str) -> None:
    if auth is Auth.FOREIGN and fp.client.credentials.foreign is None:
        pytest.skip("set foreign_token_env in the target file (a token of another account) to enable this test")
    if auth is Auth.EXPIRED and fp.client.credentials.expired is None:
        pytest.skip("an expired token can only be minted by the sandbox")
    with fp.run("resumable") as run:
        if operation == "get":
            fp.client.get(run, auth=auth)
        else:
            fp.client.write("resume", run, auth=auth)


@pytest.mark.first_pass("api_version", operation="get")
@pytest.mark.parametrize("version", [None, UNKNOWN_API_VERSION], ids=["missing", "unknown"])
@pytest.mark.parametrize("operation", ["get", "resume"])
def test_a_missing_or_unknown_api_version_is_answered(fp: Harness, operation: str, version: str | None) -> None:
    with fp.run("resumable") as run:
        headers = {"Cint-API-Version": version}
        if operation == "get":
            fp.client.get(run, headers=headers)
        else:
            fp.client.write("resume", run, headers=headers)


def test_the_auth_scheme_and_header_names_ignore_case(fp: Harness) -> None:
    """RFC 9110 §11.1: "bearer" is the Bearer scheme; §5.1: field names are case-insensitive.
    A GET and a resume with the current tag, sent with the account's own token under the scheme
    in other letter cases, and with every header name in lower case, are served as any other."""
    token, version = fp.target.token, fp.target.api_version
    with fp.run("resumable") as run:
        for scheme in ("bearer", "BEARER"):
            fp.client.get(run, headers={"Authorization": f"{scheme} {token}"})
        fp.client.get(run, headers={"authorization": f"Bearer {token}", "cint-api-version": version})
        look = fp.client.snapshot(run)
        lower = {"authorization": f"bearer {token}", "cint-api-version": version, "if-match": look.etag}
        resumed = fp.client.write("resume", run, headers=lower, before=look)
        if resumed.status == 204:  # put back for what follows
            fp.require(fp.client.write("pause", run, resumed.header("etag"), before=resumed.after), 204,
                       "pausing the run again after the resume")
