"""``agentcore-auth demo``: the whole story in a few seconds, on the local emulator.

It starts :class:`~agentcore_auth.testing.LocalAgentCore`; creates a customer
managed KMS key and a tagged secret encrypted with it whose resource policy grants
AgentCore Identity; creates an EXTERNAL API key provider and an EXTERNAL OAuth2
(M2M) provider referencing secrets; runs a Strands agent with a scripted model
whose tools call protected APIs through ``requires_api_key`` and
:class:`~agentcore_auth.httpx.AgentCoreAuth`; rotates both secrets mid-run; and
prints each tool call, cache hits and upstream calls, the 401 -> refetch ->
success, and captured DEBUG log lines with the secret redacted.

Strands is not a dependency of agentcore-auth: it is imported lazily, and without
it the same tools run in a plain loop. moto is needed (the ``testing`` extra).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from ._arn import SecretRef
from ._exceptions import ConfigurationError
from ._secret import Secret

if TYPE_CHECKING:
    from .testing import LocalAgentCore

__all__ = ["DemoResult", "Step", "run_demo"]

_CAPTURED = ("agentcore_auth", "httpx", "demo")


@dataclass
class Step:
    """One scripted tool call; ``before`` runs first (the rotation)."""

    tool: str
    input: dict[str, str]
    before: Callable[[], None] | None = None


@dataclass
class DemoResult:
    """What the demo did, for tests: ``values`` are the secrets it made (canaries)."""

    exit_code: int = 0
    agent: str = "none"
    values: list[Secret] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Capture(logging.Handler):
    """DEBUG records of the agent's side (not the emulator's own threads)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)-5s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("agentcore_auth.testing"):
            self.lines.append(self.format(record))


class _Tracer:
    """Per tool call: HTTP statuses seen, cache and emulator counter deltas."""

    _OPS = ("GetResourceApiKey", "GetResourceOauth2Token")

    def __init__(self, env: LocalAgentCore, resolver: Any, say: Callable[[str], None]) -> None:
        self.env, self.resolver, self.say = env, resolver, say
        self.statuses: list[int] = []
        self._before: tuple[Any, dict[str, int]] | None = None

    def record(self, response: Any) -> None:
        self.statuses.append(response.status_code)

    def start(self) -> None:
        self.statuses.clear()
        self._before = (self.resolver.stats, {op: self.env.call_count(op) for op in self._OPS})

    def finish(self, name: str, args: dict[str, Any], result: str) -> None:
        assert self._before is not None
        stats, calls = self._before
        now = self.resolver.stats
        hits, misses = now.hits - stats.hits, now.misses - stats.misses
        upstream = [f"{op} +{d}" for op in self._OPS
                    if (d := self.env.call_count(op) - calls[op])]
        http = " -> ".join(str(s) for s in self.statuses) or "-"
        cache = "hit" if hits and not misses else f"miss x{misses}" if misses else "-"
        if len(self.statuses) > 1:
            cache = "401, invalidated, refetched"
        call = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
        self.say(f"  tool {call:<28} HTTP {http:<10} cache: {cache:<28} "
                 f"upstream: {', '.join(upstream) or 'none'}")
        self.say(f"       -> {result}")


def _strands_installed() -> bool:
    try:
        import strands  # noqa: F401
        from strands.hooks import AfterToolCallEvent  # noqa: F401
        from strands.models import Model  # noqa: F401
    except ImportError:
        return False
    return True


def run_demo(out: TextIO | None = None, *, use_agent: bool = True) -> DemoResult:
    """Run the demo, writing to ``out`` (stdout); returns what happened.

    Args:
        out: where to print.
        use_agent: run the tools through a Strands agent when Strands is installed.
    """
    from ._redact import redact

    stream = out or sys.stdout
    result = DemoResult()
    began = time.perf_counter()

    def say(text: str = "") -> None:
        line = redact(text)
        result.lines.append(line)
        print(line, file=stream, flush=True)

    try:
        from .testing import LocalAgentCore

        LocalAgentCore.__init__  # noqa: B018  # loads moto now, to fail with the fix below
    except ImportError as exc:  # pragma: no cover - moto is part of the testing extra
        raise ConfigurationError(
            "the demo needs the local emulator's moto: pip install 'agentcore-auth[testing]'"
        ) from exc
    say("agentcore-auth demo: AgentCore Identity with referenced secrets, all local "
        "(no AWS account, no network)")
    with _hermetic_environ(), LocalAgentCore() as env:
        say(f"[1/6] emulator up in {env.startup_seconds:.1f}s: AgentCore Identity "
            f"{env.endpoint_url}, Secrets Manager/KMS {env.aws_endpoint_url}")
        _scenario(env, say, result, use_agent)
    result.seconds = time.perf_counter() - began
    say(f"done in {result.seconds:.1f}s")
    return result


