"""Referenced (EXTERNAL) secrets: read anew, policy checks, and errors that never leak values."""

from __future__ import annotations

import logging
from typing import Any

import botocore.exceptions
import pytest

from agentcore_auth.testing import SERVICE_PRINCIPAL, LocalAgentCore

CANARY = "canary-value-7f3a9c"


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def data(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore")


@pytest.fixture
def token(env: LocalAgentCore) -> str:
    return env.workload_token()


def provider_for(env: LocalAgentCore, arn: str, json_key: str = "key") -> str:
    name = env.unique_name("ext")
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=name,
        apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": json_key},
    )
    return name


def fetch(data: Any, token: str, name: str) -> str:
    return str(
        data.get_resource_api_key(workloadIdentityToken=token, resourceCredentialProviderName=name)[
            "apiKey"
        ]
    )


def failure(data: Any, token: str, name: str) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        fetch(data, token, name)
    error = info.value.response["Error"]
    assert CANARY not in str(info.value)
    return error["Code"], error["Message"]


def test_rotation_seen_on_next_read(env: LocalAgentCore, data: Any, token: str) -> None:
    """A new AWSCURRENT is what the next read returns; the provider is unchanged."""
    arn = env.create_secret(env.unique_name("rot"), {"key": "v1", "other": "x"})
    name = provider_for(env, arn)
    assert fetch(data, token, name) == "v1"
    env.rotate_secret(arn, {"key": "v2"})
    assert fetch(data, token, name) == "v2"


def test_cross_account_same_region_resolves(env: LocalAgentCore, data: Any, token: str) -> None:
    """Another account's secret in the same Region, under a shared CMK, resolves anew."""
    key = env.create_kms_key(account_id="210987654321")
    arn = env.create_secret(env.unique_name("xa"), {"key": "from-other-account"},
                            kms_key_id=key, account_id="210987654321")
    assert fetch(data, token, provider_for(env, arn)) == "from-other-account"
    env.rotate_secret(arn, {"key": "rotated-other"})
    assert fetch(data, token, provider_for(env, arn)) == "rotated-other"


@pytest.mark.parametrize("managed_key", [None, "alias/aws/secretsmanager"])
def test_cross_account_with_aws_managed_key_denied(
    env: LocalAgentCore, data: Any, token: str, managed_key: str | None
) -> None:
    """Another account's secret under aws/secretsmanager cannot be decrypted by the service."""
    arn = env.create_secret(env.unique_name("xa"), {"key": CANARY}, kms_key_id=managed_key,
                            account_id="210987654321")
    code, message = failure(data, token, provider_for(env, arn))
    assert code == "AccessDeniedException"
    assert arn in message and "aws/secretsmanager" in message
    assert "customer managed KMS key" in message and "--kms-key-id" in message
    # the same secret in the service's own account is fine with the AWS managed key
    own = env.create_secret(env.unique_name("own"), {"key": "mine"}, kms_key_id=managed_key)
    assert fetch(data, token, provider_for(env, own)) == "mine"


def test_missing_resource_policy_grant(env: LocalAgentCore, data: Any, token: str) -> None:
    """No resource policy: AccessDenied naming secretsmanager:GetSecretValue, the ARN and fix."""
    arn = env.create_secret(env.unique_name("nopol"), {"key": CANARY}, policy=None)
    code, message = failure(data, token, provider_for(env, arn))
    assert code == "AccessDeniedException"
    assert "secretsmanager:GetSecretValue" in message and arn in message
    assert SERVICE_PRINCIPAL in message and "put-resource-policy" in message


def test_policy_for_other_principal_denied(env: LocalAgentCore, data: Any, token: str) -> None:
    """A resource policy granting someone else is not a grant to the service."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        ]
    }
    arn = env.create_secret(env.unique_name("other"), {"key": CANARY}, policy=policy)
    code, message = failure(data, token, provider_for(env, arn))
    assert code == "AccessDeniedException" and "no statement" in message


def test_explicit_deny_and_conditions_reported(env: LocalAgentCore, data: Any, token: str) -> None:
    """An explicit Deny is named, and conditions are reported as not judged."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": SERVICE_PRINCIPAL},
                "Action": "secretsmanager:*",
                "Resource": "*",
            },
            {
                "Sid": "DenyOutsideOrg",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}},
            },
        ]
    }
    arn = env.create_secret(env.unique_name("deny"), {"key": CANARY}, policy=policy)
    code, message = failure(data, token, provider_for(env, arn))
    assert code == "AccessDeniedException"
    assert "DenyOutsideOrg" in message and "StringNotEquals aws:PrincipalOrgID" in message


