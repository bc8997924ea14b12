"""Set-up for the LangChain adapter's tests: a clean AWS environment and the emulator fixture.

This directory is not under ``tests/``, so nothing from ``tests/conftest.py`` applies.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing.scenarios import (
    ApiKeyScenario,
    UserFederationScenario,
    api_key_scenario,
    user_federation_scenario,
)

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

