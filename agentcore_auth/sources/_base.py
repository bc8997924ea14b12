"""What every source shares: the protocol, lazy boto3 clients, and error mapping."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._aws import configuration_error, configured_region
from .._credential import Credential, CredentialRequest
from .._exceptions import (
    AccessDeniedError,
    AgentCoreAuthError,
    ConfigurationError,
    CredentialError,
    CredentialNotFoundError,
    SourceUnavailableError,
)
from .._identity import Identity
from ._protect import protect_client

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["BotoClientFactory", "CredentialSource", "map_boto_error"]


@runtime_checkable
class CredentialSource(Protocol):
    """Where credentials come from. Implement :meth:`fetch`; the resolver does the rest.

    ``fetch`` is synchronous (boto3 is); the resolver runs it in a bounded worker
    pool for async callers. It must raise only :class:`AgentCoreAuthError`
    subclasses, chaining the backend's error, and never put a secret in a message.

    A source may also have ``binding() -> tuple[str, ...]``: what its values are bound
    to, its kind first (then Region, workload, account, configuration), known without
    I/O. A shared tier (``agentcore_auth.fleet``) binds its names to it (else to the
    source's class and ``name``), so a resolver over another source or workload is
    never served this one's values. A wrapper source forwards its inner one's.
    """

    name: str

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        """Fetch one credential for ``request`` on behalf of ``identity``."""
        ...


class BotoClientFactory:
    """Creates one boto3 client on first use (thread-safe), with retries and timeouts.

    Retries use botocore's own standard mode (throttling, 5xx, connection errors)
    rather than a loop of ours.
    """

    def __init__(
        self,
        service_name: str,
        *,
        region: str | None,
        endpoint_url: str | None,
        client: BaseClient | None,
        max_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        session: Any = None,
    ) -> None:
        if endpoint_url is not None and not (
            isinstance(endpoint_url, str) and endpoint_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError(
                f"endpoint_url {endpoint_url!r} for {service_name} must be an http:// or "
                "https:// URL, e.g. 'http://127.0.0.1:4566'"
            )
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        self.service_name = service_name
        self._region = region
        self._endpoint_url = endpoint_url
        self._client = client
        self._ready: BaseClient | None = None
        self._session = session
        self._max_attempts = max_attempts
        self._timeouts = (connect_timeout, read_timeout)
        self._lock = threading.Lock()

    @property
    def region(self) -> str:
        """The client's Region; raises ConfigurationError when none is configured."""
        if self._client is not None:
            return str(self._client.meta.region_name)
        if self._region is None:
            self._region = configured_region(self._session)
        if not self._region:
            raise ConfigurationError(
                f"no AWS Region configured for {self.service_name}: pass region='us-east-1' "
                "(or your Region), or set AWS_REGION (AWS_DEFAULT_REGION also works), or set "
                "the profile's region"
            )
        return self._region

    def get(self) -> BaseClient:
        """The client, created on first use and hooked so its responses are redacted."""
        client = self._ready
        if client is None:
            with self._lock:
                if self._ready is None:
                    self._ready = protect_client(self._client or self._create())
                client = self._ready
        return client

    def _create(self) -> BaseClient:
        import boto3
        from botocore.config import Config

        session = self._session or boto3.session.Session()
        config = Config(
            retries={"mode": "standard", "total_max_attempts": self._max_attempts},
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
            user_agent_extra="agentcore-auth",
        )
        try:
            return session.client(
                self.service_name,
                region_name=self.region,
                endpoint_url=self._endpoint_url,
                config=config,
            )
        except AgentCoreAuthError:
            raise
        except Exception as exc:
            error = configuration_error(exc, f"creating the {self.service_name} client")
            if error is not None:
                raise error from exc
            if not isinstance(exc, ValueError):
                raise
            # botocore rejects malformed endpoint URLs this way
            raise ConfigurationError(
                f"cannot create the {self.service_name} client: {exc}"
            ) from exc


# Error code -> (exception type, what to do about it). Messages from AWS never carry
# secret values; ours add the remediation.
_CODE_MAP: Mapping[str, type[CredentialError]] = {
    "ResourceNotFoundException": CredentialNotFoundError,
    "AccessDeniedException": AccessDeniedError,
    "AccessDenied": AccessDeniedError,
    "UnauthorizedException": AccessDeniedError,
    "DecryptionFailure": AccessDeniedError,
    "KMSAccessDeniedException": AccessDeniedError,
    "ThrottlingException": SourceUnavailableError,
    "Throttling": SourceUnavailableError,
    "TooManyRequestsException": SourceUnavailableError,
    "InternalServerException": SourceUnavailableError,
    "InternalServiceError": SourceUnavailableError,
    "InternalFailure": SourceUnavailableError,
    "ServiceUnavailable": SourceUnavailableError,
    "ServiceUnavailableException": SourceUnavailableError,
}


def map_boto_error(
    exc: Exception,
    *,
    provider_name: str,
    source: str,
    what: str,
    hints: Mapping[type[AgentCoreAuthError], str] | Callable[[str], str | None] | None = None,
    codes: Mapping[str, type[CredentialError]] | None = None,
) -> AgentCoreAuthError:
    """Turn a botocore/boto3 exception into one of ours, with a message that says what to fix.

    Args:
        exc: the caught exception.
        provider_name: which credential it was for.
        source: the source's short name.
        what: what was being done, e.g. "GetResourceApiKey for provider 'weather'".
        hints: remediation text per error type, or a function of the error code.
        codes: service-specific error codes to map, over the shared table.
    """
    from botocore import exceptions as bx

    # Profile, credential and Region problems: never retried, never served stale.
    config_error = configuration_error(exc, what)
    if config_error is not None:
        return config_error
    code = ""
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = str(error.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind: type[AgentCoreAuthError] | None = (codes or {}).get(code) or _CODE_MAP.get(code)
        if kind is None:
            if code == "ValidationException":
                kind = ConfigurationError
            elif status >= 500 or status == 429:
                kind = SourceUnavailableError
            else:
                kind = CredentialError
        message = f"{what} failed with {code}: {detail}"
    elif isinstance(exc, bx.ParamValidationError):
        # botocore quotes offending values ("value: ..."), which may be tokens: hide them.
        report = re.sub(r"value: .*?, type", "value: <hidden>, type", str(exc), flags=re.S)
        kind, message = ConfigurationError, f"{what}: invalid parameters: {report}"
    elif isinstance(
        exc,
        bx.EndpointConnectionError
        | bx.ConnectionError
        | bx.ConnectTimeoutError
        | bx.ReadTimeoutError
        | bx.HTTPClientError,
    ):
        kind, message = (
            SourceUnavailableError,
            (
                f"{what}: could not reach the endpoint after retries "
                f"({type(exc).__name__}: {exc}); check network access, endpoint_url and the Region"
            ),
        )
    else:
        kind, message = SourceUnavailableError, f"{what} failed: {type(exc).__name__}: {exc}"
    hint: str | None = None
    if callable(hints):
        hint = hints(code)
    elif hints:
        hint = next((text for k, text in hints.items() if issubclass(kind, k)), None)
    if hint:
        message = f"{message}. {hint}"
    if issubclass(kind, CredentialError):
        return kind(message, provider_name=provider_name, source=source)
    return kind(message)
