"""OAuth2: the local authorization server, M2M, USER_FEDERATION consent and token exchange."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import botocore.exceptions
import httpx
import pytest

from agentcore_auth.testing import LocalAgentCore

RETURN_URL = "https://app.example.com/oauth/return"


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def data(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


def custom_provider(env: LocalAgentCore, *, external: bool = True) -> tuple[str, str, str]:
    """(provider name, client id, secret ARN or '') of a CustomOauth2 provider on the local IdP."""
    client_id, secret = env.unique_name("client"), env.unique_name("secret")
    env.register_oauth_client(client_id, secret)
    name = env.unique_name("oauth")
    config: dict[str, Any] = {"oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                              "clientId": client_id}
    arn = ""
    if external:
        arn = env.create_secret(env.unique_name("cs"), {"client_secret": secret})
        config.update(clientSecretSource="EXTERNAL",
                      clientSecretConfig={"secretId": arn, "jsonKey": "client_secret"})
    else:
        config["clientSecret"] = secret
    env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": config})
    return name, client_id, arn


def test_discovery_documents(env: LocalAgentCore) -> None:
    """Both well-known documents name the local endpoints."""
    for suffix in ("openid-configuration", "oauth-authorization-server"):
        document = httpx.get(f"{env.oauth_issuer}/.well-known/{suffix}").json()
        assert document["issuer"] == env.oauth_issuer
        assert document["token_endpoint"] == f"{env.oauth_issuer}/token"
        assert "client_secret_post" in document["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize("method", ["basic", "post"])
def test_client_credentials_and_rotation(env: LocalAgentCore, method: str) -> None:
    """client_credentials with Basic or form auth; rotation refuses the old secret and tokens."""
    client_id = env.unique_name("cc")
    env.register_oauth_client(client_id, "first")

    def token_with(secret: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "scope": "read write"}
        if method == "basic":
            return httpx.post(f"{env.oauth_issuer}/token", data=form, auth=(client_id, secret))
        return httpx.post(f"{env.oauth_issuer}/token",
                          data={**form, "client_id": client_id, "client_secret": secret})

    response = token_with("first")
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    claims = claims_of(body["access_token"])
    assert {"exp", "iat", "sub", "scope", "aud", "jti"} <= set(claims)
    assert claims["scope"] == "read write" and claims["sub"] == client_id
    api = env.protected_oauth_api(scopes=["read"])
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(api, headers=bearer).status_code == 200
    assert token_with("wrong").status_code == 401

    env.register_oauth_client(client_id, "second")
    assert token_with("first").json()["error"] == "invalid_client"
    assert httpx.get(api, headers=bearer).status_code == 401  # issued under the old secret
    assert httpx.get(api, headers={"Authorization": f"Bearer {token_with('second').json()['access_token']}"}).status_code == 200  # noqa: E501


def test_bearer_api_checks_scope_and_audience(env: LocalAgentCore) -> None:
    """The bearer API refuses tokens lacking its scopes or audience, and garbage."""
    client_id = env.unique_name("aud")
    env.register_oauth_client(client_id, "s")
    token = httpx.post(f"{env.oauth_issuer}/token", auth=(client_id, "s"),
                       data={"grant_type": "client_credentials", "scope": "read"}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(env.protected_oauth_api(scopes=["write"]), headers=bearer).status_code == 401
    assert httpx.get(env.protected_oauth_api(audience="other"), headers=bearer).status_code == 401
    assert httpx.get(env.protected_oauth_api(audience=client_id),
                     headers=bearer).status_code == 200
    assert httpx.get(env.protected_oauth_api(),
                     headers={"Authorization": "Bearer a.b.c"}).status_code == 401
    assert httpx.get(env.protected_oauth_api()).status_code == 401


def test_m2m_token_via_agentcore_is_jwt_with_exp(env: LocalAgentCore, data: Any) -> None:
    """M2M makes a real client_credentials request and returns a JWT with exp."""
    name, client_id, _ = custom_provider(env)
    before = env.call_count("OAuth2Token")
    token = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(), resourceCredentialProviderName=name,
        scopes=["read"], oauth2Flow="M2M")["accessToken"]
    assert env.call_count("OAuth2Token") == before + 1
    claims = claims_of(token)
    assert claims["exp"] > time.time() and claims["sub"] == client_id
    assert env.validate_oauth_token(token, scopes=["read"])["client_id"] == client_id


def test_m2m_client_secret_rotation(env: LocalAgentCore, data: Any) -> None:
    """A rotated client secret works once the referenced secret holds it; AccessDenied before."""
    name, client_id, arn = custom_provider(env)
    workload_token = env.workload_token()

    def m2m() -> str:
        return str(data.get_resource_oauth2_token(
            workloadIdentityToken=workload_token, resourceCredentialProviderName=name,
            scopes=[], oauth2Flow="M2M")["accessToken"])

    old = m2m()
    env.register_oauth_client(client_id, "rotated-secret")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        m2m()
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "invalid_client" in str(info.value) and "rotated-secret" not in str(info.value)
    env.rotate_secret(arn, {"client_secret": "rotated-secret"})
    new = m2m()
    api = env.protected_oauth_api()
    assert httpx.get(api, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert httpx.get(api, headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_m2m_with_google_vendor_managed_secret(env: LocalAgentCore, data: Any) -> None:
    """GoogleOauth2 with a MANAGED secret talks to the local OAuth2 server."""
    client_id = env.unique_name("google")
    env.register_oauth_client(client_id, "google-secret")
    name = env.unique_name("google")
    env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
        name=name, credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput={"googleOauth2ProviderConfig": {
            "clientId": client_id, "clientSecret": "google-secret"}})
    token = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(), resourceCredentialProviderName=name,
        scopes=["email"], oauth2Flow="M2M")["accessToken"]
    assert env.validate_oauth_token(token)["sub"] == client_id


def start_flow(data: Any, token: str, name: str, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = data.get_resource_oauth2_token(
        workloadIdentityToken=token, resourceCredentialProviderName=name, scopes=["files"],
        oauth2Flow="USER_FEDERATION", **extra)
    return response


def test_user_federation_round_trip(env: LocalAgentCore, data: Any) -> None:
    """Consent, CompleteResourceTokenAuth, polling, vault per user, forceAuthentication."""
    name, _, _ = custom_provider(env)
    workload = env.create_workload(return_urls=[RETURN_URL])
    alice = env.workload_token(workload, user_id="alice")

    first = start_flow(data, alice, name, resourceOauth2ReturnUrl=RETURN_URL)
    assert first["sessionStatus"] == "IN_PROGRESS" and "accessToken" not in first
    session = first["sessionUri"]
    assert session.startswith("urn:ietf:params:oauth:request_uri:")
    polled = start_flow(data, alice, name, sessionUri=session)
    assert polled["sessionStatus"] == "IN_PROGRESS"

    assert env.complete_consent(first["authorizationUrl"], user_id="alice") == session
    token = start_flow(data, alice, name, sessionUri=session)["accessToken"]
    assert env.validate_oauth_token(token)["sub"] == "alice"
    # the vault now answers without a new consent
    assert start_flow(data, alice, name)["accessToken"] == token
    # another user of the same workload must consent on their own
    bob = env.workload_token(workload, user_id="bob")
    assert "authorizationUrl" in start_flow(data, bob, name)
    # and may not use alice's session
    with pytest.raises(botocore.exceptions.ClientError) as info:
        start_flow(data, bob, name, sessionUri=session)
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    # forceAuthentication asks for consent again despite the vault
    forced = start_flow(data, alice, name, forceAuthentication=True)
    assert "authorizationUrl" in forced and forced["sessionUri"] != session


def test_complete_by_other_user_refused(env: LocalAgentCore, data: Any) -> None:
    """CompleteResourceTokenAuth for another user than the session's is AccessDenied."""
    name, _, _ = custom_provider(env)
    workload = env.create_workload()
    started = start_flow(data, env.workload_token(workload, user_id="carol"), name)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        env.complete_consent(started["authorizationUrl"], user_id="mallory")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    # carol's own completion still works after the refused attempt
    env.complete_consent(started["authorizationUrl"], user_id="carol")


