"""Binding an httpx credential to its origin across redirects (used by ``agentcore_auth.httpx``).

httpx copies every header but ``Authorization`` to a redirect target on another
origin, and a Location that echoes the query string carries a query-parameter key
along. An ``httpx.Auth`` sees only the first request and the last response, so
the credential is guarded where httpx's own transports send each request: the
``trace`` request extension, which httpx copies onto every redirect request and
httpcore calls just before it writes the request head. There, a request for
another origin loses the credential's header or query parameter. After the
exchange, :func:`tidy` removes the key from every URL of the chain (so
``response.url``, ``response.history`` and ``raise_for_status()`` messages hold
none) and the header from requests that went elsewhere.

Like httpx for ``Authorization``, an upgrade from ``http://host`` to
``https://host`` (default ports) keeps the credential.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

__all__ = ["GuardedExtensions", "Origin", "WireGuard", "allowed", "origin_of", "tidy",
           "without_param"]

Origin = tuple[str, str, int | None]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_RAW_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


def origin_of(url: httpx.URL) -> Origin:
    """(scheme, host, port) with the scheme's default port filled in."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def allowed(bound: Origin, url: httpx.URL) -> bool:
    """Whether a request to ``url`` may carry a credential bound to ``bound``."""
    target = origin_of(url)
    return target == bound or (bound[0] == "http" and bound[2] == 80 and target
                               == ("https", bound[1], 443))


def without_param(url: httpx.URL, name: str) -> httpx.URL:
    """``url`` without query parameter ``name`` (unchanged when it has none)."""
    if not url.query or name not in url.params:
        return url
    pairs = [(k, v) for k, v in parse_qsl(url.query.decode("ascii", "replace"),
                                          keep_blank_values=True) if k != name]
    return url.copy_with(query=urlencode(pairs).encode("ascii") if pairs else None)


def tidy(responses: Iterable[httpx.Response | None], bound: Origin, *, header: str | None,
         query_param: str | None) -> None:
    """Take the credential off the requests of an exchange (and their redirect hops)."""
    for response in responses:
        if response is None or not response.history:
            # No redirect: the one request is the caller's, restored by the auth flow.
            continue
        for hop in [*response.history, response]:
            tidy_request(getattr(hop, "_request", None), bound, header=header,
                         query_param=query_param)


def tidy_request(request: httpx.Request | None, bound: Origin, *, header: str | None,
                 query_param: str | None) -> None:
    """Remove the key from ``request``'s URL, and the header when it went elsewhere."""
    if request is None:
        return
    if query_param is not None:
        request.url = without_param(request.url, query_param)
    elif header is not None and not allowed(bound, request.url):
        request.headers.pop(header, None)


class GuardedExtensions(dict[str, Any]):
    """A request's extensions that hand the guard's ``trace`` to redirect requests only.

    The first request of an exchange goes to the bound origin by construction, so it
    needs no guard: httpcore's ``extensions.get("trace")`` on it finds only what the
    caller put there. httpx builds each redirect request with
    ``dict(request.extensions)``, and a dict subclass that overrides ``__iter__`` is
    copied through :meth:`keys` and :meth:`__getitem__`: the copy carries the guard,
    and every hop httpx follows is checked. A request without redirects pays nothing
    for the binding. :data:`LAZY_GUARD` says whether this httpx copies that way (checked
    once at import); where it does not, the guard is installed on every request.
    Build one with :meth:`wrap`.
    """

    __slots__ = ("hook",)

    hook: Callable[..., Any]

    @classmethod
    def wrap(cls, base: dict[str, Any], hook: Callable[..., Any]) -> GuardedExtensions:
        """A copy of ``base`` whose copies carry ``hook`` as their ``trace``."""
        extensions = cls(base)
        extensions.hook = hook
        return extensions

    def __iter__(self) -> Any:
        return iter(self.keys())

    def keys(self) -> Any:
        keys = list(dict.keys(self))
        if "trace" not in keys:
            keys.append("trace")
        return keys

    def __getitem__(self, key: str) -> Any:
        return self.hook if key == "trace" else dict.__getitem__(self, key)


def _copies_lazily() -> bool:
    """Whether httpx's redirect requests (``dict(extensions)``) get a guarded trace."""

    def hook(name: str, info: dict[str, Any]) -> None:  # pragma: no cover - never called
        return None

    first = httpx.Request("GET", "http://127.0.0.1/")
    first.extensions = GuardedExtensions.wrap({"timeout": {}}, hook)
    follow = httpx.Request("GET", "http://127.0.0.1/", extensions=first.extensions)
    return first.extensions.get("trace") is None and follow.extensions.get("trace") is hook \
        and follow.extensions.get("timeout") == {}


LAZY_GUARD = _copies_lazily()

_Wire = tuple[tuple[bytes, bytes, int | None], tuple[bytes, bytes, int] | None, bytes | None]


