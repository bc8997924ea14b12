"""agentcore_auth: outbound credentials for AI agent tools.

Resolve API keys and OAuth2 tokens from Amazon Bedrock AgentCore Identity (or
straight from referenced Secrets Manager secrets) with a short-TTL, per-user,
single-flight cache; inject them into tools with decorators or into httpx with
:class:`AgentCoreAuth`, refetching once on 401; and keep every value out of
logs, tracebacks, reprs and model-bound text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._arn import SecretRef
from ._cache import CacheStats
from ._credential import Credential, CredentialRequest
from ._exceptions import (
    AccessDeniedError,
    AgentCoreAuthError,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialError,
    CredentialNotFoundError,
    CredentialRejectedError,
    RedactedError,
    SourceUnavailableError,
)
from ._handle import DEFAULT_HANDLE_TTL, IdentityHandle, identity_handle, resolve_handle
from ._identity import Identity, current_identity, identity_context
from ._logging import install_log_redaction, uninstall_log_redaction
from ._redact import Redactor, default_redactor, redact, redact_obj
from ._resolver import CredentialResolver, default_resolver, set_default_resolver
from ._rotation import RotationWatcher, WatcherStats
from ._secret import MaskedStr, Secret
from ._stream import StreamScrubber
from ._tool import requires_access_token, requires_api_key
from ._tool_identity import WAT_HEADER, requires_iam_access_token, requires_wat
from .sources import (
    AgentCoreIdentitySource,
    CredentialBrokerSource,
    CredentialSource,
    EnvSource,
    SecretsManagerSource,
    StsWebIdentitySource,
)

if TYPE_CHECKING:
    from .httpx import AgentCoreAuth

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AgentCoreAuth",
    "AgentCoreAuthError",
    "AgentCoreIdentitySource",
    "AuthorizationRequiredError",
    "CacheStats",
    "ConfigurationError",
    "Credential",
    "CredentialBrokerSource",
    "CredentialError",
    "CredentialNotFoundError",
    "CredentialRejectedError",
    "CredentialRequest",
    "CredentialResolver",
    "CredentialSource",
    "EnvSource",
    "DEFAULT_HANDLE_TTL",
    "Identity",
    "IdentityHandle",
    "MaskedStr",
    "RedactedError",
    "Redactor",
    "RotationWatcher",
    "Secret",
    "SecretRef",
    "SecretsManagerSource",
    "SourceUnavailableError",
    "StreamScrubber",
    "StsWebIdentitySource",
    "WAT_HEADER",
    "WatcherStats",
    "current_identity",
    "default_redactor",
    "default_resolver",
    "identity_context",
    "identity_handle",
    "install_log_redaction",
    "redact",
    "redact_obj",
    "requires_access_token",
    "requires_api_key",
    "resolve_handle",
    "requires_iam_access_token",
    "requires_wat",
    "set_default_resolver",
    "uninstall_log_redaction",
]

# Show public names as agentcore_auth.X in reprs and docs, as httpx does.
for _name in __all__:
    _obj = globals().get(_name)
    if _obj is not None and getattr(_obj, "__module__", "").startswith("agentcore_auth."):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass


def __getattr__(name: str) -> Any:
    # httpx stays out of sys.modules until AgentCoreAuth is used.
    if name == "AgentCoreAuth":
        from .httpx import AgentCoreAuth

        return AgentCoreAuth
    raise AttributeError(f"module 'agentcore_auth' has no attribute {name!r}")
