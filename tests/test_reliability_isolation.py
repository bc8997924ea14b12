"""Isolation under concurrency: many users, providers, scopes and flows, threads and tasks at once.

A hypothesis state machine drives one resolver (small ``max_entries``, injected
clock) over a source whose every answer names what it was fetched for
(provider, kind, scopes, flow, user, fetch number). Rules mix single calls,
bursts of threads, bursts of asyncio tasks, compare-and-invalidate, invalidation
by name, clock jumps past TTL, and upstream outages served stale. After every
step: no caller ever got a credential fetched for another user, provider,
scope set or flow; the cache never holds more than ``max_entries``; nothing is
left in flight once callers return.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from agentcore_auth import (
    ConfigurationError,
    Credential,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Secret,
    SourceUnavailableError,
    identity_context,
)
from agentcore_auth._identity import make_identity
from agentcore_auth.testing import ManualClock

MAX_ENTRIES = 6
TTL = 10.0
USERS = ["alice", "bob", "carol", "dave", "eve"]
PROVIDERS = ["weather", "github", "slack"]
SCOPES = [("read",), ("read", "write"), ("admin",)]
FLOWS = ["API_KEY", "M2M", "USER_FEDERATION", "ON_BEHALF_OF_TOKEN_EXCHANGE"]
USER_FLOWS = {"USER_FEDERATION", "ON_BEHALF_OF_TOKEN_EXCHANGE"}


class LabellingSource:
    """Answers a token naming exactly what it was fetched for; fails on demand per provider."""

    name = "labelling"

    def __init__(self) -> None:
        self._n = itertools.count()
        self._lock = threading.Lock()
        self.down: set[str] = set()

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        if request.provider_name in self.down:
            raise SourceUnavailableError("injected outage", provider_name=request.provider_name)
        with self._lock:
            n = next(self._n)
        user = user_label(identity) if request.user_bound else "-"
        label = "|".join(["tok", request.provider_name, request.kind, ",".join(request.scopes),
                          request.auth_flow or "API_KEY", user, str(n)])
        return Credential(Secret(label, name=request.provider_name))


def user_label(identity: Identity | None) -> str:
    if identity is None:
        return "<nobody>"
    if identity.user_id is not None:
        return "uid:" + identity.user_id
    assert identity.user_token is not None
    return "jwt:" + identity.user_token.reveal()


@dataclass(frozen=True)
class Ask:
    """One call: who asks, for what, and how the identity is given."""

    user: str
    provider: str
    scopes: tuple[str, ...]
    flow: str
    via: str  # "context" (identity_context), "kwarg" (user_id=/user_token=)

    @property
    def expected_user(self) -> str:
        if self.flow not in USER_FLOWS:
            return "-"
        return ("jwt:" if self.flow == "ON_BEHALF_OF_TOKEN_EXCHANGE" else "uid:") + self.user

    def identity_kwargs(self) -> dict[str, str]:
        if self.flow == "ON_BEHALF_OF_TOKEN_EXCHANGE":
            return {"user_token": self.user}
        return {"user_id": self.user}

    def context(self) -> contextlib.AbstractContextManager[Any]:
        if self.via == "context":
            return identity_context(**self.identity_kwargs())
        return contextlib.nullcontext()

    def check(self, secret: Secret) -> None:
        _, provider, kind, scopes, flow, user, _ = secret.reveal().split("|")
        want_kind = "api_key" if self.flow == "API_KEY" else "oauth2"
        want_scopes = "" if self.flow == "API_KEY" else ",".join(sorted(self.scopes))
        assert (provider, kind, scopes, flow, user) == (
            self.provider, want_kind, want_scopes, self.flow, self.expected_user
        ), f"{self} got a credential fetched for {secret.reveal()}"

    def sync(self, resolver: CredentialResolver) -> Secret:
        kwargs = self.identity_kwargs() if self.via == "kwarg" else {}
        with self.context():
            if self.flow == "API_KEY":
                return resolver.get_api_key(self.provider, **kwargs)
            return resolver.get_oauth2_token(self.provider, scopes=list(self.scopes),
                                             auth_flow=self.flow, **kwargs)

    async def async_(self, resolver: CredentialResolver) -> Secret:
        kwargs = self.identity_kwargs() if self.via == "kwarg" else {}
        with self.context():
            if self.flow == "API_KEY":
                return await resolver.aget_api_key(self.provider, **kwargs)
            return await resolver.aget_oauth2_token(self.provider, scopes=list(self.scopes),
                                                    auth_flow=self.flow, **kwargs)


asks = st.builds(Ask, st.sampled_from(USERS), st.sampled_from(PROVIDERS),
                 st.sampled_from(SCOPES), st.sampled_from(FLOWS),
                 st.sampled_from(["context", "kwarg"]))


class IsolationMachine(RuleBasedStateMachine):
    """Random interleavings of calls, bursts, invalidations, expiry and outages."""

    secrets_seen = Bundle("secrets_seen")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.source = LabellingSource()
        self.resolver = CredentialResolver(self.source, ttl=TTL, stale_if_error=30.0,
                                           max_entries=MAX_ENTRIES, max_workers=4,
                                           timer=self.clock, redact_logs=False)
        self.calls = 0

    def teardown(self) -> None:
        self.resolver.close()

    def _answered(self, ask: Ask, outcome: Secret | BaseException) -> Secret | None:
        self.calls += 1
        if isinstance(outcome, SourceUnavailableError):
            assert ask.provider in self.source.down  # only an outage may fail a call
            return None
        assert isinstance(outcome, Secret), repr(outcome)
        ask.check(outcome)
        return outcome

    @rule(target=secrets_seen, ask=asks)
    def call_sync(self, ask: Ask) -> Secret | None:
        try:
            outcome: Secret | BaseException = ask.sync(self.resolver)
        except SourceUnavailableError as exc:
            outcome = exc
        return self._answered(ask, outcome)

    @rule(batch=st.lists(asks, min_size=2, max_size=12))
    def burst_threads(self, batch: list[Ask]) -> None:
        barrier = threading.Barrier(len(batch))
        outcomes: list[Any] = [None] * len(batch)

        def run(i: int, ask: Ask) -> None:
            barrier.wait()
            try:
                outcomes[i] = ask.sync(self.resolver)
            except BaseException as exc:  # noqa: BLE001 - checked below
                outcomes[i] = exc

        threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(batch)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for ask, outcome in zip(batch, outcomes, strict=True):
            self._answered(ask, outcome)

    @rule(batch=st.lists(asks, min_size=2, max_size=12), mixed=st.booleans())
    def burst_tasks(self, batch: list[Ask], mixed: bool) -> None:
        async def main() -> list[Any]:
            # With `mixed`, every other call runs on a thread: the same flights are joined
            # from inside and outside the loop.
            coros = [asyncio.to_thread(ask.sync, self.resolver) if mixed and i % 2 else
                     ask.async_(self.resolver) for i, ask in enumerate(batch)]
            return await asyncio.gather(*coros, return_exceptions=True)

        for ask, outcome in zip(batch, asyncio.run(main()), strict=True):
            self._answered(ask, outcome)

    @rule(secret=consumes(secrets_seen))
    def invalidate_secret(self, secret: Secret | None) -> None:
        if secret is not None:
            self.resolver.invalidate(secret)

    @rule(provider=st.sampled_from(PROVIDERS), user=st.sampled_from(USERS))
    def invalidate_name(self, provider: str, user: str) -> None:
        self.resolver.invalidate(provider)

    @rule(seconds=st.sampled_from([0.5, 5.0, TTL + 0.1, 25.0, 100.0]))
    def advance_clock(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule(provider=st.sampled_from(PROVIDERS))
    def outage(self, provider: str) -> None:
        self.source.down.add(provider)

    @precondition(lambda self: bool(self.source.down))
    @rule()
    def recover(self) -> None:
        self.source.down.clear()

    @invariant()
    def bounded_and_settled(self) -> None:
        cache = self.resolver._cache
        assert len(cache) <= MAX_ENTRIES
        with cache._lock:
            assert len(cache._index) <= MAX_ENTRIES
            assert set(cache._index) <= set(cache._store)
            assert not cache._inflight, "a flight outlived every caller"


TestIsolation = IsolationMachine.TestCase
TestIsolation.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])


texts = st.text(min_size=1, max_size=12)
maybe = st.one_of(st.none(), texts, st.sampled_from(["a\x00jwt:b", "a\x00wat:b", "uid:a"]))


@settings(max_examples=200, deadline=None)
@given(texts, texts, st.sampled_from(["jwt", "wat"]), maybe, maybe, maybe)
def test_user_keys_never_collide(a: str, b: str, kind: str, uid: str | None, jwt: str | None,
                                 wat: str | None) -> None:
    """Different identities (user id, user JWT, workload token) never share a cache key.

    In particular a user id that spells another identity's fields with the separator
    (``"a\\x00jwt:b"``) is not user ``a`` holding JWT ``b``.
    """
    spelled = make_identity(user_id=f"{a}\x00{kind}:{b}")
    # A user id and a user token together are refused (tests/test_identity_precedence.py);
    # the JWT case then compares against the JWT alone.
    real = (make_identity(user_token=b) if kind == "jwt"
            else make_identity(user_id=a, workload_access_token=b))
    assert spelled.user_key() != real.user_key()
    if uid is not None and jwt is not None:
        with pytest.raises(ConfigurationError, match="given together"):
            make_identity(user_id=uid, user_token=jwt, workload_access_token=wat)
        return
    if (uid, jwt, wat) != (None, None, None):
        other = make_identity(user_id=uid, user_token=jwt, workload_access_token=wat)
        for known in (spelled, real):
            fields = (known.user_id, known.user_token and known.user_token.reveal(),
                      known.workload_access_token and known.workload_access_token.reveal())
            if fields != (uid, jwt, wat):
                assert other.user_key() != known.user_key()
