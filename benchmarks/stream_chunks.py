"""Stream scrubbing: what one streamed chunk costs through a decorated generator.

A tool relays a 4 kB API response as 16-character chunks (the issue's
``aiter_text(chunk_size=16)`` case) and as 1 kB chunks, the key echoed once
inside. The same generator body runs undecorated (the baseline) and under
``@requires_api_key`` (each chunk through ``StreamScrubber``), interleaved round
by round in one process; the row is the per-chunk median. The joined scrubbed
stream is checked to hold no value before anything is timed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from ._harness import Row, interleave, time_row

SCENARIO = "stream_chunks"


def _sampler(make: Callable[[], Iterator[str]], chunks: int) -> Callable[[], float]:
    clock = time.perf_counter_ns

    def sample() -> float:
        start = clock()
        for _ in make():
            pass
        return (clock() - start) / chunks / 1e9

    return sample


def run(bench: Any = None, quick: bool = False) -> list[Row]:
    """Per-chunk time scrubbed vs an unscrubbed generator, 16-char and 1 kB chunks."""
    from agentcore_auth import CredentialResolver, EnvSource, requires_api_key

    key = "sk-live-" + secrets.token_urlsafe(24)
    body = ("x" * 2000) + f'{{"credential": "{key}"}}' + ("y" * 2000)
    rounds = 10 if quick else 200
    rows: list[Row] = []
    with CredentialResolver(EnvSource({"bench": "K"}, environ={"K": key})) as resolver:
        for size in (16, 1024):
            chunks = [body[i:i + size] for i in range(0, len(body), size)]

            def plain(chunks: list[str] = chunks) -> Iterator[str]:
                yield from chunks

            @requires_api_key(provider_name="bench", resolver=resolver)
            def scrubbed(*, api_key: str, chunks: list[str] = chunks) -> Iterator[str]:
                yield from chunks

            joined = "".join(scrubbed())
            if key in joined or "[REDACTED:bench]" not in joined:
                raise AssertionError("the streamed key was not redacted")
            results = interleave({"plain": _sampler(plain, len(chunks)),
                                  "scrubbed": _sampler(scrubbed, len(chunks))}, rounds)
            rows.append(time_row(SCENARIO, f"per chunk, {size}-char chunks of a 4 kB body",
                                 results["scrubbed"], results["plain"],
                                 baseline="unscrubbed generator"))
    return rows
