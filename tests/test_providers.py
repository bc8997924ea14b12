"""The providers API: EXTERNAL API key and OAuth2 providers, validated before any call."""

from __future__ import annotations

from typing import Any

import pytest

from agentcore_auth import ConfigurationError, CredentialError, CredentialNotFoundError, SecretRef
from agentcore_auth._providers import (
    create_api_key_provider,
    create_oauth2_provider,
    describe_provider,
    list_providers,
)
from agentcore_auth.testing import LocalAgentCore


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def control(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore-control")


def creates(env: LocalAgentCore) -> int:
    return (env.call_count("CreateApiKeyCredentialProvider")
            + env.call_count("CreateOauth2CredentialProvider"))


def test_create_api_key_provider_external(env: LocalAgentCore, control: Any) -> None:
    """The provider references the secret: EXTERNAL, its ARN and JSON key; describe agrees."""
    name = env.unique_name("weather")
    arn = env.create_secret(name, {"key": "sk-providers-1234567"})
    info = create_api_key_provider(name, SecretRef(arn, "key"), client=control,
                                   tags={"team": "a"})
    assert (info.kind, info.source, info.secret_arn, info.json_key) == (
        "api_key", "EXTERNAL", arn, "key")
    assert info.region == "us-east-1"
    assert describe_provider(name, client=control) == info


def test_create_oauth2_provider_with_discovery_url(env: LocalAgentCore, control: Any) -> None:
    """CustomOauth2 with a discovery URL; describe returns vendor, client ID and callback URL."""
    name = env.unique_name("cal")
    arn = env.create_secret(name, {"client_secret": "cs-providers-1234567"})
    info = create_oauth2_provider(name, vendor="CustomOauth2", client_id="cid",
                                  ref=SecretRef(arn, "client_secret"),
                                  discovery_url=env.oauth_discovery_url, client=control)
    assert (info.kind, info.vendor, info.client_id, info.source) == (
        "oauth2", "CustomOauth2", "cid", "EXTERNAL")
    shown = describe_provider(name, client=control)
    assert shown.discovery == {"discoveryUrl": env.oauth_discovery_url}
    assert shown.callback_url and shown.secret_arn == arn


def test_create_oauth2_provider_with_inline_metadata(env: LocalAgentCore, control: Any) -> None:
    """Issuer and both endpoints instead of a discovery URL."""
    name = env.unique_name("inline")
    arn = env.create_secret(name, {"cs": "cs-providers-1234567"})
    issuer = env.oauth_issuer
    info = create_oauth2_provider(
        name, vendor="CustomOauth2", client_id="cid", ref=SecretRef(arn, "cs"), issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize", token_endpoint=f"{issuer}/token",
        client=control)
    metadata = describe_provider(info.name, client=control).discovery
    assert metadata["authorizationServerMetadata"]["tokenEndpoint"] == f"{issuer}/token"


def test_list_providers_has_both_kinds(env: LocalAgentCore, control: Any) -> None:
    """list_providers returns API key and OAuth2 providers."""
    api, oauth = env.unique_name("l-api"), env.unique_name("l-oauth")
    arn = env.create_secret(api, {"k": "sk-providers-1234567"})
    create_api_key_provider(api, SecretRef(arn, "k"), client=control)
    create_oauth2_provider(oauth, vendor="GoogleOauth2", client_id="g", ref=SecretRef(arn, "k"),
                           client=control)
    kinds = {p.name: (p.kind, p.vendor) for p in list_providers(client=control)}
    assert kinds[api] == ("api_key", None)
    assert kinds[oauth] == ("oauth2", "GoogleOauth2")


WEST = "arn:aws:secretsmanager:us-west-2:123456789012:secret:weather-AbCdEf"
EAST = "arn:aws:secretsmanager:us-east-1:123456789012:secret:weather-AbCdEf"


@pytest.mark.parametrize(("name", "arn", "message"), [
    ("bad name!", EAST, "provider name 'bad name!' is invalid"),
    ("ok", WEST, "cross-Region references are not supported"),
])
def test_api_key_validation_before_any_call(env: LocalAgentCore, control: Any, name: str,
                                            arn: str, message: str) -> None:
    """A bad name or a cross-Region ARN is refused with the fix, before calling the service."""
    before = creates(env)
    with pytest.raises(ConfigurationError, match=message):
        create_api_key_provider(name, SecretRef(arn, "key"), client=control)
    assert creates(env) == before


def test_secret_ref_checks_arn_shape() -> None:
    """A non-Secrets-Manager ARN is refused by SecretRef, naming the expected form."""
    with pytest.raises(ConfigurationError, match="not a Secrets Manager secret ARN"):
        SecretRef("arn:aws:s3:::bucket", "k")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"vendor": "NopeOauth2"}, "unknown OAuth2 vendor 'NopeOauth2'"),
    ({"vendor": "CustomOauth2"}, "CustomOauth2 needs discovery_url"),
    ({"vendor": "CustomOauth2", "discovery_url": "https://x/.well-known/openid-configuration",
      "issuer": "https://x"}, "not both"),
    ({"vendor": "GoogleOauth2", "discovery_url": "https://x"}, "takes no discovery URL"),
    ({"vendor": "CustomOauth2", "discovery_url": "ftp://x"}, "must be an https:// URL"),
    ({"vendor": "CustomOauth2", "client_id": ""}, "client_id must be"),
])
def test_oauth2_validation_before_any_call(env: LocalAgentCore, control: Any,
                                           kwargs: dict[str, Any], message: str) -> None:
    """Vendor and discovery options are checked locally, with the fix in the message."""
    before = creates(env)
    options: dict[str, Any] = {"client_id": "cid", **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        create_oauth2_provider("p", ref=SecretRef(EAST, "k"), client=control, **options)
    assert creates(env) == before


def test_service_errors_are_mapped(env: LocalAgentCore, control: Any) -> None:
    """A conflict is a CredentialError naming the operation; a missing provider is NotFound."""
    name = env.unique_name("dup")
    arn = env.create_secret(name, {"k": "sk-providers-1234567"})
    create_api_key_provider(name, SecretRef(arn, "k"), client=control)
    with pytest.raises(CredentialError, match="ConflictException"):
        create_api_key_provider(name, SecretRef(arn, "k"), client=control)
    with pytest.raises(CredentialNotFoundError, match="providers list"):
        describe_provider(env.unique_name("missing"), client=control)


def test_control_client_from_boto3_config(env: LocalAgentCore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a client, AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL points boto3 at the emulator."""
    for key, value in env.env_vars().items():
        monkeypatch.setenv(key, value)
    name = env.unique_name("envcfg")
    arn = env.create_secret(name, {"k": "sk-providers-1234567"})
    assert create_api_key_provider(name, SecretRef(arn, "k")).secret_arn == arn
    assert describe_provider(name).name == name
