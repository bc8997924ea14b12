"""A LlamaIndex agent whose tools use AgentCore Identity credentials (agentcore-auth).

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
``secure_tool`` runs each call as the user named in the workflow ``Context`` store,
turns a needed consent into an ``InputRequiredEvent`` carrying the link (read with
``consent_request``; answered with ``consent_response``, then the call runs again as the
same user), and scrubs every credential from results before span handlers and the model.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL (a LlamaIndex
function-calling LLM emitting fixed tool calls); the "browser" consent is simulated::

    python examples/llamaindex_agent.py

Against real AgentCore with a real model (``--real``): the model is OpenAI's
``$LLAMAINDEX_MODEL`` (needs ``llama-index-llms-openai`` and ``OPENAI_API_KEY``) and
credentials come from ``AgentCoreIdentitySource()``; set ``AGENTCORE_AUTH_WORKLOAD_NAME``,
``WEATHER_PROVIDER``, ``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``,
``FILES_SCOPES``, ``RETURN_URL``::

    python examples/llamaindex_agent.py --real --user alice "Weather in Paris, and my files?"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from agentcore_auth_llamaindex import (
    acomplete_consent,
    consent_request,
    consent_response,
    secure_tool,
)
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.workflow import Context, InputRequiredEvent

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    identity_handle,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth.integration import ConsentSessions


def build_tools(resolver: CredentialResolver, sessions: ConsentSessions, *, weather: str,
                weather_url: str, files: str, files_url: str, scopes: list[str],
                return_url: str) -> list[Any]:
    """The two tools, secured; the credential parameters are hidden from the model."""

    @requires_api_key(provider_name=weather, resolver=resolver)
    async def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Today's forecast for a city."""
        # echo=1 (emulator only) makes the API send the key back: the model still never sees it.
        async with httpx.AsyncClient() as http:
            response = await http.get(weather_url, params={"city": city, "echo": 1},
                                      headers={"x-api-key": api_key})
        response.raise_for_status()  # a 401 makes the decorator refetch the key once
        return dict(response.json(), city=city)

    @requires_access_token(provider_name=files, scopes=scopes, auth_flow="USER_FEDERATION",
                           callback_url=return_url, resolver=resolver)
    async def my_files(*, access_token: str) -> dict[str, Any]:
        """The signed-in user's files."""
        async with httpx.AsyncClient() as http:
            response = await http.get(files_url, params={"echo": 1},
                                      headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    return [secure_tool(tool, sessions=sessions) for tool in (forecast, my_files)]


async def converse(agent: FunctionAgent, sessions: ConsentSessions, prompt: str, user: str,
                   consent: Callable[[str], str]) -> Any:
    """Ask; when a tool call waits for consent: show the link, complete, answer the event."""
    ctx = Context(agent)
    # A handle (user_token=<verified JWT> when you have one), never a raw token: the store
    # is serialized with the context.
    await ctx.store.set("identity", identity_handle(user_id=user))
    handler = agent.run(prompt, ctx=ctx)
    async for event in handler.stream_events():
        request = consent_request(event)
        if request is not None and isinstance(event, InputRequiredEvent):
            print(f"[app] {user} must authorize {request.provider_name}:\n      "
                  f"{request.authorization_url}")
            landed = await asyncio.to_thread(consent, request.authorization_url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)
            # only as the user who started it
            await acomplete_consent(query["session_id"][0], user_id=user, sessions=sessions)
            print(f"[app] consent completed for {user}; answering the event")
            handler.ctx.send_event(consent_response(event))
        elif isinstance(event, ToolCallResult):
            print(f"[tool] {event.tool_name}: {event.tool_output.content}")
    return await handler


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_llamaindex.testing import ScriptedLLM, call

    from agentcore_auth.testing import LocalAgentCore
    from agentcore_auth.testing.scenarios import example_setup

    return_url = "https://app.example.com/oauth/return"
    with LocalAgentCore() as env:
        # Providers "weather" (API key, EXTERNAL secret) and "files" (USER_FEDERATION on
        # the emulator's IdP), a workload and a resolver: the examples' shared set-up.
        offline = example_setup(env, return_url)
        key, arn, client_secret = offline.key, offline.arn, offline.client_secret
        resolver = offline.resolver
        sessions = ConsentSessions(resolver)
        tools = build_tools(resolver, sessions, weather="weather",
                            weather_url=env.protected_api(arn, "key"), files="files",
                            files_url=env.protected_oauth_api(), scopes=["files"],
                            return_url=return_url)

        # ---- SCRIPTED MODEL: not a real LLM. It calls both tools at once, then ends. ----
        llm = ScriptedLLM([call("forecast", {"city": "Paris"}), call("my_files")],
                          "Here you go.")
        # ---------------------------------------------------------------------------------

        def browser(url: str) -> str:  # the user consenting, simulated
            with httpx.Client() as http:
                while not url.startswith(return_url):
                    url = urllib.parse.urljoin(url, http.get(url).headers["location"])
            return url

        agent = FunctionAgent(tools=tools, llm=llm)
        result = asyncio.run(converse(agent, sessions, "Weather in Paris, and my files?", "alice",
                                      browser))
        print(f"[model] {result}")
        seen = llm.seen()
        token_seen = any(value in seen for value in (key, client_secret))
        print("[check] credentials in what the model was sent:", "YES" if token_seen else "none")
        return 1 if token_seen else 0


def run_real(prompt: str, user: str) -> int:
    """Real AgentCore Identity (boto3's configuration) and a real model."""
    from llama_index.llms.openai import OpenAI  # type: ignore[import-not-found]

    resolver = CredentialResolver(AgentCoreIdentitySource())
    sessions = ConsentSessions(resolver)
    tools = build_tools(resolver, sessions, weather=os.environ["WEATHER_PROVIDER"],
                        weather_url=os.environ["WEATHER_API_URL"],
                        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
                        scopes=os.environ.get("FILES_SCOPES", "").split(),
                        return_url=os.environ["RETURN_URL"])
    agent = FunctionAgent(tools=tools, llm=OpenAI(model=os.environ["LLAMAINDEX_MODEL"]))

    def browser(url: str) -> str:
        return input("[app] open the link, consent, then paste the address you landed on: ")

    print(asyncio.run(converse(agent, sessions, prompt, user, browser)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true", help="real AgentCore and a real model")
    parser.add_argument("--user", default="alice", help="the signed-in user (--real)")
    parser.add_argument("prompt", nargs="?", default="Weather in Paris, and my files?")
    args = parser.parse_args(argv)
    return run_real(args.prompt, args.user) if args.real else run_offline()


if __name__ == "__main__":
    sys.exit(main())
