"""LangGraph's stream writer, scrubbed for each tool call.

A tool writes to the ``custom`` stream with ``get_stream_writer()`` (read from the
call's config) or ``runtime.stream_writer`` (its ``ToolRuntime``). For the call, both
are replaced by a writer passing chunks through one
:class:`~agentcore_auth.integration.FieldStreamScrubber` (so a value split across
writes is caught); the held tail is written when the call ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.prebuilt.tool_node import ToolCallRequest

from agentcore_auth import Redactor
from agentcore_auth.integration import FieldStreamScrubber, scrubbing_writer

__all__ = ["scrubbed_stream_writer"]

CONF = "configurable"
_RUNTIME_KEY = "__pregel_runtime"  # langgraph._internal._constants.CONFIG_KEY_RUNTIME


@contextmanager
def scrubbed_stream_writer(request: ToolCallRequest,
                           redactor: Redactor | None) -> Iterator[ToolCallRequest]:
    """``request`` with its stream writers scrubbing; the held tail written at the end."""
    runtime = request.runtime
    write = getattr(runtime, "stream_writer", None)
    if runtime is None or write is None:
        yield request
        return
    scrubber = FieldStreamScrubber(redactor)
    writer = scrubbing_writer(write, scrubber)
    config: Any = runtime.config
    conf: Any = config.get(CONF) if isinstance(config, dict) else None
    graph_runtime = conf.get(_RUNTIME_KEY) if isinstance(conf, dict) else None
    if graph_runtime is not None:  # get_stream_writer() reads it; the dict is this call's
        config[CONF] = {**conf, _RUNTIME_KEY: graph_runtime.override(stream_writer=writer)}
    try:
        scrubbed = dataclasses.replace(runtime, stream_writer=writer)
        yield dataclasses.replace(request, runtime=scrubbed)
    finally:
        if graph_runtime is not None:
            config[CONF] = conf
        for piece in scrubber.finish():
            write(piece)
