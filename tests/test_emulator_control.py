"""The emulator's control plane, driven with real boto3 clients over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import botocore.config
import botocore.exceptions
import pytest

from agentcore_auth.testing import LocalAgentCore


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def control(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore-control")


def error_of(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str]:
    error = exc_info.value.response["Error"]
    return error["Code"], error["Message"]


def test_api_key_provider_crud_managed(env: LocalAgentCore, control: Any) -> None:
    """MANAGED API key providers: 201 on create, secret in Secrets Manager, get/update/list/204."""
    name = env.unique_name("managed")
    created = control.create_api_key_credential_provider(name=name, apiKey="sk-managed-1")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["apiKeySecretSource"] == "MANAGED"
    arn = created["apiKeySecretArn"]["secretArn"]
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:{env.account_id}:secret:")
    assert created["credentialProviderArn"].endswith(f"/apikeycredentialprovider/{name}")
    stored = json.loads(env.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    assert stored[created["apiKeySecretJsonKey"]] == "sk-managed-1"

    got = control.get_api_key_credential_provider(name=name)
    assert got["apiKeySecretArn"]["secretArn"] == arn and "createdTime" in got

    updated = control.update_api_key_credential_provider(name=name, apiKey="sk-managed-2")
    assert updated["apiKeySecretArn"]["secretArn"] == arn
    stored = json.loads(env.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    assert stored[created["apiKeySecretJsonKey"]] == "sk-managed-2"

    names = [p["name"] for p in control.list_api_key_credential_providers()["credentialProviders"]]
    assert name in names

    deleted = control.delete_api_key_credential_provider(name=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.get_api_key_credential_provider(name=name)
    assert error_of(info)[0] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError):
        env.client("secretsmanager").describe_secret(SecretId=arn)


def test_api_key_provider_external(env: LocalAgentCore, control: Any) -> None:
    """EXTERNAL providers return the referenced ARN and JSON key, and can switch to MANAGED."""
    name = env.unique_name("external")
    arn = env.create_secret(name, {"key": "v"})
    created = control.create_api_key_credential_provider(
        name=name,
        apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"},
    )
    assert created["apiKeySecretArn"]["secretArn"] == arn
    assert (created["apiKeySecretSource"], created["apiKeySecretJsonKey"]) == ("EXTERNAL", "key")
    updated = control.update_api_key_credential_provider(name=name, apiKey="now-managed")
    assert updated["apiKeySecretSource"] == "MANAGED"
    assert updated["apiKeySecretArn"]["secretArn"] != arn
    control.delete_api_key_credential_provider(name=name)
    # the customer's own secret is never deleted by the service
    assert env.client("secretsmanager").describe_secret(SecretId=arn)["ARN"] == arn


def test_list_pagination(env: LocalAgentCore, control: Any) -> None:
    """List operations page with maxResults and nextToken."""
    for _ in range(3):
        control.create_api_key_credential_provider(name=env.unique_name("page"), apiKey="x")
    first = control.list_api_key_credential_providers(maxResults=2)
    assert len(first["credentialProviders"]) == 2 and first["nextToken"]
    second = control.list_api_key_credential_providers(maxResults=2, nextToken=first["nextToken"])
    assert second["credentialProviders"]
    assert {p["name"] for p in first["credentialProviders"]}.isdisjoint(
        p["name"] for p in second["credentialProviders"]
    )


def test_conflict_on_duplicate_name(env: LocalAgentCore, control: Any) -> None:
    """Creating a provider or workload twice is a ConflictException (409)."""
    name = env.unique_name("dup")
    control.create_api_key_credential_provider(name=name, apiKey="x")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_api_key_credential_provider(name=name, apiKey="x")
    assert error_of(info)[0] == "ConflictException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    env.create_workload(name)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        env.create_workload(name)
    assert error_of(info)[0] == "ConflictException"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "bad name!", "apiKey": "x"}, "name"),
        ({"name": "n" * 129, "apiKey": "x"}, "name"),
        ({"name": "ok-name"}, "apiKey"),
        ({"name": "ok-name", "apiKeySecretSource": "EXTERNAL"}, "apiKeySecretConfig"),
        (
            {
                "name": "ok-name",
                "apiKey": "x",
                "apiKeySecretSource": "EXTERNAL",
                "apiKeySecretConfig": {"secretId": "arn", "jsonKey": "k"},
            },
            "apiKey",
        ),
        (
            {
                "name": "ok-name",
                "apiKeySecretSource": "EXTERNAL",
                "apiKeySecretConfig": {"secretId": "not-an-arn", "jsonKey": "k"},
            },
            "secretId",
        ),
        (
            {
                "name": "ok-name",
                "apiKeySecretSource": "EXTERNAL",
                "apiKeySecretConfig": {
                    "secretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
                    "jsonKey": "k" * 129,
                },
            },
            "jsonKey",
        ),
    ],
)
def test_validation_names_the_field(control: Any, kwargs: dict[str, Any], field: str) -> None:
    """Invalid input is a ValidationException (400) naming the field, checked server-side."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_api_key_credential_provider(**kwargs)
    code, message = error_of(info)
    assert code == "ValidationException" and field in message
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.fixture
def unvalidated_control(env: LocalAgentCore) -> Any:
    from botocore.config import Config

    return env.client("bedrock-agentcore-control", config=Config(parameter_validation=False))


