"""The doctor's checks (see :mod:`agentcore_auth._doctor` for the API and what is checked)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ._arn import SecretRef, parse_arn
from ._exceptions import ConfigurationError, CredentialNotFoundError
from ._policy import evaluate_policy
from ._providers import ProviderInfo, describe_provider
from ._redact import default_redactor
from ._secret import Secret

__all__ = ["SERVICE_PRINCIPAL", "Check", "ClientFactory", "DoctorReport", "Status", "run_checks"]

SERVICE_PRINCIPAL = "bedrock-agentcore.amazonaws.com"
Status = Literal["pass", "fail", "warn", "skip"]
ClientFactory = Callable[[str, "str | None"], Any]
_AWS_MANAGED_KEY = "alias/aws/secretsmanager"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome. ``fix`` says exactly what to run when it did not pass."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass(slots=True)
class DoctorReport:
    """All checks of one provider; ``ok`` when none failed (warnings do not fail)."""

    provider_name: str
    region: str
    provider: ProviderInfo | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The failed checks."""
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (never holds a secret value)."""
        return {"provider": self.provider_name, "region": self.region, "ok": self.ok,
                "details": self.provider.to_dict() if self.provider else None,
                "checks": [asdict(c) for c in self.checks]}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _grant(policy: str | None, statement: dict[str, Any]) -> str:
    """``policy`` with ``statement`` appended (or a new policy), as indented JSON."""
    document: dict[str, Any] = {"Version": "2012-10-17", "Statement": []}
    if policy:
        try:
            loaded = json.loads(policy)
            if isinstance(loaded, dict):
                document = loaded
        except ValueError:
            pass
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [*(statements or []), statement]
    return json.dumps(document, indent=2)


def _statement(sid: str, action: str, resource: str,
               principal: str = SERVICE_PRINCIPAL) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"Service": principal},
            "Action": action, "Resource": resource}


def _judge(name: str, policy: str | None, action: str, resource: str, what: str,
           fix: Callable[[], str], principal: str = SERVICE_PRINCIPAL) -> Check:
    try:
        decision = evaluate_policy(policy, principal_service=principal, action=action,
                                   resource=resource)
    except ConfigurationError as exc:
        return Check(name, "fail", f"the {what} cannot be judged: {exc}", fix())
    if decision.explicit_deny:
        return Check(name, "fail", f"the {what} denies {principal} {action} (statement "
                     f"{', '.join(decision.matched_statements)})",
                     "remove or narrow the Deny statement(s) "
                     f"{', '.join(decision.matched_statements)}, then:\n{fix()}")
    if not decision.allowed:
        why = "there is none" if policy is None else "no statement allows it"
        return Check(name, "fail", f"the {what} does not allow {principal} {action} "
                     f"({why})", fix())
    by = ", ".join(decision.matched_statements)
    if decision.unsupported_conditions:
        conditions = "; ".join(decision.unsupported_conditions)
        return Check(name, "warn", f"allowed by {by}, if these conditions hold for AgentCore "
                     f"Identity's requests (not judged): {conditions}")
    return Check(name, "pass", f"{principal} may call {action} (statement {by})")


class _Doctor:
    def __init__(self, report: DoctorReport, clients: ClientFactory,
                 principal: str = SERVICE_PRINCIPAL, info: ProviderInfo | None = None) -> None:
        self.report = report
        self.clients = clients
        self.region = report.region
        self.principal = principal
        self.info = info

    def add(self, name: str, status: Status, detail: str, fix: str | None = None) -> Check:
        check = Check(name, status, detail, fix)
        self.report.checks.append(check)
        return check

    def skip_rest(self, reason: str, names: tuple[str, ...]) -> None:
        for name in names:
            self.add(name, "skip", reason)

    def run(self, workload_name: str | None) -> None:
        rest = ("region", "secret", "value", "resource-policy", "kms-key", "cross-account",
                "return-url", "rotation", "tags")
        try:
            info = self.info or describe_provider(
                self.report.provider_name, client=self.clients("bedrock-agentcore-control", None))
        except CredentialNotFoundError as exc:
            self.add("provider", "fail", str(exc),
                     f"agentcore-auth providers create-api-key --name {self.report.provider_name}"
                     " --secret-arn ARN --json-key KEY  (or providers create-oauth2 ...)")
            return self.skip_rest("no provider", rest)
        self.report.provider = info
        kind = "API key" if info.kind == "api_key" else f"OAuth2 ({info.vendor})"
        if info.source != "EXTERNAL" or not info.secret_arn or not info.json_key:
            self.add("provider", "pass", f"{kind} provider, source {info.source}: AgentCore "
                     "Identity owns its secret, nothing of yours to check")
            return self.skip_rest("MANAGED secret", rest)
        self.add("provider", "pass", f"{kind} provider, source EXTERNAL: secret "
                 f"{info.secret_arn}, JSON key {info.json_key!r}")
        try:
            ref = SecretRef(info.secret_arn, info.json_key)
        except ConfigurationError as exc:
            self.add("region", "fail", str(exc))
            return self.skip_rest("malformed secret ARN", rest[1:])
        if not self.check_region(info, ref):
            return self.skip_rest("the secret is in another Region: fix that first", rest[1:])
        described = self.check_secret(ref)
        if described is None:
            return self.skip_rest("secret not described", rest[2:])
        self.check_value(ref)
        self.check_resource_policy(ref)
        self.check_kms(ref, described)
        self.check_return_url(info, workload_name)
        self.check_rotation(ref, described)
        tags = {t["Key"]: t["Value"] for t in described.get("Tags") or []}
        if tags:
            self.add("tags", "pass", ", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
        else:
            self.add("tags", "warn", "the secret has no tags",
                     f"aws secretsmanager tag-resource --secret-id {ref.secret_id} "
                     "--tags Key=agentcore-provider,Value=" + self.report.provider_name)

    def check_region(self, info: ProviderInfo, ref: SecretRef) -> bool:
        region = info.region or self.region
        if ref.region == region:
            self.add("region", "pass", f"secret and provider are both in {region}")
            return True
        self.add("region", "fail", f"the secret is in {ref.region} but the provider is in "
                 f"{region}: cross-Region references are not supported",
                 f"aws secretsmanager replicate-secret-to-regions --secret-id {ref.secret_id} "
                 f"--add-replica-regions Region={region}\nthen point the provider at the "
                 f"replica's ARN (arn:...:secretsmanager:{region}:...) with "
                 "aws bedrock-agentcore-control update-api-key-credential-provider (or "
                 "update-oauth2-credential-provider)")
        return False

    def sm(self, ref: SecretRef) -> Any:
        own = ref.account if ref.account != self._caller_account() else None
        return self.clients("secretsmanager", own)

    def _caller_account(self) -> str | None:
        info = self.report.provider
        arn = info.arn if info else None
        return arn.split(":")[4] if arn and arn.count(":") >= 5 else None

    def check_secret(self, ref: SecretRef) -> dict[str, Any] | None:
        try:
            described: dict[str, Any] = self.sm(ref).describe_secret(SecretId=ref.secret_id)
        except Exception as exc:
            code = _code(exc)
            if code == "ResourceNotFoundException":
                self.add("secret", "fail", f"secret {ref.secret_id} does not exist",
                         "create it (aws secretsmanager create-secret --name NAME "
                         f"--secret-string file://secret.json --region {ref.region}) and point "
                         "the provider at its ARN")
            else:
                self.add("secret", "warn", f"cannot describe the secret ({code}): the doctor's "
                         "credentials may not reach it; the checks below are skipped",
                         "run with credentials of the secret's account (--profile), or allow "
                         "your role secretsmanager:DescribeSecret/GetSecretValue/"
                         "GetResourcePolicy in the secret's resource policy")
            return None
        if described.get("DeletedDate"):
            self.add("secret", "fail", f"secret {ref.secret_id} is scheduled for deletion",
                     f"aws secretsmanager restore-secret --secret-id {ref.secret_id}")
            return None
        self.add("secret", "pass", f"{described.get('Name')} exists in account {ref.account}")
        return described

    def check_value(self, ref: SecretRef) -> None:
        example = f'{{"{ref.json_key}": "<value>"}}'
        fix = (f"aws secretsmanager put-secret-value --secret-id {ref.secret_id} "
               f"--secret-string file://secret.json   (secret.json: {example})")
        try:
            text = self.sm(ref).get_secret_value(SecretId=ref.secret_id).get("SecretString")
        except Exception as exc:
            self.add("value", "warn", f"the doctor cannot read the value ({_code(exc)}), so the "
                     "JSON key is not checked", "grant your role secretsmanager:GetSecretValue "
                     "(and kms:Decrypt) to check the value too")
            return
        if text is None:
            self.add("value", "fail", "the secret holds only SecretBinary; AgentCore Identity "
                     "reads a JSON SecretString", fix)
            return
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            self.add("value", "fail", "the SecretString is not a JSON object", fix)
            return
        value = document.get(ref.json_key)
        if ref.json_key not in document:
            keys = ", ".join(repr(k) for k in sorted(document)[:10]) or "none"
            self.add("value", "fail", f"JSON key {ref.json_key!r} is missing (keys present: "
                     f"{keys})", fix)
        elif not isinstance(value, str) or not value:
            what = "empty" if value == "" else f"a {type(value).__name__}, not a string"
            self.add("value", "fail", f"JSON key {ref.json_key!r} is {what}", fix)
        else:
            with warnings.catch_warnings():  # a value too short to redact: it is not printed
                warnings.simplefilter("ignore")
                default_redactor().register(value, name=self.report.provider_name)
            secret = Secret(value)
            self.add("value", "pass", f"JSON key {ref.json_key!r}: {secret.fingerprint}, "
                     f"{len(value)} characters")

    def check_resource_policy(self, ref: SecretRef) -> None:
        try:
            policy = self.sm(ref).get_resource_policy(SecretId=ref.secret_id).get(
                "ResourcePolicy")
        except Exception as exc:
            self.add("resource-policy", "warn", f"cannot read the resource policy ({_code(exc)})")
            return
        statement = _statement("AllowAgentCoreIdentity", "secretsmanager:GetSecretValue",
                               ref.secret_id, self.principal)

        def fix() -> str:
            return ("save as policy.json:\n" + _grant(policy, statement) + "\nthen run:\n"
                    f"aws secretsmanager put-resource-policy --secret-id {ref.secret_id} "
                    f"--resource-policy file://policy.json --region {ref.region}")

        self.report.checks.append(_judge("resource-policy", policy,
                                         "secretsmanager:GetSecretValue", ref.secret_id,
                                         "secret's resource policy", fix, self.principal))

    def check_kms(self, ref: SecretRef, described: dict[str, Any]) -> None:
        key_id = described.get("KmsKeyId")
        other_account = ref.account != self._caller_account()
        cmk_fix = ("aws kms create-key (granting kms:Decrypt to "
                   f"{self.principal} in its key policy), then aws secretsmanager update-secret "
                   f"--secret-id {ref.secret_id} --kms-key-id KEY_ARN")
        if not key_id or key_id == _AWS_MANAGED_KEY:
            self.add("kms-key", "pass", "encrypted with the AWS managed key aws/secretsmanager")
            if other_account:
                self.add("cross-account", "fail", f"the secret is in account {ref.account} and "
                         "uses the AWS managed key aws/secretsmanager, which cannot be used "
                         "across accounts", cmk_fix)
            else:
                self.add("cross-account", "skip", "the secret is in the provider's account")
            return
        key_account = parse_arn(key_id).account if key_id.startswith("arn:") else ref.account
        kms = self.clients("kms", key_account if key_account != self._caller_account() else None)
        try:
            meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            managed_by_aws = meta.get("KeyManager") == "AWS"
            policy = None if managed_by_aws else kms.get_key_policy(
                KeyId=meta["Arn"], PolicyName="default").get("Policy")
        except Exception as exc:
            self.add("kms-key", "warn", f"cannot read KMS key {key_id} ({_code(exc)})")
            self.add("cross-account", "skip", "KMS key unreadable")
            return
        key_arn = str(meta["Arn"])
        if managed_by_aws:
            self.add("kms-key", "pass", f"AWS managed key {key_arn}")
        elif meta.get("KeyState") != "Enabled":
            self.add("kms-key", "fail", f"customer managed key {key_arn} is {meta.get('KeyState')}",
                     f"aws kms enable-key --key-id {key_arn}")
        else:
            statement = _statement("AllowAgentCoreIdentityDecrypt", "kms:Decrypt", "*",
                                   self.principal)

            def fix() -> str:
                return ("save as key-policy.json:\n" + _grant(policy, statement) + "\nthen run:\n"
                        f"aws kms put-key-policy --key-id {key_arn} --policy-name default "
                        f"--policy file://key-policy.json --region {ref.region}")

            check = _judge("kms-key", policy, "kms:Decrypt", key_arn,
                           f"key policy of customer managed key {key_arn}", fix, self.principal)
            self.report.checks.append(check)
        if not other_account:
            self.add("cross-account", "skip", "the secret is in the provider's account")
        elif managed_by_aws:
            self.add("cross-account", "fail", f"the secret is in account {ref.account} but its "
                     "key is AWS managed, which cannot be used across accounts", cmk_fix)
        else:
            self.add("cross-account", "pass", f"secret in account {ref.account}, encrypted with "
                     "a customer managed key")

    def check_return_url(self, info: ProviderInfo, workload_name: str | None) -> None:
        if info.kind != "oauth2":
            self.add("return-url", "skip", "API key provider: no OAuth2 return URL involved")
            return
        if not workload_name:
            self.add("return-url", "skip", "pass --workload NAME (workload_name=) to check the "
                     "OAuth2 return URL used by USER_FEDERATION")
            return
        try:
            workload = self.clients("bedrock-agentcore-control", None).get_workload_identity(
                name=workload_name)
        except Exception as exc:
            self.add("return-url", "fail", f"workload identity {workload_name!r}: {_code(exc)}",
                     f"aws bedrock-agentcore-control create-workload-identity --name "
                     f"{workload_name} --allowed-resource-oauth2-return-urls https://YOUR-APP/cb")
            return
        urls = workload.get("allowedResourceOauth2ReturnUrls") or []
        if urls:
            self.add("return-url", "pass", f"workload {workload_name!r} allows "
                     + ", ".join(urls))
        else:
            self.add("return-url", "fail", f"workload {workload_name!r} has no OAuth2 return "
                     "URL, so USER_FEDERATION cannot send users back",
                     f"aws bedrock-agentcore-control update-workload-identity --name "
                     f"{workload_name} --allowed-resource-oauth2-return-urls https://YOUR-APP/cb")

    def check_rotation(self, ref: SecretRef, described: dict[str, Any]) -> None:
        last = described.get("LastRotatedDate") or described.get("LastChangedDate")
        when = f"last changed {last:%Y-%m-%d %H:%M}" if hasattr(last, "strftime") else (
            "never rotated")
        if described.get("RotationEnabled"):
            rules = described.get("RotationRules") or {}
            every = rules.get("AutomaticallyAfterDays") or rules.get("ScheduleExpression") or "?"
            self.add("rotation", "pass", f"enabled (every {every}), {when}")
        else:
            self.add("rotation", "warn", f"rotation is not enabled; {when}",
                     f"aws secretsmanager rotate-secret --secret-id {ref.secret_id} "
                     "--rotation-lambda-arn LAMBDA_ARN --rotation-rules AutomaticallyAfterDays=30")



def run_checks(report: DoctorReport, clients: ClientFactory, workload_name: str | None, *,
               principal: str = SERVICE_PRINCIPAL, info: ProviderInfo | None = None) -> None:
    """Run every check of ``report.provider_name``, appending to ``report.checks``.

    ``principal`` is the service that reads the secret; ``info`` describes the
    provider when it is not an AgentCore one (a CredentialBroker provider).
    """
    _Doctor(report, clients, principal, info).run(workload_name)
