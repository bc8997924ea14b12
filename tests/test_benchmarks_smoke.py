"""The benchmark suite runs end to end in quick mode (figures are never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "hot_path", "stampede", "rotation", "httpx_overhead", "redaction", "log_redaction", "memory",
    "fleet", "fleet_tier", "fleet_faults", "iam_access_token", "stream_chunks", "otel_processing",
    "rotation_watcher",
}


@pytest.mark.timeout(600)
def test_quick_run_produces_rows_for_every_scenario(tmp_path: Path) -> None:
    """`python -m benchmarks --quick --json` exits 0, with rows per scenario and machine info."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert set(report["scenarios"]) == SCENARIOS
    seen = {row["scenario"] for row in report["rows"]}
    assert seen == SCENARIOS
    for name in SCENARIOS:
        rows = [r for r in report["rows"] if r["scenario"] == name]
        assert any(not r.get("skipped") for r in rows), f"{name}: only skipped rows"
        assert not any(r.get("error") for r in rows), f"{name} crashed"
    machine = report["machine"]
    assert machine["cpu_count"] and machine["platform"] and machine["python"]
    packages = report["packages"]
    assert packages["agentcore-auth"] and packages["bedrock-agentcore"]
    assert "httpx" in packages and "boto3" in packages
    assert "median" in result.stdout  # the table was printed
