"""``doctor --queue-url``: will a RotationWatcher on this queue hear of every rotation?

One :class:`~agentcore_auth._doctor_checks.Check` per link of the chain Secrets
Manager -> EventBridge rule -> SQS queue -> watcher, each failure with its fix:

- ``queue``: the queue exists and its attributes can be read;
- ``provider-map``: the control plane lists the credential providers and their
  referenced secrets (what the watcher maps events by);
- ``rule``: an enabled rule on the default event bus targets the queue and hands it
  the event itself (no ``Input`` / ``InputPath`` / ``InputTransformer``);
- ``pattern``: EventBridge's own ``TestEventPattern`` says the rule matches each
  write the watcher acts on, for the providers' secrets;
- ``queue-policy``: the queue policy lets ``events.amazonaws.com`` ``sqs:SendMessage``
  for that rule (its ``aws:SourceArn`` / ``aws:SourceAccount`` conditions judged);
- ``encryption``: EventBridge can write to the queue (not the AWS managed key
  ``alias/aws/sqs``; a customer managed key's policy lets it encrypt);
- ``receive`` / ``delete``: the doctor's own credentials (run it with the watcher's
  role: ``--profile``) may ``ReceiveMessage`` (a zero-wait receive that hands any
  message straight back, ``VisibilityTimeout=0``) and ``DeleteMessage`` (a delete
  with a receipt handle that names no message: refused as invalid, not as denied).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from ._doctor_access import DENIED, WatcherAccess
from ._doctor_checks import Check, ClientFactory, DoctorReport, _code, _grant, _judge
from ._doctor_events import EVENTS_PRINCIPAL, RULE_PATTERN, judge_send, sample_events
from ._exceptions import ConfigurationError
from ._logging import ensure_log_redaction
from ._rotation_events import CHANGE_EVENTS
from ._rotation_map import ControlPlaneReferences

__all__ = ["diagnose_queue"]

_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_MAX_SECRETS = 10
_RULE_NAME = "secret-writes"


def diagnose_queue(queue_url: str, *, provider_name: str | None = None,
                   region: str | None = None, endpoint_url: str | None = None,
                   session: Any = None, clients: ClientFactory | None = None) -> DoctorReport:
    """Check that a :class:`~agentcore_auth.RotationWatcher` on ``queue_url`` will work.

    Args:
        queue_url: the SQS queue's URL.
        provider_name: try the rule's pattern on this provider's secret only (default:
            every provider's referenced secret, up to 10).
        region: the Region; default the queue URL's, else boto3's.
        endpoint_url: the AgentCore control plane's endpoint (SQS, EventBridge, STS
            and KMS endpoints come from boto3's configuration).
        session: a boto3 Session for the default clients.
        clients: ``(service_name, None) -> boto3 client``.

    Returns:
        The report (``report.provider_name`` is the queue URL).
    """
    from ._doctor import BotoClients

    ensure_log_redaction()
    if not isinstance(queue_url, str) or not queue_url.startswith(("https://", "http://")):
        raise ConfigurationError("--queue-url must be the SQS queue's URL, e.g. https://sqs."
                                 "us-east-1.amazonaws.com/111122223333/secret-rotations (aws sqs "
                                 "get-queue-url --queue-name NAME)")
    if clients is None:
        if region is None:
            from ._aws import configured_region

            region = _url_region(queue_url) or configured_region(session)
        if not region:
            raise ConfigurationError("no AWS Region configured: pass --region (region=), or set "
                                     "AWS_REGION")
        clients = BotoClients(region=region, endpoint_url=endpoint_url, session=session)
    region = region or str(clients("sqs", None).meta.region_name)
    report = DoctorReport(queue_url, region)
    _QueueDoctor(report, clients, queue_url, provider_name).run()
    return report


def _url_region(url: str) -> str | None:
    parts = (urllib.parse.urlsplit(url).hostname or "").split(".")
    return parts[1] if len(parts) >= 4 and parts[0] == "sqs" else None


class _QueueDoctor(WatcherAccess):
    def __init__(self, report: DoctorReport, clients: ClientFactory, url: str,
                 provider_name: str | None) -> None:
        self.report = report
        self.clients = clients
        self.url = url
        self.provider_name = provider_name
        self.queue_arn = ""
        self.account = ""
        self.attributes: dict[str, str] = {}
        self.secrets: list[str] = []

    def add(self, name: str, status: Any, detail: str, fix: str | None = None) -> None:
        self.report.checks.append(Check(name, status, detail, fix))

    def run(self) -> None:
        rest = ("provider-map", "rule", "pattern", "queue-policy", "encryption", "receive",
                "delete")
        if not self.check_queue():
            for name in rest:
                self.add(name, "skip", "the queue could not be read: fix that first")
            return
        self.check_provider_map()
        rules = self.check_rules()
        if rules:
            matching = self.check_pattern(rules)
            self.check_policy(matching or rules)
        else:
            self.add("pattern", "skip", "no rule targets the queue")
            self.check_policy([])
        self.check_encryption()
        self.check_receive()
        self.check_delete()

    # --- the queue ---------------------------------------------------------------------

    def check_queue(self) -> bool:
        try:
            self.attributes = self.clients("sqs", None).get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        except Exception as exc:
            code = _code(exc)
            name = self.url.rstrip("/").rsplit("/", 1)[-1]
            if code in _MISSING:
                self.add("queue", "fail", f"queue {self.url} does not exist",
                         f"aws sqs create-queue --queue-name {name} --region "
                         f"{self.report.region}\nthen route Secrets Manager's events to it "
                         "(docs/rotation-events.md), or pass the right --queue-url")
            else:
                self.add("queue", "fail", f"cannot read the queue's attributes ({code})",
                         "allow the doctor's role sqs:GetQueueAttributes on the queue, or run "
                         "with credentials that may (--profile)")
            return False
        self.queue_arn = self.attributes.get("QueueArn", "")
        self.account = self.queue_arn.split(":")[4] if self.queue_arn.count(":") >= 5 else ""
        fifo = self.queue_arn.endswith(".fifo")
        retention = int(self.attributes.get("MessageRetentionPeriod", "0") or 0)
        detail = f"{self.queue_arn} ({retention // 3600} h retention)"
        if fifo:
            self.add("queue", "fail", f"{self.queue_arn} is a FIFO queue: EventBridge targets a "
                     "FIFO queue only with a MessageGroupId, and rotations need no order",
                     f"aws sqs create-queue --queue-name {self.queue_arn.rsplit(':', 1)[-1][:-5]}"
                     " (a standard queue)")
        else:
            self.add("queue", "pass", detail)
        return True

    def check_provider_map(self) -> None:
        control = self.clients("bedrock-agentcore-control", None)
        try:
            references = ControlPlaneReferences(lambda: control)()
        except Exception as exc:
            self.add("provider-map", "fail" if _code(exc) in DENIED else "warn",
                     f"cannot list the credential providers ({_code(exc)}): the watcher maps "
                     "a secret to its providers this way",
                     "allow the watcher's role bedrock-agentcore:ListApiKeyCredentialProviders, "
                     "GetApiKeyCredentialProvider, ListOauth2CredentialProviders and "
                     "GetOauth2CredentialProvider")
            return
        if self.provider_name is not None:
            references = [r for r in references if r.provider_name == self.provider_name]
            if not references:
                self.add("provider-map", "fail", f"provider {self.provider_name!r} does not "
                         "exist or references no secret of yours (source MANAGED), so no "
                         "rotation of yours concerns it",
                         "agentcore-auth providers create-api-key --name "
                         f"{self.provider_name} --secret-arn ARN --json-key KEY")
                return
        self.secrets = sorted({r.secret_arn for r in references})
        if not self.secrets:
            self.add("provider-map", "warn", "no credential provider references a secret of "
                     "yours: the watcher will discard every event",
                     "point a provider at your secret (apiKeySecretSource EXTERNAL)")
            return
        self.add("provider-map", "pass", f"{len(references)} provider(s) reference "
                 f"{len(self.secrets)} secret(s)")

    # --- EventBridge -------------------------------------------------------------------

    def check_rules(self) -> list[dict[str, Any]]:
        events = self.clients("events", None)
        fix = self._rule_fix()
        try:
            names: list[str] = []
            token: str | None = None
            while True:
                page = events.list_rule_names_by_target(
                    TargetArn=self.queue_arn, **({"NextToken": token} if token else {}))
                names += page.get("RuleNames", [])
                token = page.get("NextToken")
                if not token:
                    break
            rules = []
            for name in names:
                rule = events.describe_rule(Name=name)
                targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
                rule["queue_targets"] = [t for t in targets if t.get("Arn") == self.queue_arn]
                rules.append(rule)
        except Exception as exc:
            self.add("rule", "fail", f"cannot list the rules targeting the queue ({_code(exc)})",
                     "allow the doctor's role events:ListRuleNamesByTarget, events:DescribeRule "
                     "and events:ListTargetsByRule")
            return []
        if not rules:
            self.add("rule", "fail", "no EventBridge rule on the default event bus targets "
                     "the queue, so no event reaches it (a route through SNS is not checked)",
                     fix)
            return []
        good, problems = [], []
        for rule in rules:
            rewritten = [t["Id"] for t in rule["queue_targets"]
                         if t.get("Input") or t.get("InputPath") or t.get("InputTransformer")]
            if rule.get("State") != "ENABLED":
                problems.append(f"rule {rule['Name']} is {rule.get('State')}: "
                                f"aws events enable-rule --name {rule['Name']}")
            elif rewritten:
                problems.append(f"rule {rule['Name']}'s target {rewritten[0]} rewrites the event "
                                "(Input/InputPath/InputTransformer), so the watcher cannot read "
                                f"it: aws events remove-targets --rule {rule['Name']} --ids "
                                f"{rewritten[0]}, then aws events put-targets --rule "
                                f"{rule['Name']} --targets Id=queue,Arn={self.queue_arn}")
            elif not rule.get("EventPattern"):
                problems.append(f"rule {rule['Name']} is a schedule, not an event pattern: "
                                "make a rule with the pattern below")
            else:
                good.append(rule)
        names_text = ", ".join(r["Name"] for r in good)
        if good:
            self.add("rule", "warn" if problems else "pass",
                     f"rule(s) {names_text} target the queue"
                     + (f"; also: {'; '.join(problems)}" if problems else ""))
        else:
            self.add("rule", "fail", "; ".join(problems), fix if len(problems) > 1 else
                     problems[0].split(": ", 1)[-1] + "\n" + fix)
        return good

    def _rule_fix(self) -> str:
        return ("save as pattern.json:\n" + json.dumps(RULE_PATTERN, indent=2)
                + f"\nthen run:\naws events put-rule --name {_RULE_NAME} --event-pattern "
                f"file://pattern.json --region {self.report.region}\naws events put-targets "
                f"--rule {_RULE_NAME} --targets Id=queue,Arn={self.queue_arn or 'QUEUE_ARN'}\n"
                "and allow the rule to send in the queue policy (see queue-policy)")

    def check_pattern(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        events = self.clients("events", None)
        secrets = self.secrets[:_MAX_SECRETS] or [
            f"arn:aws:secretsmanager:{self.report.region}:{self.account}:secret:example-AbCdEf"]
        placeholder = "" if self.secrets else " (a placeholder secret: no provider is known)"
        hits: dict[tuple[str, str, str], bool] = {}  # (rule, event name, secret) -> matched
        for rule in rules:
            for secret in secrets:
                for name, event in sample_events(secret, self.account, self.report.region).items():
                    try:
                        hits[(rule["Name"], name, secret)] = bool(events.test_event_pattern(
                            EventPattern=rule["EventPattern"], Event=event)["Result"])
                    except Exception as exc:
                        self.add("pattern", "warn", f"cannot test rule {rule['Name']}'s pattern "
                                 f"({_code(exc)}); compare it with the one below", self._rule_fix())
                        return rules
        names = sorted(CHANGE_EVENTS)
        matching = [r for r in rules
                    if any(hits[(r["Name"], n, s)] for n in names for s in secrets)]
        uncovered = sorted({n for n in names for s in secrets
                            if not any(hits[(r["Name"], n, s)] for r in rules)})
        if not matching:
            self.add("pattern", "fail", "no rule targeting the queue matches Secrets Manager's "
                     f"write events{placeholder}: nothing will ever reach the watcher",
                     self._rule_fix().replace("put-rule --name secret-writes",
                                              f"put-rule --name {rules[0]['Name']}"))
        elif uncovered:
            self.add("pattern", "warn", f"rule(s) {', '.join(r['Name'] for r in matching)} miss "
                     f"{', '.join(uncovered)}{placeholder}: those writes still cost one "
                     "401 and a refetch per process", self._rule_fix())
        else:
            self.add("pattern", "pass", f"rule(s) {', '.join(r['Name'] for r in matching)} match "
                     f"every write the watcher acts on, for {len(secrets)} secret(s){placeholder}")
        return matching

    def check_policy(self, rules: list[dict[str, Any]]) -> None:
        policy = self.attributes.get("Policy") or None
        targets = rules or [{"Name": _RULE_NAME, "Arn": "RULE_ARN"}]
        for rule in targets:
            try:
                decision = judge_send(policy, queue_arn=self.queue_arn, rule_arn=rule["Arn"],
                                      account=self.account)
            except ConfigurationError as exc:
                self.add("queue-policy", "fail", f"the queue policy cannot be judged: {exc}",
                         self._policy_fix(policy, rule["Arn"]))
                return
            if decision.denied_by:
                self.add("queue-policy", "fail", f"the queue policy denies {EVENTS_PRINCIPAL} "
                         f"sqs:SendMessage for rule {rule['Name']} (statement "
                         f"{', '.join(decision.denied_by)})", "remove or narrow the Deny "
                         "statement(s), then:\n" + self._policy_fix(policy, rule["Arn"]))
                return
            if not decision.allowed:
                why = "there is no queue policy" if policy is None else (
                    "no statement allows it for this rule")
                self.add("queue-policy", "fail", f"the queue policy does not let "
                         f"{EVENTS_PRINCIPAL} sqs:SendMessage for rule {rule['Name']} ({why}): "
                         "EventBridge drops every event it cannot deliver",
                         self._policy_fix(policy, rule["Arn"]))
                return
            if decision.unjudged:
                self.add("queue-policy", "warn", f"allowed by {', '.join(decision.statements)} "
                         "if these conditions hold for EventBridge's requests (not judged): "
                         + "; ".join(decision.unjudged))
                return
        self.add("queue-policy", "pass", f"{EVENTS_PRINCIPAL} may send for rule(s) "
                 f"{', '.join(r['Name'] for r in targets)}")

    def _policy_fix(self, policy: str | None, rule_arn: str) -> str:
        statement = {"Sid": "AllowSecretWritesRule", "Effect": "Allow",
                     "Principal": {"Service": EVENTS_PRINCIPAL}, "Action": "sqs:SendMessage",
                     "Resource": self.queue_arn,
                     "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}
        document = json.loads(_grant(policy, statement))
        return ("save as attributes.json:\n" + json.dumps({"Policy": json.dumps(document)})
                + f"\nthen run:\naws sqs set-queue-attributes --queue-url {self.url} "
                "--attributes file://attributes.json")

    def check_encryption(self) -> None:
        key = self.attributes.get("KmsMasterKeyId")
        if not key:
            how = ("SSE-SQS" if self.attributes.get("SqsManagedSseEnabled") == "true"
                   else "not encrypted")
            self.add("encryption", "pass", f"{how}: EventBridge can write to it")
            return
        if key in ("alias/aws/sqs",) or key.endswith(":alias/aws/sqs"):
            self.add("encryption", "fail", "the queue is encrypted with the AWS managed key "
                     "alias/aws/sqs, whose policy cannot let EventBridge encrypt: every event "
                     "is dropped", f"aws sqs set-queue-attributes --queue-url {self.url} "
                     "--attributes KmsMasterKeyId=,SqsManagedSseEnabled=true\n(or use a "
                     f"customer managed key that allows {EVENTS_PRINCIPAL} kms:GenerateDataKey "
                     "and kms:Decrypt)")
            return
        kms = self.clients("kms", None)
        try:
            meta = kms.describe_key(KeyId=key)["KeyMetadata"]
            policy = kms.get_key_policy(KeyId=meta["Arn"], PolicyName="default").get("Policy")
        except Exception as exc:
            self.add("encryption", "warn", f"cannot read KMS key {key} ({_code(exc)}): its "
                     f"policy must allow {EVENTS_PRINCIPAL} kms:GenerateDataKey and kms:Decrypt")
            return
        key_arn = str(meta["Arn"])
        statement = {"Sid": "AllowEventBridgeToEncrypt", "Effect": "Allow",
                     "Principal": {"Service": EVENTS_PRINCIPAL},
                     "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}

        def fix() -> str:
            return ("save as key-policy.json:\n" + _grant(policy, statement) + "\nthen run:\n"
                    f"aws kms put-key-policy --key-id {key_arn} --policy-name default "
                    "--policy file://key-policy.json")

        check = _judge("encryption", policy, "kms:GenerateDataKey", key_arn,
                       f"key policy of the queue's key {key_arn}", fix, EVENTS_PRINCIPAL)
        self.report.checks.append(check)
