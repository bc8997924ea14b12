"""A pydantic-ai agent whose tools use AgentCore Identity credentials, via agentcore-auth.

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
``AgentCoreAuthCapability`` runs each tool call as the user named in the run's
``deps``, defers a call whose user must consent (the run ends with
``DeferredToolRequests`` carrying the link) and scrubs every credential from tool
results, spans and what the model is sent, even when the API echoes it back.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL (pydantic-ai's
``FunctionModel`` emitting fixed tool calls); the "browser" consent is simulated::

    python examples/pydantic_ai_agent.py

Against real AgentCore with a real model (``--real``): the model is
``$PYDANTIC_AI_MODEL`` (e.g. ``bedrock:<model id>``) and credentials come from
``AgentCoreIdentitySource()``; set ``AGENTCORE_AUTH_WORKLOAD_NAME``, ``WEATHER_PROVIDER``,
``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``, ``FILES_SCOPES``, ``RETURN_URL``::

    python examples/pydantic_ai_agent.py --real --user alice "Weather in Paris, and my files?"
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from agentcore_auth_pydantic_ai import AgentCoreAuthCapability, consent_requests, consent_results
from pydantic_ai import Agent, DeferredToolRequests, Tool

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    requires_access_token,
    requires_api_key,
)


@dataclass
class Deps:
    """The app's per-run deps: who is asking (the capability reads ``user_id``)."""

    user_id: str


def build_tools(resolver: CredentialResolver, *, weather: str, weather_url: str, files: str,
                files_url: str, scopes: list[str], return_url: str) -> list[Tool[Any]]:
    """The two tools; the credential parameters are hidden from the model's tool schemas."""

    @requires_api_key(provider_name=weather, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Today's forecast for a city."""
        # echo=1 (emulator only) makes the API send the key back: the model still never sees it.
        response = httpx.get(weather_url, params={"city": city, "echo": 1},
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

    return [Tool(forecast), Tool(my_files)]


def converse(agent: Agent[Deps, Any], auth: AgentCoreAuthCapability, prompt: str, user: str,
             consent: Callable[[str], str]) -> Any:
    """Ask, and while calls wait for consent: show the link, complete, run on."""
    deps = Deps(user)
    result = agent.run_sync(prompt, deps=deps)
    while requests := consent_requests(result):
        for request in requests:
            print(f"[app] {user} must authorize {request.provider_name}:\n      "
                  f"{request.authorization_url}")
            landed = consent(request.authorization_url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)
            session = query.get("session_id", [request.session_uri or ""])[0]
            auth.complete_consent(session, user_id=user)  # only as the user who started it
            print(f"[app] consent completed for {user}; running on")
        result = agent.run_sync(message_history=result.all_messages(), deps=deps,
                                deferred_tool_results=consent_results(requests))
    return result


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_pydantic_ai.testing import Script, call
    from pydantic_ai.messages import ToolReturnPart

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
        script = Script([call("forecast", {"city": "Paris"}), call("my_files")], "Here you go.")
        # ---------------------------------------------------------------------------------

        auth = AgentCoreAuthCapability(resolver)
        agent = Agent(script.model, deps_type=Deps, tools=tools, capabilities=[auth],
                      output_type=[str, DeferredToolRequests])

        def browser(url: str) -> str:  # the user consenting, simulated
            with httpx.Client() as http:
                while not url.startswith(return_url):
                    url = urllib.parse.urljoin(url, http.get(url).headers["location"])
            return url

        result = converse(agent, auth, "Weather in Paris, and my files?", "alice", browser)
        for message in result.all_messages():
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    print(f"[tool {part.tool_name}] {part.model_response_str()}")
        print(f"[model] {result.output}")
        seen = script.seen()
        token_seen = any(value in seen for value in (key, client_secret))
        print("[check] credentials in what the model was sent:", "YES" if token_seen else "none")
        return 1 if token_seen or consent_requests(result) else 0


def run_real(prompt: str, user: str) -> int:
    """Real AgentCore Identity (boto3's configuration) and a real model."""
    resolver = CredentialResolver(AgentCoreIdentitySource())
    tools = build_tools(resolver, weather=os.environ["WEATHER_PROVIDER"],
                        weather_url=os.environ["WEATHER_API_URL"],
                        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
                        scopes=os.environ.get("FILES_SCOPES", "").split(),
                        return_url=os.environ["RETURN_URL"])
    auth = AgentCoreAuthCapability(resolver)
    agent = Agent(os.environ["PYDANTIC_AI_MODEL"], deps_type=Deps, tools=tools,
                  capabilities=[auth], output_type=[str, DeferredToolRequests])

    def browser(url: str) -> str:
        return input("[app] open the link, consent, then paste the address you landed on: ")

    print(converse(agent, auth, prompt, user, browser).output)
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
