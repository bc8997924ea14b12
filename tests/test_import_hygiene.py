"""Importing the core must not pull in httpx, frameworks or the emulator's dependencies."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ["httpx", "httpcore", "strands", "moto", "flask", "werkzeug", "bedrock_agentcore",
             "agentcore_auth.testing._env", "boto3"]
FORBIDDEN += ["opentelemetry", "pydantic", "mcp"]  # the otel extra; models are duck-typed


def modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return set(out.split())


def test_import_agentcore_auth_is_light() -> None:
    """`import agentcore_auth` loads no httpx, no framework, no moto and not even boto3."""
    loaded = modules_after("import agentcore_auth")
    assert not [name for name in FORBIDDEN if name in loaded]


def test_import_testing_package_starts_nothing() -> None:
    """`import agentcore_auth.testing` is lazy: moto is loaded only when the emulator starts."""
    loaded = modules_after("import agentcore_auth.testing")
    assert "moto" not in loaded and "werkzeug" not in loaded


def test_agentcore_auth_attribute_loads_httpx_on_demand() -> None:
    """AgentCoreAuth is importable from the top level and brings httpx only then."""
    loaded = modules_after("from agentcore_auth import AgentCoreAuth")
    assert "httpx" in loaded and "strands" not in loaded
