"""Where the fleet key comes from: a local 32-byte key, or a KMS data key shared wrapped.

With KMS, the first process calls ``GenerateDataKey`` and stores only the wrapped
key (``CiphertextBlob``) in the store, ``SET NX`` so one wins; every process reads
the winner's blob and calls ``Decrypt``. The plaintext key never reaches the store,
and a process that KMS does not allow to decrypt reads nothing.

Each fleet's data key is wrapped under its own encryption context,
:func:`encryption_context` (``purpose`` and ``agentcore-auth:fleet``), and stored
under its own name (``<prefix>dek:{<digest of the fleet>}``): KMS refuses to open
one fleet's key for another, and a key policy can grant each role its own fleet.

Migration: the previous release wrapped one key per prefix under the constant
context :data:`ENCRYPTION_CONTEXT`, at ``<prefix>dek``. That key is never opened
again (every store name and associated data now changes with the fleet binding,
so nothing it sealed would be read; and a fallback to a context shared by all
fleets would let a blob copied from any fleet open). A process of this release
that finds one makes its fleet's key under the new context beside it, counts
``legacy_keys`` and logs it once; processes not yet upgraded keep using the old
key until they are, then ``<prefix>dek`` can be deleted and the key policy's
grant for the constant context removed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from ._crypto import FleetKeys

__all__ = [
    "ENCRYPTION_CONTEXT",
    "FLEET_CONTEXT_KEY",
    "KeyUnavailableError",
    "KmsKeys",
    "LocalKeys",
    "dek_name",
    "encryption_context",
]

logger = logging.getLogger("agentcore_auth.fleet")

#: The ``purpose`` part of every fleet data key's encryption context (and, alone, the
#: constant context of releases before fleet binding: see the module's migration note).
ENCRYPTION_CONTEXT = {"purpose": "agentcore-auth-fleet-cache"}
"""The ``purpose`` pair in every fleet data key's KMS encryption context (see
:func:`encryption_context`); grants conditioned on ``kms:EncryptionContext:purpose``
equal to this value keep working."""

#: The encryption-context key naming the fleet a data key belongs to.
FLEET_CONTEXT_KEY = "agentcore-auth:fleet"


def encryption_context(fleet: str) -> dict[str, str]:
    """The KMS encryption context of ``fleet``'s data key, on GenerateDataKey and Decrypt.

    ``{"purpose": "agentcore-auth-fleet-cache", "agentcore-auth:fleet": fleet}``: KMS
    refuses to decrypt one fleet's key under another's, and a key policy can allow a
    role only its fleet with ``kms:EncryptionContext:agentcore-auth:fleet``.
    """
    return {**ENCRYPTION_CONTEXT, FLEET_CONTEXT_KEY: fleet}


def dek_name(prefix: str, fleet: str) -> str:
    """The store key of ``fleet``'s wrapped data key (a digest: any fleet name is safe in it)."""
    from ._names import store_key

    return store_key(prefix, "dek", hashlib.sha256(fleet.encode()).hexdigest()[:16])


class KeyUnavailableError(Exception):
    """The fleet key cannot be had right now; the message says why and what to grant."""


class LocalKeys:
    """A development key given as ``data_key=``, for the fleet ``fleet``."""

    def __init__(self, data_key: bytes, fleet: str = "") -> None:
        self._keys = FleetKeys(data_key, fleet=fleet)

    def get(self, store: Any) -> FleetKeys:
        """The fleet keys (no I/O)."""
        return self._keys

    def peek(self) -> FleetKeys:
        """The fleet keys (always there)."""
        return self._keys

    def reset(self, seen: FleetKeys) -> None:
        """Nothing to re-read for a local key."""