def test_allow_with_condition_is_assumed_to_hold(
    env: LocalAgentCore, data: Any, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An Allow with a condition resolves, and the unjudged condition is logged."""
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": SERVICE_PRINCIPAL},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        ]
    }
    arn = env.create_secret(env.unique_name("cond"), {"key": "ok"}, policy=policy)
    with caplog.at_level(logging.INFO, logger="agentcore_auth.testing"):
        assert fetch(data, token, provider_for(env, arn)) == "ok"
    assert "aws:SourceAccount" in caplog.text


def test_customer_managed_key_without_decrypt_grant(
    env: LocalAgentCore, data: Any, token: str
) -> None:
    """A CMK whose policy lacks kms:Decrypt for the service: AccessDenied naming key and fix."""
    key = env.create_kms_key(grant_service=False)
    arn = env.create_secret(env.unique_name("cmk"), {"key": CANARY}, kms_key_id=key)
    code, message = failure(data, token, provider_for(env, arn))
    assert code == "AccessDeniedException"
    assert "kms:Decrypt" in message and key in message and arn in message
    assert "put-key-policy" in message


def test_customer_managed_key_with_grant(env: LocalAgentCore, data: Any, token: str) -> None:
    """A CMK that grants the service kms:Decrypt works, in this and another account."""
    key = env.create_kms_key()
    arn = env.create_secret(env.unique_name("cmk"), {"key": "cmk-ok"}, kms_key_id=key)
    assert fetch(data, token, provider_for(env, arn)) == "cmk-ok"
    other_key = env.create_kms_key(account_id="210987654321")
    other = env.create_secret(
        env.unique_name("cmk"),
        {"key": "cmk-other"},
        kms_key_id=other_key,
        account_id="210987654321",
    )
    assert fetch(data, token, provider_for(env, other)) == "cmk-other"


def test_disabled_key(env: LocalAgentCore, data: Any, token: str) -> None:
    """A disabled CMK is a ValidationException saying so."""
    key = env.create_kms_key()
    arn = env.create_secret(env.unique_name("off"), {"key": CANARY}, kms_key_id=key)
    env.client("kms").disable_key(KeyId=key.split("/")[-1])  # moto wants the id
    code, message = failure(data, token, provider_for(env, arn))
    assert code == "ValidationException" and "Disabled" in message and key in message


def test_deleted_secret(env: LocalAgentCore, data: Any, token: str) -> None:
    """Scheduled for deletion, then gone: ResourceNotFoundException naming the ARN."""
    arn = env.create_secret(env.unique_name("gone"), {"key": CANARY})
    name = provider_for(env, arn)
    sm = env.client("secretsmanager")
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    code, message = failure(data, token, name)
    assert code == "ResourceNotFoundException" and "scheduled for deletion" in message
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    code, message = failure(data, token, name)
    assert code == "ResourceNotFoundException" and arn in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (f"plain-text-{CANARY}", "not a JSON object"),
        (f'["{CANARY}"]', "not a JSON object"),
        ({"other": CANARY}, "does not exist"),
        ({"key": ""}, "is empty"),
        ({"key": 424242, "x": CANARY}, "not a string"),
        (CANARY.encode(), "SecretBinary"),
    ],
)
def test_bad_secret_values_name_key_and_arn_never_value(
    env: LocalAgentCore,
    data: Any,
    token: str,
    value: Any,
    fragment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Non-JSON, missing key, empty, non-string and binary secrets: ValidationException."""
    arn = env.create_secret(env.unique_name("bad"), value)
    with caplog.at_level(logging.DEBUG, logger="agentcore_auth.testing"):
        code, message = failure(data, token, provider_for(env, arn))
    assert code == "ValidationException" and fragment in message
    assert "'key'" in message and arn in message
    assert CANARY not in message and "424242" not in message
    assert CANARY not in caplog.text


def test_managed_api_key_resolves(env: LocalAgentCore, data: Any, token: str) -> None:
    """A MANAGED provider resolves to the stored key, and to the new one after an update."""
    name = env.unique_name("managed")
    control = env.client("bedrock-agentcore-control")
    control.create_api_key_credential_provider(name=name, apiKey="managed-v1")
    assert fetch(data, token, name) == "managed-v1"
    control.update_api_key_credential_provider(name=name, apiKey="managed-v2")
    assert fetch(data, token, name) == "managed-v2"


def test_unknown_provider(data: Any, token: str) -> None:
    """An unknown provider name is ResourceNotFoundException."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        fetch(data, token, "no-such-provider")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_no_value_in_emulator_logs(
    env: LocalAgentCore, data: Any, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Resolving a value with DEBUG logging on leaves it out of the emulator's log."""
    arn = env.create_secret(env.unique_name("canary"), {"key": CANARY})
    with caplog.at_level(logging.DEBUG, logger="agentcore_auth.testing"):
        name = provider_for(env, arn)
        assert fetch(data, token, name) == CANARY
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name=env.unique_name("canary"), apiKey=CANARY
        )
    assert caplog.records and CANARY not in caplog.text
