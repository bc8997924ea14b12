"""How the emulated service reads and keeps secrets in (moto's) Secrets Manager and KMS.

MANAGED secrets are created, updated and deleted by the "service" in the
emulator's own account. EXTERNAL (referenced) secrets are read anew at every
resolution, as AgentCore Identity does, after the same checks the real service
depends on: the secret exists and is not scheduled for deletion, its resource
policy lets ``bedrock-agentcore.amazonaws.com`` call ``secretsmanager:GetSecretValue``,
and a customer managed KMS key that encrypts it is enabled and lets that
principal call ``kms:Decrypt``. Error choices: a missing or deleted secret is
ResourceNotFoundException; a missing grant is AccessDeniedException; a disabled
KMS key, a SecretBinary-only or non-JSON secret, a missing key or an empty value
is ValidationException. Messages name ARNs and JSON keys, never values.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from typing import Any

from agentcore_auth._arn import SecretRef, parse_arn
from agentcore_auth._exceptions import ConfigurationError
from agentcore_auth._policy import PolicyDecision, evaluate_policy

from ._wire import ServiceError, validation

__all__ = ["BROKER_PRINCIPAL", "SERVICE_PRINCIPAL", "SecretAccess"]

logger = logging.getLogger("agentcore_auth.testing")

SERVICE_PRINCIPAL = "bedrock-agentcore.amazonaws.com"
"""The service principal a referenced secret's resource policy and key policy must allow."""
#: The principal the emulated AWS IAM CredentialBroker reads referenced secrets as (the
#: service models name none; this follows the ``<endpoint prefix>.amazonaws.com`` convention).
BROKER_PRINCIPAL = "credentialbroker.amazonaws.com"
_SERVICE_NAMES = {SERVICE_PRINCIPAL: "AgentCore Identity",
                  BROKER_PRINCIPAL: "AWS IAM CredentialBroker"}
_AWS_MANAGED_SM_KEY = "alias/aws/secretsmanager"


def _grant_hint(action: str, principal: str = SERVICE_PRINCIPAL) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": principal},
                 "Action": action, "Resource": "*"}
    return json.dumps(statement)


def _why(decision: PolicyDecision, policy: str | None, what: str) -> str:
    if policy is None:
        reason = f"the {what} has no policy"
    elif decision.explicit_deny:
        statements = ", ".join(decision.matched_statements)
        reason = f"the {what} explicitly denies it (statement {statements})"
    else:
        reason = f"no statement of the {what} allows it"
    if decision.unsupported_conditions:
        reason += ("; conditions the emulator cannot judge (assumed to hold): "
                   + ", ".join(decision.unsupported_conditions))
    return reason


