"""Shared test set-up: a clean AWS environment for every test, and the emulator fixture."""

from __future__ import annotations

import pytest

# ``local_agentcore`` and ``clean_aws_environ`` come from the agentcore_auth pytest plugin
# (the pytest11 entry point of the installed package).


@pytest.fixture(autouse=True)
def clean_environ(clean_aws_environ: None) -> None:
    """Every test runs with AWS_* stripped and fake credentials (the plugin's fixture)."""
