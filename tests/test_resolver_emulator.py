"""CredentialResolver against the local emulator: every source, flow, expiry rule and error."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from agentcore_auth import (
    AccessDeniedError,
    AgentCoreIdentitySource,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialNotFoundError,
    CredentialResolver,
    SecretRef,
    SecretsManagerSource,
    SourceUnavailableError,
    identity_context,
)
from agentcore_auth._jwt import jwt_expiry
from agentcore_auth.testing import LocalAgentCore, ManualClock

RETURN_URL = "https://app.example.com/oauth/return"


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    local_agentcore.clear_faults()
    return local_agentcore


def identity_source(env: LocalAgentCore, **kw: Any) -> AgentCoreIdentitySource:
    workload = env.create_workload(return_urls=[RETURN_URL])
    return AgentCoreIdentitySource(
        endpoint_url=env.endpoint_url, region=env.region, workload_name=workload, **kw
    )


def test_api_key_cached_then_rotation_after_invalidate(env: LocalAgentCore) -> None:
    """A second call is a hit; after rotation, invalidating the old value fetches the new one."""
    name, arn = env.create_api_key_provider("first-value-123456")
    resolver = CredentialResolver(identity_source(env))
    before = env.call_count("GetResourceApiKey")
    first = resolver.get_api_key(name)
    assert first.reveal() == "first-value-123456"
    assert resolver.get_api_key(name) is first
    env.rotate_secret(arn, {"api_key": "second-value-123456"})
    assert resolver.get_api_key(name) is first  # still fresh: the TTL holds it
    assert resolver.invalidate(first) == 1
    assert resolver.invalidate(first) == 0  # compare-and-invalidate: already gone
    assert resolver.get_api_key(name).reveal() == "second-value-123456"
    assert env.call_count("GetResourceApiKey") - before == 2
    stats = resolver.stats
    assert (stats.hits, stats.misses, stats.invalidations) == (2, 2, 1)


async def test_async_api_key_and_m2m(env: LocalAgentCore) -> None:
    """The async twins resolve the same credentials without blocking the loop."""
    name, _ = env.create_api_key_provider("async-value-123456")
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env))
    key, token = await asyncio.gather(
        resolver.aget_api_key(name), resolver.aget_oauth2_token(oauth, scopes=["read"])
    )
    assert key.reveal() == "async-value-123456"
    assert jwt_expiry(token.reveal()) is not None


def test_m2m_token_kept_until_its_expiry_minus_skew(env: LocalAgentCore) -> None:
    """A JWT is cached until exp - skew even when the TTL is longer, then fetched again."""
    oauth = env.create_oauth2_provider()[0]
    clock = ManualClock()
    resolver = CredentialResolver(identity_source(env), ttl=100_000, expiry_skew=30, timer=clock)
    token = resolver.get_oauth2_token(oauth, scopes=["read"], auth_flow="M2M")
    exp = jwt_expiry(token.reveal())
    assert exp is not None
    import time

    lifetime = exp - time.time() - 30
    clock.now += lifetime - 5
    assert resolver.get_oauth2_token(oauth, scopes=["read"]) is token
    clock.now += 10
    assert resolver.get_oauth2_token(oauth, scopes=["read"]) is not token
    assert resolver.stats.upstream_calls == 2


def test_scopes_are_part_of_the_key(env: LocalAgentCore) -> None:
    """Different scopes are different credentials; scope order is not."""
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env))
    a = resolver.get_oauth2_token(oauth, scopes=["read", "write"])
    assert resolver.get_oauth2_token(oauth, scopes=["write", "read"]) is a
    assert resolver.get_oauth2_token(oauth, scopes=["read"]) is not a


def test_thousand_threads_one_call_counted_by_emulator(env: LocalAgentCore) -> None:
    """1000 concurrent threads on a cold key: the emulator sees exactly one GetResourceApiKey."""
    name, _ = env.create_api_key_provider("stampede-value-123456")
    source = identity_source(env)
    resolver = CredentialResolver(source)
    env.workload_token(source.workload_name)  # warm nothing in the resolver itself
    barrier = threading.Barrier(1000)
    results: list[str] = []
    before = env.call_count("GetResourceApiKey")

    def call() -> None:
        barrier.wait()
        results.append(resolver.get_api_key(name).reveal())

    threads = [threading.Thread(target=call) for _ in range(1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert env.call_count("GetResourceApiKey") - before == 1
    assert set(results) == {"stampede-value-123456"}


async def test_thousand_tasks_one_call_counted_by_emulator(env: LocalAgentCore) -> None:
    """1000 concurrent tasks on a cold key: exactly one GetResourceApiKey."""
    name, _ = env.create_api_key_provider("stampede-async-123456")
    resolver = CredentialResolver(identity_source(env))
    before = env.call_count("GetResourceApiKey")
    results = await asyncio.gather(*(resolver.aget_api_key(name) for _ in range(1000)))
    assert env.call_count("GetResourceApiKey") - before == 1
    assert len(set(results)) == 1


def test_user_federation_raises_with_url_when_not_waiting(env: LocalAgentCore) -> None:
    """Without on_auth_url, consent needed is an AuthorizationRequiredError with URL and session."""
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env))
    with identity_context(user_id="alice"), pytest.raises(AuthorizationRequiredError) as info:
        resolver.get_oauth2_token(
            oauth, scopes=["read"], auth_flow="USER_FEDERATION", callback_url=RETURN_URL
        )
    assert info.value.authorization_url.startswith("http://127.0.0.1")
    assert info.value.session_uri
    assert "alice" not in str(info.value)


def test_user_federation_waits_for_consent_and_isolates_users(env: LocalAgentCore) -> None:
    """on_auth_url is called, consent completes in the 'browser', polling gets alice's token."""
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env), consent_poll_interval=0.05)
    consents: list[threading.Thread] = []

    def user_consents(user: str) -> Any:
        def on_auth_url(url: str) -> None:
            thread = threading.Thread(
                target=env.complete_consent, args=(url,), kwargs={"user_id": user}
            )
            consents.append(thread)
            thread.start()

        return on_auth_url

    tokens = {}
    for user in ("alice", "bob"):
        with identity_context(user_id=user):
            tokens[user] = resolver.get_oauth2_token(
                oauth,
                scopes=["read"],
                auth_flow="USER_FEDERATION",
                callback_url=RETURN_URL,
                on_auth_url=user_consents(user),
            )
    for thread in consents:
        thread.join()
    assert tokens["alice"] != tokens["bob"]
    assert (
        env.validate_oauth_token(tokens["alice"].reveal())["sub"]
        != env.validate_oauth_token(tokens["bob"].reveal())["sub"]
    )
    with identity_context(user_id="alice"):  # cached per user
        again = resolver.get_oauth2_token(
            oauth, scopes=["read"], auth_flow="USER_FEDERATION", callback_url=RETURN_URL
        )
    assert again is tokens["alice"]


