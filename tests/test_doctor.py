"""The doctor's Python API against the emulator: one Check per rule, each failure with its fix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentcore_auth._doctor import DoctorReport, diagnose
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._state import ApiKeyProvider

OTHER_ACCOUNT = "111122223333"
NOT_THE_SERVICE = {"Version": "2012-10-17", "Statement": [{
    "Sid": "OnlyOurRole", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


def api_key_provider(env: LocalAgentCore, arn: str, json_key: str = "key") -> str:
    name = env.unique_name("doc")
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=name, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": json_key})
    return name


def run(env: LocalAgentCore, name: str, **kwargs: Any) -> DoctorReport:
    return diagnose(name, region=env.region, **kwargs,
                    clients=lambda service, account: env.client(service, account_id=account))


def status(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def check(report: DoctorReport, name: str) -> Any:
    return next(c for c in report.checks if c.name == name)


def test_healthy_customer_managed_key(env: LocalAgentCore) -> None:
    """CMK granting decrypt, policy granting the principal, tags: every check passes or skips."""
    value = "sk-doctor-healthy-0123456789"
    arn = env.create_secret(env.unique_name("ok"), {"key": value},
                            kms_key_id=env.create_kms_key())
    env.client("secretsmanager").tag_resource(SecretId=arn, Tags=[{"Key": "t", "Value": "1"}])
    report = run(env, api_key_provider(env, arn))
    assert report.ok, report.failures
    assert status(report) == {
        "provider": "pass", "region": "pass", "secret": "pass", "value": "pass",
        "resource-policy": "pass", "kms-key": "pass", "cross-account": "skip",
        "return-url": "skip", "rotation": "warn", "tags": "pass"}
    detail = check(report, "value").detail
    assert "sha256:" in detail and f"{len(value)} characters" in detail
    assert value not in json.dumps(report.to_dict(), default=str)


def test_broken_policy_key_and_json_key(env: LocalAgentCore) -> None:
    """Policy without the principal, key policy without decrypt, missing JSON key: three fixes."""
    key = env.create_kms_key(grant_service=False)
    arn = env.create_secret(env.unique_name("bad"), {"other": "x" * 20}, kms_key_id=key,
                            policy=NOT_THE_SERVICE)
    report = run(env, api_key_provider(env, arn))
    assert not report.ok
    assert {c.name for c in report.failures} == {"resource-policy", "kms-key", "value"}
    policy_fix = check(report, "resource-policy").fix
    assert (f"aws secretsmanager put-resource-policy --secret-id {arn} "
            "--resource-policy file://policy.json") in policy_fix
    document = json.loads(policy_fix.split("save as policy.json:\n")[1].split("\nthen run")[0])
    assert document["Statement"][0]["Sid"] == "OnlyOurRole"  # the existing statement is kept
    assert document["Statement"][1]["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    kms_fix = check(report, "kms-key").fix
    assert f"aws kms put-key-policy --key-id {key} --policy-name default" in kms_fix
    assert '"kms:Decrypt"' in kms_fix
    assert "'other'" in check(report, "value").detail


def test_applying_the_fixes_makes_it_pass(env: LocalAgentCore) -> None:
    """The policy JSON the doctor prints, once applied, satisfies the doctor (and the service)."""
    key = env.create_kms_key(grant_service=False)
    arn = env.create_secret(env.unique_name("fixme"), {"key": "sk-doctor-fixed-012345"},
                            kms_key_id=key, policy=NOT_THE_SERVICE)
    name = api_key_provider(env, arn)
    report = run(env, name)

    def document(fix: str, header: str) -> str:
        return fix.split(header)[1].split("\nthen run")[0]

    env.client("secretsmanager").put_resource_policy(SecretId=arn, ResourcePolicy=document(
        check(report, "resource-policy").fix, "save as policy.json:\n"))
    env.client("kms").put_key_policy(KeyId=key, PolicyName="default", Policy=document(
        check(report, "kms-key").fix, "save as key-policy.json:\n"))
    assert run(env, name).ok
    data = env.client("bedrock-agentcore")
    data.get_resource_api_key(workloadIdentityToken=env.workload_token(),
                              resourceCredentialProviderName=name)


def test_explicit_deny_and_conditions(env: LocalAgentCore) -> None:
    """A Deny on the principal fails naming the statement; a Condition is a warning."""
    deny = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Allow", "Effect": "Allow", "Principal": {"Service":
         "bedrock-agentcore.amazonaws.com"}, "Action": "secretsmanager:*", "Resource": "*"},
        {"Sid": "NoAgentCore", "Effect": "Deny", "Principal": "*",
         "Action": "secretsmanager:Get*", "Resource": "*"}]}
    denied = run(env, api_key_provider(env, env.create_secret(
        env.unique_name("deny"), {"key": "sk-doctor-deny-0123456"}, policy=deny)))
    assert "NoAgentCore" in check(denied, "resource-policy").detail
    assert "remove or narrow the Deny" in check(denied, "resource-policy").fix
    conditional = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]}
    report = run(env, api_key_provider(env, env.create_secret(
        env.unique_name("cond"), {"key": "sk-doctor-cond-0123456"}, policy=conditional)))
    policy = check(report, "resource-policy")
    assert policy.status == "warn" and "StringEquals aws:SourceAccount" in policy.detail
    assert report.ok


def test_no_policy_at_all(env: LocalAgentCore) -> None:
    """No resource policy: fail, with a whole new policy to apply."""
    arn = env.create_secret(env.unique_name("nopol"), {"key": "sk-doctor-nopol-01234"},
                            policy=None)
    policy = check(run(env, api_key_provider(env, arn)), "resource-policy")
    assert policy.status == "fail" and "there is none" in policy.detail
    assert '"Version": "2012-10-17"' in policy.fix


def test_cross_region_reference(env: LocalAgentCore) -> None:
    """A provider pointing at another Region's secret fails with the replication fix."""
    name = env.unique_name("west")
    west = f"arn:aws:secretsmanager:us-west-2:{env.account_id}:secret:{name}-AbCdEf"
    with env.store.lock:  # the service refuses these at create time; older ones may exist
        env.store.api_key_providers[name] = ApiKeyProvider(
            name, f"arn:aws:acps:us-east-1:{env.account_id}:token-vault/default/"
            f"apikeycredentialprovider/{name}", "EXTERNAL", west, "key")
    report = run(env, name)
    region = check(report, "region")
    assert region.status == "fail" and "us-west-2" in region.detail
    assert "replicate-secret-to-regions" in region.fix and "Region=us-east-1" in region.fix
    assert status(report)["secret"] == "skip"  # not looked up in the wrong Region


