"""What the tool decorators share: resolve, inject, and refetch once when a credential is refused.

:class:`CredentialBinding` holds one decorator's configuration and every decision
the four wrappers in ``_tool.py`` (sync, async, generator, async generator) make:
which credential to resolve, whether an exception means the downstream API
refused it, what to drop from the cache, and what to raise after a second
refusal. The wrappers only call these helpers; the sync and async paths differ
in :meth:`CredentialBinding.get` versus :meth:`CredentialBinding.aget`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import _telemetry
from ._consent_hook import consent_error, rejection_error
from ._credential import CredentialRequest
from ._exceptions import AuthorizationRequiredError, ConfigurationError, CredentialRejectedError
from ._resolver import CredentialResolver, OnAuthUrl, default_resolver
from ._secret import MaskedStr, Secret

__all__ = [
    "CredentialBinding", "Rejection", "TokenPoller", "call_async", "call_sync", "redact_url",
]

logger = logging.getLogger("agentcore_auth")

T = TypeVar("T")


class TokenPoller(Protocol):
    """What ``token_poller=`` accepts: the official SDK's ``TokenPoller`` shape."""

    def poll_for_token(self) -> Awaitable[str]:
        """Wait until the user has consented; return the access token."""
        ...


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refusal of the injected credential by the downstream API."""

    status: int | None
    error: BaseException


def redact_url(url: str) -> str:
    """``url`` with every query value blanked (authorization URLs carry session references)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = urlencode([(k, "...") for k, _ in parse_qsl(parts.query, keep_blank_values=True)],
                      safe=".")
    return urlunsplit(parts._replace(query=query, fragment=""))


def _runtime_callback_url() -> str | None:
    """The OAuth2 callback URL the AgentCore Runtime set for this request, as the SDK uses it."""
    import sys

    module = sys.modules.get("bedrock_agentcore.runtime.context")
    if module is None:
        return None
    try:
        url = module.BedrockAgentCoreContext.get_oauth2_callback_url()
    except Exception:  # noqa: BLE001 - a third-party lookup must never break a tool call
        return None
    return url if isinstance(url, str) and url else None


def _run_blocking(awaitable: Awaitable[T]) -> T:
    """Run a coroutine to completion from sync code (consent only, never the hot path).

    Outside an event loop this is ``asyncio.run``. Inside one (a sync tool called
    from async code) the loop's thread must not be re-entered, so the coroutine runs
    on a one-off thread, with the caller's contextvars.
    """

    async def main() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, "agentcore-auth-consent") as pool:
        return pool.submit(context.run, asyncio.run, main()).result()


