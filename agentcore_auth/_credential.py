"""What is asked for (CredentialRequest) and what a source answers (Credential)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._arn import validate_provider_name
from ._exceptions import ConfigurationError
from ._secret import Secret

__all__ = ["AUTH_FLOWS", "Credential", "CredentialRequest", "Kind", "WEB_IDENTITY_NAME",
           "WebIdentity"]

Kind = Literal["api_key", "oauth2", "web_identity"]
#: The name STS web identity tokens go by (in messages, redaction labels, ``invalidate``).
WEB_IDENTITY_NAME = "sts-web-identity"
AUTH_FLOWS = ("M2M", "USER_FEDERATION", "ON_BEHALF_OF_TOKEN_EXCHANGE")
#: flows whose token belongs to one user, so the cache key carries that user
USER_FLOWS = frozenset({"USER_FEDERATION", "ON_BEHALF_OF_TOKEN_EXCHANGE"})


@dataclass(frozen=True, slots=True)
class WebIdentity:
    """The parameters of one STS ``GetWebIdentityToken`` request (already checked).

    Tags are stored sorted by key, so equal requests hash equal.
    """

    audience: tuple[str, ...]
    signing_algorithm: str = "ES384"
    duration_seconds: int = 300
    tags: tuple[tuple[str, str], ...] = ()
    scope: str | None = None
    subject_mode: str | None = None
    token_type: str | None = None

    def params(self) -> dict[str, object]:
        """The ``get_web_identity_token`` keyword arguments."""
        params: dict[str, object] = {"Audience": list(self.audience),
                                     "SigningAlgorithm": self.signing_algorithm,
                                     "DurationSeconds": self.duration_seconds}
        if self.tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        for name, value in (("Scope", self.scope), ("SubjectMode", self.subject_mode),
                            ("TokenType", self.token_type)):
            if value is not None:
                params[name] = value
        return params


@dataclass(frozen=True, slots=True, eq=True)
class CredentialRequest:
    """Everything that changes which credential comes back, minus who asks.

    Sequences are stored sorted (scopes, resources, audiences) and mappings as
    sorted item tuples, so equal requests hash equal and can key a cache.
    """

    provider_name: str
    kind: Kind = "api_key"
    scopes: tuple[str, ...] = ()
    auth_flow: str | None = None
    resources: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    custom_parameters: tuple[tuple[str, str], ...] = ()
    custom_state: str | None = None
    callback_url: str | None = None
    web_identity: WebIdentity | None = None
    # Not part of the answer's identity: excluded from equality and hashing.
    force_authentication: bool = field(default=False, compare=False)
    session_uri: str | None = field(default=None, compare=False)
    #: One string naming everything above: the cache key (a str caches its own hash,
    #: which keeps the hit path fast).
    cache_key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_provider_name(self.provider_name)
        fields = (
            self.provider_name,
            self.kind,
            self.scopes,
            self.auth_flow,
            self.resources,
            self.audiences,
            self.custom_parameters,
            self.custom_state,
            self.callback_url,
            self.web_identity,
        )
        object.__setattr__(self, "cache_key", repr(fields))

    def __hash__(self) -> int:
        return hash(self.cache_key)

    @property
    def user_bound(self) -> bool:
        """True when the credential belongs to one user (USER_FEDERATION, token exchange)."""
        return self.auth_flow in USER_FLOWS

    @classmethod
    def oauth2(
        cls,
        provider_name: str,
        *,
        scopes: Sequence[str],
        auth_flow: str = "M2M",
        resources: Sequence[str] | None = None,
        audiences: Sequence[str] | None = None,
        custom_parameters: Mapping[str, str] | None = None,
        custom_state: str | None = None,
        callback_url: str | None = None,
        force_authentication: bool = False,
        session_uri: str | None = None,
    ) -> CredentialRequest:
        """Check and normalise the arguments of an OAuth2 token request."""
        if auth_flow not in AUTH_FLOWS:
            raise ConfigurationError(
                f"auth_flow {auth_flow!r} for provider {provider_name!r} is not supported; "
                f"use one of {', '.join(AUTH_FLOWS)}"
            )
        return cls(
            provider_name=provider_name,
            kind="oauth2",
            scopes=_strings(scopes, "scopes", provider_name),
            auth_flow=auth_flow,
            resources=_strings(resources or (), "resources", provider_name),
            audiences=_strings(audiences or (), "audiences", provider_name),
            custom_parameters=_pairs(custom_parameters, provider_name),
            custom_state=custom_state,
            callback_url=callback_url,
            force_authentication=bool(force_authentication),
            session_uri=session_uri,
        )


def _strings(values: object, what: str, provider_name: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence | set | frozenset):
        raise ConfigurationError(
            f"{what} for provider {provider_name!r} must be a list of strings, "
            f"e.g. {what}=['read'], not {type(values).__name__}"
        )
    items = list(values)
    if not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(
            f"{what} for provider {provider_name!r} must be a list of non-empty strings"
        )
    return tuple(sorted(set(items)))


def _pairs(mapping: Mapping[str, str] | None, provider_name: str) -> tuple[tuple[str, str], ...]:
    if not mapping:
        return ()
    if not isinstance(mapping, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ConfigurationError(
            f"custom_parameters for provider {provider_name!r} must be a dict of str to str"
        )
    return tuple(sorted(mapping.items()))


@dataclass(frozen=True, slots=True)
class Credential:
    """What a source returns: the secret and, when known, when it expires.

    Attributes:
        secret: the value.
        expires_at: wall-clock expiry (epoch seconds), e.g. a JWT's ``exp`` or
            ``expires_in`` added to the fetch time; None when the source cannot tell.
    """

    secret: Secret
    expires_at: float | None = None
    #: The value cannot change before ``expires_at`` (a signed JWT): cache it until
    #: then (less the resolver's ``expiry_skew``) rather than for at most ``ttl``.
    until_expiry: bool = False

    def __repr__(self) -> str:
        return f"Credential(secret={self.secret!r}, expires_at={self.expires_at!r})"
