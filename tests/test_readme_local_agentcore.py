"""Every snippet of the docs section "Point your code at LocalAgentCore" runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Point your code at LocalAgentCore"


def snippets() -> list[str]:
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_section_has_the_three_kinds_of_snippet() -> None:
    """Wiring, pytest fixtures and helpers; each helper the issue names appears in one."""
    found = snippets()
    assert len(found) == 3
    joined = "\n".join(found)
    for helper in ("create_workload", "env_vars", "protected_api", "protected_oauth_api",
                   "complete_consent", "inject_fault", "call_count", "local_agentcore",
                   "clean_aws_environ"):
        assert helper in joined, helper


@pytest.mark.parametrize("index", [0, 2], ids=["wiring", "helpers"])
def test_snippet_runs(index: int) -> None:
    """The wiring and helpers snippets run in-process (os.environ restored afterwards)."""
    saved = dict(os.environ)
    try:
        code = compile(snippets()[index], f"docs/testing.md snippet {index}", "exec")
        exec(code, {"__name__": "readme"})  # noqa: S102
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_pytest_snippet_runs(tmp_path: Path) -> None:
    """The pytest snippet passes in a fresh pytest run, fixtures from the installed plugin."""
    (tmp_path / "test_readme_snippet.py").write_text(snippets()[1], encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
