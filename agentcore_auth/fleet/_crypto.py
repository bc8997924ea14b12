"""Envelope encryption and keyed names for the shared tier.

One 32-byte fleet key (a local ``data_key``, or a KMS data key that the fleet
shares wrapped in the store) derives two sub-keys: one for AES-256-GCM, one for
HMAC-SHA256. Store keys are keyed hashes of what names a credential (the fleet,
the resolver's binding scope: source kind, workload, account, Region; the
request's cache key; and for user-bound flows who asks), and a record is bound
to its fleet, its scope and its key as AES-GCM associated data, so it cannot be
replayed under another name, scope or fleet. A process without the fleet key
finds no names and decrypts nothing.
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
    record_id: str = ""  # random per record (hex): what a compare-and-delete names


class FleetKeys:
    """The sub-keys derived from one fleet key, and what they are used for."""

    def __init__(self, fleet_key: bytes, key_id: bytes | None = None, *, fleet: str = "") -> None:
        if not isinstance(fleet_key, bytes) or len(fleet_key) != 32:
            raise ValueError("the fleet key must be 32 bytes")
        self.key_id = key_id or _derive(fleet_key, b"key-id")[:8]
        #: The fleet's name: in every name and every record's associated data.
        self.fleet = fleet
        self._aead = AESGCM(_derive(fleet_key, b"aes-256-gcm"))
        self._mac_key = _derive(fleet_key, b"hmac-sha256")
        self._bound = b"fleet\x00" + json.dumps(fleet).encode() + b"\x00"

    def __repr__(self) -> str:
        return f"FleetKeys(key_id={self.key_id.hex()})"

    def name(self, *parts: str | None) -> str:
        """A keyed hash naming ``parts`` in this fleet (hex, 32 chars); JSON keeps them apart."""
        raw = json.dumps([self.fleet, *parts]).encode()
        return hmac.new(self._mac_key, b"name\x00" + raw, hashlib.sha256).hexdigest()[:32]

    def tag(self, value: str) -> str:
        """A keyed digest of a value, to compare values without holding them (hex, 32)."""
        return hmac.new(self._mac_key, b"tag\x00" + value.encode(), hashlib.sha256).hexdigest()[
            :32
        ]

    def handle(self, record_id: str) -> bytes:
        """The 16-byte clear prefix of a stored record: a keyed hash of its random id.

        It links nothing (equal values stored twice get unrelated handles) and lets
        the store compare-and-delete exactly one record.
        """
        return hmac.new(self._mac_key, b"record\x00" + record_id.encode(), hashlib.sha256).digest()[
            :16
        ]

    def seal(self, name: str, record: Record) -> bytes:
        """Encrypt ``record`` for the store key ``name`` (a keyed hash of its fleet, binding
        scope and request: a record copied to another scope's or fleet's name will not open)."""
        return self.seal_data(
            _record_aad(name),
            {
                "v": record.value,
                "n": record.name,
                "a": record.filled_at,
                "f": record.fresh_until,
                "x": record.expires_at,
                "e": record.epoch,
                "r": record.record_id,
            },
        )

    def open(self, name: str, blob: bytes) -> Record:
        """Decrypt a record read under ``name``; :class:`UndecryptableError` if it will not
        open (another key, fleet, binding scope or name, or tampered)."""
        data = self.open_data(_record_aad(name), blob)
        return Record(
            data["v"], data["n"], float(data["a"]), float(data["f"]), data["x"],
            int(data.get("e", 0)), str(data.get("r", "")),
        )

    def seal_data(self, aad: bytes, data: dict[str, Any]) -> bytes:
        """Encrypt a JSON-able dict, bound to ``aad`` (what it is stored under) and the fleet."""
        nonce = os.urandom(12)
        plain = json.dumps(data).encode()
        sealed = self._aead.encrypt(nonce, plain, self._bound + aad)
        return _HEADER.pack(_VERSION, self.key_id, nonce) + sealed

    def open_data(self, aad: bytes, blob: bytes) -> dict[str, Any]:
        """Decrypt what :meth:`seal_data` made for ``aad``; :class:`UndecryptableError` if not."""
        if len(blob) < _HEADER.size + 16:
            raise UndecryptableError("too short")
        version, key_id, nonce = _HEADER.unpack_from(blob)
        if version != _VERSION or not hmac.compare_digest(key_id, self.key_id):
            raise UndecryptableError("another format or fleet key")
        try:
            plain = self._aead.decrypt(nonce, blob[_HEADER.size :], self._bound + aad)
        except InvalidTag:
            raise UndecryptableError("authentication failed") from None
        data: dict[str, Any] = json.loads(plain)
        return data


def _record_aad(name: str) -> bytes:
    """A value record's associated data (with the fleet, see ``seal_data``): its name,
    which commits to its binding scope and request (see ``fleet_name``)."""
    return b"value\x00" + name.encode()


def _derive(key: bytes, label: bytes) -> bytes:
    """One HKDF-Expand block (RFC 5869) of ``key`` for ``label``."""
    return hmac.new(key, b"agentcore-auth fleet v1\x00" + label + b"\x01", hashlib.sha256).digest()