@contextmanager
def _hermetic_environ() -> Iterator[None]:
    """Run with a fake AWS environment, restored afterwards.

    The user's ``AWS_PROFILE``, config and credentials files, real keys and endpoint
    overrides neither break the demo nor reach it: every ``AWS_*`` variable is
    removed, fake keys and a Region are set, and both files point at the null device.
    """
    from .testing import fake_aws_environ

    changes = fake_aws_environ()
    changes.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _secrets_and_providers(env: LocalAgentCore, say: Callable[[str], None],
                           result: DemoResult) -> tuple[str, str, str]:
    from ._doctor import diagnose
    from ._providers import create_api_key_provider, create_oauth2_provider

    say("[2/6] secrets (your account, your KMS key, your policy)")
    key_arn = env.create_kms_key(grant_service=True)
    weather_key = "wx-" + secrets.token_hex(16)
    result.values.append(Secret(weather_key, name="weather"))
    weather_arn = env.create_secret(env.unique_name("demo/weather"), {"api_key": weather_key},
                                    kms_key_id=key_arn)
    sm = env.client("secretsmanager")
    sm.tag_resource(SecretId=weather_arn, Tags=[{"Key": "app", "Value": "demo-agent"},
                                                {"Key": "owner", "Value": "platform-team"}])
    say(f"  KMS key  {key_arn}  (customer managed; key policy: "
        "bedrock-agentcore.amazonaws.com kms:Decrypt)")
    say(f"  secret   {weather_arn}")
    say("           encrypted with that key, tags app=demo-agent owner=platform-team, resource "
        "policy: bedrock-agentcore.amazonaws.com secretsmanager:GetSecretValue")
    client_id, client_secret = "demo-calendar-agent", "cs-" + secrets.token_hex(16)
    result.values.append(Secret(client_secret, name="calendar"))
    env.register_oauth_client(client_id, client_secret)
    client_arn = env.create_secret(env.unique_name("demo/calendar-client"),
                                   {"client_secret": client_secret})
    say(f"  secret   {client_arn}  (OAuth2 client secret of {client_id})")

    say("[3/6] credential providers, EXTERNAL (they point at the secrets, hold no copy)")
    control = env.client("bedrock-agentcore-control")
    api = create_api_key_provider("weather", SecretRef(weather_arn, "api_key"), client=control)
    oauth = create_oauth2_provider(
        "calendar", vendor="CustomOauth2", client_id=client_id,
        ref=SecretRef(client_arn, "client_secret"), discovery_url=env.oauth_discovery_url,
        client=control)
    say(f"  weather   API key      -> {api.secret_arn} json key {api.json_key!r}")
    say(f"  calendar  OAuth2 M2M   -> {oauth.secret_arn} json key {oauth.json_key!r} "
        "(CustomOauth2)")
    report = diagnose("weather", clients=lambda service, account: env.client(
        service, account_id=account), region=env.region)
    passed = sum(c.status == "pass" for c in report.checks)
    others = ", ".join(f"{c.name} {c.status}" for c in report.checks if c.status != "pass")
    say(f"  doctor weather: {passed} checks passed, {len(report.failures)} failed"
        + (f" ({others})" if others else ""))
    return weather_arn, client_arn, client_id


