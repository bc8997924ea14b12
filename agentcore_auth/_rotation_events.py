"""Reading Secrets Manager's EventBridge events off an SQS message: which secret changed.

I/O-free. An EventBridge rule with an SQS target delivers the event itself as the
message body (an SNS hop wraps it in a ``Notification``, unwrapped here). The
events that can change a secret's AWSCURRENT value are CloudTrail's records of
``PutSecretValue``, ``UpdateSecret``, ``RotateSecret`` and ``UpdateSecretVersionStage``
(detail-type ``AWS API Call via CloudTrail``) and the service event
``RotationSucceeded`` (``AWS Service Event via CloudTrail``). Anything else is
refused with a :class:`Discarded` whose reason never quotes the message.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CHANGE_EVENTS", "Discarded", "SecretChange", "fingerprint", "parse_message",
           "secret_key"]

SOURCE = "aws.secretsmanager"
EVENT_SOURCE = "secretsmanager.amazonaws.com"
DETAIL_TYPES = ("AWS API Call via CloudTrail", "AWS Service Event via CloudTrail")
CHANGE_EVENTS = frozenset({"PutSecretValue", "UpdateSecret", "RotateSecret",
                           "UpdateSecretVersionStage", "RotationSucceeded"})
"""Event names that can change which value a secret's AWSCURRENT version holds."""
_MAX_BODY = 262_144  # SQS's own message size limit
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:!-]{1,2048}$")
_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


class Discarded(Exception):  # noqa: N818 - an outcome, not an error of the caller's
    """A message that names no secret change; ``reason`` never quotes the message."""

    def __init__(self, reason: str, *, kind: str = "malformed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # malformed | foreign | unrelated | ignored


@dataclass(frozen=True, slots=True)
class SecretChange:
    """One secret write: the secret (ARN, partial ARN or name), its account and Region."""

    event_name: str
    secret_id: str
    account: str
    region: str

    @property
    def key(self) -> tuple[str, str, str]:
        """What a provider's referenced secret is matched on (see :func:`secret_key`)."""
        return secret_key(self.secret_id, self.account, self.region)


def secret_key(secret_id: str, account: str = "", region: str = "") -> tuple[str, str, str]:
    """``(account, region, name)`` of a secret ARN (full or partial) or name.

    A full ARN's random ``-XXXXXX`` suffix is dropped, so a partial ARN a provider
    was given matches the full ARN an event names.
    """
    name = secret_id
    if secret_id.startswith("arn:"):
        parts = secret_id.split(":", 6)
        if len(parts) == 7 and parts[5] == "secret":
            account, region, name = parts[4], parts[3], parts[6]
    return account, region, _SUFFIX.sub("", name)


def fingerprint(body: str) -> str:
    """A short hash of a message body, to name it in logs without quoting it."""
    return hashlib.sha256(body.encode("utf-8", "replace")).hexdigest()[:12]


def parse_message(body: object) -> SecretChange:
    """The secret change an SQS message body announces; :class:`Discarded` otherwise."""
    if not isinstance(body, str) or not body or len(body) > _MAX_BODY:
        raise Discarded("the body is empty, too large or not text")
    event = _json(body)
    if event.get("Type") == "Notification" and isinstance(event.get("Message"), str):
        event = _json(event["Message"])  # EventBridge -> SNS -> SQS
    if event.get("source") != SOURCE or event.get("detail-type") not in DETAIL_TYPES:
        raise Discarded("not a Secrets Manager CloudTrail event (source or detail-type)",
                        kind="unrelated")
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("eventSource") != EVENT_SOURCE:
        raise Discarded("the event has no Secrets Manager detail")
    name = detail.get("eventName")
    if name not in CHANGE_EVENTS:
        raise Discarded("the event is not a write to a secret's value", kind="ignored")
    if detail.get("errorCode") or detail.get("errorMessage"):
        raise Discarded(f"the {name} call it records failed", kind="ignored")
    parameters = detail.get("requestParameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if not _moves_current(name, parameters):
        raise Discarded(f"the {name} call it records does not touch AWSCURRENT", kind="ignored")
    account = _field(event.get("account") or detail.get("recipientAccountId"), _ACCOUNT)
    region = _field(event.get("region") or detail.get("awsRegion"), _REGION)
    if not account or not region:
        raise Discarded("the event has no valid account or Region")
    secret_id = _secret_id(detail, parameters, event)
    if secret_id is None:
        raise Discarded(f"the {name} event names no valid secret")
    if secret_id.startswith("arn:"):
        arn_account, arn_region, _ = secret_key(secret_id)
        if arn_region != region:
            raise Discarded("the event's Region is not its secret's Region", kind="foreign")
        if not _ACCOUNT.match(arn_account):
            raise Discarded(f"the {name} event names no valid secret")
    return SecretChange(name, secret_id, account, region)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise Discarded("the body is not JSON") from None
    if not isinstance(value, dict):
        raise Discarded("the body is not a JSON object")
    return value


def _field(value: object, pattern: re.Pattern[str]) -> str:
    return value if isinstance(value, str) and pattern.match(value) else ""


def _moves_current(name: str, parameters: dict[str, Any]) -> bool:
    """False for writes that leave AWSCURRENT where it was (a rotation's AWSPENDING step)."""
    if name == "PutSecretValue" and "versionStages" in parameters:
        stages = parameters["versionStages"]
        return not isinstance(stages, list) or "AWSCURRENT" in stages
    if name == "UpdateSecretVersionStage" and "versionStage" in parameters:
        return bool(parameters["versionStage"] == "AWSCURRENT")
    return True


def _secret_id(detail: dict[str, Any], parameters: dict[str, Any],
               event: dict[str, Any]) -> str | None:
    """The secret's ARN where the event has one (``arn``, older ``aRN``), else its id."""
    response = detail.get("responseElements")
    extra = detail.get("additionalEventData")
    service = detail.get("serviceEventDetails")
    resources = event.get("resources")
    candidates: list[object] = []
    if isinstance(response, dict):
        candidates += [response.get("arn"), response.get("aRN"), response.get("ARN")]
    if isinstance(extra, dict):
        candidates.append(extra.get("SecretId"))
    if isinstance(service, dict):
        candidates.append(service.get("secretId"))
    if isinstance(resources, list):
        candidates += resources
    candidates.append(parameters.get("secretId"))
    valid = [c for c in candidates if isinstance(c, str) and _SECRET_ID.match(c)]
    arns = [c for c in valid if c.startswith("arn:") and ":secretsmanager:" in c]
    if arns:
        return arns[0]
    names = [c for c in valid if not c.startswith("arn:")]
    return names[0] if names else None
