"""Both server libraries, over streamable HTTP on loopback, against the emulator."""

from __future__ import annotations

import asyncio
import json
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
                async with httpx.AsyncClient() as browser:
                    other = "ben" if name == "ann" else "ann"
                    refused = await browser.get(f"{base}/oauth/return", params={
                        "session_id": session_id}, headers={"Authorization": f"Bearer {jwts[other]}"})
                    assert refused.status_code == 403, refused.text
                    done = await browser.get(f"{base}/oauth/return", params={
                        "session_id": session_id}, headers={"Authorization": f"Bearer {jwts[name]}"})
                    assert done.status_code == 200, done.text
                result = await session.call_tool("my_files", {})
                assert not result.is_error, result
                return asked, result.model_dump()

        results = await asyncio.gather(user("ann"), user("ben"))
    for name, (asked, result) in zip(("ann", "ben"), results, strict=True):
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
