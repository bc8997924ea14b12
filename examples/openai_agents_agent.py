"""An OpenAI Agents SDK agent whose tools use AgentCore Identity credentials (agentcore-auth).

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
``secure(agent)`` runs each tool call as the user named in the run's ``context=``,
asks approval for a call whose user must consent (``result.interruptions``; the link
is read with ``consent_requests``) and scrubs every credential from tool results and
function spans; ``scrub_model_input`` scrubs what the model is sent.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL (an
``agents.Model`` emitting fixed tool calls); tracing stays in the process; the
"browser" consent is simulated::

    python examples/openai_agents_agent.py

Against real AgentCore with a real model (``--real``): the model is
``$OPENAI_AGENTS_MODEL`` (e.g. ``gpt-5``, with ``OPENAI_API_KEY``) and credentials come from
``AgentCoreIdentitySource()``; set ``AGENTCORE_AUTH_WORKLOAD_NAME``, ``WEATHER_PROVIDER``,
``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``, ``FILES_SCOPES``, ``RETURN_URL``::

    python examples/openai_agents_agent.py --real --user alice "Weather in Paris, and my files?"
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
from agentcore_auth_openai_agents import (
    complete_consent,
    consent_requests,
    scrub_model_input,
    secure,
)
from agents import Agent, FunctionTool, RunConfig, Runner, function_tool

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    identity_handle,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth.integration import ConsentSessions


@dataclass
class UserContext:
    """The app's run context: who is asking, as a handle (secure() reads ``identity``).

    Never the user's JWT or a workload access token: the SDK saves the context in
    ``result.to_state()``. A handle (``identity_handle(user_token=jwt)``) is a reference.
    """

    identity: str


def build_tools(resolver: CredentialResolver, *, weather: str, weather_url: str, files: str,
                files_url: str, scopes: list[str], return_url: str) -> list[FunctionTool]:
    """The two tools; the credential parameters are hidden from the model's tool schemas."""

    @function_tool
    @requires_api_key(provider_name=weather, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Today's forecast for a city."""
        # echo=1 (emulator only) makes the API send the key back: the model still never sees it.
        response = httpx.get(weather_url, params={"city": city, "echo": 1},
                             headers={"x-api-key": api_key})
        response.raise_for_status()  # a 401 makes the decorator refetch the key once
        return dict(response.json(), city=city)

    @function_tool
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


def converse(agent: Agent[Any], sessions: ConsentSessions, prompt: str, user: str,
             consent: Callable[[str], str]) -> Any:
    """Ask, and while calls wait for consent: show the link, complete, approve, resume."""
    context = UserContext(identity_handle(user_id=user))
    config = RunConfig(call_model_input_filter=scrub_model_input)
    result = Runner.run_sync(agent, prompt, context=context, run_config=config)
    while requests := consent_requests(result):
        for request in requests:
            print(f"[app] {user} must authorize {request.provider_name}:\n      "
                  f"{request.authorization_url}")
            landed = consent(request.authorization_url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)
            session = query.get("session_id", [request.session_uri or ""])[0]
            # only as the user who started it
            complete_consent(session, user_id=user, sessions=sessions)
            print(f"[app] consent completed for {user}; resuming")
        state = result.to_state()
        for request in requests:
            request.approve(state)
        result = Runner.run_sync(agent, state, context=context, run_config=config)
    return result


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_openai_agents.testing import ScriptedModel, call
    from agents import set_trace_processors

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
        model = ScriptedModel([call("forecast", {"city": "Paris"}), call("my_files")],
                              "Here you go.")
        # ---------------------------------------------------------------------------------

        set_trace_processors([])  # offline: no trace export
        sessions = ConsentSessions(resolver)
        agent = secure(Agent(name="assistant", model=model, tools=tools), sessions=sessions)

        def browser(url: str) -> str:  # the user consenting, simulated
            with httpx.Client() as http:
                while not url.startswith(return_url):
                    url = urllib.parse.urljoin(url, http.get(url).headers["location"])
            return url

        result = converse(agent, sessions, "Weather in Paris, and my files?", "alice", browser)
        for item in result.new_items:
            if item.type == "tool_call_output_item":
                print(f"[tool] {item.output}")
        print(f"[model] {result.final_output}")
        seen = model.seen()
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
    sessions = ConsentSessions(resolver)
    agent = secure(Agent(name="assistant", model=os.environ["OPENAI_AGENTS_MODEL"], tools=tools),
                   sessions=sessions)

    def browser(url: str) -> str:
        return input("[app] open the link, consent, then paste the address you landed on: ")

    print(converse(agent, sessions, prompt, user, browser).final_output)
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
