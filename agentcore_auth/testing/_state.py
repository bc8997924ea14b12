"""The emulator's in-memory model: providers, workload identities, sessions, token vault,
call counters and injected faults. No HTTP here; every structure is guarded by a lock
because the servers call in from their request threads while tests read and tweak it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._wire import ERROR_STATUS

__all__ = [
    "ApiKeyProvider",
    "Counters",
    "Faults",
    "Oauth2Provider",
    "PaymentProvider",
    "Session",
    "Settings",
    "Store",
    "VaultEntry",
    "WorkloadIdentity",
]


@dataclass(slots=True)
class Settings:
    """Tunables shared by every Region's planes (changeable while running)."""

    consent_session_lifetime: float = 600.0
    """Seconds a USER_FEDERATION session (its authorization URL) stays usable."""
    broker_settle_seconds: float = 0.2
    """Seconds a CredentialBroker pool or provider stays CREATING/UPDATING/DELETING."""


@dataclass(slots=True)
class ApiKeyProvider:
    """An API key credential provider; the key itself lives in Secrets Manager."""

    name: str
    arn: str
    source: str  # MANAGED or EXTERNAL
    secret_arn: str
    json_key: str
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass(slots=True)
class Oauth2Provider:
    """An OAuth2 credential provider; the client secret lives in Secrets Manager."""

    name: str
    arn: str
    vendor: str
    config_key: str  # e.g. "customOauth2ProviderConfig"
    client_id: str
    source: str
    secret_arn: str
    json_key: str
    discovery: dict[str, Any]  # the Oauth2Discovery structure returned to callers
    metadata: dict[str, Any]  # issuer, authorization_endpoint, token_endpoint, auth methods
    callback_url: str
    auth_method: str = "client_secret_basic"
    settings: dict[str, Any] = field(default_factory=dict)  # other config, kept as given
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass(slots=True)
class PaymentProvider:
    """A payment credential provider: per secret field, (source, secret ARN, JSON key)."""

    name: str
    arn: str
    vendor: str
    config_key: str  # coinbaseCdpConfiguration or stripePrivyConfiguration
    plain: dict[str, Any]  # non-secret settings (apiKeyId, appId, authorizationId)
    secrets: dict[str, tuple[str, str, str]]  # "apiKeySecret" -> (source, ARN, JSON key)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass(slots=True)
class WorkloadIdentity:
    """A workload identity and the OAuth2 return URLs it allows."""

    name: str
    arn: str
    return_urls: list[str]
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass(slots=True)
class Session:
    """A USER_FEDERATION consent session, from authorization URL to stored token.

    ``status`` goes IN_PROGRESS -> CONSENTED (the IdP redirected back and the code was
    exchanged) -> COMPLETED (CompleteResourceTokenAuth named the right user), or FAILED.
    A user is ``issuer`` (empty for a ``userId``) plus ``user_id`` (a JWT's ``sub``).
    """

    uri: str
    state: str
    workload: str
    provider: str
    user_id: str
    scopes: tuple[str, ...]
    return_url: str | None
    custom_state: str | None = None
    issuer: str = ""
    user_token: str | None = None  # the JWT that started it, for complete_consent
    authorize_params: list[tuple[str, str]] = field(default_factory=list)
    status: str = "IN_PROGRESS"
    token: str | None = None
    refresh_token: str | None = None
    expires_at: float = 0.0
    valid_until: float = 0.0  # when the session itself expires

    def user(self) -> tuple[str, str]:
        """(issuer, user) of the user who started the session."""
        return self.issuer, self.user_id


@dataclass(slots=True)
class VaultEntry:
    """A user's tokens in the token vault: the access token and, when given, a refresh token."""

    access_token: str
    expires_at: float
    refresh_token: str | None = None


