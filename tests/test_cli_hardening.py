"""The CLI's hardening: a closed pipe ends quietly, the user's JWT need not be an argument,
AWS profile problems say what to fix, and the help says where settings come from."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agentcore_auth._cli import main
from agentcore_auth.testing import LocalAgentCore


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def env(local_agentcore: LocalAgentCore, monkeypatch: pytest.MonkeyPatch) -> LocalAgentCore:
    for key, value in local_agentcore.env_vars().items():
        monkeypatch.setenv(key, value)
    return local_agentcore


@pytest.fixture
def canaries() -> Iterator[list[str]]:
    yield []


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], canaries: list[str]) -> Any:
    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        for value in canaries:
            assert value not in captured.out + captured.err, "secret leaked"
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def federation(env: LocalAgentCore, canaries: list[str]) -> tuple[list[str], str]:
    """Arguments of a USER_FEDERATION resolve, and a user JWT (a canary)."""
    name = env.create_oauth2_provider()[0]
    workload = env.create_workload(return_urls=["https://app.example.com/cb"])
    jwt = env.issue_user_token("alice")
    canaries.append(jwt)
    return ["resolve", name, "--scopes", "email", "--auth-flow", "USER_FEDERATION",
            "--workload", workload], jwt


def _calls(env: LocalAgentCore) -> tuple[int, int]:
    return (env.call_count("GetWorkloadAccessTokenForJWT"),
            env.call_count("GetWorkloadAccessTokenForUserId"))


def test_user_token_from_standard_input(env: LocalAgentCore, federation: Any, cli: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """--user-token - reads the JWT from stdin: it reaches AgentCore (ForJWT), never the output."""
    args, jwt = federation
    monkeypatch.setattr(sys, "stdin", io.StringIO(jwt + "\n"))
    before = _calls(env)
    result = cli(*args, "--user-token", "-")
    assert result.code == 1 and "user consent is required" in result.err, result.err
    assert _calls(env) == (before[0] + 1, before[1])


def test_user_token_from_the_environment(env: LocalAgentCore, federation: Any, cli: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """$AGENTCORE_AUTH_USER_TOKEN is read when neither --user-token nor --user-id is given."""
    args, jwt = federation
    monkeypatch.setenv("AGENTCORE_AUTH_USER_TOKEN", jwt)
    before = _calls(env)
    assert cli(*args).code == 1
    assert _calls(env) == (before[0] + 1, before[1])
    # An explicit --user-id names the user instead; the variable is then ignored.
    assert cli(*args, "--user-id", "bob").code == 1
    assert _calls(env) == (before[0] + 1, before[1] + 1)


def test_user_token_refusals(env: LocalAgentCore, federation: Any, cli: Any,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Both a user id and a token, or an empty stdin: usage errors saying what to do."""
    args, jwt = federation
    both = cli(*args, "--user-id", "bob", "--user-token", jwt)
    assert both.code == 2 and "pass only one of --user-id or --user-token" in both.err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    empty = cli(*args, "--user-token", "-")
    assert empty.code == 2 and "found no token on standard input" in empty.err


def test_help_says_where_settings_come_from(capsys: pytest.CaptureFixture[str]) -> None:
    """resolve --help names stdin and the variable; the Region order is spelt out."""
    with pytest.raises(SystemExit):
        main(["resolve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'-' reads it from standard input" in text and "$AGENTCORE_AUTH_USER_TOKEN" in text
    assert "process list" in text
    assert "AWS_REGION, then AWS_DEFAULT_REGION, then the profile's" in text


@pytest.mark.parametrize("how", ["env", "flag"])
def test_missing_profile_says_what_to_fix(cli: Any, monkeypatch: pytest.MonkeyPatch,
                                          how: str) -> None:
    """AWS_PROFILE=prod / --profile prod without such a profile: exit 2 and the fix."""
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    extra = ["--profile", "prod"] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("AWS_PROFILE", "prod")
    for argv in (["resolve", "p", "--workload", "w", *extra], ["doctor", "p", *extra],
                 ["providers", "list", *extra]):
        result = cli(*argv)
        assert result.code == 2, result.err
        assert "aws configure --profile prod" in result.err, result.err
        assert "ProfileNotFound" not in result.err and "Traceback" not in result.err


def _closed_pipe(argv: list[str], environ: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with its stdout's reader already gone, as `... | head` leaves it."""
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "agentcore_auth", *argv], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=environ)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read().decode()
    return child.wait(timeout=120), err


@pytest.mark.parametrize("argv", [["doctor", "{provider}"], ["doctor", "{provider}", "--json"]])
def test_closed_pipe_ends_quietly(env: LocalAgentCore, argv: list[str]) -> None:
    """No BrokenPipeError traceback; exit 141, as a shell reports a writer the pipe ended."""
    name, _ = env.create_api_key_provider("pipe-value-0123456789")
    argv = [a.replace("{provider}", name) for a in argv]
    code, err = _closed_pipe(argv, dict(os.environ))
    assert code == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
