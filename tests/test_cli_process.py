"""The CLI as real processes: --help, the demo, the emulator (SIGTERM), lazy imports."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.update(extra)
    return env


def cli(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "agentcore_auth", *argv], cwd=ROOT,
        env=child_env(**extra), capture_output=True, text=True, timeout=120, check=False)


def test_help_subprocess() -> None:
    """python -m agentcore_auth --help lists every subcommand and exits 0."""
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("demo", "doctor", "resolve", "providers", "emulator"):
        assert command in result.stdout


def test_help_imports_nothing_heavy() -> None:
    """--help loads neither boto3, moto, httpx nor Strands."""
    code = ("import sys\nfrom agentcore_auth._cli import main\n"
            "try:\n    main(['doctor', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('boto3', 'botocore', 'moto', 'httpx', 'strands') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(),  # noqa: S603
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_demo_subprocess() -> None:
    """The demo runs end to end: tool calls, rotation, 401 -> refetch, redacted logs, exit 0."""
    result = cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in ("[1/6] emulator up", "EXTERNAL", "doctor weather:", "0 failed",
                 "[4/6] Strands agent", "(no api_key parameter)", "~~ rotation",
                 "HTTP 401 -> 200", "cache: hit", "[5/6] counters", "[REDACTED:weather]",
                 "done in"):
        assert line in out, line
    assert out.count("HTTP 401 -> 200") == 2  # the decorator and the httpx plugin
    assert "Traceback" not in result.stderr


def test_demo_without_strands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Strands: one line naming the package, the tools still run; no value leaks."""
    from agentcore_auth._demo import run_demo

    monkeypatch.setitem(sys.modules, "strands", None)  # import strands -> ImportError
    out = io.StringIO()
    result = run_demo(out)
    text = out.getvalue()
    assert result.exit_code == 0 and result.agent == "none"
    assert text.count("pip install agentcore-auth-strands") == 1
    assert "[4/6] tools called directly" in text and text.count("HTTP 401 -> 200") == 2
    assert len(result.values) == 4
    for value in result.values:
        assert value.reveal() not in text


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_emulator_subprocess_and_env_vars(stop: signal.Signals) -> None:
    """emulator prints its env vars; a CLI run with just those reaches it; SIGTERM or Ctrl-C
    stops it cleanly."""
    process = subprocess.Popen([sys.executable, "-m", "agentcore_auth", "emulator"], cwd=ROOT,
                               env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith("export "):
                key, _, value = line.strip().removeprefix("export ").partition("=")
                exports[key] = value
            if "SIGTERM" in line:
                break
        assert "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL" in exports, "".join(lines)
        listed = cli("providers", "list", **exports)
        assert listed.returncode == 0, listed.stderr
        assert "no credential providers" in listed.stdout
        process.send_signal(stop)
        assert process.wait(timeout=30) == 0
        assert "stopping" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
