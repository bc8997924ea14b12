"""Rotation soak: threads and asyncio tasks calling through the decorators and httpx while
an API key and an OAuth2 client secret rotate every second and AgentCore Identity fails.

Run it (from the repository root)::

    python -m tests.soak --seconds 60 --report soak.json

``tests/test_reliability_soak.py`` runs a ~6 s version in the default test run and this
60 s one under ``pytest -m slow tests/test_reliability_soak.py``.

What the library promises, and so what the fault mix is
--------------------------------------------------------
Every second a cycle starts: both secrets rotate (the protected APIs refuse the old
values at once), callers get a 401, the decorator / ``AgentCoreAuth`` invalidate the
refused value and refetch once. After a short settle the cycle's fault phase starts:
a share (``--rate``, 0.2) of ``GetResourceApiKey`` (``ThrottlingException`` plus
latency) and ``GetResourceOauth2Token`` (``InternalServerException``) calls fail, and
the IdP's token endpoint (``OAuth2Token``) is slowed for the same share. The TTL is
short (0.5 s), so values expire and are refetched under faults: botocore's retries
absorb most, and when all ``--max-attempts`` fail the still-accepted value is
served stale. Once per run an outage window (every call of both operations fails,
no rotation) checks that stale-if-error alone carries the callers.

Not promised, so kept out of the fault mix but counted if it happens: a 401 after a
rotation whose refetch then fails after every retry. The only cached value is the
refused one, so stale-if-error cannot help (the library refuses to serve a value a
401 invalidated): callers get ``SourceUnavailableError``. Likewise a second rotation
between the refetch and the retry is a ``CredentialRejectedError`` (one refetch per
call, by design). Such failures can still occur when a fetch from the fault phase is
in botocore's backoff across the next rotation; the report lists them under
``failures.explained``; ``failures.unexplained`` must be 0.

The emulator's IdP keeps one client secret per client, so rotating it is two writes
(Secrets Manager, then the IdP). A real IdP accepts both secrets while rotating;
the soak models that by making the two writes atomic with respect to token fetches
(``RotationGate``), instead of letting fetches see the half-rotated state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialRejectedError,
    CredentialRequest,
    CredentialResolver,
    Identity,
    SourceUnavailableError,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth._credential import Credential
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore

FAULTS = {  # operation -> (error, latency)
    "GetResourceApiKey": ("ThrottlingException", 0.02),
    "GetResourceOauth2Token": ("InternalServerException", 0.0),
    "OAuth2Token": (None, 0.05),
}
OUTAGE_OPS = ("GetResourceApiKey", "GetResourceOauth2Token")
_statuses: contextvars.ContextVar[list[tuple[int, int]]] = contextvars.ContextVar("soak_statuses")


class RotationGate:
    """A readers-writer lock: token fetches read, the two-step client-secret rotation writes."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._writing = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class GatedSource:
    """The real AgentCoreIdentitySource; OAuth2 fetches wait out a client-secret rotation."""

    name = "agentcore-identity"

    def __init__(self, inner: AgentCoreIdentitySource, gate: RotationGate) -> None:
        self.inner, self.gate = inner, gate

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        if request.kind != "oauth2":
            return self.inner.fetch(request, identity)
        with self.gate.reading():
            return self.inner.fetch(request, identity)


