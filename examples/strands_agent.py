"""A Strands agent whose tools use AgentCore Identity credentials, via agentcore-auth-strands.

Two tools: ``forecast`` sends an API key (an EXTERNAL Secrets Manager secret behind an
AgentCore API key credential provider) and ``my_files`` sends the user's own OAuth2
token (USER_FEDERATION: the user consents once, AgentCore keeps the token per user).
The plugin runs each tool call as the user whose identity handle is in the invocation
state (a handle, never the JWT: Strands copies the invocation state into its events), turns
"the user must consent" into a Strands interrupt carrying the link, and scrubs every
credential from what the model is sent, even when the API echoes it back.

Telemetry is on: Strands' spans (which record tool results) are exported through
``agentcore_auth.otel.RedactingSpanProcessor``, and ``agentcore_auth.otel.instrument()``
adds a span per credential resolution. The decorators already scrub what the tools
return; the span processor is the one line that keeps any other value out of traces.

Offline (default): no AWS account, no model key. Everything runs against the local
emulator (``agentcore_auth.testing.LocalAgentCore``) and a SCRIPTED MODEL that emits
fixed tool calls; the "browser" consent is simulated::

    python examples/strands_agent.py

Against real AgentCore with a real model (``--real``): the model is ``BedrockModel``
(``$STRANDS_MODEL_ID``, default below) and credentials come from
``AgentCoreIdentitySource()`` over boto3's configuration (Region, credentials). Set:

- ``AGENTCORE_AUTH_WORKLOAD_NAME``: a workload identity whose allowed return URLs
  include ``$RETURN_URL`` (outside AgentCore Runtime the agent fetches its own
  workload access token for the user);
- ``WEATHER_PROVIDER`` + ``WEATHER_API_URL``: an API key credential provider and an
  API taking its key in ``x-api-key``;
- ``FILES_PROVIDER`` + ``FILES_API_URL`` + ``FILES_SCOPES``: an OAuth2 credential
  provider and an API taking its bearer token;
- ``RETURN_URL``: where the browser lands after consent (it gets ``?session_id=``);
- optionally ``OTEL_EXPORTER_OTLP_ENDPOINT`` (with ``opentelemetry-exporter-otlp``
  installed) to send the redacted spans to a collector.

then::

    python examples/strands_agent.py --real --user alice "Weather in Paris, and my files?"

When consent is needed it prints the link; open it, then paste the address the
browser landed on. The script completes the session as that same user
(``plugin.complete_consent``) and resumes the agent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from agentcore_auth_strands import AgentCoreAuthPlugin, consent_requests
from strands import Agent, tool

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    identity_handle,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth.otel import RedactingSpanProcessor, instrument

DEFAULT_MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"


def build_tools(resolver: CredentialResolver, *, weather: str, weather_url: str, files: str,
                files_url: str, scopes: list[str], return_url: str) -> list[Any]:
    """The two tools; the credential parameters are hidden from the model's tool specs."""

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


