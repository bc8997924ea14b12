"""The agentcore-auth CLI, in process against the emulator through AWS_ENDPOINT_URL_* only.

No test passes --endpoint-url except the one proving it is accepted: boto3's own
configuration is enough. Every output is checked for the secret values (canary).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver, Secret
from agentcore_auth._cli import main
from agentcore_auth.testing import LocalAgentCore

NOT_THE_SERVICE = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def env(local_agentcore: LocalAgentCore, monkeypatch: pytest.MonkeyPatch) -> LocalAgentCore:
    """The emulator, reachable through boto3's environment configuration alone."""
    for key, value in local_agentcore.env_vars().items():
        monkeypatch.setenv(key, value)
    return local_agentcore


@pytest.fixture
def canaries() -> Iterator[list[str]]:
    """Secret values the test created; none may appear in any CLI output."""
    values: list[str] = []
    yield values


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], canaries: list[str]) -> Any:
    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        for value in canaries:
            assert value not in captured.out and value not in captured.err, "secret leaked"
        return Run(code, captured.out, captured.err)

    return run


def secret(env: LocalAgentCore, canaries: list[str], prefix: str, **kwargs: Any) -> str:
    value = f"sk-{prefix}-" + env.unique_name("canary")
    canaries.append(value)
    return env.create_secret(env.unique_name(prefix), {"key": value}, **kwargs)


def provider(env: LocalAgentCore, arn: str, json_key: str = "key") -> str:
    name = env.unique_name("cli")
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=name, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": json_key})
    return name


# --- doctor ---------------------------------------------------------------------------------


def test_doctor_healthy(env: LocalAgentCore, canaries: list[str], cli: Any) -> None:
    """A healthy set-up: every mark PASS (or skip/warn), exit 0, fingerprint and length shown."""
    arn = secret(env, canaries, "healthy", kms_key_id=env.create_kms_key())
    result = cli("doctor", provider(env, arn))
    assert result.code == 0, result.out
    assert "FAIL" not in result.out and "0 failed" in result.out
    assert "PASS  resource-policy" in result.out and "PASS  kms-key" in result.out
    assert "sha256:" in result.out


def test_doctor_broken_reports_every_fix(env: LocalAgentCore, canaries: list[str],
                                         cli: Any) -> None:
    """Policy without the principal, key without decrypt, missing JSON key: exit 1, three fixes."""
    key = env.create_kms_key(grant_service=False)
    arn = secret(env, canaries, "broken", kms_key_id=key, policy=NOT_THE_SERVICE)
    result = cli("doctor", provider(env, arn, json_key="api_key"))
    assert result.code == 1
    for name in ("resource-policy", "kms-key", "value"):
        assert f"FAIL  {name}" in result.out and f"FIX {name}:" in result.out
    assert (f"aws secretsmanager put-resource-policy --secret-id {arn} "
            "--resource-policy file://policy.json") in result.out
    assert f"aws kms put-key-policy --key-id {key} --policy-name default" in result.out
    assert '"Service": "bedrock-agentcore.amazonaws.com"' in result.out
    assert "JSON key 'api_key' is missing (keys present: 'key')" in result.out
    assert "3 failed" in result.out


def test_doctor_cross_region(env: LocalAgentCore, cli: Any) -> None:
    """A provider in one Region referencing a secret in another: FAIL region, replication fix."""
    from agentcore_auth.testing._state import ApiKeyProvider

    name = env.unique_name("west")
    west = f"arn:aws:secretsmanager:us-west-2:{env.account_id}:secret:{name}-AbCdEf"
    with env.store.lock:  # the emulator, like the service, refuses this at create time
        env.store.api_key_providers[name] = ApiKeyProvider(
            name, f"arn:aws:acps:us-east-1:{env.account_id}:token-vault/default/"
            f"apikeycredentialprovider/{name}", "EXTERNAL", west, "key")
    result = cli("doctor", name)
    assert result.code == 1
    assert "FAIL  region" in result.out and "cross-Region references are not supported" in (
        result.out)
    assert "aws secretsmanager replicate-secret-to-regions" in result.out


