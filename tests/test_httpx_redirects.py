"""AgentCoreAuth binds the credential to its origin across redirects (real loopback servers).

Two HTTP servers on loopback are two origins: ``api`` (the API the credential is
for, which redirects) and ``elsewhere`` (records what it receives, answers 401).
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from agentcore_auth import CredentialResolver, EnvSource
from agentcore_auth.httpx import AgentCoreAuth

KEY = "sk-redirect-canary-5b0e7d21c9"
WRONG = "sk-redirect-wrong-8c1f3a6e42"


@dataclass
class Origins:
    api: str
    elsewhere: str
    received: list[dict[str, Any]] = field(default_factory=list)


def _handler(origins: Origins, role: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path, _, query = self.path.partition("?")
            if role == "elsewhere":
                origins.received.append({"path": path, "query": query,
                                         "headers": dict(self.headers.items())})
                return self._reply(401)
            echo = f"?{query}" if query else ""
            if path == "/same":
                return self._reply(302, f"/api{echo}")
            if path == "/drop":
                return self._reply(302, "/api")
            if path == "/cross":
                return self._reply(302, f"{origins.elsewhere}/collect{echo}")
            sent = urllib.parse.parse_qs(query).get("key", [self.headers.get("x-api-key")])[0]
            return self._reply(200 if sent == KEY else 401)

        def _reply(self, status: int, location: str | None = None) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture(scope="module")
def origins() -> Iterator[Origins]:
    found = Origins("", "")
    servers = []
    for role in ("api", "elsewhere"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(found, role))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        setattr(found, role, f"http://127.0.0.1:{server.server_address[1]}")
    yield found
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def resolver(origins: Origins) -> Iterator[CredentialResolver]:
    origins.received.clear()
    source = EnvSource({"good": "GOOD_KEY", "bad": "BAD_KEY"},
                       environ={"GOOD_KEY": KEY, "BAD_KEY": WRONG})
    with CredentialResolver(source) as resolver:
        yield resolver


def _auth(resolver: CredentialResolver, mode: str, provider: str = "good") -> AgentCoreAuth:
    if mode == "query":
        return AgentCoreAuth.api_key(provider, query_param="key", resolver=resolver)
    return AgentCoreAuth.api_key(provider, header="x-api-key", resolver=resolver)


def _get(auth: AgentCoreAuth, url: str, use_async: bool, **kw: Any) -> httpx.Response:
    if not use_async:
        with httpx.Client(auth=auth, follow_redirects=True) as client:
            return client.get(url, **kw)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, follow_redirects=True) as client:
            return await client.get(url, **kw)

    return asyncio.run(go())


def _urls(response: httpx.Response) -> str:
    chain = [*response.history, response]
    return " ".join(f"{r.url} {r.request.url}" for r in chain)


both = pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])


@both
@pytest.mark.parametrize("mode", ["header", "query"])
def test_cross_origin_redirect_never_carries_the_key(origins: Origins,
                                                     resolver: CredentialResolver,
                                                     mode: str, use_async: bool,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The other origin gets neither the header nor the query key, and its 401 changes nothing."""
    caplog.set_level(logging.DEBUG)
    response = _get(_auth(resolver, mode), f"{origins.api}/cross?city=Oslo", use_async)
    assert response.status_code == 401 and response.url.port != httpx.URL(origins.api).port
    (seen,) = origins.received
    assert KEY not in str(seen) and seen["query"] == "city=Oslo"
    assert {k.lower() for k in seen["headers"]}.isdisjoint({"x-api-key", "authorization"})
    stats = resolver.stats
    assert (stats.upstream_calls, stats.invalidations) == (1, 0)
    assert KEY not in _urls(response) + str(response.request.headers)
    assert "did not carry provider 'good'" in caplog.text
    assert KEY not in caplog.text


