"""Fidelity to the service: JWT verification, token request parameters, USER_FEDERATION.

Driven with real boto3 clients against LocalAgentCore; what the emulator sends to
the identity provider is read from the local OAuth2 server's request log.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import httpx
import pytest

from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._jwt import sign

OTHER_ISSUER = "https://idp.example.test"
OTHER_KEY = b"other-issuer-hs256-key-0123456789"


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def data(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore")


def code_of(info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def b64(value: object) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(sub: str, iss: str, lifetime: int = 300) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": iss, "sub": sub, "aud": "agents", "iat": now, "exp": now + lifetime}


# --- 4. GetWorkloadAccessTokenForJWT ----------------------------------------------------

def test_user_jwt_must_be_signed_by_a_trusted_issuer(env: LocalAgentCore, data: Any) -> None:
    """Untrusted issuers, alg none, unsigned, forged and expired JWTs are all refused."""
    own = env.issue_user_token("alice")
    assert data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                                  userToken=own)["workloadAccessToken"]
    forged_claims = claims("alice", env.oauth_issuer)
    bad = {
        "untrusted issuer": sign(claims("alice", "https://stranger.test"), b"k" * 32),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(forged_claims)}.c2ln",
        "unsigned": f"{b64({'alg': 'HS256'})}.{b64(forged_claims)}.c2ln",
        "forged": sign(forged_claims, b"not-the-idp-key-0123456789abcdef"),
        "expired": env.issue_user_token("alice", lifetime=-10),
    }
    for why, token in bad.items():
        with pytest.raises(botocore.exceptions.ClientError) as info:
            data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                                   userToken=token)
        assert code_of(info) == "UnauthorizedException", why
    # with no signature at all, the model's pattern already refuses it
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token_for_jwt(
            workloadName=env.workload_name,
            userToken=f"{b64({'alg': 'none'})}.{b64(forged_claims)}.")
    assert code_of(info) in ("ValidationException", "UnauthorizedException")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                               userToken=bad["alg none"])
    assert "alg none" in info.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                               userToken=bad["untrusted issuer"])
    message = info.value.response["Error"]["Message"]
    assert "https://stranger.test" in message and "trust_issuer" in message


def test_trusted_issuer_hs256_and_audience(env: LocalAgentCore, data: Any) -> None:
    """An issuer trusted with a key is accepted; its audience restriction applies."""
    issuer = f"{OTHER_ISSUER}/{env.unique_name('hs')}"
    env.trust_issuer(issuer, key=OTHER_KEY, audiences=["agents"])
    token = sign(claims("alice", issuer), OTHER_KEY)
    assert data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                                  userToken=token)["workloadAccessToken"]
    wrong_aud = sign({**claims("alice", issuer), "aud": "someone-else"}, OTHER_KEY)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                               userToken=wrong_aud)
    assert code_of(info) == "UnauthorizedException"


def test_trusted_issuer_rs256_jwks(env: LocalAgentCore, data: Any) -> None:
    """RS256 tokens verify against the issuer's JWKS; another key's signature does not."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    def rsa_jwt(key: Any, kid: str, payload: dict[str, Any]) -> str:
        head = f"{b64({'alg': 'RS256', 'kid': kid})}.{b64(payload)}"
        signature = key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def number(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_numbers()
    issuer = f"{OTHER_ISSUER}/{env.unique_name('rs')}"
    env.trust_issuer(issuer, jwks={"keys": [{"kty": "RSA", "kid": "k1", "n": number(public.n),
                                             "e": number(public.e)}]})
    good = rsa_jwt(key, "k1", claims("alice", issuer))
    assert data.get_workload_access_token_for_jwt(workloadName=env.workload_name,
                                                  userToken=good)["workloadAccessToken"]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token_for_jwt(
            workloadName=env.workload_name, userToken=rsa_jwt(other, "k1", claims("a", issuer)))
    assert code_of(info) == "UnauthorizedException"


def test_same_sub_from_another_issuer_is_another_user(env: LocalAgentCore, data: Any) -> None:
    """alice@local-IdP's vaulted token is never served to alice@other-issuer."""
    issuer = f"{OTHER_ISSUER}/{env.unique_name('iss')}"
    env.trust_issuer(issuer, key=OTHER_KEY)
    provider, _, _ = env.create_oauth2_provider()
    local_alice = env.issue_user_token("alice")
    token = env.workload_token(env.workload_name, user_token=local_alice)
    pending = data.get_resource_oauth2_token(
        workloadIdentityToken=token, resourceCredentialProviderName=provider,
        scopes=["files"], oauth2Flow="USER_FEDERATION")
    env.complete_consent(pending["authorizationUrl"])  # completes with alice's own JWT
    again = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(env.workload_name, user_token=local_alice),
        resourceCredentialProviderName=provider, scopes=["files"], oauth2Flow="USER_FEDERATION")
    assert again.get("accessToken")

    other_alice = sign(claims("alice", issuer), OTHER_KEY)
    other = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(env.workload_name, user_token=other_alice),
        resourceCredentialProviderName=provider, scopes=["files"], oauth2Flow="USER_FEDERATION")
    assert "accessToken" not in other and other["authorizationUrl"]
    # nor can the other alice complete the first alice's session
    pending = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(env.workload_name, user_token=local_alice),
        resourceCredentialProviderName=provider, scopes=["more"], oauth2Flow="USER_FEDERATION")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        env.complete_consent(pending["authorizationUrl"], user_token=other_alice)
    assert code_of(info) == "AccessDeniedException"


