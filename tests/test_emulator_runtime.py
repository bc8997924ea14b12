"""LocalAgentCore's life cycle, workload tokens, protected API, counters and fault injection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import botocore.exceptions
import httpx
import pytest
from botocore.config import Config

from agentcore_auth.testing import LocalAgentCore

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture
def data(env: LocalAgentCore) -> Any:
    return env.client("bedrock-agentcore", config=NO_RETRIES)


def code_of(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_import_is_light() -> None:
    """Importing agentcore_auth.testing starts nothing and imports neither moto nor boto3."""
    code = ("import sys, threading, agentcore_auth.testing as t; "
            "assert 'moto' not in sys.modules and 'boto3' not in sys.modules, sys.modules; "
            "assert threading.active_count() == 1; assert 'LocalAgentCore' in dir(t)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,  # noqa: S603
                   cwd=os.path.dirname(os.path.dirname(__file__)))


def test_second_instance_starts_and_stops_cleanly(local_agentcore: LocalAgentCore) -> None:
    """A second instance starts on other ports, reports its start-up time, shares moto, stops."""
    with LocalAgentCore(region="us-east-1") as other:
        assert other.startup_seconds > 0
        assert other.endpoint_url != local_agentcore.endpoint_url
        assert other.endpoint_url.startswith("http://127.0.0.1:")
        arn = other.create_secret(other.unique_name("shared"), {"k": "v"})
        # moto's state is process-wide: both instances see the secret
        assert local_agentcore.client("secretsmanager").describe_secret(SecretId=arn)["ARN"] == arn
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{other.endpoint_url}/identities/GetWorkloadAccessToken", json={}, timeout=2)
    # the session instance still works (it was not reset while alive)
    assert local_agentcore.client("secretsmanager").describe_secret(SecretId=arn)["ARN"] == arn


def test_env_vars_drive_plain_boto3(env: LocalAgentCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """env_vars() points boto3 without endpoint_url at the emulator."""
    import boto3

    for name, value in env.env_vars().items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session()
    workload = env.create_workload()
    token = session.client("bedrock-agentcore").get_workload_access_token(workloadName=workload)
    assert token["workloadAccessToken"]
    assert session.client("sts").get_caller_identity()["Account"] == env.account_id
    assert env.env_vars()["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"] == env.endpoint_url


def test_client_rejects_unknown_service(env: LocalAgentCore) -> None:
    """client() only builds clients for emulated services."""
    with pytest.raises(ValueError, match="s3"):
        env.client("s3")


def test_workload_tokens_bind_workload_and_user(env: LocalAgentCore, data: Any) -> None:
    """Workload tokens are JWTs with exp, bound to the workload and (ForUserId) the user."""
    workload = env.create_workload()
    plain = data.get_workload_access_token(workloadName=workload)["workloadAccessToken"]
    for_user = data.get_workload_access_token_for_user_id(
        workloadName=workload, userId="alice")["workloadAccessToken"]
    claims = [json.loads(__import__("base64").urlsafe_b64decode(t.split(".")[1] + "=="))
              for t in (plain, for_user)]
    assert claims[0]["sub"] == workload and "user_id" not in claims[0]
    assert claims[1]["user_id"] == "alice" and claims[1]["exp"] > time.time()


def test_workload_token_errors(env: LocalAgentCore, data: Any) -> None:
    """Unknown workload 404, garbage token 401, token of a deleted workload 403."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token(workloadName="no-such-workload")
    assert code_of(info) == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_resource_api_key(workloadIdentityToken="not-a-token",
                                  resourceCredentialProviderName="x")
    assert code_of(info) == ("UnauthorizedException", 401)
    workload = env.create_workload()
    token = env.workload_token(workload)
    env.client("bedrock-agentcore-control").delete_workload_identity(name=workload)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_resource_api_key(workloadIdentityToken=token, resourceCredentialProviderName="x")
    assert code_of(info) == ("AccessDeniedException", 403)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        data.get_workload_access_token_for_jwt(workloadName=env.create_workload(),
                                               userToken="a.b.c")
    assert code_of(info) == ("UnauthorizedException", 401)


def test_unknown_operation_and_bad_json(env: LocalAgentCore) -> None:
    """Unemulated paths and non-JSON bodies get AWS-shaped errors."""
    response = httpx.post(f"{env.endpoint_url}/identities/nothing-here", json={})
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    response = httpx.post(f"{env.endpoint_url}/identities/GetWorkloadAccessToken",
                          content=b"{nope")
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert "message" in response.json()


def test_protected_api_follows_rotation(env: LocalAgentCore) -> None:
    """The key API accepts only the current value: 200/401 before and after rotation."""
    arn = env.create_secret(env.unique_name("api"), {"key": "old-key"})
    url = env.protected_api(arn, "key")
    before = env.call_count("ProtectedApi")
    assert httpx.get(url, headers={"x-api-key": "old-key"}).status_code == 200
    assert httpx.get(url, headers={"x-api-key": "wrong"}).status_code == 401
    assert httpx.get(url).status_code == 401
    env.rotate_secret(arn, {"key": "new-key"})
    assert httpx.get(url, headers={"x-api-key": "old-key"}).status_code == 401
    ok = httpx.get(url, headers={"x-api-key": "new-key"})
    assert ok.status_code == 200 and ok.json()["ok"] is True and "credential" not in ok.json()
    assert env.call_count("ProtectedApi") == before + 5


