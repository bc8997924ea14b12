"""Shared test set-up: a clean AWS environment for every test, and the emulator fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# The session-scoped ``local_agentcore`` fixture; the pytest11 entry point registers it
# when the package is installed, this import makes it available from a plain checkout.
from agentcore_auth.testing._pytest_plugin import local_agentcore  # noqa: F401


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Strip AWS_* variables and set fake credentials, as httpx's clean_environ does."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
