"""An MCP server whose tools use AgentCore Identity credentials, via agentcore-auth-mcp.

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the calling user's own
OAuth2 token (USER_FEDERATION). The caller is the server's verified bearer JWT (or, on
AgentCore Runtime, the ``X-Amz-Bedrock-AgentCore-Identity-WAT`` header); a needed
consent reaches the client as the MCP URL elicitation error (-32042); the OAuth2 return
URL ``/oauth/return`` completes it for the signed-in user only; results are scrubbed.
``--library fastmcp`` serves the same tools with FastMCP instead of the mcp SDK.

Offline (default): the local emulator plays AgentCore Identity, its OAuth2 server the
IdP; the script serves on loopback, then acts as a client for alice (the "browser"
consent is simulated) and exits::

    python examples/mcp_server.py [--library fastmcp]

Over stdio, offline, for an MCP client that launches it (the user is ``--user``)::

    python examples/mcp_server.py --transport stdio --user alice

Real AgentCore (``--real``): serves streamable HTTP on 0.0.0.0:8000 at ``/mcp``
(what AgentCore Runtime expects); set ``AGENTCORE_AUTH_WORKLOAD_NAME``,
``WEATHER_PROVIDER``, ``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``,
``FILES_SCOPES`` and ``RETURN_URL`` (see ``adapters/mcp/README.md``)::

    python examples/mcp_server.py --real
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import urllib.parse
from typing import Any

import httpx

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    requires_access_token,
    requires_api_key,
)


def build(library: str, resolver: CredentialResolver, *, weather: str, weather_url: str,
          files: str, files_url: str, scopes: list[str], return_url: str,
          verifier: Any = None, identity: Any = None) -> tuple[Any, Any]:
    """The server (MCPServer or FastMCP) with both tools and the return URL; and its hook."""

    @requires_api_key(provider_name=weather, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Today's forecast for a city."""
        # echo=1 (emulator only): the API sends the key back; the client gets it redacted.
        response = httpx.get(weather_url, params={"city": city, "echo": 1},
                             headers={"x-api-key": api_key})
        response.raise_for_status()  # a 401 makes the decorator refetch the key once
        return dict(response.json(), city=city)

    @requires_access_token(provider_name=files, scopes=scopes, auth_flow="USER_FEDERATION",
                           callback_url=return_url, resolver=resolver)
    def my_files(*, access_token: str) -> dict[str, Any]:
        """The signed-in user's files."""
        response = httpx.get(files_url, params={"echo": 1},
                             headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    if library == "fastmcp":
        from agentcore_auth_mcp import AgentCoreAuthMiddleware
        from fastmcp import FastMCP

        hook: Any = AgentCoreAuthMiddleware(resolver, identity=identity)
        server: Any = FastMCP("files", auth=verifier and verifier.fastmcp(), middleware=[hook])
    else:
        from agentcore_auth_mcp import AgentCoreAuthExtension
        from mcp.server.mcpserver import MCPServer

        hook = AgentCoreAuthExtension(resolver, identity=identity)
        server = MCPServer("files", extensions=[hook], **(verifier.sdk() if verifier else {}))
    server.tool()(forecast)
    server.tool()(my_files)
    signed_in = verifier.signed_in if verifier else (lambda request: {})
    server.custom_route("/oauth/return", ["GET"])(hook.return_url_handler(signed_in))
    return server, hook


class EmulatorJWTs:
    """Bearer JWTs of the emulator's OAuth2 server, verified against it (both libraries)."""

    def __init__(self, env: Any) -> None:
        self.env = env

    def check(self, token: str) -> dict[str, Any] | None:
        try:
            return self.env.validate_oauth_token(token)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - any refusal means "not signed in"
            return None

    def signed_in(self, request: Any) -> dict[str, Any]:
        """The return URL's user: here the browser's bearer JWT stands for the app's cookie."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return {"user_token": token} if self.check(token) else {}

    def sdk(self) -> dict[str, Any]:
        from mcp.server.auth.provider import AccessToken
        from mcp.server.auth.settings import AuthSettings

        outer = self

        class Verifier:
            async def verify_token(self, token: str) -> AccessToken | None:
                claims = await asyncio.to_thread(outer.check, token)
                return claims and AccessToken(token=token, client_id="example", scopes=[],
                                              subject=claims.get("sub"))

        return {"token_verifier": Verifier(), "auth": AuthSettings(
            issuer_url=self.env.oauth_issuer, resource_server_url="http://127.0.0.1/mcp",
            validate_token_resource=False)}

    def fastmcp(self) -> Any:
        from fastmcp.server.auth import AccessToken, TokenVerifier

        outer = self

        class Verifier(TokenVerifier):
            async def verify_token(self, token: str) -> AccessToken | None:
                claims = await asyncio.to_thread(outer.check, token)
                return claims and AccessToken(token=token, client_id="example", scopes=[],
                                              subject=claims.get("sub"))

        return Verifier()


def emulated(env: Any, return_url: str) -> dict[str, Any]:
    """Both providers on the emulator; the keyword arguments of :func:`build`."""
    from agentcore_auth.testing.scenarios import example_setup

    # Providers "weather" (API key, EXTERNAL secret) and "files" (USER_FEDERATION on
    # the emulator's IdP), a workload and a resolver: the examples' shared set-up.
    offline = example_setup(env, return_url)
    key, arn, resolver = offline.key, offline.arn, offline.resolver
    return {"resolver": resolver, "weather": "weather", "weather_url": env.protected_api(
        arn, "key"), "files": "files", "files_url": env.protected_oauth_api(),
        "scopes": ["files"], "return_url": return_url, "key": key}


async def client_demo(base: str, jwt: str, return_url: str) -> tuple[bool, str]:
    """As alice: forecast; my_files (-32042, consent, return URL); my_files again."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {jwt}"}) as http, \
            streamable_http_client(f"{base}/mcp", http_client=http) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        forecast = await session.call_tool("forecast", {"city": "Paris"})
        print("[forecast]", forecast.content[0].text)
        try:
            await session.call_tool("my_files", {})
            return False, ""
        except MCPError as exc:
            (asked,) = exc.error.data["elicitations"]
            print(f"[client] error {exc.error.code}: {asked['message']}")
        url = asked["url"]
        async with httpx.AsyncClient() as browser:  # the user consenting, simulated
            while not url.startswith(return_url):
                url = urllib.parse.urljoin(url, (await browser.get(url)).headers["location"])
            landed = await browser.get(base + "/oauth/return?" + urllib.parse.urlsplit(url).query,
                                       headers={"Authorization": f"Bearer {jwt}"})
        print(f"[browser] return URL answered {landed.status_code}")
        result = await session.call_tool("my_files", {})
        print("[my_files]", result.content[0].text)
        return not result.is_error, forecast.model_dump_json() + result.model_dump_json()


