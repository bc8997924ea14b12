"""Ready-made set-ups on a :class:`LocalAgentCore` for agent and adapter tests.

- :func:`api_key_scenario`: an EXTERNAL API key provider whose value lives in a
  Secrets Manager secret, a protected API accepting its current value (``echo=1``
  makes it echo the key, to test redaction), and a resolver.
- :func:`example_setup`: what every framework example runs on offline: providers
  ``weather`` (API key) and ``files`` (USER_FEDERATION), a workload, a resolver.
- :func:`user_federation_scenario`: a USER_FEDERATION (CustomOauth2) provider on the
  emulator's IdP, a workload identity with a registered return URL, a
  bearer-protected API, and a resolver.

Every adapter's test suite uses them (as its ``weather`` and ``files`` fixtures)::

    @pytest.fixture
    def weather(local_agentcore: LocalAgentCore) -> Iterator[ApiKeyScenario]:
        with api_key_scenario(local_agentcore) as scenario:
            yield scenario
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from .._exceptions import AuthorizationRequiredError
from .._resolver import CredentialResolver
from ..sources import AgentCoreIdentitySource
from ._env import LocalAgentCore

__all__ = [
    "RETURN_URL",
    "ApiKeyScenario",
    "ExampleSetup",
    "UserFederationScenario",
    "api_key_scenario",
    "example_setup",
    "user_federation_scenario",
]

RETURN_URL = "https://app.example.com/oauth/return"
"""The return URL registered on :func:`user_federation_scenario`'s workload."""


@dataclass
class ApiKeyScenario:
    """An EXTERNAL API key provider, its secret and a protected API taking its current value."""

    env: LocalAgentCore
    provider: str
    arn: str
    url: str
    key: str
    resolver: CredentialResolver

    def rotate(self) -> str:
        self.key = "sk-" + secrets.token_hex(16)
        self.env.rotate_secret(self.arn, {"key": self.key})
        return self.key


@dataclass
class UserFederationScenario:
    """A USER_FEDERATION (CustomOauth2) provider on the local IdP and a bearer-protected API."""

    env: LocalAgentCore
    provider: str
    workload: str
    url: str
    resolver: CredentialResolver
    return_url: str = RETURN_URL

    def browse(self, authorization_url: str) -> str:
        """Consent in the 'browser' up to the app's return URL; return its session_id."""
        url = authorization_url
        with httpx.Client(timeout=10.0) as http:
            for _ in range(10):
                response = http.get(url)
                assert response.is_redirect, response.text
                url = urllib.parse.urljoin(url, response.headers["location"])
                if url.startswith(RETURN_URL):
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
                    return query["session_id"][0]
        raise AssertionError("never reached the return URL")

    def consent(self, user_id: str) -> None:
        """Give ``user_id`` a token in the vault, outside any agent."""
        try:
            self.resolver.get_oauth2_token(self.provider, scopes=["files"],
                                           auth_flow="USER_FEDERATION", user_id=user_id)
        except AuthorizationRequiredError as exc:
            self.env.complete_consent(exc.authorization_url, user_id=user_id)
        else:
            raise AssertionError("expected consent to be required")


def _resolver(env: LocalAgentCore, workload: str) -> CredentialResolver:
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"), workload_name=workload)
    return CredentialResolver(source, timer=lambda: 0.0)  # nothing expires mid-test


@contextmanager
def api_key_scenario(env: LocalAgentCore) -> Iterator[ApiKeyScenario]:
    """An EXTERNAL API key provider, its secret, a protected API and a resolver (closed after)."""
    provider, key = env.unique_name("weather"), "sk-" + secrets.token_hex(16)
    arn = env.create_secret(provider, {"key": key})
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=provider, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    with _resolver(env, env.create_workload()) as resolver:
        yield ApiKeyScenario(env, provider, arn, env.protected_api(arn, "key"), key, resolver)


@contextmanager
def user_federation_scenario(env: LocalAgentCore) -> Iterator[UserFederationScenario]:
    """A USER_FEDERATION provider on the emulator's IdP, a workload with :data:`RETURN_URL`."""
    client_id, client_secret = env.unique_name("client"), env.unique_name("secret")
    env.register_oauth_client(client_id, client_secret)
    arn = env.create_secret(env.unique_name("cs"), {"client_secret": client_secret})
    provider = env.unique_name("files")
    env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
        name=provider, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url}, "clientId": client_id,
            "clientSecretSource": "EXTERNAL",
            "clientSecretConfig": {"secretId": arn, "jsonKey": "client_secret"}}})
    workload = env.create_workload(return_urls=[RETURN_URL])
    with _resolver(env, workload) as resolver:
        yield UserFederationScenario(env, provider, workload, env.protected_oauth_api(), resolver)


@dataclass
class ExampleSetup:
    """The examples' offline set-up: ``weather`` and ``files`` providers and a resolver.

    ``key`` and ``client_secret`` are the values to look for in what a model or a
    trace saw; ``arn`` is the weather secret (``env.protected_api(arn, "key")`` is its
    API); ``workload`` allows ``return_url``.
    """

    key: str
    arn: str
    client_secret: str
    workload: str
    resolver: CredentialResolver
    return_url: str = RETURN_URL


def example_setup(env: LocalAgentCore, return_url: str = RETURN_URL) -> ExampleSetup:
    """Providers ``weather`` (an EXTERNAL API key) and ``files`` (USER_FEDERATION on the
    emulator's IdP), a workload allowing ``return_url``, and a resolver over them.

    The framework examples share it, so each shows only its framework's code::

        with LocalAgentCore() as env:
            offline = example_setup(env)
            resolver = offline.resolver
    """
    key = "sk-example-" + secrets.token_hex(8)
    arn = env.create_secret(env.unique_name("weather"), {"key": key})
    control = env.client("bedrock-agentcore-control")
    control.create_api_key_credential_provider(
        name="weather", apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    client_id, client_secret = "files-app", "cs-" + secrets.token_hex(8)
    env.register_oauth_client(client_id, client_secret)
    control.create_oauth2_credential_provider(
        name="files", credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
            "clientId": client_id, "clientSecret": client_secret}})
    workload = env.create_workload(return_urls=[return_url])
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                     workload_name=workload)
    return ExampleSetup(key, arn, client_secret, workload, CredentialResolver(source),
                        return_url)