class WireGuard:
    """The ``trace`` extension that strips the credential from requests to another origin.

    It chains to a ``trace`` callback the request already had (``previous``). Built
    for every request, so it does nothing until a hop needs checking.
    """

    # One is made for every request: the counters and what checking a hop needs are
    # class-level defaults until a hop sets them (most requests have none).
    #: How many request heads passed the guard (0: the transport does not trace).
    seen = 0
    #: How many headers or query parameters it took off.
    stripped = 0
    _bound: Origin | None = None
    _wire: _Wire | None = None
    _lazy = True
    _extensions: dict[str, Any]
    _hook: Callable[..., Any]

    def __init__(self, url: httpx.URL, header: str | None, query_param: str | None,
                 previous: Callable[..., Any] | None) -> None:
        self.url = url
        self.header_name = header
        self.query_param = query_param
        self.previous = previous

    @classmethod
    def install(cls, request: httpx.Request, header: str | None, query_param: str | None,
                *, use_async: bool) -> WireGuard:
        """A guard bound to ``request``'s origin, installed on its redirects.

        A ``trace`` the request already has is the caller's and is chained to
        (``previous``), unless it is an earlier exchange's guard (a request built from
        ``response.next_request``): that one is bound to its own URL, so only the
        caller's trace behind it is kept.
        """
        extensions = request.extensions
        previous = extensions.get("trace")
        if previous is None:
            guard = cls(request.url, header, query_param, None)
            if LAZY_GUARD and type(extensions) is dict:  # the common case, in line
                guarded = GuardedExtensions(extensions)
                guarded.hook = guard.acall if use_async else guard
                request.extensions = guarded
                return guard
        else:
            owner = getattr(previous, "__self__", previous)
            if isinstance(owner, WireGuard):
                previous = owner.previous
            if not callable(previous):
                previous = None
            guard = cls(request.url, header, query_param, previous)
        guard.attach(request, use_async=use_async)
        return guard

    @property
    def bound(self) -> Origin:
        """The origin the credential is bound to."""
        if self._bound is None:
            self._bound = origin_of(self.url)
        return self._bound

    def _wire_origin(self) -> _Wire:
        """The bound origin as httpcore holds it (bytes), its https upgrade, the header."""
        url = self.url
        scheme = url.scheme.encode("ascii")
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        upgrade = (b"https", url.raw_host, 443) if (scheme, port) == (b"http", 80) else None
        header = self.header_name.lower().encode("latin-1") if self.header_name else None
        self._wire = ((scheme, url.raw_host, port), upgrade, header)
        return self._wire

    def attach(self, request: httpx.Request, *, use_async: bool) -> None:
        """Install the guard on ``request``'s redirects (again, before a resend).

        With :data:`LAZY_GUARD` only the redirect requests httpx builds carry it (see
        :class:`GuardedExtensions`); otherwise it is ``request``'s ``trace`` extension.
        """
        hook = self.acall if use_async else self
        extensions = request.extensions
        if type(extensions) is not dict or "trace" in extensions:
            # Whatever trace the request had is the caller's (``previous``) or an earlier
            # exchange's guard, which this one replaces. (A guarded copy's lazy trace is
            # not copied: ``dict.items`` reads the stored entries only.)
            extensions = dict(dict.items(extensions))
            extensions.pop("trace", None)
            if self.previous is not None:
                extensions["trace"] = self.previous
        if LAZY_GUARD:
            self._lazy = True
            request.extensions = GuardedExtensions.wrap(extensions, hook)
        else:
            self._lazy = False
            self._hook = hook
            self._extensions = request.extensions = {**extensions, "trace": hook}

    def _detach(self) -> None:
        """The response is no redirect: nothing more to guard for this send (saves the
        calls for the rest of the exchange; :meth:`attach` again before a resend)."""
        extensions = self._extensions
        if extensions.get("trace") == self._hook:
            if self.previous is None:
                del extensions["trace"]
            else:
                extensions["trace"] = self.previous

    def __call__(self, name: str, info: dict[str, Any]) -> Any:
        self._guard(name, info)
        return self.previous(name, info) if self.previous is not None else None

    async def acall(self, name: str, info: dict[str, Any]) -> None:
        """The coroutine form, for ``httpx.AsyncClient``."""
        self._guard(name, info)
        if self.previous is not None:
            await self.previous(name, info)

    def _guard(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith("receive_response_headers.complete"):
            # http11: (version, status, reason, headers); http2: (status, headers)
            head = info.get("return_value")
            status = next((v for v in head if isinstance(v, int)), None) if isinstance(
                head, tuple) else None
            if status not in _REDIRECTS and not self._lazy:
                self._detach()
            return
        if not name.endswith("send_request_headers.started"):
            return
        wire = info.get("request")
        if wire is None:
            return
        self.seen += 1
        raw, upgrade, header = self._wire or self._wire_origin()
        url = wire.url
        target = bytes(url.target)
        if target.startswith((b"http://", b"https://")):  # a forward proxy: the real target
            if allowed(self.bound, httpx.URL(target.decode("ascii", "replace"))):
                return
        else:
            where = (url.scheme, url.host, url.port or _RAW_DEFAULT_PORTS.get(url.scheme))
            if where == raw or where == upgrade:
                return
        if header is not None:
            before = len(wire.headers)
            wire.headers[:] = [(k, v) for k, v in wire.headers if k.lower() != header]
            self.stripped += before - len(wire.headers)
        if self.query_param is not None:
            path, sep, query = target.partition(b"?")
            if sep:
                kept = [(k, v) for k, v in parse_qsl(query.decode("ascii", "replace"),
                                                     keep_blank_values=True)
                        if k != self.query_param]
                rest = urlencode(kept).encode("ascii")
                new_target = path + (b"?" + rest if rest else b"")
                if new_target != target:
                    self.stripped += 1
                    url.target = new_target
