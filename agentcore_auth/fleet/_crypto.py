"""Envelope encryption and keyed names for the shared tier.

One 32-byte fleet key (a local ``data_key``, or a KMS data key that the fleet
shares wrapped in the store) derives two sub-keys: one for AES-256-GCM, one for
HMAC-SHA256. Store keys are keyed hashes of what names a credential (the request's
cache key, and for user-bound flows who asks), and a record is bound to its key
as AES-GCM associated data, so it cannot be replayed under another name. A
process without the fleet key finds no names and decrypts nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["FleetKeys", "Record", "UndecryptableError"]

_VERSION = 1
_HEADER = struct.Struct(">B8s12s")  # version, key id, nonce


class UndecryptableError(Exception):
    """A record that does not open with this fleet key (another key, or tampered)."""


@dataclass(frozen=True, slots=True)
class Record:
    """What a shared entry holds once decrypted."""

    value: str
    name: str | None
    filled_at: float  # epoch seconds: when the lock holder stored it
    fresh_until: float  # epoch seconds: when every process must stop serving it
    expires_at: float | None  # the credential's own expiry, if known
    epoch: int = 0  # the provider's drop epoch when the fetch began (stale once it moves)


class FleetKeys:
    """The sub-keys derived from one fleet key, and what they are used for."""

    def __init__(self, fleet_key: bytes, key_id: bytes | None = None) -> None:
        if not isinstance(fleet_key, bytes) or len(fleet_key) != 32:
            raise ValueError("the fleet key must be 32 bytes")
        self.key_id = key_id or _derive(fleet_key, b"key-id")[:8]
        self._aead = AESGCM(_derive(fleet_key, b"aes-256-gcm"))
        self._mac_key = _derive(fleet_key, b"hmac-sha256")

    def __repr__(self) -> str:
        return f"FleetKeys(key_id={self.key_id.hex()})"

    def name(self, *parts: str | None) -> str:
        """A keyed hash naming ``parts`` (hex, 32 chars); JSON keeps the parts apart."""
        raw = json.dumps(parts).encode()
        return hmac.new(self._mac_key, b"name\x00" + raw, hashlib.sha256).hexdigest()[:32]

    def tag(self, value: str) -> str:
        """A keyed digest of a value, to compare values without holding them (hex, 32)."""
        return hmac.new(self._mac_key, b"tag\x00" + value.encode(), hashlib.sha256).hexdigest()[
            :32
        ]

    def seal(self, name: str, record: Record) -> bytes:
        """Encrypt ``record`` for the store key ``name``."""
        return self.seal_data(
            name.encode(),
            {
                "v": record.value,
                "n": record.name,
                "a": record.filled_at,
                "f": record.fresh_until,
                "x": record.expires_at,
                "e": record.epoch,
            },
        )

    def open(self, name: str, blob: bytes) -> Record:
        """Decrypt a record read under ``name``; :class:`UndecryptableError` if it will not open."""
        data = self.open_data(name.encode(), blob)
        return Record(
            data["v"], data["n"], float(data["a"]), float(data["f"]), data["x"],
            int(data.get("e", 0)),
        )

    def seal_data(self, aad: bytes, data: dict[str, Any]) -> bytes:
        """Encrypt a JSON-able dict, bound to ``aad`` (what it is stored under)."""
        nonce = os.urandom(12)
        plain = json.dumps(data).encode()
        return _HEADER.pack(_VERSION, self.key_id, nonce) + self._aead.encrypt(nonce, plain, aad)

    def open_data(self, aad: bytes, blob: bytes) -> dict[str, Any]:
        """Decrypt what :meth:`seal_data` made for ``aad``; :class:`UndecryptableError` if not."""
        if len(blob) < _HEADER.size + 16:
            raise UndecryptableError("too short")
        version, key_id, nonce = _HEADER.unpack_from(blob)
        if version != _VERSION or not hmac.compare_digest(key_id, self.key_id):
            raise UndecryptableError("another format or fleet key")
        try:
            plain = self._aead.decrypt(nonce, blob[_HEADER.size :], aad)
        except InvalidTag:
            raise UndecryptableError("authentication failed") from None
        data: dict[str, Any] = json.loads(plain)
        return data


def _derive(key: bytes, label: bytes) -> bytes:
    """One HKDF-Expand block (RFC 5869) of ``key`` for ``label``."""
    return hmac.new(key, b"agentcore-auth fleet v1\x00" + label + b"\x01", hashlib.sha256).digest()
