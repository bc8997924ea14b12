"""AgentCoreAuth: the auth flow driven by hand, and through respx-mocked clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import respx

from agentcore_auth import (
    ConfigurationError,
    Credential,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Secret,
)
from agentcore_auth.httpx import AgentCoreAuth

OLD = "sk-old-0123456789abcdef"
NEW = "sk-new-fedcba9876543210"
URL = "https://api.example/v1/forecast"


class VaultSource:
    """Returns the current value per provider (tests rotate it) and counts fetches."""

    name = "vault"

    def __init__(self, **values: str) -> None:
        self.values = dict(values)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        with self._lock:
            self.calls[request.provider_name] += 1
            return Credential(Secret(self.values[request.provider_name]))


@pytest.fixture
def source() -> VaultSource:
    return VaultSource(weather=OLD, github=OLD)


@pytest.fixture
def resolver(source: VaultSource) -> Iterator[CredentialResolver]:
    with CredentialResolver(source, timer=lambda: 0.0) as resolver:  # type: ignore[arg-type]
        resolver.resolve(CredentialRequest("weather"))  # OLD is cached
        yield resolver


def rotate(source: VaultSource) -> None:
    source.values["weather"] = NEW


# --- construction ----------------------------------------------------------------------------


def test_constructors_and_repr(resolver: CredentialResolver) -> None:
    """The constructors set the placement; repr shows provider and mode, never a value."""
    header = AgentCoreAuth.api_key("weather", resolver=resolver)
    query = AgentCoreAuth.api_key("weather", query_param="key", resolver=resolver)
    bearer = AgentCoreAuth.oauth2("github", scopes=["repo"], auth_flow="M2M", resolver=resolver)
    assert (header.header, header.query_param) == ("x-api-key", None)
    assert (query.header, query.query_param) == (None, "key")
    assert (bearer.header, bearer.prefix) == ("Authorization", "Bearer ")
    assert repr(header) == "AgentCoreAuth(provider_name='weather', api_key, header='x-api-key')"
    assert repr(query) == "AgentCoreAuth(provider_name='weather', api_key, query_param='key')"
    assert repr(bearer) == ("AgentCoreAuth(provider_name='github', oauth2 M2M, "
                            "header='Authorization')")
    assert AgentCoreAuth.requires_request_body is True


def test_bad_arguments() -> None:
    """Conflicting or missing placements, bad statuses and names are ConfigurationErrors."""
    with pytest.raises(ConfigurationError, match="exactly one"):
        AgentCoreAuth.api_key("weather", header="x-api-key", query_param="key")
    with pytest.raises(ConfigurationError, match="exactly one"):
        AgentCoreAuth("weather")
    with pytest.raises(ConfigurationError, match="reject_statuses"):
        AgentCoreAuth.api_key("weather", reject_statuses=(302,))
    with pytest.raises(ConfigurationError):
        AgentCoreAuth.api_key("not a name!")
    with pytest.raises(ConfigurationError, match="auth_flow"):
        AgentCoreAuth.oauth2("github", scopes=["repo"], auth_flow="PASSWORD")


# --- driving the generators by hand, as httpx's tests/test_auth.py does ------------------------


def test_flow_200_sends_once(resolver: CredentialResolver) -> None:
    """A 200 ends the flow after one request carrying the key."""
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    flow = auth.sync_auth_flow(httpx.Request("GET", URL))
    request = next(flow)
    assert request.headers["x-api-key"] == OLD
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, request=request))


def test_flow_401_refetches_and_resends_once(source: VaultSource,
                                             resolver: CredentialResolver) -> None:
    """401: compare-and-invalidate, refetch, resend once; a second 401 ends the flow."""
    auth = AgentCoreAuth.oauth2("weather", scopes=["read"], resolver=resolver)
    source.values["weather"] = "tok-0000000000000000"
    flow = auth.sync_auth_flow(httpx.Request("POST", URL, content=b"payload"))
    request = next(flow)
    assert request.headers["authorization"] == "Bearer tok-0000000000000000"
    source.values["weather"] = "tok-1111111111111111"
    retry = flow.send(httpx.Response(401, request=request))
    assert retry.headers["authorization"] == "Bearer tok-1111111111111111"
    assert retry.content == b"payload"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=retry))
    assert source.calls["weather"] == 3  # warm-up (api key) + first token + refetch


def test_flow_same_value_is_not_resent(source: VaultSource,
                                       resolver: CredentialResolver) -> None:
    """If the refetched value is the refused one, the 401 is returned without a resend."""
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    flow = auth.sync_auth_flow(httpx.Request("GET", URL))
    request = next(flow)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=request))
    assert source.calls["weather"] == 2


def test_flow_unreplayable_body_returns_401_but_invalidates(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """A streaming body already spent cannot be replayed: the 401 is returned, the key dropped."""
    def chunks() -> Iterator[bytes]:
        yield b"part"

    request = httpx.Request("POST", URL, content=chunks())
    list(request.stream)  # the stream is spent, as after a first send
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    flow = auth.sync_auth_flow(request)
    sent = next(flow)
    rotate(source)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, request=sent))
    assert resolver.resolve(CredentialRequest("weather")).reveal() == NEW


async def test_async_flow_by_hand(source: VaultSource, resolver: CredentialResolver) -> None:
    """The async flow: asend a 401, get the retried request, asend a 200, done."""
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    flow = auth.async_auth_flow(httpx.Request("GET", URL))
    request = await flow.__anext__()
    assert request.headers["x-api-key"] == OLD
    rotate(source)
    retry = await flow.asend(httpx.Response(401, request=request))
    assert retry.headers["x-api-key"] == NEW
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(200, request=retry))


def test_query_param_flow_restores_url(resolver: CredentialResolver) -> None:
    """In query mode the key is on the sent URL and gone from the request once the flow ends."""
    auth = AgentCoreAuth.api_key("weather", query_param="key", resolver=resolver)
    request = httpx.Request("GET", URL + "?city=Oslo")
    flow = auth.sync_auth_flow(request)
    sent = next(flow)
    assert sent.url.params["key"] == OLD and sent.url.params["city"] == "Oslo"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, request=sent))
    assert str(request.url) == URL + "?city=Oslo"


# --- through clients, with respx ------------------------------------------------------------------


def api(source: VaultSource, status: int = 401) -> respx.Route:
    """A mocked API accepting only the source's current key."""
    def answer(request: httpx.Request) -> httpx.Response:
        given = request.headers.get("x-api-key") or request.url.params.get("key")
        return httpx.Response(200 if given == source.values["weather"] else status,
                              json={"ok": True})

    return respx.route(host="api.example").mock(side_effect=answer)