class CredentialBinding:
    """One decorator's configuration: what to resolve, how to inject it, what is a refusal.

    Args:
        decorator: ``"requires_api_key"`` or ``"requires_access_token"`` (for messages).
        request: the credential to resolve.
        into: the keyword argument the value is injected as.
        inject_as: ``str`` (the plain value) or :class:`Secret`.
        resolver: the resolver, or None for :func:`default_resolver` at call time.
        reject_statuses: HTTP statuses that mean the credential was refused.
        reject_exceptions: further exception types that mean the same.
        on_auth_url: called with the authorization URL when a user must consent.
        wait_for_consent: wait for consent (poll) rather than raise
            :class:`AuthorizationRequiredError`; default: when ``on_auth_url`` is given.
        token_poller: an object whose ``async poll_for_token()`` returns the token
            after consent (the official SDK's ``TokenPoller``).
    """

    def __init__(
        self,
        *,
        decorator: str,
        request: CredentialRequest,
        into: str,
        inject_as: type[str] | type[Secret],
        resolver: CredentialResolver | None,
        reject_statuses: Iterable[int],
        reject_exceptions: Sequence[type[BaseException]],
        on_auth_url: OnAuthUrl | None = None,
        wait_for_consent: bool | None = None,
        token_poller: TokenPoller | None = None,
    ) -> None:
        if not isinstance(into, str) or not into.isidentifier():
            raise ConfigurationError(
                f"{decorator}(into=...) must be a parameter name, not {into!r}")
        if inject_as is not str and inject_as is not Secret:
            raise ConfigurationError(f"{decorator}(inject_as=...) must be str or Secret")
        if resolver is not None and not isinstance(resolver, CredentialResolver):
            raise ConfigurationError(f"{decorator}(resolver=...) must be a CredentialResolver")
        statuses = frozenset(reject_statuses)
        if not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses):
            raise ConfigurationError(
                f"{decorator}(reject_statuses=...) must be HTTP error statuses, e.g. (401, 403)")
        exceptions = tuple(reject_exceptions)
        if not all(isinstance(e, type) and issubclass(e, BaseException) for e in exceptions):
            raise ConfigurationError(
                f"{decorator}(reject_exceptions=...) must be a tuple of exception classes")
        if on_auth_url is not None and not callable(on_auth_url):
            raise ConfigurationError(f"{decorator}(on_auth_url=...) must be callable")
        if token_poller is not None and not callable(getattr(token_poller, "poll_for_token", None)):
            raise ConfigurationError(
                f"{decorator}(token_poller=...) needs an async poll_for_token() method")
        self.decorator = decorator
        self.request = request
        self.into = into
        self.inject_as = inject_as
        self.provider_name = request.provider_name
        #: How messages name this decorator and what it injects.
        self.label = (f"@{decorator}(audience={list(request.web_identity.audience)!r})"
                      if request.web_identity is not None
                      else f"@{decorator}(provider_name={request.provider_name!r})")
        self._resolver = resolver
        self._statuses = statuses
        self._exceptions = exceptions
        self._on_auth_url = on_auth_url
        self._token_poller = token_poller
        self._wait = on_auth_url is not None if wait_for_consent is None else wait_for_consent
        # Requests that depend on nothing but themselves (no user, no consent, no
        # callback URL) are answered from the cache by key on a hit.
        static = request.kind == "api_key" or (
            request.auth_flow == "M2M" and not request.user_bound)
        self._hit_key = request.cache_key if static and not request.force_authentication else None
        # A web identity token is keyed by the AWS caller too (see CredentialResolver._key).
        self._per_caller = request.kind == "web_identity"

    def __repr__(self) -> str:
        return (f"CredentialBinding({self.decorator}, provider_name={self.provider_name!r}, "
                f"into={self.into!r})")

    # --- per call ----------------------------------------------------------------------

    def begin(self, kwargs: Mapping[str, Any]) -> CredentialResolver:
        """Refuse a caller-supplied credential; return the resolver to use."""
        if self.into in kwargs:
            # The model must never supply a credential, and ignoring one silently would
            # hide a caller bug; the value itself is never echoed.
            raise ConfigurationError(
                f"{self.into!r} is injected by {self.label}; callers must not pass it")
        return self._resolver or default_resolver()

    def cached(self, resolver: CredentialResolver) -> Secret | None:
        """The credential on a cache hit, without resolving; None: call :meth:`get`."""
        key, hit = self._hit_key, resolver._hit
        if hit is None or _telemetry.observer is not None:
            return None  # with telemetry on, every resolution goes through resolve()
        if self._per_caller:
            return hit(resolver._key(self.request, None))
        if key is None:
            return None
        return hit(key)

    def inject(self, kwargs: dict[str, Any], secret: Secret) -> dict[str, Any]:
        """``kwargs`` plus the credential under ``into`` (a new dict)."""
        # A str whose repr is masked: frame locals, debuggers and container reprs hide it.
        value = secret if self.inject_as is Secret else MaskedStr(secret.reveal(),
                                                                  name=self.provider_name)
        return {**kwargs, self.into: value}

    def get(self, resolver: CredentialResolver, *, refetch: bool = False) -> Secret:
        """Resolve the credential (sync); ``refetch`` after a refusal."""
        if self.request.kind != "oauth2" or self.request.auth_flow == "M2M":
            # No consent and no callback URL can be involved: the prebuilt request is it.
            return resolver.resolve(self.request)
        call, notify = self._token_call(refetch)
        try:
            return resolver.get_oauth2_token(**call)
        except AuthorizationRequiredError as exc:
            if not notify:
                _raise_consent(exc)
            pending = exc
        self._log_consent(pending)
        if self._on_auth_url is not None:
            result = self._on_auth_url(pending.authorization_url)
            if inspect.isawaitable(result):
                _run_blocking(result)
        if self._token_poller is None:
            _raise_consent(pending)
        return self._polled(resolver, _run_blocking(self._token_poller.poll_for_token()))

    async def aget(self, resolver: CredentialResolver, *, refetch: bool = False) -> Secret:
        """Async twin of :meth:`get`."""
        if self.request.kind != "oauth2" or self.request.auth_flow == "M2M":
            return await resolver.aresolve(self.request)
        call, notify = self._token_call(refetch)
        try:
            return await resolver.aget_oauth2_token(**call)
        except AuthorizationRequiredError as exc:
            if not notify:
                _raise_consent(exc)
            pending = exc
        self._log_consent(pending)
        if self._on_auth_url is not None:
            result = self._on_auth_url(pending.authorization_url)
            if inspect.isawaitable(result):
                await result
        if self._token_poller is None:
            _raise_consent(pending)
        return self._polled(resolver, await self._token_poller.poll_for_token())

    def rejection(self, exc: BaseException) -> Rejection | None:
        """A :class:`Rejection` when ``exc`` means the downstream API refused the credential.

        That is a :class:`CredentialRejectedError` (unless it names another provider,
        e.g. from a decorator stacked inside), an instance of ``reject_exceptions``,
        or any exception carrying ``.response.status_code`` in ``reject_statuses``
        (``httpx.HTTPStatusError``, ``requests.HTTPError``).
        """
        if isinstance(exc, CredentialRejectedError):
            if exc.provider_name not in (None, self.provider_name):
                return None
            return Rejection(exc.status_code, exc)
        if self._exceptions and isinstance(exc, self._exceptions):
            return Rejection(None, exc)
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(status, int) and status in self._statuses:
            return Rejection(status, exc)
        return None

    def first_failure(self, exc: BaseException, resolver: CredentialResolver,
                      secret: Secret) -> Rejection:
        """Handle the first attempt's exception: re-raise it scrubbed, or drop the credential."""
        rejection = self.rejection(exc)
        if rejection is None:
            raise self.scrub(exc, resolver)
        self.scrub(exc, resolver)
        backoff = resolver._backoff
        remaining = backoff.remaining(secret)
        if remaining is None and (backoff.came_back(secret)
                                  or resolver._cache.refetched_same(secret)):
            # A concurrent refusal's refetch already brought this value back.
            remaining = backoff.record(secret)
        if remaining is not None:
            # The source returned this very value after its last refusal: asking again
            # would only spend the AgentCore Identity quota at the tool-call rate.
            raise self._rejected(
                rejection, resolver, remaining,
                f"and the source returned that same value when last asked; not asking it "
                f"again for {remaining:.1f} s")
        # Compare-and-invalidate: of many callers refused with one stale value, the
        # first drops it and the rest find the fresh one (one upstream refetch).
        backoff.note_refusal(secret)
        resolver.invalidate(secret)
        logger.info("%s refused the credential of provider %r (%s); refetching once",
                    self.decorator, self.provider_name, _status_text(rejection.status))
        return rejection

    def check_fresh(self, rejected: Secret, fresh: Secret, rejection: Rejection,
                    resolver: CredentialResolver) -> Secret:
        """``fresh``, unless it is the refused value again (then calling again is pointless)."""
        if fresh != rejected:
            resolver._backoff.clear(fresh)
            return fresh
        window = resolver._backoff.record(fresh)
        logger.warning("%s: the source returned the refused credential of provider %r again; "
                       "further refusals fail at once for %.1f s", self.decorator,
                       self.provider_name, window)
        raise self._rejected(rejection, resolver, window,
                             "and the source still returns the refused value")

    def _rejected(self, rejection: Rejection, resolver: CredentialResolver, window: float,
                  what: str) -> BaseException:
        """The refusal to raise (or what an adapter's ``rejection_handler`` makes of it)."""
        error = CredentialRejectedError(
            f"the downstream API refused the credential of provider {self.provider_name!r} "
            f"({_status_text(rejection.status)}) {what}: update or rotate the stored secret, "
            "or check that the API expects it where it is sent", provider_name=self.provider_name,
            source=_source_name(resolver), status_code=rejection.status,
            retry_after=window or None)
        error.__cause__ = rejection.error
        return rejection_error(error)

    def second_failure(self, exc: BaseException, resolver: CredentialResolver) -> BaseException:
        """What to raise when the call with the refetched credential failed too."""
        self.scrub(exc, resolver)
        rejection = self.rejection(exc)
        if rejection is None:
            return exc
        error = CredentialRejectedError(
            f"the downstream API refused the credential of provider {self.provider_name!r} "
            f"({_status_text(rejection.status)}) again after one refetch: the stored value is "
            "wrong for this API, or lacks the permission it needs",
            provider_name=self.provider_name, source=_source_name(resolver),
            status_code=rejection.status)
        error.__cause__ = exc
        return error

    def scrub(self, exc: BaseException,
              resolver: CredentialResolver | None = None) -> BaseException:
        """Redact every registered value from ``exc`` and its chain, in place."""
        from ._scrub import scrub_exception

        redactor = getattr(resolver or self._resolver, "_redactor", None)
        return scrub_exception(exc, redactor)

    # --- internals ---------------------------------------------------------------------

    def _token_call(self, refetch: bool) -> tuple[dict[str, Any], bool]:
        """Arguments for ``get_oauth2_token`` and whether we notify/poll ourselves."""
        request = self.request
        call: dict[str, Any] = {
            "provider_name": request.provider_name, "scopes": request.scopes,
            "auth_flow": request.auth_flow or "M2M", "resources": request.resources,
            "audiences": request.audiences, "custom_parameters": dict(request.custom_parameters),
            "custom_state": request.custom_state,
            "callback_url": request.callback_url or _runtime_callback_url(),
            "force_authentication": request.force_authentication,
        }
        if refetch and request.auth_flow == "USER_FEDERATION":
            # A refused user token may mean the grant was revoked: ask the service to
            # authenticate the user again, and surface consent as AuthorizationRequiredError.
            call.update(force_authentication=True, wait_for_consent=False)
            return call, False
        if self._token_poller is None and self._wait:
            call.update(on_auth_url=self._on_auth_url, wait_for_consent=True)
            return call, False
        call["wait_for_consent"] = False
        return call, self._on_auth_url is not None or self._token_poller is not None

    def _log_consent(self, pending: AuthorizationRequiredError) -> None:
        # The URL carries a session reference: DEBUG only, query values blanked.
        logger.debug("user consent required for provider %r: %s", self.provider_name,
                     redact_url(pending.authorization_url))

    def _polled(self, resolver: CredentialResolver, token: object) -> Secret:
        """Wrap a token the poller returned (not cached: the next call asks the service)."""
        if not isinstance(token, str) or not token:
            raise ConfigurationError(
                f"token_poller.poll_for_token() for provider {self.provider_name!r} must "
                "return the access token as a non-empty str")
        secret = Secret(token, name=self.provider_name)
        resolver._register(secret)
        return secret


