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
import urllib.parse
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
    # STS GetWebIdentityToken's own errors (query protocol; see _sts.py)
    "OutboundWebIdentityFederationDisabledException": 403,
    "SessionDurationEscalationException": 403,
    "JWTPayloadSizeExceededException": 400,
    "SignerNotConfiguredException": 404,
    "RegionalSignerUnavailableException": 404,
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
        from ._isolation import isolated_session

        session = isolated_session()._session  # the botocore session: no ~/.aws, no AWS_*
        self._routes: dict[tuple[str, str], Operation] = {}
        self._templates: list[tuple[str, re.Pattern[str], Operation]] = []
        self._patterns: dict[str, re.Pattern[str] | None] = {}
        for service in self.SERVICES:
            model = session.get_service_model(service)
            for name in model.operation_names:
                op = model.operation_model(name)
                route = Operation(
                    name, op.http["method"], op.http["requestUri"].split("?")[0],
                    int(op.http.get("responseCode", 200)), op.input_shape,
                )
                if "{" in route.path:  # /tags/{resourceArn}: labels are one path segment
                    regex = re.sub(r"\\\{(\w+)\+?\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
                    self._templates.append((route.method, re.compile(regex), route))
                else:
                    self._routes.setdefault((route.method, route.path), route)

    def route(self, method: str, path: str) -> Operation | None:
        """The operation served at ``method path``, if any."""
        return self.match(method, path)[0]

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str]]:
        """The operation at ``method path`` and its URI labels (percent-decoded)."""
        operation = self._routes.get((method, path))
        if operation is not None:
            return operation, {}
        for verb, regex, route in self._templates:
            found = regex.fullmatch(path) if verb == method else None
            if found:
                return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None, {}

    @staticmethod
    def request_body(operation: Operation, body: dict[str, Any], labels: dict[str, str],
                     query: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        """The input as one dict: JSON body members plus URI labels and query parameters."""
        if operation.input_shape is None:
            return body
        merged = dict(body)
        for member, shape in operation.input_shape.members.items():
            location = shape.serialization.get("location")
            wire_name = shape.serialization.get("name", member)
            if location == "uri" and wire_name in labels:
                merged[member] = labels[wire_name]
            elif location == "querystring":
                values = [v for k, v in query if k == wire_name]
                if values:
                    merged[member] = values if shape.type_name == "list" else values[-1]
        return merged

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
                    raise _constraint(name, None, "Member must not be null")
            if getattr(shape, "is_tagged_union", False):
                given = [k for k in value if k in shape.members and value[k] is not None]
                if len(given) != 1:
                    raise validation(label, f"{label} must set exactly one of "
                                            f"{', '.join(shape.members)} (got {len(given)}"
                                            f"{': ' + ', '.join(given) if given else ''})")
            for key, item in value.items():
                if key in shape.members and item is not None:
                    self._check(shape.members[key], item, f"{where}.{key}" if where else key)
        elif kind == "list":
            if not isinstance(value, list):
                raise validation(label, f"{label} must be a list")
            self._length(shape, len(value), label, value)
            for index, item in enumerate(value):
                self._check(shape.member, item, f"{label}[{index}]")
        elif kind == "map":
            if not isinstance(value, dict):
                raise validation(label, f"{label} must be an object")
            self._length(shape, len(value), label, value)
            for key, item in value.items():
                self._check(shape.key, key, f"{label}.key")
                self._check(shape.value, item, f"{label}.{key}")
        elif kind == "string":
            if not isinstance(value, str):
                raise validation(label, f"{label} must be a string")
            self._length(shape, len(value), label, value)
            if shape.enum and value not in shape.enum:
                raise _constraint(label, _shown(shape, value),
                                  f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
            pattern = shape.metadata.get("pattern")
            compiled = self._pattern(pattern) if pattern else None
            if compiled is not None and not compiled.fullmatch(value):
                raise _constraint(label, _shown(shape, value),
                                  f"Member must satisfy regular expression pattern: {pattern}")
        elif kind == "boolean" and not isinstance(value, bool):
            raise validation(label, f"{label} must be a boolean")
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise validation(label, f"{label} must be an integer")
            low, high = shape.metadata.get("min"), shape.metadata.get("max")
            if low is not None and value < low:
                raise _constraint(label, str(value), f"Member must be greater than or equal to "
                                                     f"{low}")
            if high is not None and value > high:
                raise _constraint(label, str(value), f"Member must be less than or equal to "
                                                     f"{high}")

    @staticmethod
    def _length(shape: Any, size: int, label: str, value: object) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        shown = _shown(shape, value) if isinstance(value, str) else None
        if low is not None and size < low:
            raise _constraint(label, shown, f"Member must have length greater than or equal "
                                            f"to {low}")
        if high is not None and size > high:
            raise _constraint(label, shown, f"Member must have length less than or equal to "
                                            f"{high}")


def _shown(shape: Any, value: str) -> str | None:
    """The value to quote in an error: never a sensitive one, never a long one."""
    if shape.metadata.get("sensitive") or len(value) > 256:
        return None
    return value


def _constraint(label: str, value: str | None, rule: str) -> ServiceError:
    """A ValidationException in AWS's wording (sensitive values left out, as AWS does)."""
    quoted = f"Value '{value}' at '{label}'" if value is not None else f"Value at '{label}'"
    return validation(label, f"1 validation error detected: {quoted} failed to satisfy "
                             f"constraint: {rule}")