def post_sync(auth: AgentCoreAuth) -> httpx.Response:
    with httpx.Client(auth=auth) as client:
        return client.post(URL, json={"a": 1})


@pytest.mark.parametrize("mode", ["sync", "async"])
@respx.mock
async def test_client_rotation(mode: str, source: VaultSource,
                               resolver: CredentialResolver) -> None:
    """Client and AsyncClient: a rotated key costs one 401, one refetch, one resend."""
    route = api(source)
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    rotate(source)
    if mode == "sync":
        response = post_sync(auth)
    else:
        async with httpx.AsyncClient(auth=auth) as aclient:
            response = await aclient.post(URL, json={"a": 1})
    assert response.status_code == 200
    assert [c.request.headers["x-api-key"] for c in route.calls] == [OLD, NEW]
    assert route.calls[0].request.content == route.calls[1].request.content == b'{"a":1}'
    assert [r.status_code for r in response.history] == [401]


@respx.mock
def test_401_twice_returns_last_response(source: VaultSource,
                                         resolver: CredentialResolver) -> None:
    """A retry refused again returns that 401 (like DigestAuth); raise_for_status is clean."""
    route = respx.get(URL).mock(return_value=httpx.Response(401))
    auth = AgentCoreAuth.api_key("weather", query_param="key", resolver=resolver)
    rotate(source)
    with httpx.Client(auth=auth) as client:
        response = client.get(URL)
    assert response.status_code == 401 and route.call_count == 2
    with pytest.raises(httpx.HTTPStatusError) as info:
        response.raise_for_status()
    assert OLD not in str(info.value) and NEW not in str(info.value)
    assert NEW not in str(response.url)


