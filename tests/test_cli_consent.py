"""The CLI completes a USER_FEDERATION consent itself, and its small promises.

``resolve --wait`` listens on a loopback return URL; the browser is played by
``LocalAgentCore.authorize_in_browser``, which never calls CompleteResourceTokenAuth,
so only the CLI's own listener can complete the session. Also: ``--version``, a wrong
Region named in ``resolve``'s error, ``providers delete``, and the ``[testing]`` hint.
"""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import httpx
import pytest

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver
from agentcore_auth._cli import main
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing.scenarios import UserFederationScenario, user_federation_scenario


@pytest.fixture
def env(local_agentcore: LocalAgentCore, monkeypatch: pytest.MonkeyPatch) -> LocalAgentCore:
    for key, value in local_agentcore.env_vars().items():
        monkeypatch.setenv(key, value)
    return local_agentcore


@pytest.fixture
def files(env: LocalAgentCore) -> Iterator[UserFederationScenario]:
    with user_federation_scenario(env) as scenario:
        yield scenario


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_workload(env: LocalAgentCore) -> tuple[str, str]:
    """A workload whose registered return URLs include a loopback one; (name, that URL)."""
    url = f"http://127.0.0.1:{free_port()}/agentcore-auth/callback"
    return env.create_workload(return_urls=["https://app.example.com/cb", url]), url


def start_cli(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "agentcore_auth", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def consent_url(child: subprocess.Popen[str]) -> str:
    assert child.stderr is not None
    first = child.stderr.readline()
    found = re.match(r"consent needed: open (\S+)", first)
    assert found, first
    assert "listening on http://127.0.0.1:" in child.stderr.readline()
    return found.group(1)


def vaulted(env: LocalAgentCore, scenario: UserFederationScenario, workload: str,
            user: str) -> Any:
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                     workload_name=workload)
    with CredentialResolver(source) as resolver:
        return resolver.get_oauth2_token(scenario.provider, scopes=["files"],
                                         auth_flow="USER_FEDERATION", user_id=user)


def test_wait_completes_consent_on_the_registered_loopback_url(
        env: LocalAgentCore, files: UserFederationScenario) -> None:
    """--wait: URL printed, the browser lands on the CLI's listener, which completes; exit 0."""
    workload, listen = loopback_workload(env)
    before = env.call_count("CompleteResourceTokenAuth")
    child = start_cli("resolve", files.provider, "--scopes", "files", "--auth-flow",
                      "USER_FEDERATION", "--user-id", "dana", "--workload", workload, "--wait",
                      "--consent-timeout", "60")
    try:
        url = consent_url(child)
        # another session's id (or none) is refused and completes nothing
        stray = httpx.get(listen, params={"session_id": "urn:ietf:params:oauth:request_uri:x"})
        assert stray.status_code == 400
        assert httpx.get(listen.replace("/callback", "/other")).status_code == 404
        assert env.call_count("CompleteResourceTokenAuth") == before
        landed = env.authorize_in_browser(url)
        assert landed.status_code == 200, landed.text
        assert "Consent completed" in landed.text
        assert str(landed.url).startswith(listen + "?session_id=")
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    assert env.call_count("CompleteResourceTokenAuth") == before + 1
    token = vaulted(env, files, workload, "dana")
    assert f"fingerprint {token.fingerprint}" in out
    assert token.reveal() not in out + err


def test_wait_listens_on_the_return_url_option(env: LocalAgentCore,
                                               files: UserFederationScenario) -> None:
    """--return-url picks the listener's URL (registered, not the first one); JSON output."""
    other = f"http://localhost:{free_port()}/first"
    chosen = f"http://127.0.0.1:{free_port()}/chosen"
    workload = env.create_workload(return_urls=[other, chosen])
    child = start_cli("resolve", files.provider, "--scopes", "files", "--auth-flow",
                      "USER_FEDERATION", "--user-id", "erin", "--workload", workload, "--wait",
                      "--return-url", chosen, "--consent-timeout", "60", "--json")
    try:
        url = consent_url(child)
        assert str(env.authorize_in_browser(url).url).startswith(chosen + "?")
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    assert f'"fingerprint": "{vaulted(env, files, workload, "erin").fingerprint}"' in out


