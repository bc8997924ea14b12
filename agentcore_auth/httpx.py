"""AgentCoreAuth: an ``httpx.Auth`` that sends AgentCore credentials and refetches once on 401.

Importing this module imports httpx; ``agentcore_auth`` itself does not (its
``AgentCoreAuth`` attribute loads this module on first use).
"""

from __future__ import annotations

import hmac
import logging
import sys
from collections.abc import AsyncGenerator, Generator, Iterable, Mapping, Sequence
from typing import Any

import httpx

from ._credential import CredentialRequest
from ._exceptions import ConfigurationError
from ._origin import Origin, WireGuard, allowed, tidy, tidy_request
from ._redact import default_redactor
from ._resolver import CredentialResolver, default_resolver
from ._scrub import scrub_exception
from ._secret import Secret

__all__ = ["AgentCoreAuth"]

logger = logging.getLogger("agentcore_auth")

#: What the shared flow yields when it needs a credential (the drivers resolve it).
_RESOLVE = object()


class AgentCoreAuth(httpx.Auth):
    """Sends an AgentCore Identity credential with every request of an httpx client.

    Works with ``httpx.Client`` and ``httpx.AsyncClient``; the async flow resolves
    with ``aresolve`` and never blocks the event loop. Credentials come from a
    :class:`CredentialResolver` (cached, single-flight; default
    :func:`default_resolver`). When the response status is in ``reject_statuses``
    (401 by default), the credential is compare-and-invalidated, refetched, and the
    request sent once more; concurrent 401s for one stale value share one refetch.
    If the refetched value is the refused one, or the body cannot be replayed, or
    the retry is refused too, the last response is returned, as ``DigestAuth``
    does: call ``raise_for_status()``.

    Request bodies are read into memory before sending (``requires_request_body``)
    so they can be replayed.

    The credential is bound to the origin of the request it was put on. With
    ``follow_redirects=True``, a redirect to another origin is sent without it, in
    header and query-parameter mode alike (httpx itself drops only
    ``Authorization``); a refusal from that other origin invalidates nothing, nor
    does any refusal of a request that did not carry the credential. Once the
    exchange ends, the key is in no ``response.url``, ``response.history[*].url``,
    request URL or ``raise_for_status()`` message; an exception that ends the
    exchange (a send error, or one raised by a request or response event hook, such
    as ``raise_for_status()`` there) is scrubbed in place before it reaches the
    caller; httpx's own log line is scrubbed by the resolver's log redaction. The
    redirect guard runs in httpx's own transports (``HTTPTransport``,
    ``AsyncHTTPTransport`` and transports that pass request extensions on to
    them); with other transports keep
    ``follow_redirects=False`` (httpx's default) for APIs that redirect elsewhere.

    When the source returns the very value the API just refused, the credential
    backs off: further refusals within a window (growing up to the resolver's
    TTL) return the response without asking AgentCore Identity again.

    Build one with :meth:`api_key` or :meth:`oauth2`. To extend it, override
    :meth:`apply` (how a credential is placed on a request).

    Args:
        credential: a provider name (API key) or a prepared :class:`CredentialRequest`.
        header: header to put the value in (with ``prefix`` before it).
        prefix: text before the value in the header, e.g. ``"Bearer "``.
        query_param: put the value in this query parameter instead of a header.
        resolver: where credentials come from.
        reject_statuses: statuses that mean the credential was refused.

    Example:
        >>> auth = AgentCoreAuth.api_key("weather", header="x-api-key")
        >>> with httpx.Client(auth=auth) as client:
        ...     client.get("https://api.example.com/forecast").raise_for_status()
    """

    requires_request_body = True

    def __init__(
        self,
        credential: str | CredentialRequest,
        *,
        header: str | None = None,
        prefix: str = "",
        query_param: str | None = None,
        resolver: CredentialResolver | None = None,
        reject_statuses: Iterable[int] = (401,),
    ) -> None:
        if isinstance(credential, str):
            credential = CredentialRequest(credential)
        if not isinstance(credential, CredentialRequest):
            raise ConfigurationError("credential must be a provider name or a CredentialRequest")
        if (header is None) == (query_param is None):
            raise ConfigurationError(
                f"AgentCoreAuth for provider {credential.provider_name!r} needs exactly one of "
                "header= or query_param=")
        for what, name in (("header", header), ("query_param", query_param)):
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise ConfigurationError(f"{what} must be a non-empty string")
        if resolver is not None and not isinstance(resolver, CredentialResolver):
            raise ConfigurationError("resolver must be a CredentialResolver")
        statuses = frozenset(reject_statuses)
        if not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses):
            raise ConfigurationError("reject_statuses must be HTTP error statuses, e.g. (401,)")
        self.request = credential
        self.header = header
        self.prefix = prefix
        self.query_param = query_param
        self.reject_statuses = statuses
        self._resolver = resolver

    @classmethod
    def api_key(
        cls,
        provider_name: str,
        *,
        header: str | None = None,
        prefix: str = "",
        query_param: str | None = None,
        resolver: CredentialResolver | None = None,
        reject_statuses: Iterable[int] = (401,),
    ) -> AgentCoreAuth:
        """The API key of ``provider_name`` in a header (default ``x-api-key``) or query parameter.

        Example:
            >>> AgentCoreAuth.api_key("weather", header="x-api-key")
            >>> AgentCoreAuth.api_key("maps", query_param="key")
            >>> AgentCoreAuth.api_key("legacy", header="Authorization", prefix="Token ")
        """
        if header is None and query_param is None:
            header = "x-api-key"
        return cls(provider_name, header=header, prefix=prefix, query_param=query_param,
                   resolver=resolver, reject_statuses=reject_statuses)

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
        resolver: CredentialResolver | None = None,
        reject_statuses: Iterable[int] = (401,),
    ) -> AgentCoreAuth:
        """An OAuth2 access token of ``provider_name`` as ``Authorization: Bearer <token>``.

        For USER_FEDERATION the user comes from :func:`agentcore_auth.identity_context`;
        when the user must consent, :class:`AuthorizationRequiredError` is raised
        from the request (an HTTP client cannot wait for a browser).
        """
        request = CredentialRequest.oauth2(
            provider_name, scopes=scopes, auth_flow=auth_flow,
            resources=resources, audiences=audiences, custom_parameters=custom_parameters,
            custom_state=custom_state, callback_url=callback_url)
        return cls(request, header="Authorization", prefix="Bearer ", resolver=resolver,
                   reject_statuses=reject_statuses)

    def __repr__(self) -> str:
        where = f"query_param={self.query_param!r}" if self.query_param else (
            f"header={self.header!r}")
        kind = self.request.kind if self.request.kind == "api_key" else (
            f"oauth2 {self.request.auth_flow}")
        return f"AgentCoreAuth(provider_name={self.request.provider_name!r}, {kind}, {where})"

    @property
    def resolver(self) -> CredentialResolver:
        """The resolver in use (the default one is looked up on each access)."""
        return self._resolver or default_resolver()

    def apply(self, request: httpx.Request, secret: Secret) -> httpx.Request:
        """Put ``secret`` on ``request`` (in place) and return it."""
        if self.query_param is not None:
            request.url = request.url.copy_set_param(self.query_param, secret.reveal())
        else:
            assert self.header is not None
            request.headers[self.header] = self.prefix + secret.reveal()
        return request

    # --- the two drivers: they differ only in resolve vs await aresolve ---------------
    # The common exchange (one request, accepted) is inlined: resolve, apply, send. A
    # refusal hands over to the shared, I/O-free :meth:`_after_refusal`.

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with the credential; on a refusal, refetch and resend once."""
        resolver = self._resolver or default_resolver()
        guard = WireGuard.install(request, self.header, self.query_param, use_async=False)
        replayable, original_url = _read(request), request.url
        responses: list[httpx.Response] = []
        try:
            secret = resolver.resolve(self.request)
            response = yield self.apply(request, secret)
            responses.append(response)
            if response.status_code not in self.reject_statuses:
                return
            flow = self._after_refusal(request, resolver, guard, replayable, secret, responses,
                                       use_async=False)
            try:
                step = next(flow)
                reply: Any
                while True:
                    reply = resolver.resolve(self.request) if step is _RESOLVE else (yield step)
                    step = flow.send(reply)
            except StopIteration:
                return
            finally:
                flow.close()
        except GeneratorExit as stop:
            # httpx closes the flow while an error (a send error, or one raised by an
            # event hook) propagates: it is the context.
            self._tidy_error(stop.__context__, guard)
            raise
        finally:
            if self.query_param is not None or len(responses) > 1 or (
                    responses and responses[0].history):
                self._finish(request, original_url, guard, responses)

    def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Async twin of :meth:`sync_auth_flow`."""
        # A wrapper, not the async generator itself: httpx closes the flow from a
        # ``finally`` while an error (e.g. raised by a response event hook) propagates,
        # and an async generator's aclose() does not see that error; a method does.
        return _AsyncFlow(self, request)

    async def _async_flow(
        self, request: httpx.Request, guard: WireGuard
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        resolver = self._resolver or default_resolver()
        replayable = _is_read(request) or await _aread(request)
        original_url = request.url
        responses: list[httpx.Response] = []
        try:
            secret = await resolver.aresolve(self.request)
            response = yield self.apply(request, secret)
            responses.append(response)
            if response.status_code not in self.reject_statuses:
                return
            flow = self._after_refusal(request, resolver, guard, replayable, secret, responses,
                                       use_async=True)
            try:
                step = next(flow)
                reply: Any
                while True:
                    if step is _RESOLVE:
                        reply = await resolver.aresolve(self.request)
                    else:
                        reply = yield step
                    step = flow.send(reply)
            except StopIteration:
                return
            finally:
                flow.close()
        finally:
            if self.query_param is not None or len(responses) > 1 or (
                    responses and responses[0].history):
                self._finish(request, original_url, guard, responses)

    # --- the shared, I/O-free refusal flow --------------------------------------------

    def _after_refusal(self, request: httpx.Request, resolver: CredentialResolver,
                       guard: WireGuard, replayable: bool, secret: Secret,
                       responses: list[httpx.Response],
                       use_async: bool) -> Generator[Any, Any, None]:
        """After ``responses[-1]`` refused ``secret``: yields ``_RESOLVE`` (send back a
        Secret) or a request to resend (send back its response, kept in ``responses``)."""
        response = responses[-1]
        name = self.request.provider_name
        if not self._carried(response.request, secret, guard.bound):
            # A redirect took the request elsewhere, or dropped the credential on the
            # way: this refusal says nothing about the credential.
            logger.info("HTTP %s from a request that did not carry provider %r's "
                        "credential (after a redirect); the credential is kept",
                        response.status_code, name)
            return
        backoff = resolver._backoff
        remaining = backoff.remaining(secret)
        if remaining is None and (backoff.came_back(secret)
                                  or resolver._cache.refetched_same(secret)):
            # A concurrent refusal's refetch already brought this value back.
            remaining = backoff.record(secret)
        if remaining is not None:
            logger.debug("HTTP %s with provider %s's credential, which the source returned "
                         "again after a refusal; not asking it again for %.1f s",
                         response.status_code, name, remaining)
            return
        # Compare-and-invalidate: many 401s for one stale value cause one refetch.
        backoff.note_refusal(secret)
        resolver.invalidate(secret)
        if not replayable:
            logger.info("HTTP %s with provider %s's credential; the request body cannot "
                        "be replayed, so the response is returned", response.status_code,
                        name)
            return
        fresh = yield _RESOLVE
        if fresh == secret:
            window = resolver._backoff.record(fresh)
            logger.warning("HTTP %s with provider %s's credential, and the source still "
                           "returns the refused value; not resending, and further refusals "
                           "are returned for %.1f s without asking it again",
                           response.status_code, name, window)
            return
        resolver._backoff.clear(fresh)
        logger.info("HTTP %s with provider %s's credential; resending once with a "
                    "refetched one", response.status_code, name)
        guard.attach(request, use_async=use_async)
        responses.append((yield self.apply(request, fresh)))

    def _finish(self, request: httpx.Request, original_url: httpx.URL, guard: WireGuard,
                responses: list[httpx.Response]) -> None:
        """The exchange is over: the key off its redirect hops, out of ``response.url``."""
        if len(responses) > 1 or (responses and responses[0].history):
            tidy(responses, guard.bound, header=self.header, query_param=self.query_param)
            self._check_guard(responses, guard)
        if self.query_param is not None:
            # Keep the key out of response.url and error texts.
            request.url = original_url

    def _carried(self, request: httpx.Request, secret: Secret, bound: Origin) -> bool:
        """Whether ``request`` went to the bound origin with ``secret`` on it."""
        if not allowed(bound, request.url):
            return False
        if self.query_param is not None:
            sent = request.url.params.get(self.query_param)
            expected = secret.reveal()
        else:
            assert self.header is not None
            sent = request.headers.get(self.header)
            expected = self.prefix + secret.reveal()
        return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())

    def _tidy_error(self, exc: BaseException | None, guard: WireGuard) -> None:
        """An exchange ended by ``exc`` (a redirect loop, an unreachable target, an error
        raised by an event hook such as ``raise_for_status()``): no key in it.

        The requests it carries lose the key (query mode) or, sent elsewhere, the
        header; then its message, args, request and response are scrubbed in place
        as :func:`agentcore_auth.scrub_exception` does, with every redactor the
        resolver registers values in.
        """
        if exc is None:
            return
        for current in _chain(exc):
            if isinstance(current, httpx.RequestError | httpx.HTTPStatusError):
                tidy_request(getattr(current, "_request", None), guard.bound,
                             header=self.header, query_param=self.query_param)
        first = default_redactor()
        own = self._resolver._redactor if self._resolver is not None else None
        scrub_exception(exc, first)
        if own is not None and own is not first:
            scrub_exception(exc, own)

    def _check_guard(self, responses: list[httpx.Response], guard: WireGuard) -> None:
        elsewhere = [hop for r in responses for hop in r.history[1:] + [r]
                     if r.history and not allowed(guard.bound, hop.request.url)]
        if elsewhere and not guard.seen:
            logger.warning("provider %s's credential may have followed a redirect to another "
                           "origin: this transport does not run httpx's trace extension, so it "
                           "could not be removed; use follow_redirects=False",
                           self.request.provider_name)


