"""AgentCoreAuth: an exception that ends an exchange (event hooks included) holds no key.

``raise_for_status()`` in a response event hook builds its message from the request
URL while the key is still on it (query mode) and keeps the request (header mode);
a hook may also quote the response body, where an API echoes the key. Each case
runs sync and async, header and query mode, with a control: the same exchange
through a plain ``httpx.Auth`` that places the key the same way leaks it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx
import pytest
import respx

from agentcore_auth import CredentialResolver, Redactor
from agentcore_auth._redact import secret_patterns
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.sources import EnvSource

KEY = "sk-hook-canary-0123456789abcdef"
URL = "https://api.example/v1/forecast?city=Oslo"


class PlainAuth(httpx.Auth):
    """The control: the key placed as AgentCoreAuth does, with no scrubbing."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.mode == "query":
            request.url = request.url.copy_set_param("key", KEY)
        else:
            request.headers["x-api-key"] = KEY
        yield request


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[CredentialResolver]:
    monkeypatch.setenv("HOOK_KEY", KEY)
    with CredentialResolver(EnvSource({"weather": "HOOK_KEY"}), redactor=Redactor()) as r:
        yield r


def protected(mode: str, resolver: CredentialResolver) -> AgentCoreAuth:
    if mode == "query":
        return AgentCoreAuth.api_key("weather", query_param="key", resolver=resolver)
    return AgentCoreAuth.api_key("weather", header="x-api-key", resolver=resolver)


def rendered(exc: BaseException) -> str:
    """What a log line, a traceback or an error report could show of ``exc``."""
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(exc.args)]
    request = getattr(exc, "_request", None)
    if request is not None:
        texts += [str(request.url), repr(dict(request.headers))]
    response = getattr(exc, "response", None)
    if response is not None:
        texts += [str(response.request.url), repr(dict(response.request.headers))]
    return "\n".join(texts)


def leaks(text: str) -> list[str]:
    return [p for p in secret_patterns(KEY) if p in text]


def raise_for_status(response: httpx.Response) -> None:
    response.raise_for_status()


def quote_body(response: httpx.Response) -> None:
    response.read()
    raise RuntimeError(f"the API said: {response.text}")


def quote_request(request: httpx.Request) -> None:
    raise ValueError(f"refusing to send {request.url} with {dict(request.headers)}")


HOOKS: dict[str, tuple[str, Callable[..., None]]] = {
    "raise_for_status": ("response", raise_for_status),
    "quote_body": ("response", quote_body),
    "request_hook": ("request", quote_request),
}


def answer(request: httpx.Request) -> httpx.Response:
    """A refusing API that echoes what it was sent (as error pages do)."""
    given = request.headers.get("x-api-key") or request.url.params.get("key", "")
    return httpx.Response(500, text=f"bad key {given}")


def send(auth: httpx.Auth, hook: str, use_async: bool) -> BaseException:
    kind, function = HOOKS[hook]
    with respx.mock:
        respx.route(host="api.example").mock(side_effect=answer)
        if use_async:
            import asyncio

            async def call() -> None:
                async def async_hook(message: Any) -> None:
                    if isinstance(message, httpx.Response):
                        await message.aread()  # so a sync read() in the hook has the body
                    function(message)

                async with httpx.AsyncClient(auth=auth,
                                             event_hooks={kind: [async_hook]}) as client:
                    await client.get(URL)

            with pytest.raises(Exception) as info:  # noqa: B017, PT011 - any error ends it
                asyncio.run(call())
        else:
            with httpx.Client(auth=auth, event_hooks={kind: [function]}) as client:
                with pytest.raises(Exception) as info:  # noqa: B017, PT011
                    client.get(URL)
    return info.value


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["header", "query"])
@pytest.mark.parametrize("hook", list(HOOKS))
def test_hook_errors_hold_no_key(hook: str, mode: str, use_async: bool,
                                 resolver: CredentialResolver) -> None:
    control = send(PlainAuth(mode), hook, use_async)
    assert leaks(rendered(control)), "the control should show the key"
    error = send(protected(mode, resolver), hook, use_async)
    assert type(error) is type(control)
    text = rendered(error)
    assert not leaks(text), text
    if mode == "query" and hook == "raise_for_status":
        assert "city=Oslo" in str(error.request.url)  # type: ignore[attr-defined]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_transport_error_in_query_mode_holds_no_key(use_async: bool,
                                                    resolver: CredentialResolver) -> None:
    """A send error (here a refused connection raised by the transport) quoting the URL."""
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    def run(auth: httpx.Auth) -> BaseException:
        with respx.mock:
            respx.route(host="api.example").mock(side_effect=refuse)
            with pytest.raises(httpx.ConnectError) as info:
                if use_async:
                    import asyncio

                    async def call() -> None:
                        async with httpx.AsyncClient(auth=auth) as client:
                            await client.get(URL)
                    asyncio.run(call())
                else:
                    with httpx.Client(auth=auth) as client:
                        client.get(URL)
        return info.value

    assert leaks(rendered(run(PlainAuth("query"))))
    assert not leaks(rendered(run(protected("query", resolver))))


def test_a_finished_flow_scrubs_nothing_it_did_not_end(resolver: CredentialResolver) -> None:
    """An exchange that completes inside someone's ``except`` block leaves that error alone."""
    import asyncio

    outer = ValueError(f"unrelated {KEY}")

    async def call() -> None:
        with respx.mock:
            respx.route(host="api.example").mock(return_value=httpx.Response(200))
            try:
                raise outer
            except ValueError:
                async with httpx.AsyncClient(auth=protected("query", resolver)) as client:
                    assert (await client.get(URL)).status_code == 200

    asyncio.run(call())
    assert KEY in str(outer)


# --- real loopback server: redirects, httpx's own transports ----------------------------------


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    """``/same`` redirects (query kept) to ``/api``, which answers 500 echoing the key."""
    import http.server
    import threading
    import urllib.parse

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path, _, query = self.path.partition("?")
            if path == "/same":
                self.send_response(302)
                self.send_header("Location", f"/api?{query}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            given = urllib.parse.parse_qs(query).get("key", [self.headers.get("x-api-key")])[0]
            body = f"bad key {given}".encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def only_errors(response: httpx.Response) -> None:
    if response.status_code >= 400:
        response.raise_for_status()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["header", "query"])
@pytest.mark.parametrize("path", ["/same", "/api"])
def test_hooks_over_loopback_and_redirects(path: str, mode: str, use_async: bool,
                                           echo_server: str,
                                           resolver: CredentialResolver) -> None:
    """raise_for_status() in a response hook, after a same-origin redirect or none."""
    import asyncio

    def run(auth: httpx.Auth) -> BaseException:
        url = echo_server + path + "?city=Oslo"
        with pytest.raises(httpx.HTTPStatusError) as info:
            if use_async:
                async def call() -> None:
                    async def hook(response: httpx.Response) -> None:
                        await response.aread()
                        only_errors(response)

                    async with httpx.AsyncClient(auth=auth, follow_redirects=True,
                                                 event_hooks={"response": [hook]}) as client:
                        await client.get(url)
                asyncio.run(call())
            else:
                with httpx.Client(auth=auth, follow_redirects=True,
                                  event_hooks={"response": [only_errors]}) as client:
                    client.get(url)
        return info.value

    assert leaks(rendered(run(PlainAuth(mode))))
    error = run(protected(mode, resolver))
    assert not leaks(rendered(error)), rendered(error)
    assert error.response.status_code == 500  # type: ignore[attr-defined]
