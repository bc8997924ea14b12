"""Wiring shared by the scenarios: one LocalAgentCore, providers, resolvers, the official SDK.

One emulator serves the whole run. Its environment variables
(``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`` and friends) are exported so that boto3
clients made by the official SDK's decorators reach it too. The official SDK finds
its workload access token in ``BedrockAgentCoreContext``; :meth:`Bench.official_token`
sets it in the calling thread's context (threads start with an empty one).
``DOCKER_CONTAINER=1`` makes the SDK raise rather than create a workload identity
and write ``.agentcore.json`` into the working directory if the token was not set.
While a Bench is open, ``socketserver`` servers stay quiet about clients that reset
their connection (see :func:`_quiet_disconnects`).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver
from agentcore_auth.testing import LocalAgentCore

from ._harness import silence_logging


@dataclass
class Provider:
    """An EXTERNAL API-key provider, its secret, and a protected API accepting its value."""

    bench: Bench
    name: str
    arn: str
    value: str
    url: str

    def rotate(self) -> str:
        """Put a new value into the secret (what the protected API accepts from now on)."""
        self.value = "sk-" + secrets.token_hex(16)
        self.bench.env.rotate_secret(self.arn, {"key": self.value})
        return self.value

    def lookups(self) -> int:
        """GetResourceApiKey calls counted by the emulator so far (all providers)."""
        return self.bench.env.call_count("GetResourceApiKey")


class Bench:
    """The run's emulator, a workload identity, and factories for what scenarios need."""

    def __init__(self) -> None:
        self.env = LocalAgentCore().start()
        self._saved = {k: os.environ.get(k) for k in (*self.env.env_vars(), "DOCKER_CONTAINER")}
        os.environ.update(self.env.env_vars())
        os.environ["DOCKER_CONTAINER"] = "1"
        self.workload = self.env.create_workload()
        self._token: str | None = None
        self._source: AgentCoreIdentitySource | None = None

    def close(self) -> None:
        """Stop the emulator and restore the environment."""
        self.env.stop()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def provider(self, prefix: str = "bench") -> Provider:
        """A fresh API-key provider over a fresh secret, with its protected API route."""
        value = "sk-" + secrets.token_hex(16)
        arn = self.env.create_secret(self.env.unique_name(prefix), {"key": value})
        name = self.env.unique_name(prefix)
        self.env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name=name,
            apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "key"},
        )
        return Provider(self, name, arn, value, self.env.protected_api(arn, "key"))

    def source(self) -> AgentCoreIdentitySource:
        """One shared source (one boto3 client, workload token cached)."""
        if self._source is None:
            self._source = AgentCoreIdentitySource(
                client=self.env.client("bedrock-agentcore"), workload_name=self.workload
            )
        return self._source

    def resolver(self, **kwargs: Any) -> CredentialResolver:
        """A new resolver (cold cache) over the shared source."""
        kwargs.setdefault("redact_logs", False)
        return CredentialResolver(self.source(), **kwargs)

    def official_token(self) -> None:
        """Give the official SDK its workload access token in this thread's context."""
        from bedrock_agentcore.runtime.context import BedrockAgentCoreContext

        if self._token is None:
            self._token = self.env.workload_token(self.workload)
        BedrockAgentCoreContext.set_workload_access_token(self._token)

    def official_api_key(self, provider: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` decorated with ``bedrock_agentcore.identity.auth.requires_api_key``."""
        from bedrock_agentcore.identity.auth import requires_api_key

        silence_logging()  # the SDK sets its own loggers to INFO on import
        decorated: Callable[..., Any] = requires_api_key(provider_name=provider, into="api_key")(
            func
        )
        return decorated


def secret_json(value: str) -> str:
    """The SecretString the benchmark providers hold."""
    return json.dumps({"key": value})
