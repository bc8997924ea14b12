"""The rest-json wire protocol of AgentCore Identity: routing, input validation, errors.

Routes and input rules come from botocore's own service models
(``bedrock-agentcore`` 2024-02-28 and ``bedrock-agentcore-control`` 2023-06-05),
so the emulator accepts what botocore sends and checks the same required
members, lengths, patterns and enums the real service documents.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ERROR_STATUS", "Operation", "ServiceError", "WireModel", "encode_json"]

ERROR_STATUS = {
    "ValidationException": 400,
    "UnknownOperationException": 400,
    "UnauthorizedException": 401,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,  # the caller's AWS credentials (fault injection)
    "ExpiredTokenException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}


class ServiceError(Exception):
    """An AWS error to send back: ``x-amzn-ErrorType`` header plus a JSON body.

    Messages must never contain a secret value; they name fields, keys and ARNs only.
    """

    def __init__(self, code: str, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field_name = field_name
        self.status = ERROR_STATUS.get(code, 400)

    def body(self) -> dict[str, Any]:
        """The JSON body AWS sends for this error."""
        body: dict[str, Any] = {"message": self.message}
        if self.code == "ValidationException":
            body["reason"] = "FieldValidationFailed" if self.field_name else "CannotParse"
            if self.field_name:
                body["fieldList"] = [{"name": self.field_name, "message": self.message}]
        return body


def validation(field_name: str, message: str) -> ServiceError:
    """A ValidationException about one field."""
    return ServiceError("ValidationException", message, field_name=field_name)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of either plane: name, HTTP method and path, success status."""

    name: str
    method: str
    path: str
    status: int
    input_shape: Any = field(repr=False)


def _default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_json(value: object) -> bytes:
    """JSON-encode a response body; datetimes become epoch seconds as rest-json expects."""
    return json.dumps(value, default=_default, separators=(",", ":")).encode()


class WireModel:
    """Routes and validators built from botocore's models of both planes."""

    SERVICES = ("bedrock-agentcore", "bedrock-agentcore-control")

    def __init__(self) -> None:
        import botocore.session

        session = botocore.session.get_session()
        self._routes: dict[tuple[str, str], Operation] = {}
        self._patterns: dict[str, re.Pattern[str] | None] = {}
        for service in self.SERVICES:
            model = session.get_service_model(service)
            for name in model.operation_names:
                op = model.operation_model(name)
                if "{" in op.http["requestUri"]:
                    continue  # tag and resource-policy APIs: not emulated
                route = Operation(
                    name, op.http["method"], op.http["requestUri"].split("?")[0],
                    int(op.http.get("responseCode", 200)), op.input_shape,
                )
                self._routes.setdefault((route.method, route.path), route)

    def route(self, method: str, path: str) -> Operation | None:
        """The operation served at ``method path``, if any."""
        return self._routes.get((method, path))

    def _pattern(self, pattern: str) -> re.Pattern[str] | None:
        if pattern not in self._patterns:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    self._patterns[pattern] = re.compile(pattern)
                except re.error:
                    self._patterns[pattern] = None
        return self._patterns[pattern]

    def compile_patterns(self) -> None:
        """Compile every pattern now (in the starting thread), not in a request thread."""
        for route in self._routes.values():
            if route.input_shape is not None:
                self._walk_patterns(route.input_shape, set())

    def _walk_patterns(self, shape: Any, seen: set[str]) -> None:
        if shape.name in seen:
            return
        seen.add(shape.name)
        if "pattern" in shape.metadata:
            self._pattern(shape.metadata["pattern"])
        for child in getattr(shape, "members", {}).values():
            self._walk_patterns(child, seen)
        if hasattr(shape, "member"):
            self._walk_patterns(shape.member, seen)

    def validate(self, operation: Operation, body: object) -> dict[str, Any]:
        """Check a request body against the operation's input shape; return it."""
        if operation.input_shape is None:
            return {}
        if not isinstance(body, dict):
            raise ServiceError("ValidationException", "request body must be a JSON object")
        self._check(operation.input_shape, body, "")
        return body

    def _check(self, shape: Any, value: object, where: str) -> None:
        kind = shape.type_name
        label = where or "request"
        if kind == "structure":
            if not isinstance(value, dict):
                raise validation(label, f"{label} must be an object")
            for required in shape.required_members:
                if value.get(required) is None:
                    name = f"{where}.{required}" if where else required
                    raise validation(name, f"{name} is required")
            for key, item in value.items():
                if key in shape.members and item is not None:
                    self._check(shape.members[key], item, f"{where}.{key}" if where else key)
        elif kind == "list":
            if not isinstance(value, list):
                raise validation(label, f"{label} must be a list")
            self._length(shape, len(value), label, "items")
            for index, item in enumerate(value):
                self._check(shape.member, item, f"{label}[{index}]")
        elif kind == "map":
            if not isinstance(value, dict):
                raise validation(label, f"{label} must be an object")
            self._length(shape, len(value), label, "entries")
        elif kind == "string":
            if not isinstance(value, str):
                raise validation(label, f"{label} must be a string")
            self._length(shape, len(value), label, "characters")
            if shape.enum and value not in shape.enum:
                raise validation(label, f"{label} must be one of {', '.join(shape.enum)}")
            pattern = shape.metadata.get("pattern")
            compiled = self._pattern(pattern) if pattern else None
            if compiled is not None and not compiled.fullmatch(value):
                raise validation(label, f"{label} does not match the pattern {pattern}")
        elif kind == "boolean" and not isinstance(value, bool):
            raise validation(label, f"{label} must be a boolean")
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise validation(label, f"{label} must be an integer")
            self._length(shape, value, label, "")

    @staticmethod
    def _length(shape: Any, size: int, label: str, unit: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        what = f" {unit}" if unit else ""
        if low is not None and size < low:
            raise validation(label, f"{label} must have at least {low}{what}")
        if high is not None and size > high:
            raise validation(label, f"{label} must have at most {high}{what}")
