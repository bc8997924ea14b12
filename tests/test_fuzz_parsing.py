"""Fuzzing of what parses untrusted text: ARNs, SecretRef, JSON-key extraction, policies, redaction.

Each property feeds generated (often hostile) input and allows only two outcomes:
a result, or one of the library's own exceptions (``ConfigurationError``,
``CredentialNotFoundError``). No other exception type, no hang (hypothesis'
deadline stays on for the parsers), and no secret value in a message or in
redacted text. Examples per test are kept small for the shared machine; raise
them with ``--hypothesis-seed`` / ``HYPOTHESIS_PROFILE`` locally when hunting.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcore_auth import (
    AgentCoreAuthError,
    ConfigurationError,
    CredentialNotFoundError,
    Redactor,
    SecretRef,
)
from agentcore_auth._arn import PARTITIONS, parse_arn, validate_provider_name
from agentcore_auth._policy import PolicyDecision, evaluate_policy
from agentcore_auth._redact import secret_patterns
from agentcore_auth.sources._secretsmanager import extract_json_key

SP = "bedrock-agentcore.amazonaws.com"
GET = "secretsmanager:GetSecretValue"
REF = SecretRef("arn:aws:secretsmanager:us-east-1:111122223333:secret:fuzz-AbCdEf", "k")
FAST = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# --- ARNs -----------------------------------------------------------------------------------

arn_chars = st.text(alphabet=string.ascii_letters + string.digits + ":-/_.*?@+= \t\n\x00é1",
                    max_size=80)
regions = st.sampled_from(
    ["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "", "US-EAST-1",
     "us-east", "eusc-de-east-1"]
)
accounts = st.sampled_from(["111122223333", "", "1234", "abcdefghijkl", "0000000000000",
                            "111122223333\n"])
services = st.sampled_from(["secretsmanager", "kms", "", "s3", "bedrock-agentcore"])
partitions = st.sampled_from([*PARTITIONS, "", "aws-xx", "AWS"])
names = st.text(alphabet=string.ascii_letters + string.digits + "/_+=.@-!# \n", max_size=30)
structured_arns = st.builds(
    lambda p, s, r, a, kind, n: f"arn:{p}:{s}:{r}:{a}:{kind}{n}",
    partitions, services, regions, accounts, st.sampled_from(["secret:", "key/", "", "secret"]),
    names,
)
any_arn = st.one_of(arn_chars, structured_arns, st.integers(), st.none(), st.binary(max_size=10))


@FAST
@given(any_arn)
def test_parse_arn_never_crashes_and_round_trips(text: Any) -> None:
    """parse_arn returns an Arn that prints back to its input, or raises ConfigurationError."""
    try:
        arn = parse_arn(text)
    except ConfigurationError as exc:
        assert str(exc)
        return
    assert str(arn) == text
    assert arn.partition in PARTITIONS and arn.service and arn.resource
    assert "\n" not in arn.region + arn.account  # `$` would let a trailing newline through


@FAST
@given(any_arn, st.one_of(st.text(max_size=140), st.integers(), st.none()))
def test_secret_ref_accepts_only_well_formed_secret_arns(text: Any, json_key: Any) -> None:
    """SecretRef holds a checked Secrets Manager ARN and key, or raises ConfigurationError."""
    try:
        ref = SecretRef(text, json_key)
    except ConfigurationError:
        return
    arn = ref.arn
    assert arn.service == "secretsmanager" and arn.resource.startswith("secret:")
    assert "\n" not in ref.secret_id
    assert arn.region and arn.account and 1 <= len(ref.json_key) <= 128
    for region in ("us-east-1", "eu-west-1", "cn-north-1"):
        try:
            ref.check_region(region)
        except ConfigurationError as exc:
            assert region in str(exc)
        else:
            assert region == ref.region


@FAST
@given(st.one_of(st.text(max_size=200), st.integers(), st.none(),
                st.lists(st.text(), max_size=2)))
def test_validate_provider_name(name: Any) -> None:
    """Provider names are 1..128 of [A-Za-z0-9_-]; anything else is a ConfigurationError."""
    ok = (isinstance(name, str) and 1 <= len(name) <= 128
          and all(c in string.ascii_letters + string.digits + "-_" for c in name))
    if ok:
        assert validate_provider_name(name) == name
    else:
        with pytest.raises(ConfigurationError, match="provider name"):
            validate_provider_name(name)


# --- JSON-key extraction ---------------------------------------------------------------------

CANARY = "CANARY-"
canaries = st.text(alphabet="0123456789abcdef", min_size=8, max_size=16).map(lambda s: CANARY + s)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        canaries, st.just(""))
json_docs = st.recursive(
    json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["k", "K", "k ", "other", "key"]),
                                            inner, max_size=4)),
    max_leaves=12,
)


def _secret_texts() -> Any:
    nested = st.integers(min_value=1, max_value=50_000).map(lambda n: "[" * n + "]" * n)
    deep = st.integers(min_value=1_000, max_value=50_000).map(lambda n: '{"k":' * n + "1" + "}" * n)
    return st.one_of(json_docs.map(json.dumps), st.text(max_size=60), nested, deep, st.none())


@FAST
@given(_secret_texts())
def test_extract_json_key_outcomes_and_no_value_in_errors(secret_string: str | None) -> None:
    """A string value, or ConfigurationError / CredentialNotFoundError naming no value."""
    try:
        value = extract_json_key(secret_string, REF, provider_name="p")
    except (ConfigurationError, CredentialNotFoundError) as exc:
        assert REF.secret_id in str(exc)
        assert CANARY not in str(exc), "a secret value leaked into the error"
        return
    document = json.loads(secret_string or "")
    assert isinstance(document, dict) and document["k"] == value and value


# --- policy evaluation ------------------------------------------------------------------------

wild = st.text(alphabet="ab*?:-", max_size=24)
str_or_list = st.one_of(wild, st.lists(wild, max_size=3), st.integers(), st.none())
principals = st.one_of(
    st.just("*"), st.just({"Service": SP}), st.just({"AWS": "*"}),
    st.dictionaries(st.sampled_from(["Service", "AWS", "Federated"]), str_or_list, max_size=2),
    st.integers(), st.text(max_size=5),
)
statements = st.fixed_dictionaries(
    {},
    optional={
        "Sid": st.one_of(st.text(max_size=5), st.integers()),
        "Effect": st.sampled_from(["Allow", "Deny", "allow", "", None]),
        "Principal": principals,
        "NotPrincipal": principals,
        "Action": str_or_list,
        "NotAction": str_or_list,
        "Resource": str_or_list,
        "NotResource": str_or_list,
        "Condition": st.one_of(
            st.dictionaries(st.text(max_size=8), st.one_of(st.dictionaries(
                st.text(max_size=8), st.text(max_size=8), max_size=2), st.integers()), max_size=2),
            st.integers(), st.text(max_size=4)),
    },
)
documents = st.one_of(
    st.builds(lambda s: {"Version": "2012-10-17", "Statement": s},
              st.one_of(st.lists(statements, max_size=4), statements, st.integers())),
    st.text(max_size=40), st.builds(json.dumps, st.lists(statements, max_size=2)),
    st.none(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.text(alphabet="ab*?:-", max_size=40), st.one_of(st.none(), wild))
def test_evaluate_policy_is_total_and_deny_wins(document: Any, action: str, resource: Any) -> None:
    """A decision or ConfigurationError, within the deadline; an explicit Deny always wins."""
    try:
        decision = evaluate_policy(document, principal_service=SP, action=action,
                                   resource=resource)
    except ConfigurationError:
        return
    assert isinstance(decision, PolicyDecision)
    if decision.explicit_deny:
        assert not decision.allowed
    assert decision.allowed == (bool(decision.matched_statements) and not decision.explicit_deny)


@settings(max_examples=50, deadline=2000)
@given(st.integers(min_value=5, max_value=60), st.integers(min_value=20, max_value=400))
def test_wildcard_patterns_are_linear(stars: int, length: int) -> None:
    """'*a*a*...*z' against 'aaa...' is answered at once (a regex would backtrack for hours)."""
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*a" * stars + "z",
                             "Resource": "*" * stars + "q"}]}
    decision = evaluate_policy(policy, principal_service=SP, action="a" * length,
                               resource="b" * length)
    assert not decision.allowed


# --- the redactor -----------------------------------------------------------------------------

values = st.text(alphabet=string.printable + "éü€\u2028", min_size=8, max_size=40).filter(
    lambda v: len(v.strip()) >= 8)
noise = st.text(alphabet=string.printable + "[]:é", max_size=30)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=3, unique=True), st.data(),
       st.sampled_from(["regex", "pyahocorasick", "ahocorasick-rs"]))
def test_no_registered_value_survives_redact(secrets_: list[str], data: st.DataObject,
                                             matcher: str) -> None:
    """Any encoding of any registered value, anywhere in any text, comes out redacted."""
    try:
        redactor = Redactor(matcher=matcher)
    except ConfigurationError:
        pytest.skip(f"{matcher} is not installed")
    for value in secrets_:
        assert redactor.register(value, name="fuzz")
    pieces = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        value = data.draw(st.sampled_from(secrets_))
        pattern = data.draw(st.sampled_from(sorted(secret_patterns(value))))
        pieces += [data.draw(noise), pattern]
    pieces.append(data.draw(noise))
    text = "".join(pieces)
    out = redactor.redact(text)
    data_out = redactor.redact_bytes(text.encode())
    for value in secrets_:
        assert value not in out
        assert value.encode() not in data_out


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.text(max_size=50), st.binary(max_size=50)), st.recursive(
    st.one_of(st.text(max_size=20), st.binary(max_size=10), st.integers(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3),
                            st.tuples(inner), st.frozensets(st.text(max_size=5), max_size=2)),
    max_leaves=10))
def test_redactor_total_on_any_input(text: Any, obj: Any) -> None:
    """redact/redact_bytes/redact_obj never raise on arbitrary text, bytes or containers."""
    redactor = Redactor(sensitive_keys=("token",))
    redactor.register("fuzz-secret-0001", name="x")
    if isinstance(text, str):
        assert isinstance(redactor.redact(text), str)
    else:
        assert isinstance(redactor.redact_bytes(text), bytes)
    redactor.redact_obj(obj)


def test_library_errors_share_the_base() -> None:
    """The outcomes the properties allow are all AgentCoreAuthError subclasses."""
    assert issubclass(ConfigurationError, AgentCoreAuthError)
    assert issubclass(CredentialNotFoundError, AgentCoreAuthError)
