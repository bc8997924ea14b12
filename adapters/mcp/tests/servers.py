"""Real MCP servers for the tests: the mcp SDK's MCPServer and FastMCP, on loopback.

Each serves three tools: ``my_files`` (USER_FEDERATION: the caller's own OAuth2 token,
echoed back by the emulator's protected API), ``forecast`` (an API key, echoed back
too) and ``ping`` (no credentials), plus the OAuth2 return URL at ``/oauth/return``.
Bearer tokens are JWTs of the emulator's OAuth2 server, verified against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import uvicorn
from agentcore_auth_mcp import AgentCoreAuthExtension, AgentCoreAuthMiddleware
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from starlette.requests import Request

from agentcore_auth import requires_access_token, requires_api_key

KINDS = ("sdk", "fastmcp")
LOGGERS = ("", "mcp", "fastmcp", "uvicorn", "agentcore_auth", "agentcore_auth_mcp")


def tools(files: Any, weather: Any, calls: list[str]) -> list[Any]:
    """The three tools, decorated (the servers' own decorators are applied by the caller)."""

    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    async def my_files(*, access_token: str) -> dict[str, Any]:
        """The caller's files (the API echoes the token back)."""
        calls.append("my_files")
        async with httpx.AsyncClient() as http:
            response = await http.get(files.url, params={"echo": 1},
                                      headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    def forecast(city: str, *, api_key: str) -> str:
        """The weather in a city (the API echoes the key back)."""
        calls.append("forecast")
        response = httpx.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return f"{city}: sunny; {response.text}"

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      reject_exceptions=(PermissionError,))
    def refused(*, api_key: str) -> str:
        """An API that refuses every key (and quotes it in its error)."""
        calls.append("refused")
        raise PermissionError(f"the API refused key {api_key}")

    def ping() -> str:
        """No credentials."""
        return "pong"

    return [my_files, forecast, refused, ping]


def _verify(env: Any, token: str) -> dict[str, Any] | None:
    try:
        return env.validate_oauth_token(token)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any refusal means "not authenticated"
        return None


def signed_in_user(env: Any) -> Any:
    """The return URL's ``identify``: the browser's bearer JWT stands for the app's session."""

    def identify(request: Request) -> dict[str, Any]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return {"user_token": token} if _verify(env, token) else {}

    return identify


def sdk_server(files: Any, weather: Any, calls: list[str], *, authenticated: bool = True,
               **options: Any) -> tuple[Any, Any]:
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    env = files.env

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            claims = await asyncio.to_thread(_verify, env, token)
            return None if claims is None else AccessToken(
                token=token, client_id="tests", scopes=[], subject=claims.get("sub"))

    auth = AgentCoreAuthExtension(files.resolver, **options)
    settings = AuthSettings(issuer_url=env.oauth_issuer, resource_server_url="http://127.0.0.1/mcp",
                            validate_token_resource=False)
    server = MCPServer("files", token_verifier=Verifier() if authenticated else None,
                       extensions=[auth], auth=settings if authenticated else None)
    for fn in tools(files, weather, calls):
        server.tool()(fn)
    server.custom_route("/oauth/return", ["GET"])(auth.return_url_handler(signed_in_user(env)))
    return auth, server.streamable_http_app()


def fastmcp_server(files: Any, weather: Any, calls: list[str], *, authenticated: bool = True,
                   **options: Any) -> tuple[Any, Any]:
    from fastmcp import FastMCP
    from fastmcp.server.auth import AccessToken, TokenVerifier

    env = files.env

    class Verifier(TokenVerifier):
        async def verify_token(self, token: str) -> AccessToken | None:
            claims = await asyncio.to_thread(_verify, env, token)
            return None if claims is None else AccessToken(
                token=token, client_id="tests", scopes=[], subject=claims.get("sub"))

    auth = AgentCoreAuthMiddleware(files.resolver, **options)
    server = FastMCP("files", auth=Verifier() if authenticated else None, middleware=[auth])
    for fn in tools(files, weather, calls):
        server.tool()(fn)
    server.custom_route("/oauth/return", ["GET"])(auth.return_url_handler(signed_in_user(env)))
    return auth, server.http_app()


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.asynccontextmanager
async def connect(base: str, token: str | None,
                  headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session over streamable HTTP, with ``token`` as bearer."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            streamable_http_client(f"{base}/mcp", http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session
