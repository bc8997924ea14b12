"""Small concurrency pieces shared by the sync and async paths."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["StepDriver", "Steps", "Wait", "Wake", "WorkerPool", "await_future", "run_steps"]

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


class Wake(threading.Event):
    """A ``threading.Event`` that also calls callbacks when set (from the setter's thread).

    What lets an async caller await an event another thread sets, without a thread
    blocked in :meth:`wait` for it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], None]] = []
        self._callbacks_lock = threading.Lock()

    def set(self) -> None:
        """Set the event and call every callback added (each may be called more than once)."""
        super().set()
        with self._callbacks_lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_set(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when set (at once if set already); returns what removes it."""
        with self._callbacks_lock:
            self._callbacks.append(callback)
        if self.is_set():
            callback()

        def remove() -> None:
            with self._callbacks_lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove


class Wait:
    """A pause a multi-step fetch asks for: until ``wake`` is set, at most ``timeout`` s.

    A sync caller blocks its thread in :meth:`block`; an async caller awaits
    :meth:`until_woken` on its event loop, holding no worker thread meanwhile.
    The step after the pause looks at the world again either way.
    """

    __slots__ = ("timeout", "wake")

    def __init__(self, wake: Wake, timeout: float) -> None:
        self.wake = wake
        self.timeout = max(0.0, timeout)

    def __repr__(self) -> str:
        return f"Wait(timeout={self.timeout:.3f}, set={self.wake.is_set()})"

    def block(self) -> None:
        """Wait on this thread."""
        self.wake.wait(self.timeout)

    async def until_woken(self) -> None:
        """Wait on the running event loop (the setter's thread wakes it thread-safely)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(_resolve, woken)
            except RuntimeError:  # the loop closed meanwhile: nobody to wake
                pass

        remove = self.wake.on_set(wake)
        try:
            async with asyncio.timeout(self.timeout):
                await woken
        except TimeoutError:
            pass
        finally:
            remove()


#: Work in steps: a generator that yields a :class:`Wait` wherever it must wait for
#: another thread or process, and does its blocking work between the waits.
Steps = Generator[Wait, None, None]


def run_steps(steps: Steps, wait: Wait | None = None) -> None:
    """Run ``steps`` to the end on this thread, blocking in each wait (first ``wait``)."""
    if wait is not None:
        wait.block()
    for wait in steps:
        wait.block()


def _next_step(steps: Steps) -> Wait | None:
    return next(steps, None)


class StepDriver:
    """Runs steps for async callers: each step in ``pool``, each wait on the caller's loop.

    A caller waiting (e.g. for another process's fetch) holds no worker thread, so
    waits never queue unrelated fetches behind them. If the loop goes away while a
    wait is pending (cancelled, closed), or the pool is shut down, the rest runs on
    a thread of its own: steps started always end.
    """

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._waiting: set[asyncio.Task[None]] = set()  # strong references

    def start(self, steps: Steps, context: contextvars.Context) -> None:
        """Run ``steps`` in ``context`` (RuntimeError if the pool is shut down).

        Call it on the event loop whose thread should await the waits.
        """
        self._step(steps, context, asyncio.get_running_loop())

    def _step(self, steps: Steps, context: contextvars.Context,
              loop: asyncio.AbstractEventLoop) -> None:
        step = self._pool.get().submit(context.run, _next_step, steps)
        step.add_done_callback(functools.partial(self._stepped, steps, context, loop))

    def _stepped(self, steps: Steps, context: contextvars.Context,
                 loop: asyncio.AbstractEventLoop, step: Future[Wait | None]) -> None:
        """A step ended, in its worker: the end, or a wait to await on the loop."""
        if step.cancelled() or step.exception() is not None:
            return  # the steps' own business (KeyboardInterrupt and the like)
        wait = step.result()
        if wait is None:
            return
        try:
            loop.call_soon_threadsafe(self._await_on_loop, wait, steps, context, loop)
        except RuntimeError:  # the caller's loop is closed: the rest on this thread
            context.run(run_steps, steps, wait)

    def _await_on_loop(self, wait: Wait, steps: Steps, context: contextvars.Context,
                       loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._resume_after(wait, steps, context, loop))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def _resume_after(self, wait: Wait, steps: Steps, context: contextvars.Context,
                            loop: asyncio.AbstractEventLoop) -> None:
        try:
            await wait.until_woken()
        except asyncio.CancelledError:  # the loop is going away
            _finish_on_thread(steps, context, wait)
            raise
        try:
            self._step(steps, context, loop)
        except RuntimeError:  # the pool was shut down meanwhile
            _finish_on_thread(steps, context, None)


def _finish_on_thread(steps: Steps, context: contextvars.Context, wait: Wait | None) -> None:
    threading.Thread(target=context.run, args=(run_steps, steps, wait),
                     name="agentcore-auth-steps", daemon=True).start()
