"""RotationWatcher against the emulator: Secrets Manager's events drop cached values before a 401.

Each test makes its own SQS queue and an EventBridge rule targeting it with plain
boto3 (as a customer's infrastructure code would), the emulator puts every secret
write's CloudTrail-shaped event on the default bus, and a watcher drops the
resolver's values. Downstream 401s are counted by the tool's attempts, upstream
calls by the emulator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    ConfigurationError,
    CredentialResolver,
    RotationWatcher,
    SecretsManagerSource,
    requires_api_key,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.testing import LocalAgentCore, LocalRedis
from agentcore_auth.testing._fleet import Fleet
from agentcore_auth.testing._redis import redis_server_binary

PATTERN = {"source": ["aws.secretsmanager"],
           "detail-type": ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"]}


@pytest.fixture(scope="module")
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


class Queue:
    """A queue with a rule routing Secrets Manager's events to it."""

    def __init__(self, env: LocalAgentCore) -> None:
        self.env = env
        self.sqs = env.client("sqs")
        self.events = env.client("events")
        self.name = env.unique_name("rotations")
        self.url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name=self.name, EventPattern=json.dumps(PATTERN))
        self.events.put_targets(Rule=self.name, Targets=[{"Id": "queue", "Arn": self.arn}])

    def close(self) -> None:
        self.events.remove_targets(Rule=self.name, Ids=["queue"])
        self.events.delete_rule(Name=self.name)
        try:
            self.sqs.delete_queue(QueueUrl=self.url)
        except Exception:  # noqa: BLE001 - a test deleted it already
            return

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def bodies(self) -> list[str]:
        """Every message now in the queue (received, then made visible again)."""
        out = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        for message in out:
            self.sqs.change_message_visibility(QueueUrl=self.url, VisibilityTimeout=0,
                                               ReceiptHandle=message["ReceiptHandle"])
        return [m["Body"] for m in out]


@pytest.fixture
def queue(env: LocalAgentCore) -> Iterator[Queue]:
    made = Queue(env)
    yield made
    made.close()


@pytest.fixture
def resolver(env: LocalAgentCore) -> Iterator[CredentialResolver]:
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                     workload_name=env.workload_name)
    with CredentialResolver(source, ttl=300) as made:
        yield made


def watcher_for(env: LocalAgentCore, resolver: Any, queue: Queue, **kwargs: Any
                ) -> RotationWatcher:
    kwargs.setdefault("wait_time_seconds", 1)
    return RotationWatcher(resolver, queue_url=queue.url, sqs_client=env.client("sqs"),
                           control_client=env.client("bedrock-agentcore-control"), **kwargs)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def rotate_with_boto3(env: LocalAgentCore, arn: str, value: str) -> None:
    """PutSecretValue as a customer's script does: boto3 configured by the environment."""
    environ = env.env_vars()
    client = boto3.session.Session(region_name=env.region).client(
        "secretsmanager", endpoint_url=environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
        aws_access_key_id="testing", aws_secret_access_key="testing")
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({"api_key": value}))


def tool_for(name: str, url: str, resolver: CredentialResolver) -> Callable[[list[int]], int]:
    @requires_api_key(provider_name=name, resolver=resolver)
    def call(attempts: list[int], *, api_key: str) -> int:
        attempts.append(1)
        return httpx.get(url, headers={"x-api-key": api_key}).raise_for_status().status_code

    return call  # type: ignore[return-value]


def atool_for(name: str, url: str, resolver: CredentialResolver) -> Any:
    @requires_api_key(provider_name=name, resolver=resolver)
    async def call(attempts: list[int], *, api_key: str) -> int:
        attempts.append(1)
        async with httpx.AsyncClient() as client:
            response = await client.get(url, headers={"x-api-key": api_key})
        return response.raise_for_status().status_code

    return call


# --- the emulator's events -------------------------------------------------------------------