def telemetry(processor: Any) -> None:
    """Global tracing (Strands uses the global provider): every exported span is redacted."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(processor))  # the one line that matters
    trace.set_tracer_provider(provider)
    instrument()  # agentcore_auth's own spans: one per resolution (never a value)


def converse(agent: Agent, plugin: AgentCoreAuthPlugin, prompt: str, user: str,
             consent: Callable[[str], str]) -> Any:
    """Ask, and while the agent waits for consent: show the link, complete, resume."""
    # The plugin reads the caller from here: a handle (use user_token=<verified JWT> when
    # you have one), never a raw token, which Strands would copy into every event.
    state = {"identity": identity_handle(user_id=user)}
    result = agent(prompt, invocation_state=state)
    while result.stop_reason == "interrupt":
        requests = consent_requests(result)
        for request in requests:
            print(f"[app] {user} must authorize {request.provider_name}:\n      "
                  f"{request.authorization_url}")
            landed = consent(request.authorization_url)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)
            session = query.get("session_id", [request.session_uri or ""])[0]
            plugin.complete_consent(session, user_id=user)  # only as the user who started it
            print(f"[app] consent completed for {user}; resuming the agent")
        result = agent([request.respond() for request in requests], invocation_state=state)
    return result


def run_offline() -> int:
    """Everything local: the emulator, and a scripted model instead of a real one."""
    from agentcore_auth_strands.testing import Call, ScriptedModel
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcore_auth.testing import LocalAgentCore
    from agentcore_auth.testing.scenarios import example_setup

    exporter = InMemorySpanExporter()  # stands in for an OTLP exporter
    telemetry(SimpleSpanProcessor(exporter))
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

        # ---- SCRIPTED MODEL: not a real LLM. It calls both tools, then summarizes. ----
        def summarize(messages: Any) -> list[Any]:
            results = [block["toolResult"] for message in messages
                       for block in message["content"] if "toolResult" in block]
            return ["Here is what the tools returned: "
                    + " | ".join(r["content"][0]["text"] for r in results)]

        model = ScriptedModel([Call("forecast", {"city": "Paris"}), Call("my_files")], summarize)
        # -------------------------------------------------------------------------------

        plugin = AgentCoreAuthPlugin(resolver)
        agent = Agent(model=model, tools=tools, plugins=[plugin], callback_handler=None)

        def browser(url: str) -> str:  # the user consenting, simulated
            with httpx.Client() as http:
                while not url.startswith(return_url):
                    url = urllib.parse.urljoin(url, http.get(url).headers["location"])
            return url

        result = converse(agent, plugin, "Weather in Paris, and my files?", "alice", browser)
        print(f"[model] {result.message['content'][0]['text']}")
        seen = model.seen()
        token_seen = any(json.dumps(value)[1:-1] in seen for value in (key, client_secret))
        print("[check] credentials in what the model was sent:", "YES" if token_seen else "none")
        spans = [span.to_json() for span in exporter.get_finished_spans()]
        for span in exporter.get_finished_spans():
            if span.name.startswith("resolve_credential"):
                print(f"[telemetry] {span.name}: "
                      f"{(span.attributes or {}).get('agentcore_auth.cache.outcome')}")
        in_spans = any(json.dumps(value)[1:-1] in text for value in (key, client_secret)
                       for text in spans)
        print("[check] credentials in exported spans:", "YES" if in_spans else "none")
        return 1 if token_seen or in_spans or result.stop_reason != "end_turn" else 0


def run_real(prompt: str, user: str) -> int:
    """Real AgentCore Identity (boto3's configuration) and a real Bedrock model."""
    from strands.models import BedrockModel

    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        telemetry(BatchSpanProcessor(OTLPSpanExporter()))
    resolver = CredentialResolver(AgentCoreIdentitySource())
    return_url = os.environ["RETURN_URL"]
    tools = build_tools(resolver, weather=os.environ["WEATHER_PROVIDER"],
                        weather_url=os.environ["WEATHER_API_URL"],
                        files=os.environ["FILES_PROVIDER"], files_url=os.environ["FILES_API_URL"],
                        scopes=os.environ.get("FILES_SCOPES", "").split(), return_url=return_url)
    plugin = AgentCoreAuthPlugin(resolver)
    model = BedrockModel(model_id=os.environ.get("STRANDS_MODEL_ID", DEFAULT_MODEL))
    agent = Agent(model=model, tools=tools, plugins=[plugin])

    def browser(url: str) -> str:
        return input("[app] open the link, consent, then paste the address you landed on: ")

    converse(agent, plugin, prompt, user, browser)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true", help="real AgentCore and Bedrock")
    parser.add_argument("--user", default="alice", help="the signed-in user (--real)")
    parser.add_argument("prompt", nargs="?", default="Weather in Paris, and my files?")
    args = parser.parse_args(argv)
    return run_real(args.prompt, args.user) if args.real else run_offline()


if __name__ == "__main__":
    sys.exit(main())
