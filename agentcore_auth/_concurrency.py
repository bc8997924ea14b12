"""Small concurrency pieces shared by the sync and async paths."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["WorkerPool", "await_future"]

T = TypeVar("T")


async def await_future(future: Future[T]) -> T:
    """Await a ``concurrent.futures.Future`` from any event loop, cancel-safely.

    Unlike ``asyncio.wrap_future``, cancelling the awaiting task never cancels
    the shared future: other waiters, in other tasks, threads or loops, still
    get its result.
    """
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: Future[T]) -> None:
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # the loop closed while we waited: nobody to wake
                pass

        future.add_done_callback(wake)
        await waiter
    return future.result()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class WorkerPool:
    """One bounded thread pool, created on first use, for blocking fetches of async callers."""

    def __init__(self, max_workers: int, name: str = "agentcore-auth") -> None:
        self._max_workers = max_workers
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        """The executor (created on first call)."""
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self._max_workers, self._name)
                executor = self._executor
        return executor

    def shutdown(self) -> None:
        """Stop the workers once their current fetches end."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=False)
