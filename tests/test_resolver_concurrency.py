"""Resolver concurrency: single-flight, isolation between users, cancellation safety.

These use a small in-test source that implements the CredentialSource protocol
and counts its calls; the same behaviours are checked against the emulator in
test_resolver_emulator.py.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcore_auth import (
    Credential,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Secret,
    SourceUnavailableError,
    identity_context,
)


class CountingSource:
    """Answers 'token:<user>:<n>' and counts calls; can block until released."""

    name = "counting"

    def __init__(self, *, gate: threading.Event | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.gate = gate
        self._n = itertools.count()
        self._lock = threading.Lock()
        self.fail_with: Exception | None = None

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        user = identity.user_id if identity and identity.user_id else "-"
        with self._lock:
            self.calls[request.provider_name] += 1
            n = next(self._n)
        if self.gate is not None:
            assert self.gate.wait(30), "test gate never opened"
        if self.fail_with is not None:
            raise self.fail_with
        return Credential(Secret(f"token:{user}:{n}:padding", name=request.provider_name))


def make_resolver(source: CountingSource, **kw: object) -> CredentialResolver:
    return CredentialResolver(source, redact_logs=False, max_workers=4, **kw)  # type: ignore[arg-type]


def test_thousand_threads_one_upstream_call() -> None:
    """1000 threads missing the same key at once cause exactly one fetch."""
    gate = threading.Event()
    source = CountingSource(gate=gate)
    resolver = make_resolver(source)
    barrier = threading.Barrier(1000)
    results: list[Secret] = []

    def call() -> None:
        barrier.wait()
        results.append(resolver.get_api_key("weather"))

    threads = [threading.Thread(target=call) for _ in range(1000)]
    for t in threads:
        t.start()
    # every thread has passed the barrier before the fetch is released
    while resolver.stats.coalesced_waits + resolver.stats.misses < 1000:
        threading.Event().wait(0.001)
    gate.set()
    for t in threads:
        t.join()
    assert source.calls["weather"] == 1
    assert len(results) == 1000 and len(set(results)) == 1
    stats = resolver.stats
    assert (stats.misses, stats.coalesced_waits, stats.upstream_calls) == (1, 999, 1)


async def test_thousand_tasks_one_upstream_call() -> None:
    """1000 asyncio tasks missing the same key make one fetch, off the event loop."""
    source = CountingSource()
    resolver = make_resolver(source)
    results = await asyncio.gather(*(resolver.aget_api_key("weather") for _ in range(1000)))
    assert source.calls["weather"] == 1
    assert len(set(results)) == 1


async def test_threads_and_tasks_mixed_one_upstream_call() -> None:
    """Threads and tasks racing on one cold key share a single fetch."""
    gate = threading.Event()
    source = CountingSource(gate=gate)
    resolver = make_resolver(source)
    thread_results: list[Secret] = []
    threads = [
        threading.Thread(target=lambda: thread_results.append(resolver.get_api_key("weather")))
        for _ in range(200)
    ]
    for t in threads:
        t.start()
    tasks = [asyncio.ensure_future(resolver.aget_api_key("weather")) for _ in range(800)]
    await asyncio.sleep(0)
    while resolver.stats.coalesced_waits + resolver.stats.misses < 1000:  # noqa: ASYNC110
        await asyncio.sleep(0.001)  # threads are joining; nothing to await on
    gate.set()
    task_results = await asyncio.gather(*tasks)
    for t in threads:
        t.join()
    assert source.calls["weather"] == 1
    assert len(set(thread_results) | set(task_results)) == 1


async def test_cancelled_waiter_does_not_poison_the_flight() -> None:
    """Cancelling the task that started a fetch leaves the fetch, cache and other waiters intact."""
    gate = threading.Event()
    source = CountingSource(gate=gate)
    resolver = make_resolver(source)
    leader = asyncio.ensure_future(resolver.aget_api_key("weather"))
    follower = asyncio.ensure_future(resolver.aget_api_key("weather"))
    await asyncio.sleep(0.01)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    gate.set()
    value = await follower
    assert resolver.get_api_key("weather") is value
    assert source.calls["weather"] == 1


def test_errors_reach_all_waiters_and_are_not_cached() -> None:
    """A failed fetch raises for every waiter; the next call fetches again."""
    source = CountingSource()
    source.fail_with = SourceUnavailableError("down", provider_name="weather")
    resolver = make_resolver(source, stale_if_error=0)
    with pytest.raises(SourceUnavailableError):
        resolver.get_api_key("weather")
    source.fail_with = None
    assert resolver.get_api_key("weather").reveal().startswith("token:")
    assert source.calls["weather"] == 2


def test_unexpected_source_error_is_wrapped_and_chained() -> None:
    """A custom source's bug surfaces as a CredentialError chained to the original."""
    from agentcore_auth import CredentialError

    source = CountingSource()
    source.fail_with = ZeroDivisionError("oops")
    resolver = make_resolver(source)
    with pytest.raises(CredentialError) as info:
        resolver.get_api_key("weather")
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert "counting" in str(info.value) and "weather" in str(info.value)


USERS = ["alice", "bob", "carol", "dave"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(USERS), st.sampled_from(["thread", "task"]), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_user_tokens_never_cross_users(plan: list[tuple[str, str, bool]]) -> None:
    """Under any interleaving of threads and tasks, each user only ever gets their own token."""
    source = CountingSource()
    resolver = make_resolver(source, max_entries=3)
    seen: list[tuple[str, Secret]] = []
    lock = threading.Lock()

    def sync_call(user: str, invalidate: bool) -> None:
        with identity_context(user_id=user):
            token = resolver.get_oauth2_token(
                "github", scopes=["repo"], auth_flow="USER_FEDERATION"
            )
            if invalidate:
                resolver.invalidate(token)
        with lock:
            seen.append((user, token))

    async def async_call(user: str, invalidate: bool) -> None:
        with identity_context(user_id=user):
            token = await resolver.aget_oauth2_token(
                "github", scopes=["repo"], auth_flow="USER_FEDERATION"
            )
            if invalidate:
                resolver.invalidate(token)
        with lock:
            seen.append((user, token))

    async def main() -> None:
        threads = [
            threading.Thread(target=sync_call, args=(u, inv))
            for u, how, inv in plan
            if how == "thread"
        ]
        for t in threads:
            t.start()
        await asyncio.gather(*(async_call(u, inv) for u, how, inv in plan if how == "task"))
        for t in threads:
            t.join()

    asyncio.run(main())
    assert len(seen) == len(plan)
    for user, token in seen:
        assert token.reveal().split(":")[1] == user
    assert len(resolver._cache) <= 3
