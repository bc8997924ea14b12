"""Where the fleet key comes from: a local 32-byte key, or a KMS data key shared wrapped.

With KMS, the first process calls ``GenerateDataKey`` and stores only the wrapped
key (``CiphertextBlob``) in the store, ``SET NX`` so one wins; every process reads
the winner's blob and calls ``Decrypt``. The plaintext key never reaches the store,
and a process that KMS does not allow to decrypt reads nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from ._crypto import FleetKeys

__all__ = ["ENCRYPTION_CONTEXT", "KeyUnavailableError", "KmsKeys", "LocalKeys"]

#: Bound to every wrapped fleet key: KMS refuses to decrypt it for any other purpose.
ENCRYPTION_CONTEXT = {"purpose": "agentcore-auth-fleet-cache"}
"""The KMS encryption context of the fleet's data key: grant ``kms:GenerateDataKey`` and
``kms:Decrypt`` on the condition ``kms:EncryptionContext:purpose`` equals this value."""


class KeyUnavailableError(Exception):
    """The fleet key cannot be had right now; the message says why and what to grant."""


class LocalKeys:
    """A development key given as ``data_key=``."""

    def __init__(self, data_key: bytes) -> None:
        self._keys = FleetKeys(data_key)

    def get(self, store: Any) -> FleetKeys:
        """The fleet keys (no I/O)."""
        return self._keys

    def peek(self) -> FleetKeys:
        """The fleet keys (always there)."""
        return self._keys

    def reset(self, seen: FleetKeys) -> None:
        """Nothing to re-read for a local key."""


class KmsKeys:
    """The fleet key, a KMS data key of ``key_id``, wrapped in the store under ``name``."""

    def __init__(self, key_id: str, name: str, client: Callable[[], Any]) -> None:
        self._key_id = key_id
        self._name = name
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
            made = self._kms("GenerateDataKey", "generate_data_key", KeySpec="AES_256")
            store.set(self._name, made["CiphertextBlob"], nx=True)
            blob = store.get(self._name)
            if blob is None:  # flushed in between: use ours, it is stored next time
                blob = made["CiphertextBlob"]
        plain = self._kms("Decrypt", "decrypt", CiphertextBlob=blob)["Plaintext"]
        return FleetKeys(bytes(plain), key_id=hashlib.sha256(blob).digest()[:8])

    def _kms(self, operation: str, method: str, **kwargs: Any) -> Any:
        try:
            if self._client is None:
                self._client = self._client_factory()
            call = getattr(self._client, method)
            return call(KeyId=self._key_id, EncryptionContext=ENCRYPTION_CONTEXT, **kwargs)
        except Exception as exc:  # noqa: BLE001 - botocore's errors, named below
            code = _error_code(exc)
            if code is None:  # no answer: a timeout, a reset, a client bug
                code = type(exc).__name__
                raise KeyUnavailableError(
                    f"KMS {operation} on {self._key_id} did not answer ({code}): check the "
                    "network path to KMS (a VPC endpoint or NAT) and the client's timeouts"
                ) from None
            raise KeyUnavailableError(
                f"KMS {operation} on {self._key_id} failed ({code}): the fleet's processes need "
                f"kms:GenerateDataKey and kms:Decrypt on that key, with the encryption context "
                f"purpose={ENCRYPTION_CONTEXT['purpose']}"
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
