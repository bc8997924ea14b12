"""LocalAgentCore's AWS IAM CredentialBroker: both planes, as botocore's models describe them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from agentcore_auth.testing import LocalAgentCore

FAKE_ARN = ("arn:aws:credentialbroker:us-east-1:123456789012:credentialproviderpool/abc/"
            "credentialprovider/def")


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    local_agentcore.clear_faults()
    return local_agentcore


@pytest.fixture
def pool(env: LocalAgentCore) -> str:
    return env.create_broker_pool()


def error(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> dict[str, Any]:
    return {"code": exc.value.response["Error"]["Code"],
            "message": exc.value.response["Error"]["Message"],
            "reason": exc.value.response.get("reason"),
            "status": exc.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def test_clients_and_endpoint_variables(env: LocalAgentCore) -> None:
    """Both boto3 clients work, and env_vars() names both endpoint variables."""
    variables = env.env_vars()
    assert variables["AWS_ENDPOINT_URL_CREDENTIALBROKER"] == env.aws_endpoint_url
    assert variables["AWS_ENDPOINT_URL_CREDENTIALBROKER_CONTROL"] == env.aws_endpoint_url
    assert "items" in env.client("credentialbroker-control").list_credential_provider_pools()
    with pytest.raises(botocore.exceptions.ClientError):
        env.client("credentialbroker").get_api_key(credentialProviderArn=FAKE_ARN)


@pytest.fixture
def slow_settle(env: LocalAgentCore) -> Iterator[None]:
    """Pools and providers take 1.5 s to settle (long enough to observe under load)."""
    saved, env.settings.broker_settle_seconds = env.settings.broker_settle_seconds, 1.5
    yield
    env.settings.broker_settle_seconds = saved


@pytest.mark.usefixtures("slow_settle")
def test_pool_and_provider_settle_asynchronously(env: LocalAgentCore) -> None:
    """Creation answers CREATING; READY comes later; a CREATING pool takes no provider and a
    CREATING provider hands out nothing; boto3's waiters see READY."""
    control = env.client("credentialbroker-control")
    created = control.create_credential_provider_pool(name=env.unique_name("pool"))
    assert created["status"] == "CREATING"
    pool_id = created["credentialProviderPoolId"]
    config = {"apiKeyConfiguration": {"apiKeySecretInput": {"apiKey": "settle-key-abcdef"}}}
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        control.create_credential_provider(credentialProviderPoolIdentifier=pool_id, name="p",
                                           providerConfigurationInput=config)
    assert error(raised)["code"] == "ConflictException"
    assert error(raised)["reason"] == "RESOURCE_STATE_CONFLICT"
    control.get_waiter("credential_provider_pool_ready").wait(
        credentialProviderPoolIdentifier=pool_id, WaiterConfig={"Delay": 0.05})
    provider = control.create_credential_provider(
        credentialProviderPoolIdentifier=pool_id, name="p", providerConfigurationInput=config)
    assert provider["status"] == "CREATING"
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        env.client("credentialbroker").get_api_key(
            credentialProviderArn=provider["credentialProviderArn"])
    assert error(raised)["code"] == "ValidationException"
    assert "CREATING, not READY" in error(raised)["message"]
    env.wait_for_broker(pool_id, provider["credentialProviderId"])
    assert env.client("credentialbroker").get_api_key(
        credentialProviderArn=provider["credentialProviderArn"])["apiKey"] == "settle-key-abcdef"
    output = control.get_credential_provider(credentialProviderPoolIdentifier=pool_id,
                                             credentialProviderIdentifier=provider[
                                                 "credentialProviderArn"])
    secret = output["providerConfiguration"]["apiKeyConfiguration"]["apiKeySecretOutput"]
    assert secret["apiKeySecretSource"] == "MANAGED" and "apiKeySecretJsonKey" not in secret
    assert "settle-key-abcdef" not in json.dumps(output, default=str)


