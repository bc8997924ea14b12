"""JSON Web Tokens for the emulator, with PyJWT: HS256 signing, HS256 and RS256 (JWKS) checks.

The checks callers rely on stay here, with messages that say what was wrong and
never hold the token: ``alg none`` is refused by name, only the expected
algorithm is accepted, and ``exp`` is compared with the caller's clock (``now=``),
so the emulator's own time decides expiry. Audiences are the callers' business.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

__all__ = ["InvalidTokenError", "decode_unverified", "header_of", "sign", "verify",
           "verify_rs256"]



class _AnyLengthHS256(HMACAlgorithm):
    """HS256 without PyJWT's short-key warning: the emulator signs with the keys tests
    stored (an OAuth client secret, a payment provider's secret), whatever their length."""

    def check_key_length(self, key: bytes) -> str | None:
        return None


# PyJWS (the signature layer) rather than jwt.encode/decode: claims are checked here.
_JWS = jwt.PyJWS(algorithms=["HS256", "RS256"])
_JWS.unregister_algorithm("HS256")
_JWS.register_algorithm("HS256", _AnyLengthHS256(HMACAlgorithm.SHA256))


class InvalidTokenError(Exception):
    """The token is malformed, badly signed or expired (the message holds no token)."""


def sign(claims: dict[str, Any], key: bytes) -> str:
    """Encode and sign ``claims`` as an HS256 JWT."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _JWS.encode(payload, key, algorithm="HS256", headers={"typ": "JWT"})


def decode_unverified(token: str) -> dict[str, Any]:
    """The claims of a JWT, without checking its signature."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidTokenError("not a JWT (expected three dot-separated parts)")
    try:
        claims = json.loads(_JWS.decode(token, options={"verify_signature": False}))
    except (jwt.DecodeError, ValueError) as exc:
        raise InvalidTokenError("JWT payload is not base64url-encoded JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidTokenError("JWT payload is not a JSON object")
    return claims


def header_of(token: str) -> dict[str, Any]:
    """The JOSE header of a JWT, unverified."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.DecodeError, json.JSONDecodeError) as exc:
        raise InvalidTokenError("JWT header is not base64url-encoded JSON") from exc
    if not isinstance(header, dict):  # pragma: no cover
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


def _decode(token: str, key: Any, algorithm: str) -> dict[str, Any]:
    try:
        payload = _JWS.decode(token, key, algorithms=[algorithm])
    except jwt.InvalidSignatureError:
        raise InvalidTokenError("JWT signature does not verify") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidTokenError(f"JWT is malformed ({type(exc).__name__})") from None
    claims = json.loads(payload)
    if not isinstance(claims, dict):
        raise InvalidTokenError("JWT payload is not a JSON object")
    return claims


def verify(token: str, key: bytes, *, now: float) -> dict[str, Any]:
    """Check an HS256 JWT's algorithm, signature and ``exp``; return its claims."""
    decode_unverified(token)
    _check_alg(token, ("HS256",))
    return _check_exp(_decode(token, key, "HS256"), now)


def verify_rs256(token: str, jwks: dict[str, Any], *, now: float) -> dict[str, Any]:
    """Check an RS256 JWT against a JWKS (``{"keys": [...]}``, RSA keys); return its claims."""
    decode_unverified(token)
    header = _check_alg(token, ("RS256",))
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kty") == "RSA"]
    if header.get("kid") is not None:
        keys = [k for k in keys if k.get("kid") == header["kid"]]
    if not keys:
        raise InvalidTokenError("no RSA key of the issuer's JWKS matches the JWT's kid")
    for key in keys:
        try:
            claims = _decode(token, jwt.PyJWK(key, algorithm="RS256").key, "RS256")
        except (jwt.PyJWKError, InvalidTokenError):
            continue
        return _check_exp(claims, now)
    raise InvalidTokenError("JWT signature does not verify against the issuer's keys")
