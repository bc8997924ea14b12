"""A Google ADK agent whose tools use AgentCore Identity credentials (agentcore-auth).

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
``AgentCoreAuthPlugin`` runs each tool call as the ADK user (``user_id`` of the run),
turns a needed consent into ADK's own ``adk_request_credential`` event (read with
``consent_requests``; answered with ``consent_response``, then ADK re-runs the tool),
and scrubs every credential from tool results and from what the model is sent.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL (an ADK
``BaseLlm`` emitting fixed tool calls); the "browser" consent is simulated::

    python examples/adk_agent.py

Against real AgentCore with a real model (``--real``): the model is ``$ADK_MODEL``
(e.g. ``gemini-2.5-flash``, with ``GOOGLE_API_KEY``) and credentials come from
``AgentCoreIdentitySource()``; set ``AGENTCORE_AUTH_WORKLOAD_NAME``, ``WEATHER_PROVIDER``,
``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``, ``FILES_SCOPES``, ``RETURN_URL``::

    python examples/adk_agent.py --real --user alice "Weather in Paris, and my files?"
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
from agentcore_auth_adk import AgentCoreAuthPlugin, consent_requests, consent_response
from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.events.event import Event
from google.adk.runners import InMemoryRunner
from google.genai import types

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    requires_access_token,
    requires_api_key,
)


def build_tools(resolver: CredentialResolver, *, weather: str, weather_url: str, files: str,
                files_url: str, scopes: list[str], return_url: str) -> list[Any]:
    """The two tools; the credential parameters are hidden from the model's declarations."""

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

    return [forecast, my_files]


async def converse(runner: InMemoryRunner, plugin: AgentCoreAuthPlugin, prompt: str, user: str,
                   consent: Callable[[str], str]) -> list[Event]:
    """Ask; while tool calls wait for consent: show the link, complete, answer ADK."""
    session = await runner.session_service.create_session(app_name=runner.app_name,
                                                          user_id=user)
    message = types.Content(role="user", parts=[types.Part(text=prompt)])
    seen: list[Event] = []
    while True:
        events = [e async for e in runner.run_async(user_id=user, session_id=session.id,
                                                    new_message=message)]
        seen.extend(events)
        requests = consent_requests(events)
        if not requests:
            return seen
        for request in requests:
            print(f"[app] {user} must authorize:\n      {request.authorization_url}")
            landed = await asyncio.to_thread(consent, request.authorization_url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)
            # only as the user who started it
            await plugin.acomplete_consent(query["session_id"][0], user_id=user)
            print(f"[app] consent completed for {user}; answering ADK's credential request")
        message = consent_response(*requests)


def show(events: list[Event]) -> None:
    """Print the tool results and the model's answer."""
    for event in events:
        for response in event.get_function_responses():
            print(f"[tool] {response.name}: {response.response}")
        text = "".join(p.text or "" for p in (event.content.parts or [])) if event.content else ""
        if event.is_final_response() and text:
            print(f"[model] {text}")


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_adk.testing import ScriptedLlm, call

    from agentcore_auth.testing import LocalAgentCore
    from agentcore_auth.testing.scenarios import example_setup

    return_url = "https://app.example.com/oauth/return"
    with LocalAgentCore() as env:
        # Providers "weather" (API key, EXTERNAL secret) and "files" (USER_FEDERATION on
        # the emulator's IdP), a workload and a resolver: the examples' shared set-up.
        offline = example_setup(env, return_url)
        key, arn, client_secret = offline.key, offline.arn, offline.client_secret
        resolver = offline.resolver
        tools = build_tools(resolver, weather="weather", weather_url=env.protected_api(arn, "key"),
                            files="files", files_url=env.protected_oauth_api(), scopes=["files"],
                            return_url=return_url)

        # ---- SCRIPTED MODEL: not a real LLM. It calls both tools at once, then ends. ----
        model = ScriptedLlm([call("forecast", {"city": "Paris"}), call("my_files")],
                            "Here you go.")
        # ---------------------------------------------------------------------------------

        plugin = AgentCoreAuthPlugin(resolver)
        app = App(name="example", root_agent=LlmAgent(name="assistant", model=model,
                                                      tools=tools), plugins=[plugin])
        runner = InMemoryRunner(app=app)

        def browser(url: str) -> str:  # the user consenting, simulated
            with httpx.Client() as http:
                while not url.startswith(return_url):
                    url = urllib.parse.urljoin(url, http.get(url).headers["location"])
            return url

        events = asyncio.run(converse(runner, plugin, "Weather in Paris, and my files?",
                                      "alice", browser))
        show(events)
        seen = model.seen()
        token_seen = any(value in seen for value in (key, client_secret))
        print("[check] credentials in what the model was sent:", "YES" if token_seen else "none")
        return 1 if token_seen else 0


def run_real(prompt: str, user: str) -> int:
    """Real AgentCore Identity (boto3's configuration) and a real model."""
    resolver = CredentialResolver(AgentCoreIdentitySource())
    tools = build_tools(resolver, weather=os.environ["WEATHER_PROVIDER"],
                        weather_url=os.environ["WEATHER_API_URL"],
                        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
                        scopes=os.environ.get("FILES_SCOPES", "").split(),
                        return_url=os.environ["RETURN_URL"])
    plugin = AgentCoreAuthPlugin(resolver)
    agent = LlmAgent(name="assistant", model=os.environ["ADK_MODEL"], tools=tools)
    runner = InMemoryRunner(app=App(name="example", root_agent=agent, plugins=[plugin]))

    def browser(url: str) -> str:
        return input("[app] open the link, consent, then paste the address you landed on: ")

    show(asyncio.run(converse(runner, plugin, prompt, user, browser)))
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
