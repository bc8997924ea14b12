"""Read a JWT's ``exp`` without verifying it: only to know how long to cache a token."""

from __future__ import annotations

import base64
import json

__all__ = ["jwt_claims", "jwt_expiry"]


def jwt_claims(token: str) -> dict[str, object] | None:
    """The claims of a JWT, unverified, or None for opaque tokens (never raises)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT as epoch seconds, or None for opaque tokens.

    The signature is not checked: the value only shortens how long we cache a
    token, so a forged ``exp`` can only make us refetch sooner (it is capped by
    the resolver's TTL).
    """
    claims = jwt_claims(token)
    exp = claims.get("exp") if claims is not None else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None