def test_on_behalf_of_token_exchange_per_user(env: LocalAgentCore) -> None:
    """With a user JWT in the identity context, each user gets a token exchanged for them."""
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env))
    tokens = {}
    for user in ("grace", "heidi"):
        with identity_context(user_token=env.issue_user_token(user)):
            tokens[user] = resolver.get_oauth2_token(
                oauth, scopes=["api"], auth_flow="ON_BEHALF_OF_TOKEN_EXCHANGE",
                audiences=["https://api.example.com"])
    for user, token in tokens.items():
        claims = env.validate_oauth_token(token.reveal(), audience="https://api.example.com")
        assert claims["sub"] == user
    assert resolver.stats.upstream_calls == 2


def test_user_federation_without_user_is_configuration_error(env: LocalAgentCore) -> None:
    """A user-bound flow with no identity says how to provide one."""
    resolver = CredentialResolver(identity_source(env))
    with pytest.raises(ConfigurationError, match="identity_context"):
        resolver.get_oauth2_token("anything", scopes=["read"], auth_flow="USER_FEDERATION")


def test_stale_if_error_within_and_past_grace(env: LocalAgentCore) -> None:
    """Throttled after botocore's retries: stale value within the grace, clear error past it."""
    name, _ = env.create_api_key_provider("stale-value-123456")
    clock = ManualClock()
    resolver = CredentialResolver(
        identity_source(env, max_attempts=2), ttl=10, stale_if_error=20, timer=clock
    )
    good = resolver.get_api_key(name)
    env.inject_fault("GetResourceApiKey", "ThrottlingException", rate=1.0)
    before = env.call_count("GetResourceApiKey")
    clock.now += 15  # expired 5s ago: within the grace
    assert resolver.get_api_key(name) is good
    assert env.call_count("GetResourceApiKey") - before == 2  # max_attempts=2: one retry
    assert resolver.stats.stale_serves == 1
    clock.now += 40  # expired 45s ago: past the grace
    with pytest.raises(SourceUnavailableError, match="ThrottlingException"):
        resolver.get_api_key(name)
    env.clear_faults()
    assert resolver.get_api_key(name).reveal() == "stale-value-123456"


