"""STS ``GetWebIdentityToken`` and IAM outbound web identity federation, for LocalAgentCore.

moto has neither, so the AWS front routes them here (``sts``/``iam`` query protocol,
XML answers as AWS sends them); every other STS and IAM call still reaches moto.

- IAM ``EnableOutboundWebIdentityFederation`` gives the account an issuer on
  loopback (``http://127.0.0.1:<port>/<issuer id>``) serving
  ``/.well-known/openid-configuration`` and ``/.well-known/jwks.json`` (one RSA
  and one P-384 key, each with a ``kid``); ``GetOutboundWebIdentityFederationInfo``
  and ``DisableOutboundWebIdentityFederation`` as in IAM (``FeatureEnabled`` /
  ``FeatureDisabled`` when already so).
- STS ``GetWebIdentityToken`` is refused with
  ``OutboundWebIdentityFederationDisabledException`` until then; afterwards it signs
  RS256 or ES384 JWTs with PyJWT: ``iss``, ``aud`` (a string for one audience, as
  AWS's sample token), ``sub`` per ``SubjectMode`` (the caller's ARN as moto knows
  it, the role's ARN for an assumed role; or the origin identity set with
  :meth:`WebIdentityFederation.set_origin_identity`), ``iat``, ``exp`` = ``iat`` +
  ``DurationSeconds`` = ``Expiration``, ``jti``, and AWS's namespaced claims under
  ``https://sts.amazonaws.com/`` (``aws_account``, ``source_region``,
  ``principal_id``, ``request_tags`` from ``Tags``). A role session that ends before
  the token would is ``SessionDurationEscalationException``; a payload over 16 KiB
  ``JWTPayloadSizeExceededException``; ``JWT_SVID`` ``SignerNotConfiguredException``
  (no SPIFFE workload identities here). Calls count as ``GetWebIdentityToken`` and
  take faults injected under that name.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from ._front import AwsFront, AwsRequest
from ._server import HttpServer, Request, Response
from ._state import Counters, Faults

__all__ = ["CLAIMS_NAMESPACE", "MAX_PAYLOAD", "WebIdentityFederation"]

CLAIMS_NAMESPACE = "https://sts.amazonaws.com/"
"""Where STS nests the AWS-specific claims and the request tags."""
MAX_PAYLOAD = 16 * 1024
"""The emulator's limit on a token's claims, in bytes of JSON (AWS does not publish one)."""

_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_STATUS = {"ValidationError": 400, "OutboundWebIdentityFederationDisabledException": 403,
           "SessionDurationEscalationException": 403, "JWTPayloadSizeExceededException": 400,
           "SignerNotConfiguredException": 404, "RegionalSignerUnavailableException": 404,
           "FeatureEnabled": 409, "FeatureDisabled": 404, "AccessDenied": 403,
           "Throttling": 400, "ThrottlingException": 400}
_OPERATION = "GetWebIdentityToken"


class _Error(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(slots=True)
class _Account:
    issuer_id: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class _Caller:
    arn: str
    account: str
    session_ends: dt.datetime | None


class _Keys:
    """The issuer's signing keys, made on first use (RSA generation takes a moment)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, Any]] | None = None

    def get(self) -> dict[str, tuple[str, Any]]:
        """algorithm -> (kid, private key)."""
        with self._lock:
            if self._keys is None:
                from cryptography.hazmat.primitives.asymmetric import ec, rsa

                self._keys = {
                    "RS256": (f"rs256-{secrets.token_hex(4)}",
                              rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                    "ES384": (f"es384-{secrets.token_hex(4)}",
                              ec.generate_private_key(ec.SECP384R1())),
                }
            return self._keys

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        keys = []
        for alg, (kid, private) in self.get().items():
            codec = RSAAlgorithm if alg == "RS256" else ECAlgorithm
            jwk = codec.to_jwk(private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}


class WebIdentityFederation:
    """IAM's outbound web identity federation and STS ``GetWebIdentityToken``, per account.

    Args:
        front: the AWS front to route the four operations through.
        counters: where ``GetWebIdentityToken`` calls are counted.
        faults: injected faults (``env.inject_fault("GetWebIdentityToken", ...)``).
    """

    def __init__(self, front: AwsFront, counters: Counters, faults: Faults) -> None:
        self._counters = counters
        self._faults = faults
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._origins: dict[str, tuple[str, str]] = {}
        self._keys = _Keys()
        self._server = HttpServer(self._serve_issuer, "sts-issuer")
        front.route("sts", _OPERATION, self._get_web_identity_token)
        front.route("iam", "EnableOutboundWebIdentityFederation", self._enable)
        front.route("iam", "GetOutboundWebIdentityFederationInfo", self._info)
        front.route("iam", "DisableOutboundWebIdentityFederation", self._disable)

    def stop(self) -> None:
        """Stop the issuer's server."""
        self._server.stop()

    # --- for tests ------------------------------------------------------------------------

    def issuer(self, account_id: str) -> str | None:
        """The account's issuer URL, once federation was enabled (even if disabled since)."""
        with self._lock:
            account = self._accounts.get(account_id)
        return None if account is None else self._issuer_url(account)

    def jwks_url(self, account_id: str) -> str:
        """The account's ``/.well-known/jwks.json`` (for ``jwt.PyJWKClient``)."""
        issuer = self.issuer(account_id)
        if issuer is None:
            raise ValueError(f"outbound web identity federation was never enabled for "
                             f"account {account_id}")
        return f"{issuer}/.well-known/jwks.json"

    def set_origin_identity(self, access_key_id: str, subject: str,
                            issuer: str = "https://idp.example.com") -> None:
        """Give the sessions of ``access_key_id`` a trusted identity propagation context.

        On AWS it comes from IAM Identity Center or a federated login; here it lets
        ``SubjectMode=OriginIdentity`` (and ``Scope``) be tested.
        """
        with self._lock:
            self._origins[access_key_id] = (subject, issuer)

    # --- the issuer -----------------------------------------------------------------------

    def _issuer_url(self, account: _Account) -> str:
        return f"{self._server.url}/{account.issuer_id}"

    def _serve_issuer(self, request: Request) -> Response:
        issuer_id, _, rest = request.path.lstrip("/").partition("/")
        with self._lock:
            account = next((a for a in self._accounts.values() if a.issuer_id == issuer_id),
                           None)
        if account is None or request.method not in ("GET", "HEAD"):
            return Response.json({"message": "not found"}, 404)
        issuer = self._issuer_url(account)
        if rest == ".well-known/openid-configuration":
            return Response.json({
                "issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES384"],
                "claims_supported": ["aud", "exp", "iat", "iss", "jti", "sub"]})
        if rest == ".well-known/jwks.json":
            return Response.json(self._keys.jwks())
        return Response.json({"message": "not found"}, 404)

    # --- IAM --------------------------------------------------------------------------------

    def _enable(self, aws: AwsRequest) -> Response:
        with self._lock:
            account = self._accounts.get(aws.account_id)
            if account is not None and account.enabled:
                return _error(_IAM_NS, _Error(
                    "FeatureEnabled", "Outbound web identity federation is already enabled "
                    "for this account; GetOutboundWebIdentityFederationInfo returns its issuer"))
            if account is None:
                account = self._accounts[aws.account_id] = _Account(str(uuid.uuid4()))
            account.enabled = True
            issuer = self._issuer_url(account)
        return _result(_IAM_NS, "EnableOutboundWebIdentityFederation",
                       f"<IssuerIdentifier>{escape(issuer)}</IssuerIdentifier>")

    def _info(self, aws: AwsRequest) -> Response:
        with self._lock:
            account = self._accounts.get(aws.account_id)
        if account is None or not account.enabled:
            return _error(_IAM_NS, _Error(
                "FeatureDisabled", "Outbound web identity federation is not enabled for this "
                "account"))
        return _result(_IAM_NS, "GetOutboundWebIdentityFederationInfo",
                       f"<IssuerIdentifier>{escape(self._issuer_url(account))}</IssuerIdentifier>"
                       "<JwtVendingEnabled>true</JwtVendingEnabled>")

    def _disable(self, aws: AwsRequest) -> Response:
        with self._lock:
            account = self._accounts.get(aws.account_id)
            if account is None or not account.enabled:
                return _error(_IAM_NS, _Error(
                    "FeatureDisabled", "Outbound web identity federation is already disabled "
                    "for this account"))
            account.enabled = False
        return _result(_IAM_NS, "DisableOutboundWebIdentityFederation", "")

    # --- STS --------------------------------------------------------------------------------

    def _get_web_identity_token(self, aws: AwsRequest) -> Response:
        self._counters.increment(_OPERATION)
        try:
            fault = self._faults.apply(_OPERATION)
            if fault is not None:
                raise _Error(fault, f"injected fault: {fault}")
            token, expires = self._token(aws)
        except _Error as exc:
            return _error(_STS_NS, exc)
        expiration = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _result(_STS_NS, _OPERATION,
                       f"<WebIdentityToken>{escape(token)}</WebIdentityToken>"
                       f"<Expiration>{expiration}</Expiration>")

    def _token(self, aws: AwsRequest) -> tuple[str, int]:
        import jwt

        params = aws.params()
        ask = _parse(params)
        with self._lock:
            account = self._accounts.get(aws.account_id)
            origin = self._origins.get(aws.access_key_id)
        if account is None or not account.enabled:
            raise _Error("OutboundWebIdentityFederationDisabledException",
                         "Outbound web identity federation is not enabled for this account. "
                         "Enable it with IAM EnableOutboundWebIdentityFederation")
        if ask["token_type"] == "JWT_SVID":
            raise _Error("SignerNotConfiguredException",
                         "The calling session has no workload identity provider with a JWT "
                         "signer (LocalAgentCore does not emulate SPIFFE workload identities)")
        caller = _caller(aws)
        now = int(time.time())
        exp = now + ask["duration"]
        if caller.session_ends is not None and exp > caller.session_ends.timestamp():
            raise _Error("SessionDurationEscalationException",
                         "The requested DurationSeconds would extend the token past the "
                         "expiration of the calling session")
        subject = caller.arn
        claims: dict[str, Any] = {}
        if ask["subject_mode"] == "OriginIdentity":
            if origin is None:
                raise _Error("ValidationError", "SubjectMode OriginIdentity needs the calling "
                             "session's trusted identity propagation context "
                             "(aws:OriginIdentity/Subject), which it does not have")
            subject = origin[0]
            claims["subject_mode"] = "OriginIdentity"
        if ask["scope"] is not None:
            claims["scope"] = ask["scope"]
        audience = ask["audience"]
        namespaced: dict[str, Any] = {"aws_account": caller.account,
                                      "source_region": aws.region, "principal_id": caller.arn}
        if ask["tags"]:
            namespaced["request_tags"] = ask["tags"]
        claims = {"iss": self._issuer_url(account),
                  "aud": audience[0] if len(audience) == 1 else audience,
                  "sub": subject, "iat": now, "exp": exp, "jti": str(uuid.uuid4()),
                  **claims, CLAIMS_NAMESPACE: namespaced}
        if len(json.dumps(claims, separators=(",", ":"))) > MAX_PAYLOAD:
            raise _Error("JWTPayloadSizeExceededException",
                         "The token payload exceeds the maximum size: pass fewer request tags")
        kid, key = self._keys.get()[ask["algorithm"]]
        return jwt.encode(claims, key, algorithm=ask["algorithm"], headers={"kid": kid}), exp