def test_every_secret_write_reaches_the_queue_without_its_value(
    env: LocalAgentCore, queue: Queue
) -> None:
    """PutSecretValue, UpdateSecret, RotateSecret, UpdateSecretVersionStage and rotate_secret."""
    arn = env.create_secret(env.unique_name("events"), {"api_key": "first-value-0123456789"})
    env.rotate_secret(arn, {"api_key": "helper-value-0123456789"})
    sm = env.client("secretsmanager")
    sm.put_secret_value(SecretId=arn, SecretString='{"api_key": "boto3-value-0123456789"}')
    sm.update_secret(SecretId=arn, SecretString='{"api_key": "update-value-0123456789"}')
    sm.rotate_secret(SecretId=arn)
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
    previous = next(v for v, s in stages.items() if "AWSPREVIOUS" in s)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                   MoveToVersionId=previous, RemoveFromVersionId=current)
    bodies: list[str] = []
    deadline = time.monotonic() + 10
    while len(bodies) < 6 and time.monotonic() < deadline:
        for message in queue.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=1).get("Messages", []):
            bodies.append(message["Body"])
            queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    events = [json.loads(b) for b in bodies]
    names = sorted(e["detail"]["eventName"] for e in events)
    assert names == ["PutSecretValue", "PutSecretValue", "RotateSecret", "RotationSucceeded",
                     "UpdateSecret", "UpdateSecretVersionStage"]
    for event in events:
        assert event["source"] == "aws.secretsmanager"
        assert event["account"] == env.account_id and event["region"] == env.region
        detail = event["detail"]
        assert detail["eventSource"] == "secretsmanager.amazonaws.com"
        assert detail["recipientAccountId"] == env.account_id
        if detail["eventName"] == "RotationSucceeded":
            assert event["detail-type"] == "AWS Service Event via CloudTrail"
            assert detail["additionalEventData"]["SecretId"] == arn
        else:
            assert event["detail-type"] == "AWS API Call via CloudTrail"
            assert detail["responseElements"]["arn"] == arn
            assert detail["requestParameters"]["secretId"] == arn
    text = "\n".join(bodies)
    for value in ("first-value-0123456789", "helper-value-0123456789", "boto3-value-0123456789",
                  "update-value-0123456789"):
        assert not any(p in text for p in secret_patterns(value))


def test_sqs_and_events_endpoints_are_in_env_vars(env: LocalAgentCore) -> None:
    environ = env.env_vars()
    assert environ["AWS_ENDPOINT_URL_SQS"] == env.aws_endpoint_url
    assert environ["AWS_ENDPOINT_URL_EVENTBRIDGE"] == env.aws_endpoint_url


# --- drops before the next call --------------------------------------------------------------


@pytest.mark.parametrize("rotate", ["helper", "boto3"])
def test_next_call_uses_the_new_value_with_no_401(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver, rotate: str
) -> None:
    name, arn = env.create_api_key_provider("watch-old-0123456789")
    tool = tool_for(name, env.protected_api(arn, "api_key"), resolver)
    with watcher_for(env, resolver, queue) as watcher:
        assert tool([]) == 200
        before = env.call_count("GetResourceApiKey")
        if rotate == "helper":
            env.rotate_secret(arn, {"api_key": "watch-new-0123456789"})
        else:
            rotate_with_boto3(env, arn, "watch-new-0123456789")
        eventually(lambda: watcher.stats.providers_dropped == 1)
        attempts: list[int] = []
        assert tool(attempts) == 200
        assert attempts == [1]  # no downstream 401
        assert env.call_count("GetResourceApiKey") - before == 1
        assert resolver.get_api_key(name).reveal() == "watch-new-0123456789"
        eventually(lambda: queue.depth() == 0)  # handled, then deleted
    assert watcher.stats.deleted >= 1 and watcher.stats.discarded == 0


