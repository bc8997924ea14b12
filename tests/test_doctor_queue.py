"""`doctor --queue-url`: a RotationWatcher's queue, rule, pattern, policy, access; each fix.

Each test builds the customer's infrastructure with plain boto3 against the emulator
and checks that the doctor's verdict agrees with what the emulator delivers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentcore_auth._cli import main
from agentcore_auth._doctor_checks import DoctorReport
from agentcore_auth._doctor_events import RULE_PATTERN
from agentcore_auth._doctor_queue import diagnose_queue
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._server import Response


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


class Setup:
    """A queue, optionally a rule targeting it and the queue policy allowing that rule."""

    def __init__(self, env: LocalAgentCore) -> None:
        self.env = env
        self.sqs, self.events = env.client("sqs"), env.client("events")
        self.name = env.unique_name("doctor-q")
        self.url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.rule_arn = ""
        self.provider, self.secret = env.create_api_key_provider("doctor-q-0123456789")

    def rule(self, pattern: dict[str, Any] | None = None, **target: Any) -> str:
        self.rule_arn = self.events.put_rule(
            Name=self.name, EventPattern=json.dumps(pattern or RULE_PATTERN))["RuleArn"]
        self.events.put_targets(Rule=self.name,
                                Targets=[{"Id": "queue", "Arn": self.arn, **target}])
        return self.rule_arn

    def policy(self, source_arn: str | None = None) -> None:
        statement = {"Sid": "Rule", "Effect": "Allow",
                     "Principal": {"Service": "events.amazonaws.com"},
                     "Action": "sqs:SendMessage", "Resource": self.arn,
                     "Condition": {"ArnEquals": {"aws:SourceArn": source_arn or self.rule_arn}}}
        self.sqs.set_queue_attributes(QueueUrl=self.url, Attributes={
            "Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})})

    def good(self) -> Setup:
        self.rule()
        self.policy()
        return self

    def diagnose(self, **kwargs: Any) -> DoctorReport:
        kwargs.setdefault("provider_name", self.provider)
        return diagnose_queue(self.url, region=self.env.region,
                              clients=lambda service, _: self.env.client(service), **kwargs)

    def delivered(self) -> bool:
        """Rotate the provider's secret: does the event reach the queue?"""
        self.env.rotate_secret(self.secret, {"api_key": "doctor-q-new-0123456789"})
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if self.sqs.receive_message(QueueUrl=self.url, WaitTimeSeconds=1,
                                        VisibilityTimeout=0).get("Messages"):
                return True
        return False

    def close(self) -> None:
        if self.rule_arn:
            self.events.remove_targets(Rule=self.name, Ids=["queue"])
            self.events.delete_rule(Name=self.name)
        try:
            self.sqs.delete_queue(QueueUrl=self.url)
        except Exception:  # noqa: BLE001 - a test deleted it already
            return


@pytest.fixture
def setup(env: LocalAgentCore) -> Iterator[Setup]:
    made = Setup(env)
    yield made
    made.close()