class _AsyncFlow(AsyncGenerator[httpx.Request, httpx.Response]):
    """The async auth flow: the generator, with an ``aclose`` that sees why it is closed."""

    __slots__ = ("_auth", "_guard", "_flow", "_done")

    def __init__(self, auth: AgentCoreAuth, request: httpx.Request) -> None:
        self._auth = auth
        self._guard = WireGuard.install(request, auth.header, auth.query_param, use_async=True)
        self._flow = auth._async_flow(request, self._guard)
        self._done = False

    # Each step awaits the generator's own awaitable directly (no coroutine in between):
    # a step that raises (StopAsyncIteration included) ends the flow.
    async def __anext__(self) -> httpx.Request:
        try:
            return await self._flow.__anext__()
        except BaseException:
            self._done = True
            raise

    async def asend(self, value: httpx.Response) -> httpx.Request:
        """Hand the flow a response; the next request to send."""
        try:
            return await self._flow.asend(value)
        except BaseException:
            self._done = True
            raise

    async def athrow(self, *args: Any) -> httpx.Request:
        """Throw into the flow."""
        try:
            return await self._flow.athrow(*args)
        except BaseException:
            self._done = True
            raise

    async def aclose(self) -> None:
        """Close the flow; an error that is ending the exchange is scrubbed first."""
        if self._done:
            # A step raised (StopAsyncIteration too): the generator has finished, and
            # an error it raised went to the caller through that step.
            return
        self._done = True
        # Called from httpx's ``finally``: the error propagating there, if any.
        self._auth._tidy_error(sys.exception(), self._guard)
        await self._flow.aclose()


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts (each once)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def _read(request: httpx.Request) -> bool:
    """Buffer the body so it can be replayed; False when the stream is already spent."""
    try:
        request.read()
    except httpx.StreamError:
        return False
    return True


def _is_read(request: httpx.Request) -> bool:
    """Whether the body is in memory already (a client's ``content=``/``json=``/no body)."""
    try:
        request.content  # noqa: B018 - raises RequestNotRead for a stream not read yet
    except httpx.RequestNotRead:
        return False
    return True


async def _aread(request: httpx.Request) -> bool:
    """Async twin of :func:`_read`."""
    try:
        await request.aread()
    except httpx.StreamError:
        return False
    return True
