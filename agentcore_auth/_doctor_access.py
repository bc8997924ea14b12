"""The watcher's own access, probed with the doctor's credentials (``doctor --queue-url``).

``receive``: a zero-wait ``ReceiveMessage`` with ``VisibilityTimeout=0`` (any message
comes straight back; not run when messages wait on a queue with a redrive policy,
where it would count a receive against them). ``delete``: ``DeleteMessage`` and
``ChangeMessageVisibility`` with a receipt handle that names no message: AWS refuses
it as invalid when the caller may, as denied when it may not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._doctor_checks import ClientFactory, DoctorReport, _code

__all__ = ["DENIED", "WatcherAccess"]

DENIED = frozenset({"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException",
                    "UnauthorizedOperation"})
_BOGUS_HANDLE = "agentcore-auth-doctor-probe"  # names no message: refused as invalid


class WatcherAccess:
    """The receive and delete checks (mixed into the queue doctor)."""

    report: DoctorReport
    clients: ClientFactory
    url: str
    queue_arn: str
    attributes: dict[str, str]

    def add(self, name: str, status: Any, detail: str, fix: str | None = None) -> None:
        raise NotImplementedError

    def _caller(self) -> str:
        try:
            return str(self.clients("sts", None).get_caller_identity()["Arn"])
        except Exception:  # noqa: BLE001 - only names the caller
            return "the doctor's credentials"

    def _grant_fix(self, actions: str) -> str:
        return ("allow the watcher's role, in its IAM policy:\n" + json.dumps(
            {"Effect": "Allow", "Action": actions.split(), "Resource": self.queue_arn})
                + "\n(and, for a customer managed queue key, kms:Decrypt on it); then run the "
                "doctor with that role (--profile) to check")

    def check_receive(self) -> None:
        sqs, caller = self.clients("sqs", None), self._caller()
        redrive = self.attributes.get("RedrivePolicy")
        waiting = int(self.attributes.get("ApproximateNumberOfMessages", "0") or 0)
        if redrive and waiting:
            self.add("receive", "warn", f"not probed: {waiting} message(s) wait and the queue "
                     "has a redrive policy, so a probe would count a receive against them",
                     self._grant_fix("sqs:ReceiveMessage sqs:ChangeMessageVisibility"))
            return
        try:
            sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                VisibilityTimeout=0)
        except Exception as exc:
            self.add("receive", "fail", f"{caller} may not receive from the queue "
                     f"({_code(exc)})", self._grant_fix(
                         "sqs:ReceiveMessage sqs:DeleteMessage sqs:ChangeMessageVisibility"))
            return
        self.add("receive", "pass", f"{caller} may receive (probed with a zero-wait receive "
                 "that hands any message straight back)")

    def check_delete(self) -> None:
        sqs, caller = self.clients("sqs", None), self._caller()
        problems: list[tuple[str, str]] = []
        probes: tuple[tuple[str, Callable[[], Any]], ...] = (
            ("sqs:DeleteMessage", lambda: sqs.delete_message(
                QueueUrl=self.url, ReceiptHandle=_BOGUS_HANDLE)),
            ("sqs:ChangeMessageVisibility", lambda: sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=_BOGUS_HANDLE, VisibilityTimeout=0)),
        )
        for action, call in probes:
            try:
                call()
            except Exception as exc:
                code = _code(exc)
                if code in DENIED or "denied" in code.lower():
                    problems.append((action, code))
        if any(a == "sqs:DeleteMessage" for a, _ in problems):
            self.add("delete", "fail", f"{caller} may not delete messages ({problems[0][1]}): "
                     "every event would be handled again and again",
                     self._grant_fix(" ".join(a for a, _ in problems)))
        elif problems:
            self.add("delete", "warn", f"{caller} may delete but not sqs:ChangeMessageVisibility"
                     ": on stop, messages under way come back only after the visibility timeout",
                     self._grant_fix("sqs:ChangeMessageVisibility"))
        else:
            self.add("delete", "pass", f"{caller} may delete messages and change their "
                     "visibility (probed with a receipt handle that names no message)")