def test_protected_api_echo_status_and_header(env: LocalAgentCore) -> None:
    """?echo=1 echoes the credential, ?status= picks the status, header= is configurable."""
    arn = env.create_secret(env.unique_name("api"), {"token": "echo-me"},
                            account_id="210987654321")
    url = env.protected_api(arn, "token", header="X-Weather-Key")
    echoed = httpx.post(url + "/sub/path?echo=1", headers={"x-weather-key": "echo-me"})
    assert echoed.json()["credential"] == "echo-me"
    assert echoed.json()["path"].endswith("/sub/path")
    assert httpx.get(url + "?status=503", headers={"x-weather-key": "echo-me"}).status_code == 503
    assert httpx.get(env.protected_api(arn, "token") + "x").status_code == 404


def test_call_counts_and_reset(env: LocalAgentCore, data: Any) -> None:
    """call_count counts per operation; reset_counts zeroes everything."""
    workload = env.create_workload()
    env.reset_counts()
    for _ in range(3):
        data.get_workload_access_token(workloadName=workload)
    assert env.call_count("GetWorkloadAccessToken") == 3
    assert env.call_count("CreateWorkloadIdentity") == 0
    env.reset_counts()
    assert env.call_count("GetWorkloadAccessToken") == 0


@pytest.mark.parametrize(("error", "status"), [("ThrottlingException", 429),
                                               ("InternalServerException", 500),
                                               ("AccessDeniedException", 403)])
def test_injected_errors_reach_botocore(env: LocalAgentCore, data: Any, error: str,
                                        status: int) -> None:
    """inject_fault makes botocore raise ClientError with the code and HTTP status."""
    workload = env.create_workload()
    env.inject_fault("GetWorkloadAccessToken", error, count=1)
    try:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            data.get_workload_access_token(workloadName=workload)
        assert code_of(info) == (error, status)
        assert data.get_workload_access_token(workloadName=workload)["workloadAccessToken"]
    finally:
        env.clear_faults()


def test_fault_every_nth_and_seeded_rate(env: LocalAgentCore, data: Any) -> None:
    """every=N fails exactly every N-th call; a seeded rate is reproducible."""
    workload = env.create_workload()

    def outcomes(n: int) -> list[bool]:
        results = []
        for _ in range(n):
            try:
                data.get_workload_access_token(workloadName=workload)
                results.append(True)
            except botocore.exceptions.ClientError:
                results.append(False)
        return results

    try:
        env.inject_fault("GetWorkloadAccessToken", every=3)
        assert outcomes(6) == [True, True, False, True, True, False]
        env.inject_fault("GetWorkloadAccessToken", rate=0.5, seed=7)
        first = outcomes(10)
        env.inject_fault("GetWorkloadAccessToken", rate=0.5, seed=7)
        assert outcomes(10) == first and True in first and False in first
    finally:
        env.clear_faults("GetWorkloadAccessToken")


def test_fault_latency(env: LocalAgentCore, data: Any) -> None:
    """latency= delays the calls it fires on, without an error."""
    workload = env.create_workload()
    env.inject_fault("GetWorkloadAccessToken", None, latency=0.2, count=1)
    try:
        began = time.perf_counter()
        data.get_workload_access_token(workloadName=workload)
        assert time.perf_counter() - began >= 0.2
    finally:
        env.clear_faults()


def test_faults_on_oauth2_token_and_protected_api(env: LocalAgentCore) -> None:
    """The OAuth2 token endpoint and the protected API honour injected faults too."""
    arn = env.create_secret(env.unique_name("api"), {"key": "k"})
    url = env.protected_api(arn, "key")
    env.register_oauth_client("fault-client", "s")
    env.inject_fault("ProtectedApi", "InternalServerException", count=1)
    env.inject_fault("OAuth2Token", "ThrottlingException", count=1)
    try:
        assert httpx.get(url, headers={"x-api-key": "k"}).status_code == 500
        assert httpx.get(url, headers={"x-api-key": "k"}).status_code == 200
        form = {"grant_type": "client_credentials"}
        token_url = f"{env.oauth_issuer}/token"
        assert httpx.post(token_url, data=form, auth=("fault-client", "s")).status_code == 429
        assert httpx.post(token_url, data=form, auth=("fault-client", "s")).status_code == 200
    finally:
        env.clear_faults()
    with pytest.raises(ValueError, match="unknown error"):
        env.inject_fault("GetResourceApiKey", "NoSuchError")


def test_main_prints_endpoints_and_stops_on_ctrl_c() -> None:
    """python -m agentcore_auth.testing prints endpoints and env vars; SIGINT stops it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agentcore_auth.testing"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    lines = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or not line:
                break
        output = "".join(lines)
        assert "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE=http://127.0.0.1:" in output
        assert "--endpoint-url http://127.0.0.1:" in output
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
