"""Write the API reference pages (mkdocs-gen-files): one page per public module.

Each page lists every name in the module's ``__all__`` (read statically by griffe, so
nothing is imported and names added to an ``__all__`` appear without editing the docs),
rendered by mkdocstrings from its docstring.
"""

from __future__ import annotations

from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parents[2]

#: The public modules, in the reference's order, with the page's one-line summary.
MODULES = {
    "agentcore_auth": "the resolver, sources, decorators, identity, redaction and errors",
    "agentcore_auth.httpx": "the httpx auth plugin",
    "agentcore_auth.otel": "OpenTelemetry: redacting span processor, the library's spans",
    "agentcore_auth.fleet": "fleet mode: the shared tier on Valkey / Redis",
    "agentcore_auth.integration": "the framework-neutral kit adapters are built on",
    "agentcore_auth.testing": "LocalAgentCore, the local emulator, and test helpers",
    "agentcore_auth.testing.scenarios": "ready-made emulator set-ups for tests and examples",
}


def exports(module: str) -> list[str]:
    """The names in ``module.__all__``, in their order there."""
    package = griffe.load(module.split(".")[0], search_paths=[str(ROOT)])
    target = package if module == package.path else package[module.split(".", 1)[1]]
    return list(target.exports or [])


def page(module: str) -> str:
    lines = [f"# {module}", "", f"`{module}`: {MODULES[module]}.", "",
             f"::: {module}", "    options:", "      members: false",
             "      show_root_heading: false", "      show_root_toc_entry: false", ""]
    for name in exports(module):
        lines += [f"::: {module}.{name}", "    options:", "      show_root_heading: true",
                  "      show_root_full_path: false", "      heading_level: 2", ""]
    return "\n".join(lines)


def main() -> None:
    import mkdocs_gen_files

    index = ["# API reference", "",
             "Generated from the docstrings of every name in each module's `__all__`.", ""]
    for module in MODULES:
        path = f"reference/{module}.md"
        with mkdocs_gen_files.open(path, "w") as out:
            out.write(page(module))
        index.append(f"- [`{module}`]({module}.md): {MODULES[module]}")
    with mkdocs_gen_files.open("reference/index.md", "w") as out:
        out.write("\n".join(index) + "\n")


if __name__ in ("__main__", "<run_path>"):  # run by mkdocs-gen-files, not on import
    main()