def test_missing_resource_policy_grant_is_access_denied(env: LocalAgentCore) -> None:
    """A secret whose policy does not grant the service principal is denied, with the fix."""
    name, arn = env.create_api_key_provider("denied-value-123456", policy=None)
    resolver = CredentialResolver(identity_source(env))
    with pytest.raises(AccessDeniedError) as info:
        resolver.get_api_key(name)
    message = str(info.value)
    assert "secretsmanager:GetSecretValue" in message and arn in message
    assert "denied-value-123456" not in message
    assert info.value.provider_name == name
    assert info.value.__cause__ is not None


def test_missing_kms_decrypt_is_access_denied(env: LocalAgentCore) -> None:
    """A customer managed key that does not allow the service kms:Decrypt is denied."""
    key = env.create_kms_key(grant_service=False)
    name, _ = env.create_api_key_provider("kms-value-123456", kms_key_id=key)
    resolver = CredentialResolver(identity_source(env))
    with pytest.raises(AccessDeniedError, match="kms:Decrypt"):
        resolver.get_api_key(name)


def test_unknown_provider_is_not_found(env: LocalAgentCore) -> None:
    """An unknown provider name is CredentialNotFoundError naming it."""
    resolver = CredentialResolver(identity_source(env))
    with pytest.raises(CredentialNotFoundError, match="no-such-provider"):
        resolver.get_api_key("no-such-provider")


def test_no_workload_identity_is_configuration_error(env: LocalAgentCore) -> None:
    """Outside Runtime and without workload_name, the error says how to provide a token."""
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region)
    with pytest.raises(ConfigurationError, match="workload_name"):
        CredentialResolver(source).get_api_key("weather")


def test_explicit_workload_token_is_used(env: LocalAgentCore) -> None:
    """A workload access token passed for the request is used as is."""
    name, _ = env.create_api_key_provider("explicit-value-123456")
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region)
    token = env.workload_token()
    resolver = CredentialResolver(source)
    assert (
        resolver.get_api_key(name, workload_access_token=token).reveal() == "explicit-value-123456"
    )
    with identity_context(workload_access_token=token):
        assert resolver.get_api_key(name).reveal() == "explicit-value-123456"


# --- SecretsManagerSource ----------------------------------------------------------------


def sm_source(env: LocalAgentCore, refs: dict[str, SecretRef]) -> SecretsManagerSource:
    return SecretsManagerSource(refs, endpoint_url=env.aws_endpoint_url, region=env.region)


def test_secrets_manager_source_reads_current_and_rotates(env: LocalAgentCore) -> None:
    """Straight from Secrets Manager: AWSCURRENT, and the rotated value after invalidation."""
    arn = env.create_secret(env.unique_name("sm"), {"k": "sm-value-123456"})
    resolver = CredentialResolver(sm_source(env, {"weather": SecretRef(arn, "k")}))
    first = resolver.get_api_key("weather")
    assert first.reveal() == "sm-value-123456"
    env.rotate_secret(arn, {"k": "sm-value-rotated"})
    resolver.invalidate("weather")
    assert resolver.get_api_key("weather").reveal() == "sm-value-rotated"


