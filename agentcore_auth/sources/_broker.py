"""CredentialBrokerSource: credentials from AWS IAM CredentialBroker (preview; experimental)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._arn import BROKER_PROVIDER_ARN
from .._credential import Credential, CredentialRequest
from .._exceptions import (
    AgentCoreAuthError,
    ConfigurationError,
    CredentialError,
    CredentialNotFoundError,
)
from .._identity import Identity
from .._jwt import jwt_expiry
from .._secret import Secret
from ._base import BotoClientFactory, map_boto_error
from ._protect import naming

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["CredentialBrokerSource"]

SOURCE = "credentialbroker"
BROKER_PRINCIPAL = "credentialbroker.amazonaws.com"

_PERMISSION_HINT = (
    "Grant the caller's IAM role credentialbroker:{op} on the provider (and "
    "credentialbroker:ListCredentialProviderPools / ListCredentialProviders to find a provider "
    "by name). For a provider whose secret is EXTERNAL, the secret's resource policy must allow "
    f"{BROKER_PRINCIPAL} secretsmanager:GetSecretValue and a customer managed KMS key must "
    "allow it kms:Decrypt; run `agentcore-auth doctor --broker {provider}` to check"
)


class CredentialBrokerSource:
    """Resolves API keys and M2M OAuth2 tokens through AWS IAM CredentialBroker.

    **Experimental** while the service is in preview (``credentialbroker`` 2026-07-01,
    ``credentialbroker-control`` 2026-09-30): names and behaviour may change with it.
    Callers authenticate with plain SigV4, so no workload access token is involved.

    ``provider_name`` (of :meth:`CredentialResolver.get_api_key`, the decorators and the
    httpx plugin) is the provider's ARN, or its name: a name is looked up once through
    the control plane (every pool, or ``pool``) and the ARN cached; a name found in
    more than one pool is a :class:`ConfigurationError` naming them. Names with a
    ``.`` (which the broker allows) must be given as ARNs.

    OAuth2: ``auth_flow="M2M"`` becomes the ``CLIENT_CREDENTIALS`` grant; the token is
    cached until ``expiry_skew`` before its ``expiresAt``. The broker caches tokens
    too, so a refresh ahead of expiry may get the same token back: then (and after
    the credential was refused, i.e. invalidated on a 401) the call is repeated once
    with ``forceAuthentication``. The end-user grants (``AUTHORIZATION_CODE``,
    ``TOKEN_EXCHANGE``) need an IAM Identity Center identity-enhanced session and are
    not offered yet (``docs/credential-broker.md``).

    Args:
        region: AWS Region; defaults to boto3's configuration.
        endpoint_url: the data plane's endpoint; boto3 also honours
            ``AWS_ENDPOINT_URL_CREDENTIALBROKER``.
        client: a ready ``credentialbroker`` boto3 client.
        control_client: a ready ``credentialbroker-control`` client (for names).
        control_endpoint_url: the control plane's endpoint
            (``AWS_ENDPOINT_URL_CREDENTIALBROKER_CONTROL``).
        pool: the pool (name, id or ARN) to look provider names up in; default all.
        expiry_skew: seconds before ``expiresAt`` a token counts as expiring; keep it
            at least the resolver's ``expiry_skew`` (both default to 30).
        max_attempts: botocore standard-mode attempts (throttling, 5xx).
        connect_timeout: seconds.
        read_timeout: seconds.
        session: a boto3 Session to create the clients from.
        clock: epoch clock compared with ``expiresAt`` (tests inject one).
    """

    name = SOURCE

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: BaseClient | None = None,
        control_client: BaseClient | None = None,
        control_endpoint_url: str | None = None,
        pool: str | None = None,
        expiry_skew: float = 30.0,
        max_attempts: int = 4,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        session: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if pool is not None and (not isinstance(pool, str) or not pool):
            raise ConfigurationError("pool must be a credential provider pool's name, id or ARN")
        number = isinstance(expiry_skew, int | float) and not isinstance(expiry_skew, bool)
        if not number or not expiry_skew >= 0:
            raise ConfigurationError(f"expiry_skew must be seconds >= 0, not {expiry_skew!r}")
        options = {"max_attempts": max_attempts, "connect_timeout": connect_timeout,
                   "read_timeout": read_timeout, "session": session}
        self._clients = BotoClientFactory("credentialbroker", region=region,
                                          endpoint_url=endpoint_url, client=client, **options)
        control_region = region or (str(client.meta.region_name) if client is not None else None)
        self._control = BotoClientFactory("credentialbroker-control", region=control_region,
                                          endpoint_url=control_endpoint_url,
                                          client=control_client, **options)
        self.pool = pool
        self.expiry_skew = float(expiry_skew)
        self._clock = clock
        self._lock = threading.Lock()
        self._lookup_lock = threading.Lock()  # one control-plane lookup at a time
        self._arns: dict[str, str] = {}
        self._force: set[str] = set()  # providers whose next token fetch bypasses the broker
        self._refused: dict[str, None] = {}  # digests of refused tokens (insertion-ordered)

    def __repr__(self) -> str:
        return f"CredentialBrokerSource(pool={self.pool!r})"

    @property
    def region(self) -> str:
        """The data plane's Region."""
        return self._clients.region

    def binding(self) -> tuple[str, ...]:
        """What a shared tier binds this source's values to: kind, Region, pool (no I/O)."""
        try:
            region = self.region
        except Exception:  # noqa: BLE001 - no Region yet: the fetch will say so
            region = ""
        return (SOURCE, f"region={region}", f"pool={self.pool or ''}")

    @property
    def client(self) -> BaseClient:
        """The ``credentialbroker`` client (created on first use)."""
        return self._clients.get()

    @property
    def control_client(self) -> BaseClient:
        """The ``credentialbroker-control`` client (created on first use)."""
        return self._control.get()

    # --- fetching -------------------------------------------------------------------------

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        """Call GetApiKey, or GetOAuthToken with CLIENT_CREDENTIALS, for ``request``."""
        name = request.provider_name
        arn = self.provider_arn(name)
        if request.kind == "api_key":
            response = self._invoke("GetApiKey", name,
                                    lambda c: c.get_api_key(credentialProviderArn=arn))
            return Credential(Secret(response["apiKey"], name=name))
        if (request.auth_flow or "M2M") != "M2M":
            raise ConfigurationError(
                f"auth_flow {request.auth_flow!r} for provider {name!r}: CredentialBrokerSource "
                "offers M2M (CLIENT_CREDENTIALS) only; the broker's end-user grants need an IAM "
                "Identity Center identity-enhanced session (see docs/credential-broker.md)")
        params: dict[str, Any] = {"credentialProviderArn": arn, "grantType": "CLIENT_CREDENTIALS"}
        optional = {"scopes": list(request.scopes), "resources": list(request.resources),
                    "audiences": list(request.audiences),
                    "customParameters": dict(request.custom_parameters)}
        params.update({k: v for k, v in optional.items() if v})
        with self._lock:
            force = request.force_authentication or name in self._force
            self._force.discard(name)
        token, expires_at = self._token(name, params, force)
        if not force and (self._is_refused(token) or (
                expires_at is not None and expires_at - self._clock() <= self.expiry_skew)):
            # The broker handed back its cached token, which was refused or expires within
            # the skew: ask once for a new one rather than on every later call.
            token, expires_at = self._token(name, params, True)
        if expires_at is not None and expires_at <= self._clock():
            raise CredentialError(
                f"GetOAuthToken for provider {name!r} returned a token that has already expired "
                "(check the clocks, and the authorization server's token lifetime)",
                provider_name=name, source=SOURCE)
        return Credential(Secret(token, name=name), expires_at=expires_at)

    def _token(self, name: str, params: dict[str, Any], force: bool) -> tuple[str, float | None]:
        call = {**params, "forceAuthentication": True} if force else params
        response = self._invoke("GetOAuthToken", name, lambda c: c.get_o_auth_token(**call))
        token = response.get("accessToken")
        if not token:
            raise CredentialNotFoundError(
                f"GetOAuthToken for provider {name!r} returned no access token "
                f"(sessionStatus {response.get('sessionStatus')!r})",
                provider_name=name, source=SOURCE)
        expires = response.get("expiresAt")
        expires_at = (float(expires.timestamp()) if isinstance(expires, dt.datetime)
                      else jwt_expiry(token))
        return str(token), expires_at

    def invalidated(self, provider_name: str, value: Secret | None) -> None:
        """Called by the resolver when a credential was dropped (after a 401, say).

        The next token fetch for that provider sends ``forceAuthentication``, so the
        broker does not hand back the token it cached.
        """
        with self._lock:
            self._force.add(provider_name)
            if value is not None:
                self._refused[_digest(value.reveal())] = None
                while len(self._refused) > 1024:
                    del self._refused[next(iter(self._refused))]

    def _is_refused(self, token: str) -> bool:
        with self._lock:
            return _digest(token) in self._refused

    def _invoke(self, operation: str, name: str, call: Callable[[Any], Any], *,
                control: bool = False) -> dict[str, Any]:
        try:
            with naming(name):
                return call(self.control_client if control else self.client)  # type: ignore[no-any-return]
        except AgentCoreAuthError:
            raise
        except Exception as exc:  # botocore's errors do not share a base we can name
            if not control and _error_code(exc) == "ResourceNotFoundException":
                self._forget_arn(name)  # a provider re-created under the same name: look again
            raise map_boto_error(exc, provider_name=name, source=SOURCE,
                                 what=f"{operation} for provider {name!r}",
                                 hints=lambda code: _hint(code, operation, name)) from exc

    # --- names -> ARNs ----------------------------------------------------------------------

    def provider_arn(self, provider_name: str) -> str:
        """The provider's ARN: ``provider_name`` itself, or looked up once by name."""
        if provider_name.startswith("arn:"):
            if not BROKER_PROVIDER_ARN.fullmatch(provider_name):
                raise ConfigurationError(f"{provider_name!r} is not a CredentialBroker provider "
                                         "ARN (arn:aws:credentialbroker:REGION:ACCOUNT:"
                                         "credentialproviderpool/POOL/credentialprovider/ID)")
            region = provider_name.split(":")[3]
            if region != self.region:
                raise ConfigurationError(
                    f"provider {provider_name} is in {region} but the CredentialBroker client is "
                    f"in {self.region}: the broker is regional; pass region={region!r}")
            return provider_name
        with self._lock:
            arn = self._arns.get(provider_name)
        if arn is not None:
            return arn
        with self._lookup_lock:
            with self._lock:
                arn = self._arns.get(provider_name)
            if arn is None:
                arn = self._look_up(provider_name)
                with self._lock:
                    self._arns[provider_name] = arn
        return arn

    def _forget_arn(self, name: str) -> None:
        with self._lock:
            self._arns.pop(name, None)

    def _pools(self, name: str) -> list[dict[str, Any]]:
        pools = [pool for page in self._pages("ListCredentialProviderPools", name, {})
                 for pool in page.get("items", [])]
        if self.pool is None:
            return pools
        if self.pool.startswith("arn:"):
            chosen = [p for p in pools if p["credentialProviderPoolArn"] == self.pool]
        else:
            chosen = [p for p in pools if self.pool in (p["name"], p["credentialProviderPoolId"])]
        if not chosen:
            known = ", ".join(repr(p["name"]) for p in pools) or "none"
            raise ConfigurationError(f"pool {self.pool!r} of CredentialBrokerSource does not "
                                     f"exist in {self.region} (pools: {known})")
        return chosen

    def _look_up(self, name: str) -> str:
        pools = self._pools(name)
        found: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for pool in pools:
            args = {"credentialProviderPoolIdentifier": pool["credentialProviderPoolId"],
                    "nameContains": name}
            for page in self._pages("ListCredentialProviders", name, args):
                found += [(pool, p) for p in page.get("items", []) if p["name"] == name]
        if not found:
            where = f"pool {self.pool!r}" if self.pool else f"any of {len(pools)} pool(s)"
            raise CredentialNotFoundError(
                f"no CredentialBroker provider named {name!r} in {where} in {self.region}: check "
                "the name (or pass the provider's ARN), or create it with aws "
                "credentialbroker-control create-credential-provider",
                provider_name=name, source=SOURCE)
        if len(found) > 1:
            pools_named = ", ".join(f"{pool['name']!r} ({pool['credentialProviderPoolId']})"
                                    for pool, _ in found)
            raise ConfigurationError(
                f"CredentialBroker provider name {name!r} is in more than one pool: "
                f"{pools_named}; pass pool=<name> to CredentialBrokerSource, or use the "
                "provider's ARN")
        return str(found[0][1]["credentialProviderArn"])

    def _pages(self, operation: str, name: str, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        method = "list_credential_provider_pools" if operation.endswith("Pools") else (
            "list_credential_providers")
        while True:
            call = {**args, **({"nextToken": token} if token else {})}
            page = self._invoke(operation, name, functools.partial(_list, method, call),
                                control=True)
            yield page
            token = page.get("nextToken")
            if not token:
                return


def _list(method: str, args: dict[str, Any], client: Any) -> dict[str, Any]:
    return getattr(client, method)(**args)  # type: ignore[no-any-return]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _hint(code: str, operation: str, provider_name: str) -> str | None:
    if code in ("AccessDeniedException", "AccessDenied"):
        return _PERMISSION_HINT.format(op=operation, provider=provider_name)
    if code == "ResourceNotFoundException":
        return ("Check the provider's ARN or name, in this Region; list them with aws "
                "credentialbroker-control list-credential-providers")
    if code == "ValidationException":
        return ("If the provider was just created it may still be CREATING: wait until aws "
                "credentialbroker-control get-credential-provider shows READY")
    if code in ("ThrottlingException", "InternalServerException", "ServiceUnavailableException"):
        return "AWS IAM CredentialBroker stayed unavailable after botocore's retries; try later"
    return None
