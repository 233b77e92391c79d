"""Bearer tokens: JWTs the sandbox signs itself, carrying the account id and an expiry."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

_ALGORITHM = "HS256"
_USER_NAMESPACE = uuid.UUID("6f1d2a4e-9b7c-4c1e-8d3f-0a5b6c7d8e9f")


@dataclass(frozen=True)
class Principal:
    account_id: str
    user_id: str  # a UUID; written to last_changed_by


class Unauthenticated(Exception):
    """401: no token, or not one of ours (missing, malformed, bad signature)."""


class TokenExpired(Exception):
    """403: the API answers an expired token 403, not 401 (documented)."""


def user_id_for(account_id: str) -> str:
    return str(uuid.uuid5(_USER_NAMESPACE, str(account_id)))


def issue_token(secret: str, account_id: str, ttl_s: int = 86400, expired: bool = False) -> str:
    now = int(time.time())
    expires = now - 60 if expired else now + ttl_s
    claims = {
        "sub": user_id_for(account_id),
        "account_id": str(account_id),
        "iat": min(now, expires - 1),
        "exp": expires,
        "jti": secrets.token_hex(8),  # two tokens minted in one second still differ
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or Unauthenticated."""
    if not authorization:
        raise Unauthenticated("the Authorization header is missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header is not 'Bearer <token>'")
    return token.strip()


class TokenVerifier:
    """verify_token with a per-token cache: decoding a JWT is the sandbox's dearest step per
    request, and clients send the same token again and again. Expiry is still checked each time."""

    def __init__(self, secret: str, verify_expiry: bool = True, size: int = 4096) -> None:
        self.secret = secret
        self.verify_expiry = verify_expiry
        self.size = size
        self._cache: dict[str, tuple[Principal, float]] = {}

    def __call__(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is None:
            principal = verify_token(self.secret, token, verify_expiry=False)
            expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
            if len(self._cache) >= self.size:
                self._cache.clear()  # bounded; a sandbox sees few distinct tokens
            self._cache[token] = cached = (principal, expires)
        principal, expires = cached
        if self.verify_expiry and expires <= time.time():
            raise TokenExpired("the token has expired")
        return principal


def verify_token(secret: str, token: str, verify_expiry: bool = True) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "account_id"], "verify_exp": verify_expiry},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the token has expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is malformed or not signed by this service") from None
    account_id = str(claims["account_id"])
    return Principal(account_id=account_id, user_id=str(claims.get("sub") or user_id_for(account_id)))
