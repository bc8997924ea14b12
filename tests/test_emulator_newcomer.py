"""The newcomer's path: default workload, exports that win over a hostile shell, --seed.

A developer's shell has an ``AWS_PROFILE`` naming a missing profile, a config file
with a bogus endpoint and Region, a credentials file with "real" keys and a session
token. None of it may break LocalAgentCore or reach it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver
from agentcore_auth.testing import DEFAULT_RETURN_URL, DEFAULT_WORKLOAD, LocalAgentCore
from agentcore_auth.testing._seed import DEMO_API_KEY

REAL_KEY_ID = "AKIAREALKEYDONOTUSE1"
REAL_SECRET = "real-secret-key-must-never-reach-the-emulator"
REAL_TOKEN = "real-session-token-must-never-reach-the-emulator"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The shell of a developer with a real AWS set-up (applied to os.environ too)."""
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9\n"
                      "[profile prod]\nregion = eu-central-1\n"
                      "credential_process = /bin/false\n")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {REAL_KEY_ID}\n"
                           f"aws_secret_access_key = {REAL_SECRET}\n")
    values = {"AWS_PROFILE": "sso-profile-that-does-not-exist",
              "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
              "AWS_ACCESS_KEY_ID": REAL_KEY_ID, "AWS_SECRET_ACCESS_KEY": REAL_SECRET,
              "AWS_SESSION_TOKEN": REAL_TOKEN, "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
              "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_REGION": "ap-south-1"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_default_workload_and_env_vars(local_agentcore: LocalAgentCore,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A default workload identity with a return URL; env_vars names it for the resolver."""
    env = local_agentcore
    assert env.workload_name == DEFAULT_WORKLOAD
    got = env.client("bedrock-agentcore-control").get_workload_identity(name=DEFAULT_WORKLOAD)
    assert got["allowedResourceOauth2ReturnUrls"] == [DEFAULT_RETURN_URL]
    assert got["workloadIdentityArn"] == (
        f"arn:aws:bedrock-agentcore:{env.region}:{env.account_id}:"
        f"workload-identity-directory/default/workload-identity/{DEFAULT_WORKLOAD}")
    variables = env.env_vars()
    assert variables["AGENTCORE_AUTH_WORKLOAD_NAME"] == DEFAULT_WORKLOAD
    name, _ = env.create_api_key_provider("sk-default-path-1")
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with CredentialResolver(AgentCoreIdentitySource()) as resolver:  # nothing but the exports
        assert resolver.get_api_key(name).reveal() == "sk-default-path-1"


def test_no_default_workload_when_asked() -> None:
    """workload_name=None: no workload identity, and no AGENTCORE_AUTH_WORKLOAD_NAME."""
    with LocalAgentCore(workload_name=None) as env:
        assert "AGENTCORE_AUTH_WORKLOAD_NAME" not in env.env_vars()
        listed = env.client("bedrock-agentcore-control").list_workload_identities()
        assert listed["workloadIdentities"] == []


def test_hostile_shell_neither_breaks_nor_reaches_the_emulator(
        hostile: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Own clients ignore the shell; with env_vars() applied, plain boto3 uses dummy keys."""
    with LocalAgentCore(workload_name=None) as env:  # starts although AWS_PROFILE is missing
        name, arn = env.create_api_key_provider("sk-hermetic-1")
        assert env.create_workload("hermetic")
        assert env.workload_token("hermetic")
        assert env.access_key_ids == {"testing"}
        # the exports win over everything the shell set
        for variable, value in env.env_vars().items():
            monkeypatch.setenv(variable, value)
        # a new shell's boto3: a default session made by an earlier test keeps the config
        # file it read then, and would not know the exported profile
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        assert boto3.session.Session().region_name == env.region
        control = boto3.client("bedrock-agentcore-control")
        assert control.get_api_key_credential_provider(name=name)["name"] == name
        sm = boto3.client("secretsmanager")
        assert sm.describe_secret(SecretId=arn)["ARN"] == arn
        with CredentialResolver(AgentCoreIdentitySource(workload_name="hermetic")) as resolver:
            assert resolver.get_api_key(name).reveal() == "sk-hermetic-1"
        assert env.access_key_ids == {"testing"}, "real credentials reached the emulator"


def test_region_of_exports_wins_over_config_file(local_agentcore: LocalAgentCore,
                                                 hostile: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS CLI's view: the exported profile, files and endpoints are the emulator's."""
    for key, value in local_agentcore.env_vars().items():
        monkeypatch.setenv(key, value)
    session = boto3.session.Session()
    assert session.profile_name == "agentcore-local"
    credentials = session.get_credentials()
    assert (credentials.access_key, credentials.token) == ("testing", None)
    sts = session.client("sts")
    assert sts.get_caller_identity()["Account"] == local_agentcore.account_id


@pytest.fixture
def emulator_process(hostile: dict[str, str]) -> Iterator[tuple[dict[str, str], str]]:
    """``agentcore-auth emulator --seed`` in a hostile shell: (its exports, its output)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agentcore_auth", "emulator", "--seed"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=dict(os.environ))
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or not line:
                break
        output = "".join(lines)
        exports = dict(re.findall(r"^  export (\w+)=(.*)$", output, re.MULTILINE))
        yield {k: v.strip("'") for k, v in exports.items()}, output
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def run_cli(exports: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentcore_auth", *argv], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, **exports},
                          check=False)


def test_cli_walkthrough_with_seed(emulator_process: tuple[dict[str, str], str]) -> None:
    """The README's walkthrough as written: the printed exports, then resolve and doctor."""
    exports, output = emulator_process
    assert exports["AGENTCORE_AUTH_WORKLOAD_NAME"] == DEFAULT_WORKLOAD
    assert "Seeded:" in output and "agentcore-auth resolve weather" in output
    assert DEMO_API_KEY not in output
    resolved = run_cli(exports, "resolve", "weather")
    assert resolved.returncode == 0, resolved.stderr
    assert "sha256:" in resolved.stdout
    m2m = run_cli(exports, "resolve", "local-idp", "--scopes", "read", "--auth-flow", "M2M")
    assert m2m.returncode == 0, m2m.stderr
    doctor = run_cli(exports, "doctor", "weather")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for result in (resolved, m2m, doctor):
        for value in (DEMO_API_KEY, REAL_SECRET, REAL_TOKEN):
            assert value not in result.stdout + result.stderr


def test_clients_of_another_region_see_nothing(local_agentcore: LocalAgentCore) -> None:
    """Providers and workloads live in their Region; another Region's clients see none."""
    env = local_agentcore
    name, _ = env.create_api_key_provider("sk-region-1")
    eu_control = env.client("bedrock-agentcore-control", region_name="eu-west-1")
    eu_data = env.client("bedrock-agentcore", region_name="eu-west-1")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        eu_control.get_api_key_credential_provider(name=name)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    listed = eu_control.list_api_key_credential_providers()["credentialProviders"]
    assert name not in [p["name"] for p in listed]
    with pytest.raises(botocore.exceptions.ClientError) as info:
        eu_data.get_workload_access_token(workloadName=DEFAULT_WORKLOAD)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # a us-east-1 workload token is not accepted in eu-west-1 either
    with pytest.raises(botocore.exceptions.ClientError) as info:
        eu_data.get_resource_api_key(workloadIdentityToken=env.workload_token(DEFAULT_WORKLOAD),
                                     resourceCredentialProviderName=name)
    assert info.value.response["Error"]["Code"] == "UnauthorizedException"

    # the same set-up made in eu-west-1 works there, with eu-west-1 ARNs
    sm = env.client("secretsmanager", region_name="eu-west-1")
    arn = sm.create_secret(Name=env.unique_name("eu"), SecretString='{"k": "sk-eu-1"}')["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
        '{"Service": "bedrock-agentcore.amazonaws.com"}, "Action": '
        '"secretsmanager:GetSecretValue", "Resource": "*"}]}'))
    created = eu_control.create_api_key_credential_provider(
        name=name, apiKeySecretSource="EXTERNAL", apiKeySecretConfig={"secretId": arn,
                                                                      "jsonKey": "k"})
    assert created["credentialProviderArn"] == (
        f"arn:aws:bedrock-agentcore:eu-west-1:{env.account_id}:token-vault/default/"
        f"apikeycredentialprovider/{name}")
    eu_control.create_workload_identity(name="eu-agent")
    token = eu_data.get_workload_access_token(workloadName="eu-agent")["workloadAccessToken"]
    key = eu_data.get_resource_api_key(workloadIdentityToken=token,
                                       resourceCredentialProviderName=name)["apiKey"]
    assert key == "sk-eu-1"
    # and a eu-west-1 provider referencing a us-east-1 secret is refused (cross-Region)
    us_arn = env.create_secret(env.unique_name("us"), {"k": "v"})
    with pytest.raises(botocore.exceptions.ClientError) as info:
        eu_control.create_api_key_credential_provider(
            name=env.unique_name("xr"), apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": us_arn, "jsonKey": "k"})
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_resolver_in_wrong_region_fails_locally(local_agentcore: LocalAgentCore) -> None:
    """A wrong-Region set-up fails here as it would on AWS, not only in production."""
    env = local_agentcore
    name, _ = env.create_api_key_provider("sk-wrong-region")
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore",
                                                       region_name="eu-west-1"),
                                     workload_name=DEFAULT_WORKLOAD)
    from agentcore_auth import AgentCoreAuthError

    with CredentialResolver(source) as resolver, pytest.raises(AgentCoreAuthError):
        resolver.get_api_key(name)