@pytest.mark.parametrize(("statuses", "calls"), [((401,), 1), ((401, 403), 2)])
@respx.mock
def test_403_only_when_configured(statuses: tuple[int, ...], calls: int,
                                  source: VaultSource, resolver: CredentialResolver) -> None:
    """403 counts as a refusal only when listed in reject_statuses."""
    route = api(source, status=403)
    auth = AgentCoreAuth.api_key("weather", resolver=resolver, reject_statuses=statuses)
    rotate(source)
    response = httpx.get(URL, auth=auth)
    assert route.call_count == calls
    assert response.status_code == (403 if calls == 1 else 200)


@respx.mock
def test_same_origin_redirect_then_401(source: VaultSource,
                                       resolver: CredentialResolver) -> None:
    """A 401 after a followed redirect resends the original request, which redirects again."""
    respx.get(URL).mock(return_value=httpx.Response(307, headers={"location": "/v2/forecast"}))
    final = respx.get("https://api.example/v2/forecast").mock(side_effect=lambda request: (
        httpx.Response(200 if request.headers["x-api-key"] == source.values["weather"] else 401)))
    rotate(source)
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    with httpx.Client(auth=auth, follow_redirects=True) as client:
        response = client.get(URL)
    assert response.status_code == 200
    assert [c.request.headers["x-api-key"] for c in final.calls] == [OLD, NEW]


@respx.mock
def test_cross_origin_redirect_drops_bearer(source: VaultSource,
                                            resolver: CredentialResolver) -> None:
    """httpx strips Authorization on a redirect to another origin; no refetch follows a 200."""
    respx.get(URL).mock(return_value=httpx.Response(
        302, headers={"location": "https://elsewhere.example/x"}))
    other = respx.get("https://elsewhere.example/x").mock(return_value=httpx.Response(200))
    auth = AgentCoreAuth.oauth2("github", scopes=["repo"], resolver=resolver)
    with httpx.Client(auth=auth, follow_redirects=True) as client:
        assert client.get(URL).status_code == 200
    assert "authorization" not in other.calls[0].request.headers


@respx.mock
def test_query_param_key_not_in_logs(source: VaultSource, resolver: CredentialResolver,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs the URL (with the key) at INFO: log redaction removes it; DEBUG too."""
    caplog.set_level(logging.DEBUG)
    api(source)
    rotate(source)
    auth = AgentCoreAuth.api_key("weather", query_param="key", resolver=resolver)
    with httpx.Client(auth=auth) as client:
        response = client.get(URL, params={"city": "Oslo"})
    assert response.status_code == 200
    assert "HTTP Request: GET https://api.example/v1/forecast" in caplog.text
    assert OLD not in caplog.text and NEW not in caplog.text
    assert OLD not in str(response.url) and NEW not in str(response.url)


# --- coalescing --------------------------------------------------------------------------------


@respx.mock
def test_thread_stampede_one_refetch(source: VaultSource, resolver: CredentialResolver) -> None:
    """50 threads refused with one stale key: one refetch, 50 successes."""
    barrier = threading.Barrier(50)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["x-api-key"] == OLD:
            barrier.wait(10)  # everyone sent the stale key before any 401 is handled
            return httpx.Response(401)
        return httpx.Response(200)

    respx.get(URL).mock(side_effect=answer)
    rotate(source)
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    with httpx.Client(auth=auth) as client, concurrent.futures.ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda _: client.get(URL).status_code, range(50)))
    assert statuses == [200] * 50
    assert source.calls["weather"] == 2


@respx.mock
async def test_async_stampede_one_refetch(source: VaultSource,
                                          resolver: CredentialResolver) -> None:
    """200 tasks refused with one stale key: one refetch, 200 successes."""
    gate = asyncio.Event()
    stale = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal stale
        if request.headers["x-api-key"] == OLD:
            stale += 1
            if stale == 200:
                gate.set()
            await gate.wait()
            return httpx.Response(401)
        return httpx.Response(200)

    respx.get(URL).mock(side_effect=answer)
    rotate(source)
    auth = AgentCoreAuth.api_key("weather", resolver=resolver)
    async with httpx.AsyncClient(auth=auth) as client:
        responses = await asyncio.gather(*(client.get(URL) for _ in range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    assert source.calls["weather"] == 2
