"""Secrets Manager's EventBridge events in LocalAgentCore: every write to a secret announces itself.

On AWS, CloudTrail records every Secrets Manager call and EventBridge puts it on
the account's default event bus as an ``aws.secretsmanager`` event (detail-type
``AWS API Call via CloudTrail``); a finished rotation adds the service event
``RotationSucceeded`` (``AWS Service Event via CloudTrail``). A customer routes
them to an SQS queue with a rule. Here the front observes each successful write
(``PutSecretValue``, ``UpdateSecret``, ``RotateSecret``, ``UpdateSecretVersionStage``)
and :class:`SecretEvents` puts the CloudTrail-shaped event on moto's default bus of
the caller's account and Region, so rules and targets made with plain boto3 deliver
it as they would on AWS. The emulator's own helpers (``env.rotate_secret``) announce
their writes the same way.

As in CloudTrail, no event carries a secret value: ``SecretString`` and
``SecretBinary`` never reach ``requestParameters``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ._front import AwsFront, AwsRequest
from ._server import Response

__all__ = ["API_CALL", "SERVICE_EVENT", "WRITE_OPERATIONS", "SecretEvents",
           "serve_test_event_pattern"]

logger = logging.getLogger("agentcore_auth.testing")

API_CALL = "AWS API Call via CloudTrail"
SERVICE_EVENT = "AWS Service Event via CloudTrail"
SOURCE = "aws.secretsmanager"
EVENT_SOURCE = "secretsmanager.amazonaws.com"
WRITE_OPERATIONS = ("PutSecretValue", "UpdateSecret", "RotateSecret", "UpdateSecretVersionStage")
"""The writes that change (or may change) which value a secret's AWSCURRENT holds."""

# Request members CloudTrail records, in its lowerCamelCase; values are never among them.
_RECORDED = {
    "SecretId": "secretId", "ClientRequestToken": "clientRequestToken",
    "VersionStages": "versionStages", "Description": "description", "KmsKeyId": "kmsKeyId",
    "RotationLambdaARN": "rotationLambdaARN", "RotationRules": "rotationRules",
    "RotateImmediately": "rotateImmediately", "VersionStage": "versionStage",
    "MoveToVersionId": "moveToVersionId", "RemoveFromVersionId": "removeFromVersionId",
}
_RESPONSE = {"ARN": "arn", "Name": "name", "VersionId": "versionId",
             "VersionStages": "versionStages"}
