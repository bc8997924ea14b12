"""mkdocs hook: included files, and links to files of the repository outside ``docs/``.

A line ``--8<-- "adapters/strands/README.md"`` (pymdownx.snippets' syntax, path from
the repository's root) is replaced by that file, before links are checked: the
framework pages are the adapters' READMEs, one source. Pages link to examples, tests
and benchmarks, which are not documentation files: a relative link
that resolves, from the page, to an existing file outside ``docs/`` becomes a link to
that file in the repository (``repo_url``); any other broken link still fails
``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)
_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    source = DOCS / page.file.src_path
    markdown = _INCLUDE.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8"),
                            markdown)
    repo = str(config.get("repo_url") or "").rstrip("/")

    def rewrite(match: re.Match[str]) -> str:
        target = (source.parent / match.group(1)).resolve()
        if target.is_relative_to(DOCS) or not target.is_relative_to(ROOT) or not target.exists():
            return match.group(0)
        kind = "tree" if target.is_dir() else "blob"
        relative = target.relative_to(ROOT).as_posix()
        return f"]({repo}/{kind}/main/{relative}{match.group(2) or ''})"

    return _LINK.sub(rewrite, markdown)