def statuses(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def failed(report: DoctorReport, name: str) -> Any:
    return next(c for c in report.failures if c.name == name)


def test_a_good_set_up_passes_and_delivers(setup: Setup) -> None:
    """Queue, rule, pattern, policy, encryption, receive and delete: all pass; events arrive."""
    report = setup.good().diagnose()
    assert report.ok, report.failures
    assert set(statuses(report).values()) == {"pass"}
    assert statuses(report).keys() == {"queue", "provider-map", "rule", "pattern",
                                       "queue-policy", "encryption", "receive", "delete"}
    assert setup.delivered()


def test_a_missing_rule_fails_with_the_put_rule_commands(setup: Setup) -> None:
    setup.policy("arn:aws:events:us-east-1:123456789012:rule/none")
    report = setup.diagnose()
    assert not report.ok
    rule = failed(report, "rule")
    assert "no EventBridge rule" in rule.detail
    assert "aws events put-rule --name" in rule.fix and f"Arn={setup.arn}" in rule.fix
    assert json.loads(rule.fix.split("pattern.json:\n")[1].split("\nthen run")[0]) == RULE_PATTERN
    assert not setup.delivered()


def test_a_wrong_pattern_fails_and_nothing_is_delivered(setup: Setup) -> None:
    setup.rule({"source": ["aws.kms"]})
    setup.policy()
    report = setup.diagnose()
    assert statuses(report)["rule"] == "pass"
    pattern = failed(report, "pattern")
    assert "matches Secrets Manager's write events" in pattern.detail
    assert f"put-rule --name {setup.name}" in pattern.fix
    assert not setup.delivered()


def test_a_pattern_missing_some_writes_warns_naming_them(setup: Setup) -> None:
    setup.rule({"source": ["aws.secretsmanager"], "detail": {"eventName": ["PutSecretValue"]}})
    setup.policy()
    report = setup.diagnose()
    assert report.ok
    check = next(c for c in report.checks if c.name == "pattern")
    assert check.status == "warn"
    assert "RotateSecret" in check.detail and "RotationSucceeded" in check.detail
    assert "PutSecretValue," not in check.detail


def test_a_pattern_narrowed_to_another_secret_fails_for_this_provider(setup: Setup) -> None:
    other = setup.env.create_secret(setup.env.unique_name("other"), {"k": "v" * 20})
    narrowed = {**RULE_PATTERN, "detail": {**RULE_PATTERN["detail"],
                                           "responseElements": {"arn": [other]}}}
    setup.rule(narrowed)
    setup.policy()
    assert "pattern" in {c.name for c in setup.diagnose().failures}


@pytest.mark.parametrize("policy", ["none", "other rule"])
def test_a_missing_or_foreign_policy_fails_with_the_merged_policy(setup: Setup,
                                                                  policy: str) -> None:
    setup.rule()
    if policy == "other rule":
        setup.policy("arn:aws:events:us-east-1:123456789012:rule/someone-elses")
    report = setup.diagnose()
    check = failed(report, "queue-policy")
    assert "events.amazonaws.com sqs:SendMessage" in check.detail
    assert f"aws sqs set-queue-attributes --queue-url {setup.url}" in check.fix
    attributes = json.loads(check.fix.split("attributes.json:\n")[1].split("\nthen run")[0])
    statements = json.loads(attributes["Policy"])["Statement"]
    assert statements[-1]["Condition"] == {"ArnEquals": {"aws:SourceArn": setup.rule_arn}}
    assert statements[-1]["Principal"] == {"Service": "events.amazonaws.com"}
    assert len(statements) == (2 if policy == "other rule" else 1)  # the old one is kept


def test_a_missing_queue_fails_and_skips_the_rest(env: LocalAgentCore) -> None:
    url = env.client("sqs").create_queue(QueueName=env.unique_name("gone"))["QueueUrl"]
    env.client("sqs").delete_queue(QueueUrl=url)
    report = diagnose_queue(url, region=env.region, clients=lambda s, _: env.client(s))
    assert statuses(report)["queue"] == "fail"
    assert "does not exist" in failed(report, "queue").detail
    assert "aws sqs create-queue --queue-name" in failed(report, "queue").fix
    assert {s for n, s in statuses(report).items() if n != "queue"} == {"skip"}


def test_a_disabled_rule_and_a_rewriting_target_fail(setup: Setup) -> None:
    setup.rule(Input='{"hello": "world"}')
    setup.policy()
    check = failed(setup.diagnose(), "rule")
    assert "rewrites the event" in check.detail and "remove-targets" in check.fix
    setup.events.put_targets(Rule=setup.name, Targets=[{"Id": "queue", "Arn": setup.arn}])
    setup.events.disable_rule(Name=setup.name)
    check = failed(setup.diagnose(), "rule")
    assert "DISABLED" in check.detail and f"enable-rule --name {setup.name}" in check.fix


def test_the_aws_managed_queue_key_fails(setup: Setup) -> None:
    setup.good()
    setup.sqs.set_queue_attributes(QueueUrl=setup.url,
                                   Attributes={"KmsMasterKeyId": "alias/aws/sqs"})
    check = failed(setup.diagnose(), "encryption")
    assert "alias/aws/sqs" in check.detail and "SqsManagedSseEnabled=true" in check.fix


def test_a_role_that_may_not_delete_fails_naming_the_action(env: LocalAgentCore,
                                                             setup: Setup) -> None:
    """DeleteMessage refused at the front as IAM would refuse it: the fix grants it."""
    def denied(_: Any) -> Response:
        return Response.json({"__type": "com.amazon.coral.service#AccessDeniedException",
                              "message": "not authorized to perform: sqs:DeleteMessage"},
                             status=400)

    setup.good()
    env.front.route("sqs", "DeleteMessage", denied)
    try:
        report = setup.diagnose()
    finally:
        env.front.route("sqs", "DeleteMessage", lambda r: env.front._forward(r.http))
    check = failed(report, "delete")
    assert "may not delete" in check.detail and "AccessDenied" in check.detail
    assert '"sqs:DeleteMessage"' in check.fix and setup.arn in check.fix
    assert setup.diagnose().ok  # the control: allowed again, it passes


def test_the_cli_prints_each_failure_with_its_fix(env: LocalAgentCore, setup: Setup,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in env.env_vars().items():
        monkeypatch.setenv(key, value)
    setup.rule()
    assert main(["doctor", "--queue-url", setup.url, setup.provider]) == 1
    out = capsys.readouterr().out
    assert f"queue {setup.url}" in out and "FAIL  queue-policy" in out
    assert "FIX queue-policy" in out and "aws sqs set-queue-attributes" in out
    setup.policy()
    assert main(["doctor", "--queue-url", setup.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
