"""The exception hierarchy of agentcore_auth.

```
AgentCoreAuthError
├── ConfigurationError              bad arguments or set-up, caught as early as possible
└── CredentialError                 .provider_name, .source
    ├── CredentialNotFoundError     nothing stored under that name (or the secret is gone)
    ├── AccessDeniedError           the caller or the service is not allowed; says what to grant
    ├── AuthorizationRequiredError  user consent needed; .authorization_url, .session_uri
    ├── SourceUnavailableError      throttling, 5xx, timeouts after botocore's retries
    └── CredentialRejectedError     the downstream API refused a freshly fetched credential
└── RedactedError                   stands in for an exception whose text held a secret
```

Every message says what was wrong and how to fix it. No message, attribute or
repr ever holds a secret value; the original backend error is chained with
``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AgentCoreAuthError",
    "AuthorizationRequiredError",
    "ConfigurationError",
    "CredentialError",
    "CredentialNotFoundError",
    "CredentialRejectedError",
    "RedactedError",
    "SourceUnavailableError",
]


class AgentCoreAuthError(Exception):
    """Base class of every error this library raises."""


class ConfigurationError(AgentCoreAuthError, ValueError):
    """An argument or the environment is wrong; the message says how to fix it."""


class CredentialError(AgentCoreAuthError):
    """A credential could not be resolved or was refused.

    Attributes:
        provider_name: the credential provider (or source key) concerned.
        source: a short name of where the credential comes from
            (``"agentcore-identity"``, ``"secretsmanager"``, ``"env"``, ...).
    """

    def __init__(
        self, message: str, *, provider_name: str | None = None, source: str | None = None
    ) -> None:
        super().__init__(message)
        self.provider_name = provider_name
        self.source = source


class CredentialNotFoundError(CredentialError):
    """Nothing is stored under that provider name, secret ARN or JSON key."""


class AccessDeniedError(CredentialError):
    """The caller, or AgentCore Identity reading a referenced secret, is not allowed.

    The message names the missing permission and the resource it applies to.
    """


class AuthorizationRequiredError(CredentialError):
    """A user must consent (OAuth2 USER_FEDERATION) before a token can be issued.

    Attributes:
        authorization_url: the URL to show the user. It is sensitive (it carries a
            session reference): show it to that user only, never log it above DEBUG.
        session_uri: pass it back (``session_uri=``) to pick the flow up after consent.
    """

    def __init__(
        self,
        message: str,
        *,
        authorization_url: str,
        session_uri: str | None,
        provider_name: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message, provider_name=provider_name, source=source)
        self.authorization_url = authorization_url
        self.session_uri = session_uri

    def __reduce__(self) -> tuple[object, ...]:  # keep keyword-only attributes on pickling
        return (
            _rebuild_authorization_required,
            (str(self), self.authorization_url, self.session_uri, self.provider_name, self.source),
        )


def _rebuild_authorization_required(
    message: str,
    authorization_url: str,
    session_uri: str | None,
    provider_name: str | None,
    source: str | None,
) -> AuthorizationRequiredError:
    return AuthorizationRequiredError(
        message,
        authorization_url=authorization_url,
        session_uri=session_uri,
        provider_name=provider_name,
        source=source,
    )


class SourceUnavailableError(CredentialError):
    """The source was throttled, failed or timed out after botocore's retries."""


class CredentialRejectedError(CredentialError):
    """The downstream API refused a credential even after one refetch.

    Tools may also raise it themselves to ask the decorator for a refetch.

    Attributes:
        status_code: the HTTP status that counted as a rejection, when known.
        retry_after: seconds during which the credential backs off (the source keeps
            returning the refused value, so further refusals fail at once without
            asking it again); None when retrying at once may help.
    """

    def __init__(
        self,
        message: str,
        *,
        provider_name: str | None = None,
        source: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider_name=provider_name, source=source)
        self.status_code = status_code
        self.retry_after = retry_after


class RedactedError(AgentCoreAuthError):
    """Stands in for an exception that still showed a secret after scrubbing.

    Raised (``from None``, so the original is not chained) when an exception's
    ``str``, ``repr`` or formatted traceback computes a secret value from state
    that in-place scrubbing cannot reach, such as a pydantic ``ValidationError``'s
    ``input_value``.

    Attributes:
        original_type: the qualified name of the exception it replaces
            (``"pydantic_core._pydantic_core.ValidationError"``).
    """

    def __init__(self, message: str, *, original_type: str) -> None:
        super().__init__(message)
        self.original_type = original_type

    def __reduce__(self) -> tuple[object, ...]:  # keep the keyword-only attribute on pickling
        return (_rebuild_redacted, (str(self), self.original_type))


def _rebuild_redacted(message: str, original_type: str) -> RedactedError:
    return RedactedError(message, original_type=original_type)