class Store:
    """Everything the control and data planes keep, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.api_key_providers: dict[str, ApiKeyProvider] = {}
        self.oauth2_providers: dict[str, Oauth2Provider] = {}
        self.workloads: dict[str, WorkloadIdentity] = {}
        self.sessions: dict[str, Session] = {}  # by session URI
        self.sessions_by_state: dict[str, str] = {}  # OAuth2 state -> session URI
        # (workload, provider, issuer, user, scopes) -> the user's tokens
        self.vault: dict[VaultKey, VaultEntry] = {}
        self.user_tokens: dict[str, str] = {}  # workload token jti -> the user's JWT
        self.tags: dict[str, dict[str, str]] = {}  # resource ARN -> tags
        # token vault id -> (kmsConfiguration, last modified)
        self.token_vaults: dict[str, tuple[dict[str, str], float]] = {
            "default": ({"keyType": "ServiceManagedKey"}, time.time())}
        self.consent_portals: dict[str, dict[str, Any]] = {}  # by id
        self.payment_providers: dict[str, PaymentProvider] = {}  # by name

    def vault_key(self, session: Session) -> VaultKey:
        """The token vault key of a session's token."""
        return (session.workload, session.provider, session.issuer, session.user_id,
                session.scopes)

    def expire_sessions(self, now: float) -> None:
        """Forget sessions past their lifetime (call with the lock held)."""
        for uri in [u for u, s in self.sessions.items() if 0 < s.valid_until <= now]:
            session = self.sessions.pop(uri)
            self.sessions_by_state.pop(session.state, None)


VaultKey = tuple[str, str, str, str, tuple[str, ...]]


class Counters:
    """Thread-safe call counters by operation (or endpoint) name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def increment(self, name: str) -> None:
        """Count one call of ``name``."""
        with self._lock:
            self._counts[name] += 1

    def get(self, name: str) -> int:
        """How often ``name`` was called since the last reset."""
        with self._lock:
            return self._counts[name]

    def reset(self) -> None:
        """Set every count back to zero."""
        with self._lock:
            self._counts.clear()


@dataclass(slots=True)
class _Fault:
    error: str | None
    rate: float
    latency: float
    count: int | None
    every: int | None
    rng: random.Random
    calls: int = 0
    injected: int = 0


class Faults:
    """Injected latency and errors per operation, deterministic when asked.

    A fault fires on every ``every``-th call when ``every`` is set, else with
    probability ``rate`` drawn from a ``random.Random(seed)``; ``count`` caps how
    many times it fires. Latency applies to every call that fires.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, _Fault] = {}
        self._fired: dict[str, int] = {}  # cumulative, survives replacing or clearing faults

    def fired(self, operation: str | None = None) -> int:
        """How many faults fired so far for ``operation`` (or all), since the start."""
        with self._lock:
            if operation is None:
                return sum(self._fired.values())
            return self._fired.get(operation, 0)

    def inject(
        self,
        operation: str,
        *,
        error: str | None = "ThrottlingException",
        rate: float = 1.0,
        latency: float = 0.0,
        count: int | None = None,
        every: int | None = None,
        seed: int | None = 0,
    ) -> None:
        """Add (or replace) the fault for ``operation``; see :class:`Faults`."""
        if error is not None and error not in ERROR_STATUS:
            raise ValueError(f"unknown error {error!r}; use one of {', '.join(ERROR_STATUS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if every is not None and every < 1:
            raise ValueError("every must be at least 1")
        with self._lock:
            self._faults[operation] = _Fault(error, rate, latency, count, every,
                                             random.Random(seed))

    def clear(self, operation: str | None = None) -> None:
        """Remove the fault of ``operation``, or every fault."""
        with self._lock:
            if operation is None:
                self._faults.clear()
            else:
                self._faults.pop(operation, None)

    def draw(self, operation: str) -> tuple[float, str | None]:
        """Decide for one call: (latency in seconds, error code or ``None``)."""
        with self._lock:
            fault = self._faults.get(operation)
            if fault is None:
                return 0.0, None
            fault.calls += 1
            if fault.count is not None and fault.injected >= fault.count:
                return 0.0, None
            if fault.every is not None:
                fires = fault.calls % fault.every == 0
            else:
                fires = fault.rng.random() < fault.rate
            if not fires:
                return 0.0, None
            fault.injected += 1
            self._fired[operation] = self._fired.get(operation, 0) + 1
            return fault.latency, fault.error

    def apply(self, operation: str) -> str | None:
        """Sleep the drawn latency; return the error code to answer with, if any."""
        latency, error = self.draw(operation)
        if latency > 0:
            time.sleep(latency)
        return error