# --- 5. token requests ------------------------------------------------------------------

def last_token_request(env: LocalAgentCore) -> list[tuple[str, str]]:
    return env.oauth_requests("/token")[-1]


def test_m2m_sends_each_resource_and_audience(env: LocalAgentCore, data: Any) -> None:
    """resources -> one `resource` each (RFC 8707), audiences -> one `audience` each."""
    provider, _, _ = env.create_oauth2_provider()
    token = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(), resourceCredentialProviderName=provider,
        scopes=["read"], oauth2Flow="M2M", resources=["https://a.test", "https://b.test"],
        audiences=["api-1", "api-2"],
        customParameters={"tenant": "t1", "grant_type": "password", "scope": "admin"},
    )["accessToken"]
    sent = last_token_request(env)
    assert [v for k, v in sent if k == "resource"] == ["https://a.test", "https://b.test"]
    assert [v for k, v in sent if k == "audience"] == ["api-1", "api-2"]
    assert ("tenant", "t1") in sent
    # custom parameters never override standard ones
    assert [v for k, v in sent if k == "grant_type"] == ["client_credentials"]
    assert [v for k, v in sent if k == "scope"] == ["read"]
    assert env.validate_oauth_token(token)["aud"] == ["api-1", "api-2"]


def test_on_behalf_of_uses_the_configured_grant(env: LocalAgentCore, data: Any) -> None:
    """TOKEN_EXCHANGE by default (with an M2M actor token when asked), or jwt-bearer."""
    control = env.client("bedrock-agentcore-control")
    provider, client_id, arn = env.create_oauth2_provider()
    user = env.issue_user_token("olivia")
    token = env.workload_token(env.workload_name, user_token=user)

    def exchange() -> dict[str, Any]:
        response = data.get_resource_oauth2_token(
            workloadIdentityToken=token, resourceCredentialProviderName=provider,
            scopes=["files"], oauth2Flow="ON_BEHALF_OF_TOKEN_EXCHANGE", audiences=["files-api"])
        return env.validate_oauth_token(response["accessToken"])

    assert exchange()["sub"] == "olivia"
    assert ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange") in \
        last_token_request(env)

    def configure(obo: dict[str, Any]) -> None:
        control.update_oauth2_credential_provider(
            name=provider, credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": client_id, "clientSecretSource": "EXTERNAL",
                "clientSecretConfig": {"secretId": arn, "jsonKey": "client_secret"},
                "onBehalfOfTokenExchangeConfig": obo}})

    configure({"grantType": "JWT_AUTHORIZATION_GRANT"})
    assert exchange()["sub"] == "olivia"
    sent = last_token_request(env)
    assert ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer") in sent
    assert ("assertion", "<redacted>") in sent

    configure({"grantType": "TOKEN_EXCHANGE", "tokenExchangeGrantTypeConfig": {
        "actorTokenContent": "M2M", "actorTokenScopes": ["act"]}})
    assert exchange()["sub"] == "olivia"
    actor, exchanged = env.oauth_requests("/token")[-2:]
    assert ("grant_type", "client_credentials") in actor and ("scope", "act") in actor
    assert ("actor_token", "<redacted>") in exchanged
    got = control.get_oauth2_credential_provider(name=provider)
    kept = got["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert kept["onBehalfOfTokenExchangeConfig"]["tokenExchangeGrantTypeConfig"] == {
        "actorTokenContent": "M2M", "actorTokenScopes": ["act"]}