def test_complete_before_consent_is_validation_error(env: LocalAgentCore, data: Any) -> None:
    """Completing a session whose user never visited the authorization URL is refused."""
    name, _, _ = custom_provider(env)
    started = start_flow(data, env.workload_token(user_id="dave"), name)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.complete_resource_token_auth(userIdentifier={"userId": "dave"},
                                          sessionUri=started["sessionUri"])
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_user_federation_with_user_jwt(env: LocalAgentCore, data: Any) -> None:
    """A ForJWT workload token binds the JWT's sub; userToken completes the session."""
    name, _, _ = custom_provider(env, external=False)
    user_jwt = env.issue_user_token("erin")
    token = env.workload_token(user_token=user_jwt)
    started = start_flow(data, token, name)
    session = env.complete_consent(started["authorizationUrl"], user_token=user_jwt)
    access = start_flow(data, token, name, sessionUri=session)["accessToken"]
    assert env.validate_oauth_token(access)["sub"] == "erin"


def test_return_url_must_be_allowed(env: LocalAgentCore, data: Any) -> None:
    """A resourceOauth2ReturnUrl the workload does not allow is a ValidationException."""
    name, _, _ = custom_provider(env)
    token = env.workload_token(env.create_workload(return_urls=[RETURN_URL]), user_id="frank")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        start_flow(data, token, name, resourceOauth2ReturnUrl="https://evil.example.com/cb")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException" and "resourceOauth2ReturnUrl" in error["Message"]


def test_user_federation_needs_user(env: LocalAgentCore, data: Any) -> None:
    """USER_FEDERATION with a workload token bound to no user is a ValidationException."""
    name, _, _ = custom_provider(env)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        start_flow(data, env.workload_token(), name)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_on_behalf_of_token_exchange(env: LocalAgentCore, data: Any) -> None:
    """Token exchange turns the user's JWT bound to the workload token into a token for them."""
    name, client_id, _ = custom_provider(env)
    token = env.workload_token(user_token=env.issue_user_token("grace"))
    access = data.get_resource_oauth2_token(
        workloadIdentityToken=token, resourceCredentialProviderName=name, scopes=["api"],
        oauth2Flow="ON_BEHALF_OF_TOKEN_EXCHANGE", audiences=["https://api.example.com"],
    )["accessToken"]
    claims = env.validate_oauth_token(access, audience="https://api.example.com")
    assert claims["sub"] == "grace" and claims["act"] == {"sub": client_id}
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_resource_oauth2_token(
            workloadIdentityToken=env.workload_token(user_id="grace"),
            resourceCredentialProviderName=name, scopes=[],
            oauth2Flow="ON_BEHALF_OF_TOKEN_EXCHANGE")
    assert info.value.response["Error"]["Code"] == "ValidationException"