def test_names_unique_per_pool_and_idempotent_client_token(env: LocalAgentCore,
                                                           pool: str) -> None:
    """A second provider of one name in a pool is a ConflictException; a repeated clientToken
    returns the first; one name in two pools is fine."""
    control = env.client("credentialbroker-control")
    config = {"apiKeyConfiguration": {"apiKeySecretInput": {"apiKey": "dup-key-abcdef"}}}
    first = control.create_credential_provider(credentialProviderPoolIdentifier=pool,
                                               name="dup", clientToken="tok-1",
                                               providerConfigurationInput=config)
    again = control.create_credential_provider(credentialProviderPoolIdentifier=pool,
                                               name="dup", clientToken="tok-1",
                                               providerConfigurationInput=config)
    assert again["credentialProviderId"] == first["credentialProviderId"]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        control.create_credential_provider(credentialProviderPoolIdentifier=pool, name="dup",
                                           providerConfigurationInput=config)
    assert (error(raised)["code"], error(raised)["reason"]) == (
        "ConflictException", "RESOURCE_ALREADY_EXISTS")
    other = env.create_broker_pool()
    control.create_credential_provider(credentialProviderPoolIdentifier=other, name="dup",
                                       providerConfigurationInput=config)


def test_validation_wording_from_the_model(env: LocalAgentCore, pool: str) -> None:
    """Patterns, enums and union rules come from the model, in AWS's wording; the model's
    https:// patterns accept http:// on loopback only."""
    data = env.client("credentialbroker")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.get_api_key(credentialProviderArn="arn:aws:credentialbroker:us-east-1:1:nope")
    assert error(raised)["message"].startswith(
        "1 validation error detected: Value 'arn:aws:credentialbroker:us-east-1:1:nope' at "
        "'credentialProviderArn' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern")
    assert error(raised)["reason"] == "INVALID_FIELD_VALUE"
    control = env.client("credentialbroker-control")

    def custom(url: str) -> dict[str, Any]:
        return {"oauthConfiguration": {
            "allowedGrantTypes": ["CLIENT_CREDENTIALS"],
            "vendorConfigurationInput": {"customConfiguration": {
                "oauthDiscovery": {"discoveryUrl": url},
                "clientAuthenticationConfiguration": {
                    "clientId": "c", "clientSecret": {"clientSecret": "s-abcdef-123456"}}}}}}

    with pytest.raises(botocore.exceptions.ClientError) as raised:
        control.create_credential_provider(
            credentialProviderPoolIdentifier=pool, name="plain-http",
            providerConfigurationInput=custom("http://example.com/.well-known/openid-configuration"))
    assert "Member must satisfy regular expression pattern: https://" in error(raised)["message"]
    created = control.create_credential_provider(
        credentialProviderPoolIdentifier=pool, name="loopback",
        providerConfigurationInput=custom(env.oauth_discovery_url))
    assert created["providerType"] == "OAUTH"
    assert "s-abcdef-123456" not in json.dumps(created, default=str)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        control.create_credential_provider(
            credentialProviderPoolIdentifier=pool, name="no-binding",
            providerConfigurationInput={"oauthConfiguration": {
                **custom(env.oauth_discovery_url)["oauthConfiguration"],
                "allowedGrantTypes": ["AUTHORIZATION_CODE"]}})
    assert error(raised)["reason"] == "FIELD_COMBINATION_INVALID"


def test_external_secret_read_at_call_time(env: LocalAgentCore, pool: str) -> None:
    """A rotated EXTERNAL secret is seen on the next GetApiKey; the provider is untouched."""
    arn, secret_arn = env.create_broker_api_key_provider(pool, "ext-key-first-abcdef")
    assert secret_arn is not None
    data = env.client("credentialbroker")
    assert data.get_api_key(credentialProviderArn=arn)["apiKey"] == "ext-key-first-abcdef"
    env.rotate_secret(secret_arn, {"api_key": "ext-key-second-abcdef"})
    assert data.get_api_key(credentialProviderArn=arn)["apiKey"] == "ext-key-second-abcdef"


