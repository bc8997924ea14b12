"""examples/llamaindex_agent.py runs offline (emulator + scripted model) in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_example_runs_offline() -> None:
    """Two tool calls at once, one consent round trip, and no credential reaches the model."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "examples" / "llamaindex_agent.py")],
        capture_output=True, text=True, timeout=180, cwd=ROOT, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    assert "alice must authorize files" in out and "consent completed for alice" in out
    assert "'sub': 'alice'" in out, out
    assert "[REDACTED:weather]" in out and "[REDACTED:files]" in out
    assert "credentials in what the model was sent: none" in out
