"""Which user JWTs ``GetWorkloadAccessTokenForJWT`` accepts: the inbound authorizer.

On AWS the agent's inbound auth names a discovery URL (an issuer) and allowed
audiences or clients; the service verifies each JWT against that issuer's keys.
Here the local OAuth2 server is trusted by default, and tests add issuers with a
shared HS256 key or a JWKS of RSA keys. A token is verified (algorithm, signature,
expiry, audience) before its ``sub`` means anything, and a user is issuer plus
subject: the same ``sub`` from two issuers is two users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._jwt import InvalidTokenError, decode_unverified, verify, verify_rs256

__all__ = ["TrustedIssuers"]


@dataclass(frozen=True, slots=True)
class _Issuer:
    check: Callable[[str], dict[str, Any]]
    audiences: tuple[str, ...]


class TrustedIssuers:
    """The issuers whose JWTs identify users, and how to verify each one's tokens.

    Args:
        own_issuer: the local OAuth2 server's issuer, trusted from the start.
        own_verify: verifies that server's tokens.
    """

    def __init__(self, own_issuer: str, own_verify: Callable[[str], dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._issuers: dict[str, _Issuer] = {own_issuer: _Issuer(own_verify, ())}

    def trust(self, issuer: str, *, key: bytes | str | None = None,
              jwks: dict[str, Any] | None = None, audiences: list[str] | None = None) -> None:
        """Accept JWTs of ``issuer``: HS256 signed with ``key``, or RS256 with a ``jwks`` key."""
        if (key is None) == (jwks is None):
            raise ValueError("give exactly one of key= (HS256) and jwks= (RS256)")
        if key is not None:
            secret = key.encode() if isinstance(key, str) else key

            def check(token: str) -> dict[str, Any]:
                return verify(token, secret, now=time.time())
        else:
            document = dict(jwks or {})

            def check(token: str) -> dict[str, Any]:
                return verify_rs256(token, document, now=time.time())
        with self._lock:
            self._issuers[issuer] = _Issuer(check, tuple(audiences or ()))

    def untrust(self, issuer: str) -> None:
        """Stop accepting ``issuer``'s JWTs."""
        with self._lock:
            self._issuers.pop(issuer, None)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a user JWT from a trusted issuer, checked; else InvalidTokenError."""
        claims = decode_unverified(token)
        issuer = claims.get("iss")
        with self._lock:
            trusted = self._issuers.get(issuer) if isinstance(issuer, str) else None
            known = ", ".join(sorted(self._issuers))
        if trusted is None:
            raise InvalidTokenError(
                f"JWT issuer {issuer!r} is not a trusted issuer of this agent's inbound "
                f"authorizer (trusted: {known}); on LocalAgentCore call "
                "env.trust_issuer(issuer, key=... or jwks=...)")
        claims = trusted.check(token)
        if trusted.audiences:
            aud = claims.get("aud")
            given = aud if isinstance(aud, list) else [aud]
            if not set(trusted.audiences) & set(given):
                raise InvalidTokenError(f"JWT audience is not one of {list(trusted.audiences)}")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidTokenError("JWT has no 'sub' claim to identify the user")
        return claims
