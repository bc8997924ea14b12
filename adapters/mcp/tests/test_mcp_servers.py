"""Both server libraries, over streamable HTTP on loopback, against the emulator."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from conftest import leaks
from mcp.shared.exceptions import MCPError
from servers import KINDS, connect, fastmcp_server, sdk_server, serve

pytestmark = pytest.mark.timeout(120)

BUILD = {"sdk": sdk_server, "fastmcp": fastmcp_server}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


async def elicitation(session: Any) -> dict[str, Any]:
    """Call my_files expecting -32042; return its one URL elicitation."""
    with pytest.raises(MCPError) as caught:
        await session.call_tool("my_files", {})
    assert caught.value.error.code == -32042, caught.value.error
    (found,) = caught.value.error.data["elicitations"]
    assert found["mode"] == "url" and found["elicitationId"]
    return found  # type: ignore[no-any-return]


async def back(base: str, session_id: str, jwt: str) -> httpx.Response:
    """The browser landing on the server's return URL, signed in as ``jwt``'s user."""
    async with httpx.AsyncClient() as browser:
        return await browser.get(f"{base}/oauth/return", params={"session_id": session_id},
                                 headers={"Authorization": f"Bearer {jwt}"})


async def test_two_users_consent_by_url_elicitation_and_get_their_own_tokens(
        kind: str, files: Any, weather: Any, server_logs: Any) -> None:
    """-32042 with a working URL; consent at the IdP; return URL as that user; retry works."""
    calls: list[str] = []
    _, app = BUILD[kind](files, weather, calls)
    jwts = {user: files.env.issue_user_token(user) for user in ("ann", "ben")}
    with serve(app) as base:
        async def user(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
            async with connect(base, jwts[name]) as session:
                asked = await elicitation(session)
                session_id = await asyncio.to_thread(files.browse, asked["url"])
                other = "ben" if name == "ann" else "ann"
                refused = await back(base, session_id, jwts[other])
                assert refused.status_code == 403, refused.text
                done = await back(base, session_id, jwts[name])
                assert done.status_code == 200, done.text
                result = await session.call_tool("my_files", {})
                assert not result.is_error, result
                return asked, result.model_dump()

        results = await asyncio.gather(user("ann"), user("ben"))
    for name, (_, result) in zip(("ann", "ben"), results, strict=True):
        body = json.loads(result["content"][0]["text"])
        assert body["sub"] == name and body["credential"].startswith("[REDACTED")
        structured = result["structured_content"]
        assert structured.get("result", structured)["sub"] == name, structured
        assert "[REDACTED" in json.dumps(structured)
    assert calls == ["my_files", "my_files"]
    assert results[0][0]["elicitationId"] != results[1][0]["elicitationId"]
    tokens = [files.resolver.get_oauth2_token(
        files.provider, scopes=["files"], auth_flow="USER_FEDERATION", user_token=jwt).reveal()
        for jwt in jwts.values()]
    assert not leaks(server_logs.text, *jwts.values(), *tokens)
    for asked, _ in results:
        assert asked["url"] not in server_logs.text


async def test_tool_schemas_have_no_credential_parameter(kind: str, files: Any,
                                                         weather: Any) -> None:
    _, app = BUILD[kind](files, weather, [])
    with serve(app) as base:
        async with connect(base, files.env.issue_user_token("cat")) as session:
            listed = {t.name: t for t in (await session.list_tools()).tools}
    assert set(listed["forecast"].input_schema["properties"]) == {"city"}
    assert listed["my_files"].input_schema.get("properties", {}) == {}
    text = json.dumps([t.model_dump() for t in listed.values()])
    assert "api_key" not in text and "access_token" not in text


async def test_no_identity_gets_a_clear_tool_error_not_a_token(kind: str, files: Any,
                                                               weather: Any) -> None:
    """A server without auth: the user-bound tool is refused, naming what is missing."""
    calls: list[str] = []
    files.consent("someone")  # a token in the vault that nobody else may get
    _, app = BUILD[kind](files, weather, calls, authenticated=False)
    with serve(app) as base:
        async with connect(base, None) as session:
            result = await session.call_tool("my_files", {})
            assert (await session.call_tool("ping", {})).content[0].text == "pong"
    assert result.is_error
    text = " ".join(c.text for c in result.content)
    assert "no caller identity" in text and "bearer token" in text
    assert calls == []


async def test_api_key_results_are_scrubbed_and_rotation_is_refetched(
        kind: str, files: Any, weather: Any, server_logs: Any) -> None:
    """The API echoes the key: the client sees it redacted; after a rotation one refetch."""
    calls: list[str] = []
    old = weather.key
    _, app = BUILD[kind](files, weather, calls)
    with serve(app) as base:
        async with connect(base, files.env.issue_user_token("dan")) as session:
            first = await session.call_tool("forecast", {"city": "Paris"})
            logging.disable(logging.CRITICAL)  # the test's own PutSecretValue is not ours
            try:
                new = weather.rotate()
            finally:
                logging.disable(logging.NOTSET)
            second = await session.call_tool("forecast", {"city": "Oslo"})
    for result in (first, second):
        assert not result.is_error, result
        wire = result.model_dump_json()
        assert '"ok": true' in result.content[0].text or '"ok":true' in result.content[0].text
        assert not leaks(wire, old, new)
    assert calls == ["forecast", "forecast", "forecast"]  # 401 with the old key, then the new
    assert not leaks(server_logs.text, old, new)


async def test_a_backing_off_credential_is_not_rerun_and_the_error_is_scrubbed(
        kind: str, files: Any, weather: Any, server_logs: Any) -> None:
    """The decorator refetches the same key, so the credential backs off: no rerun.

    A refusal with ``retry_after`` set means the source keeps returning the refused
    value; rerunning would only fail the same way (issue #16: no 401 amplification).
    """
    calls: list[str] = []
    _, app = BUILD[kind](files, weather, calls)
    with serve(app) as base:
        async with connect(base, files.env.issue_user_token("eve")) as session:
            result = await session.call_tool("refused", {})
    assert result.is_error
    assert calls == ["refused"]
    assert not leaks(result.model_dump_json(), weather.key)
    assert not leaks(server_logs.text, weather.key)
    text = result.content[0].text  # the library's own message (the SDK's would be generic)
    assert "refused the credential of provider" in text and weather.provider in text


@pytest.mark.parametrize("header", ["X-Amz-Bedrock-AgentCore-Identity-WAT", "WorkloadAccessToken"])
async def test_runtime_workload_access_token_header(kind: str, header: str, files: Any,
                                                    weather: Any) -> None:
    """On AgentCore Runtime the caller is the workload access token the Runtime passes."""
    files.consent("rita")
    wat = files.env.workload_token(files.workload, user_id="rita")
    _, app = BUILD[kind](files, weather, [], authenticated=False)
    with serve(app) as base:
        async with connect(base, None, {header: wat}) as session:
            result = await session.call_tool("my_files", {})
    assert not result.is_error, result
    assert json.loads(result.content[0].text)["sub"] == "rita"
    assert not leaks(result.model_dump_json(), wat)


async def test_a_user_supplied_identity_mapping(kind: str, files: Any, weather: Any) -> None:
    """identity= maps anything on the request (here a gateway's header) to the caller."""
    files.consent("sam")
    seen: list[Any] = []

    def identity(caller: Any) -> dict[str, Any]:
        seen.append(caller)
        return {"user_id": caller.headers.get("x-gateway-user")}

    _, app = BUILD[kind](files, weather, [], authenticated=False, identity=identity)
    with serve(app) as base:
        async with connect(base, None, {"X-Gateway-User": "sam"}) as session:
            result = await session.call_tool("my_files", {})
    assert json.loads(result.content[0].text)["sub"] == "sam"
    assert seen and seen[0].request is not None and seen[0].access_token is None


def test_options_are_checked(files: Any) -> None:
    from agentcore_auth_mcp import AgentCoreAuthExtension, AgentCoreAuthMiddleware

    from agentcore_auth import ConfigurationError

    for bad in (-1, True, "1"):
        for hook in (AgentCoreAuthMiddleware, AgentCoreAuthExtension):
            with pytest.raises(ConfigurationError, match="retry_rejected"):
                hook(files.resolver, retry_rejected=bad)
    with pytest.raises(ConfigurationError, match="identity="):
        AgentCoreAuthExtension(files.resolver, identity="user_id")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="identify"):
        AgentCoreAuthExtension(files.resolver).return_url_handler(None)  # type: ignore[arg-type]
