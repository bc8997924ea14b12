"""AWS configuration: the Region order of the AWS SDKs, and profile/credential/Region errors
that are ConfigurationError naming the fix, never retried or served stale."""

from __future__ import annotations

import io
import os
from pathlib import Path

import boto3
import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    ConfigurationError,
    CredentialResolver,
    SecretRef,
    SecretsManagerSource,
    SourceUnavailableError,
)
from agentcore_auth._demo import run_demo
from agentcore_auth._providers import control_client
from agentcore_auth.testing import LocalAgentCore, ManualClock

PROFILE_FIX = "aws configure --profile prod"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS config file whose default profile says ap-south-1 and profile 'other' sa-east-1."""
    path = tmp_path / "config"
    path.write_text("[default]\nregion = ap-south-1\n[profile other]\nregion = sa-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.mark.parametrize(("env", "expected"), [
    ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"}, "eu-west-1"),
    ({"AWS_REGION": "eu-west-1", "AWS_PROFILE": "other"}, "eu-west-1"),
    ({"AWS_DEFAULT_REGION": "us-east-2"}, "us-east-2"),
    ({"AWS_PROFILE": "other"}, "sa-east-1"),
    ({}, "ap-south-1"),
])
def test_region_order(config: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                      expected: str) -> None:
    """AWS_REGION, then AWS_DEFAULT_REGION, then the profile: for every client the library makes."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert AgentCoreIdentitySource(workload_name="w").region == expected
    assert control_client().meta.region_name == expected
    arn = f"arn:aws:secretsmanager:{expected}:111122223333:secret:k-AbCdEf"
    assert SecretsManagerSource({"p": SecretRef(arn, "k")})._clients.region == expected


def test_explicit_region_wins(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """region= and a Session made with a Region beat AWS_REGION."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert AgentCoreIdentitySource(region="us-west-2").region == "us-west-2"
    session = boto3.session.Session(region_name="ca-central-1")
    assert AgentCoreIdentitySource(session=session).region == "ca-central-1"
    # A Session without its own Region follows the environment like the rest.
    assert AgentCoreIdentitySource(session=boto3.session.Session()).region == "eu-west-1"


def test_aws_region_alone_reaches_the_service(local_agentcore: LocalAgentCore,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Only AWS_REGION set (as on AgentCore Runtime and Lambda): a real resolve works."""
    env = local_agentcore
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_REGION", env.region)
    name, _ = env.create_api_key_provider("region-from-aws-region-1")
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url,
                                     workload_name=env.create_workload())
    assert CredentialResolver(source).get_api_key(name).reveal() == "region-from-aws-region-1"


def test_missing_profile_is_a_configuration_error(local_agentcore: LocalAgentCore,
                                                  config: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_PROFILE=prod on a machine without it: ConfigurationError saying how to fix it."""
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    env = local_agentcore
    identity = CredentialResolver(AgentCoreIdentitySource(endpoint_url=env.endpoint_url,
                                                          workload_name="w"))
    sm = CredentialResolver(SecretsManagerSource(
        {"p": SecretRef("arn:aws:secretsmanager:us-east-1:111122223333:secret:k-AbCdEf", "k")},
        endpoint_url=env.aws_endpoint_url))
    for resolver in (identity, sm):
        with pytest.raises(ConfigurationError) as info:
            resolver.get_api_key("p")
        assert not isinstance(info.value, SourceUnavailableError)
        assert PROFILE_FIX in str(info.value) and "AWS_PROFILE" in str(info.value)
        assert resolver.stats.stale_serves == 0


@pytest.mark.parametrize("code", ["ExpiredTokenException", "UnrecognizedClientException"])
def test_bad_aws_credentials_are_never_served_stale(local_agentcore: LocalAgentCore,
                                                    code: str) -> None:
    """The service refusing the caller's AWS credentials is a ConfigurationError, even with
    a stale value at hand (throttling, for comparison, is bridged with it)."""
    env = local_agentcore
    env.clear_faults()
    name, _ = env.create_api_key_provider("stale-candidate-value-1")
    clock = ManualClock(0.0)
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region,
                                     workload_name=env.create_workload(), max_attempts=1)
    resolver = CredentialResolver(source, ttl=1.0, stale_if_error=300.0, timer=clock)
    resolver.get_api_key(name)
    clock.advance(5.0)
    try:
        env.inject_fault("GetResourceApiKey", code)
        with pytest.raises(ConfigurationError) as info:
            resolver.get_api_key(name)
        assert code in str(info.value) and "AWS_PROFILE" in str(info.value)
        assert resolver.stats.stale_serves == 0
        env.inject_fault("GetResourceApiKey", "ThrottlingException")
        assert resolver.get_api_key(name).reveal() == "stale-candidate-value-1"
        assert resolver.stats.stale_serves == 1
    finally:
        env.clear_faults()


def test_demo_is_hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A missing AWS_PROFILE, a broken config file and real-looking keys neither break nor
    reach the demo; the environment is restored afterwards."""
    broken = tmp_path / "config"
    broken.write_text("[default]\ncredential_process = /bin/false\n[broken\n")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(broken))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://example.invalid")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    before = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    result = run_demo(io.StringIO(), use_agent=False)
    assert result.exit_code == 0, "\n".join(result.lines)
    assert {k: v for k, v in os.environ.items() if k.startswith("AWS_")} == before
