"""A tool decorated with ``requires_api_key``, against the local emulator, across a rotation.

Starts LocalAgentCore, stores an API key in a Secrets Manager secret, creates an
EXTERNAL API key credential provider that references it, and calls a tool that
uses the key against a protected API that accepts only the secret's current
value. Then it rotates the secret: the next call gets a 401 with the cached key,
the decorator refetches once, and the call succeeds. Values are never printed,
only fingerprints.

Run it (from a checkout: ``PYTHONPATH=. python examples/decorator_basic.py``)::

    python examples/decorator_basic.py
"""

from __future__ import annotations

import inspect
import json
import secrets

import httpx

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    Secret,
    requires_api_key,
)
from agentcore_auth.testing import LocalAgentCore


def main() -> None:
    with LocalAgentCore() as env:
        # The customer's own secret, and an EXTERNAL provider that references it.
        arn = env.create_secret("weather-api", {"key": "sk-" + secrets.token_hex(16)})
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name="weather", apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
        api_url = env.protected_api(arn, "key", header="x-api-key")
        source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                         workload_name=env.create_workload())

        with CredentialResolver(source) as resolver:
            seen: list[str] = []

            # Migrating from bedrock_agentcore.identity.auth is changing the import line;
            # resolver= is optional (default_resolver() otherwise).
            @requires_api_key(provider_name="weather", into="api_key", resolver=resolver)
            def forecast(city: str, *, api_key: str) -> dict[str, object]:
                """Today's forecast for a city."""
                seen.append(Secret(api_key).fingerprint)
                response = httpx.get(api_url, params={"q": city},
                                     headers={"x-api-key": api_key})
                response.raise_for_status()  # a 401 here makes the decorator refetch once
                return {"city": city, "ok": response.json()["ok"]}

            print(f"signature the model sees: forecast{inspect.signature(forecast)}")
            print("first call:", forecast("Oslo"), "with key", seen[-1])
            print("second call:", forecast("Bergen"), "(cached key, no AWS call)")

            rotated = "sk-" + secrets.token_hex(16)
            env.client("secretsmanager").put_secret_value(
                SecretId=arn, SecretString=json.dumps({"key": rotated}))
            print(f"rotated the secret to {Secret(rotated).fingerprint}")

            print("after rotation:", forecast("Tromso"))
            print(f"keys used: {seen[-2]} (refused with 401), then {seen[-1]}")
            print(f"GetResourceApiKey calls: {env.call_count('GetResourceApiKey')}, "
                  f"protected API calls: {env.call_count('ProtectedApi')}")
            stats = resolver.stats
            print(f"cache: {stats.hits} hits, {stats.upstream_calls} upstream calls, "
                  f"{stats.invalidations} invalidation")


if __name__ == "__main__":
    main()
