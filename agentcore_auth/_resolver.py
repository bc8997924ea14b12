"""CredentialResolver: cached, coalesced, per-user credential resolution, sync and async."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from . import _telemetry
from ._arn import validate_provider_name
from ._backoff import RejectionBackoff
from ._blocking import warn_if_loop_blocked
from ._cache import CacheStats, CredentialCache, Flight
from ._concurrency import StepDriver, Steps, WorkerPool, await_future, run_steps
from ._consent import ConsentWait
from ._credential import CredentialRequest
from ._exceptions import (
    AgentCoreAuthError,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialError,
)
from ._identity import Identity, current_identity, make_identity, runtime_workload_token
from ._secret import Secret
from ._shared import SharedCache, accepts_source
from .sources._base import CredentialSource

__all__ = ["CredentialResolver", "OnAuthUrl", "default_resolver", "set_default_resolver"]

logger = logging.getLogger("agentcore_auth")

OnAuthUrl = Callable[[str], Any] | Callable[[str], Awaitable[Any]]

#: Default TTL: short enough that a rotated-out value stops being used within a
#: minute even by an API that keeps accepting it (and so never answers 401), long
#: enough that a busy agent asks AWS about once a minute per credential instead of
#: on every tool call. Rotation is caught sooner by the 401 refetch.
DEFAULT_TTL = 60.0
#: Default stale-if-error grace: five minutes of AgentCore or Secrets Manager
#: outage are bridged with the last good value.
DEFAULT_STALE_IF_ERROR = 300.0


@functools.lru_cache(maxsize=1024)
def _api_key_request(provider_name: str) -> CredentialRequest:
    return CredentialRequest(provider_name)


class CredentialResolver:
    """Resolves API keys and OAuth2 tokens with a short-TTL, per-user, single-flight cache.

    A cache hit does no I/O and takes one uncontended lock. Concurrent misses for
    the same credential, from threads, tasks or both, make one upstream call.
    Every value fetched is registered with the redactor, so it is scrubbed from
    logs (installed on first resolution unless ``redact_logs=False``).

    Args:
        source: where credentials come from; default
            :class:`~agentcore_auth.sources.AgentCoreIdentitySource` from boto3's config.
        ttl: seconds a value stays fresh (default 60; see ``DEFAULT_TTL``). OAuth2
            tokens are also dropped ``expiry_skew`` seconds before their own expiry.
        max_entries: most credentials kept (least recently used go first).
        stale_if_error: seconds past expiry a value may still be served when the
            source is unavailable (throttled, 5xx, timeouts after botocore's retries).
        expiry_skew: refresh tokens this long before they expire.
        max_workers: threads for async callers' fetches (one pool per resolver).
        consent_timeout: how long to wait for a user's consent when waiting.
        redactor: where fetched values are registered; default the global one.
        redact_logs: install log redaction on first resolution.
        timer: monotonic clock, for tests.
        wall_clock: epoch clock the tokens' expiry times are compared with, for tests.
        shared_cache: an optional fleet-wide tier behind the in-process cache, e.g.
            :class:`agentcore_auth.fleet.RedisSharedCache`: local misses are filled
            from it (one upstream call per credential for the whole fleet) and
            ``invalidate(secret)`` drops the value fleet-wide. Hits never reach it.

    Example:
        >>> resolver = CredentialResolver(AgentCoreIdentitySource(workload_name="my-agent"))
        >>> key = resolver.get_api_key("weather")
        >>> httpx.get(url, headers={"x-api-key": key.reveal()})
    """

    def __init__(
        self,
        source: CredentialSource | None = None,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = 10_000,
        stale_if_error: float = DEFAULT_STALE_IF_ERROR,
        expiry_skew: float = 30.0,
        max_workers: int = 8,
        consent_timeout: float = 300.0,
        consent_poll_interval: float = 1.0,
        redactor: Any = None,
        redact_logs: bool = True,
        timer: Callable[[], float] = time.monotonic,
        shared_cache: SharedCache | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (
            ("ttl", ttl),
            ("stale_if_error", stale_if_error),
            ("expiry_skew", expiry_skew),
            ("consent_timeout", consent_timeout),
            ("consent_poll_interval", consent_poll_interval),
        ):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not value >= 0:  # written so that NaN fails too
                raise ConfigurationError(f"{name} must be a number of seconds >= 0, not {value!r}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError(f"max_entries must be a positive int, not {max_entries!r}")
        if source is None:
            from .sources import AgentCoreIdentitySource

            source = AgentCoreIdentitySource()
        if not callable(getattr(source, "fetch", None)):
            raise ConfigurationError(
                f"source must have a fetch(request, identity) method, got {type(source).__name__}"
            )
        self.source = source
        self._sts: Any = None  # see _web_identity_source
        self._cache = CredentialCache(
            ttl=ttl,
            max_entries=max_entries,
            stale_if_error=stale_if_error,
            expiry_skew=expiry_skew,
            timer=timer,
            wall_clock=wall_clock,
            pin=self._pin,
        )
        self._pool = WorkerPool(max_workers)
        self._steps = StepDriver(self._pool)  # async fetches through a shared tier
        self._consent_timeout = consent_timeout
        self._consent_interval = consent_poll_interval
        self._redactor = redactor
        self._redact_logs = redact_logs
        self._timer = timer
        # Refusal paths only (decorators, httpx auth): see _backoff.py.
        self._backoff = RejectionBackoff(maximum=ttl, timer=timer)
        if shared_cache is not None and not isinstance(shared_cache, SharedCache):
            raise ConfigurationError(
                "shared_cache must have an attach(cache, ttl=..., expiry_skew=...) method, "
                "e.g. agentcore_auth.fleet.RedisSharedCache(url), "
                f"not {type(shared_cache).__name__}"
            )
        self._shared = (
            None
            if shared_cache is None
            else shared_cache.attach(
                self._cache, ttl=ttl, expiry_skew=expiry_skew,
                **({"source": source} if accepts_source(shared_cache) else {}),
            )
        )
        # The decorators read hits straight from the cache, unless a subclass
        # changed how requests resolve.
        plain = type(self).resolve is CredentialResolver.resolve and (
            type(self).aresolve is CredentialResolver.aresolve)
        self._hit: Callable[[Hashable], Secret | None] | None = self._cache.hit if plain else None

    def __repr__(self) -> str:
        return f"CredentialResolver(source={self.source!r}, cache={self._cache!r})"

    def __enter__(self) -> CredentialResolver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the worker threads (fetches under way still finish)."""
        self._pool.shutdown()
        if self._shared is not None:
            self._shared.detach()

    @property
    def stats(self) -> CacheStats:
        """Counters: hits, misses, upstream calls, coalesced waits, invalidations, stale
        serves and errors (a snapshot)."""
        return self._cache.stats

    # --- public entry points -------------------------------------------------------

    def get_api_key(
        self,
        provider_name: str,
        *,
        workload_access_token: str | None = None,
        user_id: str | None = None,
        user_token: str | None = None,
    ) -> Secret:
        """The API key of credential provider ``provider_name``."""
        request = _api_key_request(provider_name)
        if (workload_access_token is None and user_id is None and user_token is None
                and _telemetry.observer is None):
            # The hot path: one dict lookup under the cache's lock.
            secret, future, flight = self._cache.lookup(request.cache_key)
            if secret is not None:
                return secret
            warn_if_loop_blocked(provider_name)
            if flight is not None:  # a miss makes us the leader: run the fetch it started
                self._fetch(flight, request, current_identity())
            assert future is not None
            return future.result()
        identity = self._identity(workload_access_token, user_id, user_token)
        return self.resolve(request, identity=identity)

    async def aget_api_key(
        self,
        provider_name: str,
        *,
        workload_access_token: str | None = None,
        user_id: str | None = None,
        user_token: str | None = None,
    ) -> Secret:
        """Async twin of :meth:`get_api_key`; never blocks the event loop."""
        request = _api_key_request(provider_name)
        if (workload_access_token is None and user_id is None and user_token is None
                and _telemetry.observer is None):
            # The hot path, as in get_api_key: a hit needs no second coroutine.
            secret, future, flight = self._cache.lookup(request.cache_key)
            if secret is not None:
                return secret
            if flight is not None:
                self._submit(flight, request, current_identity())
            assert future is not None
            return await await_future(future)
        identity = self._identity(workload_access_token, user_id, user_token)
        return await self.aresolve(request, identity=identity)

    def get_oauth2_token(
        self,
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
        on_auth_url: OnAuthUrl | None = None,
        wait_for_consent: bool | None = None,
        workload_access_token: str | None = None,
        user_id: str | None = None,
        user_token: str | None = None,
    ) -> Secret:
        """An OAuth2 access token from credential provider ``provider_name``.

        For USER_FEDERATION, when the user must consent first: with ``on_auth_url``
        (or ``wait_for_consent=True``) it is called with the authorization URL and
        the service is polled until the token arrives or ``consent_timeout``
        passes; otherwise :class:`AuthorizationRequiredError` is raised at once,
        carrying the URL and the session URI to retry with.
        """
        request = CredentialRequest.oauth2(
            provider_name,
            scopes=scopes,
            auth_flow=auth_flow,
            resources=resources,
            audiences=audiences,
            custom_parameters=custom_parameters,
            custom_state=custom_state,
            callback_url=callback_url,
            force_authentication=force_authentication,
            session_uri=session_uri,
        )
        identity = self._identity(workload_access_token, user_id, user_token)
        wait = on_auth_url is not None if wait_for_consent is None else wait_for_consent
        try:
            return self.resolve(request, identity=identity)
        except AuthorizationRequiredError as exc:
            if not wait:
                raise
            pending = exc
        if on_auth_url is not None:
            result = on_auth_url(pending.authorization_url)
            if inspect.isawaitable(result):
                getattr(result, "close", lambda: None)()
                raise ConfigurationError(
                    "on_auth_url is async: use aget_oauth2_token (or an async tool) with it"
                )
        consent = self._consent_wait(request, pending)
        while (delay := consent.next_delay()) is not None:
            time.sleep(delay)
            try:
                return self.resolve(consent.request, identity=identity)
            except AuthorizationRequiredError:
                continue
        raise consent.timed_out()

    async def aget_oauth2_token(
        self,
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
        on_auth_url: OnAuthUrl | None = None,
        wait_for_consent: bool | None = None,
        workload_access_token: str | None = None,
        user_id: str | None = None,
        user_token: str | None = None,
    ) -> Secret:
        """Async twin of :meth:`get_oauth2_token`; ``on_auth_url`` may be sync or async."""
        request = CredentialRequest.oauth2(
            provider_name,
            scopes=scopes,
            auth_flow=auth_flow,
            resources=resources,
            audiences=audiences,
            custom_parameters=custom_parameters,
            custom_state=custom_state,
            callback_url=callback_url,
            force_authentication=force_authentication,
            session_uri=session_uri,
        )
        identity = self._identity(workload_access_token, user_id, user_token)
        wait = on_auth_url is not None if wait_for_consent is None else wait_for_consent
        try:
            return await self.aresolve(request, identity=identity)
        except AuthorizationRequiredError as exc:
            if not wait:
                raise
            pending = exc
        if on_auth_url is not None:
            result = on_auth_url(pending.authorization_url)
            if inspect.isawaitable(result):
                await result
        consent = self._consent_wait(request, pending)
        while (delay := consent.next_delay()) is not None:
            await asyncio.sleep(delay)
            try:
                return await self.aresolve(consent.request, identity=identity)
            except AuthorizationRequiredError:
                continue
        raise consent.timed_out()

    def resolve(self, request: CredentialRequest, *, identity: Identity | None = None) -> Secret:
        """Resolve a prepared :class:`CredentialRequest` (what the decorators call)."""
        identity = identity or current_identity()
        if _telemetry.observer is not None:
            return self._observed(_telemetry.observer, request, identity)
        key = self._key(request, identity)
        secret, future, flight = self._cache.lookup(key, force=request.force_authentication)
        if secret is not None:
            return secret
        warn_if_loop_blocked(request.provider_name)
        if flight is not None:
            self._fetch(flight, request, identity)
        assert future is not None
        return future.result()

    async def aresolve(
        self, request: CredentialRequest, *, identity: Identity | None = None
    ) -> Secret:
        """Async twin of :meth:`resolve`: the fetch runs in the resolver's worker pool.

        Waiting for another process's fetch (a fleet tier's lock) happens on the event
        loop, not in a worker thread: such waits never hold up other credentials.

        Cancelling the caller does not cancel the fetch: it completes, is cached,
        and reaches the other waiters.
        """
        identity = identity or current_identity()
        if _telemetry.observer is not None:
            return await self._aobserved(_telemetry.observer, request, identity)
        key = self._key(request, identity)
        secret, future, flight = self._cache.lookup(key, force=request.force_authentication)
        if secret is not None:
            return secret
        if flight is not None:
            self._submit(flight, request, identity)
        assert future is not None
        return await await_future(future)

    # The observed twins of resolve/aresolve (agentcore_auth.otel turned telemetry on):
    # the same steps inside the observer's context, which also makes its span current
    # for the fetch (a fetch in the worker pool runs in a copy of this context).

    def _observed(self, observer: _telemetry.Observer, request: CredentialRequest,
                  identity: Identity | None) -> Secret:
        with observer.resolution(request, self._source_name()) as record:
            secret, future, flight = self._observed_lookup(record, request, identity)
            if secret is not None:
                return secret
            if flight is not None:
                self._fetch(flight, request, identity)
            assert future is not None
            try:
                return future.result()
            finally:
                _settle(record, flight)

    async def _aobserved(self, observer: _telemetry.Observer, request: CredentialRequest,
                         identity: Identity | None) -> Secret:
        with observer.resolution(request, self._source_name()) as record:
            secret, future, flight = self._observed_lookup(record, request, identity)
            if secret is not None:
                return secret
            if flight is not None:
                self._submit(flight, request, identity)
            assert future is not None
            try:
                return await await_future(future)
            finally:
                _settle(record, flight)

    def _observed_lookup(self, record: Any, request: CredentialRequest, identity: Identity | None,
                         ) -> tuple[Secret | None, Future[Secret] | None, Flight | None]:
        """The cache lookup both observed twins make, its outcome noted on ``record``."""
        secret, future, flight = self._cache.lookup(
            self._key(request, identity), force=request.force_authentication)
        record.outcome = ("hit" if secret is not None
                          else "miss" if flight is not None else "coalesced")
        return secret, future, flight

    def _source_name(self) -> str | None:
        name = getattr(self.source, "name", None)
        return name if isinstance(name, str) else None

    def _submit(
        self, flight: Flight, request: CredentialRequest, identity: Identity | None
    ) -> None:
        """Run a leader's fetch in the worker pool, with the caller's contextvars.

        A fetch through a shared tier that offers steps runs step by step: each step
        in the pool, each wait between steps (for another process's fetch) awaited
        on the caller's event loop, so waiting callers hold no worker thread.
        """
        context = contextvars.copy_context()
        try:
            if self._shared is not None and hasattr(self._shared, "fetch_steps"):
                self._steps.start(self._fetch_steps(flight, request, identity), context)
            else:
                self._pool.get().submit(context.run, self._fetch, flight, request, identity)
        except RuntimeError as exc:  # the pool was shut down
            error = ConfigurationError("the resolver was closed; create a new CredentialResolver")
            self._cache.fail(flight, error)
            raise error from exc

    def invalidate(self, target: str | Secret, *, if_value: Secret | str | None = None) -> int:
        """Drop cached credentials; returns how many were dropped.

        ``invalidate(secret)`` with a :class:`Secret` this resolver returned drops its
        entry only if it still holds that value (compare-and-invalidate: 100
        concurrent 401s on one stale value cause one refetch). ``invalidate(name)``
        drops every entry of that provider (all users and scopes), or with
        ``if_value`` only those holding that value.
        """
        if isinstance(target, Secret):
            key = target._origin
            if key is None:
                return 0
            dropped = int(self._cache.invalidate(key, if_value=target))
            name = target.name
            if self._shared is not None:  # compare-and-delete fleet-wide, in the background
                self._shared.invalidated(target)
        else:
            validate_provider_name(target)
            wanted = Secret(if_value) if isinstance(if_value, str) else if_value
            dropped = self._cache.invalidate_where(
                lambda secret: secret.name == target and (wanted is None or secret == wanted)
            )
            name = target
            if self._shared is not None:
                self._shared.invalidated_provider(target, wanted)
        if dropped:
            # A source that caches upstream (the CredentialBroker's token cache) is told,
            # so its next fetch asks for a new value instead of the refused one.
            notify = getattr(self.source, "invalidated", None)
            if callable(notify):
                notify(name, target if isinstance(target, Secret) else wanted)
        if dropped and _telemetry.observer is not None:
            _telemetry.observer.invalidated(name, dropped)
        return dropped

    def clear(self) -> None:
        """Forget every cached credential."""
        self._cache.clear()

    # --- internals -------------------------------------------------------------------

    @staticmethod
    def _identity(
        workload_access_token: str | None, user_id: str | None, user_token: str | None
    ) -> Identity | None:
        if workload_access_token is None and user_id is None and user_token is None:
            return None
        return make_identity(
            workload_access_token=workload_access_token, user_id=user_id, user_token=user_token
        )

    def _key(self, request: CredentialRequest, identity: Identity | None) -> Hashable:
        """The cache key: the request, plus the user for user-bound flows (the AWS caller
        for web identity tokens)."""
        if request.kind == "web_identity":
            return (request.cache_key, self._web_identity_source().caller_key())
        if not request.user_bound:
            return request.cache_key
        if identity is None:
            token = runtime_workload_token()
            identity = Identity(workload_access_token=Secret(token)) if token else None
        user_key = identity.user_key() if identity is not None else None
        if user_key is None:
            raise ConfigurationError(
                f"{request.auth_flow} for provider {request.provider_name!r} needs the user's "
                "identity: wrap the call in agentcore_auth.identity_context(user_id=... or "
                "user_token=...), or pass user_id= / user_token="
            )
        return (request.cache_key, user_key)

    def _fetch(self, flight: Flight, request: CredentialRequest, identity: Identity | None) -> None:
        """Run one upstream fetch and settle the flight, any wait on this thread."""
        run_steps(self._fetch_steps(flight, request, identity))

    def _fetch_steps(
        self, flight: Flight, request: CredentialRequest, identity: Identity | None
    ) -> Steps:
        """One upstream fetch that settles the flight; every path settles it exactly once.

        Steps: it yields a :class:`~._concurrency.Wait` where the shared tier must wait for another
        process's fetch (the sync caller blocks on it, the async one awaits it).
        """
        try:
            if self._redact_logs:
                # Before the fetch: botocore logs the response body while parsing it.
                from ._logging import ensure_log_redaction

                ensure_log_redaction()
            started = time.perf_counter()
            source = self._web_identity_source() if request.kind == "web_identity" \
                else self.source
            try:
                shared = self._shared
                if shared is None:
                    credential = source.fetch(request, identity)
                elif hasattr(shared, "fetch_steps"):  # the tier answers, or fetches once
                    credential = yield from shared.fetch_steps(
                        flight.key, request, identity, source.fetch)
                else:
                    credential = shared.fetch(flight.key, request, identity, source.fetch)
            finally:
                flight.upstream_s = time.perf_counter() - started
            secret = credential.secret
            if secret.name != request.provider_name:  # invalidate(name) matches on it
                secret = Secret(secret.reveal(), name=request.provider_name)
                credential = dataclasses.replace(credential, secret=secret)
            object.__setattr__(secret, "_origin", flight.key)
            # Fail closed: a value we could not register for redaction is not handed out.
            self._register(secret)
        except AgentCoreAuthError as exc:
            self._cache.fail(flight, exc)
        except Exception as exc:  # a custom source's bug: keep the hierarchy, chain it
            error = CredentialError(
                f"source {getattr(self.source, 'name', type(self.source).__name__)!r} failed "
                f"unexpectedly for provider {request.provider_name!r} with "
                f"{type(exc).__name__} (see the chained exception)",
                provider_name=request.provider_name,
                source=getattr(self.source, "name", None),
            )
            error.__cause__ = exc
            self._cache.fail(flight, error)
        except GeneratorExit:  # abandoned mid-wait (never by our drivers): wake the waiters
            self._cache.fail(flight, CredentialError(
                f"the fetch of provider {request.provider_name!r} was abandoned while waiting",
                provider_name=request.provider_name))
            raise
        except BaseException as exc:  # KeyboardInterrupt etc.: wake the waiters, then re-raise
            self._cache.fail(flight, exc)
            raise
        else:
            self._cache.complete(flight, credential)

    def _web_identity_source(self) -> Any:
        """The source of STS web identity tokens: ``source`` itself when it is a
        :class:`~agentcore_auth.sources.StsWebIdentitySource`, else one made on first use
        (from the source's boto3 session when it has one, else boto3's configuration)."""
        sts = self._sts
        if sts is None:
            from .sources._sts import StsWebIdentitySource

            with _default_lock:
                if self._sts is None:
                    if isinstance(self.source, StsWebIdentitySource):
                        self._sts = self.source
                    else:
                        factory = getattr(self.source, "_clients", None)
                        self._sts = StsWebIdentitySource(
                            session=getattr(factory, "_session", None))
                sts = self._sts
        return sts

    def _register(self, secret: Secret) -> None:
        """Register a fetched value for redaction.

        The default redactor always gets it, since log redaction uses that one; a
        custom ``redactor=`` gets it too.
        """
        from ._redact import default_redactor

        default_redactor().register(secret, name=secret.name)
        if self._redactor is not None:
            self._redactor.register(secret, name=secret.name)

    def _pin(self, secret: Secret, held: bool) -> None:
        """Keep a cached value registered for redaction while the cache holds it."""
        from ._redact import default_redactor

        for redactor in (default_redactor(), self._redactor):
            method = getattr(redactor, "pin" if held else "unpin", None)
            if method is not None:
                method(secret)

    def _consent_wait(
        self, request: CredentialRequest, pending: AuthorizationRequiredError
    ) -> ConsentWait:
        logger.debug("waiting for user consent for provider %r", request.provider_name)
        return ConsentWait(
            request,
            pending,
            timeout=self._consent_timeout,
            interval=self._consent_interval,
            clock=self._timer,
        )


def _settle(record: _telemetry.Resolution, flight: Flight | None) -> None:
    """What the fetch this caller led tells the observer: latency, stale serve."""
    if flight is not None:
        record.upstream_s = flight.upstream_s
        if flight.served_stale:
            record.outcome = "stale"


_default: CredentialResolver | None = None
_default_lock = threading.Lock()


def default_resolver() -> CredentialResolver:
    """The process-wide resolver the decorators and httpx auth use when given none.

    Created on first use over :class:`~agentcore_auth.sources.AgentCoreIdentitySource`
    with boto3's configuration (Region, credentials, ``AWS_ENDPOINT_URL_*``).
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = CredentialResolver()
    return _default


def set_default_resolver(resolver: CredentialResolver | None) -> None:
    """Replace the process-wide resolver (None: make a new one on next use)."""
    global _default
    with _default_lock:
        _default = resolver
