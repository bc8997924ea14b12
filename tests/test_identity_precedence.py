"""A user id and a user token together are refused, unless a precedence is chosen on purpose."""

from __future__ import annotations

import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    ConfigurationError,
    CredentialResolver,
    Identity,
    Secret,
    identity_context,
)
from agentcore_auth.testing import LocalAgentCore

AMBIGUOUS = "a user_id and a user_token were given together"


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    local_agentcore.clear_faults()
    return local_agentcore


@pytest.fixture
def resolver(env: LocalAgentCore) -> CredentialResolver:
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region,
                                     workload_name=env.create_workload(), max_attempts=1)
    return CredentialResolver(source)


def _calls(env: LocalAgentCore) -> tuple[int, int]:
    return (env.call_count("GetWorkloadAccessTokenForJWT"),
            env.call_count("GetWorkloadAccessTokenForUserId"))


def test_identity_context_refuses_both(env: LocalAgentCore) -> None:
    """alice's JWT next to user_id='bob' is refused, and the message hides the JWT."""
    jwt = env.issue_user_token("alice")
    with pytest.raises(ConfigurationError, match=AMBIGUOUS) as info:
        with identity_context(user_token=jwt, user_id="bob"):
            pass  # pragma: no cover - never entered
    assert "prefer='user_token'" in str(info.value)
    assert jwt not in str(info.value) + repr(info.value)


def test_identity_dataclass_refuses_both() -> None:
    """Building an Identity directly is refused the same way."""
    with pytest.raises(ConfigurationError, match=AMBIGUOUS):
        Identity(user_id="bob", user_token=Secret("header.payload.signature"))


@pytest.mark.parametrize("call", ["get_api_key", "get_oauth2_token"])
def test_resolver_arguments_refuse_both(env: LocalAgentCore, resolver: CredentialResolver,
                                        call: str) -> None:
    """get_api_key / get_oauth2_token with both arguments: refused before any AWS call."""
    jwt = env.issue_user_token("alice")
    name, _ = env.create_api_key_provider("precedence-value-1234")
    before = _calls(env)
    kwargs = {"scopes": ["r"], "auth_flow": "USER_FEDERATION"} if call == "get_oauth2_token" else {}
    with pytest.raises(ConfigurationError, match=AMBIGUOUS):
        getattr(resolver, call)(name, user_id="bob", user_token=jwt, **kwargs)
    assert _calls(env) == before and resolver.stats.upstream_calls == 0


async def test_async_resolver_arguments_refuse_both(env: LocalAgentCore,
                                                    resolver: CredentialResolver) -> None:
    """The async twins refuse the same way."""
    jwt = env.issue_user_token("alice")
    with pytest.raises(ConfigurationError, match=AMBIGUOUS):
        await resolver.aget_api_key("p", user_id="bob", user_token=jwt)
    with pytest.raises(ConfigurationError, match=AMBIGUOUS):
        await resolver.aget_oauth2_token("p", scopes=["r"], auth_flow="USER_FEDERATION",
                                         user_id="bob", user_token=jwt)


@pytest.mark.parametrize("prefer", ["user_token", "user_id"])
def test_prefer_chooses_who_decides(env: LocalAgentCore, resolver: CredentialResolver,
                                    prefer: str) -> None:
    """prefer='user_token': the JWT decides (ForJWT); prefer='user_id': the id (ForUserId)."""
    jwt = env.issue_user_token("alice")
    name, _ = env.create_api_key_provider("precedence-value-5678")
    before = _calls(env)
    with identity_context(user_token=jwt, user_id="bob", prefer=prefer) as identity:  # type: ignore[arg-type]
        assert resolver.get_api_key(name).reveal() == "precedence-value-5678"
    if prefer == "user_token":
        assert identity.user_id is None and identity.user_token == Secret(jwt)
        assert _calls(env) == (before[0] + 1, before[1])
    else:
        assert identity.user_id == "bob" and identity.user_token is None
        assert _calls(env) == (before[0], before[1] + 1)


def test_prefer_must_name_a_field() -> None:
    """A misspelt precedence is refused rather than ignored."""
    with pytest.raises(ConfigurationError, match="prefer must be 'user_id' or 'user_token'"):
        with identity_context(user_id="bob", prefer="jwt"):  # type: ignore[arg-type]
            pass  # pragma: no cover


def test_one_of_them_is_fine() -> None:
    """Either alone, with or without a workload token, still works."""
    with identity_context(user_id="bob", workload_access_token="wat-123456789") as a:
        assert a.user_id == "bob"
    with identity_context(user_token="header.payload.sig", prefer="user_token") as b:
        assert b.user_token is not None and b.user_id is None
