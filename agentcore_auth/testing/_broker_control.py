"""The CredentialBroker control plane (``credentialbroker-control`` 2026-09-30).

Pools and providers as the model describes them: names unique per Region (pools)
and per pool (providers), identifiers that are ARNs or service-generated ids,
202 answers with a transitional status, ``clientToken`` idempotency, tags. A
provider's API key or client secret is MANAGED (the value is stored in a secret
the emulated service owns) or EXTERNAL (a reference to the caller's own secret,
checked for form and Region here and read only at call time). Vendors other than
``customConfiguration`` get the local OAuth2 server's endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentcore_auth._arn import SecretRef
from agentcore_auth._exceptions import ConfigurationError

from ._broker_state import BrokerError, BrokerPool, BrokerProvider, BrokerStore, lifecycle, new_id
from ._control import ControlPlane
from ._oauth import OAuthServer
from ._secrets import SecretAccess
from ._state import Settings

__all__ = ["BrokerControl"]

_MANAGED_PREFIX = "credentialbroker!"


def invalid(message: str, reason: str = "INVALID_FIELD_VALUE") -> BrokerError:
    """A ValidationException with one of the model's reasons."""
    return BrokerError("ValidationException", message, reason=reason)


def _page(items: list[Any], body: dict[str, Any]) -> tuple[list[Any], str | None]:
    token = body.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    end = start + int(body.get("maxResults") or 20)
    return items[start:end], (str(end) if end < len(items) else None)