def test_secret_reference_rules(env: LocalAgentCore, pool: str) -> None:
    """Same Region only; the broker's principal needs the secret policy; another account's
    secret needs a customer managed key whose policy allows the broker."""
    control, data = env.client("credentialbroker-control"), env.client("credentialbroker")
    other_region = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:far-AbCdEf"
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        control.create_credential_provider(
            credentialProviderPoolIdentifier=pool, name="far",
            providerConfigurationInput={"apiKeyConfiguration": {"apiKeySecretInput": {
                "apiKeySecretReference": {"secretId": other_region, "jsonKey": "k"}}}})
    assert error(raised)["reason"] == "INVALID_SECRET_REFERENCE"
    assert "eu-west-1" in error(raised)["message"]

    only_agentcore = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    secret = env.create_secret(env.unique_name("ac-only"), {"api_key": "x" * 20},
                               policy=only_agentcore)
    arn, _ = env.create_broker_api_key_provider(pool, secret_arn=secret)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.get_api_key(credentialProviderArn=arn)
    assert (error(raised)["code"], error(raised)["reason"]) == (
        "AccessDeniedException", "SECRET_ACCESS_DENIED")
    assert "credentialbroker.amazonaws.com" in error(raised)["message"]

    other_account = "210987654321"
    aws_managed = env.create_secret(env.unique_name("xacct"), {"api_key": "y" * 20},
                                    account_id=other_account)
    arn, _ = env.create_broker_api_key_provider(pool, secret_arn=aws_managed)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.get_api_key(credentialProviderArn=arn)
    assert "AWS managed key" in error(raised)["message"]

    key = env.create_kms_key(account_id=other_account)
    with_cmk = env.create_secret(env.unique_name("xacct-cmk"), {"api_key": "z" * 20},
                                 account_id=other_account, kms_key_id=key)
    arn, _ = env.create_broker_api_key_provider(pool, secret_arn=with_cmk)
    assert data.get_api_key(credentialProviderArn=arn)["apiKey"] == "z" * 20

    denying_key = env.create_kms_key(grant_service=False)
    locked = env.create_secret(env.unique_name("cmk-nogrant"), {"api_key": "w" * 20},
                               kms_key_id=denying_key)
    arn, _ = env.create_broker_api_key_provider(pool, secret_arn=locked)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.get_api_key(credentialProviderArn=arn)
    assert error(raised)["reason"] == "KMS_KEY_ACCESS_DENIED"


def test_get_oauth_token_cache_and_force(env: LocalAgentCore, pool: str) -> None:
    """GetOAuthToken (POST /oauth2/token) returns expiresAt, reuses the token it holds, and
    asks the authorization server again only with forceAuthentication."""
    assert env.client("credentialbroker").meta.service_model.operation_model(
        "GetOAuthToken").http["requestUri"] == "/oauth2/token"
    arn, _, _ = env.create_broker_oauth_provider(pool)
    data = env.client("credentialbroker")
    before = env.call_count("OAuth2Token")
    first = data.get_o_auth_token(credentialProviderArn=arn, grantType="CLIENT_CREDENTIALS",
                                  scopes=["read"])
    assert first["expiresAt"].timestamp() > 0
    again = data.get_o_auth_token(credentialProviderArn=arn, grantType="CLIENT_CREDENTIALS",
                                  scopes=["read"])
    assert again["accessToken"] == first["accessToken"]
    forced = data.get_o_auth_token(credentialProviderArn=arn, grantType="CLIENT_CREDENTIALS",
                                   scopes=["read"], forceAuthentication=True)
    assert forced["accessToken"] != first["accessToken"]
    assert env.call_count("OAuth2Token") - before == 2
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.get_o_auth_token(credentialProviderArn=arn, grantType="TOKEN_EXCHANGE")
    assert error(raised)["reason"] == "GRANT_TYPE_NOT_ALLOWED"


