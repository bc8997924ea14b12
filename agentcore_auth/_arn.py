"""ARN parsing and SecretRef, the pointer to a value inside a Secrets Manager secret."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._exceptions import ConfigurationError

__all__ = ["Arn", "SecretRef", "parse_arn", "partition_of_region", "validate_provider_name"]

PARTITIONS = (
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ACCOUNT = re.compile(r"^\d{12}$")
# Secrets Manager names: 1..512 of letters, digits and /_+=.@- ; ARNs add a -XXXXXX suffix.
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9\-_]{1,128}$")
#: An AWS IAM CredentialBroker provider ARN (botocore's CredentialProviderArn pattern).
BROKER_PROVIDER_ARN = re.compile(
    r"^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):credentialbroker:"
    r"[a-z0-9-]{1,64}:[0-9]{12}:credentialproviderpool/[a-z0-9]{1,64}/credentialprovider/"
    r"[a-z0-9]{1,64}$")
_EXAMPLE_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:my-api-key-AbCdEf"


@dataclass(frozen=True, slots=True)
class Arn:
    """The parts of an ARN: ``arn:partition:service:region:account:resource``."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def partition_of_region(region: str) -> str:
    """The partition a Region belongs to (``cn-north-1`` -> ``aws-cn``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("eu-isoe-"):
        return "aws-iso-e"
    if region.startswith("us-isof-"):
        return "aws-iso-f"
    if region.startswith("eusc-"):
        return "aws-eusc"
    return "aws"


def parse_arn(arn: str, *, what: str = "ARN") -> Arn:
    """Split and check an ARN; raise ConfigurationError naming the faulty part."""
    if not isinstance(arn, str):
        raise ConfigurationError(f"{what} must be a string ARN, not {type(arn).__name__}")
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ConfigurationError(
            f"{what} {arn!r} is not an ARN: expected "
            f"'arn:<partition>:<service>:<region>:<account>:<resource>', e.g. {_EXAMPLE_ARN!r}"
        )
    _, partition, service, region, account, resource = parts
    if partition not in PARTITIONS:
        raise ConfigurationError(
            f"{what} {arn!r} has an unknown partition {partition!r}; "
            f"use one of {', '.join(PARTITIONS)}"
        )
    if not service:
        raise ConfigurationError(f"{what} {arn!r} names no service")
    if region and not _REGION.fullmatch(region):
        raise ConfigurationError(
            f"{what} {arn!r} has a malformed Region {region!r} (e.g. us-east-1)"
        )
    if region and partition_of_region(region) != partition:
        raise ConfigurationError(
            f"{what} {arn!r}: Region {region!r} belongs to partition "
            f"{partition_of_region(region)!r}, not {partition!r}"
        )
    if account and not _ACCOUNT.fullmatch(account):
        raise ConfigurationError(
            f"{what} {arn!r} has a malformed account ID {account!r} (12 digits expected)"
        )
    if not resource:
        raise ConfigurationError(f"{what} {arn!r} names no resource")
    return Arn(partition, service, region, account, resource)


def validate_provider_name(name: object) -> str:
    """Check a credential provider name against AgentCore's pattern; return it.

    A CredentialBroker provider ARN is accepted too (``CredentialBrokerSource``).
    """
    if not isinstance(name, str) or not (_PROVIDER_NAME.fullmatch(name)
                                         or BROKER_PROVIDER_ARN.fullmatch(name)):
        shown = (
            repr(name) if isinstance(name, str) and len(name) <= 160 else f"<{type(name).__name__}>"
        )
        raise ConfigurationError(
            f"provider name {shown} is invalid: use 1 to 128 characters of letters, digits, "
            "'-' and '_' (the AgentCore Identity credential provider name), or a "
            "CredentialBroker provider ARN"
        )
    return name


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a credential lives: a Secrets Manager secret ARN and a key of its JSON SecretString.

    The ARN is checked when the SecretRef is made (partition, Region, account,
    name). Another account's secret is fine; another Region than the client's is
    refused by :meth:`check_region`, because AgentCore Identity does not support
    cross-Region references.

    Args:
        secret_id: the secret's full ARN.
        json_key: the key inside the secret's JSON SecretString (1 to 128 characters).
    """

    secret_id: str
    json_key: str

    def __post_init__(self) -> None:
        arn = parse_arn(self.secret_id, what="secret ARN")
        if arn.service != "secretsmanager" or not arn.resource.startswith("secret:"):
            raise ConfigurationError(
                f"secret ARN {self.secret_id!r} is not a Secrets Manager secret ARN: expected "
                f"'arn:{arn.partition}:secretsmanager:<region>:<account>:secret:<name>', "
                f"e.g. {_EXAMPLE_ARN!r}"
            )
        if not arn.region or not arn.account:
            raise ConfigurationError(
                f"secret ARN {self.secret_id!r} must include a Region and an account ID"
            )
        if len(self.secret_id) > 2048:
            raise ConfigurationError("secret ARN is longer than 2048 characters")
        name = arn.resource[len("secret:") :]
        if not _SECRET_NAME.fullmatch(name):
            raise ConfigurationError(
                f"secret ARN {self.secret_id!r} has an invalid secret name {name!r}: use 1 to 512 "
                "of letters, digits and /_+=.@-"
            )
        if not isinstance(self.json_key, str) or not 1 <= len(self.json_key) <= 128:
            raise ConfigurationError(
                f"JSON key for {self.secret_id!r} must be a string of 1 to 128 characters"
            )

    @property
    def arn(self) -> Arn:
        """The parsed ARN."""
        return parse_arn(self.secret_id)

    @property
    def region(self) -> str:
        """The secret's Region."""
        return self.arn.region

    @property
    def account(self) -> str:
        """The account that owns the secret."""
        return self.arn.account

    def check_region(self, region: str) -> None:
        """Refuse a secret outside ``region`` (cross-Region references are not supported)."""
        arn = self.arn
        if arn.partition != partition_of_region(region):
            raise ConfigurationError(
                f"secret {self.secret_id!r} is in partition {arn.partition!r} but the client is in "
                f"{region!r} ({partition_of_region(region)!r}); reference a secret in {region}"
            )
        if arn.region != region:
            raise ConfigurationError(
                f"secret {self.secret_id!r} is in {arn.region} but the credential provider and "
                f"client are in {region}: cross-Region references are not supported. Replicate "
                f"the secret to {region} (aws secretsmanager replicate-secret-to-regions) and "
                "reference the replica's ARN"
            )
