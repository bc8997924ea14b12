"""Which resolver a shared name belongs to: its binding scope.

A credential's fleet-wide name and its record's associated data cover the fleet
(see :class:`._crypto.FleetKeys`) and, per attached resolver, a *binding scope*:
the source's class and what the source says it is bound to (its ``binding()``:
kind, Region, workload, account where known), so a resolver over another
source, workload, Region or account finds other names, and a record copied
across scopes does not open. Made once per resolver at attach, with no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._identity import Identity
from .._jwt import jwt_claims

__all__ = ["UNBOUND", "BindingScope", "binding_scope", "request_workload"]


@dataclass(frozen=True, slots=True)
class BindingScope:
    """What one attached resolver's names are bound to.

    Attributes:
        text: the scope's parts as JSON (mixed into names and associated data).
        workload_per_request: the source has no workload of its own (``workload_name``
            is None: AgentCore Runtime hands a workload access token with each
            request), so each request's workload is bound too.
    """

    text: str
    workload_per_request: bool = False


#: The scope of an attachment made without a source (a caller of ``attach`` that
#: does not pass one): such resolvers share names with each other only.
UNBOUND = BindingScope(json.dumps(["unbound"]))


def binding_scope(source: Any) -> BindingScope:
    """The binding scope of a resolver over ``source`` (None: :data:`UNBOUND`).

    ``source.binding()``, when the source has one, is the scope: a tuple of strings
    known without I/O, its kind first (so a wrapper that forwards it shares the
    wrapped source's names). Without one, or when it fails or returns something
    else, the source's class and ``name`` are.
    """
    if source is None:
        return UNBOUND
    parts: list[str] | None = None
    binding = getattr(source, "binding", None)
    if callable(binding):
        try:
            declared = binding()
        except Exception:  # noqa: BLE001 - a third-party source's bug: class and name
            declared = None
        if isinstance(declared, tuple) and declared and all(isinstance(p, str) for p in declared):
            parts = ["binding", *declared]
    if parts is None:
        kind = f"{type(source).__module__}.{type(source).__qualname__}"
        parts = ["class", kind, str(getattr(source, "name", ""))]
    per_request = hasattr(source, "workload_name") and source.workload_name is None
    return BindingScope(json.dumps(parts), per_request)


def request_workload(identity: Identity | None, runtime_token: str | None) -> str | None:
    """The workload a request acts as, when its source has none of its own.

    The ``sub`` of the workload access token (a JWT, read unverified: AgentCore
    verifies it on every upstream call, and a process that could forge one already
    holds the fleet key), else the whole token (opaque tokens: no sharing across
    requests, but never another workload's value); None without a token.
    """
    token = None
    if identity is not None and identity.workload_access_token is not None:
        token = identity.workload_access_token.reveal()
    elif runtime_token:
        token = runtime_token
    if token is None:
        return None
    claims = jwt_claims(token)
    sub = claims.get("sub") if claims is not None else None
    if isinstance(sub, str) and sub:
        return "sub:" + sub
    return "token:" + token
