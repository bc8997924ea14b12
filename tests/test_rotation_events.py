"""Reading Secrets Manager's events off SQS messages (pure: no emulator)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentcore_auth._rotation_events import Discarded, parse_message, secret_key
from agentcore_auth._rotation_map import ProviderMap, Reference

ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:weather-AbCdEf"


def event(name: str = "PutSecretValue", **detail: Any) -> dict[str, Any]:
    body = {"version": "0", "source": "aws.secretsmanager", "account": "111122223333",
            "region": "us-east-1", "resources": [],
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventSource": "secretsmanager.amazonaws.com", "eventName": name,
                       "requestParameters": {"secretId": "weather"},
                       "responseElements": {"arn": ARN}, **detail}}
    return body


def test_an_api_call_names_its_secret_by_the_response_arn() -> None:
    change = parse_message(json.dumps(event()))
    assert (change.event_name, change.secret_id, change.account) == (
        "PutSecretValue", ARN, "111122223333")


def test_older_events_spell_it_aRN() -> None:  # noqa: N802
    assert parse_message(json.dumps(event(responseElements={"aRN": ARN}))).secret_id == ARN


def test_rotation_succeeded_names_it_in_additional_event_data() -> None:
    body = event("RotationSucceeded", requestParameters=None, responseElements=None,
                 additionalEventData={"SecretId": ARN})
    body["detail-type"] = "AWS Service Event via CloudTrail"
    assert parse_message(json.dumps(body)).secret_id == ARN


def test_an_sns_hop_is_unwrapped() -> None:
    wrapped = {"Type": "Notification", "Message": json.dumps(event())}
    assert parse_message(json.dumps(wrapped)).secret_id == ARN


@pytest.mark.parametrize("detail", [
    {"errorCode": "AccessDenied"},
    {"requestParameters": {"secretId": ARN, "versionStages": ["AWSPENDING"]}},
])
def test_failed_calls_and_pending_stages_are_ignored(detail: dict[str, Any]) -> None:
    with pytest.raises(Discarded) as caught:
        parse_message(json.dumps(event(**detail)))
    assert caught.value.kind == "ignored"


def test_a_stage_move_of_another_label_is_ignored() -> None:
    body = event("UpdateSecretVersionStage", requestParameters={
        "secretId": ARN, "versionStage": "AWSPENDING"})
    with pytest.raises(Discarded):
        parse_message(json.dumps(body))


def test_reads_are_not_changes() -> None:
    with pytest.raises(Discarded) as caught:
        parse_message(json.dumps(event("GetSecretValue")))
    assert caught.value.kind == "ignored"


def test_a_partial_arn_matches_the_full_arn_of_an_event() -> None:
    partial = "arn:aws:secretsmanager:us-east-1:111122223333:secret:weather"
    assert secret_key(partial) == secret_key(ARN) == ("111122223333", "us-east-1", "weather")
    providers = ProviderMap(lambda: [Reference("weather", partial)])
    providers.refresh()
    assert providers.providers(parse_message(json.dumps(event()))) == {"weather"}


def test_a_name_only_event_matches_by_account_region_and_name() -> None:
    providers = ProviderMap(lambda: [Reference("weather", ARN)])
    providers.refresh()
    change = parse_message(json.dumps(event(responseElements=None)))
    assert change.secret_id == "weather"
    assert providers.providers(change) == {"weather"}


def test_reasons_never_quote_the_message() -> None:
    canary = "canary-0123456789"
    for body in (canary, json.dumps({"source": canary}),
                 json.dumps(event(responseElements={"arn": canary + " !"}, requestParameters={}))):
        with pytest.raises(Discarded) as caught:
            parse_message(body)
        assert canary not in caught.value.reason
