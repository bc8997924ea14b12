"""What ``doctor --queue-url`` judges offline: sample events, and a queue policy's conditions.

I/O-free. :func:`sample_events` builds the EventBridge events Secrets Manager puts on
the default bus for each write a :class:`~agentcore_auth.RotationWatcher` acts on
(CloudTrail-shaped, as AWS sends them), so a rule's pattern can be tried on them with
EventBridge's own ``TestEventPattern``. :func:`judge_send` decides whether a queue
policy lets ``events.amazonaws.com`` send for one rule, judging the conditions such a
statement carries (``aws:SourceArn``, ``aws:SourceAccount``) against that rule.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._policy import _match, evaluate_policy
from ._rotation_events import CHANGE_EVENTS, DETAIL_TYPES, EVENT_SOURCE, SOURCE

__all__ = ["EVENTS_PRINCIPAL", "RULE_PATTERN", "SendDecision", "judge_send", "sample_events"]

EVENTS_PRINCIPAL = "events.amazonaws.com"
#: The pattern the docs recommend: every write a RotationWatcher acts on.
RULE_PATTERN: dict[str, Any] = {
    "source": [SOURCE],
    "detail-type": list(DETAIL_TYPES),
    "detail": {"eventSource": [EVENT_SOURCE],
               "eventName": sorted(CHANGE_EVENTS)},
}
_SERVICE_EVENTS = frozenset({"RotationSucceeded"})


def sample_events(secret_arn: str, account: str, region: str) -> dict[str, str]:
    """``event name -> event JSON`` for each write of ``secret_arn`` the watcher acts on."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, str] = {}
    for name in sorted(CHANGE_EVENTS):
        detail: dict[str, Any] = {
            "eventVersion": "1.08", "eventTime": now, "eventSource": EVENT_SOURCE,
            "eventName": name, "awsRegion": region, "recipientAccountId": account,
            "eventID": str(uuid.uuid4()), "readOnly": False, "managementEvent": True,
            "eventCategory": "Management",
        }
        if name in _SERVICE_EVENTS:
            detail.update(eventType="AwsServiceEvent", requestParameters=None,
                          responseElements=None, additionalEventData={"SecretId": secret_arn},
                          userIdentity={"accountId": account, "invokedBy": EVENT_SOURCE})
            detail_type = DETAIL_TYPES[1]
        else:
            detail.update(eventType="AwsApiCall", requestParameters={"secretId": secret_arn},
                          responseElements={"arn": secret_arn},
                          userIdentity={"type": "AssumedRole", "accountId": account})
            detail_type = DETAIL_TYPES[0]
        out[name] = json.dumps({
            "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type,
            "source": SOURCE, "account": account, "time": now, "region": region,
            "resources": [], "detail": detail,
        })
    return out


@dataclass(frozen=True, slots=True)
class SendDecision:
    """Whether a queue policy lets EventBridge send for one rule.

    Attributes:
        allowed: an Allow statement applies (its conditions hold) and no Deny does.
        statements: the Sids (or ``#index``) of the statements that decided it.
        unjudged: conditions that could not be judged (the statement was assumed to apply).
        denied_by: the Deny statements that applied.
    """

    allowed: bool
    statements: tuple[str, ...] = ()
    unjudged: tuple[str, ...] = ()
    denied_by: tuple[str, ...] = ()


def judge_send(policy: str | None, *, queue_arn: str, rule_arn: str,
               account: str) -> SendDecision:
    """Does ``policy`` let ``events.amazonaws.com`` ``sqs:SendMessage`` to the queue for a rule?

    Raises:
        ConfigurationError: the policy is not valid JSON or not shaped like a policy.
    """
    if not policy:
        return SendDecision(False)
    evaluate_policy(policy, principal_service=EVENTS_PRINCIPAL, action="sqs:SendMessage",
                    resource=queue_arn)  # validates the whole document first
    document = json.loads(policy)
    statements = document["Statement"]
    statements = [statements] if isinstance(statements, Mapping) else statements
    context = {"aws:sourcearn": rule_arn, "aws:sourceaccount": account}
    allow: list[str] = []
    deny: list[str] = []
    unjudged: list[str] = []
    for index, statement in enumerate(statements):
        decision = evaluate_policy({"Statement": [statement]}, principal_service=EVENTS_PRINCIPAL,
                                   action="sqs:SendMessage", resource=queue_arn)
        if not (decision.allowed or decision.explicit_deny):
            continue
        holds, open_ = _conditions_hold(statement.get("Condition"), context)
        if holds is False:
            continue
        sid = statement.get("Sid")
        label = sid if isinstance(sid, str) and sid else f"#{index}"
        (allow if decision.allowed else deny).append(label)
        unjudged += [c for c in open_ if c not in unjudged]
    return SendDecision(bool(allow) and not deny, tuple(allow), tuple(unjudged), tuple(deny))


def _conditions_hold(condition: object, context: Mapping[str, str]
                     ) -> tuple[bool | None, list[str]]:
    """(False: a condition fails; True: all hold; None: some cannot be judged, the rest hold)."""
    if not isinstance(condition, Mapping) or not condition:
        return True, []
    unjudged: list[str] = []
    for operator, block in condition.items():
        if not isinstance(operator, str) or not isinstance(block, Mapping):
            unjudged.append(str(operator))
            continue
        for key, wanted in block.items():
            outcome = _one(operator, str(key).lower(), wanted, context)
            if outcome is False:
                return False, []
            if outcome is None:
                unjudged.append(f"{operator} {key}")
    return (None if unjudged else True), unjudged


def _one(operator: str, key: str, wanted: object, context: Mapping[str, str]) -> bool | None:
    base = operator.removesuffix("IfExists")
    if key not in context or ":" in base:  # ForAnyValue:/ForAllValues: and other keys
        return None
    values = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    actual = context[key]
    negated = "Not" in base
    kind = base.replace("Not", "")
    if kind == "StringEquals":
        hit = actual in values
    elif kind == "StringEqualsIgnoreCase":
        hit = actual.lower() in [v.lower() for v in values]
    elif kind in ("StringLike", "ArnLike", "ArnEquals"):  # IAM: ArnEquals also takes wildcards
        hit = any(_match(v, actual, False) for v in values)
    else:
        return None
    return hit != negated
