"""Consent per protocol version: input-required on 2026-07-28, -32042 on 2025-11-25.

Both server libraries, both client libraries (``mcp.Client``, ``fastmcp.Client``) in
auto, pinned 2026-07-28 and legacy modes, over streamable HTTP on loopback and over
stdio, against the emulator.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentcore_auth_mcp._rounds import INPUT_KEY
from clients import CLIENTS, Target, open_client
from conftest import leaks
from mcp import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ElicitResult, InputRequiredResult
from servers import KINDS, fastmcp_server, sdk_server, serve

pytestmark = pytest.mark.timeout(120)

BUILD = {"sdk": sdk_server, "fastmcp": fastmcp_server}
MODERN = ("auto", "2026-07-28")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=CLIENTS)
def library(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


async def back(base: str, session_id: str, jwt: str) -> httpx.Response:
    """The browser landing on the server's return URL, signed in as ``jwt``'s user."""
    async with httpx.AsyncClient() as browser:
        return await browser.get(f"{base}/oauth/return", params={"session_id": session_id},
                                 headers=bearer(jwt))


def dump(result: Any) -> str:
    """Everything a client result holds (mcp's are pydantic, fastmcp's dataclasses)."""
    return result.model_dump_json() if hasattr(result, "model_dump_json") else repr(result)


def files_text(result: Any) -> dict[str, Any]:
    return json.loads(result.content[0].text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODERN)
async def test_consent_is_an_input_request_on_2026_07_28(
        kind: str, library: str, mode: str, files: Any, weather: Any, server_logs: Any) -> None:
    """First call input-required (no error); consent; the driver's retry gets each user's token."""
    calls: list[str] = []
    _, app = BUILD[kind](files, weather, calls)
    jwts = {user: files.env.issue_user_token(user) for user in ("ann", "ben")}
    with serve(app) as base:
        async def user(name: str) -> tuple[Any, Any, list[str]]:
            other = "ben" if name == "ann" else "ann"

            async def consent(url: str) -> str:  # the user, in the browser
                session_id = await asyncio.to_thread(files.browse, url)
                assert (await back(base, session_id, jwts[other])).status_code == 403
                assert (await back(base, session_id, jwts[name])).status_code == 200
                return "accept"

            async with open_client(library, Target(base, bearer(jwts[name])), mode,
                                   consent) as client:
                assert client.protocol_version == "2026-07-28"
                first = await client.raw("my_files")
                result = await client.call("my_files")
                return first, result, client.asked

        (ann_first, ann, ann_asked), (ben_first, ben, ben_asked) = await asyncio.gather(
            user("ann"), user("ben"))
    for first, result, asked, name in ((ann_first, ann, ann_asked, "ann"),
                                       (ben_first, ben, ben_asked, "ben")):
        assert isinstance(first, InputRequiredResult), first
        request = first.input_requests[INPUT_KEY]  # type: ignore[index]
        assert request.method == "elicitation/create" and request.params.mode == "url"
        assert files.provider in request.params.message
        assert urllib.parse.urlsplit(request.params.url).hostname == "127.0.0.1"
        assert "REDACTED" not in request.params.url
        assert first.request_state and not first.request_state.startswith("agentcore-auth")
        assert not result.is_error, result
        body = files_text(result)
        assert body["sub"] == name and body["credential"].startswith("[REDACTED")
        assert len(asked) == 1
    assert ann_asked != ben_asked  # each user their own URL
    assert calls == ["my_files", "my_files"]
    tokens = [files.resolver.get_oauth2_token(
        files.provider, scopes=["files"], auth_flow="USER_FEDERATION", user_token=jwt).reveal()
        for jwt in jwts.values()]
    for seen in (ann, ben, ann_first, ben_first):
        assert not leaks(dump(seen), *jwts.values(), *tokens)
    assert not leaks(server_logs.text, *jwts.values(), *tokens)
    for url in (*ann_asked, *ben_asked):
        assert url not in server_logs.text


async def test_legacy_mode_keeps_the_32042_error(kind: str, library: str, files: Any,
                                                 weather: Any) -> None:
    """mode="legacy" (2025-11-25): -32042 with the URL, exactly as before; the retry works."""
    _, app = BUILD[kind](files, weather, [])
    jwt = files.env.issue_user_token("cy")
    with serve(app) as base:
        async with open_client(library, Target(base, bearer(jwt)), "legacy") as client:
            assert client.protocol_version == "2025-11-25"
            with pytest.raises(MCPError) as caught:
                await client.raw("my_files")
            (asked,) = caught.value.error.data["elicitations"]
            session_id = await asyncio.to_thread(files.browse, asked["url"])
            assert (await back(base, session_id, jwt)).status_code == 200
            result = await client.call("my_files")
    assert caught.value.error.code == -32042
    assert asked["mode"] == "url" and asked["elicitationId"].startswith("agentcore-auth-")
    assert files.provider in asked["message"] and "REDACTED" not in asked["url"]
    assert files_text(result)["sub"] == "cy"


async def test_a_retry_before_consent_asks_again(kind: str, library: str, files: Any,
                                                 weather: Any) -> None:
    """The user says "accept" without consenting: the service has no token, so ask again."""
    calls: list[str] = []
    _, app = BUILD[kind](files, weather, calls)
    jwt = files.env.issue_user_token("di")
    with serve(app) as base:
        async def consent(url: str) -> str:
            if len(client.asked) > 1:  # consents on the second time only
                session_id = await asyncio.to_thread(files.browse, url)
                assert (await back(base, session_id, jwt)).status_code == 200
            return "accept"

        async with open_client(library, Target(base, bearer(jwt)), "auto", consent) as client:
            result = await client.call("my_files")
    assert len(client.asked) == 2 and files_text(result)["sub"] == "di"
    assert calls == ["my_files"]


async def test_a_declined_elicitation_is_a_tool_error_naming_the_provider(
        kind: str, library: str, files: Any, weather: Any) -> None:
    calls: list[str] = []
    _, app = BUILD[kind](files, weather, calls)

    async def decline(url: str) -> str:
        return "decline"

    with serve(app) as base:
        async with open_client(library, Target(base, bearer(files.env.issue_user_token("ed"))),
                               "2026-07-28", decline) as client:
            result = await client.call("my_files")
    assert result.is_error
    text = " ".join(c.text for c in result.content)
    assert "declined" in text and files.provider in text and "my_files" in text
    assert calls == []


@pytest.mark.parametrize("auth", ["bearer", "header"])
async def test_a_replayed_request_state_never_yields_the_first_users_token(
        kind: str, auth: str, files: Any, weather: Any) -> None:
    """Ben replays Ann's state (and her "accept") after Ann consented: refused, Ann's works.

    ``bearer``: the library's seal binds its authenticated principal. ``header``: a
    gateway-style ``identity=`` mapping the library knows nothing of; the adapter's own
    binding of the caller refuses it.
    """
    calls: list[str] = []
    options: dict[str, Any] = {}
    if auth == "header":
        options = {"authenticated": False,
                   "identity": lambda caller: {"user_id": caller.headers.get("x-user")}}
    _, app = BUILD[kind](files, weather, calls, **options)
    jwts = {user: files.env.issue_user_token(user) for user in ("ann", "ben")}

    def headers(name: str) -> dict[str, str]:
        return bearer(jwts[name]) if auth == "bearer" else {"X-User": name}

    accept = {INPUT_KEY: ElicitResult(action="accept")}
    with serve(app) as base:
        async with open_client("mcp", Target(base, headers("ann")), "auto") as ann, \
                open_client("mcp", Target(base, headers("ben")), "auto") as ben:
            first = await ann.raw("my_files")
            assert isinstance(first, InputRequiredResult)
            url = first.input_requests[INPUT_KEY].params.url  # type: ignore[index, union-attr]
            if auth == "bearer":
                session_id = await asyncio.to_thread(files.browse, url)
                assert (await back(base, session_id, jwts["ann"])).status_code == 200
            else:
                await asyncio.to_thread(files.env.complete_consent, url, user_id="ann")
            with pytest.raises(MCPError) as refused:
                await ben.raw("my_files", input_responses=accept,
                              request_state=first.request_state)
            with pytest.raises(MCPError) as other_tool:
                await ann.raw("forecast", {"city": "Rome"}, input_responses=accept,
                              request_state=first.request_state)
            own = await ann.raw("my_files", input_responses=accept,
                                request_state=first.request_state)
    assert refused.value.error.code == -32602
    assert "requestState" in refused.value.error.message
    assert other_tool.value.error.code == -32602
    assert isinstance(own, CallToolResult) and files_text(own)["sub"] == "ann"
    assert calls == ["my_files"]


async def test_an_expired_request_state_is_refused(kind: str, files: Any, weather: Any) -> None:
    """request_state_ttl= is the adapter's own lifetime, shorter than the library's seal."""
    _, app = BUILD[kind](files, weather, [], request_state_ttl=0.2)
    accept = {INPUT_KEY: ElicitResult(action="accept")}
    jwt = files.env.issue_user_token("flo")
    with serve(app) as base:
        async with open_client("mcp", Target(base, bearer(jwt)), "auto") as client:
            first = await client.raw("my_files")
            fresh = await client.raw("my_files", input_responses=accept,
                                     request_state=first.request_state)
            await asyncio.sleep(0.3)
            with pytest.raises(MCPError) as expired:
                await client.raw("my_files", input_responses=accept,
                                 request_state=first.request_state)
    assert isinstance(fresh, InputRequiredResult)  # not consented yet: asked again
    assert expired.value.error.code == -32602


@pytest.mark.parametrize("mode", [*MODERN, "legacy"])
async def test_no_credential_parameter_in_any_schema(kind: str, library: str, mode: str,
                                                     files: Any, weather: Any) -> None:
    _, app = BUILD[kind](files, weather, [])
    with serve(app) as base:
        async with open_client(library, Target(base, bearer(files.env.issue_user_token("gus"))),
                               mode) as client:
            listed = await client.client.list_tools()
    tools = listed if isinstance(listed, list) else listed.tools
    text = json.dumps([t.model_dump() for t in tools])
    assert {t.name for t in tools} >= {"my_files", "forecast"}
    assert "api_key" not in text and "access_token" not in text


def stdio_target(kind: str, files: Any, weather: Any, user: str) -> Target:
    config = {"workload": files.workload, "files": files.provider, "files_url": files.url,
              "return_url": files.return_url, "weather": weather.provider,
              "weather_url": weather.url, "user": user}
    env = {**files.env.env_vars(), "AGENTCORE_AUTH_MCP_TEST": json.dumps(config)}
    here = Path(__file__).parent
    return Target(stdio=StdioServerParameters(
        command=sys.executable, args=[str(here / "stdio_server.py"), kind], env=env, cwd=here))


@pytest.mark.parametrize("mode", [*MODERN, "legacy"])
async def test_over_stdio(kind: str, library: str, mode: str, files: Any, weather: Any) -> None:
    """A client launching the server: input-required on 2026-07-28, -32042 on legacy."""

    async def consent(url: str) -> str:
        await asyncio.to_thread(files.env.complete_consent, url, user_id="zoe")
        return "accept"

    target = stdio_target(kind, files, weather, "zoe")
    async with open_client(library, target, mode, consent) as client:
        forecast = await client.call("forecast", {"city": "Rome"})
        if mode == "legacy":
            with pytest.raises(MCPError) as caught:
                await client.raw("my_files")
            (asked,) = caught.value.error.data["elicitations"]
            await consent(asked["url"])
        else:
            assert isinstance(await client.raw("my_files"), InputRequiredResult)
        result = await client.call("my_files")
        version = client.protocol_version
    assert not forecast.is_error and not leaks(dump(forecast), weather.key)
    assert files_text(result)["sub"] == "zoe"
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
