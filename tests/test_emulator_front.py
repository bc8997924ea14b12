"""The AWS front of LocalAgentCore: routed operations, observers and forwarding to moto."""

from __future__ import annotations

import json
from collections.abc import Iterator

import botocore.exceptions
import pytest

from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._front import AwsRequest
from agentcore_auth.testing._server import Response


@pytest.fixture(scope="module")
def agentcore() -> Iterator[LocalAgentCore]:
    """An emulator of this module's own: the tests add routes and observers to its front."""
    with LocalAgentCore() as env:
        yield env


def test_unrouted_operations_reach_moto_through_the_front(agentcore: LocalAgentCore) -> None:
    """Secrets Manager and KMS calls through the front behave as moto's own."""
    sm = agentcore.client("secretsmanager")
    arn = sm.create_secret(Name=agentcore.unique_name("front"), SecretString='{"k": "v1"}')["ARN"]
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == {"k": "v1"}
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.get_secret_value(SecretId="does-not-exist")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert agentcore.client("kms").create_key()["KeyMetadata"]["KeyId"]


def test_a_routed_operation_is_served_by_its_handler(agentcore: LocalAgentCore) -> None:
    """route() takes one operation away from moto; the others still reach it."""
    seen: list[AwsRequest] = []

    def handler(request: AwsRequest) -> Response:
        seen.append(request)
        body = ("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::"
                f"{request.account_id}:user/front</Arn><UserId>AIDFRONT</UserId>"
                f"<Account>{request.account_id}</Account></GetCallerIdentityResult>"
                "</GetCallerIdentityResponse>")
        return Response(200, body.encode(), {"Content-Type": "text/xml"})

    agentcore.front.route("sts", "GetCallerIdentity", handler)
    sts = agentcore.client("sts", account_id="111122223333")
    assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::111122223333:user/front"
    assert [(r.service, r.operation, r.region, r.account_id) for r in seen] == [
        ("sts", "GetCallerIdentity", agentcore.region, "111122223333")]
    assert agentcore.client("sts").assume_role(  # not routed: moto answers
        RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="front")["Credentials"]


def test_observers_run_after_a_successful_answer_only(agentcore: LocalAgentCore) -> None:
    """observe() sees moto's 2xx answers of one operation, not its errors."""
    seen: list[tuple[str, int, str]] = []

    def observer(request: AwsRequest, status: int, body: bytes) -> None:
        seen.append((request.operation, status, json.loads(body).get("ARN", "")))

    agentcore.front.observe("secretsmanager", "PutSecretValue", observer)
    sm = agentcore.client("secretsmanager")
    arn = sm.create_secret(Name=agentcore.unique_name("obs"), SecretString="a")["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString="b")
    with pytest.raises(botocore.exceptions.ClientError):
        sm.put_secret_value(SecretId="missing", SecretString="c")
    assert seen == [("PutSecretValue", 200, arn)]


def test_env_vars_point_every_aws_service_at_the_front(agentcore: LocalAgentCore) -> None:
    """boto3's per-service endpoint variables all name the front's URL."""
    env = agentcore.env_vars()
    for variable in ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_KMS",
                     "AWS_ENDPOINT_URL_STS"):
        assert env[variable] == agentcore.aws_endpoint_url == agentcore.front.url
