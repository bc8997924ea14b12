"""A fleet of agent processes against one LocalAgentCore, for fleet-mode tests and benchmarks.

Each worker is ``python -m agentcore_auth.testing._fleet``: a resolver over
:class:`~agentcore_auth.sources.AgentCoreIdentitySource` (pointed at the emulator
by its environment variables), with or without a
:class:`~agentcore_auth.fleet.RedisSharedCache`, driven by JSON lines on stdin.
Replies never carry a secret value, only fingerprints and counts. Commands:

- ``setup`` (again: replaces the resolver): ``workload``, ``redis_url`` (None: no
  shared tier), ``cluster`` (a Redis Cluster), ``data_key`` (hex), ``kms_key_id``,
  ``prefix``, ``fleet``, ``ttl``, ``lock_lease``, ``retry_interval``, ``op_timeout``,
  ``miss_budget``, ``slow`` (seconds each source fetch waits), ``gated`` (each source
  fetch waits for ``release``);
- ``hold``: ``providers``: resolve each in a thread of its own and answer once every
  one's source fetch has begun (so this process holds their fleet locks, renewing them);
- ``release``: let the held fetches end; the reply has their fingerprints;
- ``refuse``: ``provider``: ``resolver.invalidate(secret)`` on its current value (what a
  401 does, spurious or not); the reply has how many local entries it dropped;
- ``fork``: ``provider``, ``children``, ``wait``: fork that many children of this
  process (its cache made before the fork); each resolves ``provider``, then waits up to
  ``wait`` s for a drop notice and resolves it again; the reply has their first
  fingerprints, ``fork_join`` the rest (drops received, second fingerprints);
- ``get``: ``provider``: resolve an API key; the reply has its fingerprint;
- ``call``: ``provider``, ``url``, ``n`` (or ``seconds``), ``pause``: call the protected
  API through a ``requires_api_key`` tool; the reply counts statuses and 401s, and lists
  ``changes``: ``[time.time(), fingerprint]`` of each first request with another value;
- ``watch``: ``queue_url`` (None: stop watching), ``wait``: a
  :class:`~agentcore_auth.RotationWatcher` on the resolver; the reply has its stats;
- ``invalidate``: ``provider``: ``resolver.invalidate(provider)`` (what a RotationWatcher
  does); the reply has how many local entries it dropped;
- ``stats``: the resolver's and the shared tier's counters;
- ``quit``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import IO, Any

__all__ = ["Fleet"]


class Fleet:
    """``n`` worker processes; :meth:`all` sends one command to each and gathers the replies.

    Args:
        n: how many processes.
        env: environment variables added to each worker's (the emulator's ``env_vars()``).
    """

    def __init__(self, n: int, env: Mapping[str, str]) -> None:
        self._logs: list[IO[bytes]] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        environ = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        for _ in range(n):
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
            self._logs.append(log)
            self.processes.append(
                subprocess.Popen(  # noqa: S603 - this package's own module
                    [sys.executable, "-m", "agentcore_auth.testing._fleet"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=environ,
                )
            )

    def __len__(self) -> int:
        return len(self.processes)

    def send(self, index: int, op: str, **args: Any) -> None:
        """Send one command to worker ``index`` (read its answer with :meth:`reply`)."""
        stdin = self.processes[index].stdin
        assert stdin is not None
        stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        stdin.flush()

    def reply(self, index: int) -> dict[str, Any]:
        """The next answer of worker ``index``; RuntimeError if it failed or died."""
        stdout = self.processes[index].stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"fleet worker {index} exited: {self.log(index)[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"fleet worker {index}: {answer['error']}")
        return answer

    def all(self, op: str, indexes: list[int] | None = None, **args: Any) -> list[dict[str, Any]]:
        """Send ``op`` to every worker (or ``indexes``) at once, then gather the answers."""
        chosen = list(range(len(self.processes))) if indexes is None else indexes
        for index in chosen:
            self.send(index, op, **args)
        return [self.reply(index) for index in chosen]

    def kill(self, index: int) -> None:
        """SIGKILL worker ``index`` (no clean-up runs in it)."""
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def log(self, index: int) -> str:
        """What worker ``index`` wrote to stderr (its log records) so far."""
        log = self._logs[index]
        log.seek(0)
        return log.read().decode(errors="replace")

    def close(self) -> None:
        """Ask every worker to quit, then make sure it did."""
        for index, process in enumerate(self.processes):
            if process.poll() is None:
                try:
                    self.send(index, "quit")
                except OSError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        for log in self._logs:
            log.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- the worker ------------------------------------------------------------------------------


class _Worker:
    def __init__(self) -> None:
        self.resolver: Any = None
        self.shared: Any = None
        self.watcher: Any = None
        self.gate: _Gated | None = None
        self.held: list[Any] = []
        self.children: list[tuple[int, IO[str]]] = []

    def setup(self, args: dict[str, Any]) -> dict[str, Any]:
        from agentcore_auth import AgentCoreIdentitySource, CredentialResolver

        self.close()  # a second setup replaces the first
        source: Any = AgentCoreIdentitySource(workload_name=args["workload"])
        if args.get("slow"):
            source = _Slow(source, float(args["slow"]))
        if args.get("gated"):
            source = self.gate = _Gated(source)
        if args.get("redis_url"):
            from agentcore_auth.fleet import RedisSharedCache

            data_key = bytes.fromhex(args["data_key"]) if args.get("data_key") else None
            self.shared = RedisSharedCache(
                args["redis_url"],
                data_key=data_key,
                kms_key_id=args.get("kms_key_id"),
                lock_lease=float(args.get("lock_lease", 10.0)),
                prefix=args.get("prefix") or "agentcore-auth:",
                fleet=args.get("fleet"),
                retry_interval=float(args.get("retry_interval", 5.0)),
                **{option: float(args[option]) for option in ("op_timeout", "miss_budget")
                   if option in args},
                cluster=bool(args.get("cluster", False)),
            )
        self.resolver = CredentialResolver(
            source,
            ttl=float(args.get("ttl", 60.0)),
            shared_cache=self.shared,
            redact_logs=True,
        )
        return {"pid": os.getpid()}

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.resolver is not None:
            self.resolver.close()
        if self.shared is not None:
            self.shared.close()
        self.resolver = self.shared = None

    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        secret = self.resolver.get_api_key(args["provider"])
        return {"fingerprint": secret.fingerprint, "seconds": time.perf_counter() - start}

    def call(self, args: dict[str, Any]) -> dict[str, Any]:
        import httpx

        from agentcore_auth import CredentialRejectedError, Secret, requires_api_key

        statuses: dict[str, int] = {}
        met_401 = 0
        failures = 0
        changes: list[tuple[float, str]] = []
        with httpx.Client(timeout=30.0) as client:

            @requires_api_key(provider_name=args["provider"], resolver=self.resolver)
            def tool(attempts: list[int], *, api_key: str) -> int:
                attempts.append(1)
                fingerprint = Secret(api_key).fingerprint
                if not changes or changes[-1][1] != fingerprint:
                    changes.append((time.time(), fingerprint))
                response = client.get(args["url"], headers={"x-api-key": api_key})
                return response.raise_for_status().status_code

            deadline = time.monotonic() + float(args.get("seconds", 0.0))
            count = 0
            while count < int(args.get("n", 0)) or time.monotonic() < deadline:
                count += 1
                attempts: list[int] = []
                try:
                    status = str(tool(attempts))  # type: ignore[call-arg]
                except CredentialRejectedError:
                    status = "rejected"
                    failures += 1
                except Exception as exc:  # noqa: BLE001 - counted and named
                    status = type(exc).__name__
                    failures += 1
                met_401 += len(attempts) - 1
                statuses[status] = statuses.get(status, 0) + 1
                if args.get("pause"):
                    time.sleep(float(args["pause"]))
        return {"statuses": statuses, "met_401": met_401, "failures": failures, "calls": count,
                "changes": changes}

    def watch(self, args: dict[str, Any]) -> dict[str, Any]:
        from agentcore_auth import RotationWatcher

        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if args.get("queue_url"):
            self.watcher = RotationWatcher(self.resolver, queue_url=args["queue_url"],
                                           wait_time_seconds=int(args.get("wait", 1))).start()
            deadline = time.monotonic() + 30
            while not self.watcher.healthy and time.monotonic() < deadline:
                time.sleep(0.01)
        return {"watcher": None if self.watcher is None
                else dataclasses.asdict(self.watcher.stats)}

    def hold(self, args: dict[str, Any]) -> dict[str, Any]:
        import concurrent.futures

        assert self.gate is not None, "setup with gated=True first"
        pool = concurrent.futures.ThreadPoolExecutor(len(args["providers"]))
        begun = self.gate.entered + len(args["providers"])
        self.held = [pool.submit(self.resolver.get_api_key, p) for p in args["providers"]]
        pool.shutdown(wait=False)
        return {"holding": self.gate.wait_entered(begun, timeout=30.0)}

    def release(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self.gate is not None
        self.gate.open.set()
        held, self.held = self.held, []
        return {"fingerprints": [f.result(timeout=30).fingerprint for f in held]}

    def refuse(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"dropped": self.resolver.invalidate(self.resolver.get_api_key(args["provider"]))}

    def fork(self, args: dict[str, Any]) -> dict[str, Any]:
        for _ in range(int(args.get("children", 2))):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns to the command loop
                os.close(read)
                code = 1
                try:
                    with os.fdopen(write, "w") as out:
                        self._child(args, out)
                    code = 0
                finally:
                    os._exit(code)
            os.close(write)
            self.children.append((pid, os.fdopen(read)))
        return {"children": [json.loads(r.readline() or "{}") for _, r in self.children]}

    def _child(self, args: dict[str, Any], out: IO[str]) -> None:
        shared = self.shared
        shared._subscribed.wait(10.0)  # its own listener (restarted after the fork)
        start = time.perf_counter()
        first = self.resolver.get_api_key(args["provider"]).fingerprint
        out.write(json.dumps({"first": first, "seconds": time.perf_counter() - start}) + "\n")
        out.flush()
        deadline = time.monotonic() + float(args.get("wait", 10.0))
        while shared.stats.local_drops == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        then = self.resolver.get_api_key(args["provider"]).fingerprint
        stats = shared.stats
        out.write(json.dumps({"drops": stats.local_drops, "forks": stats.forks,
                              "then": then}) + "\n")

    def fork_join(self, args: dict[str, Any]) -> dict[str, Any]:
        children, self.children = self.children, []
        answers = []
        for pid, read in children:
            line = read.readline()
            read.close()
            _, status = os.waitpid(pid, 0)
            answers.append({**(json.loads(line) if line else {}),
                            "exit": os.waitstatus_to_exitcode(status)})
        return {"children": answers}

    def invalidate(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"dropped": self.resolver.invalidate(args["provider"])}

    def stats(self, args: dict[str, Any]) -> dict[str, Any]:
        answer = {"resolver": dataclasses.asdict(self.resolver.stats)}
        if self.shared is not None:
            answer["shared"] = dataclasses.asdict(self.shared.stats)
        return answer


class _Slow:
    """A source that waits before each fetch (to hold the fleet's lock for a while)."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "slow")
        self.delay = delay

    def binding(self) -> tuple[str, ...]:
        """The wrapped source's (a wrapper shares its names)."""
        return tuple(self.inner.binding())

    def fetch(self, request: Any, identity: Any) -> Any:
        time.sleep(self.delay)
        return self.inner.fetch(request, identity)


class _Gated:
    """A source whose fetches wait until ``open`` is set (counting those that began)."""

    def __init__(self, inner: Any) -> None:
        import threading

        self.inner = inner
        self.name = getattr(inner, "name", "gated")
        self.open = threading.Event()
        self.entered = 0
        self._changed = threading.Condition()

    def binding(self) -> tuple[str, ...]:
        """The wrapped source's (a wrapper shares its names)."""
        return tuple(self.inner.binding())

    def fetch(self, request: Any, identity: Any) -> Any:
        with self._changed:
            self.entered += 1
            self._changed.notify_all()
        self.open.wait(60.0)
        return self.inner.fetch(request, identity)

    def wait_entered(self, count: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.entered >= count, timeout)
            return self.entered


def main() -> None:
    """Serve commands from stdin until ``quit`` or end of input."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    worker = _Worker()
    out = sys.stdout
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op == "quit":
            break
        try:
            answer = getattr(worker, op)(command)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    worker.close()


if __name__ == "__main__":
    main()
