"""``AgentCoreAuth`` on ``httpx.Client`` and ``httpx.AsyncClient``, across a rotation.

Starts LocalAgentCore, creates a secret and an EXTERNAL API key provider, and
sends requests with the key in an ``x-api-key`` header, synchronously and then
from 50 concurrent tasks. After a rotation, every request that carried the old
key gets one 401, and all of them share a single refetch. Values are never
printed, only fingerprints.

Run it (from a checkout: ``PYTHONPATH=. python examples/httpx_sync_async.py``)::

    python examples/httpx_sync_async.py
"""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver, Secret
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore


def rotate(env: LocalAgentCore, arn: str) -> None:
    value = "sk-" + secrets.token_hex(16)
    env.client("secretsmanager").put_secret_value(SecretId=arn,
                                                  SecretString=json.dumps({"key": value}))
    print(f"rotated the secret to {Secret(value).fingerprint}")


async def fifty_requests(auth: AgentCoreAuth, url: str) -> list[int]:
    async with httpx.AsyncClient(auth=auth, limits=httpx.Limits(max_connections=8),
                                 timeout=30) as client:
        responses = await asyncio.gather(*(client.get(url) for _ in range(50)))
    return [r.status_code for r in responses]


def main() -> None:
    with LocalAgentCore() as env:
        arn = env.create_secret("maps-api", {"key": "sk-" + secrets.token_hex(16)})
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name="maps", apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
        url = env.protected_api(arn, "key", header="x-api-key")
        source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                         workload_name=env.create_workload())

        with CredentialResolver(source) as resolver:
            auth = AgentCoreAuth.api_key("maps", header="x-api-key", resolver=resolver)
            print(f"auth: {auth!r}")

            with httpx.Client(auth=auth) as client:
                response = client.get(url)
                print(f"sync: HTTP {response.status_code}")
                rotate(env, arn)
                response = client.get(url)
                history = [r.status_code for r in response.history]
                print(f"sync after rotation: HTTP {response.status_code} (before it: {history})")

            rotate(env, arn)
            statuses = asyncio.run(fifty_requests(auth, url))
            print(f"async after rotation: {statuses.count(200)}/50 requests got HTTP 200")
            print(f"GetResourceApiKey calls in all: {env.call_count('GetResourceApiKey')} "
                  "(one at start, one per rotation)")


if __name__ == "__main__":
    main()