def _scenario(env: LocalAgentCore, say: Callable[[str], None], result: DemoResult,
              use_agent: bool) -> None:
    import httpx

    from ._resolver import CredentialResolver
    from ._tool import requires_api_key
    from .httpx import AgentCoreAuth
    from .sources import AgentCoreIdentitySource

    weather_arn, client_arn, client_id = _secrets_and_providers(env, say, result)
    workload = env.create_workload("demo-agent")
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                     workload_name=workload)
    resolver = CredentialResolver(source)
    tracer = _Tracer(env, resolver, say)
    hooks = {"response": [tracer.record]}
    weather_url = env.protected_api(weather_arn, "api_key", header="x-api-key")
    calendar_url = env.protected_oauth_api(scopes=["calendar.read"])
    weather_http = httpx.Client(event_hooks=hooks)
    calendar_http = httpx.Client(event_hooks=hooks, auth=AgentCoreAuth.oauth2(
        "calendar", scopes=["calendar.read"], resolver=resolver))
    tool_log = logging.getLogger("demo.tools")

    @requires_api_key(provider_name="weather", resolver=resolver)
    def get_weather(city: str, *, api_key: str) -> str:
        """Current weather for a city."""
        tool_log.debug("careless tool log: calling weather API with x-api-key=%s", api_key)
        weather_http.get(weather_url, params={"city": city},
                         headers={"x-api-key": api_key}).raise_for_status()
        return f"{city}: 18 C, light wind"

    def list_events(day: str) -> str:
        """Calendar events for a day."""
        calendar_http.get(calendar_url, params={"day": day}).raise_for_status()
        return f"{day}: stand-up 09:30, review 14:00"

    def rotate() -> None:
        new_key = "wx-" + secrets.token_hex(16)
        result.values.append(Secret(new_key, name="weather"))
        env.rotate_secret(weather_arn, {"api_key": new_key})
        new_secret = "cs-" + secrets.token_hex(16)
        result.values.append(Secret(new_secret, name="calendar"))
        env.register_oauth_client(client_id, new_secret)  # the IdP side of the rotation
        env.rotate_secret(client_arn, {"client_secret": new_secret})
        say("  ~~ rotation: new values put into both secrets (put-secret-value); the providers "
            "were not touched, the resolver still caches the old values")

    steps = [Step("get_weather", {"city": "Oslo"}), Step("get_weather", {"city": "Paris"}),
             Step("list_events", {"day": "today"}),
             Step("get_weather", {"city": "Rome"}, before=rotate),
             Step("list_events", {"day": "tomorrow"}), Step("get_weather", {"city": "Oslo"})]
    tools: dict[str, Callable[..., str]] = {"get_weather": get_weather,
                                            "list_events": list_events}
    capture = _Capture()
    watched = [logging.getLogger(name) for name in _CAPTURED]
    levels = [lg.level for lg in watched]
    for lg in watched:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(capture)
    try:
        with resolver, weather_http, calendar_http:
            if use_agent and _strands_installed():
                from ._demo_agent import run_agent

                say(f"[4/6] Strands agent, scripted model, {len(steps)} tool calls")
                result.agent = run_agent(tools, steps, tracer, say, resolver)
            else:
                if use_agent:
                    say("  Strands is not installed, so the tools run without an agent; for "
                        "the agent part: pip install agentcore-auth-strands (or the dev extra)")
                say(f"[4/6] tools called directly, {len(steps)} calls")
                for step in steps:
                    if step.before:
                        step.before()
                    tracer.start()
                    tracer.finish(step.tool, step.input, tools[step.tool](**step.input))
            stats = resolver.stats
    finally:
        for lg, level in zip(watched, levels, strict=True):
            lg.removeHandler(capture)
            lg.setLevel(level)
    say("[5/6] counters")
    say(f"  resolver cache:  {stats.hits} hits, {stats.misses} misses, {stats.upstream_calls} "
        f"upstream calls, {stats.invalidations} invalidations (after 401s)")
    say(f"  emulator:        GetResourceApiKey {env.call_count('GetResourceApiKey')}, "
        f"GetResourceOauth2Token {env.call_count('GetResourceOauth2Token')}, protected API "
        f"{env.call_count('ProtectedApi')} requests for {len(steps)} tool calls")
    say("[6/6] captured DEBUG log lines (agentcore_auth, httpx, demo loggers), redacted")
    # The in-process emulator registers what it reads too (as "credential"); prefer
    # lines marked with the provider's name, as an agent's own process would show.
    named = [ln for ln in capture.lines if "[REDACTED:weather]" in ln]
    shown = (named or [ln for ln in capture.lines if "[REDACTED" in ln])[:1]
    shown += [ln for ln in capture.lines if ln.startswith("INFO  httpx") and " 401 " in ln][:1]
    shown += [ln for ln in capture.lines if "refetch" in ln or "resending" in ln][:2]
    for line in shown:
        say(f"  {line}")
    say(f"  ({len(shown)} of {len(capture.lines)} captured lines shown; none of the "
        f"{len(capture.lines)} holds a secret value)")
    leaked = [v for v in result.values for ln in capture.lines if v.reveal() in ln]
    if leaked:  # pragma: no cover - would be a redaction bug
        say("  ERROR: a secret value appeared in the captured logs")
        result.exit_code = 1
