"""The other two official decorators: ``requires_iam_access_token`` and ``requires_wat``.

``bedrock_agentcore.identity.auth`` (1.25.0) has four decorators; ``_tool.py`` holds
the first two. These take the official parameters with the same names and
defaults, and behave as ``requires_api_key`` does: the injected parameter is
hidden from the signature, results and exceptions are scrubbed of it.

- :func:`requires_iam_access_token` injects an AWS-signed JWT from STS
  ``GetWebIdentityToken``, cached per distinct request and AWS caller until shortly
  before its ``Expiration`` (the official one calls STS on every tool call), one STS
  call for concurrent cold callers, and a refetch when the API refuses it.
- :func:`requires_wat` injects the workload access token of the current request
  (from :func:`~agentcore_auth.identity_context` or the AgentCore Runtime), for
  calls that propagate workload identity (``X-Amz-Bedrock-AgentCore-Identity-WAT``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, ParamSpec, TypeVar

from ._credential import CredentialRequest
from ._exceptions import ConfigurationError
from ._identity import current_identity, runtime_workload_token
from ._rejection import CredentialBinding, Rejection
from ._resolver import CredentialResolver
from ._secret import Secret
from ._tool import _decorator
from ._web_identity import web_identity_request

__all__ = ["WAT_HEADER", "requires_iam_access_token", "requires_wat"]

P = ParamSpec("P")
R = TypeVar("R")

WAT_HEADER = "X-Amz-Bedrock-AgentCore-Identity-WAT"
"""The header that carries a workload access token to another Runtime or a Gateway."""


def requires_iam_access_token(
    *,
    audience: Sequence[str],
    signing_algorithm: Literal["ES384", "RS256"] = "ES384",
    duration_seconds: int = 300,
    tags: Sequence[Mapping[str, str]] | Mapping[str, str] | None = None,
    into: str = "access_token",
    scope: str | None = None,
    subject_mode: Literal["AWSIdentity", "OriginIdentity"] | None = None,
    token_type: Literal["AWSIdentity", "JWT_SVID"] | None = None,
    resolver: CredentialResolver | None = None,
    reject_statuses: Iterable[int] = (401,),
    reject_exceptions: Sequence[type[BaseException]] = (),
    inject_as: type[str] | type[Secret] = str,
    scrub_result: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Inject an AWS-signed JWT from STS ``GetWebIdentityToken`` as keyword ``into``.

    A drop-in for ``bedrock_agentcore.identity.auth.requires_iam_access_token``, for
    services that trust your AWS account's outbound web identity issuer (no client
    secret at all). Needs IAM outbound web identity federation enabled once per
    account (``aws iam enable-outbound-web-identity-federation``) and
    ``sts:GetWebIdentityToken`` for the caller.

    The token is cached per distinct request and AWS caller until ``expiry_skew``
    (the resolver's, default 30 s) before its ``Expiration``, never injected expired;
    concurrent cold callers make one STS call. STS errors are
    :class:`ConfigurationError` naming the fix (federation disabled, a duration
    beyond the session, too many tags, no signer) or the usual
    :class:`AccessDeniedError` / :class:`SourceUnavailableError`.

    Args:
        audience: the token's ``aud`` (1 to 10 strings): what the verifying service expects.
        signing_algorithm: ``"ES384"`` (default) or ``"RS256"``.
        duration_seconds: the token's lifetime, 60 to 3600 (default 300).
        tags: custom claims, ``[{"Key": k, "Value": v}, ...]`` as STS takes them (or a
            dict); STS puts them under ``https://sts.amazonaws.com/`` ``request_tags``.
        into: the keyword parameter to fill (default ``"access_token"``).
        scope: an OAuth2 ``scope`` claim (needs ``subject_mode="OriginIdentity"`` and
            one audience).
        subject_mode: whose identity is ``sub``: ``"AWSIdentity"`` (the caller's ARN,
            STS's default) or ``"OriginIdentity"`` (the user the session acts for).
        token_type: ``"AWSIdentity"`` (default) or ``"JWT_SVID"`` (a SPIFFE JWT-SVID).
        resolver: where tokens come from; default :func:`default_resolver` (any resolver
            fetches them with an :class:`~agentcore_auth.sources.StsWebIdentitySource`).
        reject_statuses: see :func:`requires_api_key`.
        reject_exceptions: see :func:`requires_api_key`.
        inject_as: ``str`` (the plain value, as the official SDK) or :class:`Secret`.
        scrub_result: see :func:`requires_api_key`.

    Raises:
        ValueError: at decoration (a :class:`ConfigurationError`), for an empty
            audience, an unknown algorithm, a duration outside 60-3600, or a
            combination STS refuses.

    Example:
        >>> @tool
        ... @requires_iam_access_token(audience=["https://api.example.com"])
        ... def query(q: str, *, access_token: str) -> str:
        ...     return httpx.get(URL, params={"q": q},
        ...                      headers={"Authorization": f"Bearer {access_token}"}).text
    """
    request = web_identity_request(
        audience=audience, signing_algorithm=signing_algorithm,
        duration_seconds=duration_seconds, tags=tags, scope=scope, subject_mode=subject_mode,
        token_type=token_type)
    return _decorator(CredentialBinding(
        decorator="requires_iam_access_token", request=request, into=into, inject_as=inject_as,
        resolver=resolver, reject_statuses=reject_statuses, reject_exceptions=reject_exceptions,
    ), scrub_result)