@dataclass
class Tally:
    """Outcomes, thread-safe."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    ok: Counter[str] = field(default_factory=Counter)
    explained: Counter[str] = field(default_factory=Counter)
    unexplained: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def record(self, path: str, outcome: int | BaseException,
               statuses: list[tuple[int, int]], invalidated: bool) -> None:
        """Count one call. ``statuses``: (HTTP status, rotations so far) per response."""
        with self.lock:
            self.requests += 1
            if outcome == 200:
                self.ok[path] += 1
                return
            refused = [rotations for status, rotations in statuses if status == 401]
            if isinstance(outcome, SourceUnavailableError) and (refused or invalidated):
                # the hard case: the only cached value was refused, the refetch failed
                self.explained["unavailable_refetch_after_401"] += 1
            elif (isinstance(outcome, CredentialRejectedError) or outcome == 401) and (
                    len(refused) >= 2 and refused[-1] > refused[0]):
                self.explained["rotated_again_before_the_retry"] += 1
            elif isinstance(outcome, httpx.TransportError):
                # the connection to the downstream API failed: not the library's failure,
                # and the tool sees it as it would in production
                self.explained["downstream_transport_error"] += 1
            else:
                kind = outcome if isinstance(outcome, int) else type(outcome).__name__
                self.unexplained[f"{path}: {kind}"] += 1
                if len(self.examples) < 5:
                    self.examples.append(f"{path}: {outcome!r} after {statuses}")


class Soak:
    """One soak run against ``env``."""

    def __init__(self, env: LocalAgentCore, *, seconds: float, threads: int, tasks: int,
                 rate: float, seed: int, max_attempts: int) -> None:
        self.env, self.seconds, self.threads, self.tasks = env, seconds, threads, tasks
        self.rate, self.seed, self.max_attempts = rate, seed, max_attempts
        self.gate = RotationGate()
        self.tally = Tally()
        self.rotations = 0
        self.fired_before = {op: env.faults_injected(op) for op in FAULTS}
        self.stop = threading.Event()
        self._setup()

    # --- set-up ---------------------------------------------------------------------------

    def _setup(self) -> None:
        env = self.env
        control = env.client("bedrock-agentcore-control")
        self.key_arn = env.create_secret(env.unique_name("soakkey"), {"api_key": _value()})
        self.key_provider = env.unique_name("soakkey")
        control.create_api_key_credential_provider(
            name=self.key_provider, apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": self.key_arn, "jsonKey": "api_key"})
        self.client_id, client_secret = env.unique_name("soakclient"), _value()
        env.register_oauth_client(self.client_id, client_secret)
        self.cs_arn = env.create_secret(env.unique_name("soakcs"),
                                        {"client_secret": client_secret})
        self.oauth_provider = env.unique_name("soakoauth")
        control.create_oauth2_credential_provider(
            name=self.oauth_provider, credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": self.client_id, "clientSecretSource": "EXTERNAL",
                "clientSecretConfig": {"secretId": self.cs_arn, "jsonKey": "client_secret"}}})
        self.key_url = env.protected_api(self.key_arn, "api_key")
        self.oauth_url = env.protected_oauth_api()
        source = AgentCoreIdentitySource(
            endpoint_url=env.endpoint_url, region=env.region, workload_name=env.create_workload(),
            max_attempts=self.max_attempts, connect_timeout=2.0, read_timeout=5.0)
        self.resolver = CredentialResolver(GatedSource(source, self.gate), ttl=0.5,
                                           stale_if_error=30.0, max_workers=4)
        # More connections than callers (threads + the default executor's to_thread
        # workers), so no request ever queues in httpcore's sync pool: a queued request
        # can have its connection closed under it (encode/httpcore#1110, EBADF).
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.http = httpx.Client(timeout=30.0, limits=limits)

    # --- rotation and faults --------------------------------------------------------------

    def _rotate(self) -> None:
        self.env.rotate_secret(self.key_arn, {"api_key": _value()})
        new_secret = _value()
        with self.gate.writing():
            self.env.rotate_secret(self.cs_arn, {"client_secret": new_secret})
            self.env.register_oauth_client(self.client_id, new_secret)
        self.rotations += 1

    def _faults(self, rate: float, cycle: int, outage: bool = False) -> None:
        self.env.clear_faults()  # the emulator's counts of what fired survive this
        for n, (op, (error, latency)) in enumerate(FAULTS.items()):
            if outage and op in OUTAGE_OPS:
                self.env.inject_fault(op, error, rate=1.0, seed=self.seed)
            elif rate > 0:
                self.env.inject_fault(op, error, rate=rate, latency=latency,
                                      seed=self.seed * 1000 + cycle * 10 + n)

    def _settle(self) -> None:
        """Call both APIs once (faults off): the cache then holds values they accept."""
        for path in ("decorator-sync-key", "decorator-sync-oauth"):
            _statuses.set([])
            try:
                self.tools[path]()
            except Exception as exc:  # noqa: BLE001 - reported, never expected
                self.tally.record(f"conductor {path}", exc, [], invalidated=False)

    def _conductor(self, started: float) -> None:
        """Every second: rotate, settle, faults on; one outage window mid-run."""
        outage = (started + self.seconds * 0.4, started + self.seconds * 0.4
                  + max(2.5, self.seconds * 0.2))
        self.outage_seconds = outage[1] - outage[0]
        cycle = 0
        while not self.stop.is_set():
            now = time.monotonic()
            if outage[0] <= now < outage[1]:
                self._settle()
                self._faults(0, cycle, outage=True)
                self.stop.wait(outage[1] - time.monotonic())
                outage = (0.0, 0.0)
                continue
            self._faults(0, cycle)
            self._rotate()
            self._settle()
            self._faults(self.rate, cycle)
            self.stop.wait(max(0.0, now + 1.0 - time.monotonic()))
            cycle += 1
        self._faults(0, cycle)

    # --- callers ----------------------------------------------------------------------------

    def _tools(self) -> dict[str, Callable[..., Any]]:
        resolver, http = self.resolver, self.http

        def get(url: str, headers: dict[str, str]) -> int:
            response = http.get(url, headers=headers)
            _statuses.get().append((response.status_code, self.rotations))
            response.raise_for_status()
            return response.status_code

        @requires_api_key(provider_name=self.key_provider, resolver=resolver)
        def key_tool(*, api_key: str) -> int:
            return get(self.key_url, {"x-api-key": api_key})

        @requires_access_token(provider_name=self.oauth_provider, scopes=["read"],
                               auth_flow="M2M", resolver=resolver)
        def oauth_tool(*, access_token: str) -> int:
            return get(self.oauth_url, {"Authorization": f"Bearer {access_token}"})

        @requires_api_key(provider_name=self.key_provider, resolver=resolver)
        async def akey_tool(*, api_key: str) -> int:
            return await asyncio.to_thread(get, self.key_url, {"x-api-key": api_key})

        @requires_access_token(provider_name=self.oauth_provider, scopes=["read"],
                               auth_flow="M2M", resolver=resolver)
        async def aoauth_tool(*, access_token: str) -> int:
            return await asyncio.to_thread(get, self.oauth_url,
                                           {"Authorization": f"Bearer {access_token}"})

        return {"decorator-sync-key": key_tool, "decorator-sync-oauth": oauth_tool,
                "decorator-async-key": akey_tool, "decorator-async-oauth": aoauth_tool}

    def _thread_caller(self, index: int, tools: dict[str, Callable[..., Any]]) -> None:
        hook = {"response": [lambda r: _statuses.get().append((r.status_code, self.rotations))]}
        auth = AgentCoreAuth.api_key(self.key_provider, resolver=self.resolver)
        with httpx.Client(auth=auth, timeout=30.0, event_hooks=hook) as client:
            paths: list[tuple[str, Callable[[], int]]] = [
                ("decorator-sync-key", tools["decorator-sync-key"]),
                ("decorator-sync-oauth", tools["decorator-sync-oauth"]),
                ("httpx-sync-key", lambda: client.get(self.key_url).status_code),
            ]
            n = index
            while not self.stop.is_set():
                path, call = paths[n % len(paths)]
                n += 1
                self._one(path, call)

    def _one(self, path: str, call: Callable[[], int]) -> None:
        invalidations, statuses = self.resolver.stats.invalidations, []
        token = _statuses.set(statuses)
        try:
            outcome: int | BaseException = call()
        except Exception as exc:  # noqa: BLE001 - every failure is classified
            outcome = exc
        finally:
            _statuses.reset(token)
        self.tally.record(path, outcome, statuses,
                          self.resolver.stats.invalidations != invalidations)

    async def _async_callers(self, tools: dict[str, Callable[..., Any]]) -> None:
        hook = {"response": [self._ahook]}
        auth = AgentCoreAuth.oauth2(self.oauth_provider, scopes=["read"], resolver=self.resolver)
        async with httpx.AsyncClient(auth=auth, timeout=30.0, event_hooks=hook) as client:

            async def fetch() -> int:
                return (await client.get(self.oauth_url)).status_code

            paths = [("decorator-async-key", tools["decorator-async-key"]),
                     ("decorator-async-oauth", tools["decorator-async-oauth"]),
                     ("httpx-async-oauth", fetch)]

            async def caller(index: int) -> None:
                n = index
                while not self.stop.is_set():
                    path, call = paths[n % len(paths)]
                    n += 1
                    invalidations, statuses = self.resolver.stats.invalidations, []
                    _statuses.set(statuses)
                    try:
                        outcome: int | BaseException = await call()
                    except Exception as exc:  # noqa: BLE001 - every failure is classified
                        outcome = exc
                    self.tally.record(path, outcome, statuses,
                                      self.resolver.stats.invalidations != invalidations)

            await asyncio.gather(*(caller(i) for i in range(self.tasks)))

    async def _ahook(self, response: httpx.Response) -> None:
        _statuses.get().append((response.status_code, self.rotations))

    # --- run --------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        env = self.env
        env.clear_faults()
        ops = [*FAULTS, "GetWorkloadAccessToken", "ProtectedApi"]
        before = {op: env.call_count(op) for op in ops}
        self.tools = tools = self._tools()
        started = time.monotonic()
        workers = [threading.Thread(target=self._conductor, args=(started,), name="soak-conductor")]
        workers += [threading.Thread(target=self._thread_caller, args=(i, tools),
                                     name=f"soak-caller-{i}") for i in range(self.threads)]
        workers.append(threading.Thread(target=lambda: asyncio.run(self._async_callers(tools)),
                                        name="soak-tasks"))
        for worker in workers:
            worker.start()
        self.stop.wait(self.seconds)  # the bounded soak loop
        self.stop.set()
        for worker in workers:
            worker.join(120)
        elapsed = time.monotonic() - started
        env.clear_faults()
        self.http.close()
        self.resolver.close()
        stats = self.resolver.stats
        tally = self.tally
        return {
            "seconds": round(elapsed, 1),
            "config": {"threads": self.threads, "tasks": self.tasks, "fault_rate": self.rate,
                       "seed": self.seed, "max_attempts": self.max_attempts, "ttl": 0.5,
                       "stale_if_error": 30.0, "outage_seconds": round(self.outage_seconds, 1)},
            "requests": tally.requests,
            "succeeded": dict(tally.ok),
            "failures": {"total": sum(tally.explained.values()) + sum(tally.unexplained.values()),
                         "unexplained": dict(tally.unexplained),
                         "explained": dict(tally.explained), "examples": tally.examples},
            "rotations": self.rotations,
            "upstream_calls": {op: env.call_count(op) - before[op] for op in ops},
            "resolver": {"upstream_fetches": stats.upstream_calls, "hits": stats.hits,
                         "misses": stats.misses, "coalesced_waits": stats.coalesced_waits,
                         "refetches_after_rejection": stats.invalidations,
                         "stale_serves": stats.stale_serves, "errors": stats.errors},
            "faults_injected": {op: env.faults_injected(op) - self.fired_before[op]
                                for op in FAULTS},
        }


def _value() -> str:
    return "soak-" + secrets.token_hex(12)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--report", default="soak.json", help="where to write the JSON report")
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--rate", type=float, default=0.2, help="share of calls that fail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args(argv)
    with LocalAgentCore() as env:
        os.environ.update(env.env_vars())  # dummy AWS credentials and Region for the sources
        report = Soak(env, seconds=args.seconds, threads=args.threads, tasks=args.tasks,
                      rate=args.rate, seed=args.seed, max_attempts=args.max_attempts).run()
    with open(args.report, "w") as out:
        json.dump(report, out, indent=2)
    print(json.dumps(report, indent=2))
    return 0 if not report["failures"]["unexplained"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
