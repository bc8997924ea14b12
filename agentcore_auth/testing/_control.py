"""The control plane (``bedrock-agentcore-control``): credential providers and workloads.

Each handler takes the validated request body and returns the response body.
Included vendors (GoogleOauth2 and the rest) get authorization and token
endpoints on the local OAuth2 server; CustomOauth2 takes a ``discoveryUrl``
(fetched at create/update time, as the service does) or inline
``authorizationServerMetadata``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from ._control_extras import ControlExtras
from ._oauth import OAuthServer
from ._secrets import SecretAccess
from ._state import ApiKeyProvider, Oauth2Provider, Store, WorkloadIdentity
from ._wire import ServiceError, validation

__all__ = ["ControlPlane"]

_OWN_CONFIG_VENDORS = ("Custom", "Google", "Github", "Slack", "Salesforce", "Microsoft",
                       "Atlassian", "Linkedin")
_MANAGED_KEYS = {"apikey": "api_key", "oauth2": "client_secret"}
# provider settings kept as given and returned (the output model has them for CustomOauth2)
_KEPT_SETTINGS = ("onBehalfOfTokenExchangeConfig", "clientAuthenticationMethod",
                  "privateKeyJwtConfig", "privateEndpoint", "privateEndpointOverrides",
                  "certificateConfigurations")


def _config_key(vendor: str) -> str:
    base = vendor.removesuffix("Oauth2")
    if base in _OWN_CONFIG_VENDORS:
        return f"{base[0].lower()}{base[1:]}Oauth2ProviderConfig"
    return "includedOauth2ProviderConfig"


def _page(items: list[Any], body: dict[str, Any], default_max: int) -> tuple[list[Any], str | None]:
    token = body.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    size = int(body.get("maxResults") or default_max)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


class ControlPlane(ControlExtras):
    """Handlers of the control-plane operations the emulator supports."""

    def __init__(self, store: Store, access: SecretAccess, oauth: OAuthServer,
                 identity_url: str) -> None:
        self._store = store
        self._access = access
        self._oauth = oauth
        self._identity_url = identity_url
        region, account = access.region, access.account_id
        self._vault_arn = f"arn:aws:bedrock-agentcore:{region}:{account}:token-vault/default"
        self._workload_arn = (f"arn:aws:bedrock-agentcore:{region}:{account}:"
                              "workload-identity-directory/default/workload-identity/")

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Operation name -> handler."""
        return {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}

    # --- secrets shared by both provider kinds ----------------------------------------------

    def _secret(self, kind: str, name: str, body: dict[str, Any], value_field: str,
                source_field: str, config_field: str, old: tuple[str, str, str] | None,
                prefix: str = "") -> tuple[str, str, str]:
        """Resolve the (source, secret ARN, JSON key) of a create or update request."""
        value, config = body.get(value_field), body.get(config_field)
        source = body.get(source_field) or ("EXTERNAL" if config else "MANAGED")
        if source == "EXTERNAL":
            if value:
                raise validation(prefix + value_field, f"{prefix}{value_field} cannot be "
                                 f"given with {source_field} EXTERNAL")
            if not config:
                raise validation(prefix + config_field, f"{prefix}{config_field} is required "
                                 f"when {source_field} is EXTERNAL")
            ref = self._access.check_reference(config["secretId"], config["jsonKey"],
                                               prefix + config_field)
            if old and old[0] == "MANAGED":
                self._access.delete_managed(old[1])
            return "EXTERNAL", ref.secret_id, ref.json_key
        if config:
            raise validation(prefix + config_field,
                             f"{prefix}{config_field} cannot be given with {source_field} MANAGED")
        if not value:
            raise validation(prefix + value_field,
                             f"{prefix}{value_field} is required (or use {source_field} EXTERNAL)")
        json_key = _MANAGED_KEYS.get(kind, value_field)
        if old and old[0] == "MANAGED":
            self._access.update_managed(old[1], json_key, value)
            return "MANAGED", old[1], json_key
        return "MANAGED", self._access.create_managed(kind, name, json_key, value), json_key

    # --- API key credential providers -----------------------------------------------------

    def _api_key_out(self, p: ApiKeyProvider, *, times: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiKeySecretArn": {"secretArn": p.secret_arn}, "apiKeySecretJsonKey": p.json_key,
            "apiKeySecretSource": p.source, "name": p.name, "credentialProviderArn": p.arn,
        }
        if times:
            out.update(createdTime=p.created, lastUpdatedTime=p.updated)
        return out

    def _api_key(self, name: str) -> ApiKeyProvider:
        provider = self._store.api_key_providers.get(name)
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"API key credential provider {name!r} does not exist")
        return provider

    def CreateApiKeyCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name = body["name"]
        with self._store.lock:
            if name in self._store.api_key_providers:
                raise ServiceError("ConflictException",
                                   f"API key credential provider {name!r} already exists")
            source, arn, key = self._secret("apikey", name, body, "apiKey", "apiKeySecretSource",
                                            "apiKeySecretConfig", None)
            provider = ApiKeyProvider(name, f"{self._vault_arn}/apikeycredentialprovider/{name}",
                                      source, arn, key)
            self._store.api_key_providers[name] = provider
            self._store.tags[provider.arn] = dict(body.get("tags") or {})
            return self._api_key_out(provider, times=False)

    def GetApiKeyCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return self._api_key_out(self._api_key(body["name"]))

    def UpdateApiKeyCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            p = self._api_key(body["name"])
            p.source, p.secret_arn, p.json_key = self._secret(
                "apikey", p.name, body, "apiKey", "apiKeySecretSource", "apiKeySecretConfig",
                (p.source, p.secret_arn, p.json_key))
            p.updated = time.time()
            return self._api_key_out(p)

    def DeleteApiKeyCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            p = self._api_key(body["name"])
            del self._store.api_key_providers[p.name]
            self._store.tags.pop(p.arn, None)
        if p.source == "MANAGED":
            self._access.delete_managed(p.secret_arn)
        return {}

    def ListApiKeyCredentialProviders(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            items = [{"name": p.name, "credentialProviderArn": p.arn, "createdTime": p.created,
                      "lastUpdatedTime": p.updated}
                     for p in self._store.api_key_providers.values()]
        page, token = _page(items, body, 100)
        return {"credentialProviders": page, **({"nextToken": token} if token else {})}

    # --- OAuth2 credential providers ------------------------------------------------------

    def _discover(self, vendor: str, key: str, config: dict[str, Any]) -> tuple[dict[str, Any],
                                                                                dict[str, Any]]:
        """(oauthDiscovery to return, metadata in RFC 8414 names) for a vendor config."""
        where = f"oauth2ProviderConfigInput.{key}"
        if key == "customOauth2ProviderConfig":
            discovery = config["oauthDiscovery"]
            if discovery.get("discoveryUrl"):
                return {"discoveryUrl": discovery["discoveryUrl"]}, self._fetch(
                    discovery["discoveryUrl"], f"{where}.oauthDiscovery.discoveryUrl")
            inline = discovery.get("authorizationServerMetadata")
            if not inline:
                raise validation(f"{where}.oauthDiscovery",
                                 "give discoveryUrl or authorizationServerMetadata")
            return {"authorizationServerMetadata": inline}, {
                "issuer": inline["issuer"],
                "authorization_endpoint": inline["authorizationEndpoint"],
                "token_endpoint": inline["tokenEndpoint"],
                "token_endpoint_auth_methods_supported": inline.get("tokenEndpointAuthMethods"),
            }
        local = self._oauth.metadata()
        metadata = {
            "issuer": config.get("issuer") or local["issuer"],
            "authorization_endpoint": config.get("authorizationEndpoint")
            or local["authorization_endpoint"],
            "token_endpoint": config.get("tokenEndpoint") or local["token_endpoint"],
            "token_endpoint_auth_methods_supported": local["token_endpoint_auth_methods_supported"],
        }
        return {"authorizationServerMetadata": {
            "issuer": metadata["issuer"],
            "authorizationEndpoint": metadata["authorization_endpoint"],
            "tokenEndpoint": metadata["token_endpoint"], "responseTypes": ["code"],
            "tokenEndpointAuthMethods": ["client_secret_basic", "client_secret_post"],
        }}, metadata

    @staticmethod
    def _fetch(url: str, field: str) -> dict[str, Any]:
        import httpx

        try:
            response = httpx.get(url, timeout=5.0)
            response.raise_for_status()
            document = response.json()
            names = ("issuer", "authorization_endpoint", "token_endpoint")
            metadata: dict[str, Any] = {k: document[k] for k in names}
            metadata["token_endpoint_auth_methods_supported"] = document.get(
                "token_endpoint_auth_methods_supported")
            return metadata
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise validation(field, f"{field}: could not read the discovery document at {url}: "
                                    f"{type(exc).__name__}") from None

    def _oauth2_out(self, p: Oauth2Provider, *, times: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clientSecretArn": {"secretArn": p.secret_arn}, "clientSecretJsonKey": p.json_key,
            "clientSecretSource": p.source, "name": p.name, "credentialProviderArn": p.arn,
            "credentialProviderVendor": p.vendor, "callbackUrl": p.callback_url, "status": "READY",
            "oauth2ProviderConfigOutput": {p.config_key: {"oauthDiscovery": p.discovery,
                                                          "clientId": p.client_id,
                                                          **p.settings}},
        }
        if times:
            out.update(createdTime=p.created, lastUpdatedTime=p.updated)
        return out

    def _oauth2(self, name: str) -> Oauth2Provider:
        provider = self._store.oauth2_providers.get(name)
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"OAuth2 credential provider {name!r} does not exist")
        return provider

    def _oauth2_config(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = _config_key(body["credentialProviderVendor"])
        config = body["oauth2ProviderConfigInput"].get(key)
        if not isinstance(config, dict):
            raise validation(f"oauth2ProviderConfigInput.{key}",
                             f"oauth2ProviderConfigInput.{key} is required for vendor "
                             f"{body['credentialProviderVendor']}")
        if not config.get("clientId"):
            raise validation(f"oauth2ProviderConfigInput.{key}.clientId",
                             f"oauth2ProviderConfigInput.{key}.clientId is required")
        return key, config

    @staticmethod
    def _settings(key: str, config: dict[str, Any]) -> dict[str, Any]:
        if key != "customOauth2ProviderConfig":
            return {}
        return {name: config[name] for name in _KEPT_SETTINGS if name in config}

    @staticmethod
    def _auth_method(config: dict[str, Any], metadata: dict[str, Any]) -> str:
        explicit = config.get("clientAuthenticationMethod")
        if explicit in ("CLIENT_SECRET_BASIC", "CLIENT_SECRET_POST"):
            return str(explicit).lower()
        supported = metadata.get("token_endpoint_auth_methods_supported") or []
        if "client_secret_basic" not in supported and "client_secret_post" in supported:
            return "client_secret_post"
        return "client_secret_basic"

    def CreateOauth2CredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name = body["name"]
        key, config = self._oauth2_config(body)
        discovery, metadata = self._discover(body["credentialProviderVendor"], key, config)
        with self._store.lock:
            if name in self._store.oauth2_providers:
                raise ServiceError("ConflictException",
                                   f"OAuth2 credential provider {name!r} already exists")
            source, arn, json_key = self._secret(
                "oauth2", name, config, "clientSecret", "clientSecretSource", "clientSecretConfig",
                None, prefix=f"oauth2ProviderConfigInput.{key}.")
            provider = Oauth2Provider(
                name, f"{self._vault_arn}/oauth2credentialprovider/{name}",
                body["credentialProviderVendor"], key, config["clientId"], source, arn, json_key,
                discovery, metadata,
                f"{self._identity_url}/identities/oauth2/callback/{secrets.token_hex(8)}",
                self._auth_method(config, metadata), self._settings(key, config))
            self._store.oauth2_providers[name] = provider
            self._store.tags[provider.arn] = dict(body.get("tags") or {})
            return self._oauth2_out(provider, times=False)

    def GetOauth2CredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return self._oauth2_out(self._oauth2(body["name"]))

    def UpdateOauth2CredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        key, config = self._oauth2_config(body)
        discovery, metadata = self._discover(body["credentialProviderVendor"], key, config)
        with self._store.lock:
            p = self._oauth2(body["name"])
            p.source, p.secret_arn, p.json_key = self._secret(
                "oauth2", p.name, config, "clientSecret", "clientSecretSource",
                "clientSecretConfig", (p.source, p.secret_arn, p.json_key),
                prefix=f"oauth2ProviderConfigInput.{key}.")
            p.vendor, p.config_key = body["credentialProviderVendor"], key
            p.client_id = config["clientId"]
            p.discovery, p.metadata = discovery, metadata
            p.auth_method, p.updated = self._auth_method(config, metadata), time.time()
            p.settings = self._settings(key, config)
            return self._oauth2_out(p)

    def DeleteOauth2CredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            p = self._oauth2(body["name"])
            del self._store.oauth2_providers[p.name]
            self._store.tags.pop(p.arn, None)
            for vault_key in [k for k in self._store.vault if k[1] == p.name]:
                del self._store.vault[vault_key]
        if p.source == "MANAGED":
            self._access.delete_managed(p.secret_arn)
        return {}

    def ListOauth2CredentialProviders(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            items = [{"name": p.name, "credentialProviderVendor": p.vendor,
                      "credentialProviderArn": p.arn, "createdTime": p.created,
                      "lastUpdatedTime": p.updated} for p in self._store.oauth2_providers.values()]
        page, token = _page(items, body, 20)
        return {"credentialProviders": page, **({"nextToken": token} if token else {})}

    # --- workload identities --------------------------------------------------------------

    @staticmethod
    def _workload_out(w: WorkloadIdentity, *, times: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": w.name, "workloadIdentityArn": w.arn,
                               "allowedResourceOauth2ReturnUrls": list(w.return_urls)}
        if times:
            out.update(createdTime=w.created, lastUpdatedTime=w.updated)
        return out

    def _workload(self, name: str) -> WorkloadIdentity:
        workload = self._store.workloads.get(name)
        if workload is None:
            raise ServiceError("ResourceNotFoundException",
                               f"workload identity {name!r} does not exist")
        return workload

    def CreateWorkloadIdentity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name = body["name"]
        with self._store.lock:
            if name in self._store.workloads:
                raise ServiceError("ConflictException",
                                   f"workload identity {name!r} already exists")
            workload = WorkloadIdentity(name, self._workload_arn + name,
                                        list(body.get("allowedResourceOauth2ReturnUrls") or []))
            self._store.workloads[name] = workload
            self._store.tags[workload.arn] = dict(body.get("tags") or {})
            return self._workload_out(workload, times=False)

    def GetWorkloadIdentity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return self._workload_out(self._workload(body["name"]))

    def UpdateWorkloadIdentity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            workload = self._workload(body["name"])
            workload.return_urls = list(body.get("allowedResourceOauth2ReturnUrls") or [])
            workload.updated = time.time()
            return self._workload_out(workload)

    def DeleteWorkloadIdentity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            workload = self._workload(body["name"])
            del self._store.workloads[workload.name]
            self._store.tags.pop(workload.arn, None)
        return {}

    def ListWorkloadIdentities(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            items = [{"name": w.name, "workloadIdentityArn": w.arn}
                     for w in self._store.workloads.values()]
        page, token = _page(items, body, 20)
        return {"workloadIdentities": page, **({"nextToken": token} if token else {})}
