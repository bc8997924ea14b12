"""The core examples run as scripts, exit 0, say what happened and print no secret value."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(  # noqa: S603 - our own script, run with this interpreter
        [sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
        env=env, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert not re.search(r"(sk|cs)-[0-9a-f]{8,}|eyJ[\w-]{10,}\.", output), "a secret was printed"
    return result.stdout


@pytest.mark.parametrize(("name", "expected"), [
    ("decorator_basic.py", [
        "signature the model sees: forecast(city: 'str')",
        "after rotation: {'city': 'Tromso', 'ok': True}",
        "GetResourceApiKey calls: 2,",
        "(refused with 401), then sha256:",
    ]),
    ("httpx_sync_async.py", [
        "sync after rotation: HTTP 200 (before it: [401])",
        "async after rotation: 50/50 requests got HTTP 200",
        "GetResourceApiKey calls in all: 3",
    ]),
    ("user_federation_consent.py", [
        "consent needed for alice",
        "for sub=alice",
        "for sub=bob",
        "consents: 2; cache: 1 hit(s)",
        "CompleteResourceTokenAuth calls: 2",
    ]),
])
def test_example(name: str, expected: list[str]) -> None:
    """The example exits 0 and reports the expected outcome."""
    stdout = run_example(name)
    for line in expected:
        assert line in stdout
