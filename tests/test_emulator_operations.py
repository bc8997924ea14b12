"""Every Identity operation of botocore's models is served: tags, token vault, portals, payments."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any

import botocore.exceptions
import botocore.session
import pytest

from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._jwt import verify

ROLE = "arn:aws:iam::123456789012:role/consent-portal"
GATEWAY = [{"identifier": "my-gateway-abcdefghij", "type": "agentcore-gateway"}]


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def control(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore-control")


def code_of(info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_every_identity_operation_is_served(env: LocalAgentCore) -> None:
    """Each operation under /identities/ or /tags/ in either model has a handler."""
    session = botocore.session.get_session()
    handlers, _ = env._identity.plane(env.region)
    missing = []
    for service in ("bedrock-agentcore", "bedrock-agentcore-control"):
        model = session.get_service_model(service)
        for name in model.operation_names:
            uri = model.operation_model(name).http["requestUri"]
            if uri.startswith(("/identities/", "/tags/")) and name not in handlers:
                missing.append(name)
    assert missing == []


def test_tags_on_every_resource_kind(env: LocalAgentCore, control: Any) -> None:
    """Tags at create, then TagResource, UntagResource, ListTagsForResource; gone on delete."""
    workload = control.create_workload_identity(name=env.unique_name("tagged"),
                                                tags={"team": "a"})["workloadIdentityArn"]
    api_key = control.create_api_key_credential_provider(
        name=env.unique_name("tagged"), apiKey="sk-tagged", tags={"team": "b"}
    )["credentialProviderArn"]
    for arn, first in ((workload, {"team": "a"}), (api_key, {"team": "b"})):
        assert control.list_tags_for_resource(resourceArn=arn)["tags"] == first
        control.tag_resource(resourceArn=arn, tags={"env": "test", "owner": "me"})
        control.untag_resource(resourceArn=arn, tagKeys=["owner", "absent"])
        assert control.list_tags_for_resource(resourceArn=arn)["tags"] == {**first, "env": "test"}
    control.delete_api_key_credential_provider(name=api_key.rsplit("/", 1)[-1])
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.list_tags_for_resource(resourceArn=api_key)
    assert code_of(info) == "ResourceNotFoundException"
    # a resource of this Region is not found through another Region's endpoint
    eu = env.client("bedrock-agentcore-control", region_name="eu-west-1")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        eu.list_tags_for_resource(resourceArn=workload)
    assert code_of(info) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.tag_resource(resourceArn=workload, tags={f"k{i}": "v" for i in range(50)})
    assert code_of(info) == "ValidationException" and "limit is 50" in str(info.value)


def test_oauth2_provider_tags_follow_the_models_arn_pattern(env: LocalAgentCore,
                                                            control: Any) -> None:
    """Tags at create are kept, but TaggableResourcesArn's pattern ([a-z-]+ resource types)
    does not match `oauth2credentialprovider`: the tag APIs refuse its ARN, as the model says."""
    name = env.unique_name("tagged")
    arn = control.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="GoogleOauth2", tags={"team": "c"},
        oauth2ProviderConfigInput={"googleOauth2ProviderConfig": {
            "clientId": "g", "clientSecret": "google-secret-1"}})["credentialProviderArn"]
    assert env.store.tags[arn] == {"team": "c"}
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.list_tags_for_resource(resourceArn=arn)
    assert code_of(info) == "ValidationException" and "'resourceArn'" in str(info.value)


def test_token_vault_cmk(control: Any, env: LocalAgentCore) -> None:
    """SetTokenVaultCMK switches keys (checked to exist and be enabled); GetTokenVault shows it."""
    try:
        before = control.get_token_vault()
        assert before["kmsConfiguration"] == {"keyType": "ServiceManagedKey"}
        key = env.create_kms_key()
        set_ = control.set_token_vault_cmk(kmsConfiguration={"keyType": "CustomerManagedKey",
                                                             "kmsKeyArn": key})
        assert set_["kmsConfiguration"] == {"keyType": "CustomerManagedKey", "kmsKeyArn": key}
        assert control.get_token_vault()["kmsConfiguration"]["kmsKeyArn"] == key
        reset = control.reset_token_vault_key_material(tokenVaultId="default")
        assert reset["kmsConfiguration"]["kmsKeyArn"] == key
        assert reset["lastModifiedDate"] >= set_["lastModifiedDate"]

        missing = key[:-36] + "00000000-0000-0000-0000-000000000000"
        disabled = env.create_kms_key()
        env.client("kms").disable_key(KeyId=disabled.rsplit("/", 1)[-1])  # moto: id, not ARN
        for bad, words in ((missing, "does not exist"), (disabled, "Disabled")):
            with pytest.raises(botocore.exceptions.ClientError) as info:
                control.set_token_vault_cmk(kmsConfiguration={"keyType": "CustomerManagedKey",
                                                              "kmsKeyArn": bad})
            assert code_of(info) == "ValidationException" and words in str(info.value)
        with pytest.raises(botocore.exceptions.ClientError) as info:
            control.get_token_vault(tokenVaultId="other")
        assert code_of(info) == "ResourceNotFoundException"
    finally:
        control.set_token_vault_cmk(kmsConfiguration={"keyType": "ServiceManagedKey"})
    assert control.get_token_vault()["kmsConfiguration"] == {"keyType": "ServiceManagedKey"}


def test_consent_portals(env: LocalAgentCore, control: Any) -> None:
    """Create, get (by id or ARN), update, list, tags, delete; the IdP must exist."""
    oauth, _, _ = env.create_oauth2_provider()
    oauth_arn = control.get_oauth2_credential_provider(name=oauth)["credentialProviderArn"]
    name = env.unique_name("portal")
    created = control.create_consent_portal(
        name=name, executionRoleArn=ROLE, sources=GATEWAY, tags={"t": "1"},
        idpConfig={"credentialProviderArn": oauth_arn, "scopes": ["openid"]})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    portal_id, arn = created["consentPortalId"], created["consentPortalArn"]
    assert portal_id.startswith(name + "-") and len(portal_id) == len(name) + 11
    assert arn == f"arn:aws:bedrock-agentcore:{env.region}:{env.account_id}:consent-portal/" \
                  f"{portal_id}"
    assert control.get_consent_portal(consentPortalIdentifier=portal_id)["name"] == name
    updated = control.update_consent_portal(consentPortalIdentifier=portal_id,
                                            description="for tests")
    assert updated["description"] == "for tests"
    listed = control.list_consent_portals()["consentPortals"]
    assert portal_id in [p["consentPortalId"] for p in listed]
    assert control.list_tags_for_resource(resourceArn=arn)["tags"] == {"t": "1"}
    control.delete_consent_portal(consentPortalIdentifier=portal_id)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.get_consent_portal(consentPortalIdentifier=portal_id)
    assert code_of(info) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        control.create_consent_portal(
            name=env.unique_name("portal"), executionRoleArn=ROLE, sources=GATEWAY,
            idpConfig={"credentialProviderArn": oauth_arn + "x", "scopes": ["openid"]})
    assert code_of(info) == "ValidationException"


def test_payment_providers_and_tokens(env: LocalAgentCore, control: Any,
                                      caplog: pytest.LogCaptureFixture) -> None:
    """Payment providers keep their secrets in Secrets Manager; tokens follow rotation."""
    caplog.set_level(logging.DEBUG, logger="agentcore_auth.testing")
    data = env.client("bedrock-agentcore")
    token = env.workload_token()
    api_secret_v1, wallet, app_secret, private_key = (
        "cdp-api-secret-v1-abcdef", "cdp-wallet-secret-123456", "privy-app-secret-98765",
        "privy-auth-key-5555555")
    arn = env.create_secret(env.unique_name("cdp"), {"api": api_secret_v1})
    coinbase = env.unique_name("cdp")
    created = control.create_payment_credential_provider(
        name=coinbase, credentialProviderVendor="CoinbaseCDP", tags={"pay": "yes"},
        providerConfigurationInput={"coinbaseCdpConfiguration": {
            "apiKeyId": "key-id-1", "apiKeySecretSource": "EXTERNAL",
            "apiKeySecretConfig": {"secretId": arn, "jsonKey": "api"},
            "walletSecret": wallet}})
    config = created["providerConfigurationOutput"]["coinbaseCdpConfiguration"]
    assert config["apiKeySecretArn"]["secretArn"] == arn
    assert config["walletSecretSource"] == "MANAGED"
    assert "bedrock-agentcore-identity!default/payment/" in config["walletSecretArn"]["secretArn"]
    got = control.get_payment_credential_provider(name=coinbase)
    assert got["tags"] == {"pay": "yes"} and got["credentialProviderArn"].endswith(
        f":token-vault/default/paymentcredentialprovider/{coinbase}")

    def cdp() -> dict[str, Any]:
        return dict(data.get_resource_payment_token(
            workloadIdentityToken=token, resourceCredentialProviderName=coinbase,
            paymentTokenRequest={"coinbaseCdpTokenRequest": {
                "requestMethod": "POST", "requestPath": "/platform/v2/evm/accounts",
                "includeWalletAuthToken": True, "requestBody": "{}"}}
        )["paymentTokenResponse"]["coinbaseCdpTokenResponse"])

    first = cdp()
    claims = verify(first["bearerToken"], api_secret_v1.encode(), now=0)
    assert claims["sub"] == "key-id-1"
    assert claims["uris"] == ["POST api.cdp.coinbase.com/platform/v2/evm/accounts"]
    assert verify(first["walletAuthToken"], wallet.encode(), now=0)["reqHash"] == \
        hashlib.sha256(b"{}").hexdigest()
    env.rotate_secret(arn, {"api": "cdp-api-secret-v2-abcdef"})
    assert verify(cdp()["bearerToken"], b"cdp-api-secret-v2-abcdef", now=0)

    privy = env.unique_name("privy")
    control.create_payment_credential_provider(
        name=privy, credentialProviderVendor="StripePrivy",
        providerConfigurationInput={"stripePrivyConfiguration": {
            "appId": "app-1", "appSecret": app_secret, "authorizationPrivateKey": private_key,
            "authorizationId": "auth-1"}})
    response = data.get_resource_payment_token(
        workloadIdentityToken=token, resourceCredentialProviderName=privy,
        paymentTokenRequest={"stripePrivyTokenRequest": {
            "requestPath": "/v1/wallets", "requestBody": "{}",
            "includeAuthorizationSignature": True}}
    )["paymentTokenResponse"]["stripePrivyTokenResponse"]
    assert base64.b64decode(response["basicAuthToken"]).decode() == f"app-1:{app_secret}"
    payload = f"{response['requestExpiry']}.api.privy.io/v1/wallets.{{}}".encode()
    expected = hmac.new(private_key.encode(), payload, hashlib.sha256).digest()
    assert base64.b64decode(response["authorizationSignature"]) == expected
    names = [p["name"] for p in control.list_payment_credential_providers()["credentialProviders"]]
    assert {coinbase, privy} <= set(names)

    with pytest.raises(botocore.exceptions.ClientError) as info:  # wrong request kind
        data.get_resource_payment_token(
            workloadIdentityToken=token, resourceCredentialProviderName=privy,
            paymentTokenRequest={"coinbaseCdpTokenRequest": {"requestMethod": "GET",
                                                             "requestPath": "/x"}})
    assert code_of(info) == "ValidationException"
    control.delete_payment_credential_provider(name=coinbase)
    control.delete_payment_credential_provider(name=privy)
    with pytest.raises(botocore.exceptions.ClientError):
        env.client("secretsmanager").describe_secret(SecretId=config["walletSecretArn"]["secretArn"])
    assert env.client("secretsmanager").describe_secret(SecretId=arn)["ARN"] == arn
    for value in (api_secret_v1, wallet, app_secret, private_key):
        assert value not in caplog.text
