"""A CrewAI crew whose tools use AgentCore Identity credentials (agentcore-auth).

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
``register_hooks()`` runs each tool call as the user named in ``kickoff(inputs=...)``;
``secure_tool`` scrubs results where they leave the tool, keeps CrewAI's result cache
off for them, and turns a needed consent into a tool result with the link for the model
to pass on (CrewAI cannot pause a tool), reused while it is pending.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL (a CrewAI
``BaseLLM`` emitting fixed ReAct turns); the "browser" consent is simulated::

    python examples/crewai_agent.py

Against real AgentCore with a real model (``--real``): the model is ``$CREWAI_MODEL``
(e.g. ``gpt-5``, with ``OPENAI_API_KEY``) and credentials come from
``AgentCoreIdentitySource()``; set ``AGENTCORE_AUTH_WORKLOAD_NAME``, ``WEATHER_PROVIDER``,
``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``, ``FILES_SCOPES``, ``RETURN_URL``::

    python examples/crewai_agent.py --real --user alice "Weather in Paris, and my files?"
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from typing import Any

import httpx
from agentcore_auth_crewai import (
    complete_consent,
    pending_consents,
    register_hooks,
    secure_tool,
)
from crewai import Agent, Crew, Task
from crewai.events import ToolUsageFinishedEvent, crewai_event_bus
from crewai.tools import BaseTool, tool

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
                return_url: str) -> list[BaseTool]:
    """The two tools, secured; the credential parameters are hidden from the model."""

    @tool("forecast")
    @requires_api_key(provider_name=weather, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Today's forecast for a city."""
        # echo=1 (emulator only) makes the API send the key back: the model still never sees it.
        response = httpx.get(weather_url, params={"city": city, "echo": 1},
                             headers={"x-api-key": api_key})
        response.raise_for_status()  # a 401 makes the decorator refetch the key once
        return dict(response.json(), city=city)

    @tool("my_files")
    @requires_access_token(provider_name=files, scopes=scopes, auth_flow="USER_FEDERATION",
                           callback_url=return_url, resolver=resolver)
    def my_files(folder: str, *, access_token: str) -> dict[str, Any]:
        """The signed-in user's files in a folder."""
        response = httpx.get(files_url, params={"echo": 1, "folder": folder},
                             headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return dict(response.json(), folder=folder)

    return [secure_tool(t, sessions=sessions) for t in (forecast, my_files)]


def make_crew(llm: Any, tools: list[BaseTool], prompt: str) -> Crew:
    """One assistant, one task."""
    agent = Agent(role="assistant", goal="help the signed-in user",
                  backstory="You use tools on the user's behalf.", llm=llm, tools=tools)
    task = Task(description=prompt, expected_output="an answer for the user", agent=agent)
    return Crew(agents=[agent], tasks=[task])


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_crewai.testing import ScriptedLLM, action, final

    from agentcore_auth.testing import LocalAgentCore
    from agentcore_auth.testing.scenarios import example_setup

    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
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
        unregister = register_hooks()

        @crewai_event_bus.on(ToolUsageFinishedEvent)
        def show(source: Any, event: ToolUsageFinishedEvent) -> None:
            print(f"[tool] {event.tool_name}: {event.output}")

        # ---- SCRIPTED MODEL: not a real LLM. Fixed ReAct turns, one run per ask. ----
        first = ScriptedLLM(action("forecast", {"city": "Paris"}),
                            action("my_files", {"folder": "docs"}),
                            final("Weather fetched; please open the link to share your files."))
        again = ScriptedLLM(action("my_files", {"folder": "docs"}), final("Here are your files."))
        # -------------------------------------------------------------------------------

        prompt = "Weather in Paris, and my files?"
        alice = identity_handle(user_id="alice")  # or user_token=jwt: never the token itself
        answer = make_crew(first, tools, prompt).kickoff(inputs={"identity": alice})
        print(f"[model] {answer}")
        (request,) = pending_consents(alice)  # the app shows it to alice itself
        print(f"[app] alice must authorize {request.provider_name}:\n      "
              f"{request.authorization_url}")
        url = request.authorization_url
        with httpx.Client() as http:  # the user consenting in a browser, simulated
            while not url.startswith(return_url):
                url = urllib.parse.urljoin(url, http.get(url).headers["location"])
        session = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["session_id"][0]
        complete_consent(session, user_id="alice", sessions=sessions)  # only as alice
        print("[app] consent completed for alice; asking again")
        answer = make_crew(again, tools, prompt).kickoff(inputs={"identity": alice})
        print(f"[model] {answer}")
        crewai_event_bus.flush()
        unregister()
        seen = first.seen() + again.seen()
        token_seen = any(value in seen for value in (key, client_secret))
        print("[check] credentials in what the model was sent:", "YES" if token_seen else "none")
        return 1 if token_seen else 0


def run_real(prompt: str, user: str) -> int:
    """Real AgentCore Identity (boto3's configuration) and a real model."""
    resolver = CredentialResolver(AgentCoreIdentitySource())
    sessions = ConsentSessions(resolver)
    tools = build_tools(resolver, sessions, weather=os.environ["WEATHER_PROVIDER"],
                        weather_url=os.environ["WEATHER_API_URL"],
                        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
                        scopes=os.environ.get("FILES_SCOPES", "").split(),
                        return_url=os.environ["RETURN_URL"])
    register_hooks()
    print(make_crew(os.environ["CREWAI_MODEL"], tools, prompt).kickoff(
        inputs={"identity": identity_handle(user_id=user)}))
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