# --- 6. USER_FEDERATION -----------------------------------------------------------------

def test_authorization_url_is_the_services_own(env: LocalAgentCore, data: Any) -> None:
    """.../identities/oauth2/authorize?request_uri=<sessionUri> redirects to the IdP."""
    provider, client_id, _ = env.create_oauth2_provider()
    pending = data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(env.workload_name, user_id="uma"),
        resourceCredentialProviderName=provider, scopes=["files"], oauth2Flow="USER_FEDERATION",
        customParameters={"prompt": "none", "tenant": "t9"}, resources=["https://files.test"])
    url = pending["authorizationUrl"]
    assert url == (f"{env.endpoint_url}/identities/oauth2/authorize?"
                   + urllib.parse.urlencode({"request_uri": pending["sessionUri"]}))
    response = httpx.get(url)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{env.oauth_issuer}/authorize?")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["client_id"] == [client_id] and query["login_hint"] == ["uma"]
    assert query["tenant"] == ["t9"] and query["resource"] == ["https://files.test"]
    assert "prompt" not in query  # a standard parameter: never set by customParameters


@pytest.fixture(scope="module")
def short_lived() -> Iterator[LocalAgentCore]:
    """Access tokens that expire within seconds (sessions too, where a test asks)."""
    with LocalAgentCore(token_lifetime=2) as env:
        yield env


def test_session_expires(short_lived: LocalAgentCore) -> None:
    """An unused session expires: its URL answers 400, and polling it is a ValidationException."""
    env = short_lived
    data = env.client("bedrock-agentcore")
    provider, _, _ = env.create_oauth2_provider()
    token = env.workload_token(env.workload_name, user_id="vic")
    env.settings.consent_session_lifetime = 1.5
    try:
        pending = data.get_resource_oauth2_token(
            workloadIdentityToken=token, resourceCredentialProviderName=provider, scopes=["s"],
            oauth2Flow="USER_FEDERATION")
    finally:
        env.settings.consent_session_lifetime = 600
    time.sleep(1.6)
    assert httpx.get(pending["authorizationUrl"]).status_code == 400
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_resource_oauth2_token(
            workloadIdentityToken=token, resourceCredentialProviderName=provider, scopes=["s"],
            oauth2Flow="USER_FEDERATION", sessionUri=pending["sessionUri"])
    assert code_of(info) == "ValidationException"
    assert "expired" in info.value.response["Error"]["Message"]


