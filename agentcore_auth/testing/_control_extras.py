"""More of the control plane: tags, the token vault's KMS key, consent portals, payments.

Mixed into :class:`~._control.ControlPlane`, which supplies ``_store``, ``_access``,
``_identity_url``, ``_vault_arn`` and ``_secret`` (a MANAGED or EXTERNAL secret).
Tags can be set at create time and with TagResource / UntagResource on every
resource (workload identities, the three provider kinds, consent portals);
SetTokenVaultCMK checks that the key exists in the Region and is enabled.
Payment credential providers keep their two secrets each in Secrets Manager
(service-owned when MANAGED, read anew when EXTERNAL), like the other providers.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from agentcore_auth._arn import parse_arn
from agentcore_auth._exceptions import ConfigurationError

from ._state import PaymentProvider, Store
from ._wire import ServiceError, validation

__all__ = ["PAYMENT_SECRETS", "ControlExtras"]

# vendor -> (configuration member, its secret fields, its plain fields)
PAYMENT_SECRETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "CoinbaseCDP": ("coinbaseCdpConfiguration", ("apiKeySecret", "walletSecret"),
                    ("apiKeyId",)),
    "StripePrivy": ("stripePrivyConfiguration", ("appSecret", "authorizationPrivateKey"),
                    ("appId", "authorizationId")),
}
_ALNUM = string.ascii_letters + string.digits


class ControlExtras:
    """Tag, token vault, consent portal and payment credential provider handlers."""

    _store: Store
    _identity_url: str
    _vault_arn: str
    _access: Any

    def _secret(self, kind: str, name: str, body: dict[str, Any], value_field: str,
                source_field: str, config_field: str, old: tuple[str, str, str] | None,
                prefix: str = "") -> tuple[str, str, str]:
        raise NotImplementedError  # ControlPlane's

    # --- tags ------------------------------------------------------------------------------

    def _tags_of(self, arn: str) -> dict[str, str]:
        tags = self._store.tags.get(arn)
        if tags is None:
            raise ServiceError("ResourceNotFoundException",
                               f"resource {arn} does not exist in this Region and account")
        return tags

    def TagResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            tags = self._tags_of(body["resourceArn"])
            merged = {**tags, **body["tags"]}
            if len(merged) > 50:
                raise validation("tags", f"resource {body['resourceArn']} would have "
                                         f"{len(merged)} tags; the limit is 50")
            tags.update(body["tags"])
        return {}

    def UntagResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            tags = self._tags_of(body["resourceArn"])
            for key in body.get("tagKeys") or []:
                tags.pop(key, None)
        return {}

    def ListTagsForResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return {"tags": dict(self._tags_of(body["resourceArn"]))}

    # --- token vault -----------------------------------------------------------------------

    def _vault(self, body: dict[str, Any]) -> tuple[str, dict[str, str], float]:
        vault_id = body.get("tokenVaultId") or "default"
        if vault_id not in self._store.token_vaults:
            raise ServiceError("ResourceNotFoundException",
                               f"token vault {vault_id!r} does not exist")
        config, modified = self._store.token_vaults[vault_id]
        return vault_id, config, modified

    @staticmethod
    def _vault_out(vault_id: str, config: dict[str, str], modified: float) -> dict[str, Any]:
        return {"tokenVaultId": vault_id, "kmsConfiguration": dict(config),
                "lastModifiedDate": modified}

    def GetTokenVault(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return self._vault_out(*self._vault(body))

    def SetTokenVaultCMK(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        config = body["kmsConfiguration"]
        key_arn = config.get("kmsKeyArn")
        if config["keyType"] == "CustomerManagedKey":
            if not key_arn:
                raise validation("kmsConfiguration.kmsKeyArn", "kmsConfiguration.kmsKeyArn is "
                                 "required when keyType is CustomerManagedKey")
            self._check_vault_key(key_arn)
            new = {"keyType": "CustomerManagedKey", "kmsKeyArn": key_arn}
        else:
            if key_arn:
                raise validation("kmsConfiguration.kmsKeyArn", "kmsConfiguration.kmsKeyArn "
                                 "cannot be given with keyType ServiceManagedKey")
            new = {"keyType": "ServiceManagedKey"}
        with self._store.lock:
            vault_id, _, _ = self._vault(body)
            self._store.token_vaults[vault_id] = (new, time.time())
            return self._vault_out(vault_id, *self._store.token_vaults[vault_id])

    def ResetTokenVaultKeyMaterial(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            vault_id, config, _ = self._vault(body)
            self._store.token_vaults[vault_id] = (config, time.time())
            return self._vault_out(vault_id, *self._store.token_vaults[vault_id])

    def _check_vault_key(self, key_arn: str) -> None:
        field = "kmsConfiguration.kmsKeyArn"
        try:
            arn = parse_arn(key_arn)
        except ConfigurationError as exc:
            raise validation(field, f"{field}: {exc}") from None
        if arn.region != self._access.region:
            raise validation(field, f"KMS key {key_arn} is in {arn.region}; the token vault "
                                    f"is in {self._access.region}: use a key of that Region")
        try:
            meta = self._access.client("kms", arn.account).describe_key(KeyId=key_arn)
        except Exception:
            raise validation(field, f"KMS key {key_arn} does not exist (or cannot be "
                                    "described): create it, or check the ARN") from None
        state = meta["KeyMetadata"].get("KeyState")
        if state != "Enabled":
            raise validation(field, f"KMS key {key_arn} is {state}: enable it "
                                    "(aws kms enable-key) or choose another key")

    # --- consent portals -------------------------------------------------------------------

    def _portal(self, identifier: str) -> dict[str, Any]:
        portal_id = identifier.rsplit("/", 1)[-1]
        portal = self._store.consent_portals.get(portal_id)
        if portal is None:
            raise ServiceError("ResourceNotFoundException",
                               f"consent portal {identifier!r} does not exist")
        return portal

    def _check_idp(self, idp: dict[str, Any]) -> None:
        arn = idp["credentialProviderArn"]
        name = arn.rsplit("/", 1)[-1]
        provider = self._store.oauth2_providers.get(name)
        if provider is None or provider.arn != arn:
            raise validation("idpConfig.credentialProviderArn",
                             f"OAuth2 credential provider {arn} does not exist in this Region")

    def CreateConsentPortal(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            if any(p["name"] == body["name"] for p in self._store.consent_portals.values()):
                raise ServiceError("ConflictException",
                                   f"consent portal {body['name']!r} already exists")
            self._check_idp(body["idpConfig"])
            portal_id = f"{body['name']}-{''.join(secrets.choice(_ALNUM) for _ in range(10))}"
            arn = self._vault_arn.replace("token-vault/default", f"consent-portal/{portal_id}")
            now = time.time()
            portal = {"consentPortalId": portal_id, "consentPortalArn": arn,
                      "name": body["name"], "executionRoleArn": body["executionRoleArn"],
                      "idpConfig": body["idpConfig"], "sources": body["sources"],
                      "portalUrl": f"{self._identity_url}/consent-portals/{portal_id}",
                      "status": "ACTIVE", "createdAt": now, "updatedAt": now}
            if body.get("description"):
                portal["description"] = body["description"]
            self._store.consent_portals[portal_id] = portal
            self._store.tags[arn] = dict(body.get("tags") or {})
            return dict(portal)

    def GetConsentPortal(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            return dict(self._portal(body["consentPortalIdentifier"]))

    def UpdateConsentPortal(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            portal = self._portal(body["consentPortalIdentifier"])
            if body.get("idpConfig"):
                self._check_idp(body["idpConfig"])
            for field in ("executionRoleArn", "idpConfig", "description"):
                if body.get(field) is not None:
                    portal[field] = body[field]
            portal["updatedAt"] = time.time()
            return dict(portal)

    def DeleteConsentPortal(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            portal = self._portal(body["consentPortalIdentifier"])
            del self._store.consent_portals[portal["consentPortalId"]]
            self._store.tags.pop(portal["consentPortalArn"], None)
        return {}

    def ListConsentPortals(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        keys = ("sources", "consentPortalArn", "consentPortalId", "createdAt", "description",
                "name", "portalUrl", "status", "updatedAt")
        with self._store.lock:
            items = [{k: p[k] for k in keys if k in p}
                     for p in self._store.consent_portals.values()]
        return _paged("consentPortals", items, body, 20)

    # --- payment credential providers ------------------------------------------------------

    def _payment(self, name: str) -> PaymentProvider:
        provider = self._store.payment_providers.get(name)
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"payment credential provider {name!r} does not exist")
        return provider

    def _payment_config(self, body: dict[str, Any],
                        old: PaymentProvider | None) -> tuple[str, dict[str, Any],
                                                              dict[str, tuple[str, str, str]]]:
        vendor = body["credentialProviderVendor"]
        key, secret_fields, plain_fields = PAYMENT_SECRETS[vendor]
        config = body["providerConfigurationInput"].get(key)
        if not isinstance(config, dict):
            raise validation(f"providerConfigurationInput.{key}",
                             f"providerConfigurationInput.{key} is required for vendor {vendor}")
        stored: dict[str, tuple[str, str, str]] = {}
        for field in secret_fields:
            previous = old.secrets.get(field) if old and old.config_key == key else None
            stored[field] = self._secret(
                "payment", f"{body['name']}-{field}", config, field, f"{field}Source",
                f"{field}Config", previous, prefix=f"providerConfigurationInput.{key}.")
        return key, {f: config[f] for f in plain_fields if f in config}, stored

    @staticmethod
    def _payment_out(p: PaymentProvider, *, times: bool = True) -> dict[str, Any]:
        config: dict[str, Any] = dict(p.plain)
        for field, (source, arn, json_key) in p.secrets.items():
            config.update({f"{field}Arn": {"secretArn": arn}, f"{field}JsonKey": json_key,
                           f"{field}Source": source})
        out: dict[str, Any] = {"name": p.name, "credentialProviderVendor": p.vendor,
                               "credentialProviderArn": p.arn,
                               "providerConfigurationOutput": {p.config_key: config}}
        if times:
            out.update(createdTime=p.created, lastUpdatedTime=p.updated)
        return out

    def CreatePaymentCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name = body["name"]
        with self._store.lock:
            if name in self._store.payment_providers:
                raise ServiceError("ConflictException",
                                   f"payment credential provider {name!r} already exists")
            key, plain, stored = self._payment_config(body, None)
            provider = PaymentProvider(name, f"{self._vault_arn}/paymentcredentialprovider/{name}",
                                       body["credentialProviderVendor"], key, plain, stored)
            self._store.payment_providers[name] = provider
            self._store.tags[provider.arn] = dict(body.get("tags") or {})
            return self._payment_out(provider, times=False)

    def GetPaymentCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            provider = self._payment(body["name"])
            return {**self._payment_out(provider), "tags": dict(self._store.tags[provider.arn])}

    def UpdatePaymentCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            provider = self._payment(body["name"])
            key, plain, stored = self._payment_config(body, provider)
            for field, (source, arn, _) in provider.secrets.items():
                if source == "MANAGED" and stored.get(field, ("", ""))[1] != arn:
                    self._access.delete_managed(arn)  # replaced by another secret
            provider.vendor, provider.config_key = body["credentialProviderVendor"], key
            provider.plain, provider.secrets, provider.updated = plain, stored, time.time()
            return self._payment_out(provider)

    def DeletePaymentCredentialProvider(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            provider = self._payment(body["name"])
            del self._store.payment_providers[provider.name]
            self._store.tags.pop(provider.arn, None)
        for source, arn, _ in provider.secrets.values():
            if source == "MANAGED":
                self._access.delete_managed(arn)
        return {}

    def ListPaymentCredentialProviders(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self._store.lock:
            items = [{"name": p.name, "credentialProviderVendor": p.vendor,
                      "credentialProviderArn": p.arn, "createdTime": p.created,
                      "lastUpdatedTime": p.updated} for p in self._store.payment_providers.values()]
        return _paged("credentialProviders", items, body, 20)


def _paged(key: str, items: list[Any], body: dict[str, Any], default_max: int) -> dict[str, Any]:
    token = body.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    end = start + int(body.get("maxResults") or default_max)
    page: dict[str, Any] = {key: items[start:end]}
    if end < len(items):
        page["nextToken"] = str(end)
    return page
