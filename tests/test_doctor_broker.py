"""`doctor --broker`: a CredentialBroker provider's referenced secret, checked like AgentCore's."""

from __future__ import annotations

import pytest

from agentcore_auth._doctor import diagnose_broker
from agentcore_auth.testing import LocalAgentCore


@pytest.fixture
def env(local_agentcore: LocalAgentCore, monkeypatch: pytest.MonkeyPatch) -> LocalAgentCore:
    for name, value in local_agentcore.env_vars().items():
        monkeypatch.setenv(name, value)
    return local_agentcore


def statuses(report: object) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}  # type: ignore[attr-defined]


def test_broker_provider_passes_with_the_broker_principal(env: LocalAgentCore) -> None:
    """A provider whose secret grants credentialbroker.amazonaws.com passes, by name or ARN."""
    pool = env.create_broker_pool()
    arn, _ = env.create_broker_api_key_provider(pool, "doctor-key-abcdef-0001", name="doc-key")
    for provider in ("doc-key", arn):
        report = diagnose_broker(provider, region=env.region)
        assert report.ok, report.failures
        assert statuses(report)["resource-policy"] == "pass"
        assert "doctor-key-abcdef-0001" not in repr(report.to_dict())


def test_secret_granting_only_agentcore_fails_with_the_fix(env: LocalAgentCore) -> None:
    """A policy for bedrock-agentcore only: the broker check fails, naming its principal."""
    pool = env.create_broker_pool()
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    secret = env.create_secret(env.unique_name("doc"), {"api_key": "k" * 20}, policy=policy)
    arn, _ = env.create_broker_api_key_provider(pool, secret_arn=secret)
    report = diagnose_broker(arn, region=env.region)
    assert not report.ok
    failed = {c.name: c for c in report.failures}
    assert "credentialbroker.amazonaws.com" in failed["resource-policy"].detail
    assert "credentialbroker.amazonaws.com" in (failed["resource-policy"].fix or "")