class KmsKeys:
    """The fleet key, a KMS data key of ``key_id``, wrapped in the store under ``name``.

    ``fleet`` is the encryption context's fleet; ``legacy_name`` is where a previous
    release kept its key under the constant context (looked at, never opened).
    """

    def __init__(
        self,
        key_id: str,
        name: str,
        client: Callable[[], Any],
        *,
        fleet: str = "",
        legacy_name: str | None = None,
        counts: Any = None,
    ) -> None:
        self._key_id = key_id
        self._name = name
        self._fleet = fleet
        self._context = encryption_context(fleet)
        self._legacy_name = legacy_name
        self._counts = counts
        self._client_factory = client
        self._client: Any = None
        self._keys: FleetKeys | None = None
        self._lock = threading.Lock()

    def get(self, store: Any) -> FleetKeys:
        """The fleet keys, read (and first made) once; store errors pass through."""
        keys = self._keys
        if keys is not None:
            return keys
        with self._lock:
            if self._keys is None:
                self._keys = self._load(store)
            return self._keys

    def peek(self) -> FleetKeys | None:
        """The fleet keys if already loaded (no I/O)."""
        return self._keys

    def reset(self, seen: FleetKeys) -> None:
        """A record used another key: read the wrapped key again on next use."""
        with self._lock:
            if self._keys is seen:
                self._keys = None

    def _load(self, store: Any) -> FleetKeys:
        blob = store.get(self._name)
        if blob is None:
            self._note_legacy(store)
            made = self._kms("GenerateDataKey", "generate_data_key", KeySpec="AES_256")
            store.set(self._name, made["CiphertextBlob"], nx=True)
            blob = store.get(self._name)
            if blob is None:  # flushed in between: use ours, it is stored next time
                blob = made["CiphertextBlob"]
        plain = self._kms("Decrypt", "decrypt", CiphertextBlob=blob)["Plaintext"]
        return FleetKeys(bytes(plain), key_id=hashlib.sha256(blob).digest()[:8], fleet=self._fleet)

    def _note_legacy(self, store: Any) -> None:
        """A previous release's key under the constant context: counted, said once, left."""
        if self._legacy_name is None or store.get(self._legacy_name) is None:
            return
        if self._counts is not None:
            self._counts.add("legacy_keys")
        logger.warning(
            "found a fleet key wrapped under the constant KMS encryption context (%s, from a "
            "release before fleet binding): not opened; fleet %r gets its own key under "
            "%s=%r. Delete that key once every process is upgraded, and drop the key "
            "policy's grant for the constant context",
            self._legacy_name,
            self._fleet,
            FLEET_CONTEXT_KEY,
            self._fleet,
        )

    def _kms(self, operation: str, method: str, **kwargs: Any) -> Any:
        try:
            if self._client is None:
                self._client = self._client_factory()
            call = getattr(self._client, method)
            return call(KeyId=self._key_id, EncryptionContext=self._context, **kwargs)
        except Exception as exc:  # noqa: BLE001 - botocore's errors, named below
            code = _error_code(exc)
            if code is None:  # no answer: a timeout, a reset, a client bug
                code = type(exc).__name__
                raise KeyUnavailableError(
                    f"KMS {operation} on {self._key_id} did not answer ({code}): check the "
                    "network path to KMS (a VPC endpoint or NAT) and the client's timeouts"
                ) from None
            if code == "InvalidCiphertextException":
                raise KeyUnavailableError(
                    f"KMS {operation} on {self._key_id} refused the stored fleet key ({code}): "
                    f"it was not wrapped for fleet {self._fleet!r} (another fleet's key copied "
                    "here, or tampered); delete it from the store to make a new one"
                ) from None
            raise KeyUnavailableError(
                f"KMS {operation} on {self._key_id} failed ({code}): the fleet's processes need "
                f"kms:GenerateDataKey and kms:Decrypt on that key, with the encryption context "
                f"purpose={ENCRYPTION_CONTEXT['purpose']} and "
                f"{FLEET_CONTEXT_KEY}={self._fleet}"
            ) from None


def _error_code(exc: BaseException) -> str | None:
    """botocore's error code of a ``ClientError``; None when KMS gave no answer.

    ``ReadTimeoutError``, ``ConnectionClosedError`` and other transport errors have
    no ``response`` (or ``None``), and a custom client may raise anything.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict) and isinstance(error.get("Code"), str):
            return str(error["Code"])
    return None