def test_server_validates_pattern_without_client_validation(unvalidated_control: Any) -> None:
    """The server itself enforces the model's name pattern."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        unvalidated_control.create_api_key_credential_provider(name="bad name!", apiKey="x")
    assert error_of(info) == (
        "ValidationException",
        "1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9\\-_]+",
    )


def test_cross_region_secret_rejected_at_create_and_update(
    env: LocalAgentCore, control: Any
) -> None:
    """A secret in another Region is refused at create and at update time."""
    other = "arn:aws:secretsmanager:us-west-2:123456789012:secret:elsewhere-AbCdEf"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_api_key_credential_provider(
            name=env.unique_name("xr"),
            apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": other, "jsonKey": "k"},
        )
    code, message = error_of(info)
    assert code == "ValidationException" and "cross-Region" in message and other in message
    name = env.unique_name("xr")
    control.create_api_key_credential_provider(name=name, apiKey="x")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.update_api_key_credential_provider(
            name=name,
            apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": other, "jsonKey": "k"},
        )
    assert "cross-Region" in error_of(info)[1]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_oauth2_credential_provider(
            name=env.unique_name("xr"),
            credentialProviderVendor="GoogleOauth2",
            oauth2ProviderConfigInput={
                "googleOauth2ProviderConfig": {
                    "clientId": "c",
                    "clientSecretSource": "EXTERNAL",
                    "clientSecretConfig": {"secretId": other, "jsonKey": "k"},
                }
            },
        )
    assert "cross-Region" in error_of(info)[1]


def test_cross_account_same_region_accepted(env: LocalAgentCore, control: Any) -> None:
    """Another account's secret in the same Region is accepted."""
    arn = env.create_secret(env.unique_name("xa"), {"k": "v"}, account_id="111122223333")
    created = control.create_api_key_credential_provider(
        name=env.unique_name("xa"),
        apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "k"},
    )
    assert ":111122223333:" in created["apiKeySecretArn"]["secretArn"]


