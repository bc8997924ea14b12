"""The suite cannot reach beyond loopback: pytest-socket refuses any other address."""

from __future__ import annotations

import socket

import pytest


def test_non_loopback_connection_is_refused() -> None:
    """A connection to a private-range address fails before any packet is sent."""
    with pytest.raises(Exception, match="allowed"):  # noqa: B017 - pytest-socket's own type
        socket.create_connection(("10.1.2.3", 9), timeout=0.1)