def _parse(params: dict[str, str]) -> dict[str, Any]:
    """The request's fields, checked as STS does (``ValidationError`` otherwise)."""
    audience = [params[k] for k in sorted(
        (k for k in params if k.startswith("Audience.member.")),
        key=lambda k: int(k.rsplit(".", 1)[1]))]
    if not 1 <= len(audience) <= 10:
        raise _Error("ValidationError", "Audience must hold 1 to 10 values")
    algorithm = params.get("SigningAlgorithm")
    if algorithm not in ("RS256", "ES384"):
        raise _Error("ValidationError", "SigningAlgorithm must be RS256 or ES384")
    try:
        duration = int(params.get("DurationSeconds", "300"))
    except ValueError:
        raise _Error("ValidationError", "DurationSeconds must be an integer") from None
    if not 60 <= duration <= 3600:
        raise _Error("ValidationError", "DurationSeconds must be between 60 and 3600")
    tags: dict[str, str] = {}
    index = 1
    while f"Tags.member.{index}.Key" in params:
        key = params[f"Tags.member.{index}.Key"]
        if key in tags:
            raise _Error("ValidationError", f"Duplicate tag key {key!r}")
        tags[key] = params.get(f"Tags.member.{index}.Value", "")
        index += 1
    if len(tags) > 50:
        raise _Error("ValidationError", "At most 50 tags")
    scope, mode, token_type = (params.get("Scope"), params.get("SubjectMode"),
                               params.get("TokenType"))
    if mode not in (None, "AWSIdentity", "OriginIdentity"):
        raise _Error("ValidationError", "SubjectMode must be AWSIdentity or OriginIdentity")
    if token_type not in (None, "AWSIdentity", "JWT_SVID"):
        raise _Error("ValidationError", "TokenType must be AWSIdentity or JWT_SVID")
    if token_type is not None and (mode is not None or scope is not None):
        raise _Error("ValidationError", "TokenType cannot be combined with SubjectMode or Scope")
    if token_type == "JWT_SVID" and (len(audience) != 1 or tags):
        raise _Error("ValidationError", "A JWT_SVID takes exactly one audience and no tags")
    if scope is not None and (mode != "OriginIdentity" or len(audience) != 1):
        raise _Error("ValidationError",
                     "Scope needs SubjectMode OriginIdentity and exactly one audience")
    return {"audience": audience, "algorithm": algorithm, "duration": duration, "tags": tags,
            "scope": scope, "subject_mode": mode, "token_type": token_type}


