"""One-call CredentialBroker set-ups (pools, API key and M2M providers) for LocalAgentCore."""

from __future__ import annotations

import secrets
import time
from typing import Any

__all__ = ["BrokerHelpers"]


class BrokerHelpers:
    """Pools and providers of the emulated AWS IAM CredentialBroker, waited for until READY."""

    def create_broker_pool(self, name: str | None = None, *, wait: bool = True,
                           **kwargs: Any) -> str:
        """Create a credential provider pool (a unique name by default); return its id.

        ``wait`` polls ``GetCredentialProviderPool`` until the pool is READY, as a
        caller of the service must; ``kwargs`` go to ``create_credential_provider_pool``.
        """
        env: Any = self
        control = env._helper("credentialbroker-control")
        pool = control.create_credential_provider_pool(name=name or env.unique_name("pool"),
                                                       **kwargs)
        pool_id = str(pool["credentialProviderPoolId"])
        if wait:
            self.wait_for_broker(pool_id)
        return pool_id

    def wait_for_broker(self, pool_id: str, provider: str | None = None,
                        timeout: float = 10.0) -> None:
        """Poll until the pool (or one of its providers, by ARN or id) is READY."""
        env: Any = self
        control = env._helper("credentialbroker-control")
        deadline = time.monotonic() + timeout
        while True:
            if provider is None:
                status = control.get_credential_provider_pool(
                    credentialProviderPoolIdentifier=pool_id)["status"]
            else:
                status = control.get_credential_provider(
                    credentialProviderPoolIdentifier=pool_id,
                    credentialProviderIdentifier=provider)["status"]
            if status == "READY":
                return
            if status == "FAILED" or time.monotonic() > deadline:
                raise TimeoutError(f"{provider or pool_id} is {status}, not READY")
            time.sleep(0.02)

    def create_broker_api_key_provider(
        self, pool_id: str, value: str | None = None, *, name: str | None = None,
        json_key: str = "api_key", secret_arn: str | None = None, wait: bool = True,
        **secret_kwargs: Any,
    ) -> tuple[str, str | None]:
        """An API key provider in ``pool_id``; return ``(provider ARN, secret ARN)``.

        With ``value``, an EXTERNAL provider referencing a new secret holding it
        (``secret_kwargs`` go to :meth:`create_secret`); with ``secret_arn``, one
        referencing that secret's ``json_key``. For a MANAGED key, call
        ``create_credential_provider`` with ``apiKeySecretInput={"apiKey": ...}``.
        """
        env: Any = self
        if secret_arn is None:
            if value is None:
                raise ValueError("pass value= (a new secret) or secret_arn= (an existing one)")
            secret_arn = env.create_secret(env.unique_name("broker-key"), {json_key: value},
                                           **secret_kwargs)
        control = env._helper("credentialbroker-control")
        created = control.create_credential_provider(
            credentialProviderPoolIdentifier=pool_id, name=name or env.unique_name("apikey"),
            providerConfigurationInput={"apiKeyConfiguration": {"apiKeySecretInput": {
                "apiKeySecretReference": {"secretId": secret_arn, "jsonKey": json_key}}}})
        arn = str(created["credentialProviderArn"])
        if wait:
            self.wait_for_broker(pool_id, arn)
        return arn, secret_arn

    def create_broker_oauth_provider(
        self, pool_id: str, *, name: str | None = None, client_id: str | None = None,
        client_secret: str | None = None, wait: bool = True, **secret_kwargs: Any,
    ) -> tuple[str, str, str]:
        """An M2M (CLIENT_CREDENTIALS) provider on the local OAuth2 server, secret EXTERNAL.

        The client is registered with the local server and its secret stored in a new
        secret under ``client_secret``; rotate with :meth:`rotate_oauth2_client`.

        Returns:
            ``(provider ARN, client id, client secret ARN)``.
        """
        env: Any = self
        client_id = client_id or env.unique_name("client")
        client_secret = client_secret or "cs-" + secrets.token_hex(16)
        env.register_oauth_client(client_id, client_secret)
        secret_arn = env.create_secret(env.unique_name("broker-client-secret"),
                                       {"client_secret": client_secret}, **secret_kwargs)
        control = env._helper("credentialbroker-control")
        created = control.create_credential_provider(
            credentialProviderPoolIdentifier=pool_id, name=name or env.unique_name("m2m"),
            providerConfigurationInput={"oauthConfiguration": {
                "allowedGrantTypes": ["CLIENT_CREDENTIALS"],
                "vendorConfigurationInput": {"customConfiguration": {
                    "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                    "clientAuthenticationConfiguration": {
                        "clientId": client_id,
                        "clientSecret": {"clientSecretReference": {
                            "secretId": secret_arn, "jsonKey": "client_secret"}}}}}}})
        arn = str(created["credentialProviderArn"])
        if wait:
            self.wait_for_broker(pool_id, arn)
        return arn, client_id, secret_arn
