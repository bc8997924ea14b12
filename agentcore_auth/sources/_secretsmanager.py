"""SecretsManagerSource: credentials read straight from referenced Secrets Manager secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._arn import SecretRef, validate_provider_name
from .._credential import Credential, CredentialRequest
from .._exceptions import (
    AgentCoreAuthError,
    ConfigurationError,
    CredentialNotFoundError,
)
from .._identity import Identity
from .._secret import Secret
from ._base import BotoClientFactory, map_boto_error
from ._protect import naming

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["SecretsManagerSource", "extract_json_key"]

SOURCE = "secretsmanager"


def extract_json_key(secret_string: str | None, ref: SecretRef, *, provider_name: str) -> str:
    """The value under ``ref.json_key`` in a JSON SecretString; errors never show values."""
    where = f"secret {ref.secret_id!r}"
    if secret_string is None:
        raise ConfigurationError(
            f"{where} has no SecretString (SecretBinary only?): store a JSON object such as "
            f'{{"{ref.json_key}": "<value>"}} as its SecretString'
        )
    try:
        document = json.loads(secret_string)
    except (ValueError, RecursionError):  # deeply nested arrays exhaust the decoder's stack
        raise ConfigurationError(
            f"{where} SecretString is not JSON: store a JSON object such as "
            f'{{"{ref.json_key}": "<value>"}}'
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError(
            f'{where} SecretString is JSON but not an object: store {{"{ref.json_key}": "<value>"}}'
        )
    if ref.json_key not in document:
        keys = ", ".join(sorted(repr(k) for k in document)[:20]) or "none"
        raise CredentialNotFoundError(
            f"JSON key {ref.json_key!r} is not in {where} (keys present: {keys}); fix the "
            "json_key or add the key to the secret",
            provider_name=provider_name,
            source=SOURCE,
        )
    value = document[ref.json_key]
    if not isinstance(value, str):
        raise ConfigurationError(
            f"JSON key {ref.json_key!r} in {where} holds a {type(value).__name__}, not a "
            "string: store the credential as a JSON string"
        )
    if not value:
        raise ConfigurationError(f"JSON key {ref.json_key!r} in {where} is empty: store the value")
    return value


class SecretsManagerSource:
    """Resolves credentials straight from Secrets Manager secrets (their AWSCURRENT version).

    For agents that run outside AgentCore, tests and local development: the same
    caching and errors as :class:`AgentCoreIdentitySource`, without the service.
    Each provider name maps to a :class:`SecretRef` (ARN and JSON key); secrets in
    other accounts are fine, other Regions are refused.

    Args:
        refs: provider name -> SecretRef (or a ``(secret_arn, json_key)`` pair).
        region: AWS Region; defaults to boto3's configuration, else the secrets' Region.
        endpoint_url: override the endpoint (moto, the local emulator).
        client: a ready ``secretsmanager`` boto3 client.
    """

    name = SOURCE

    def __init__(
        self,
        refs: Mapping[str, SecretRef | tuple[str, str]],
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: BaseClient | None = None,
        max_attempts: int = 4,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        session: Any = None,
    ) -> None:
        if not isinstance(refs, Mapping):
            raise ConfigurationError(
                "SecretsManagerSource takes a dict of provider name -> SecretRef(arn, json_key)"
            )
        self.refs: dict[str, SecretRef] = {}
        for provider_name, ref in refs.items():
            validate_provider_name(provider_name)
            if isinstance(ref, tuple):
                ref = SecretRef(*ref)
            if not isinstance(ref, SecretRef):
                raise ConfigurationError(
                    f"provider {provider_name!r} must map to a SecretRef(secret_id, json_key)"
                )
            self.refs[provider_name] = ref
        if region is None and client is None:
            regions = {ref.region for ref in self.refs.values()}
            region = _configured_region(session) or (regions.pop() if len(regions) == 1 else None)
        self._clients = BotoClientFactory(
            "secretsmanager",
            region=region,
            endpoint_url=endpoint_url,
            client=client,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session=session,
        )
        client_region = self._clients.region
        for ref in self.refs.values():
            ref.check_region(client_region)

    def __repr__(self) -> str:
        return f"SecretsManagerSource(providers={sorted(self.refs)!r})"

    @property
    def region(self) -> str:
        """The client's Region."""
        return self._clients.region

    def binding(self) -> tuple[str, ...]:
        """What a shared tier binds this source's values to: kind, Region, each provider's
        secret ARN (so its account) and JSON key (no I/O)."""
        refs = {name: [ref.secret_id, ref.json_key] for name, ref in self.refs.items()}
        return (SOURCE, f"region={self.region}", json.dumps(refs, sort_keys=True))

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        """Read the secret's AWSCURRENT version and return the value under its JSON key."""
        name = request.provider_name
        ref = self.refs.get(name)
        if ref is None:
            known = ", ".join(sorted(self.refs)) or "none"
            raise CredentialNotFoundError(
                f"no SecretRef configured for provider {name!r} (configured: {known}); add "
                f"{name!r}: SecretRef(secret_arn, json_key) to SecretsManagerSource",
                provider_name=name,
                source=SOURCE,
            )
        try:
            with naming(name):
                response = self._clients.get().get_secret_value(SecretId=ref.secret_id)
        except AgentCoreAuthError:
            raise
        except Exception as exc:  # botocore's errors do not share a base we can name
            raise map_boto_error(
                exc,
                provider_name=name,
                source=SOURCE,
                what=f"GetSecretValue on {ref.secret_id!r} (provider {name!r})",
                hints=lambda code: _hint(code, ref),
                codes={"InvalidRequestException": CredentialNotFoundError},
            ) from exc
        value = extract_json_key(response.get("SecretString"), ref, provider_name=name)
        return Credential(Secret(value, name=name))


def _configured_region(session: Any) -> str | None:
    from .._aws import configured_region

    return configured_region(session)


def _hint(code: str, ref: SecretRef) -> str | None:
    if code in ("AccessDeniedException", "AccessDenied"):
        return (
            f"Grant the caller secretsmanager:GetSecretValue on {ref.secret_id} (for another "
            "account's secret, its resource policy must allow your role too) and kms:Decrypt "
            "on its customer managed KMS key, if any"
        )
    if code == "ResourceNotFoundException":
        return f"Check the ARN; the secret may have been deleted in account {ref.account}"
    if code == "InvalidRequestException":
        return (
            "The secret may be scheduled for deletion: restore it with "
            f"`aws secretsmanager restore-secret --secret-id {ref.secret_id}`"
        )
    if code == "DecryptionFailure":
        return (
            "Secrets Manager could not decrypt it: check that its KMS key is enabled and "
            "allows the caller kms:Decrypt"
        )
    return None