def test_secrets_manager_cross_account_same_region(env: LocalAgentCore) -> None:
    """Another account's secret in the same Region resolves (with the owner's header in moto)."""
    other = "222233334444"
    arn = env.create_secret(
        env.unique_name("xacct"), {"k": "other-account-value"}, account_id=other
    )
    assert SecretRef(arn, "k").account == other
    client = env.client("secretsmanager", account_id=other)
    resolver = CredentialResolver(SecretsManagerSource({"p": SecretRef(arn, "k")}, client=client))
    assert resolver.get_api_key("p").reveal() == "other-account-value"


def test_secrets_manager_cross_region_refused() -> None:
    """A secret in another Region than the client is refused when the source is made."""
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:weather-AbCdEf"
    with pytest.raises(ConfigurationError, match="cross-Region"):
        SecretsManagerSource({"weather": SecretRef(arn, "k")}, region="us-east-1")


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ({"other": "x-value-123456"}, CredentialNotFoundError, "JSON key 'k' is not in"),
        ("not json at all", ConfigurationError, "not JSON"),
        ({"k": 42}, ConfigurationError, "holds a int"),
        ({"k": ""}, ConfigurationError, "is empty"),
        (b"binary-only-secret", ConfigurationError, "SecretBinary"),
    ],
)
def test_secrets_manager_bad_contents(
    env: LocalAgentCore, value: Any, error: type[Exception], match: str
) -> None:
    """Malformed secret contents give a clear error naming the key and ARN, never the value."""
    arn = env.create_secret(env.unique_name("bad"), value)
    resolver = CredentialResolver(sm_source(env, {"p": SecretRef(arn, "k")}))
    with pytest.raises(error, match=match) as info:
        resolver.get_api_key("p")
    assert arn in str(info.value)
    assert "x-value-123456" not in str(info.value) and "binary-only" not in str(info.value)


def test_secrets_manager_deleted_secret(env: LocalAgentCore) -> None:
    """A secret scheduled for deletion is CredentialNotFoundError saying how to restore it."""
    arn = env.create_secret(env.unique_name("gone"), {"k": "gone-value-123456"})
    env.client("secretsmanager").delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    resolver = CredentialResolver(sm_source(env, {"p": SecretRef(arn, "k")}))
    with pytest.raises(CredentialNotFoundError, match="restore-secret"):
        resolver.get_api_key("p")


def test_unknown_provider_in_secrets_manager_source(env: LocalAgentCore) -> None:
    """Asking for a provider with no SecretRef lists the configured ones."""
    arn = env.create_secret(env.unique_name("sm"), {"k": "known-value-123456"})
    resolver = CredentialResolver(sm_source(env, {"known": SecretRef(arn, "k")}))
    with pytest.raises(CredentialNotFoundError, match="configured: known"):
        resolver.get_api_key("unknown")


def test_values_never_reach_debug_logs(
    env: LocalAgentCore, caplog: pytest.LogCaptureFixture
) -> None:
    """With every logger at DEBUG, resolved values appear in no log record (botocore's too)."""
    name, _ = env.create_api_key_provider("canary-value-8d1f3a2b")
    oauth = env.create_oauth2_provider()[0]
    source = identity_source(env)
    caplog.set_level(logging.DEBUG)  # from here on: only what the library does
    caplog.clear()
    resolver = CredentialResolver(source)
    key = resolver.get_api_key(name)
    token = resolver.get_oauth2_token(oauth, scopes=["read"])
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "Response body" in text  # botocore's body logging really was captured
    assert "[REDACTED:" in text
    for value in (key.reveal(), token.reveal()):
        assert value not in text


@pytest.mark.parametrize("redact_logs", [False, True])
def test_redact_logs_option_decides_log_redaction(
    env: LocalAgentCore, redact_logs: bool
) -> None:
    """redact_logs=False leaves logging alone; the default installs redaction before fetching."""
    from agentcore_auth import install_log_redaction, uninstall_log_redaction

    name, _ = env.create_api_key_provider("option-value-123456")
    uninstall_log_redaction()
    handle = logging.Logger.handle
    try:
        CredentialResolver(identity_source(env), redact_logs=redact_logs).get_api_key(name)
        assert (logging.Logger.handle is not handle) is redact_logs
    finally:
        install_log_redaction()  # as the rest of the session expects