def test_async_watcher_and_async_tool(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver
) -> None:
    name, arn = env.create_api_key_provider("awatch-old-0123456789")
    tool = atool_for(name, env.protected_api(arn, "api_key"), resolver)

    async def main() -> tuple[list[int], int]:
        async with watcher_for(env, resolver, queue) as watcher:
            await tool([])
            before = env.call_count("GetResourceApiKey")
            env.rotate_secret(arn, {"api_key": "awatch-new-0123456789"})
            while watcher.stats.providers_dropped == 0:  # noqa: ASYNC110 - a thread's counter
                await asyncio.sleep(0.02)
            attempts: list[int] = []
            await tool(attempts)
            calls = env.call_count("GetResourceApiKey") - before
        assert not watcher.running
        return attempts, calls

    attempts, calls = asyncio.run(main())
    assert attempts == [1] and calls == 1


def test_astop_never_blocks_the_loop(env: LocalAgentCore, queue: Queue,
                                     resolver: CredentialResolver) -> None:
    """While astop waits for a long poll under way, other tasks keep running."""

    async def main() -> int:
        watcher = await watcher_for(env, resolver, queue, wait_time_seconds=2,
                                    stop_timeout=5).astart()
        await asyncio.sleep(0.5)  # inside a long poll now
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(ticker())
        await watcher.astop()
        beat.cancel()
        assert not watcher.running
        return ticks

    assert asyncio.run(main()) >= 5


def test_without_a_watcher_the_401_refetch_path_stays(
    env: LocalAgentCore, resolver: CredentialResolver
) -> None:
    """The control: no watcher, one 401 and one refetch per rotation, as before."""
    name, arn = env.create_api_key_provider("nowatch-old-0123456789")
    tool = tool_for(name, env.protected_api(arn, "api_key"), resolver)
    assert tool([]) == 200
    before = env.call_count("GetResourceApiKey")
    env.rotate_secret(arn, {"api_key": "nowatch-new-0123456789"})
    attempts: list[int] = []
    assert tool(attempts) == 200
    assert attempts == [1, 1]  # met a 401, refetched, retried
    assert env.call_count("GetResourceApiKey") - before == 1


def test_every_user_and_every_provider_of_the_secret_is_dropped(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver
) -> None:
    """Two providers reference one secret; an OAuth2 provider's client secret rotates too."""
    name, arn = env.create_api_key_provider("shared-old-0123456789")
    twin = env.unique_name("twin")
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=twin, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "api_key"})
    oauth, client_id, cs_arn = env.create_oauth2_provider()
    resolver.get_api_key(name)
    resolver.get_api_key(twin)
    resolver.get_oauth2_token(oauth, scopes=["api"])
    with watcher_for(env, resolver, queue) as watcher:
        env.rotate_secret(arn, {"api_key": "shared-new-0123456789"})
        env.rotate_oauth2_client(client_id, cs_arn, "cs-rotated-0123456789abcdef")
        eventually(lambda: watcher.stats.providers_dropped == 3)
        assert watcher.stats.entries_dropped == 3
    assert resolver.get_api_key(twin).reveal() == "shared-new-0123456789"


def test_a_provider_created_after_start_is_found_by_a_refresh(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver
) -> None:
    with watcher_for(env, resolver, queue, map_min_interval=0) as watcher:
        eventually(lambda: watcher.stats.map_refreshes == 1)
        name, arn = env.create_api_key_provider("late-old-0123456789")
        resolver.get_api_key(name)
        env.rotate_secret(arn, {"api_key": "late-new-0123456789"})
        eventually(lambda: watcher.stats.providers_dropped == 1)
        assert watcher.stats.map_refreshes == 2
    assert resolver.get_api_key(name).reveal() == "late-new-0123456789"


def test_secrets_manager_source_maps_by_its_own_refs(env: LocalAgentCore, queue: Queue) -> None:
    arn = env.create_secret(env.unique_name("direct"), {"key": "direct-old-0123456789"})
    source = SecretsManagerSource({"direct": (arn, "key")}, client=env.client("secretsmanager"))
    with CredentialResolver(source, ttl=300) as resolver:
        resolver.get_api_key("direct")
        watcher = RotationWatcher(resolver, queue_url=queue.url, sqs_client=env.client("sqs"),
                                  wait_time_seconds=1)
        with watcher:
            env.rotate_secret(arn, {"key": "direct-new-0123456789"})
            eventually(lambda: watcher.stats.providers_dropped == 1)
        assert resolver.get_api_key("direct").reveal() == "direct-new-0123456789"