def test_google_vendor_points_at_local_oauth2(env: LocalAgentCore, control: Any) -> None:
    """GoogleOauth2 (MANAGED secret) gets the local OAuth2 server's endpoints."""
    name = env.unique_name("google")
    created = control.create_oauth2_credential_provider(
        name=name,
        credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput={
            "googleOauth2ProviderConfig": {
                "clientId": "google-client",
                "clientSecret": "google-secret",
            }
        },
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["clientSecretSource"] == "MANAGED"
    assert created["callbackUrl"].startswith(env.endpoint_url + "/identities/oauth2/callback/")
    got = control.get_oauth2_credential_provider(name=name)
    config = got["oauth2ProviderConfigOutput"]["googleOauth2ProviderConfig"]
    metadata = config["oauthDiscovery"]["authorizationServerMetadata"]
    assert metadata["tokenEndpoint"] == f"{env.oauth_issuer}/token"
    assert metadata["authorizationEndpoint"] == f"{env.oauth_issuer}/authorize"
    assert config["clientId"] == "google-client"
    listed = control.list_oauth2_credential_providers()["credentialProviders"]
    assert any(
        p["name"] == name and p["credentialProviderVendor"] == "GoogleOauth2" for p in listed
    )
    updated = control.update_oauth2_credential_provider(
        name=name,
        credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput={
            "googleOauth2ProviderConfig": {"clientId": "google-client-2", "clientSecret": "s2"}
        },
    )
    assert updated["clientSecretArn"] == created["clientSecretArn"]
    assert (
        control.delete_oauth2_credential_provider(name=name)["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )


def test_custom_vendor_discovery_url_and_inline_metadata(env: LocalAgentCore, control: Any) -> None:
    """CustomOauth2 accepts a discoveryUrl (fetched) or inline authorizationServerMetadata."""
    hits = env.call_count("OAuth2Discovery")
    by_url = control.create_oauth2_credential_provider(
        name=env.unique_name("disc"),
        credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={
            "customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": "c",
                "clientSecret": "s",
            }
        },
    )
    assert env.call_count("OAuth2Discovery") == hits + 1
    output = by_url["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert output["oauthDiscovery"] == {"discoveryUrl": env.oauth_discovery_url}
    inline = {
        "issuer": env.oauth_issuer,
        "authorizationEndpoint": f"{env.oauth_issuer}/authorize",
        "tokenEndpoint": f"{env.oauth_issuer}/token",
        "tokenEndpointAuthMethods": ["client_secret_post"],
    }
    by_metadata = control.create_oauth2_credential_provider(
        name=env.unique_name("meta"),
        credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={
            "customOauth2ProviderConfig": {
                "oauthDiscovery": {"authorizationServerMetadata": inline},
                "clientId": "c",
                "clientSecret": "s",
            }
        },
    )
    output = by_metadata["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert output["oauthDiscovery"]["authorizationServerMetadata"]["issuer"] == env.oauth_issuer


def test_unreachable_discovery_url_is_validation_error(env: LocalAgentCore, control: Any) -> None:
    """A discovery URL that cannot be fetched is a ValidationException naming the field."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_oauth2_credential_provider(
            name=env.unique_name("disc"),
            credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={
                "customOauth2ProviderConfig": {
                    "oauthDiscovery": {
                        "discoveryUrl": f"{env.oauth_issuer}/x/.well-known/openid-configuration"
                    },
                    "clientId": "c",
                    "clientSecret": "s",
                }
            },
        )
    code, message = error_of(info)
    assert code == "ValidationException" and "discoveryUrl" in message


def test_vendor_config_must_match_vendor(env: LocalAgentCore, control: Any) -> None:
    """A config for another vendor than credentialProviderVendor is refused."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_oauth2_credential_provider(
            name=env.unique_name("mismatch"),
            credentialProviderVendor="GithubOauth2",
            oauth2ProviderConfigInput={
                "googleOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s"}
            },
        )
    assert "githubOauth2ProviderConfig" in error_of(info)[1]


def test_workload_identity_crud(env: LocalAgentCore, control: Any) -> None:
    """Create (201), get, update, list and delete (204) workload identities."""
    name = env.unique_name("wl")
    created = control.create_workload_identity(
        name=name, allowedResourceOauth2ReturnUrls=["https://app.example.com/cb"]
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["workloadIdentityArn"].endswith(f"/workload-identity/{name}")
    assert control.get_workload_identity(name=name)["allowedResourceOauth2ReturnUrls"] == [
        "https://app.example.com/cb"
    ]
    updated = control.update_workload_identity(name=name, allowedResourceOauth2ReturnUrls=[])
    assert updated["allowedResourceOauth2ReturnUrls"] == []
    names = [
        w["name"] for w in control.list_workload_identities(maxResults=20)["workloadIdentities"]
    ]
    assert name in names or control.list_workload_identities()["nextToken"]
    assert control.delete_workload_identity(name=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.get_workload_identity(name=name)
    assert error_of(info)[0] == "ResourceNotFoundException"


def test_token_vault(control: Any) -> None:
    """GetTokenVault answers with the default vault and a service managed key."""
    vault = control.get_token_vault()
    assert vault["tokenVaultId"] == "default"
    assert vault["kmsConfiguration"]["keyType"] == "ServiceManagedKey"


def _cli_knows_client_secret_source() -> bool:
    """Whether ``python -m awscli`` exists and its botocore models clientSecretSource.

    awscli >= 1.44 vendors its own botocore (``awscli/botocore``); look at its model
    file without importing awscli, whose import aliases ``botocore`` to that copy.
    """
    import importlib.util
    from pathlib import Path

    import botocore.session

    spec = importlib.util.find_spec("awscli")
    if spec is None or not spec.submodule_search_locations:
        return False
    vendored = Path(next(iter(spec.submodule_search_locations))) / "botocore" / "data"
    models = list(vendored.glob("bedrock-agentcore-control/*/service-2.json"))
    if models:
        return "clientSecretSource" in models[0].read_text()
    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    shape: Any = model.shape_for("GoogleOauth2ProviderConfigInput")
    return "clientSecretSource" in shape.members


@pytest.mark.skipif(
    not _cli_knows_client_secret_source(),
    reason="the installed AWS CLI's botocore predates clientSecretSource",
)
def test_aws_cli_documented_example(env: LocalAgentCore) -> None:
    """AWS's documented CLI example for a referenced Google client secret works."""
    arn = env.create_secret(env.unique_name("cli"), {"key": "google-client-secret"})
    name = env.unique_name("cli")
    config = {
        "googleOauth2ProviderConfig": {
            "clientId": "cli-client",
            "clientSecretSource": "EXTERNAL",
            "clientSecretConfig": {"secretId": arn, "jsonKey": "key"},
        }
    }
    command = [
        sys.executable,
        "-m",
        "awscli",
        "bedrock-agentcore-control",
        "create-oauth2-credential-provider",
        "--name",
        name,
        "--credential-provider-vendor",
        "GoogleOauth2",
        "--oauth2-provider-config-input",
        json.dumps(config),
        "--endpoint-url",
        env.endpoint_url,
        "--output",
        "json",
    ]
    environ = {**os.environ, **env.env_vars()}
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        command, capture_output=True, text=True, env=environ, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["clientSecretArn"]["secretArn"] == arn
    assert output["clientSecretSource"] == "EXTERNAL"
    got = env.client("bedrock-agentcore-control").get_oauth2_credential_provider(name=name)
    assert got["clientSecretJsonKey"] == "key"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "got 0"),
        (
            {
                "customOauth2ProviderConfig": {
                    "oauthDiscovery": {"discoveryUrl": "http://127.0.0.1:9/x"}, "clientId": "c",
                    "clientSecret": "s"},
                "githubOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s"},
            },
            "got 2: customOauth2ProviderConfig, githubOauth2ProviderConfig",
        ),
    ],
    ids=["none", "two"],
)
def test_union_needs_exactly_one_member(unvalidated_control: Any, config: dict[str, Any],
                                        expected: str) -> None:
    """A union (oauth2ProviderConfigInput) with zero or two members is refused server-side."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        unvalidated_control.create_oauth2_credential_provider(
            name="union", credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput=config)
    code, message = error_of(info)
    assert code == "ValidationException"
    assert "oauth2ProviderConfigInput must set exactly one of" in message and expected in message


def test_tag_and_custom_parameter_limits(env: LocalAgentCore, unvalidated_control: Any) -> None:
    """Tag count, key pattern and customParameters key/value limits, in AWS's wording."""
    too_many = {f"k{i}": "v" for i in range(51)}
    for tags, rule in ((too_many, "Member must have length less than or equal to 50"),
                       ({"bad key!": "v"}, "regular expression pattern"),
                       ({"k": "v" * 257}, "less than or equal to 256")):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            unvalidated_control.create_workload_identity(name=env.unique_name("tags"), tags=tags)
        code, message = error_of(info)
        assert code == "ValidationException" and rule in message
        assert message.startswith("1 validation error detected: Value")
    data = env.client("bedrock-agentcore", config=botocore.config.Config(
        parameter_validation=False))
    secret_value = "custom-secret-value-" + "x" * 2048
    for params, field in (({"bad key!": "v"}, "customParameters.key"),
                          ({"k": secret_value}, "customParameters.k")):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            data.get_resource_oauth2_token(
                workloadIdentityToken=env.workload_token(), resourceCredentialProviderName="p",
                scopes=[], oauth2Flow="M2M", customParameters=params)
        code, message = error_of(info)
        assert code == "ValidationException" and f"'{field}'" in message
        assert "custom-secret-value" not in message  # a sensitive value is never echoed
