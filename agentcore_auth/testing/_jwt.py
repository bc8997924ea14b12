"""JSON Web Tokens: HS256 with the stdlib only, RS256 (JWKS) verified with ``cryptography``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

__all__ = ["InvalidTokenError", "decode_unverified", "header_of", "sign", "verify",
           "verify_rs256"]


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


def header_of(token: str) -> dict[str, Any]:
    """The JOSE header of a JWT, unverified."""
    try:
        header = json.loads(_unb64(token.split(".", 1)[0]))
    except ValueError as exc:
        raise InvalidTokenError("JWT header is not base64url-encoded JSON") from exc
    if not isinstance(header, dict):
        raise InvalidTokenError("JWT header is not a JSON object")
    return header


def _check_alg(token: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    header = header_of(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise InvalidTokenError("JWT is unsigned (alg none): only signed tokens are accepted")
    if alg not in allowed:
        raise InvalidTokenError(f"JWT alg {alg} is not accepted here (expected "
                                f"{' or '.join(allowed)})")
    return header


def _check_exp(claims: dict[str, Any], now: float) -> dict[str, Any]:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
        raise InvalidTokenError("JWT has expired (or has no exp)")
    return claims


def verify(token: str, key: bytes, *, now: float) -> dict[str, Any]:
    """Check an HS256 JWT's algorithm, signature and ``exp``; return its claims."""
    claims = decode_unverified(token)
    _check_alg(token, ("HS256",))
    header, payload, mac = token.split(".")
    expected = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError as exc:
        raise InvalidTokenError("JWT signature is not base64url") from exc
    if not hmac.compare_digest(expected, given):
        raise InvalidTokenError("JWT signature does not verify")
    return _check_exp(claims, now)


def verify_rs256(token: str, jwks: dict[str, Any], *, now: float) -> dict[str, Any]:
    """Check an RS256 JWT against a JWKS (``{"keys": [...]}``, RSA keys); return its claims."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    claims = decode_unverified(token)
    header = _check_alg(token, ("RS256",))
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kty") == "RSA"]
    if header.get("kid") is not None:
        keys = [k for k in keys if k.get("kid") == header["kid"]]
    if not keys:
        raise InvalidTokenError("no RSA key of the issuer's JWKS matches the JWT's kid")
    signing_input, _, signature = token.rpartition(".")
    for key in keys:
        try:
            public = rsa.RSAPublicNumbers(int.from_bytes(_unb64(key["e"]), "big"),
                                          int.from_bytes(_unb64(key["n"]), "big")).public_key()
            public.verify(_unb64(signature), signing_input.encode("ascii"), padding.PKCS1v15(),
                          hashes.SHA256())
        except (InvalidSignature, ValueError, KeyError, TypeError):
            continue
        return _check_exp(claims, now)
    raise InvalidTokenError("JWT signature does not verify against the issuer's keys")