def run_offline(library: str) -> int:
    import uvicorn

    from agentcore_auth.testing import LocalAgentCore

    return_url = "https://app.example.com/oauth/return"
    with LocalAgentCore() as env:
        options = emulated(env, return_url)
        key = options.pop("key")
        server, _ = build(library, verifier=EmulatorJWTs(env), **options)
        app = server.http_app() if library == "fastmcp" else server.streamable_http_app()
        http = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=http.run, daemon=True)
        thread.start()
        while not http.started:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{http.servers[0].sockets[0].getsockname()[1]}"
        try:
            ok, seen = asyncio.run(client_demo(base, env.issue_user_token("alice"), return_url))
        finally:
            http.should_exit = True
            thread.join(10)
    leaked = key in seen
    print("[check] the API key in what the client got:", "YES" if leaked else "none")
    return 0 if ok and not leaked else 1


def run_stdio(library: str, user: str) -> int:
    from agentcore_auth.testing import LocalAgentCore

    with LocalAgentCore() as env:  # stdio: no bearer token; the user is a mapping of ours
        options = emulated(env, "https://app.example.com/oauth/return")
        options.pop("key")
        server, _ = build(library, identity=lambda caller: {"user_id": user}, **options)
        server.run("stdio")
    return 0


def run_real(library: str) -> int:
    server, _ = build(
        library, CredentialResolver(AgentCoreIdentitySource()),
        weather=os.environ["WEATHER_PROVIDER"], weather_url=os.environ["WEATHER_API_URL"],
        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
        scopes=os.environ.get("FILES_SCOPES", "").split(), return_url=os.environ["RETURN_URL"])
    import uvicorn

    app = (server.http_app(stateless_http=True) if library == "fastmcp"
           else server.streamable_http_app(stateless_http=True, host="0.0.0.0"))  # noqa: S104
    uvicorn.run(app, host="0.0.0.0", port=8000)  # noqa: S104 - the Runtime's contract
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--library", choices=("sdk", "fastmcp"), default="sdk")
    parser.add_argument("--transport", choices=("http", "stdio"), default="http")
    parser.add_argument("--user", default="alice", help="the user over stdio")
    parser.add_argument("--real", action="store_true", help="real AgentCore, port 8000")
    args = parser.parse_args(argv)
    if args.real:
        return run_real(args.library)
    if args.transport == "stdio":
        return run_stdio(args.library, args.user)
    return run_offline(args.library)


if __name__ == "__main__":
    sys.exit(main())
