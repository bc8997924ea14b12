"""CredentialCache decisions, with an injected clock and no I/O."""

from __future__ import annotations

import threading

import pytest

from agentcore_auth import Credential, Secret, SourceUnavailableError
from agentcore_auth._cache import CredentialCache
from agentcore_auth._exceptions import AccessDeniedError
from agentcore_auth.testing import ManualClock


def make(clock: ManualClock, wall: ManualClock | None = None, **kw: float) -> CredentialCache:
    params = dict(ttl=60.0, max_entries=100, stale_if_error=30.0, expiry_skew=10.0)
    params.update(kw)
    return CredentialCache(timer=clock, wall_clock=wall or ManualClock(), **params)  # type: ignore[arg-type]


def fill(cache: CredentialCache, key: str, value: str, expires_at: float | None = None) -> Secret:
    secret, future, flight = cache.lookup(key)
    assert secret is None and flight is not None
    cache.complete(flight, Credential(Secret(value, name="p"), expires_at=expires_at))
    assert future is not None
    return future.result()


def test_miss_then_hit_within_ttl() -> None:
    """A stored value is served until its TTL passes, then a new fetch is led."""
    clock = ManualClock()
    cache = make(clock)
    stored = fill(cache, "k", "v1")
    clock.now += 59.9
    assert cache.lookup("k") == (stored, None, None)
    clock.now += 0.2
    secret, _, flight = cache.lookup("k")
    assert secret is None and flight is not None
    assert cache.stats.hits == 1 and cache.stats.misses == 2


def test_token_expiry_shortens_ttl() -> None:
    """A token expiring in 40s is kept 40 - skew = 30s, not the 60s TTL."""
    clock, wall = ManualClock(), ManualClock()
    cache = make(clock, wall)
    fill(cache, "k", "tok", expires_at=wall.now + 40)
    clock.now += 29.9
    assert cache.lookup("k")[0] is not None
    clock.now += 0.2
    assert cache.lookup("k")[0] is None


def test_already_expired_token_is_returned_but_not_cached() -> None:
    """A token within the skew of expiry reaches the caller but the next lookup fetches."""
    clock, wall = ManualClock(), ManualClock()
    cache = make(clock, wall)
    secret = fill(cache, "k", "tok", expires_at=wall.now + 5)
    assert secret.reveal() == "tok"
    assert cache.lookup("k")[2] is not None
    assert len(cache) == 0


def test_concurrent_lookups_share_one_flight() -> None:
    """While a fetch is under way, other lookups join it instead of leading."""
    cache = make(ManualClock())
    _, future1, leader = cache.lookup("k")
    _, future2, follower = cache.lookup("k")
    assert leader is not None and follower is None and future1 is future2
    assert cache.stats.coalesced_waits == 1


def test_failure_reaches_every_waiter_and_is_not_cached() -> None:
    """An error goes to all waiters; the next lookup leads a new fetch."""
    cache = make(ManualClock())
    _, future, flight = cache.lookup("k")
    assert flight is not None and future is not None
    error = AccessDeniedError("denied")
    cache.fail(flight, error)
    with pytest.raises(AccessDeniedError):
        future.result()
    assert cache.lookup("k")[2] is not None
    assert cache.stats.errors == 1


def test_stale_if_error_within_grace() -> None:
    """When the source is unavailable, a value expired less than the grace ago is served."""
    clock = ManualClock()
    cache = make(clock)
    stored = fill(cache, "k", "v1")
    clock.now += 60 + 29
    _, future, flight = cache.lookup("k")
    assert flight is not None and future is not None
    cache.fail(flight, SourceUnavailableError("throttled"))
    assert future.result() is stored
    assert cache.stats.stale_serves == 1
    # retry_after: the stale value counts as fresh for a moment, so the outage is not hammered
    assert cache.lookup("k")[0] is stored


def test_stale_if_error_past_grace_raises() -> None:
    """Past the grace window the unavailability error reaches the caller."""
    clock = ManualClock()
    cache = make(clock)
    fill(cache, "k", "v1")
    clock.now += 60 + 31
    _, future, flight = cache.lookup("k")
    assert flight is not None and future is not None
    cache.fail(flight, SourceUnavailableError("throttled"))
    with pytest.raises(SourceUnavailableError):
        future.result()
    assert cache.stats.stale_serves == 0


