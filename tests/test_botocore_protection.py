"""Every boto3 client in the process, ours or the application's, at botocore DEBUG (issue #20).

Real boto3 clients against the emulator (moto's server for Secrets Manager and
STS, LocalAgentCore for AgentCore Identity), real loggers and a handler added
after installation. Values are fresh per test and never registered by the test:
only the service model's ``sensitive`` trait can get them masked.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator

import boto3
import pytest

from agentcore_auth._doctor import diagnose
from agentcore_auth._logging import install_log_redaction
from agentcore_auth._redact import default_redactor, secret_patterns
from agentcore_auth.testing import LocalAgentCore

BOTOCORE = ["botocore", "botocore.endpoint", "botocore.parsers", "botocore.auth", "urllib3"]


def fresh(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def leaks(text: str, *values: str) -> list[str]:
    return [p for v in values for p in secret_patterns(v) if p in text]


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """botocore at DEBUG into a handler added after log redaction was installed."""
    install_log_redaction(default_redactor())
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in BOTOCORE}
    for name in BOTOCORE:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield out
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


def app_client(env: LocalAgentCore, service: str) -> object:
    """A client the application builds itself, with plain boto3 (nothing of ours on it)."""
    url = env.endpoint_url if service.startswith("bedrock-agentcore") else env.aws_endpoint_url
    return boto3.session.Session().client(
        service, region_name=env.region, endpoint_url=url,
        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_application_writes_a_secret_at_debug(env: LocalAgentCore,
                                              debug_log: io.StringIO) -> None:
    """CreateSecret / PutSecretValue / GetSecretValue of values the library never saw."""
    sm = app_client(env, "secretsmanager")
    key, password, rotated = fresh("sk-app"), fresh("pw-db"), fresh("sk-rotated")
    binary = fresh("bin-blob").encode()
    name = env.unique_name("app")
    sm.create_secret(Name=name,  # type: ignore[attr-defined]
                     SecretString=json.dumps({"api_key": key, "db_password": password}))
    sm.put_secret_value(SecretId=name, SecretString=rotated)  # type: ignore[attr-defined]
    other = env.unique_name("bin")
    sm.create_secret(Name=other, SecretBinary=binary)  # type: ignore[attr-defined]
    got = sm.get_secret_value(SecretId=other)  # type: ignore[attr-defined]
    assert got["SecretBinary"] == binary
    text = debug_log.getvalue()
    assert "CreateSecret" in text and "PutSecretValue" in text and "Response body" in text
    assert not leaks(text, key, password, rotated, binary.decode()), text
    assert base64.b64encode(binary).decode() not in text
    assert "[REDACTED:aws:CreateSecret]" in text
    for value in (key, password, rotated):
        assert value in default_redactor()  # registered when seen


def test_existing_client_and_response_side(env: LocalAgentCore) -> None:
    """A client created before installation; a value first seen in a response."""
    sm = app_client(env, "secretsmanager")
    name = env.unique_name("pre")
    value = fresh("sk-seeded")
    env.create_secret(name, {"key": value})  # written through the emulator, not logged here
    default_redactor().unregister(value)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logging.getLogger("botocore").addHandler(handler)
    level = logging.getLogger("botocore").level
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    try:
        install_log_redaction(default_redactor())
        assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["key"] == value  # type: ignore[attr-defined]
    finally:
        logging.getLogger("botocore").removeHandler(handler)
        logging.getLogger("botocore").setLevel(level)
    text = out.getvalue()
    assert "Response body" in text
    assert not leaks(text, value), text


def test_query_protocol_response(env: LocalAgentCore, debug_log: io.StringIO) -> None:
    """STS (XML): the SecretAccessKey of AssumeRole is sensitive in the model."""
    sts = app_client(env, "sts")
    creds = sts.assume_role(  # type: ignore[attr-defined]
        RoleArn=f"arn:aws:iam::{env.account_id}:role/app", RoleSessionName="i20")["Credentials"]
    text = debug_log.getvalue()
    assert "AssumeRoleResponse" in text
    assert not leaks(text, creds["SecretAccessKey"]), text
    assert creds["SecretAccessKey"] in default_redactor()


def test_agentcore_control_request(env: LocalAgentCore, debug_log: io.StringIO) -> None:
    """CreateApiKeyCredentialProvider(apiKey=...): a request member marked sensitive."""
    control = app_client(env, "bedrock-agentcore-control")
    key = fresh("sk-provider")
    try:
        control.create_api_key_credential_provider(  # type: ignore[attr-defined]
            name=env.unique_name("inline"), apiKey=key)
    except Exception:  # noqa: S110 - the emulator may refuse inline keys; the log is the point
        pass
    text = debug_log.getvalue()
    assert "CreateApiKeyCredentialProvider" in text
    assert not leaks(text, key), text


def test_doctor_in_process_at_debug(env: LocalAgentCore, debug_log: io.StringIO,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor's own clients, health-check style: the whole SecretString, siblings too."""
    for variable, setting in env.env_vars().items():
        monkeypatch.setenv(variable, setting)
    key, sibling = fresh("sk-doctor"), fresh("sibling-password")
    arn = env.create_secret(env.unique_name("doc"), {"key": key, "db_password": sibling})
    for value in (key, sibling):
        default_redactor().unregister(value)
    name = env.unique_name("doc")
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=name, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    debug_log.truncate(0)
    report = diagnose(name, region=env.region)
    assert any(c.name == "value" and c.status == "pass" for c in report.checks), report.checks
    text = debug_log.getvalue()
    assert "GetSecretValue" in text
    assert not leaks(text, key, sibling), text