class SecretAccess:
    """Boto3 clients on moto, one per (service, account), and the service's secret logic.

    Args:
        aws_url: moto's endpoint.
        region: the Region of the emulated service.
        account_id: the emulated service's (and the default customer's) account.
        session: the boto3 session to make clients from (default: an isolated one).
    """

    def __init__(self, aws_url: str, region: str, account_id: str,
                 session: Any = None) -> None:
        self.aws_url = aws_url
        self.region = region
        self.account_id = account_id
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._session: Any = session

    def client(self, service: str, account_id: str | None = None) -> Any:
        """A boto3 client on moto acting in ``account_id`` (``x-moto-account-id`` header)."""
        account = account_id or self.account_id
        with self._lock:
            if (service, account) not in self._clients:  # boto3 clients are thread-safe
                from botocore.config import Config

                client = self.boto_session().client(
                    service, endpoint_url=self.aws_url, region_name=self.region,
                    aws_access_key_id="testing", aws_secret_access_key="testing",
                    config=Config(retries={"max_attempts": 1}, max_pool_connections=64),
                )

                def add_account(request: Any, **_: Any) -> None:
                    request.headers["x-moto-account-id"] = account

                client.meta.events.register("before-send.*.*", add_account)
                # The emulator runs in the user's process: its own reads of secret values
                # must not reach the user's DEBUG logs either.
                from ..sources._protect import protect_client

                self._clients[(service, account)] = protect_client(client)
            return self._clients[(service, account)]

    def boto_session(self) -> Any:
        """One boto3 session for every client, so service models load once.

        It reads no ``AWS_*`` variable and no ``~/.aws`` file: a user's profile,
        config or real credentials neither break the emulator nor reach it.
        """
        if self._session is None:
            from ._isolation import isolated_session

            self._session = isolated_session()
        return self._session

    def read_as_owner(self, secret_id: str) -> str | None:
        """The current SecretString, read as the secret's owner (no policy checks).

        Reads moto's in-process backend directly when it can (the same state, without
        an HTTP round trip, so a protected API under hundreds of concurrent requests
        stays fast), else through Secrets Manager's API.
        """
        account = parse_arn(secret_id).account if secret_id.startswith("arn:") else None
        try:
            from moto.secretsmanager.models import secretsmanager_backends

            backend = secretsmanager_backends[account or self.account_id][self.region]
            text = backend.get_secret_value(secret_id, None, None).get("SecretString")  # type: ignore[arg-type]
        except Exception:
            response = self.client("secretsmanager", account).get_secret_value(SecretId=secret_id)
            text = response.get("SecretString")
        return None if text is None else str(text)

    # --- MANAGED secrets, owned by the service -------------------------------------------

    def create_managed(self, kind: str, name: str, json_key: str, value: str, *,
                       prefix: str = "bedrock-agentcore-identity!default",
                       service: str = "AgentCore Identity") -> str:
        """Store ``value`` in a new service-owned secret; return its ARN."""
        sm = self.client("secretsmanager")
        secret_name = f"{prefix}/{kind}/{name}"
        args = {"SecretString": json.dumps({json_key: value}),
                "Description": f"Managed by the local {service} emulator: {kind} {name}"}
        try:
            response = sm.create_secret(Name=secret_name, **args)
        except Exception as exc:
            if _code(exc) != "ResourceExistsException":
                raise
            # another LocalAgentCore alive in this process shares moto: keep both apart
            response = sm.create_secret(Name=f"{secret_name}-{secrets.token_hex(3)}", **args)
        return str(response["ARN"])

    def update_managed(self, arn: str, json_key: str, value: str) -> None:
        """Put a new value into a service-owned secret."""
        self.client("secretsmanager").put_secret_value(
            SecretId=arn, SecretString=json.dumps({json_key: value}))

    def delete_managed(self, arn: str) -> None:
        """Delete a service-owned secret at once."""
        try:
            self.client("secretsmanager").delete_secret(SecretId=arn,
                                                        ForceDeleteWithoutRecovery=True)
        except Exception:  # already gone: nothing to clean up
            logger.debug("managed secret %s was already gone", arn)

    def read_managed(self, arn: str, json_key: str) -> str:
        """Read a service-owned secret's value."""
        value = self.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        return str(json.loads(value)[json_key])

    # --- EXTERNAL (referenced) secrets ----------------------------------------------------

    def check_reference(self, secret_id: object, json_key: object, field: str) -> SecretRef:
        """Check a SecretReference at create/update time (ARN form, same Region)."""
        try:
            ref = SecretRef(str(secret_id), str(json_key))
            ref.check_region(self.region)
        except ConfigurationError as exc:
            raise validation(f"{field}.secretId", f"{field}.secretId: {exc}") from None
        return ref

    def read_external(self, secret_arn: str, json_key: str, *,
                      principal: str = SERVICE_PRINCIPAL) -> str:
        """Read the value under ``json_key`` of a referenced secret, as the service would.

        ``principal`` is the service principal the policies must allow (AgentCore
        Identity's by default, ``BROKER_PRINCIPAL`` for the CredentialBroker).
        """
        account = parse_arn(secret_arn).account
        sm = self.client("secretsmanager", account)
        described = self._describe(sm, secret_arn)
        self._check_secret_policy(sm, secret_arn, principal)
        kms_key = described.get("KmsKeyId")
        cross_account = bool(account) and account != self.account_id
        if kms_key and kms_key != _AWS_MANAGED_SM_KEY:
            self._check_kms_key(str(kms_key), account, secret_arn, cross_account, principal)
        elif cross_account:
            raise _aws_managed_key_denied(secret_arn, _AWS_MANAGED_SM_KEY, principal)
        try:
            response = sm.get_secret_value(SecretId=secret_arn)
        except Exception as exc:
            raise ServiceError("InternalServerException",
                               f"could not read secret {secret_arn}: {_code(exc)}") from None
        return _value_at(response, secret_arn, json_key, _SERVICE_NAMES[principal])

    @staticmethod
    def _describe(sm: Any, arn: str) -> dict[str, Any]:
        try:
            described: dict[str, Any] = sm.describe_secret(SecretId=arn)
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                raise ServiceError(
                    "ResourceNotFoundException",
                    f"secret {arn} does not exist (never created, or deleted): create it or "
                    "point the credential provider at an existing secret's ARN",
                ) from None
            raise ServiceError("InternalServerException",
                               f"could not describe secret {arn}: {_code(exc)}") from None
        if described.get("DeletedDate"):
            raise ServiceError(
                "ResourceNotFoundException",
                f"secret {arn} is scheduled for deletion: restore it "
                "(aws secretsmanager restore-secret) or reference another secret",
            )
        return described

    def _check_secret_policy(self, sm: Any, arn: str, principal: str = SERVICE_PRINCIPAL) -> None:
        policy = sm.get_resource_policy(SecretId=arn).get("ResourcePolicy")
        self._judge(policy, "secretsmanager:GetSecretValue", arn, "secret's resource policy",
                    "aws secretsmanager put-resource-policy --secret-id " + arn,
                    principal=principal)

    def _check_kms_key(self, key_id: str, account: str, secret_arn: str,
                       cross_account: bool = False, principal: str = SERVICE_PRINCIPAL) -> None:
        if key_id.startswith("arn:"):
            account = parse_arn(key_id).account or account
        kms = self.client("kms", account)
        try:
            meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        except Exception as exc:
            raise ServiceError(
                "AccessDeniedException",
                f"KMS key {key_id} that encrypts secret {secret_arn} cannot be used "
                f"({_code(exc)}): check that the key exists",
            ) from None
        if meta.get("KeyManager") == "AWS":
            if cross_account:
                raise _aws_managed_key_denied(secret_arn, str(meta.get("Arn") or key_id),
                                              principal)
            return
        key_arn = str(meta["Arn"])
        if meta.get("KeyState") != "Enabled":
            raise ServiceError(
                "ValidationException",
                f"KMS key {key_arn} that encrypts secret {secret_arn} is {meta.get('KeyState')}: "
                "enable it (aws kms enable-key) or re-encrypt the secret with another key",
            )
        policy = kms.get_key_policy(KeyId=key_arn, PolicyName="default").get("Policy")
        self._judge(policy, "kms:Decrypt", key_arn, f"key policy of KMS key {key_arn}",
                    f"aws kms put-key-policy --key-id {key_arn} --policy-name default",
                    secret_arn=secret_arn, principal=principal)

    @staticmethod
    def _judge(policy: str | None, action: str, arn: str, what: str, command: str,
               secret_arn: str | None = None, principal: str = SERVICE_PRINCIPAL) -> None:
        try:
            decision = evaluate_policy(policy, principal_service=principal,
                                       action=action, resource=arn)
        except ConfigurationError as exc:
            raise ServiceError("AccessDeniedException",
                               f"the {what} for {arn} cannot be read: {exc}") from None
        if decision.allowed:
            if decision.unsupported_conditions:
                logger.info("%s on %s allowed assuming these conditions hold: %s", action, arn,
                            ", ".join(decision.unsupported_conditions))
            return
        used_by = f" (it encrypts secret {secret_arn})" if secret_arn else ""
        raise ServiceError(
            "AccessDeniedException",
            f"{_SERVICE_NAMES[principal]} ({principal}) is not allowed {action} on {arn}"
            f"{used_by}: {_why(decision, policy, what)}. Fix: add the statement "
            f"{_grant_hint(action, principal)} to the {what} ({command})",
        )


