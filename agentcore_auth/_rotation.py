"""RotationWatcher: Secrets Manager's own events drop cached values before any call meets a 401.

A customer routes Secrets Manager's EventBridge events (writes and rotations of a
secret) to an SQS queue with a rule; the watcher long-polls that queue on a thread
of its own, maps each event's secret to the credential providers that reference it,
and calls ``resolver.invalidate(provider_name)`` for each: every user's cached value
of those providers is dropped, so the next call fetches the new value. With a fleet
tier attached to the resolver, the drop reaches every process.

The watcher never sits on a call's path: a hit costs what it cost before, and when
the watcher fails (queue gone, throttled, credentials expired) it logs, backs off,
recovers, and the reactive refetch-on-401 stays the fallback.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from ._exceptions import ConfigurationError
from ._rotation_events import Discarded, SecretChange, fingerprint, parse_message
from ._rotation_map import ControlPlaneReferences, ProviderMap, Reference, source_references

__all__ = ["RotationWatcher", "WatcherStats"]

logger = logging.getLogger("agentcore_auth.rotation")

_MAX_MESSAGES = 10  # SQS's most per ReceiveMessage
#: Error codes after which events were lost or cannot be read until someone acts.
_SETUP_ERRORS = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
                           "AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"})


@dataclass(frozen=True, slots=True)
class WatcherStats:
    """Counters since the watcher was made (a snapshot; read ``watcher.stats`` again).

    Attributes:
        received: messages received from the queue.
        changes: messages that announced a change of a referenced secret.
        providers_dropped: ``resolver.invalidate(provider)`` calls made.
        entries_dropped: cached values those calls dropped in this process.
        discarded: malformed, foreign-account, unrelated or ignored messages.
        deleted: messages deleted from the queue once handled.
        receive_errors: failed ``ReceiveMessage`` / ``DeleteMessageBatch`` calls.
        map_refreshes: successful reads of the provider -> secret map.
        map_errors: failed reads of that map.
    """

    received: int = 0
    changes: int = 0
    providers_dropped: int = 0
    entries_dropped: int = 0
    discarded: int = 0
    deleted: int = 0
    receive_errors: int = 0
    map_refreshes: int = 0
    map_errors: int = 0


class RotationWatcher:
    """Drops a resolver's cached values when Secrets Manager announces a rotation.

    Long-polls ``queue_url`` (an SQS queue an EventBridge rule sends Secrets
    Manager's ``aws.secretsmanager`` events to; see ``docs/rotation-events.md``) on a
    background thread. For each ``PutSecretValue``, ``UpdateSecret``, ``RotateSecret``,
    ``UpdateSecretVersionStage`` or ``RotationSucceeded`` event it finds the credential
    providers whose referenced secret it names (the control plane's
    ``apiKeySecretArn`` / ``clientSecretArn``, cached and read again when an event
    names a secret or account the map does not know) and calls
    ``resolver.invalidate(provider_name)``: every user's value is dropped before the
    next call. Handled messages are deleted; malformed, foreign-account and unrelated
    ones are deleted with a warning that names them by a hash, never by content.

    Use it as a context manager (``with`` / ``async with``) or call :meth:`start` /
    :meth:`stop` (:meth:`astart` / :meth:`astop`, which never block the loop).

    Args:
        resolver: the :class:`~agentcore_auth.CredentialResolver` to drop values from
            (with a fleet tier, the drop reaches every process).
        queue_url: the SQS queue's URL.
        sqs_client: a ready ``sqs`` boto3 client (default: one for the queue's Region).
        control_client: a ready ``bedrock-agentcore-control`` client, for the map
            (default: one for the resolver's source's Region). A resolver over a
            :class:`~agentcore_auth.sources.SecretsManagerSource` uses the source's
            ``refs`` instead.
        wait_time_seconds: SQS long-poll wait, 1 to 20.
        visibility_timeout: seconds a received message stays hidden from other
            consumers while it is handled (None: the queue's own setting).
        map_max_age: read the map again after this many seconds even when nothing is
            unknown (a provider re-pointed at another secret).
        map_min_interval: at most one refresh per this many seconds for unknown
            secrets (an unrelated secret's events do not hammer the control plane).
        max_backoff: longest wait between attempts after the watcher's own failures.
        stop_timeout: how long :meth:`stop` waits for a long poll under way; a poll
            that outlasts it hands its messages back to the queue unhandled.
    """

    def __init__(
        self,
        resolver: Any,
        *,
        queue_url: str,
        sqs_client: Any = None,
        control_client: Any = None,
        wait_time_seconds: int = 20,
        visibility_timeout: int | None = None,
        map_max_age: float = 300.0,
        map_min_interval: float = 10.0,
        max_backoff: float = 60.0,
        stop_timeout: float = 2.0,
    ) -> None:
        if not callable(getattr(resolver, "invalidate", None)):
            raise ConfigurationError(
                "RotationWatcher needs a CredentialResolver (something with "
                f"invalidate(provider_name)), not {type(resolver).__name__}"
            )
        if not isinstance(queue_url, str) or not queue_url.startswith(("https://", "http://")):
            raise ConfigurationError(
                "queue_url must be the SQS queue's URL, e.g. "
                "'https://sqs.us-east-1.amazonaws.com/111122223333/secret-rotations' "
                "(aws sqs get-queue-url --queue-name NAME)"
            )
        if isinstance(wait_time_seconds, bool) or wait_time_seconds not in range(1, 21):
            raise ConfigurationError(
                f"wait_time_seconds must be an int from 1 to 20, not {wait_time_seconds!r}")
        for name, value in (("map_max_age", map_max_age), ("map_min_interval", map_min_interval),
                            ("max_backoff", max_backoff), ("stop_timeout", stop_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigurationError(f"{name} must be a number of seconds >= 0, not {value!r}")
        self.resolver = resolver
        self.queue_url = queue_url
        self._wait = wait_time_seconds
        self._visibility = visibility_timeout
        self._map_max_age = map_max_age
        self._map_min_interval = map_min_interval
        self._max_backoff = max(0.1, float(max_backoff))
        self._stop_timeout = stop_timeout
        self._sqs = _Client("sqs", sqs_client, self._region_hint(queue_url),
                            read_timeout=wait_time_seconds + 10)
        self._map = ProviderMap(self._references(resolver, control_client))
        self._counts = dict.fromkeys((f.name for f in fields(WatcherStats)), 0)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None  # what is failing now (logged once per state)
        self._attempt = 0  # failed attempts in a row
        self._last_warned = 0.0
        self._last_refresh_try = float("-inf")

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RotationWatcher(queue_url={self.queue_url!r}, {state}, providers={len(self._map)})"

    # --- life cycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        """Whether the last receive and map read worked (False while backing off)."""
        return self._failing is None and self._map.loaded

    @property
    def stats(self) -> WatcherStats:
        """A snapshot of the counters."""
        with self._lock:
            return WatcherStats(**self._counts)

    def start(self) -> RotationWatcher:
        """Start polling in the background (returns at once; no I/O here); return self."""
        if self.running:
            return self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="agentcore-auth-rotation",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling: no drop happens after this returns; waits up to ``stop_timeout``."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._stop_timeout)

    async def astart(self) -> RotationWatcher:
        """Async twin of :meth:`start` (it does no I/O, so it never blocks the loop)."""
        return self.start()

    async def astop(self) -> None:
        """Async twin of :meth:`stop`: the wait for the thread runs off the loop."""
        self._stopping.set()
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> RotationWatcher:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def __aenter__(self) -> RotationWatcher:
        return await self.astart()

    async def __aexit__(self, *_: object) -> None:
        await self.astop()

    def poll_once(self) -> int:
        """Receive and handle one batch now, on this thread; return how many messages.

        What the background thread does in a loop; for tests and for hosts that
        schedule work themselves (a Lambda, a cron). Raises on the queue's errors.
        """
        if not self._map.loaded:
            self._refresh_map()
        return self._receive_and_handle(wait=0)

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self._map.loaded or self._map.age() > self._map_max_age:
                    self._refresh_map()
                self._receive_and_handle(wait=self._wait)
            except Exception as exc:  # the watcher's own failure: never a tool call's
                if self._stopping.is_set():
                    break
                self._attempt += 1
                self._failed(exc)
                jitter = random.uniform(0.5, 1.0)  # noqa: S311 - back-off jitter, not a secret
                delay = jitter * min(self._max_backoff, 2.0 ** (self._attempt - 1))
                self._stopping.wait(delay)
        self._sqs.close()

    def _working(self) -> None:
        """A receive worked: the back-off is over."""
        if self._attempt:
            logger.info("rotation watcher recovered after %d failed attempts", self._attempt)
        self._attempt = 0
        self._failing = None

    def _receive_and_handle(self, wait: int) -> int:
        sqs = self._sqs.get()
        options: dict[str, Any] = {"QueueUrl": self.queue_url,
                                   "MaxNumberOfMessages": _MAX_MESSAGES, "WaitTimeSeconds": wait}
        if self._visibility is not None:
            options["VisibilityTimeout"] = self._visibility
        try:
            messages = sqs.receive_message(**options).get("Messages", [])
        except Exception:
            self._add("receive_errors")
            raise
        self._working()
        if not messages:
            return 0
        if self._stopping.is_set():  # stopped during the poll: hand them back untouched
            self._release(sqs, messages)
            return 0
        self._add("received", len(messages))
        done, providers = self._judge_all(messages)
        if self._stopping.is_set():  # stopped while matching (a map read): drop nothing
            self._release(sqs, messages)
            return 0
        for name in sorted(providers):  # one drop per provider per batch
            dropped = int(self.resolver.invalidate(name) or 0)
            self._add("providers_dropped")
            self._add("entries_dropped", dropped)
            logger.info("secret rotation: dropped the cached values of provider %r (%d here)",
                        name, dropped)
        self._delete(sqs, done)
        return len(messages)

    def _judge_all(self, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
        """(messages to delete, providers to drop); a message left out is retried later."""
        done: list[dict[str, Any]] = []
        providers: set[str] = set()
        for message in messages:
            body = message.get("Body")
            try:
                change = parse_message(body)
                names = self._providers(change)
            except Discarded as outcome:
                self._discard(message, body, outcome)
                done.append(message)
                continue
            except Exception as exc:  # the map could not be read: keep the message for later
                logger.warning("rotation watcher: could not match message %s to providers (%s); "
                               "it will be delivered again", _message_id(message),
                               type(exc).__name__)
                continue
            self._add("changes")
            providers |= names
            done.append(message)
        return done, providers

    def _providers(self, change: SecretChange) -> set[str]:
        """The providers ``change`` concerns, refreshing the map once if it knows nothing."""
        names = self._map.providers(change)
        known = self._map.knows_account(change.account)
        if (not names or not known) and self._may_refresh():
            self._refresh_map()
            names = self._map.providers(change)
            known = self._map.knows_account(change.account)
        secret_account = change.key[0]
        if not known or (secret_account and not self._map.knows_account(secret_account)):
            raise Discarded("the event comes from an account no credential provider or "
                            "referenced secret belongs to", kind="foreign")
        if not names:
            raise Discarded(f"{change.event_name} of a secret no credential provider references",
                            kind="unrelated")
        return names

    def _may_refresh(self) -> bool:
        now = time.monotonic()
        if now - self._last_refresh_try < self._map_min_interval:
            return False
        self._last_refresh_try = now
        return True

    def _refresh_map(self) -> None:
        self._last_refresh_try = time.monotonic()
        try:
            self._map.refresh()
        except Exception:
            self._add("map_errors")
            raise
        self._add("map_refreshes")

    def _discard(self, message: dict[str, Any], body: object, outcome: Discarded) -> None:
        self._add("discarded")
        where = fingerprint(body) if isinstance(body, str) else "-"
        log = logger.info if outcome.kind == "ignored" else logger.warning
        log("rotation watcher discarded message %s (body sha256 %s, %s): %s; it dropped nothing",
            _message_id(message), where, outcome.kind, outcome.reason)

    def _delete(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _MAX_MESSAGES):
            chunk = messages[start:start + _MAX_MESSAGES]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(chunk)]
            try:
                answer = sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception:
                self._add("receive_errors")
                raise
            self._add("deleted", len(answer.get("Successful", [])))

    def _release(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(messages)]
        try:
            sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception:  # they come back after the visibility timeout anyway
            logger.debug("rotation watcher: could not hand messages back on stop")

    def _failed(self, exc: BaseException) -> None:
        code = _error_code(exc)
        what = f"{type(exc).__name__}{f' {code}' if code else ''}"
        now = time.monotonic()
        if what != self._failing or now - self._last_warned > 300:
            self._failing, self._last_warned = what, now
            hint = (" (check the queue exists and the watcher's role may sqs:ReceiveMessage and "
                    "sqs:DeleteMessage on it; `agentcore-auth doctor --queue-url URL`)"
                    if code in _SETUP_ERRORS else "")
            logger.warning("rotation watcher: %s failed with %s%s; retrying with back-off, "
                           "tool calls are unaffected (401s still refetch)",
                           "reading the provider map" if "map" in _stage(exc) else "polling",
                           what, hint)

    def _add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # --- wiring --------------------------------------------------------------------------

    @staticmethod
    def _region_hint(queue_url: str) -> str | None:
        host = urllib.parse.urlsplit(queue_url).hostname or ""
        parts = host.split(".")
        if len(parts) >= 4 and parts[0] == "sqs":  # sqs.<region>.amazonaws.com[.cn]
            return parts[1]
        return None

    def _references(self, resolver: Any, control_client: Any) -> Callable[[], list[Reference]]:
        source = getattr(resolver, "source", None)
        refs = getattr(source, "refs", None)
        if control_client is None and isinstance(refs, dict):
            return source_references(refs)
        region = getattr(source, "region", None) if control_client is None else None
        control = _Client("bedrock-agentcore-control", control_client,
                          region if isinstance(region, str) else None)
        return ControlPlaneReferences(control.get)


class _Client:
    """A boto3 client made on first use (on the watcher's thread), or the one given."""

    def __init__(self, service: str, client: Any, region: str | None,
                 read_timeout: float = 10.0) -> None:
        self._service = service
        self._given = client
        self._client = client
        self._region = region
        self._read_timeout = read_timeout
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._client is None:
                from .sources._base import BotoClientFactory

                self._client = BotoClientFactory(
                    self._service, region=self._region, endpoint_url=None, client=None,
                    max_attempts=3, connect_timeout=2.0, read_timeout=self._read_timeout,
                ).get()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._given is None:
                close = getattr(self._client, "close", None)
                if close is not None:
                    close()
                self._client = None


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _stage(exc: BaseException) -> str:
    operation = getattr(exc, "operation_name", "") or ""
    return "map" if "CredentialProvider" in operation else "queue"


def _message_id(message: dict[str, Any]) -> str:
    value = message.get("MessageId")
    return value if isinstance(value, str) and len(value) <= 100 else "-"