def test_rotated_client_secret_is_read_at_call_time(env: LocalAgentCore, pool: str) -> None:
    """After the client secret rotates (IdP and referenced secret), a forced token request
    authenticates with the new secret; a stale referenced secret is EXTERNAL_IDP_INVALID_CLIENT."""
    arn, client_id, secret_arn = env.create_broker_oauth_provider(pool)
    data = env.client("credentialbroker")
    env.rotate_oauth2_client(client_id, secret_arn, "cs-rotated-abcdef-1234")
    assert data.get_o_auth_token(credentialProviderArn=arn, grantType="CLIENT_CREDENTIALS",
                                 forceAuthentication=True)["accessToken"]
    env.register_oauth_client(client_id, "cs-only-at-the-idp-abcdef")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.get_o_auth_token(credentialProviderArn=arn, grantType="CLIENT_CREDENTIALS",
                              forceAuthentication=True)
    assert (error(raised)["code"], error(raised)["reason"]) == (
        "AccessDeniedException", "EXTERNAL_IDP_INVALID_CLIENT")


def test_end_user_grants_need_identity_center(env: LocalAgentCore, pool: str) -> None:
    """StartOAuthSession checks the binding URL, then needs an identity-enhanced session."""
    control = env.client("credentialbroker-control")
    env.register_oauth_client("consent-client", "consent-secret-abcdef")
    created = control.create_credential_provider(
        credentialProviderPoolIdentifier=pool, name="consent",
        providerConfigurationInput={"oauthConfiguration": {
            "allowedGrantTypes": ["AUTHORIZATION_CODE"],
            "allowedSessionBindingUrls": ["http://localhost:8081/bind"],
            "vendorConfigurationInput": {"githubConfiguration": {
                "clientAuthenticationConfiguration": {
                    "clientId": "consent-client",
                    "clientSecret": {"clientSecret": "consent-secret-abcdef"}}}}}})
    env.wait_for_broker(pool, created["credentialProviderArn"])
    data = env.client("credentialbroker")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.start_o_auth_session(credentialProviderArn=created["credentialProviderArn"],
                                  sessionBindingUrl="http://localhost:9999/elsewhere")
    assert error(raised)["reason"] == "SESSION_BINDING_URL_NOT_ALLOWED"
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        data.start_o_auth_session(credentialProviderArn=created["credentialProviderArn"],
                                  sessionBindingUrl="http://localhost:8081/bind")
    assert "IAM Identity Center" in error(raised)["message"]


def test_regions_are_separate(env: LocalAgentCore, pool: str) -> None:
    """A pool of one Region is invisible to a client of another."""
    other = env.client("credentialbroker-control", region_name="eu-west-1")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        other.get_credential_provider_pool(credentialProviderPoolIdentifier=pool)
    assert error(raised)["code"] == "ResourceNotFoundException"


def test_delete_settles_and_tags(env: LocalAgentCore, pool: str) -> None:
    """Tags round-trip; a pool with providers cannot be deleted; deletes settle to not-found."""
    control = env.client("credentialbroker-control")
    arn, _ = env.create_broker_api_key_provider(pool, "tagged-key-abcdef")
    control.tag_resource(resourceArn=arn, tags={"team": "agents"})
    assert control.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "agents"}
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        control.delete_credential_provider_pool(credentialProviderPoolIdentifier=pool)
    assert error(raised)["reason"] == "RESOURCE_STATE_CONFLICT"
    assert control.delete_credential_provider(
        credentialProviderPoolIdentifier=pool, credentialProviderIdentifier=arn)[
            "status"] == "DELETING"
    control.get_waiter("credential_provider_deleted").wait(
        credentialProviderPoolIdentifier=pool, credentialProviderIdentifier=arn,
        WaiterConfig={"Delay": 0.05})
    control.delete_credential_provider_pool(credentialProviderPoolIdentifier=pool)
    control.get_waiter("credential_provider_pool_deleted").wait(
        credentialProviderPoolIdentifier=pool, WaiterConfig={"Delay": 0.05})
