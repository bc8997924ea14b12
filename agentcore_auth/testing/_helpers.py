"""Helpers for testing agents against LocalAgentCore: providers in one call, a manual clock."""

from __future__ import annotations

import os
import secrets
from typing import Any

__all__ = ["ManualClock", "ProviderHelpers", "fake_aws_environ"]


class ManualClock:
    """A monotonic clock that moves only when told: pass it as ``timer=`` to a resolver.

    Example:
        >>> clock = ManualClock()
        >>> resolver = CredentialResolver(source, ttl=60, timer=clock)
        >>> clock.advance(61)  # the cached credential is now expired
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def fake_aws_environ() -> dict[str, str | None]:
    """The environment changes that isolate a test from real AWS (None: remove the variable).

    Every ``AWS_*`` variable is removed, then fake keys, a Region and
    ``AWS_EC2_METADATA_DISABLED`` are set, as httpx's ``clean_environ`` does for proxies.
    """
    changes: dict[str, str | None] = {name: None for name in os.environ if name.startswith("AWS_")}
    changes.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    return changes


class ProviderHelpers:
    """One-call set-ups of credential providers, mixed into :class:`LocalAgentCore`."""

    def create_api_key_provider(
        self, value: str, *, name: str | None = None, json_key: str = "api_key",
        **secret_kwargs: Any,
    ) -> tuple[str, str]:
        """An EXTERNAL API key provider referencing a new secret holding ``value``.

        Args:
            value: the API key.
            name: the provider's name (unique by default).
            json_key: the key inside the secret's JSON.
            **secret_kwargs: passed to :meth:`create_secret` (``kms_key_id=``,
                ``policy=``, ``account_id=``).

        Returns:
            ``(provider name, secret ARN)``.
        """
        env: Any = self
        arn = env.create_secret(env.unique_name("key"), {json_key: value}, **secret_kwargs)
        name = name or env.unique_name("apikey")
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name=name, apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": json_key})
        return name, arn

    def create_oauth2_provider(
        self, *, name: str | None = None, client_id: str | None = None,
        client_secret: str | None = None, **secret_kwargs: Any,
    ) -> tuple[str, str, str]:
        """A CustomOauth2 provider on the local OAuth2 server, its client secret EXTERNAL.

        The client is registered with the local server, its secret stored in a new
        Secrets Manager secret under ``client_secret``, and the provider found by
        discovery. Rotate with :meth:`rotate_oauth2_client`.

        Returns:
            ``(provider name, client id, client secret ARN)``.
        """
        env: Any = self
        client_id = client_id or env.unique_name("client")
        client_secret = client_secret or "cs-" + secrets.token_hex(16)
        env.register_oauth_client(client_id, client_secret)
        arn = env.create_secret(env.unique_name("client-secret"),
                                {"client_secret": client_secret}, **secret_kwargs)
        name = name or env.unique_name("oauth")
        env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
            name=name, credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": client_id, "clientSecretSource": "EXTERNAL",
                "clientSecretConfig": {"secretId": arn, "jsonKey": "client_secret"}}})
        return name, client_id, arn

    def rotate_oauth2_client(self, client_id: str, arn: str, client_secret: str) -> None:
        """Rotate a client secret at the local IdP and in its referenced secret."""
        env: Any = self
        env.rotate_secret(arn, {"client_secret": client_secret})
        env.register_oauth_client(client_id, client_secret)
