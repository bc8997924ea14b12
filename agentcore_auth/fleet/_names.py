"""Store key names: every name the fleet uses is built here.

A credential's keys (its value and its fetch lock) carry its keyed-hash name as a
Redis Cluster hash tag, ``<prefix><kind>:{<name>}``, so they hash to one slot and
the compare-and-delete scripts (which touch one key each) and any future
multi-key script run on one node. Fleet-wide keys (the wrapped KMS key, the
notice channel) are ``<prefix><kind>``; a fleet's wrapped KMS key is
``<prefix>dek:{<digest of the fleet name>}``.
"""

from __future__ import annotations

__all__ = ["store_key"]


def store_key(prefix: str, kind: str, name: str | None = None) -> str:
    """The store key of ``kind`` (``v``, ``l``, ``c``, ``dek``, ``events``) for ``name``.

    With a ``name``, the name is the key's hash tag: all keys of one credential
    (or consent session) share a Redis Cluster slot.
    """
    if name is None:
        return f"{prefix}{kind}"
    return f"{prefix}{kind}:{{{name}}}"
