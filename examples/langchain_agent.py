"""A LangChain agent whose tools use AgentCore Identity credentials, via agentcore-auth-langchain.

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
``AgentCoreAuthMiddleware`` runs each tool call as the user named in the run's
``context=``, turns "the user must consent" into a LangGraph interrupt carrying the
link, and scrubs every credential from what the model is sent, even when the API
echoes it back.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL (LangChain's
fake chat model emitting fixed tool calls); the "browser" consent is simulated::

    python examples/langchain_agent.py

Against real AgentCore with a real model (``--real``): the model is
``init_chat_model($LANGCHAIN_MODEL)`` (e.g. ``bedrock_converse:<model id>`` with
``langchain-aws`` installed) and credentials come from ``AgentCoreIdentitySource()``;
set the same variables as ``examples/strands_agent.py`` (``AGENTCORE_AUTH_WORKLOAD_NAME``,
``WEATHER_PROVIDER``, ``WEATHER_API_URL``, ``FILES_PROVIDER``, ``FILES_API_URL``,
``FILES_SCOPES``, ``RETURN_URL``), then::

    python examples/langchain_agent.py --real --user alice "Weather in Paris, and my files?"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from agentcore_auth_langchain import AgentCoreAuthMiddleware, consent_requests
from langchain.agents import create_agent
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    requires_access_token,
    requires_api_key,
)


@dataclass
class UserContext:
    """The app's per-run context: who is asking (the middleware reads ``user_id``)."""

    user_id: str


def build_tools(resolver: CredentialResolver, *, weather: str, weather_url: str, files: str,
                files_url: str, scopes: list[str], return_url: str) -> list[Any]:
    """The two tools; the credential parameters are hidden from the model's tool schemas."""

    @tool
    @requires_api_key(provider_name=weather, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Today's forecast for a city."""
        # echo=1 (emulator only) makes the API send the key back: the model still never sees it.
        response = httpx.get(weather_url, params={"city": city, "echo": 1},
                             headers={"x-api-key": api_key})
        response.raise_for_status()  # a 401 makes the decorator refetch the key once
        return dict(response.json(), city=city)

    @tool
    @requires_access_token(provider_name=files, scopes=scopes, auth_flow="USER_FEDERATION",
                           callback_url=return_url, resolver=resolver)
    def my_files(*, access_token: str) -> dict[str, Any]:
        """The signed-in user's files."""
        response = httpx.get(files_url, params={"echo": 1},
                             headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    return [forecast, my_files]


def converse(agent: Any, auth: AgentCoreAuthMiddleware, prompt: str, user: str,
             consent: Callable[[str], str]) -> Any:
    """Ask, and while the run waits for consent: show the link, complete, resume."""
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    context = UserContext(user_id=user)
    result = agent.invoke({"messages": [("user", prompt)]}, config, context=context)
    while requests := consent_requests(result):
        answers: dict[str, Any] = {}
        for request in requests:
            print(f"[app] {user} must authorize {request.provider_name}:\n      "
                  f"{request.authorization_url}")
            landed = consent(request.authorization_url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)
            session = query.get("session_id", [request.session_uri or ""])[0]
            auth.complete_consent(session, user_id=user)  # only as the user who started it
            print(f"[app] consent completed for {user}; resuming the agent")
            answers.update(request.respond())
        result = agent.invoke(Command(resume=answers), config, context=context)
    return result


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_langchain.testing import ScriptedChatModel, tool_messages
    from langchain_core.messages import AIMessage

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
        model = ScriptedChatModel(AIMessage("", tool_calls=[
            {"name": "forecast", "args": {"city": "Paris"}, "id": "call_forecast"},
            {"name": "my_files", "args": {}, "id": "call_files"}]), "Here you go.")
        # ---------------------------------------------------------------------------------

        auth = AgentCoreAuthMiddleware(resolver)
        agent = create_agent(model, tools, middleware=[auth], context_schema=UserContext,
                             checkpointer=InMemorySaver())

        def browser(url: str) -> str:  # the user consenting, simulated
            with httpx.Client() as http:
                while not url.startswith(return_url):
                    url = urllib.parse.urljoin(url, http.get(url).headers["location"])
            return url

        result = converse(agent, auth, "Weather in Paris, and my files?", "alice", browser)
        for message in tool_messages(result["messages"]):
            print(f"[tool {message.name}] {message.text}")
        print(f"[model] {result['messages'][-1].text}")
        seen = model.seen()
        token_seen = any(json.dumps(value)[1:-1] in seen for value in (key, client_secret))
        print("[check] credentials in what the model was sent:", "YES" if token_seen else "none")
        return 1 if token_seen or consent_requests(result) else 0


def run_real(prompt: str, user: str) -> int:
    """Real AgentCore Identity (boto3's configuration) and a real chat model."""
    from langchain.chat_models import init_chat_model

    resolver = CredentialResolver(AgentCoreIdentitySource())
    return_url = os.environ["RETURN_URL"]
    tools = build_tools(resolver, weather=os.environ["WEATHER_PROVIDER"],
                        weather_url=os.environ["WEATHER_API_URL"],
                        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
                        scopes=os.environ.get("FILES_SCOPES", "").split(), return_url=return_url)
    auth = AgentCoreAuthMiddleware(resolver)
    agent = create_agent(init_chat_model(os.environ["LANGCHAIN_MODEL"]), tools,
                         middleware=[auth], context_schema=UserContext,
                         checkpointer=InMemorySaver())

    def browser(url: str) -> str:
        return input("[app] open the link, consent, then paste the address you landed on: ")

    result = converse(agent, auth, prompt, user, browser)
    print(result["messages"][-1].text)
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