def _caller(aws: AwsRequest) -> _Caller:
    """Who signed the request, as moto knows it: an assumed role's session, an IAM user,
    or moto's default user."""
    from moto.sts.models import sts_backends

    backend = sts_backends[aws.account_id]["aws"]
    role = backend.get_assumed_role_from_access_key(aws.access_key_id)
    if role is not None:
        ends = role.expiration
        if ends.tzinfo is None:
            ends = ends.replace(tzinfo=dt.UTC)
        return _Caller(role.role_arn, role.account_id, ends)
    _, arn, account = backend.get_caller_identity(aws.access_key_id, aws.region)
    return _Caller(arn, account, None)


def _result(namespace: str, operation: str, body: str) -> Response:
    request_id = str(uuid.uuid4())
    xml = (f'<{operation}Response xmlns="{namespace}"><{operation}Result>{body}'
           f"</{operation}Result><ResponseMetadata><RequestId>{request_id}</RequestId>"
           f"</ResponseMetadata></{operation}Response>")
    return Response(200, xml.encode(), {"Content-Type": "text/xml"})


def _error(namespace: str, error: _Error) -> Response:
    status = _STATUS.get(error.code, 400)
    xml = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type>'
           f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
           f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return Response(status, xml.encode(), {"Content-Type": "text/xml"})