def test_cross_account_needs_customer_managed_key(env: LocalAgentCore) -> None:
    """Another account's secret under aws/secretsmanager fails; under a CMK it passes."""
    plain = env.create_secret(env.unique_name("xacct"), {"key": "sk-doctor-xacct-01234"},
                              account_id=OTHER_ACCOUNT)
    report = run(env, api_key_provider(env, plain))
    assert check(report, "secret").status == "pass"  # read through the owner's account
    assert check(report, "cross-account").status == "fail"
    assert "update-secret" in check(report, "cross-account").fix
    cmk = env.create_kms_key(account_id=OTHER_ACCOUNT)
    good = env.create_secret(env.unique_name("xacct-cmk"), {"key": "sk-doctor-xacct-01234"},
                             kms_key_id=cmk, account_id=OTHER_ACCOUNT)
    assert status(run(env, api_key_provider(env, good)))["cross-account"] == "pass"


def test_missing_secret_and_managed_and_unknown_provider(env: LocalAgentCore) -> None:
    """Deleted secret, MANAGED provider (nothing to check) and an unknown name."""
    arn = env.create_secret(env.unique_name("gone"), {"key": "sk-doctor-gone-012345"})
    name = api_key_provider(env, arn)
    env.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert check(run(env, name), "secret").status == "fail"
    managed = env.unique_name("managed")
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=managed, apiKey="sk-doctor-managed-0123")
    report = run(env, managed)
    assert report.ok and "MANAGED" in check(report, "provider").detail
    missing = run(env, env.unique_name("nobody"))
    assert not missing.ok and "providers create-api-key" in check(missing, "provider").fix


def test_oauth2_return_url_needs_workload(env: LocalAgentCore) -> None:
    """OAuth2: skip without --workload; fail when the workload has no return URL; else pass."""
    arn = env.create_secret(env.unique_name("cs"), {"cs": "cs-doctor-oauth-012345"})
    name = env.unique_name("oauth")
    env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
        name=name, credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput={"googleOauth2ProviderConfig": {
            "clientId": "g", "clientSecretSource": "EXTERNAL",
            "clientSecretConfig": {"secretId": arn, "jsonKey": "cs"}}})
    assert check(run(env, name), "return-url").status == "skip"
    bare = run(env, name, workload_name=env.create_workload())
    assert check(bare, "return-url").status == "fail"
    assert "update-workload-identity" in check(bare, "return-url").fix
    ok = run(env, name, workload_name=env.create_workload(return_urls=["https://app/cb"]))
    assert check(ok, "return-url").status == "pass" and ok.ok


def test_default_clients_from_environment(env: LocalAgentCore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without clients=, AWS_ENDPOINT_URL_* reach the emulator, other accounts included."""
    for key, value in env.env_vars().items():
        monkeypatch.setenv(key, value)
    cmk = env.create_kms_key(account_id=OTHER_ACCOUNT)
    arn = env.create_secret(env.unique_name("envx"), {"key": "sk-doctor-env-0123456"},
                            kms_key_id=cmk, account_id=OTHER_ACCOUNT)
    report = diagnose(api_key_provider(env, arn))
    assert report.ok, report.failures
    assert status(report)["cross-account"] == "pass"
