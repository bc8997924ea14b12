"""Leak audit: every entry point at DEBUG, and no registered value anywhere it could surface.

Exercised: the resolver (sync and async, API key and OAuth2), AgentCoreIdentitySource
and SecretsManagerSource, the decorators (sync, async, generator, async generator,
including a 401 refetch after rotation, a tool raising with the key in its
message and one raising a pydantic error whose message is computed from the key),
httpx ``AgentCoreAuth`` (sync and async, header and query-parameter mode, with a
401 refetch), a Strands agent with ``AgentCoreAuthPlugin`` calling a tool
whose API echoes the key, and the CLI's ``resolve`` and ``doctor``.

Searched, for every value the library registered during the audit and every
encoding :func:`secret_patterns` knows: the text of a real ``StreamHandler`` on the
root logger and of ``caplog`` (every logger at DEBUG: root, botocore, urllib3,
httpx, httpcore, strands, agentcore_auth), captured stdout/stderr (file descriptors
1 and 2), exception messages and ``traceback.format_exception`` output, the repr of every object
handed out, decorated tools' signatures and the Strands tool specs, and every
message the model was sent.

What the test itself does is not the library's doing: secrets are created and
rotated with logging switched off, and records from the emulator's own request
threads (which read secrets server-side, as AWS would) are left out.

A second audit runs a real Strands agent with telemetry on, under both GenAI
conventions (Strands' default and ``OTEL_SEMCONV_STABILITY_OPT_IN=
gen_ai_latest_experimental``), whose tools (one returning, one streaming) call
an API that echoes the key. It searches the spans exported through an in-memory
exporter, every ``stream_async`` event, every ``callback_handler`` argument, the
event-loop metrics (``get_summary()``), the model's input and the history; the
protected run also has the library's own telemetry on (``instrument()``). A
control run without the protections (``scrub_result=False``, no plugin, no
:class:`RedactingSpanProcessor`) must leak into each of them, so the audit is
known to look where the key would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pydantic
import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    RedactedError,
    SecretRef,
    SecretsManagerSource,
    default_redactor,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore

LOGGERS = ["", "botocore", "urllib3", "httpx", "httpcore", "strands", "agentcore_auth"]
CANARY = "CANARY-leak-audit-"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The test's own set-up (it writes secrets to AWS) is not logged."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class NotServerSide(logging.Filter):
    """Drop records from the emulator's request threads (the 'AWS side' of the wire)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.threadName.endswith("(process_request_thread)")


@dataclass
class World:
    env: LocalAgentCore
    key_provider: str
    key_arn: str
    key_url: str
    oauth_provider: str
    oauth_url: str
    sm_arn: str
    workload: str
    canaries: list[str]
    texts: list[str] = field(default_factory=list)

    def see(self, *objects: Any) -> None:
        """Record what a user could see: str and repr of each object."""
        for obj in objects:
            if isinstance(obj, BaseException):
                self.texts.append("".join(traceback.format_exception(obj)))
            self.texts += [str(obj), repr(obj)]

    def rotate(self, value: str) -> None:
        with quiet():
            self.env.rotate_secret(self.key_arn, {"api_key": value})


@pytest.fixture(scope="module")
def world(local_agentcore: LocalAgentCore) -> World:
    env = local_agentcore
    env.clear_faults()
    canaries = [CANARY + name for name in ("apikey-0001", "client-0002", "sm-0003")]
    with quiet():
        key_arn = env.create_secret(env.unique_name("leak"), {"api_key": canaries[0]})
        key_provider = env.unique_name("leakkey")
        control = env.client("bedrock-agentcore-control")
        control.create_api_key_credential_provider(
            name=key_provider, apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": key_arn, "jsonKey": "api_key"})
        client_id = env.unique_name("leakclient")
        env.register_oauth_client(client_id, canaries[1])
        cs_arn = env.create_secret(env.unique_name("leakcs"), {"client_secret": canaries[1]})
        oauth_provider = env.unique_name("leakoauth")
        control.create_oauth2_credential_provider(
            name=oauth_provider, credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": client_id, "clientSecretSource": "EXTERNAL",
                "clientSecretConfig": {"secretId": cs_arn, "jsonKey": "client_secret"}}})
        sm_arn = env.create_secret(env.unique_name("leaksm"), {"k": canaries[2]})
        workload = env.create_workload()
    return World(env, key_provider, key_arn, env.protected_api(key_arn, "api_key"),
                 oauth_provider, env.protected_oauth_api(), sm_arn, workload, canaries)