def test_vault_refreshes_then_revocation_asks_again(short_lived: LocalAgentCore,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Expired access token: refreshed without consent; revoked grant: consent again."""
    caplog.set_level(logging.DEBUG, logger="agentcore_auth.testing")  # what the emulator logs
    env = short_lived
    data = env.client("bedrock-agentcore")
    provider, _, _ = env.create_oauth2_provider()

    def call() -> dict[str, Any]:
        return dict(data.get_resource_oauth2_token(
            workloadIdentityToken=env.workload_token(env.workload_name, user_id="wes"),
            resourceCredentialProviderName=provider, scopes=["files"],
            oauth2Flow="USER_FEDERATION"))

    env.complete_consent(call()["authorizationUrl"])
    first = call()["accessToken"]
    env.reset_counts()
    time.sleep(2.1)  # the access token expires; the vault holds a refresh token
    refreshed = call()
    assert refreshed["accessToken"] != first
    assert env.validate_oauth_token(refreshed["accessToken"])["sub"] == "wes"
    assert env.call_count("OAuth2Authorize") == 0 and env.call_count("OAuth2Token") == 1
    assert ("grant_type", "refresh_token") in env.oauth_requests("/token")[-1]

    assert env.revoke_consent("wes") == 1
    time.sleep(2.1)
    again = call()
    assert "accessToken" not in again and again["authorizationUrl"]
    env.complete_consent(again["authorizationUrl"])
    last = call()["accessToken"]
    for token in (first, refreshed["accessToken"], last):
        assert token not in caplog.text
        assert not any(token in value for request in env.oauth_requests("/token")
                       for _, value in request)
    assert "must consent again" in caplog.text


def test_concurrent_calls_refresh_once(short_lived: LocalAgentCore) -> None:
    """Eight callers after expiry: one refresh, and none mistakes rotation for revocation."""
    from concurrent.futures import ThreadPoolExecutor

    env = short_lived
    data = env.client("bedrock-agentcore")
    provider, _, _ = env.create_oauth2_provider()
    token = env.workload_token(env.workload_name, user_id="xena")

    def call(_: int = 0) -> dict[str, Any]:
        return dict(data.get_resource_oauth2_token(
            workloadIdentityToken=token, resourceCredentialProviderName=provider,
            scopes=["files"], oauth2Flow="USER_FEDERATION"))

    env.complete_consent(call()["authorizationUrl"])
    assert call()["accessToken"]
    time.sleep(2.1)
    env.reset_counts()
    env.oauth.token_lifetime = 60  # the refreshed token must outlive the eight calls, however slow
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, range(8)))
    finally:
        env.oauth.token_lifetime = 2
    assert all("accessToken" in r for r in results)
    assert len({r["accessToken"] for r in results}) == 1
    assert env.call_count("OAuth2Token") == 1


def test_oauth2_provider_settings_kept_as_given(env: LocalAgentCore) -> None:
    """Private endpoint, overrides, certificates and the auth method come back as given."""
    control = env.client("bedrock-agentcore-control")
    client_id, secret = env.unique_name("cid"), "cs-" + env.unique_name("kept")
    env.register_oauth_client(client_id, secret)
    lattice = {"selfManagedLatticeResource": {
        "resourceConfigurationIdentifier": "rcfg-0123456789abcdef0"}}
    settings = {
        "clientAuthenticationMethod": "CLIENT_SECRET_POST",
        "privateEndpoint": lattice,
        "privateEndpointOverrides": [{"domain": "idp.internal.test", "privateEndpoint": lattice}],
        "certificateConfigurations": [{"secretsManager": {
            "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ca-AbCdEf"}}],
    }
    name = env.unique_name("kept")
    control.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url}, "clientId": client_id,
            "clientSecret": secret, **settings}})
    got = control.get_oauth2_credential_provider(name=name)
    kept = got["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert {k: kept[k] for k in settings} == settings
    data = env.client("bedrock-agentcore")
    assert data.get_resource_oauth2_token(
        workloadIdentityToken=env.workload_token(), resourceCredentialProviderName=name,
        scopes=["r"], oauth2Flow="M2M")["accessToken"]
    assert ("client_secret", "<redacted>") in last_token_request(env)  # CLIENT_SECRET_POST
    assert secret not in str(got)
