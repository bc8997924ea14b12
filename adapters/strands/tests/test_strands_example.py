"""examples/strands_agent.py runs offline (emulator + scripted model) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_example_runs_offline() -> None:
    """The example completes the consent round trip and the model never sees a credential."""
    path = os.pathsep.join([str(ROOT), str(ROOT / "adapters" / "strands"),
                            os.environ.get("PYTHONPATH", "")])
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "examples" / "strands_agent.py")],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path}, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    assert "alice must authorize files" in out and "consent completed for alice" in out
    assert '"sub": "alice"' in out and "[REDACTED:weather]" in out
    assert "credentials in what the model was sent: none" in out
    assert "credentials in exported spans: none" in out
    assert "[telemetry] resolve_credential weather: miss" in out