def _aws_managed_key_denied(secret_arn: str, key: str,
                            principal: str = SERVICE_PRINCIPAL) -> ServiceError:
    return ServiceError(
        "AccessDeniedException",
        f"secret {secret_arn} is in another account and encrypted with the AWS managed key "
        f"{key} (aws/secretsmanager), which cannot be used from another account, so "
        f"{_SERVICE_NAMES[principal]} ({principal}) cannot decrypt it. Fix: re-encrypt the "
        "secret with a customer managed KMS key whose policy allows the service kms:Decrypt (aws "
        f"secretsmanager update-secret --secret-id {secret_arn} --kms-key-id <KEY_ARN>)",
    )


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _value_at(response: dict[str, Any], arn: str, json_key: str,
              service: str = "AgentCore Identity") -> str:
    text = response.get("SecretString")
    where = f"JSON key {json_key!r} of secret {arn}"
    if text is None:
        raise ServiceError(
            "ValidationException",
            f"secret {arn} holds only SecretBinary; {service} reads the {where} "
            f'from a JSON SecretString such as {{"{json_key}": "..."}}',
        )
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ServiceError(
            "ValidationException",
            f"the SecretString of secret {arn} is not a JSON object, so the {where} cannot be "
            f'read: store {{"{json_key}": "..."}}',
        )
    if json_key not in document:
        present = ", ".join(repr(k) for k in sorted(document)[:10]) or "none"
        raise ServiceError("ValidationException",
                           f"{where} does not exist (keys present: {present})")
    value = document[json_key]
    if not isinstance(value, str):
        raise ServiceError("ValidationException",
                           f"{where} holds a {type(value).__name__}, not a string")
    if not value:
        raise ServiceError("ValidationException", f"{where} is empty")
    return value