def _raise_consent(pending: AuthorizationRequiredError) -> NoReturn:
    """Raise ``pending``, or what the current ``consent_handler`` chose instead."""
    error = consent_error(pending)
    if error is pending:
        raise pending
    raise error from pending


def _status_text(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else "rejected"


def _source_name(resolver: CredentialResolver) -> str | None:
    name = getattr(resolver.source, "name", None)
    return name if isinstance(name, str) else None


def call_sync(binding: CredentialBinding, kwargs: dict[str, Any],
              attempt: Callable[[dict[str, Any]], T]) -> T:
    """Resolve, call ``attempt`` with the credential; on a refusal, refetch and call once more."""
    resolver = binding.begin(kwargs)
    secret = binding.cached(resolver)
    if secret is None:
        secret = binding.get(resolver)
    try:
        return attempt(binding.inject(kwargs, secret))
    except Exception as exc:
        rejection = binding.first_failure(exc, resolver, secret)
    fresh = binding.check_fresh(secret, binding.get(resolver, refetch=True), rejection, resolver)
    try:
        return attempt(binding.inject(kwargs, fresh))
    except Exception as exc:
        raise rejection_error(binding.second_failure(exc, resolver))  # noqa: B904 - sets its own __cause__


async def call_async(binding: CredentialBinding, kwargs: dict[str, Any],
                     attempt: Callable[[dict[str, Any]], Coroutine[Any, Any, T]]) -> T:
    """Async twin of :func:`call_sync`: ``await aget`` and ``await attempt``."""
    resolver = binding.begin(kwargs)
    secret = binding.cached(resolver)
    if secret is None:
        secret = await binding.aget(resolver)
    try:
        return await attempt(binding.inject(kwargs, secret))
    except Exception as exc:
        rejection = binding.first_failure(exc, resolver, secret)
    fresh = binding.check_fresh(secret, await binding.aget(resolver, refetch=True), rejection,
                                resolver)
    try:
        return await attempt(binding.inject(kwargs, fresh))
    except Exception as exc:
        raise rejection_error(binding.second_failure(exc, resolver))  # noqa: B904 - sets its own __cause__
