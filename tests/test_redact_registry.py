"""The redaction registry under churn: cached values are pinned, the rest ages out (issue #20)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from agentcore_auth import CredentialResolver
from agentcore_auth._credential import Credential, CredentialRequest
from agentcore_auth._identity import Identity
from agentcore_auth._redact import Redactor, default_redactor
from agentcore_auth._secret import Secret

USERS = 3_500


class Tenant:
    """A custom source (the documented extension point): one API key, a token per user fetch."""

    name = "tenant"

    def __init__(self) -> None:
        self.api_key = "sk-live-" + secrets.token_urlsafe(24)
        self.issued: list[str] = []

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        if request.kind == "api_key":
            return Credential(Secret(self.api_key, name=request.provider_name))
        token = "user-token-" + secrets.token_urlsafe(24)
        self.issued.append(token)
        return Credential(Secret(token, name=request.provider_name))


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    source = Tenant()
    yield source
    # The resolver registers in the global redactor too: leave it as we found it.
    glob = default_redactor()
    for value in [source.api_key, *source.issued]:
        glob.unregister(value)


def _redacted(r: Redactor, value: str) -> bool:
    return value not in r.redact(f"log line with {value} in it")


def test_pinned_value_survives_churn_and_ages_out_once_unpinned() -> None:
    r = Redactor(max_values=10)
    key = "sk-live-" + secrets.token_urlsafe(16)
    r.register(key, name="weather")
    r.pin(key)
    for i in range(200):
        r.register(f"churn-value-{i:04d}", name="jwt")
    assert _redacted(r, key)
    assert len(r) == 10 + 1 and r.pinned() == 1
    r.unpin(key)
    assert _redacted(r, key)  # just unpinned: it still ages like a fresh registration
    for i in range(10):
        r.register(f"more-churn-{i:04d}", name="jwt")
    assert key not in r  # (the matcher may still blank it until its next rebuild)
    assert len(r) == 10 and r.pinned() == 0


def test_pin_registers_again_what_churn_evicted_and_counts() -> None:
    r = Redactor(max_values=2)
    key = "sk-live-" + secrets.token_urlsafe(16)
    r.register(key)
    for i in range(5):
        r.register(f"churn-value-{i:04d}")
    assert key not in r
    r.pin(Secret(key, name="weather"))
    r.pin(key)
    assert _redacted(r, key) and "[REDACTED:weather]" in r.redact(key)
    r.unpin(key)
    for i in range(5):
        r.register(f"again-{i:04d}")
    assert key in r  # still one pin left
    r.unpin(key)
    r.unpin(key)  # one too many: ignored
    for i in range(5):
        r.register(f"last-{i:04d}")
    assert key not in r


def test_thousands_of_users_do_not_evict_the_cached_api_key(tenant: Tenant) -> None:
    """3,500 users in one TTL, plus 1,750 user JWTs registered on the side (as the
    AgentCore source does), against a registry of 1,000: every cached value stays."""
    r = Redactor(max_values=1_000)
    with CredentialResolver(tenant, redactor=r, max_entries=10_000, redact_logs=False) as res:
        assert res.get_api_key("weather").reveal() == tenant.api_key
        tokens = []
        for i in range(USERS):
            token = res.get_oauth2_token("calendar", scopes=["read"], auth_flow="USER_FEDERATION",
                                         user_id=f"user-{i}")
            tokens.append(token.reveal())
            if i % 2:
                r.register(f"eyJ.user-jwt-{i}-{secrets.token_hex(8)}", name="user-token")
        assert res.get_api_key("weather").reveal() == tenant.api_key  # a hit: no re-register
        assert res.stats.upstream_calls == USERS + 1
        assert _redacted(r, tenant.api_key)
        assert all(_redacted(r, t) for t in tokens[::50])
        assert r.pinned() == USERS + 1
        assert len(r) <= 1_000 + r.pinned()  # the bound follows the cache's entries
        assert tenant.api_key in default_redactor()

        # Rotation: the old key is no longer cached, so it ages out; the new one is pinned.
        old = tenant.api_key
        tenant.api_key = "sk-live-" + secrets.token_urlsafe(24)
        assert res.invalidate("weather") == 1
        assert res.get_api_key("weather").reveal() == tenant.api_key
        assert _redacted(r, old)  # late logs of the old value are still redacted
        for i in range(1_000):
            r.register(f"eyJ.later-jwt-{i}-{secrets.token_hex(8)}", name="user-token")
        assert old not in r
        assert _redacted(r, tenant.api_key)
        tenant.issued.append(old)


def test_cache_eviction_and_clear_unpin(tenant: Tenant) -> None:
    r = Redactor(max_values=50)
    with CredentialResolver(tenant, redactor=r, max_entries=100, redact_logs=False) as res:
        for i in range(300):
            res.get_oauth2_token("calendar", scopes=["read"], auth_flow="USER_FEDERATION",
                                 user_id=f"user-{i}")
        assert r.pinned() == 100  # only what the cache still holds
        assert len(r) <= 50 + 100
        assert _redacted(r, tenant.issued[-1])
        assert tenant.issued[0] not in r  # evicted from the cache long ago, aged out
        res.clear()
        assert r.pinned() == 0