def test_stale_is_not_served_for_access_denied() -> None:
    """Only unavailability is bridged: a denial is a real answer and propagates."""
    clock = ManualClock()
    cache = make(clock)
    fill(cache, "k", "v1")
    clock.now += 61
    _, future, flight = cache.lookup("k")
    assert flight is not None and future is not None
    cache.fail(flight, AccessDeniedError("revoked"))
    with pytest.raises(AccessDeniedError):
        future.result()


def test_compare_and_invalidate_drops_only_the_rejected_value() -> None:
    """invalidate(if_value=old) is a no-op once the entry holds a newer value."""
    cache = make(ManualClock())
    old = fill(cache, "k", "v1")
    assert cache.invalidate("k", if_value=old) is True
    new = fill(cache, "k", "v2")
    assert cache.invalidate("k", if_value=old) is False
    assert cache.lookup("k")[0] is new
    assert cache.stats.invalidations == 1


def test_hundred_invalidations_of_one_stale_value_drop_once() -> None:
    """100 callers rejecting the same value cause exactly one invalidation."""
    cache = make(ManualClock())
    old = fill(cache, "k", "v1")
    barrier = threading.Barrier(100)
    results: list[bool] = []

    def reject() -> None:
        barrier.wait()
        results.append(cache.invalidate("k", if_value=old))

    threads = [threading.Thread(target=reject) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_invalidate_detaches_fetch_under_way() -> None:
    """A fetch that started before an invalidation does not serve callers that came after."""
    clock = ManualClock()
    cache = make(clock)
    old = fill(cache, "k", "v1")
    clock.now += 61
    _, _, first = cache.lookup("k")  # a refresh is under way...
    assert first is not None
    cache.lookup("k")
    cache._store["k"].fresh_until = clock.now + 10  # ...and an entry is (still) there
    assert cache.invalidate("k", if_value=old)
    _, _, second = cache.lookup("k")
    assert second is not None and second is not first
    cache.complete(first, Credential(Secret("v1-late")))
    cache.complete(second, Credential(Secret("v2")))
    assert cache.lookup("k")[0] == Secret("v2")


def test_bounded_by_max_entries() -> None:
    """The cache never holds more than max_entries credentials."""
    cache = make(ManualClock(), max_entries=10)
    for i in range(50):
        fill(cache, f"k{i}", f"value-{i}")
    assert len(cache) == 10


def test_force_skips_a_fresh_entry() -> None:
    """force=True leads a fetch even when the entry is fresh."""
    cache = make(ManualClock())
    fill(cache, "k", "v1")
    assert cache.lookup("k", force=True)[2] is not None


def test_repr_shows_no_values() -> None:
    """Neither the cache nor its entries show a secret."""
    cache = make(ManualClock())
    fill(cache, "k", "supersecretvalue")
    assert "supersecretvalue" not in repr(cache)
    assert "supersecretvalue" not in repr(cache._store["k"])


def test_mark_stale_refetches_on_next_use_and_serves_the_value_if_the_source_fails() -> None:
    """A marked entry (the fleet tier lost news about it) is fetched again on its next use;
    while the source is unavailable it is still served, until it would have expired,
    even with stale_if_error=0. Control: an invalidated entry is not served."""
    clock = ManualClock()
    cache = make(clock, stale_if_error=0.0)
    held = fill(cache, "k", "v1")
    assert not cache.mark_stale("k", if_value=Secret("other", name="p"))  # not its value
    assert cache.mark_stale("k", if_value=held)
    assert not cache.mark_stale("k", if_value=held)  # already due
    clock.now += 30.0  # still within the 60 s it was fresh for
    secret, future, flight = cache.lookup("k")
    assert secret is None and flight is not None and future is not None
    cache.fail(flight, SourceUnavailableError("throttled"))
    assert future.result() == held and cache.stats.stale_serves == 1
    clock.now += 40.0  # past when it would have expired: no longer served
    _, future, flight = cache.lookup("k")
    assert flight is not None and future is not None
    cache.fail(flight, SourceUnavailableError("throttled"))
    with pytest.raises(SourceUnavailableError):
        future.result()
    fill(cache, "j", "v2")
    cache.invalidate("j")  # the control: a removed entry has nothing to serve
    _, future, flight = cache.lookup("j")
    assert flight is not None and future is not None
    cache.fail(flight, SourceUnavailableError("throttled"))
    with pytest.raises(SourceUnavailableError):
        future.result()
