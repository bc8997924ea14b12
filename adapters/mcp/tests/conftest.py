"""Set-up for the MCP adapter's tests: the emulator, and real MCP servers on loopback.

This directory is not under ``tests/``, so nothing from ``tests/conftest.py`` applies.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing.scenarios import (
    ApiKeyScenario,
    UserFederationScenario,
    api_key_scenario,
    user_federation_scenario,
)

sys.path.insert(0, str(Path(__file__).parent))  # servers.py, under --import-mode=importlib
from servers import LOGGERS  # noqa: E402

# ``local_agentcore`` and ``clean_aws_environ`` come from the agentcore_auth pytest plugin
# (the pytest11 entry point of the installed package).


@pytest.fixture(autouse=True)
def clean_environ(clean_aws_environ: None) -> None:
    """Every test runs with AWS_* stripped and fake credentials (the plugin's fixture)."""


@pytest.fixture
def weather(local_agentcore: LocalAgentCore) -> Iterator[ApiKeyScenario]:
    """An EXTERNAL API key provider, its secret, a protected API that echoes on request."""
    with api_key_scenario(local_agentcore) as scenario:
        yield scenario


@pytest.fixture
def files(local_agentcore: LocalAgentCore) -> Iterator[UserFederationScenario]:
    """A USER_FEDERATION provider on the emulator's IdP and a bearer-protected API."""
    with user_federation_scenario(local_agentcore) as scenario:
        yield scenario


def forms(value: str) -> set[str]:
    """The value and the encodings a leak could take (base64, URL-quoted, hex, JSON)."""
    raw = value.encode()
    return {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="), urllib.parse.quote(value, safe=""),
            raw.hex(), json.dumps(value)[1:-1]}


def leaks(text: str, *values: str) -> list[str]:
    """Which of ``values`` show up in ``text``, in any of :func:`forms`."""
    return [v for v in values for form in forms(v) if form in text]


class Logs(logging.Handler):
    """Every record of the servers' loggers (FastMCP's do not propagate), formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def server_logs() -> Iterator[Logs]:
    handler = Logs()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)
