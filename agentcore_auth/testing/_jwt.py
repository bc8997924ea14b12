"""HS256 JSON Web Tokens with the stdlib only (``hmac`` + ``hashlib``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

__all__ = ["InvalidTokenError", "decode_unverified", "sign", "verify"]


class InvalidTokenError(Exception):
    """The token is malformed, badly signed or expired (the message holds no token)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims: dict[str, Any], key: bytes) -> str:
    """Encode and sign ``claims`` as an HS256 JWT."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(mac)}"


def decode_unverified(token: str) -> dict[str, Any]:
    """The claims of a JWT, without checking its signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("not a JWT (expected three dot-separated parts)")
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError as exc:
        raise InvalidTokenError("JWT payload is not base64url-encoded JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidTokenError("JWT payload is not a JSON object")
    return claims


def verify(token: str, key: bytes, *, now: float) -> dict[str, Any]:
    """Check an HS256 JWT's signature and ``exp``; return its claims."""
    claims = decode_unverified(token)
    header, payload, mac = token.split(".")
    expected = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError as exc:
        raise InvalidTokenError("JWT signature is not base64url") from exc
    if not hmac.compare_digest(expected, given):
        raise InvalidTokenError("JWT signature does not verify")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        raise InvalidTokenError("JWT has expired (or has no exp)")
    return claims
