"""The rotation soak (tests/soak.py): a ~6 s run by default, 60 s under ``-m slow``.

Long run: ``pytest -m slow tests/test_reliability_soak.py`` or
``python -m tests.soak --seconds 60 --report soak.json``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agentcore_auth.testing import LocalAgentCore


def _soak_module() -> Any:
    # tests/ is not a package under --import-mode=importlib: load the module by path.
    spec = importlib.util.spec_from_file_location("agentcore_auth_soak",
                                                  Path(__file__).with_name("soak.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_soak(env: LocalAgentCore, seconds: float, report: Path,
             max_attempts: int) -> dict[str, Any]:
    result: dict[str, Any] = _soak_module().Soak(
        env, seconds=seconds, threads=3, tasks=6, rate=0.2, seed=7,
        max_attempts=max_attempts).run()
    report.write_text(json.dumps(result, indent=2))
    return result


def check(result: dict[str, Any]) -> None:
    failures, shown = result["failures"], json.dumps(result, indent=2)
    assert not failures["unexplained"], shown
    assert result["requests"] > 100 and result["rotations"] >= 3, shown
    # every rotation but perhaps the last (the run may end first) caused a 401 refetch
    assert result["resolver"]["refetches_after_rejection"] >= result["rotations"] - 1, shown
    assert result["resolver"]["stale_serves"] >= 1, shown  # the outage window was bridged
    assert sum(result["faults_injected"].values()) >= 1, shown


def test_rotation_soak_short(local_agentcore: LocalAgentCore, tmp_path: Path) -> None:
    """~6 s of rotation every second under 20% upstream faults: no unexplained failure."""
    # Two attempts: a fetch in the outage gives up within about a second, so the short
    # outage window is sure to be bridged by stale values.
    check(run_soak(local_agentcore, 6.0, tmp_path / "soak.json", max_attempts=2))


@pytest.mark.slow
def test_rotation_soak_long(local_agentcore: LocalAgentCore, tmp_path: Path) -> None:
    """The 60 s soak; the report is written to soak.json in the working directory."""
    check(run_soak(local_agentcore, 60.0, Path("soak.json"), max_attempts=3))
