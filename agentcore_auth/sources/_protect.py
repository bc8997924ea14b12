"""Register secrets from AWS responses *before* botocore logs them.

botocore's parser logs every raw response body at DEBUG (``botocore.parsers``)
while parsing, before the resolver ever sees the value, so registering a value
after the call is too late for that one log line. A ``before-parse`` hook on
our clients reads the sensitive fields first and registers them with the
redactor, so the very first log record is already scrubbed. Request-side
tokens (workload access tokens, user JWTs) are registered before sending.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["naming", "protect_client", "register_value"]

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
_name: ContextVar[str | None] = ContextVar("agentcore_auth_secret_name", default=None)


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
    if isinstance(value, str) and len(value.strip()) >= redactor.min_length:
        redactor.register(value, name=name or _name.get() or "credential")


def protect_client(client: Any) -> Any:
    """Hook ``client`` so credential fields of its responses are registered before parsing.

    Registering is all it does: whether logs are redacted is the resolver's
    ``redact_logs`` (or :func:`agentcore_auth.install_log_redaction`).
    """
    client.meta.events.register(
        "before-parse", _register_response, unique_id="agentcore-auth-register-response"
    )
    return client


def _register_response(response_dict: dict[str, Any] | None = None, **_: Any) -> None:
    try:
        body = (response_dict or {}).get("body")
        if not isinstance(body, bytes) or len(body) > _MAX_BODY or not body.lstrip()[:1] == b"{":
            return
        document = json.loads(body)
        if not isinstance(document, dict):
            return
        for field in SENSITIVE_FIELDS:
            value = document.get(field)
            register_value(value)
            if field == "SecretString" and isinstance(value, str):
                for leaf in _string_leaves(value):
                    register_value(leaf)
    except Exception:  # noqa: S110 - a hook must never break the AWS call it observes
        pass


def _string_leaves(text: str) -> list[str]:
    """Every string value inside a JSON document (a SecretString's other keys are secret too)."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
