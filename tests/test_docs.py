"""The documentation: every ```python block in docs/ runs, and the API reference is whole.

Blocks run in order, one namespace per page, in a process of their own (top-level
``await`` allowed). A block with ``<!-- docs: no-test (reason) -->`` on the line just
before it is skipped; one with ``<!-- docs: pytest -->`` runs as a pytest file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SKIP = re.compile(r"^<!-- docs: no-test \((.+)\) -->$")
PYTEST = "<!-- docs: pytest -->"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)

RUNNER = r"""
import ast, asyncio, inspect, json, sys
namespace = {"__name__": "docs"}
for where, code in json.loads(sys.stdin.read()):
    compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # noqa: S307 - the docs' own snippets
    if inspect.iscoroutine(result):
        asyncio.run(result)
"""


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "scripts" not in p.parts)


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, marker) of every python block; marker: None, 'pytest' or a skip reason."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        skip = SKIP.match(before)
        marker = skip.group(1) if skip else ("pytest" if before == PYTEST else None)
        found.append((line, match.group(1), marker))
    return found


RUNNABLE = [p for p in pages() if any(marker is None for _, _, marker in blocks(p))]


def test_docs_exist_and_markers_have_reasons() -> None:
    assert len(pages()) >= 20
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for marker in re.findall(r"<!-- docs: [^>]*-->", text):
            assert SKIP.match(marker) or marker == PYTEST, f"{page.name}: bad marker {marker}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_snippets_run(page: Path) -> None:
    """The page's python blocks run in order in one namespace (skipped ones aside)."""
    import json

    rel = page.relative_to(ROOT)
    code = [(f"{rel}:{line}", block) for line, block, marker in blocks(page) if marker is None]
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(code),  # noqa: S603
                            capture_output=True, text=True, timeout=280, cwd=ROOT,
                            env=dict(os.environ), check=False)
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.timeout(300)
def test_pytest_blocks_pass(tmp_path: Path) -> None:
    """Blocks marked as pytest files pass in a fresh pytest run, with the plugin's fixtures."""
    marked = [(page, line, block) for page in pages() for line, block, marker in blocks(page)
              if marker == "pytest"]
    assert marked
    for index, (_, _, block) in enumerate(marked):
        (tmp_path / f"test_docs_block_{index}.py").write_text(block, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=280, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout and "failed" not in result.stdout


def _reference() -> Any:
    spec = importlib.util.spec_from_file_location("gen_reference",
                                                  DOCS / "scripts" / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_has_a_docstring() -> None:
    """Each name in the __all__ of every public module has a docstring (what the reference
    renders); the modules are the ones the reference is generated from."""
    import griffe

    reference = _reference()
    assert {"agentcore_auth", "agentcore_auth.httpx", "agentcore_auth.otel",
            "agentcore_auth.fleet", "agentcore_auth.integration",
            "agentcore_auth.testing"} <= set(reference.MODULES)
    package = griffe.load("agentcore_auth", search_paths=[str(ROOT)])
    missing = []
    for module in reference.MODULES:
        names = reference.exports(module)
        imported = importlib.import_module(module)
        assert names == list(imported.__all__), module
        node = package if module == "agentcore_auth" else package[module.split(".", 1)[1]]
        for name in names:
            target = node[name]
            target = target.final_target if target.is_alias else target
            if not (target.docstring and target.docstring.value.strip()):
                missing.append(f"{module}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


def test_reference_pages_list_every_public_name() -> None:
    """The generated pages name every export (so a built site documents each of them)."""
    reference = _reference()
    for module in reference.MODULES:
        page = reference.page(module)
        for name in reference.exports(module):
            assert f"::: {module}.{name}\n" in page, f"{module}.{name}"


@pytest.mark.timeout(600)
def test_site_builds_strictly_with_every_name(tmp_path: Path) -> None:
    """mkdocs build --strict passes and each public name has its heading in the reference."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=580, cwd=ROOT, env=env, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    reference = _reference()
    for module in reference.MODULES:
        html = (tmp_path / "reference" / module / "index.html").read_text(encoding="utf-8")
        for name in reference.exports(module):
            assert f'id="{module}.{name}"' in html, f"{module}.{name} missing from the site"