def requires_wat(
    *,
    into: str = "identity_wat",
    inject_as: type[str] | type[Secret] = str,
    scrub_result: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Inject the current request's workload access token (WAT) as keyword ``into``.

    A drop-in for ``bedrock_agentcore.identity.auth.requires_wat``, for calls that
    propagate workload identity: another AgentCore Runtime (boto3 propagates it) or
    a Gateway's MCP endpoint (send it in :data:`WAT_HEADER`). The token comes from
    :func:`~agentcore_auth.identity_context` (``workload_access_token=``) or, when
    ``bedrock_agentcore`` is installed, from the Runtime's request context. None
    available is a :class:`ConfigurationError` raised before the tool runs. The
    token is registered for redaction (scrubbed from results and logs) and hidden
    from the tool's signature.

    Args:
        into: the keyword parameter to fill (default ``"identity_wat"``).
        inject_as: ``str`` (the plain value, as the official SDK) or :class:`Secret`.
        scrub_result: see :func:`requires_api_key`.

    Example:
        >>> @requires_wat()
        ... def call_gateway(q: str, *, identity_wat: str) -> dict:
        ...     return httpx.post(GATEWAY, json=..., headers={WAT_HEADER: identity_wat}).json()
    """
    return _decorator(_WatBinding(into, inject_as), scrub_result)


class _WatBinding(CredentialBinding):
    """A binding whose credential is the request's WAT: nothing to fetch, nothing to refetch."""

    def __init__(self, into: str, inject_as: type[str] | type[Secret]) -> None:
        super().__init__(decorator="requires_wat",
                         request=CredentialRequest("workload-access-token"), into=into,
                         inject_as=inject_as, resolver=None, reject_statuses=(),
                         reject_exceptions=())
        self.label = "@requires_wat()"

    def cached(self, resolver: CredentialResolver) -> Secret:
        identity = current_identity()
        token: object = getattr(identity, "workload_access_token", None)
        if token is None:
            token = runtime_workload_token()
        if isinstance(token, str) and token:
            token = Secret(token, name="workload-access-token")
        if not isinstance(token, Secret) or not token.reveal():
            raise ConfigurationError(
                f"@requires_wat has no workload access token to inject as {self.into!r}: on "
                "AgentCore Runtime the platform sets one per request (bedrock_agentcore must be "
                "installed); elsewhere wrap the call in agentcore_auth.identity_context("
                "workload_access_token=...) with one from GetWorkloadAccessToken*")
        resolver._register(token)
        return token

    def get(self, resolver: CredentialResolver, *, refetch: bool = False) -> Secret:
        return self.cached(resolver)

    async def aget(self, resolver: CredentialResolver, *, refetch: bool = False) -> Secret:
        return self.cached(resolver)

    def first_failure(self, exc: BaseException, resolver: CredentialResolver,
                      secret: Secret) -> Rejection:
        # Asking again would give the same token: nothing to refetch, re-raise scrubbed.
        raise self.scrub(exc, resolver)
