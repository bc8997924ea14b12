"""examples/mcp_server.py: offline over streamable HTTP (both libraries), and over stdio."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "mcp_server.py"

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("library", ["sdk", "fastmcp"])
def test_example_runs_offline(library: str) -> None:
    """A client as alice: a scrubbed forecast, -32042, consent, the return URL, the retry."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(EXAMPLE), "--library", library],
        capture_output=True, text=True, timeout=170, cwd=ROOT, check=False)
    out = completed.stdout
    assert completed.returncode == 0, out + completed.stderr
    flat = "".join(out.split())  # the SDK sends indented JSON, FastMCP compact
    assert '"credential":"[REDACTED:weather]"' in flat
    assert "[client] error -32042: Authorize access to files" in out
    assert "[browser] return URL answered 200" in out
    assert '"sub":"alice"' in flat and '"credential":"[REDACTED:files]"' in flat
    assert "the API key in what the client got: none" in out


async def test_example_over_stdio() -> None:
    """Launched by an MCP client over stdio: the user comes from the server's own mapping."""
    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT), args=[
        str(EXAMPLE), "--transport", "stdio", "--user", "zoe", "--library", "fastmcp"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        forecast = await session.call_tool("forecast", {"city": "Rome"})
        with pytest.raises(MCPError) as caught:
            await session.call_tool("my_files", {})
        (asked,) = caught.value.error.data["elicitations"]
        async with httpx.AsyncClient() as browser:  # the link works: the IdP sends us on
            response = await browser.get(asked["url"])
    assert not forecast.is_error and "[REDACTED:weather]" in forecast.content[0].text
    assert caught.value.error.code == -32042
    assert response.is_redirect
    assert urllib.parse.urlsplit(asked["url"]).hostname == "127.0.0.1"
