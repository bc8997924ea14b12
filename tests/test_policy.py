"""Tests of agentcore_auth._policy.evaluate_policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcore_auth._exceptions import ConfigurationError
from agentcore_auth._policy import PolicyDecision, evaluate_policy

SP = "bedrock-agentcore.amazonaws.com"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:weather-AbCdEf"
GET = "secretsmanager:GetSecretValue"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"Service": SP},
        "Action": GET,
        "Resource": "*",
        **extra,
    }


def judge(document: Any, action: str = GET, resource: str | None = ARN) -> PolicyDecision:
    return evaluate_policy(
        document,
        principal_service=SP,
        action=action,
        resource=resource,
    )


def test_no_policy_allows_nothing() -> None:
    """None (no policy at all) is an implicit deny."""
    assert judge(None) == PolicyDecision(allowed=False, explicit_deny=False)


def test_service_principal_allowed() -> None:
    """A statement naming the service principal and action allows it."""
    decision = judge(policy(allow(Sid="Grant")))
    assert decision.allowed and not decision.explicit_deny
    assert decision.matched_statements == ("Grant",)


def test_statement_as_single_object_and_json_text() -> None:
    """Statement may be one object, and the policy may be JSON text."""
    assert judge(json.dumps({"Statement": allow()})).allowed


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"Service": SP},
        {"Service": ["other.amazonaws.com", SP]},
        {"Service": SP.upper()},
    ],
)
def test_principal_forms_that_match(principal: object) -> None:
    """'*', {"AWS": "*"} and Service (string or list) match the service principal."""
    assert judge(policy(allow(Principal=principal))).allowed


@pytest.mark.parametrize(
    "principal",
    [
        {"Service": "lambda.amazonaws.com"},
        {"AWS": "arn:aws:iam::123456789012:root"},
        {"AWS": ["arn:aws:iam::123456789012:role/x"]},
    ],
)
def test_principal_forms_that_do_not_match(principal: object) -> None:
    """Other services and IAM principals do not grant the service principal anything."""
    assert not judge(policy(allow(Principal=principal))).allowed


def test_not_principal() -> None:
    """NotPrincipal applies to everyone but the principals it lists."""
    stmt = {"Effect": "Allow", "NotPrincipal": {"Service": "x.amazonaws.com"}, "Action": GET}
    assert judge(policy(stmt)).allowed
    stmt["NotPrincipal"] = {"Service": SP}
    assert not judge(policy(stmt)).allowed


@pytest.mark.parametrize(
    "action",
    [
        "secretsmanager:*",
        "secretsmanager:Get*",
        "*",
        "SecretsManager:getsecretvalue",
        ["kms:Decrypt", GET],
        "secretsmanager:GetSecret?alue",
    ],
)
def test_action_wildcards_and_case(action: object) -> None:
    """Action matches with * and ? wildcards, case-insensitively, as string or list."""
    assert judge(policy(allow(Action=action))).allowed


@pytest.mark.parametrize("action", ["secretsmanager:Describe*", "kms:*", "secretsmanager:Get"])
def test_actions_that_do_not_match(action: str) -> None:
    """Other actions and prefixes without a wildcard do not match."""
    assert not judge(policy(allow(Action=action))).allowed


def test_not_action() -> None:
    """NotAction applies to every action except those listed."""
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "NotAction": "kms:*"}
    assert judge(policy(stmt)).allowed
    stmt["NotAction"] = ["secretsmanager:Get*"]
    assert not judge(policy(stmt)).allowed


def test_resource_and_not_resource() -> None:
    """Resource and NotResource match ARNs with wildcards, case-sensitively."""
    assert judge(policy(allow(Resource="arn:aws:secretsmanager:*:*:secret:weather-*"))).allowed
    assert not judge(policy(allow(Resource="arn:aws:secretsmanager:*:*:secret:Weather-*"))).allowed
    no_resource = allow()
    del no_resource["Resource"]
    assert judge(policy({**no_resource, "NotResource": "arn:aws:kms:*"})).allowed
    assert not judge(policy({**no_resource, "NotResource": ARN})).allowed


def test_resource_ignored_when_none() -> None:
    """resource=None skips the Resource check."""
    assert judge(policy(allow(Resource="arn:aws:s3:::bucket")), resource=None).allowed


def test_deny_wins() -> None:
    """An explicit Deny wins over any Allow, and is reported."""
    deny = {
        "Sid": "NoAgents",
        "Effect": "Deny",
        "Principal": {"Service": SP},
        "Action": "secretsmanager:*",
        "Resource": "*",
    }
    decision = judge(policy(allow(Sid="Grant"), deny))
    assert not decision.allowed and decision.explicit_deny
    assert decision.matched_statements == ("NoAgents", "Grant")


def test_conditions_listed_not_ignored() -> None:
    """Conditions are assumed to hold and listed as unsupported."""
    cond = {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:bedrock-agentcore:*"},
    }
    decision = judge(policy(allow(Condition=cond)))
    assert decision.allowed
    assert decision.unsupported_conditions == (
        "StringEquals aws:SourceAccount",
        "ArnLike aws:SourceArn",
    )


def test_conditions_of_non_matching_statements_not_listed() -> None:
    """Only statements that applied contribute conditions."""
    stmt = allow(Action="kms:Decrypt", Condition={"Bool": {"aws:SecureTransport": "true"}})
    assert judge(policy(stmt)).unsupported_conditions == ()


def test_statement_index_when_no_sid() -> None:
    """Statements without a Sid are named by index."""
    assert judge(policy(allow(Action="kms:*"), allow())).matched_statements == ("#1",)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ({"Version": "2012-10-17"}, "no Statement"),
        ({"Statement": ["x"]}, r"Statement\[0\] is not an object"),
        (policy({"Effect": "Maybe", "Principal": "*", "Action": GET}), "Effect"),
        (policy({"Effect": "Allow", "Principal": "*"}), "neither Action nor NotAction"),
        (policy({"Effect": "Allow", "Principal": "*", "Action": 3}), "Action must be"),
        (policy({"Effect": "Allow", "Principal": 5, "Action": GET}), "Principal must be"),
        (policy(allow(Condition=[1])), "Condition must be an object"),
    ],
)
def test_malformed_policies_raise_configuration_error(document: object, fragment: str) -> None:
    """Unparsable or mis-shaped policies raise ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError, match=fragment):
        judge(document)


@given(st.text(alphabet="abcdefgGHIJ:*?", max_size=20), st.text(alphabet="abcGHI:", max_size=20))
def test_wildcard_star_alone_always_matches(pattern: str, action: str) -> None:
    """'*' matches any action; a pattern without wildcards matches only itself (ignoring case)."""
    assert judge(policy(allow(Action="*")), action=action or "x:y").allowed
    if "*" not in pattern and "?" not in pattern and pattern:
        matched = judge(policy(allow(Action=pattern)), action=action or "x:y").allowed
        assert matched == (pattern.lower() == (action or "x:y").lower())