# --- what it refuses -----------------------------------------------------------------------


def test_an_unrelated_secret_drops_nothing(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, arn = env.create_api_key_provider("related-0123456789")
    other = env.create_secret(env.unique_name("unrelated"), {"api_key": "unrelated-0123456789"})
    resolver.get_api_key(name)
    caplog.set_level(logging.INFO, logger="agentcore_auth")
    with watcher_for(env, resolver, queue, map_min_interval=0) as watcher:
        before = env.call_count("GetResourceApiKey")
        env.rotate_secret(other, {"api_key": "unrelated-new-0123456789"})
        eventually(lambda: watcher.stats.discarded == 1)
        eventually(lambda: queue.depth() == 0)
        assert watcher.stats.providers_dropped == 0
        assert resolver.stats.invalidations == 0
        resolver.get_api_key(name)
        assert env.call_count("GetResourceApiKey") == before  # still a hit
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no credential provider references" in r.getMessage() for r in warnings)
    assert not any(other in r.getMessage() for r in caplog.records)  # named by a hash only


CANARY = "canary-0123456789abcdef"


def malformed_and_foreign(env: LocalAgentCore, arn: str) -> list[str]:
    def event(**changes: Any) -> str:
        detail = {"eventSource": "secretsmanager.amazonaws.com", "eventName": "PutSecretValue",
                  "recipientAccountId": env.account_id, "awsRegion": env.region,
                  "requestParameters": {"secretId": arn, "note": CANARY},
                  "responseElements": {"arn": arn}}
        body: dict[str, Any] = {"version": "0", "source": "aws.secretsmanager",
                                "detail-type": "AWS API Call via CloudTrail",
                                "account": env.account_id, "region": env.region,
                                "resources": [], "detail": detail}
        for key, value in changes.items():
            target = detail if key in detail else body
            target[key] = value
        return json.dumps(body)

    return [
        f"not json {CANARY}",
        json.dumps([CANARY]),
        json.dumps({"source": "aws.s3", "detail-type": CANARY}),
        event(detail={"eventSource": CANARY}),
        event(account="999999999999", recipientAccountId="999999999999"),  # foreign account
        event(responseElements={"arn": arn.replace(env.account_id, "999999999999")},
              requestParameters={"secretId": CANARY}),  # another account's secret
        event(responseElements=None, requestParameters={"secretId": "bad id with spaces"}),
        event(region="eu-west-1", awsRegion="eu-west-1"),
        "{" * 100_000,
    ]


def test_malformed_and_foreign_messages_are_discarded(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, arn = env.create_api_key_provider("guarded-0123456789")
    resolver.get_api_key(name)
    bodies = malformed_and_foreign(env, arn)
    for body in bodies:
        queue.sqs.send_message(QueueUrl=queue.url, MessageBody=body)
    caplog.set_level(logging.DEBUG, logger="agentcore_auth")
    with watcher_for(env, resolver, queue, map_min_interval=0) as watcher:
        eventually(lambda: watcher.stats.discarded == len(bodies))
        eventually(lambda: queue.depth() == 0)
        assert watcher.stats.providers_dropped == 0 and watcher.stats.changes == 0
    assert resolver.stats.invalidations == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert text.count("dropped nothing") == len(bodies)
    assert CANARY not in text and "999999999999" not in text


def test_a_control_event_of_the_same_shape_is_accepted(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver
) -> None:
    """The control of the test above: the same hand-made message, unaltered, drops."""
    name, arn = env.create_api_key_provider("guarded-ok-0123456789")
    resolver.get_api_key(name)
    body = json.loads(malformed_and_foreign(env, arn)[4])
    body["account"] = body["detail"]["recipientAccountId"] = env.account_id
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body))
    with watcher_for(env, resolver, queue) as watcher:
        eventually(lambda: watcher.stats.providers_dropped == 1)
    assert watcher.stats.discarded == 0


