"""The fleet table under faults: processes, rotations, upstream calls, refetches, failures.

N worker processes (``agentcore_auth.testing._fleet``, N = 4; 2 with ``--quick``)
share a ``RedisSharedCache`` on a local ``redis-server`` and one emulator, which
counts the upstream ``GetResourceApiKey`` calls. Each fault is really performed:

- **spurious 401, then rotation**: one process refuses a still-valid value (a
  transient 401), then the secret rotates and the processes call the protected API;
  every process must end on the new value, with one refetch for the fleet.
- **forged notices**: while the processes call the API for 4 TTLs (``ttl`` 0.5 s),
  someone with store access publishes, every 20 ms, ``drop <name> <clear tag> inf``
  and ``fail <name>`` for every stored name (the old clear format), notices sealed
  with another key, and junk; upstream calls per TTL stay ~1 for the fleet.
- **drop flood**: 16,000 junk notices, then a rotation met as a 401 by one process;
  how long until every other process dropped the old value.
- **lock squat**: a credential's lock key set with no TTL (its value removed); N-1
  cold processes resolve it: each fetches at once (one look at the lock).
- **empty restart**: the store is SIGKILLed and restarted empty while every process
  holds 10 fresh credentials; then every process resolves each of them again.
- **KMS hang**: with ``kms_key_id``, KMS (the emulator's, behind its AWS front) never
  answers; a cold stampede of N processes: every miss is answered, none fails.
- **fork**: one process forks 2 children after its cache was made; the children
  stampede a new credential, then a rotation is refused in another process: both
  children get the drop notice and refetch.
- **async waits**: another process holds N credentials' locks (its fetches wait for a
  release, renewing the leases); here N async callers wait for those fills on a resolver
  with N workers, then an unrelated credential is resolved: how long it took, against
  the same tier seen through ``fetch`` only (the waits hold the N workers; the holder
  releases after 1 s).

Each row's ``value`` is the upstream calls the fault cost, ``note`` the rest.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from typing import Any

from ._fleet_waits import async_waits
from ._harness import Row, set_target, skipped_row
from ._wiring import Bench

SCENARIO = "fleet_faults"
KEY = os.urandom(32)
PREFIX = "bf:"


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """One row per fault."""
    from agentcore_auth.testing import LocalRedis
    from agentcore_auth.testing._fleet import Fleet
    from agentcore_auth.testing._redis import redis_server_binary

    if redis_server_binary() is None:
        return [skipped_row(SCENARIO, "all", "no redis-server on PATH")]
    n = 2 if quick else 4
    rows: list[Row] = []
    with LocalRedis() as server, Fleet(n, bench.env.env_vars()) as fleet:
        run = Run(bench, fleet, server, n, quick)
        for fault in (run.spurious_401_then_rotation, run.forged_notices, run.drop_flood,
                      run.lock_squat, run.empty_restart, run.kms_hang, run.fork,
                      functools.partial(async_waits, run)):
            try:
                rows.append(fault())
            except Exception as exc:  # noqa: BLE001 - one fault's crash is its row
                what = getattr(fault, "__name__", None) or fault.func.__name__  # type: ignore[attr-defined]
                rows.append(skipped_row(SCENARIO, what.replace("_", " "),
                                        f"crashed: {type(exc).__name__}: {exc}"))
    return rows


class Run:
    def __init__(self, bench: Bench, fleet: Any, server: Any, n: int, quick: bool) -> None:
        self.bench, self.fleet, self.server, self.n = bench, fleet, server, n
        self.all = list(range(n))
        # --quick (the smoke test): fewer notices, TTLs and credentials.
        self.flood, self.ttls, self.credentials = (2_000, 2, 3) if quick else (16_000, 4, 10)

    # --- helpers -------------------------------------------------------------------------

    def setup(self, indexes: list[int] | None = None, *, warm: bool = True,
              **extra: Any) -> None:
        args: dict[str, Any] = {"workload": self.bench.workload, "redis_url": self.server.url,
                                "data_key": KEY.hex(), "prefix": PREFIX, "ttl": 60.0}
        args.update(extra)
        chosen = indexes if indexes is not None else self.all
        self.fleet.all("setup", chosen, **args)
        if not warm:  # a gated source or a hanging KMS: the first miss is the figure
            return
        # Warm (boto3 client, workload token), one provider each: not part of any figure.
        warm = {index: self.bench.provider("ff-warm").name for index in chosen}
        for index in chosen:
            self.fleet.send(index, "get", provider=warm[index])
        for index in chosen:
            self.fleet.reply(index)

    def calls(self) -> int:
        return self.bench.env.call_count("GetResourceApiKey")

    def stats(self, indexes: list[int] | None = None) -> list[dict[str, Any]]:
        return [s["shared"] for s in self.fleet.all("stats", indexes)]

    def client(self) -> Any:
        return self.server.client()

    def row(self, case: str, upstream: int, target: str, met: bool, *, processes: int,
            rotations: int, refetches: int, failures: int, note: str) -> Row:
        row: Row = {
            "scenario": SCENARIO, "case": case, "value": upstream, "unit": "upstream calls",
            "processes": processes, "rotations": rotations, "refetches": refetches,
            "failures": failures,
            "note": (f"{processes} processes, {rotations} rotations, {refetches} refetches, "
                     f"{failures} failures; {note}"),
        }
        return set_target(row, target, met and failures == 0)

    # --- the faults ----------------------------------------------------------------------

    def spurious_401_then_rotation(self) -> Row:
        self.setup()
        provider = self.bench.provider("ff-spurious")
        self.fleet.all("get", provider=provider.name)
        before = self.calls()
        self.fleet.all("refuse", [0], provider=provider.name)  # a transient 401
        time.sleep(0.2)  # the drop reaches everyone
        self.fleet.all("get", provider=provider.name)
        spurious = self.calls() - before
        provider.rotate()
        rotated = self.calls()
        answers = self.fleet.all("call", provider=provider.name, url=provider.url, n=3)
        refetches = self.calls() - rotated
        new = {a["changes"][-1][1] for a in answers}
        failures = sum(a["failures"] for a in answers)
        on_new = len(new) == 1 and all(a["statuses"].get("200") == 3 for a in answers)
        return self.row(
            "spurious 401, then rotation", spurious + refetches,
            "1 refetch each; every process on the new value", refetches == 1 and on_new,
            processes=self.n, rotations=1, refetches=refetches, failures=failures,
            note=(f"{spurious} refetch after the spurious 401, "
                  f"{sum(a['met_401'] for a in answers)} 401s met after the rotation, "
                  f"all on the new value: {on_new}"))

    def forged_notices(self) -> Row:
        ttl = 0.5
        seconds = ttl * self.ttls
        self.setup(ttl=ttl)
        provider = self.bench.provider("ff-forged")
        self.fleet.all("get", provider=provider.name)
        stop = threading.Event()
        sent = [0]

        client = self.client()
        known: dict[str, bytes] = {}  # every stored name seen, and its clear prefix

        def look() -> None:
            for key in client.scan_iter(match=PREFIX + "v:*", count=1000):
                blob = client.get(key)
                if blob is not None:
                    known[key.decode().split("{", 1)[1].rstrip("}")] = blob[:16]

        def attack() -> None:
            channel = PREFIX + "events"
            while not stop.wait(0.02):
                look()
                pipe = client.pipeline(transaction=False)
                for name, handle in known.items():
                    pipe.publish(channel, f"drop {name} {handle.hex()} inf")
                    pipe.publish(channel, f"fail {name}")
                    pipe.publish(channel, b"n1" + os.urandom(80))
                    sent[0] += 3
                pipe.execute()

        look()  # the names stored so far (the warm fill of this credential among them)
        attacker = threading.Thread(target=attack, daemon=True)
        before = self.calls()
        attacker.start()
        answers = self.fleet.all("call", provider=provider.name, url=provider.url,
                                 seconds=seconds, pause=0.01)
        stop.set()
        attacker.join()
        client.close()
        upstream = self.calls() - before
        windows = seconds / ttl
        forged = sum(s["forged_notices"] for s in self.stats())
        failures = sum(a["failures"] for a in answers)
        return self.row(
            f"forged notices ({windows:.0f} TTLs)", upstream, "~1 upstream call per TTL",
            upstream / windows <= 1.5, processes=self.n, rotations=0, refetches=upstream,
            failures=failures,
            note=(f"{upstream / windows:.2f} calls per TTL; {sent[0]} forged notices sent, "
                  f"{forged} refused in all"))

    def drop_flood(self) -> Row:
        self.setup()
        provider = self.bench.provider("ff-flood")
        self.fleet.all("get", provider=provider.name)
        drops = [s["local_drops"] for s in self.stats()]
        client = self.client()
        try:
            pipe = client.pipeline(transaction=False)
            for _ in range(self.flood):
                pipe.publish(PREFIX + "events", b"n1" + os.urandom(80))
            pipe.execute()
        finally:
            client.close()
        provider.rotate()
        before = self.calls()
        started = time.monotonic()
        first = self.fleet.all("call", [0], provider=provider.name, url=provider.url, n=1)[0]
        others = self.all[1:]
        landed = None
        while time.monotonic() - started < 120:
            now = [s["local_drops"] for s in self.stats(others)]
            if all(a > b for a, b in zip(now, drops[1:], strict=True)):
                landed = time.monotonic() - started
                break
            time.sleep(0.02)
        answers = self.fleet.all("call", others, provider=provider.name, url=provider.url,
                                 n=2)
        refetches = self.calls() - before
        failures = first["failures"] + sum(a["failures"] for a in answers)
        met = sum(a["met_401"] for a in answers)
        return self.row(
            f"drop flood ({self.flood:,} junk notices)", refetches,
            "1 refetch; the drop lands in < 1 s",
            refetches == 1 and landed is not None and landed < 1.0, processes=self.n,
            rotations=1, refetches=refetches, failures=failures,
            note=(f"drop landed everywhere {landed * 1e3:.0f} ms after the 401"
                  if landed is not None else "the drop never landed") +
                 f"; {met} 401s met by the others")

    def lock_squat(self) -> Row:
        self.setup()
        provider = self.bench.provider("ff-squat")
        client = self.client()
        try:
            known = set(client.scan_iter(match=PREFIX + "v:*", count=1000))
            self.fleet.all("get", [0], provider=provider.name)
            (value_key,) = set(client.scan_iter(match=PREFIX + "v:*", count=1000)) - known
            name = value_key.decode().split("{", 1)[1].rstrip("}")
            client.delete(value_key)
            client.set(f"{PREFIX}l:{{{name}}}", "squatter")  # no TTL
            before = self.calls()
            answers = self.fleet.all("get", self.all[1:], provider=provider.name)
            upstream = self.calls() - before
        finally:
            client.close()
        stats = self.stats(self.all[1:])
        foreign = sum(s["foreign_locks"] for s in stats)
        median = statistics.median(a["seconds"] for a in answers)
        return self.row(
            "lock squat (no TTL)", upstream, "each fetches at once (no wait)",
            foreign == len(answers) and median < 1.0, processes=self.n - 1, rotations=0,
            refetches=upstream, failures=0,
            note=f"median miss {median * 1e3:.0f} ms; {foreign} foreign locks seen")

    def empty_restart(self) -> Row:
        self.setup(retry_interval=0.5)
        providers = [self.bench.provider("ff-restart").name for _ in range(self.credentials)]
        for name in providers:
            self.fleet.all("get", provider=name)
        resyncs = [s["resyncs"] for s in self.stats()]
        self.server.kill()
        self.server.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # every listener is back (and resynced)
            now = [s["resyncs"] for s in self.stats()]
            if all(a > b for a, b in zip(now, resyncs, strict=True)):
                break
            time.sleep(0.05)
        before = self.calls()
        failures = 0
        for name in providers:
            for index in self.all:
                self.fleet.send(index, "get", provider=name)
            for index in self.all:
                try:
                    self.fleet.reply(index)
                except RuntimeError:
                    failures += 1
        upstream = self.calls() - before
        fresh = len(providers) * self.n
        return self.row(
            f"empty restart ({fresh} fresh entries)", upstream,
            # The notice log went with the store, so no process can tell whether a value
            # was refused meanwhile: each credential is revalidated once fleet-wide (its
            # entries served stale until then), never once per process.
            "<= 1 upstream call per credential, none fails",
            upstream <= len(providers),
            processes=self.n, rotations=0, refetches=upstream, failures=failures,
            note=f"{fresh} still-fresh local entries across the fleet before the restart")

    def kms_hang(self) -> Row:
        from agentcore_auth.testing._server import Response

        release = threading.Event()
        hanging = [True]
        seen = [0]

        def handle(aws: Any) -> Any:
            if not hanging[0]:
                return self.bench.env.front._forward(aws.http)
            seen[0] += 1
            release.wait(30)
            return Response.json({}, 500)

        for operation in ("GenerateDataKey", "Decrypt"):
            self.bench.env.front.route("kms", operation, handle)
        try:
            key_id = self.bench.env.create_kms_key()
            self.setup(data_key=None, kms_key_id=key_id, prefix="bfk:", warm=False)
            provider = self.bench.provider("ff-kms")
            before = self.calls()
            answers = self.fleet.all("get", provider=provider.name)
            upstream = self.calls() - before
        finally:
            hanging[0] = False
            release.set()
        median = statistics.median(a["seconds"] for a in answers)
        stats = self.stats()
        return self.row(
            "KMS hang (kms_key_id)", upstream, "every miss answered, none fails",
            upstream == self.n, processes=self.n, rotations=0, refetches=0, failures=0,
            note=(f"median miss {median * 1e3:.0f} ms; {seen[0]} KMS calls hung; "
                  f"{sum(s['fallbacks'] for s in stats)} local-only misses"))

    def fork(self) -> Row:
        self.setup()
        provider = self.bench.provider("ff-fork")
        before = self.calls()
        first = self.fleet.all("fork", [0], provider=provider.name, children=2,
                               wait=10.0)[0]["children"]
        filled = self.calls() - before
        provider.rotate()
        other = self.all[1]
        self.fleet.all("get", [other], provider=provider.name)  # from the store
        rotated = self.calls()
        self.fleet.all("refuse", [other], provider=provider.name)  # the 401 after rotation
        children = self.fleet.all("fork_join", [0])[0]["children"]
        refetches = self.calls() - rotated
        drops = [c.get("drops", 0) for c in children]
        failures = sum(1 for c in children if c.get("exit") != 0)
        switched = len({c.get("then") for c in children}) == 1 and \
            children[0].get("then") != first[0].get("first")
        return self.row(
            "fork (2 children of one process)", filled + refetches,
            "1 call to fill, 1 refetch; both children get the drop",
            filled == 1 and refetches == 1 and all(d >= 1 for d in drops) and switched,
            processes=self.n + 2, rotations=1, refetches=refetches, failures=failures,
            note=(f"children's drops {drops}, both on the new value: {switched}; "
                  f"stampede median {statistics.median(c['seconds'] for c in first) * 1e3:.0f}"
                  " ms"))