# moto's default SQS/Lambda input template leaves out the envelope's "account" field,
# which EventBridge always sends; consumers (and RotationWatcher) read it.
_TEMPLATE_FIX_LOCK = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SecretEvents:
    """Puts Secrets Manager's CloudTrail-shaped events on the default bus of an account.

    Args:
        events_client: ``(account, region) -> boto3 events client`` talking to moto
            directly (not through the front).
    """

    def __init__(self, events_client: Callable[[str, str], Any]) -> None:
        self._client = events_client
        self.published = 0
        self._lock = threading.Lock()

    def install(self, front: AwsFront) -> None:
        """Observe every write operation of Secrets Manager at the front."""
        _include_account_in_moto_events()
        for operation in WRITE_OPERATIONS:
            front.observe("secretsmanager", operation, self._observed)
        front.route("events", "TestEventPattern", serve_test_event_pattern)

    def _observed(self, request: AwsRequest, status: int, body: bytes) -> None:
        try:
            parameters = request.http.json()
            answer = json.loads(body) if body.strip() else {}
        except ValueError:
            return
        if not isinstance(parameters, dict) or not isinstance(answer, dict):
            return
        self.api_call(request.operation, account=request.account_id, region=request.region,
                      parameters=parameters, response=answer,
                      access_key_id=request.access_key_id)
        if request.operation == "RotateSecret" and answer.get("ARN"):
            self.rotation_succeeded(str(answer["ARN"]), account=request.account_id,
                                    region=request.region)

    def api_call(self, operation: str, *, account: str, region: str,
                 parameters: Mapping[str, Any], response: Mapping[str, Any],
                 access_key_id: str = "") -> None:
        """Announce a successful call of ``operation`` (botocore's member names in and out)."""
        request_parameters = {_RECORDED[k]: v for k, v in parameters.items() if k in _RECORDED}
        response_elements = {_RESPONSE[k]: v for k, v in response.items() if k in _RESPONSE}
        detail = {
            **self._base(operation, account, region, "AwsApiCall"),
            "userIdentity": {
                "type": "IAMUser", "principalId": "AIDALOCALAGENTCORE", "accountId": account,
                "arn": f"arn:aws:iam::{account}:user/local", "accessKeyId": access_key_id,
            },
            "sourceIPAddress": "127.0.0.1",
            "userAgent": "agentcore-auth LocalAgentCore",
            "requestParameters": request_parameters,
            "responseElements": response_elements or None,
        }
        self._put(API_CALL, detail, account, region)

    def rotation_succeeded(self, arn: str, *, account: str, region: str) -> None:
        """Announce the service event of a finished rotation of secret ``arn``."""
        detail = {
            **self._base("RotationSucceeded", account, region, "AwsServiceEvent"),
            "userIdentity": {"accountId": account, "invokedBy": EVENT_SOURCE},
            "sourceIPAddress": EVENT_SOURCE,
            "userAgent": EVENT_SOURCE,
            "requestParameters": None,
            "responseElements": None,
            "additionalEventData": {"SecretId": arn},
        }
        self._put(SERVICE_EVENT, detail, account, region)

    @staticmethod
    def _base(name: str, account: str, region: str, kind: str) -> dict[str, Any]:
        return {
            "eventVersion": "1.08", "eventTime": _now(), "eventSource": EVENT_SOURCE,
            "eventName": name, "awsRegion": region, "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()), "readOnly": False, "eventType": kind,
            "managementEvent": True, "recipientAccountId": account,
            "eventCategory": "Management",
        }

    def _put(self, detail_type: str, detail: dict[str, Any], account: str, region: str) -> None:
        entry = {"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail),
                 "Resources": []}
        try:
            self._client(account, region).put_events(Entries=[entry])
        except Exception as exc:  # noqa: BLE001 - as on AWS: a target that fails never fails the write
            logger.debug("the %s event was not delivered: %s", detail["eventName"],
                         type(exc).__name__)
            return
        with self._lock:
            self.published += 1


def serve_test_event_pattern(request: AwsRequest) -> Response:
    """EventBridge ``TestEventPattern`` (moto lacks it), judged by moto's own matcher.

    The same code decides which rules deliver an event in the emulator, so the doctor's
    answer and the delivery agree.
    """
    from moto.events.exceptions import InvalidEventPatternException
    from moto.events.models import EventPattern

    try:
        body = request.http.json()
        event = json.loads(body["Event"])
        pattern = EventPattern.load(body["EventPattern"])
        if not isinstance(event, dict):
            raise ValueError("not an object")
    except InvalidEventPatternException as exc:
        return Response.json({"__type": "InvalidEventPatternException",
                              "message": str(exc.message)}, status=400)
    except (ValueError, KeyError, TypeError):
        return Response.json({"__type": "ValidationException",
                              "message": "Event and EventPattern must be JSON objects"},
                             status=400)
    matched = pattern.matches_event(event)  # type: ignore[arg-type]
    return Response.json({"Result": bool(matched)})


def _include_account_in_moto_events() -> None:
    """Make moto's default target input the whole event, ``account`` included, as on AWS."""
    try:
        from moto.events.utils import EventTemplateParser
    except ImportError:  # pragma: no cover - moto reorganised: events stay as moto sends them
        return
    with _TEMPLATE_FIX_LOCK:
        template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
        if '"account"' not in template and template.startswith('{"id": "<id>",'):
            EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
                '{"id": "<id>",', '{"id": "<id>", "account": "<account>",', 1)
