"""The ``agentcore_auth`` pytest plugin: the ``local_agentcore`` and ``clean_aws_environ`` fixtures.

Registered through the ``pytest11`` entry point, so it loads in every pytest run
of a project that installs agentcore-auth; it imports nothing heavy until the
fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._env import LocalAgentCore


@pytest.fixture(scope="session")
def local_agentcore() -> Iterator[LocalAgentCore]:
    """A started LocalAgentCore shared by the whole session; use unique names per test."""
    from ._env import LocalAgentCore

    with LocalAgentCore() as env:
        yield env


@pytest.fixture
def clean_aws_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real AWS configuration reaches the test: ``AWS_*`` stripped, fake keys set.

    Make it autouse in your conftest: ``pytestmark = pytest.mark.usefixtures(...)``
    or an autouse fixture that requests it.
    """
    from ._helpers import fake_aws_environ

    for name, value in fake_aws_environ().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    yield
