"""Which credential providers reference which secret: the map a RotationWatcher drops by.

From the control plane: ``List{ApiKey,Oauth2}CredentialProviders`` gives every
provider with its ``lastUpdatedTime``, and ``Get...`` gives its referenced secret
(``apiKeySecretArn`` / ``clientSecretArn``), asked again only for providers that are
new or were updated since the last refresh. For a
:class:`~agentcore_auth.sources.SecretsManagerSource`, its own ``refs``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._rotation_events import SecretChange, secret_key

__all__ = ["ControlPlaneReferences", "ProviderMap", "Reference", "source_references"]


@dataclass(frozen=True, slots=True)
class Reference:
    """A credential provider and the secret it reads its value from."""

    provider_name: str
    secret_arn: str
    provider_account: str = ""  # the provider's own account (from its ARN)


_KINDS = (
    # list operation, get operation, output member holding {"secretArn": ...}
    ("list_api_key_credential_providers", "get_api_key_credential_provider", "apiKeySecretArn"),
    ("list_oauth2_credential_providers", "get_oauth2_credential_provider", "clientSecretArn"),
)


class ControlPlaneReferences:
    """Reads references from a ``bedrock-agentcore-control`` client, incrementally."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client
        self._known: dict[tuple[str, str], tuple[object, Reference | None]] = {}

    def __call__(self) -> list[Reference]:
        """Every provider's reference (Get only for new or updated providers)."""
        client = self._client()
        seen: dict[tuple[str, str], tuple[object, Reference | None]] = {}
        for list_op, get_op, member in _KINDS:
            token: str | None = None
            while True:
                page = getattr(client, list_op)(**({"nextToken": token} if token else {}))
                for item in page.get("credentialProviders", []):
                    name = item.get("name")
                    if not isinstance(name, str):
                        continue
                    updated = item.get("lastUpdatedTime")
                    known = self._known.get((get_op, name))
                    if known is not None and updated is not None and known[0] == updated:
                        seen[(get_op, name)] = known
                        continue
                    out = getattr(client, get_op)(name=name)
                    arn = (out.get(member) or {}).get("secretArn")
                    provider_arn = str(out.get("credentialProviderArn") or "")
                    account = provider_arn.split(":")[4] if provider_arn.count(":") >= 5 else ""
                    ref = Reference(name, arn, account) if isinstance(arn, str) and arn else None
                    seen[(get_op, name)] = (updated, ref)
                token = page.get("nextToken")
                if not token:
                    break
        self._known = seen
        return [ref for _, ref in seen.values() if ref is not None]


def source_references(refs: dict[str, Any]) -> Callable[[], list[Reference]]:
    """References of a SecretsManagerSource (``provider name -> SecretRef``)."""

    def load() -> list[Reference]:
        return [Reference(name, ref.secret_id) for name, ref in refs.items()]

    return load


class ProviderMap:
    """Secret -> provider names, refreshed from ``load`` (thread-safe).

    Args:
        load: returns every current :class:`Reference` (may raise: the old map stays).
        timer: monotonic clock.
    """

    def __init__(self, load: Callable[[], Iterable[Reference]],
                 timer: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._timer = timer
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str, str], set[str]] = {}
        self._accounts: set[str] = set()
        self.loaded_at: float | None = None
        self.refreshes = 0

    @property
    def loaded(self) -> bool:
        """Whether one refresh succeeded."""
        return self.loaded_at is not None

    def age(self) -> float:
        """Seconds since the last successful refresh (infinite before the first)."""
        return float("inf") if self.loaded_at is None else self._timer() - self.loaded_at

    def refresh(self) -> None:
        """Read the references again; on an error the previous map stays and it raises."""
        references = list(self._load())
        index: dict[tuple[str, str, str], set[str]] = {}
        accounts: set[str] = set()
        for ref in references:
            key = secret_key(ref.secret_arn)
            index.setdefault(key, set()).add(ref.provider_name)
            accounts.update(a for a in (key[0], ref.provider_account) if a)
        with self._lock:
            self._index, self._accounts = index, accounts
            self.loaded_at = self._timer()
            self.refreshes += 1

    def providers(self, change: SecretChange) -> set[str]:
        """The providers that reference the changed secret (empty: none known)."""
        with self._lock:
            return set(self._index.get(change.key, ()))

    def knows_account(self, account: str) -> bool:
        """Whether ``account`` owns a referenced secret or a provider."""
        with self._lock:
            return account in self._accounts

    def __len__(self) -> int:
        with self._lock:
            return sum(len(names) for names in self._index.values())