def test_doctor_json_and_endpoint_flag(env: LocalAgentCore, canaries: list[str], cli: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--json is machine-readable and value-free; --endpoint-url works without the env var."""
    arn = secret(env, canaries, "json", policy=NOT_THE_SERVICE)
    name = provider(env, arn)
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL")
    result = cli("doctor", name, "--json", "--endpoint-url", env.endpoint_url)
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False and report["details"]["secret_arn"] == arn
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["resource-policy"]["status"] == "fail"
    assert "put-resource-policy" in checks["resource-policy"]["fix"]
    assert checks["value"]["status"] == "pass"


def test_doctor_unknown_provider(env: LocalAgentCore, cli: Any) -> None:
    """An unknown provider is a failed check with the create command, exit 1."""
    result = cli("doctor", env.unique_name("nobody"))
    assert result.code == 1 and "agentcore-auth providers create-api-key" in result.out


# --- resolve ------------------------------------------------------------------------------


def test_resolve_api_key(env: LocalAgentCore, canaries: list[str], cli: Any) -> None:
    """Fingerprint, length and latency; never the value."""
    arn = secret(env, canaries, "resolve")
    name = provider(env, arn)
    result = cli("resolve", name, "--workload", env.create_workload())
    assert result.code == 0, result.err
    expected = Secret(canaries[0]).fingerprint
    assert expected in result.out and f"{len(canaries[0])} characters" in result.out
    assert "latency" in result.out
    as_json = json.loads(cli("resolve", name, "--workload", env.create_workload(),
                             "--json").out)
    assert as_json["fingerprint"] == expected and as_json["length"] == len(canaries[0])


def test_resolve_oauth2_m2m(env: LocalAgentCore, canaries: list[str], cli: Any) -> None:
    """--scopes/--auth-flow make it an OAuth2 resolve through the local IdP."""
    client_id, client_secret = env.unique_name("cid"), "cs-" + env.unique_name("cli")
    canaries.append(client_secret)
    env.register_oauth_client(client_id, client_secret)
    arn = env.create_secret(env.unique_name("cs"), {"cs": client_secret})
    name = env.unique_name("m2m")
    assert cli("providers", "create-oauth2", "--name", name, "--vendor", "CustomOauth2",
               "--client-id", client_id, "--secret-arn", arn, "--json-key", "cs",
               "--discovery-url", env.oauth_discovery_url).code == 0
    result = cli("resolve", name, "--scopes", "read", "--auth-flow", "M2M",
                 "--workload", env.create_workload())
    assert result.code == 0, result.err
    assert "OAuth2 token (M2M)" in result.out and "sha256:" in result.out


def test_resolve_errors(env: LocalAgentCore, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No workload: configuration error, exit 2; unknown provider: exit 1; one line each."""
    monkeypatch.delenv("AGENTCORE_AUTH_WORKLOAD_NAME")  # env_vars() names the default one
    result = cli("resolve", "weather")
    assert result.code == 2 and "--workload NAME" in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    missing = cli("resolve", env.unique_name("nobody"), "--workload", env.create_workload())
    assert missing.code == 1 and "ResourceNotFoundException" in missing.err


# --- providers ----------------------------------------------------------------------------


def test_providers_create_list_show(env: LocalAgentCore, canaries: list[str], cli: Any) -> None:
    """create-api-key, then list and show (text and JSON)."""
    arn = secret(env, canaries, "prov")
    name = env.unique_name("prov")
    created = cli("providers", "create-api-key", "--name", name, "--secret-arn", arn,
                  "--json-key", "key", "--tag", "team=payments")
    assert created.code == 0 and "(EXTERNAL)" in created.out and f"doctor {name}" in created.out
    listed = cli("providers", "list")
    assert name in listed.out and "api key" in listed.out
    shown = json.loads(cli("providers", "show", name, "--json").out)
    assert shown["secret_arn"] == arn and shown["source"] == "EXTERNAL"
    assert any(p["name"] == name for p in json.loads(cli("providers", "list", "--json").out))


@pytest.mark.parametrize(("argv", "message"), [
    (["--name", "bad name", "--secret-arn", "arn:aws:secretsmanager:us-east-1:123456789012:"
      "secret:x-AbCdEf", "--json-key", "k"], "provider name 'bad name' is invalid"),
    (["--name", "ok", "--secret-arn", "not-an-arn", "--json-key", "k"], "is not an ARN"),
    (["--name", "ok", "--secret-arn", "arn:aws:secretsmanager:eu-west-1:123456789012:"
      "secret:x-AbCdEf", "--json-key", "k"], "cross-Region references are not supported"),
    (["--name", "ok", "--secret-arn", "arn:aws:secretsmanager:us-east-1:123456789012:"
      "secret:x-AbCdEf", "--json-key", "k", "--tag", "nonsense"], "KEY=VALUE"),
])
def test_providers_create_validation(env: LocalAgentCore, cli: Any, argv: list[str],
                                     message: str) -> None:
    """Bad name, ARN shape, Region or tag: one line, exit 2, nothing created."""
    before = env.call_count("CreateApiKeyCredentialProvider")
    result = cli("providers", "create-api-key", *argv)
    assert result.code == 2 and message in result.err
    assert result.err.startswith("agentcore-auth: error: ") and result.err.count("\n") == 1
    assert env.call_count("CreateApiKeyCredentialProvider") == before


def test_providers_show_missing_and_usage(env: LocalAgentCore, cli: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """show of an unknown name exits 1; a usage error exits 2 (argparse)."""
    assert cli("providers", "show", env.unique_name("nobody")).code == 1
    with pytest.raises(SystemExit) as info:
        main(["providers", "create-oauth2", "--name", "x"])
    assert info.value.code == 2
    assert "required" in capsys.readouterr().err


# --- --debug ------------------------------------------------------------------------------


def test_debug_traceback_is_redacted(env: LocalAgentCore, canaries: list[str], cli: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error carrying a resolved value: --debug shows a redacted traceback."""
    arn = secret(env, canaries, "debug")
    name = provider(env, arn)

    def leaky(self: Secret) -> str:
        raise RuntimeError(f"formatting failed for {self.reveal()}")

    monkeypatch.setattr(Secret, "fingerprint", property(leaky))
    plain = cli("resolve", name, "--workload", env.create_workload())
    assert plain.code == 1 and "--debug" in plain.err and "RuntimeError" in plain.err
    debug = cli("--debug", "resolve", name, "--workload", env.create_workload())
    assert debug.code == 1
    assert "Traceback (most recent call last)" in debug.err and "[REDACTED:" in debug.err
    after = cli("resolve", name, "--debug", "--workload", env.create_workload())
    assert "Traceback" in after.err  # --debug also after the subcommand


def test_doctor_debug_traceback_is_redacted(env: LocalAgentCore, canaries: list[str], cli: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor registers the value it reads, so even a crash after reading it is scrubbed."""
    import agentcore_auth._doctor_checks as checks

    arn = secret(env, canaries, "doctor-debug")

    def explode(value: str) -> Secret:
        raise RuntimeError(f"cannot fingerprint {value}")

    monkeypatch.setattr(checks, "Secret", explode)
    result = cli("doctor", provider(env, arn), "--debug")
    assert result.code == 1 and "Traceback" in result.err and "[REDACTED:" in result.err


def user_federation_provider(env: LocalAgentCore, canaries: list[str], cli: Any) -> tuple[str, str]:
    """A USER_FEDERATION-ready OAuth2 provider made with the CLI; (provider, workload)."""
    client_id, client_secret = env.unique_name("uf"), "cs-" + env.unique_name("uf")
    canaries.append(client_secret)
    env.register_oauth_client(client_id, client_secret)
    arn = env.create_secret(env.unique_name("uf"), {"cs": client_secret})
    name = env.unique_name("uf")
    assert cli("providers", "create-oauth2", "--name", name, "--vendor", "GoogleOauth2",
               "--client-id", client_id, "--secret-arn", arn, "--json-key", "cs").code == 0
    return name, env.create_workload(return_urls=["https://app.example.com/cb"])


def vaulted_token(name: str, workload: str, user_id: str) -> Secret:
    """The user's token from AgentCore Identity's vault, as the library resolves it."""
    with CredentialResolver(AgentCoreIdentitySource(workload_name=workload)) as resolver:
        return resolver.get_oauth2_token(name, scopes=["email"], auth_flow="USER_FEDERATION",
                                         user_id=user_id)


def test_resolve_user_federation_shows_consent_url(env: LocalAgentCore, canaries: list[str],
                                                   cli: Any) -> None:
    """USER_FEDERATION before consent: the authorization URL on stderr, exit 1."""
    name, workload = user_federation_provider(env, canaries, cli)
    result = cli("resolve", name, "--scopes", "email", "--auth-flow", "USER_FEDERATION",
                 "--user-id", "alice", "--workload", workload)
    assert result.code == 1, result.err
    assert "--show-auth-url" in result.err and "--wait" in result.err
    assert "user consent is required" in result.err
    assert "http" not in result.err
    shown = cli("resolve", name, "--scopes", "email", "--auth-flow", "USER_FEDERATION",
                "--user-id", "alice", "--workload", workload, "--show-auth-url")
    assert shown.code == 1 and "consent needed: open http" in shown.err
    assert "rerun with --session-uri urn:" in shown.err


def test_resolve_user_federation_resumes_with_session_uri(
        env: LocalAgentCore, canaries: list[str], cli: Any) -> None:
    """--show-auth-url, the user consents, --session-uri resolves the user's token."""
    name, workload = user_federation_provider(env, canaries, cli)
    args = ("resolve", name, "--scopes", "email", "--auth-flow", "USER_FEDERATION",
            "--user-id", "bob", "--workload", workload)
    shown = cli(*args, "--show-auth-url")
    assert shown.code == 1, shown.err
    url = re.search(r"consent needed: open (\S+)", shown.err)
    session = re.search(r"--session-uri (\S+)", shown.err)
    assert url and session, shown.err
    env.complete_consent(url.group(1))
    token = vaulted_token(name, workload, "bob")
    canaries.append(token.reveal())
    done = cli(*args, "--session-uri", session.group(1), "--json")
    assert done.code == 0, done.err
    result = json.loads(done.out)
    assert result["fingerprint"] == token.fingerprint
    assert result["length"] == len(token.reveal())


def test_resolve_user_federation_waits_for_consent(env: LocalAgentCore,
                                                   canaries: list[str], cli: Any) -> None:
    """--wait: a real CLI process prints the URL, the user consents, it resolves, exit 0."""
    name, workload = user_federation_provider(env, canaries, cli)
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "agentcore_auth", "resolve", name, "--scopes", "email",
         "--auth-flow", "USER_FEDERATION", "--user-id", "carol", "--workload", workload,
         "--wait", "--consent-timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        first = child.stderr.readline()
        url = re.match(r"consent needed: open (\S+)", first)
        assert url, first
        assert "waiting up to 60 s" in child.stderr.readline()
        env.complete_consent(url.group(1))
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    token = vaulted_token(name, workload, "carol")
    for value in [token.reveal(), *canaries]:
        assert value not in out + err, "secret leaked"
    assert f"fingerprint {token.fingerprint}" in out
    assert "including the wait for consent" in out


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_resolve_bad_consent_timeout(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A --consent-timeout that is not a finite number >= 0 is refused, naming the option."""
    with pytest.raises(SystemExit) as exit_info:
        main(["resolve", "p", "--wait", "--consent-timeout", value])
    assert exit_info.value.code == 2
    assert "--consent-timeout: expected a number of seconds >= 0" in capsys.readouterr().err


def test_resolve_user_token_needs_oauth2(cli: Any) -> None:
    """--user-token on an API-key resolve is a usage error saying what to add."""
    result = cli("resolve", "p", "--user-token", "eyJhbGciOi.e30.sig", "--workload", "w")
    assert result.code == 2
    assert "--user-token is for OAuth2 resolves: add --scopes" in result.err