def test_pending_stage_writes_and_failed_calls_drop_nothing(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver
) -> None:
    """A rotation's AWSPENDING step leaves AWSCURRENT where it was."""
    name, arn = env.create_api_key_provider("pending-0123456789")
    resolver.get_api_key(name)
    env.client("secretsmanager").put_secret_value(
        SecretId=arn, SecretString='{"api_key": "pending-new-0123456789"}',
        VersionStages=["AWSPENDING"])
    with watcher_for(env, resolver, queue) as watcher:
        eventually(lambda: watcher.stats.discarded == 1)
        assert watcher.stats.providers_dropped == 0
    assert resolver.stats.invalidations == 0


# --- its own failures, and stopping ------------------------------------------------------------


def test_a_missing_queue_never_affects_calls_and_the_watcher_recovers(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, arn = env.create_api_key_provider("outage-old-0123456789")
    tool = tool_for(name, env.protected_api(arn, "api_key"), resolver)
    queue.sqs.delete_queue(QueueUrl=queue.url)
    caplog.set_level(logging.INFO, logger="agentcore_auth.rotation")
    with watcher_for(env, resolver, queue, max_backoff=0.2) as watcher:
        eventually(lambda: watcher.stats.receive_errors >= 2)
        assert not watcher.healthy and watcher.running
        assert tool([]) == 200
        env.rotate_secret(arn, {"api_key": "outage-new-0123456789"})
        attempts: list[int] = []
        assert tool(attempts) == 200 and attempts == [1, 1]  # the 401 path, as without it
        queue.sqs.create_queue(QueueName=queue.name)  # the queue is back (same URL)
        env.rotate_secret(arn, {"api_key": "outage-newer-0123456789"})
        eventually(lambda: watcher.stats.providers_dropped == 1)
        assert watcher.healthy
        attempts = []
        assert tool(attempts) == 200 and attempts == [1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "tool calls are unaffected" in warnings[0]
    assert any("recovered" in r.getMessage() for r in caplog.records)


def test_throttled_polls_back_off(env: LocalAgentCore, queue: Queue,
                                  resolver: CredentialResolver) -> None:
    """ReceiveMessage throttled at the front: a handful of attempts, not a busy loop."""
    from agentcore_auth.testing._server import Response

    def throttled(_: Any) -> Response:
        return Response.json({"__type": "com.amazonaws.sqs#ThrottlingException",
                              "message": "Rate exceeded"}, status=400)

    env.front.route("sqs", "ReceiveMessage", throttled)
    try:
        from botocore.config import Config

        sqs = env.client("sqs", config=Config(retries={"max_attempts": 1}))
        with RotationWatcher(resolver, queue_url=queue.url, sqs_client=sqs, wait_time_seconds=1,
                             control_client=env.client("bedrock-agentcore-control"),
                             max_backoff=0.4) as watcher:
            eventually(lambda: watcher.stats.receive_errors >= 3)
            first = watcher.stats.receive_errors
            time.sleep(1.0)
            errors = watcher.stats.receive_errors - first
            assert watcher.running and not watcher.healthy
    finally:
        env.front.route("sqs", "ReceiveMessage", lambda request: env.front._forward(request.http))
    assert errors <= 6  # waits of 0.2 to 0.4 s between attempts, not a busy loop


def test_the_watcher_stops_cleanly(env: LocalAgentCore, queue: Queue,
                                   resolver: CredentialResolver,
                                   caplog: pytest.LogCaptureFixture) -> None:
    name, arn = env.create_api_key_provider("stopped-0123456789")
    resolver.get_api_key(name)
    caplog.set_level(logging.DEBUG, logger="agentcore_auth")
    watcher = watcher_for(env, resolver, queue).start()
    eventually(lambda: watcher.stats.map_refreshes == 1)
    watcher.stop()
    assert not watcher.running
    env.rotate_secret(arn, {"api_key": "stopped-new-0123456789"})
    time.sleep(1.2)
    assert queue.depth() == 1  # left for the next consumer
    assert watcher.stats.providers_dropped == 0 and resolver.stats.invalidations == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    watcher.start()  # and it starts again
    eventually(lambda: watcher.stats.providers_dropped == 1)
    watcher.stop()


def test_poll_once_handles_one_batch_on_the_caller_thread(
    env: LocalAgentCore, queue: Queue, resolver: CredentialResolver
) -> None:
    name, arn = env.create_api_key_provider("once-0123456789")
    resolver.get_api_key(name)
    env.rotate_secret(arn, {"api_key": "once-new-0123456789"})
    watcher = watcher_for(env, resolver, queue)
    eventually(lambda: watcher.poll_once() == 1)
    assert watcher.stats.providers_dropped == 1 and not watcher.running


def test_bad_arguments_are_configuration_errors(resolver: CredentialResolver) -> None:
    with pytest.raises(ConfigurationError, match="queue_url"):
        RotationWatcher(resolver, queue_url="rotations")
    with pytest.raises(ConfigurationError, match="CredentialResolver"):
        RotationWatcher(object(), queue_url="https://sqs.us-east-1.amazonaws.com/1/q")
    with pytest.raises(ConfigurationError, match="wait_time_seconds"):
        RotationWatcher(resolver, queue_url="https://sqs.us-east-1.amazonaws.com/1/q",
                        wait_time_seconds=30)


# --- fleet: one watcher drops a provider in every process -----------------------------------


@pytest.mark.skipif(redis_server_binary() is None, reason="needs redis-server")
@pytest.mark.parametrize("watching", [True, False], ids=["one watcher", "no watcher"])
def test_fleet_of_three_one_watcher_no_401_anywhere_and_one_upstream_call(
    env: LocalAgentCore, queue: Queue, watching: bool, patient: dict[str, float],
) -> None:
    """3 processes share a tier, process 0 runs the watcher: after a rotation every process
    calls with the new value, 0 downstream 401s, 1 upstream call for the fleet. The control
    (no watcher) meets a 401 in the fleet, as today."""
    name, arn = env.create_api_key_provider("fleet-watch-old-0123456789")
    url = env.protected_api(arn, "api_key")
    workload = env.create_workload()
    with LocalRedis() as server, Fleet(3, env.env_vars()) as procs:
        procs.all("setup", **patient, workload=workload, redis_url=server.url,
                  data_key=os.urandom(32).hex(), prefix=f"w{os.urandom(3).hex()}:", ttl=300)
        first = procs.all("call", provider=name, url=url, n=1)
        assert all(a["met_401"] == 0 and a["statuses"] == {"200": 1} for a in first)
        if watching:
            procs.all("watch", [0], queue_url=queue.url, wait=1)
        before = env.call_count("GetResourceApiKey")
        env.rotate_secret(arn, {"api_key": "fleet-watch-new-0123456789"})
        if watching:
            deadline = time.monotonic() + 15
            while not all(s["shared"]["provider_drops_received"] >= 1
                          for s in procs.all("stats", [1, 2])):
                assert time.monotonic() < deadline, "the drop did not reach every process"
                time.sleep(0.05)
        # one after another: a process that refetched first fills the tier for the others
        after = [procs.all("call", [i], provider=name, url=url, n=1)[0] for i in range(3)]
        upstream = env.call_count("GetResourceApiKey") - before
        new = {a["changes"][-1][1] for a in after}
        assert len(new) == 1 and new != {first[0]["changes"][-1][1]}
        assert all(a["statuses"] == {"200": 1} for a in after)
        if watching:
            assert [a["met_401"] for a in after] == [0, 0, 0]
            assert upstream == 1
            assert procs.all("stats", [0])[0]["shared"]["provider_drops_sent"] == 1
        else:
            assert sum(a["met_401"] for a in after) >= 1
        logs = "".join(procs.log(i) for i in range(3))
    for value in ("fleet-watch-old-0123456789", "fleet-watch-new-0123456789"):
        assert not any(p in logs for p in secret_patterns(value))