@both
def test_same_origin_redirect_keeps_the_key_off_every_url(origins: Origins,
                                                          resolver: CredentialResolver,
                                                          use_async: bool) -> None:
    """Query mode, a Location echoing the key: 200, yet no URL of the chain shows the key."""
    response = _get(_auth(resolver, "query"), f"{origins.api}/same?city=Oslo", use_async)
    assert response.status_code == 200 and len(response.history) == 1
    assert KEY not in _urls(response)
    assert "city=Oslo" in str(response.url)


@both
def test_refused_after_redirect_error_message_hides_the_key(origins: Origins,
                                                            resolver: CredentialResolver,
                                                            use_async: bool) -> None:
    """A refused key echoed through a same-origin redirect: raise_for_status shows no key."""
    response = _get(_auth(resolver, "query", "bad"), f"{origins.api}/same", use_async)
    assert response.status_code == 401
    with pytest.raises(httpx.HTTPStatusError) as info:
        response.raise_for_status()
    assert WRONG not in str(info.value) + _urls(response)
    stats = resolver.stats  # it carried the key to its own origin: a real refusal
    assert (stats.upstream_calls, stats.invalidations) == (2, 1)


def test_redirect_that_drops_the_key_invalidates_nothing(origins: Origins,
                                                         resolver: CredentialResolver) -> None:
    """Same origin, but the Location dropped the key: that 401 says nothing about the key."""
    response = _get(_auth(resolver, "query"), f"{origins.api}/drop", False)
    assert response.status_code == 401
    assert (resolver.stats.upstream_calls, resolver.stats.invalidations) == (1, 0)


def test_failed_redirect_target_error_shows_no_key(origins: Origins,
                                                   resolver: CredentialResolver) -> None:
    """A redirect to an unreachable origin: the exception's request URL holds no key.

    Sync only: httpx closes an async auth flow without the error as context, so the
    async twin cannot reach the failed request (its message holds no URL either way).
    """
    use_async = False
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    saved, origins.elsewhere = origins.elsewhere, dead
    try:
        with pytest.raises(httpx.ConnectError) as info:
            _get(_auth(resolver, "query"), f"{origins.api}/cross?city=Oslo", use_async)
    finally:
        origins.elsewhere = saved
    assert KEY not in str(info.value.request.url) + str(info.value)


def test_a_trace_extension_of_the_caller_still_runs(origins: Origins,
                                                    resolver: CredentialResolver) -> None:
    """The guard chains to the request's own trace callback."""
    events: list[str] = []
    with httpx.Client(auth=_auth(resolver, "header")) as client:
        response = client.get(f"{origins.api}/api",
                              extensions={"trace": lambda name, info: events.append(name)})
    assert response.status_code == 200
    assert "http11.send_request_headers.started" in events


def test_manually_followed_redirect_is_a_new_exchange(origins: Origins,
                                                      resolver: CredentialResolver) -> None:
    """follow_redirects=False, then sending response.next_request yourself: that request
    is a new exchange bound to its own origin (the earlier guard does not strip it)."""
    with httpx.Client(auth=_auth(resolver, "header")) as client:
        first = client.get(f"{origins.api}/cross")
        assert first.status_code == 302 and first.next_request is not None
        second = client.send(first.next_request)
    assert second.status_code == 401
    (seen,) = origins.received
    assert seen["headers"].get("x-api-key") == KEY  # sent on purpose, by the caller


def test_only_the_hops_httpx_follows_carry_the_guard(resolver: CredentialResolver) -> None:
    """The first request has no trace of ours (no cost without redirects); each redirect has."""
    from agentcore_auth._origin import LAZY_GUARD, WireGuard

    traces: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        traces.append(request.extensions.get("trace"))
        if request.url.path == "/start":
            return httpx.Response(302, headers={"Location": "http://other.test/next"})
        return httpx.Response(200)

    with httpx.Client(auth=_auth(resolver, "header"), transport=httpx.MockTransport(handler),
                      follow_redirects=True) as client:
        assert client.get("http://api.test/start").status_code == 200
        assert client.get("http://api.test/plain").status_code == 200
    assert LAZY_GUARD
    first, redirected, plain = traces
    assert first is None and plain is None
    assert isinstance(getattr(redirected, "__self__", redirected), WireGuard)