class BrokerControl:
    """Handlers of the control-plane operations, for one Region."""

    def __init__(self, store: BrokerStore, access: SecretAccess, oauth: OAuthServer,
                 settings: Settings) -> None:
        self._store = store
        self._access = access
        self._oauth = oauth
        self._settings = settings

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Operation name -> handler."""
        return {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}

    @property
    def _now(self) -> float:
        return self._store.clock()

    # --- pools ------------------------------------------------------------------------

    def _pool_out(self, pool: BrokerPool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "credentialProviderPoolArn": pool.arn, "credentialProviderPoolId": pool.id,
            "name": pool.name, "status": pool.life.status(self._now),
            "encryptionConfiguration": pool.encryption, "createdAt": pool.life.created,
            "updatedAt": pool.life.updated,
        }
        if pool.identity_center:
            out["identityCenterConfiguration"] = pool.identity_center
            out["identityCenterApplicationArn"] = pool.identity_center_app
        return out

    def CreateCredentialProviderPool(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name, token = body["name"], body.get("clientToken")
        with self._store.lock:
            for pool in self._store.pools_now():
                if token and pool.client_token == token:
                    if pool.name != name:
                        raise invalid("clientToken was used with other parameters",
                                      "IDEMPOTENT_PARAMETER_MISMATCH")
                    return self._pool_out(pool)
                if pool.name == name:
                    raise BrokerError("ConflictException", f"a credential provider pool named "
                                      f"{name!r} already exists in {self._store.region}",
                                      reason="RESOURCE_ALREADY_EXISTS", resource_id=pool.id,
                                      resource_type="CredentialProviderPool")
            pool_id = new_id()
            pool = BrokerPool(pool_id, self._store.pool_arn(pool_id), name,
                              lifecycle(self._now, self._settings.broker_settle_seconds),
                              client_token=token)
            if body.get("encryptionConfiguration"):
                pool.encryption = body["encryptionConfiguration"]
            self._identity_center(pool, body.get("identityCenterConfiguration"))
            self._store.pools[pool_id] = pool
            if body.get("tags"):
                self._store.tags[pool.arn] = dict(body["tags"])
            return self._pool_out(pool)

    def _identity_center(self, pool: BrokerPool, config: dict[str, Any] | None) -> None:
        pool.identity_center = config
        if config:
            instance = config["idcInstanceArn"].rsplit("/", 1)[-1]
            pool.identity_center_app = (f"arn:aws:sso::{self._store.account_id}:application/"
                                        f"{instance}/apl-{new_id()}")
        else:
            pool.identity_center_app = None

    def GetCredentialProviderPool(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._pool_out(self._store.pool(body["credentialProviderPoolIdentifier"]))

    def ListCredentialProviderPools(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        wanted = body.get("nameContains") or ""
        pools = sorted((p for p in self._store.pools_now() if wanted in p.name),
                       key=lambda p: p.life.created)
        page, token = _page(pools, body)
        keys = ("credentialProviderPoolArn", "credentialProviderPoolId", "name", "status",
                "createdAt", "updatedAt")
        items = [{k: v for k, v in self._pool_out(p).items() if k in keys} for p in page]
        return {"items": items, **({"nextToken": token} if token else {})}

    def UpdateCredentialProviderPool(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            pool = self._ready_pool(body["credentialProviderPoolIdentifier"])
            if body.get("name") and body["name"] != pool.name:
                if any(p.name == body["name"] for p in self._store.pools_now()):
                    raise BrokerError("ConflictException", f"a credential provider pool named "
                                      f"{body['name']!r} already exists",
                                      reason="RESOURCE_ALREADY_EXISTS")
                pool.name = body["name"]
            if body.get("encryptionConfiguration"):
                pool.encryption = body["encryptionConfiguration"]
            update = body.get("identityCenterUpdate")
            if update:
                self._identity_center(pool, update.get("associate"))
            pool.life.begin("UPDATING", self._now, self._settings.broker_settle_seconds)
            return self._pool_out(pool)

    def DeleteCredentialProviderPool(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            pool = self._store.pool(body["credentialProviderPoolIdentifier"])
            if self._store.providers_of(pool.id):
                raise BrokerError("ConflictException", f"credential provider pool {pool.id} "
                                  "still has credential providers: delete them first",
                                  reason="RESOURCE_STATE_CONFLICT", resource_id=pool.id,
                                  resource_type="CredentialProviderPool")
            if pool.life.transition != "DELETING":
                pool.life.begin("DELETING", self._now, self._settings.broker_settle_seconds)
            return {"credentialProviderPoolArn": pool.arn, "credentialProviderPoolId": pool.id,
                    "status": "DELETING"}

    def _ready_pool(self, identifier: str) -> BrokerPool:
        pool = self._store.pool(identifier)
        status = pool.life.status(self._now)
        if status != "READY":
            raise BrokerError("ConflictException", f"credential provider pool {pool.id} is "
                              f"{status}, not READY: poll GetCredentialProviderPool until it is",
                              reason="RESOURCE_STATE_CONFLICT", resource_id=pool.id,
                              resource_type="CredentialProviderPool")
        return pool

    # --- providers --------------------------------------------------------------------

    def _secret(self, given: dict[str, Any] | None, value_field: str, reference_field: str,
                where: str, pool_id: str, name: str, old: BrokerProvider | None,
                json_key: str) -> tuple[str | None, str | None, str | None]:
        """(source, secret ARN, JSON key) of a secret input union."""
        if not given:
            return None, None, None
        if given.get(reference_field):
            ref = given[reference_field]
            return "EXTERNAL", self._reference(ref["secretId"], ref["jsonKey"],
                                               f"{where}.{reference_field}"), ref["jsonKey"]
        value = given[value_field]
        if old is not None and old.source == "MANAGED" and old.secret_arn:
            self._access.update_managed(old.secret_arn, json_key, value)
            return "MANAGED", old.secret_arn, json_key
        arn = self._access.create_managed(pool_id, name, json_key, value,
                                          prefix=_MANAGED_PREFIX + self._store.region,
                                          service="AWS IAM CredentialBroker")
        return "MANAGED", arn, json_key

    def _reference(self, secret_id: str, json_key: str, where: str) -> str:
        """A SecretReference's secret ARN: same Region; a name is resolved in this account."""
        if not secret_id.startswith("arn:"):
            try:
                described = self._access.client("secretsmanager").describe_secret(
                    SecretId=secret_id)
            except Exception:
                raise invalid(f"{where}.secretId: secret {secret_id!r} does not exist in "
                              f"{self._store.region} of account {self._store.account_id}",
                              "INVALID_SECRET_REFERENCE") from None
            secret_id = str(described["ARN"])
        try:
            SecretRef(secret_id, json_key).check_region(self._store.region)
        except ConfigurationError as exc:
            raise invalid(f"{where}.secretId: {exc}", "INVALID_SECRET_REFERENCE") from None
        return secret_id

    def _provider_out(self, p: BrokerProvider, *, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "credentialProviderArn": p.arn, "credentialProviderId": p.id,
            "credentialProviderPoolId": p.pool_id, "name": p.name, "providerType": p.kind,
            "status": p.life.status(self._now), "createdAt": p.life.created,
            "updatedAt": p.life.updated,
        }
        if full:
            out["providerConfiguration"] = self._configuration_out(p)
        return out

    def _configuration_out(self, p: BrokerProvider) -> dict[str, Any]:
        if p.kind == "API_KEY":
            secret: dict[str, Any] = {"apiKeySecretArn": p.secret_arn,
                                      "apiKeySecretSource": p.source}
            if p.source == "EXTERNAL":
                secret["apiKeySecretJsonKey"] = p.json_key
            return {"apiKeyConfiguration": {"apiKeySecretOutput": secret}}
        client: dict[str, Any] = {"clientAuthenticationMethod": p.auth_method,
                                  "clientId": p.client_id}
        if p.secret_arn:
            client.update(clientSecretArn=p.secret_arn, clientSecretSource=p.source)
            if p.source == "EXTERNAL":
                client["clientSecretJsonKey"] = p.json_key
        vendor = {"oauthDiscovery": p.discovery, "clientAuthenticationConfiguration": client,
                  **p.vendor_settings}
        pool = self._store.pools.get(p.pool_id)
        oauth: dict[str, Any] = {
            "allowedGrantTypes": p.grants, "vendorConfigurationOutput": {p.vendor_key: vendor},
            "encryptionConfiguration": p.encryption or (pool.encryption if pool else {}),
            "encryptionSource": "PROVIDER_OVERRIDE" if p.encryption else "INHERITED",
        }
        if p.binding_urls:
            oauth["allowedSessionBindingUrls"] = p.binding_urls
        if pool is not None and pool.identity_center:
            oauth["idcInstanceArn"] = pool.identity_center["idcInstanceArn"]
            oauth["identityCenterApplicationArn"] = pool.identity_center_app
        return {"oauthConfiguration": oauth}

    def _configure(self, p: BrokerProvider, config: dict[str, Any], creating: bool) -> None:
        """Apply a providerConfigurationInput to ``p`` (create or update)."""
        where = "providerConfigurationInput"
        kind = "OAUTH" if config.get("oauthConfiguration") else "API_KEY"
        if not creating and kind != p.kind:
            raise invalid(f"{where}: provider {p.id} is an {p.kind} provider; its type cannot "
                          "change", "IMMUTABLE_FIELD_CHANGE")
        p.kind = kind
        if kind == "API_KEY":
            given = config["apiKeyConfiguration"].get("apiKeySecretInput")
            if creating and not given:
                raise invalid(f"{where}.apiKeyConfiguration.apiKeySecretInput is required",
                              "MISSING_REQUIRED_FIELD")
            if given:
                p.source, p.secret_arn, p.json_key = self._secret(
                    given, "apiKey", "apiKeySecretReference",
                    f"{where}.apiKeyConfiguration.apiKeySecretInput", p.pool_id, p.name,
                    None if creating else p, "apiKey")
            return
        self._configure_oauth(p, config["oauthConfiguration"], creating,
                              f"{where}.oauthConfiguration")

    def _configure_oauth(self, p: BrokerProvider, oauth: dict[str, Any], creating: bool,
                         where: str) -> None:
        for member in ("allowedGrantTypes", "vendorConfigurationInput"):
            if creating and not oauth.get(member):
                raise invalid(f"{where}.{member} is required when creating an OAuth provider",
                              "MISSING_REQUIRED_FIELD")
        grants = list(oauth.get("allowedGrantTypes") or p.grants)
        vendors = oauth.get("vendorConfigurationInput")
        if vendors:
            key, vendor = next(iter(vendors.items()))
            if not creating and key != p.vendor_key:
                raise invalid(f"{where}.vendorConfigurationInput: the provider's vendor is "
                              f"{p.vendor_key}; it cannot change", "IMMUTABLE_FIELD_CHANGE")
            self._vendor(p, key, vendor, f"{where}.vendorConfigurationInput.{key}")
        urls = oauth.get("allowedSessionBindingUrls")
        if urls is not None:
            p.binding_urls = list(urls)
        if "AUTHORIZATION_CODE" in grants and not p.binding_urls:
            raise invalid(f"{where}.allowedSessionBindingUrls is required when "
                          "allowedGrantTypes includes AUTHORIZATION_CODE",
                          "FIELD_COMBINATION_INVALID")
        if "TOKEN_EXCHANGE" in grants and "onBehalfOfTokenExchangeConfiguration" not in (
                p.vendor_settings):
            raise invalid(f"{where}: TOKEN_EXCHANGE needs the vendor's "
                          "onBehalfOfTokenExchangeConfiguration", "FIELD_COMBINATION_INVALID")
        if "JWT_AUTHORIZATION_GRANT" in grants and p.vendor_key != "microsoftConfiguration":
            raise invalid(f"{where}: JWT_AUTHORIZATION_GRANT is accepted only by "
                          "microsoftConfiguration (Microsoft Entra ID)",
                          "UNSUPPORTED_CONFIGURATION")
        encryption = oauth.get("providerEncryptionConfiguration")
        if encryption is not None:
            p.encryption = encryption.get("customerManaged") and {
                "customerManaged": encryption["customerManaged"]}
        p.grants = grants

    def _vendor(self, p: BrokerProvider, key: str, vendor: dict[str, Any], where: str) -> None:
        if key == "customConfiguration":
            discovery = vendor["oauthDiscovery"]
            if discovery.get("discoveryUrl"):
                url = discovery["discoveryUrl"]
                p.metadata = ControlPlane._fetch(url, f"{where}.oauthDiscovery.discoveryUrl")
            else:
                inline = discovery["authorizationServerMetadata"]
                p.metadata = {"issuer": inline["issuer"], "token_endpoint": inline["tokenEndpoint"],
                              "authorization_endpoint": inline.get("authorizationEndpoint")}
            p.discovery = discovery
        else:  # a vendor the emulator stands in for with the local OAuth2 server
            local = self._oauth.metadata()
            p.metadata = {k: local[k] for k in ("issuer", "token_endpoint",
                                                "authorization_endpoint")}
            p.discovery = {"authorizationServerMetadata": {
                "issuer": local["issuer"], "tokenEndpoint": local["token_endpoint"],
                "authorizationEndpoint": local["authorization_endpoint"]}}
        p.vendor_key = key
        p.vendor_settings = {k: v for k, v in vendor.items()
                             if k not in ("clientAuthenticationConfiguration", "oauthDiscovery")}
        client = vendor.get("clientAuthenticationConfiguration")
        if client is None:
            if not p.client_id:
                raise invalid(f"{where}.clientAuthenticationConfiguration is required when "
                              "creating an OAuth provider", "MISSING_REQUIRED_FIELD")
            return
        method = client.get("clientAuthenticationMethod") or "CLIENT_SECRET_BASIC"
        secret = client.get("clientSecret")
        if method == "NONE" and secret:
            raise invalid(f"{where}.clientAuthenticationConfiguration.clientSecret must be "
                          "omitted when clientAuthenticationMethod is NONE",
                          "FIELD_COMBINATION_INVALID")
        if method != "NONE" and not secret and not p.secret_arn:
            raise invalid(f"{where}.clientAuthenticationConfiguration.clientSecret is required "
                          f"when clientAuthenticationMethod is {method}",
                          "FIELD_COMBINATION_INVALID")
        if method == "NONE" and p.source == "MANAGED" and p.secret_arn:
            self._access.delete_managed(p.secret_arn)
        if method == "NONE":
            p.source = p.secret_arn = p.json_key = None
        elif secret:
            p.source, p.secret_arn, p.json_key = self._secret(
                secret, "clientSecret", "clientSecretReference",
                f"{where}.clientAuthenticationConfiguration.clientSecret", p.pool_id, p.name,
                p if p.secret_arn else None, "clientSecret")
        p.client_id, p.auth_method = client["clientId"], method

    def CreateCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name, token = body["name"], body.get("clientToken")
        with self._store.lock:
            pool = self._ready_pool(body["credentialProviderPoolIdentifier"])
            for other in self._store.providers_of(pool.id):
                if token and other.client_token == token:
                    if other.name != name:
                        raise invalid("clientToken was used with other parameters",
                                      "IDEMPOTENT_PARAMETER_MISMATCH")
                    return self._provider_out(other)
                if other.name == name:
                    raise BrokerError("ConflictException", f"a credential provider named {name!r} "
                                      f"already exists in pool {pool.id}",
                                      reason="RESOURCE_ALREADY_EXISTS", resource_id=other.id,
                                      resource_type="CredentialProvider")
            provider_id = new_id()
            provider = BrokerProvider(provider_id, f"{pool.arn}/credentialprovider/{provider_id}",
                                      pool.id, name, "API_KEY",
                                      lifecycle(self._now, self._settings.broker_settle_seconds),
                                      client_token=token)
            self._configure(provider, body["providerConfigurationInput"], creating=True)
            # settling starts once the request is done (a MANAGED secret takes a while)
            provider.life = lifecycle(self._now, self._settings.broker_settle_seconds)
            self._store.providers[provider_id] = provider
            if body.get("tags"):
                self._store.tags[provider.arn] = dict(body["tags"])
            return {**self._provider_out(provider), "tags": dict(body.get("tags") or {})}

    def GetCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._provider_out(self._store.provider(body["credentialProviderPoolIdentifier"],
                                                       body["credentialProviderIdentifier"]))

    def ListCredentialProviders(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        pool = self._store.pool(body["credentialProviderPoolIdentifier"])
        wanted, types = body.get("nameContains") or "", body.get("providerTypes")
        providers = sorted((p for p in self._store.providers_of(pool.id)
                            if wanted in p.name and (not types or p.kind in types)),
                           key=lambda p: p.life.created)
        page, token = _page(providers, body)
        return {"items": [self._provider_out(p, full=False) for p in page],
                **({"nextToken": token} if token else {})}

    def UpdateCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            p = self._store.provider(body["credentialProviderPoolIdentifier"],
                                     body["credentialProviderIdentifier"])
            if p.life.status(self._now) != "READY":
                raise BrokerError("ConflictException", f"credential provider {p.id} is "
                                  f"{p.life.status(self._now)}, not READY",
                                  reason="RESOURCE_STATE_CONFLICT", resource_id=p.id,
                                  resource_type="CredentialProvider")
            new_name = body.get("name")
            if new_name and new_name != p.name and any(
                    o.name == new_name for o in self._store.providers_of(p.pool_id)):
                raise BrokerError("ConflictException", f"a credential provider named "
                                  f"{new_name!r} already exists in pool {p.pool_id}",
                                  reason="RESOURCE_ALREADY_EXISTS")
            if body.get("providerConfigurationInput"):
                self._configure(p, body["providerConfigurationInput"], creating=False)
            p.name = new_name or p.name
            p.life.begin("UPDATING", self._now, self._settings.broker_settle_seconds)
            self._store.tokens = {k: v for k, v in self._store.tokens.items() if k[0] != p.id}
            return self._provider_out(p)

    def DeleteCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            p = self._store.provider(body["credentialProviderPoolIdentifier"],
                                     body["credentialProviderIdentifier"])
            if p.life.transition != "DELETING":
                if p.source == "MANAGED" and p.secret_arn:
                    self._access.delete_managed(p.secret_arn)
                p.life.begin("DELETING", self._now, self._settings.broker_settle_seconds)
                self._store.tokens = {k: v for k, v in self._store.tokens.items()
                                      if k[0] != p.id}
            return {"credentialProviderArn": p.arn, "credentialProviderId": p.id,
                    "credentialProviderPoolId": p.pool_id, "providerType": p.kind,
                    "status": "DELETING"}

    # --- tags -------------------------------------------------------------------------

    def _resource(self, arn: str) -> str:
        if "/credentialprovider/" in arn:
            self._store.provider(None, arn)
        else:
            self._store.pool(arn)
        return arn

    def TagResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            arn = self._resource(body["resourceArn"])
            self._store.tags.setdefault(arn, {}).update(body["tags"])
        return {}

    def UntagResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            tags = self._store.tags.get(self._resource(body["resourceArn"]), {})
            for key in body["tagKeys"]:
                tags.pop(key, None)
        return {}

    def ListTagsForResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return {"tags": dict(self._store.tags.get(self._resource(body["resourceArn"]), {}))}