@pytest.fixture
def capture(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every logger at DEBUG into a real StreamHandler on root (and caplog)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(NotServerSide())
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    root.addHandler(handler)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def identity_resolver(world: World) -> CredentialResolver:
    return CredentialResolver(AgentCoreIdentitySource(
        endpoint_url=world.env.endpoint_url, region=world.env.region,
        workload_name=world.workload))


def exercise_resolvers(world: World) -> list[Any]:
    resolver = identity_resolver(world)
    sm = CredentialResolver(SecretsManagerSource(
        {"sm": SecretRef(world.sm_arn, "k")}, endpoint_url=world.env.aws_endpoint_url,
        region=world.env.region))
    key = resolver.get_api_key(world.key_provider)
    token = resolver.get_oauth2_token(world.oauth_provider, scopes=["read"])

    async def both() -> list[Any]:
        resolver.clear()
        return list(await asyncio.gather(
            resolver.aget_api_key(world.key_provider),
            resolver.aget_oauth2_token(world.oauth_provider, scopes=["read"]),
            sm.aget_api_key("sm")))

    values = [key, token, sm.get_api_key("sm"), *asyncio.run(both())]
    world.see(resolver, sm, resolver.source, sm.source, resolver.stats, *values)
    return values


def exercise_decorators(world: World) -> None:
    resolver = identity_resolver(world)

    def call_api(api_key: str) -> dict[str, Any]:
        response = httpx.get(world.key_url, headers={"x-api-key": api_key})
        response.raise_for_status()
        return dict(response.json())

    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    def sync_tool(city: str, *, api_key: str) -> dict[str, Any]:
        return call_api(api_key)

    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    async def async_tool(city: str, *, api_key: str) -> dict[str, Any]:
        return call_api(api_key)

    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    def gen_tool(city: str, *, api_key: str) -> Iterator[dict[str, Any]]:
        yield call_api(api_key)

    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    async def agen_tool(city: str, *, api_key: str) -> AsyncIterator[dict[str, Any]]:
        yield call_api(api_key)

    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    def leaky_tool(*, api_key: str) -> None:
        raise RuntimeError(f"the API said no to {api_key} (Bearer {api_key})")

    class Port(pydantic.BaseModel):
        port: int

    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    def computed_tool(*, api_key: str) -> None:
        Port.model_validate({"port": str(api_key)})  # input_value of a plain copy

    @requires_access_token(provider_name=world.oauth_provider, scopes=["read"], auth_flow="M2M",
                           resolver=resolver)
    def oauth_tool(*, access_token: str) -> int:
        response = httpx.get(world.oauth_url, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.status_code

    assert sync_tool("Paris")["ok"]
    world.rotate(CANARY + "apikey-rotated-1")  # the next call: 401, refetch, retry
    assert asyncio.run(async_tool("Paris"))["ok"]
    world.rotate(CANARY + "apikey-rotated-2")
    assert list(gen_tool("Paris"))[0]["ok"]
    world.rotate(CANARY + "apikey-rotated-3")

    async def drain() -> list[Any]:
        return [item async for item in agen_tool("Paris")]

    assert asyncio.run(drain())[0]["ok"]
    assert oauth_tool() == 200
    with pytest.raises(RuntimeError) as info:
        leaky_tool()
    with pytest.raises(RedactedError) as computed:
        computed_tool()
    world.see(computed.value, info.value, sync_tool, async_tool, gen_tool, agen_tool, oauth_tool)
    for tool in (sync_tool, async_tool, gen_tool, agen_tool, oauth_tool):
        world.texts.append(str(inspect.signature(tool)) + repr(tool.__annotations__))


def exercise_httpx(world: World) -> None:
    resolver = identity_resolver(world)
    header = AgentCoreAuth.api_key(world.key_provider, resolver=resolver)
    query = AgentCoreAuth.api_key(world.key_provider, query_param="key", resolver=resolver)
    bearer = AgentCoreAuth.oauth2(world.oauth_provider, scopes=["read"], resolver=resolver)
    with httpx.Client(auth=header) as client:
        assert client.get(world.key_url).status_code == 200
        world.rotate(CANARY + "apikey-rotated-4")
        assert client.post(world.key_url, json={"q": 1}).status_code == 200
    with httpx.Client(auth=query) as client:  # the API wants a header: 401, one refetch
        response = client.get(world.key_url, params={"city": "Paris"})
        with pytest.raises(httpx.HTTPStatusError) as info:
            response.raise_for_status()
        world.see(response, response.url, response.request, response.request.url, info.value)

    async def run_async() -> None:
        async with httpx.AsyncClient(auth=bearer) as client:
            assert (await client.get(world.oauth_url)).status_code == 200
        async with httpx.AsyncClient(auth=query) as client:
            response = await client.get(world.key_url)
            world.see(response, response.url, response.request.url, response.headers)

    asyncio.run(run_async())
    world.see(header, query, bearer)


def exercise_strands(world: World) -> None:
    strands = pytest.importorskip("strands")
    from agentcore_auth_strands import AgentCoreAuthPlugin
    from agentcore_auth_strands.testing import Call, ScriptedModel

    resolver = identity_resolver(world)

    @strands.tool
    @requires_api_key(provider_name=world.key_provider, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city (the API echoes the key it received)."""
        response = httpx.get(world.key_url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return dict(response.json(), city=city)

    model = ScriptedModel([Call("forecast", {"city": "Paris"})], ["done"])
    agent = strands.Agent(model=model, tools=[forecast], plugins=[AgentCoreAuthPlugin()],
                          callback_handler=None)
    result = agent("weather in Paris?")
    assert "[REDACTED" in model.seen()  # the echoed key reached the tool result, redacted
    assert "api_key" not in json.dumps(forecast.tool_spec)
    world.texts += [model.seen(), json.dumps(agent.messages, default=repr), str(result),
                    json.dumps(forecast.tool_spec, default=repr)]
    world.see(agent.messages, result)


def exercise_cli(world: World, monkeypatch: pytest.MonkeyPatch,
                 capfd: pytest.CaptureFixture[str]) -> None:
    from agentcore_auth._cli import main

    for name, value in world.env.env_vars().items():
        monkeypatch.setenv(name, value)
    main(["resolve", world.key_provider, "--workload", world.workload])
    main(["resolve", world.oauth_provider, "--scopes", "read", "--workload", world.workload,
          "--json"])
    main(["doctor", world.key_provider])
    main(["--debug", "resolve", "no-such-provider-leak", "--workload", world.workload])
    captured = capfd.readouterr()
    world.texts += [captured.out, captured.err]


def test_no_registered_value_surfaces_anywhere(
        world: World, capture: io.StringIO, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every entry point at DEBUG: no registered value in logs, output, errors, reprs or specs."""
    registered_before = set(default_redactor()._values)
    values = exercise_resolvers(world)
    exercise_decorators(world)
    exercise_httpx(world)
    exercise_strands(world)
    exercise_cli(world, monkeypatch, capfd)
    out, err = capfd.readouterr()
    logs = capture.getvalue()
    assert "Response body" in logs and "[REDACTED:" in logs  # botocore's DEBUG was captured
    assert "HTTP Request" in logs  # httpx's request line too
    texts = [logs, caplog.text, out, err, *world.texts]
    texts += [repr(r.args) + r.getMessage() for r in caplog.records]
    registered = (set(default_redactor()._values) - registered_before) | set(world.canaries)
    registered |= {v.reveal() for v in values}
    assert set(world.canaries) <= {v.reveal() for v in values} | registered
    leaks = []
    for value in sorted(registered):
        for pattern in secret_patterns(value):
            for text in texts:
                if pattern in text:
                    at = text.index(pattern)
                    leaks.append(f"{value[:12]}... as {pattern[:20]!r}: {text[max(0, at - 80):at]}")
                    break
    assert not leaks, "\n".join(leaks[:10])
    assert len(registered) >= 8  # keys, rotated keys, tokens, workload tokens


# --- a real Strands agent with telemetry on ------------------------------------------------


class SwitchProcessor:
    """The global tracer provider's one processor; each run plugs in its own chain.

    OpenTelemetry's global provider can be set once per process, and Strands' tracer
    reads it lazily, so the audit sets it once and switches what it feeds.
    """

    target: Any = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.target is not None:
            self.target.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Any) -> None:
        pass

    def on_end(self, span: Any) -> None:
        if self.target is not None:
            self.target.on_end(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_SWITCH = SwitchProcessor()


def global_switch() -> SwitchProcessor:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_SWITCH)  # type: ignore[arg-type]
        trace.set_tracer_provider(provider)
    provider = trace.get_tracer_provider()
    processors = provider._active_span_processor._span_processors  # type: ignore[attr-defined]
    if _SWITCH not in processors:
        provider.add_span_processor(_SWITCH)  # type: ignore[attr-defined]
    return _SWITCH


def span_texts(spans: Any) -> list[str]:
    texts = []
    for span in spans:
        texts += [span.name, repr(dict(span.attributes or {})), str(span.status.description)]
        texts += [e.name + repr(dict(e.attributes or {})) for e in span.events]
        texts += [repr(dict(link.attributes or {})) for link in span.links]
    return texts


def run_strands_agent(world: World, protected: bool) -> dict[str, list[str]]:
    """One agent run with two echoing tools; what each sink saw, by sink."""
    strands = pytest.importorskip("strands")
    from agentcore_auth_strands import AgentCoreAuthPlugin
    from agentcore_auth_strands.testing import Call, ScriptedModel
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcore_auth.otel import RedactingSpanProcessor, instrument, uninstrument

    resolver = identity_resolver(world)

    def echo(api_key: str, city: str) -> dict[str, Any]:
        response = httpx.get(world.key_url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return dict(response.json(), city=city)

    @strands.tool
    @requires_api_key(provider_name=world.key_provider, resolver=resolver,
                      scrub_result=protected)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city (the API echoes the key it received)."""
        return echo(api_key, city)

    @strands.tool
    @requires_api_key(provider_name=world.key_provider, resolver=resolver,
                      scrub_result=protected)
    async def forecast_stream(city: str, *, api_key: str) -> AsyncIterator[Any]:
        """The weather in a city, streamed (the API echoes the key it received)."""
        yield {"progress": echo(api_key, city)}
        yield echo(api_key, city)

    exporter = InMemorySpanExporter()
    chain = SimpleSpanProcessor(exporter)
    global_switch().target = RedactingSpanProcessor(chain) if protected else chain
    if protected:
        instrument()  # the library's own spans join the audit (on the global provider)
    callbacks: list[str] = []
    model = ScriptedModel([Call("forecast", {"city": "Paris"}),
                           Call("forecast_stream", {"city": "Lyon"})], ["done"])
    agent = strands.Agent(model=model, tools=[forecast, forecast_stream],
                          plugins=[AgentCoreAuthPlugin()] if protected else [],
                          callback_handler=lambda **kwargs: callbacks.append(repr(kwargs)))

    async def consume() -> list[Any]:
        return [event async for event in agent.stream_async("weather in Paris and Lyon?")]

    try:
        events = asyncio.run(consume())
    finally:
        global_switch().target = None
        uninstrument()
    result = events[-1]["result"]
    assert any("tool_stream_event" in event for event in events)
    return {
        "spans": span_texts(exporter.get_finished_spans()),
        "stream events": [repr(event) for event in events],
        "callback arguments": callbacks,
        "event-loop metrics": [json.dumps(result.metrics.get_summary(), default=repr),
                               repr(agent.event_loop_metrics)],
        "model input and history": [model.seen(), json.dumps(agent.messages, default=repr)],
    }


def leaking_sinks(values: set[str], sinks: dict[str, list[str]]) -> dict[str, str]:
    """For each sink holding any encoding of any value: an excerpt before it."""
    found: dict[str, str] = {}
    patterns = {p for value in values for p in secret_patterns(value)}
    for sink, texts in sinks.items():
        for text in texts:
            hit = next((p for p in patterns if p in text), None)
            if hit is not None:
                at = text.index(hit)
                found[sink] = text[max(0, at - 60):at]
                break
    return found


@pytest.mark.parametrize("convention", ["default", "gen_ai_latest_experimental"])
def test_strands_telemetry_streams_and_metrics_hold_no_value(
        world: World, convention: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    """Spans, stream events, callback arguments and metrics of a real agent: no value
    (the control run, unprotected, leaks into each of them)."""
    pytest.importorskip("strands")
    import strands.telemetry.tracer as strands_tracer

    if convention == "default":
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    else:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", convention)
    # Strands reads the variable once, when its tracer singleton is made.
    monkeypatch.setattr(strands_tracer, "_tracer_instance", None)
    assert strands_tracer.get_tracer().use_latest_genai_conventions is (convention != "default")

    registered_before = set(default_redactor()._values)
    control = run_strands_agent(world, protected=False)
    protected = run_strands_agent(world, protected=True)
    out, err = capfd.readouterr()
    protected["output"] = [out, err]
    values = set(default_redactor()._values) - registered_before
    values.add(identity_resolver(world).get_api_key(world.key_provider).reveal())
    control_leaks = leaking_sinks(values, control)
    assert set(control_leaks) == set(control), f"the control did not leak into: {control_leaks}"
    if convention != "default":
        assert any("gen_ai.tool.call.result" in text for text in protected["spans"])
    assert any(text.startswith("resolve_credential") for text in protected["spans"])
    assert not leaking_sinks(values, protected)