def test_authorize_in_browser_does_not_complete(env: LocalAgentCore,
                                                files: UserFederationScenario) -> None:
    """The helper plays only the browser: an app that ignores the return gets no token.

    Control for the tests above: with a return URL served by a handler that does not
    call CompleteResourceTokenAuth, the user still needs to consent afterwards, whereas
    ``complete_consent`` (browser and app) gets the token into the vault.
    """
    seen: list[str] = []

    class Forgetful(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Forgetful)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return_url = f"http://127.0.0.1:{server.server_port}/cb"
        workload = env.create_workload(return_urls=[return_url])
        source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                         workload_name=workload)
        before = env.call_count("CompleteResourceTokenAuth")
        with CredentialResolver(source) as resolver:
            ask = {"scopes": ["files"], "auth_flow": "USER_FEDERATION", "user_id": "fay",
                   "callback_url": return_url}
            with pytest.raises(Exception) as needed:
                resolver.get_oauth2_token(files.provider, **ask)
            exc: Any = needed.value
            assert env.authorize_in_browser(exc.authorization_url).status_code == 200
            assert seen and seen[0].startswith("/cb?session_id=")
            assert env.call_count("CompleteResourceTokenAuth") == before
            with pytest.raises(Exception, match="consent"):
                resolver.get_oauth2_token(files.provider, session_uri=exc.session_uri, **ask)
            env.complete_consent(exc.authorization_url)
            assert env.call_count("CompleteResourceTokenAuth") == before + 1
            assert resolver.get_oauth2_token(files.provider, session_uri=exc.session_uri,
                                             **ask).reveal()
    finally:
        server.shutdown()
        server.server_close()


def test_wait_without_user_is_refused(env: LocalAgentCore, files: UserFederationScenario,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Completing needs to know for whom: no --user-id and no token is a usage error."""
    monkeypatch.delenv("AGENTCORE_AUTH_USER_TOKEN", raising=False)
    workload, _ = loopback_workload(env)
    code = main(["resolve", files.provider, "--scopes", "files", "--auth-flow",
                 "USER_FEDERATION", "--workload", workload, "--wait"])
    assert code == 2
    assert "--user-id" in capsys.readouterr().err


def test_return_url_must_be_loopback(env: LocalAgentCore, files: UserFederationScenario,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["resolve", files.provider, "--scopes", "files", "--auth-flow",
                 "USER_FEDERATION", "--user-id", "gus", "--workload", files.workload, "--wait",
                 "--return-url", "https://app.example.com/oauth/return"])
    assert code == 2
    assert "not a loopback URL" in capsys.readouterr().err


def test_version() -> None:
    """--version prints the installed distribution's version, exit 0."""
    result = subprocess.run([sys.executable, "-m", "agentcore_auth", "--version"],  # noqa: S603
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"agentcore-auth {version('agentcore-auth')}"
    import agentcore_auth

    assert agentcore_auth.__version__ == version("agentcore-auth")


def test_resolve_names_a_wrong_region(env: LocalAgentCore, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    """A workload and provider made in us-east-1, resolved with --region eu-west-3."""
    provider, _ = env.create_api_key_provider("sk-test-region-1234")
    workload = env.create_workload()
    assert main(["resolve", provider, "--workload", workload]) == 0
    capsys.readouterr()
    code = main(["resolve", provider, "--workload", workload, "--region", "eu-west-3"])
    err = capsys.readouterr().err
    assert code == 1
    assert "eu-west-3" in err and "--region" in err, err


def test_providers_delete(env: LocalAgentCore, capsys: pytest.CaptureFixture[str]) -> None:
    provider, arn = env.create_api_key_provider("sk-test-delete-1234")
    assert main(["providers", "delete", provider]) == 0
    assert f"deleted api key credential provider {provider!r}" in capsys.readouterr().out
    assert main(["providers", "show", provider]) == 1
    assert "no credential provider" in capsys.readouterr().err
    assert env.client("secretsmanager").describe_secret(SecretId=arn)["ARN"] == arn
    assert main(["providers", "delete", provider]) == 1


def test_providers_options_have_help() -> None:
    """Every option and argument of every providers action says what it is."""
    import argparse

    from agentcore_auth._cli import _parser

    def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    actions = subparsers(subparsers(_parser())["providers"])
    assert set(actions) >= {"create-api-key", "create-oauth2", "list", "show", "delete"}
    for name, parser in actions.items():
        missing = [a.dest for a in parser._actions if not a.help]
        assert not missing, f"providers {name}: no help for {missing}"


def test_missing_moto_names_the_extra() -> None:
    """Without moto, the emulator's error says to install the testing extra."""
    code = ("import sys; sys.modules['moto'] = None\n"
            "from agentcore_auth._cli import main\nsys.exit(main(['emulator']))")
    result = subprocess.run([sys.executable, "-c", code],  # noqa: S603
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "agentcore-auth[testing]" in result.stderr and "Traceback" not in result.stderr
