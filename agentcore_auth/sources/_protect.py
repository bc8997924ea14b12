"""Register secrets from AWS calls *before* botocore logs them, for every boto3 client.

botocore logs request parameters (``botocore.endpoint``) and every raw response
body (``botocore.parsers``) at DEBUG, before the caller ever sees the value.
Two hooks register values with the redactor first, so the very first log
record is already scrubbed:

- request side: :func:`protect_botocore` wraps ``BaseClient._make_api_call``,
  which every call of every client in the process passes (ours or the
  application's, made before or after). Members the service model marks
  ``sensitive`` (``SecretString``, ``SecretBinary``, ``ClientSecret``,
  ``apiKey``, ...) are registered from the parameters before botocore
  serializes or logs anything.
- response side: a ``before-parse`` hook (added to each client on its first
  call, or by :func:`protect_client`) reads the body with the output shape
  (JSON protocols by member, XML protocols by element name, response headers
  by location) and registers sensitive members, plus the credential fields
  :data:`SENSITIVE_FIELDS` of our own services; a ``SecretString`` holding JSON
  has each of its string values registered too (sibling keys are secret as well).

Registering is all these hooks do; the log hook
(:func:`agentcore_auth.install_log_redaction`) masks what is registered.
Not covered: aiobotocore's clients (their own ``_make_api_call``) and
streaming bodies (never logged by botocore).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["naming", "protect_botocore", "protect_client", "register_value"]

# Response fields that carry credentials, across the services our sources call.
SENSITIVE_FIELDS = (
    "apiKey",
    "accessToken",
    "workloadAccessToken",
    "authorizationUrl",
    "SecretString",
    "clientSecret",
    "refreshToken",
)
_MAX_BODY = 1 << 20
_MAX_VALUES = 256  # per call: a huge sensitive document must not flush the registry
_HOOK_ID = "agentcore-auth-register-response"
_name: ContextVar[str | None] = ContextVar("agentcore_auth_secret_name", default=None)
_lock = threading.Lock()
_patched = False
# (service, api version, shape name) -> whether a sensitive member is reachable
_sensitive_shapes: dict[tuple[str, str, str], bool] = {}


@contextmanager
def naming(name: str) -> Iterator[None]:
    """Name the values registered by calls inside this block (the redaction marker)."""
    reset = _name.set(name)
    try:
        yield
    finally:
        _name.reset(reset)


def register_value(value: object, name: str | None = None) -> None:
    """Register ``value`` for redaction if it is a string long enough to redact safely."""
    from .._redact import default_redactor

    redactor = default_redactor()
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return
    if isinstance(value, str) and len(value.strip()) >= redactor.min_length:
        redactor.register(value, name=name or _name.get() or "credential")


def protect_client(client: Any) -> Any:
    """Hook ``client`` so sensitive fields of its responses are registered before parsing.

    Idempotent. Every client gets this hook on its first call once
    :func:`protect_botocore` ran; call it to protect a client's very first call
    when botocore is not patched.
    """
    client.meta.events.register("before-parse", _register_response, unique_id=_HOOK_ID)
    client.__dict__["_agentcore_protected"] = True
    return client


def protect_botocore() -> None:
    """Protect every boto3 client in the process, existing or future (idempotent).

    :func:`agentcore_auth.install_log_redaction` calls this.
    """
    global _patched
    if _patched:
        return
    with _lock:
        if _patched:
            return
        from botocore.client import BaseClient

        original = BaseClient._make_api_call

        def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            _before_call(self, operation_name, api_params)
            return original(self, operation_name, api_params)

        _make_api_call.__wrapped__ = original  # type: ignore[attr-defined]
        BaseClient._make_api_call = _make_api_call
        _patched = True


def _before_call(client: Any, operation_name: str, params: Any) -> None:
    try:
        if "_agentcore_protected" not in client.__dict__:
            protect_client(client)
        model = client._service_model
        shape = model.operation_model(operation_name).input_shape
        if shape is not None and isinstance(params, dict) and _has_sensitive(model, shape):
            found: list[object] = []
            _collect(shape, params, found, False, serialized=False)
            for value in found[:_MAX_VALUES]:
                _register_with_leaves(value, _marker(operation_name))
    except Exception:  # noqa: S110 - a hook must never break the AWS call it observes
        pass


def _marker(operation_name: str) -> str:
    """The marker name for values seen in a call (unless ``naming`` says otherwise)."""
    return f"aws:{operation_name}"


def _has_sensitive(model: Any, shape: Any) -> bool:
    key = (model.service_name, model.api_version, shape.name)
    known = _sensitive_shapes.get(key)
    if known is None:
        known = _sensitive_shapes[key] = _reaches_sensitive(shape, set())
    return known


def _reaches_sensitive(shape: Any, seen: set[str]) -> bool:
    if shape.metadata.get("sensitive"):
        return True
    if shape.name in seen:
        return False
    seen.add(shape.name)
    kind = shape.type_name
    if kind == "structure":
        return any(_reaches_sensitive(m, seen) for m in shape.members.values())
    if kind == "list":
        return _reaches_sensitive(shape.member, seen)
    if kind == "map":
        return _reaches_sensitive(shape.key, seen) or _reaches_sensitive(shape.value, seen)
    return False


def _collect(shape: Any, value: Any, found: list[object], inside: bool, *,
             serialized: bool, depth: int = 0) -> None:
    """Append the string/bytes leaves of ``value`` that the model marks sensitive."""
    if depth > 32 or len(found) > _MAX_VALUES:
        return
    inside = inside or bool(shape.metadata.get("sensitive"))
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            key = member.serialization.get("name", name) if serialized else name
            if key in value:
                _collect(member, value[key], found, inside, serialized=serialized,
                         depth=depth + 1)
    elif kind == "list" and isinstance(value, list):
        for item in value:
            _collect(shape.member, item, found, inside, serialized=serialized, depth=depth + 1)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            _collect(shape.key, key, found, inside, serialized=serialized, depth=depth + 1)
            _collect(shape.value, item, found, inside, serialized=serialized, depth=depth + 1)
    elif inside and isinstance(value, str | bytes | bytearray):
        found.append(value)
    elif inside and isinstance(value, dict | list):  # a document type
        found.extend(_leaves(value))


def _register_with_leaves(value: object, default: str) -> None:
    name = _name.get() or default
    register_value(value, name)
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        for leaf in _string_leaves(value)[:_MAX_VALUES]:
            register_value(leaf, name)


def _register_response(response_dict: dict[str, Any] | None = None,
                       operation_model: Any = None, **_: Any) -> None:
    try:
        body = (response_dict or {}).get("body")
        if not isinstance(body, bytes) or len(body) > _MAX_BODY:
            return
        found: list[object] = []
        name = "credential"
        if operation_model is not None:
            name = _marker(operation_model.name)
            _collect_response(operation_model, response_dict or {}, body, found)
        if body.lstrip()[:1] == b"{":
            document = json.loads(body)
            if isinstance(document, dict):
                found.extend(document.get(field) for field in SENSITIVE_FIELDS)
        for value in found[:_MAX_VALUES]:
            _register_with_leaves(value, name)
    except Exception:  # noqa: S110 - a hook must never break the AWS call it observes
        pass


def _collect_response(operation: Any, response: dict[str, Any], body: bytes,
                      found: list[object]) -> None:
    shape = operation.output_shape
    model = operation.service_model
    if shape is None or not _has_sensitive(model, shape):
        return
    headers = response.get("headers") or {}
    for name, member in shape.members.items():
        if member.serialization.get("location") == "header" and _has_sensitive(model, member):
            wire = member.serialization.get("name", name)
            found.extend(v for k, v in headers.items() if k.lower() == wire.lower())
    if not body.strip():
        return
    if model.resolved_protocol in ("json", "rest-json"):
        document = json.loads(body)
        payload = shape.serialization.get("payload")
        if payload and payload in shape.members:
            _collect(shape.members[payload], document, found, False, serialized=True)
        else:
            _collect(shape, document, found, False, serialized=True)
    elif body.lstrip()[:1] == b"<":
        _collect_xml(shape, body, found)


def _xml_names(shape: Any, names: set[str], seen: set[str]) -> None:
    """Element names under which every text is sensitive."""
    if shape.name in seen:
        return
    seen.add(shape.name)
    members: list[tuple[str, Any]] = []
    if shape.type_name == "structure":
        members = list(shape.members.items())
    elif shape.type_name == "list":
        members = [(shape.member.serialization.get("name", "member"), shape.member)]
    elif shape.type_name == "map":
        members = [("key", shape.key), ("value", shape.value)]
    for name, member in members:
        wire = member.serialization.get("name", name)
        if member.metadata.get("sensitive"):
            names.add(wire)
        else:
            _xml_names(member, names, seen)


def _collect_xml(shape: Any, body: bytes, found: list[object]) -> None:
    from xml.etree import ElementTree

    names: set[str] = set()
    _xml_names(shape, names, set())
    if not names:
        return
    root = ElementTree.fromstring(body)  # noqa: S314 - an AWS endpoint's response, already
    for element in root.iter():       # parsed by botocore's own (same) expat parser
        if element.tag.rsplit("}", 1)[-1] in names:
            found.extend(text for text in element.itertext() if text.strip())


def _leaves(document: object) -> list[str]:
    found: list[str] = []
    stack = [document]
    while stack and len(found) <= _MAX_VALUES:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _string_leaves(text: str) -> list[str]:
    """Every string value inside a JSON document (a SecretString's other keys are secret too)."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    return _leaves(document)
