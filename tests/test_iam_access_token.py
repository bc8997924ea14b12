"""requires_iam_access_token and requires_wat against LocalAgentCore's STS and IAM."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import urllib.request

import jwt
import pytest

from agentcore_auth import (
    ConfigurationError,
    CredentialResolver,
    StsWebIdentitySource,
    identity_context,
    requires_iam_access_token,
    requires_wat,
)
from agentcore_auth.testing import LocalAgentCore

AUD = "https://api.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    iam = local_agentcore.client("iam")
    try:
        iam.enable_outbound_web_identity_federation()
    except iam.exceptions.FeatureEnabledException:
        pass
    return local_agentcore


def _resolver(env: LocalAgentCore, **kwargs: object) -> CredentialResolver:
    return CredentialResolver(StsWebIdentitySource(client=env.client("sts")), **kwargs)


def _verify(env: LocalAgentCore, token: str, alg: str) -> dict[str, object]:
    client = jwt.PyJWKClient(env.web_identity.jwks_url(env.account_id))
    key = client.get_signing_key_from_jwt(token)
    assert jwt.get_unverified_header(token)["kid"] == key.key_id
    return jwt.decode(token, key.key, algorithms=[alg], audience=AUD)


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_emulator_tokens_verify_with_pyjwkclient(env: LocalAgentCore, alg: str) -> None:
    answer = env.client("sts").get_web_identity_token(
        Audience=[AUD], SigningAlgorithm=alg, DurationSeconds=120,
        Tags=[{"Key": "team", "Value": "data"}])
    claims = _verify(env, answer["WebIdentityToken"], alg)
    assert claims["iss"] == env.client("iam").get_outbound_web_identity_federation_info()[
        "IssuerIdentifier"]
    assert claims["exp"] == claims["iat"] + 120 == int(answer["Expiration"].timestamp())
    assert claims["sub"] == env.client("sts").get_caller_identity()["Arn"]
    assert claims["https://sts.amazonaws.com/"]["request_tags"] == {"team": "data"}
    with urllib.request.urlopen(f"{claims['iss']}/.well-known/openid-configuration") as r:  # noqa: S310
        assert json.load(r)["issuer"] == claims["iss"]


def test_assumed_role_subject_and_other_iam_calls_reach_moto(env: LocalAgentCore) -> None:
    iam, sts = env.client("iam"), env.client("sts")
    role = iam.create_role(RoleName=env.unique_name("role"), AssumeRolePolicyDocument="{}")
    creds = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="tests",
                            DurationSeconds=900)["Credentials"]
    as_role = env.client("sts", aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    token = as_role.get_web_identity_token(Audience=[AUD], SigningAlgorithm="ES384")
    assert _verify(env, token["WebIdentityToken"], "ES384")["sub"] == role["Role"]["Arn"]
    with pytest.raises(as_role.exceptions.SessionDurationEscalationException):
        as_role.get_web_identity_token(Audience=[AUD], SigningAlgorithm="ES384",
                                       DurationSeconds=3600)


def test_disabled_federation_is_a_configuration_error_naming_the_fix(
        local_agentcore: LocalAgentCore) -> None:
    env = local_agentcore
    other = "210987654321"
    sts = env.client("sts", account_id=other)
    with pytest.raises(sts.exceptions.OutboundWebIdentityFederationDisabledException):
        sts.get_web_identity_token(Audience=[AUD], SigningAlgorithm="RS256")
    resolver = CredentialResolver(StsWebIdentitySource(client=sts))

    @requires_iam_access_token(audience=[AUD], resolver=resolver)
    def tool(*, access_token: str) -> str:
        return "ran"

    with pytest.raises(ConfigurationError, match="enable-outbound-web-identity-federation"):
        tool()
    iam = env.client("iam", account_id=other)
    iam.enable_outbound_web_identity_federation()
    assert tool() == "ran"
    iam.disable_outbound_web_identity_federation()
    assert iam.exceptions.FeatureDisabledException


@pytest.mark.parametrize("kwargs", [
    {"audience": []}, {"audience": [AUD], "signing_algorithm": "HS256"},
    {"audience": [AUD], "duration_seconds": 59}, {"audience": [AUD], "duration_seconds": 3601},
    {"audience": [AUD], "token_type": "JWT_SVID", "subject_mode": "AWSIdentity"},
    {"audience": [AUD], "scope": "read"},
])
def test_bad_arguments_are_value_errors_at_decoration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        requires_iam_access_token(**kwargs)  # type: ignore[arg-type]


def test_cached_hidden_scrubbed_and_replaced_before_expiry(
        env: LocalAgentCore, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    resolver = _resolver(env, timer=clock)
    seen: list[str] = []

    @requires_iam_access_token(audience=[AUD], duration_seconds=60, resolver=resolver)
    def tool(q: str, *, access_token: str) -> str:
        seen.append(access_token)
        logging.getLogger("tool").warning("token %s", access_token)
        return f"{q}:{access_token}"

    assert "access_token" not in inspect.signature(tool).parameters
    before = env.call_count("GetWebIdentityToken")
    with caplog.at_level(logging.WARNING):
        results = [tool("x") for _ in range(20)]
    assert env.call_count("GetWebIdentityToken") - before == 1
    assert len(set(seen)) == 1 and seen[0] not in results[0] and seen[0] not in caplog.text
    claims = _verify(env, seen[0], "ES384")
    assert claims["exp"] - claims["iat"] == 60
    # The cache turns the token's Expiration into the injected clock's time at the
    # fetch, so a loaded machine's delay (and iat's whole seconds) shortens it a little.
    clock.now += 25  # within exp - expiry_skew (30 s), with a 5 s margin: still cached
    tool("x")
    assert env.call_count("GetWebIdentityToken") - before == 1
    clock.now += 7  # past it: replaced before the 60 s token expires
    tool("x")
    assert env.call_count("GetWebIdentityToken") - before == 2 and seen[-1] != seen[0]
    resolver.close()


def test_distinct_requests_get_distinct_tokens(env: LocalAgentCore) -> None:
    resolver = _resolver(env)
    tokens = []
    for kwargs in ({}, {"signing_algorithm": "RS256"}, {"tags": {"a": "b"}},
                   {"duration_seconds": 120}):
        @requires_iam_access_token(audience=[AUD], resolver=resolver, **kwargs)  # type: ignore[arg-type]
        def tool(*, access_token: str) -> str:
            return access_token

        tokens.append(resolver.resolve(tool.__agentcore_auth__.request).reveal())
    assert len(set(tokens)) == 4
    resolver.close()


def test_concurrent_cold_callers_make_one_sts_call(env: LocalAgentCore) -> None:
    resolver = _resolver(env)
    env.inject_fault("GetWebIdentityToken", None, latency=0.3)

    @requires_iam_access_token(audience=[AUD, "threads"], resolver=resolver)
    def tool(*, access_token: str) -> str:
        return "ok"

    @requires_iam_access_token(audience=[AUD, "tasks"], resolver=resolver)
    async def atool(*, access_token: str) -> str:
        return "ok"

    try:
        before = env.call_count("GetWebIdentityToken")
        threads = [threading.Thread(target=tool) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert env.call_count("GetWebIdentityToken") - before == 1

        async def many() -> list[str]:
            return await asyncio.gather(*(atool() for _ in range(16)))

        assert asyncio.run(many()) == ["ok"] * 16
        assert env.call_count("GetWebIdentityToken") - before == 2
    finally:
        env.clear_faults("GetWebIdentityToken")
        resolver.close()


def test_sts_errors_map_to_configuration_errors(env: LocalAgentCore) -> None:
    resolver = _resolver(env)
    env.inject_fault("GetWebIdentityToken", "RegionalSignerUnavailableException", count=1)

    @requires_iam_access_token(audience=[AUD, "errors"], resolver=resolver)
    async def atool(*, access_token: str) -> str:
        return "ok"

    try:
        with pytest.raises(ConfigurationError, match="RegionalSignerUnavailableException"):
            asyncio.run(atool())
        assert asyncio.run(atool()) == "ok"
    finally:
        env.clear_faults("GetWebIdentityToken")

    @requires_iam_access_token(audience=[AUD], token_type="JWT_SVID", resolver=resolver)
    def svid(*, access_token: str) -> str:
        return "ok"

    with pytest.raises(ConfigurationError, match="JWT signer"):
        svid()
    resolver.close()


def test_requires_wat_injects_hides_and_scrubs() -> None:
    wat = "wat-" + "x" * 40

    @requires_wat()
    def tool(q: str, *, identity_wat: str) -> str:
        return f"{q} {identity_wat}"

    @requires_wat(into="token")
    async def atool(*, token: str) -> str:
        return token

    assert list(inspect.signature(tool).parameters) == ["q"]
    with pytest.raises(ConfigurationError, match="identity_context"):
        tool("x")
    with identity_context(workload_access_token=wat):
        out = tool("x")
        assert wat not in out and out.startswith("x ")
        assert wat not in asyncio.run(atool())

    @requires_wat(scrub_result=False)
    def control(*, identity_wat: str) -> str:
        return identity_wat

    with identity_context(workload_access_token=wat):
        assert control() == wat  # the control: without scrubbing the token is what it got


def test_doctor_reports_federation_and_issuer(env: LocalAgentCore) -> None:
    from agentcore_auth._doctor_web_identity import diagnose_web_identity

    report = diagnose_web_identity(client=env.client("iam"))
    issuer = env.web_identity.issuer(env.account_id)
    assert report.ok and issuer and issuer in report.checks[0].detail
    off = diagnose_web_identity(client=env.client("iam", account_id="333333333333"))
    assert not off.ok and "enable-outbound-web-identity-federation" in (off.checks[0].fix or "")
