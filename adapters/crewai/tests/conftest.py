"""Set-up for the CrewAI adapter's tests: a clean AWS environment, the emulator.

This directory is not under ``tests/``, so nothing from ``tests/conftest.py`` applies.
"""

from __future__ import annotations

import secrets
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agentcore_auth import AgentCoreIdentitySource, AuthorizationRequiredError, CredentialResolver
from agentcore_auth.testing import LocalAgentCore

# The tests import their shared helpers (crew_helpers.py) from this directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# ``local_agentcore`` and ``clean_aws_environ`` come from the agentcore_auth pytest plugin
# (the pytest11 entry point of the installed package).


@pytest.fixture(autouse=True)
def clean_environ(clean_aws_environ: None) -> None:
    """Every test runs with AWS_* stripped and fake credentials (the plugin's fixture)."""


RETURN_URL = "https://app.example.com/oauth/return"


@dataclass
class Weather:
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
class Files:
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


@pytest.fixture
def weather(local_agentcore: LocalAgentCore) -> Iterator[Weather]:  # noqa: F811 - the fixture
    env = local_agentcore
    provider, key = env.unique_name("weather"), "sk-" + secrets.token_hex(16)
    arn = env.create_secret(provider, {"key": key})
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=provider, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    with _resolver(env, env.create_workload()) as resolver:
        yield Weather(env, provider, arn, env.protected_api(arn, "key"), key, resolver)


@pytest.fixture
def files(local_agentcore: LocalAgentCore) -> Iterator[Files]:  # noqa: F811 - the fixture
    env = local_agentcore
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
        yield Files(env, provider, workload, env.protected_oauth_api(), resolver)


@pytest.fixture(autouse=True)
def no_crewai_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """CrewAI's telemetry would try to reach the internet."""
    monkeypatch.setenv("CREWAI_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("CREWAI_TRACING_ENABLED", "false")


def pytest_configure(config: pytest.Config) -> None:
    """crewai 1.15's own imports warn (not ours)."""
    for rule in ("ignore::ImportWarning", "ignore::DeprecationWarning:crewai.*",
                 "ignore:function_calling_llm is deprecated:DeprecationWarning",
                 "ignore::pytest.PytestUnraisableExceptionWarning"):
        config.addinivalue_line("filterwarnings", rule)
