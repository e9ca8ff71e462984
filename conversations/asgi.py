"""A lean ASGI route for provider webhook POSTs, in front of Django's ASGI handler.

Under Daphne, Django's ASGI handler runs each sync middleware method and the view
through separate sync_to_async hops in a thread created for the request: measured
at about 2 ms of CPU for a bare view (bench/), a ceiling near 450 requests/s per
core. A webhook POST needs none of the middleware (no session, user, CSRF, locale,
messages), so this route reads the body on the event loop and hands it to the
`DeliveryWriter`: one thread that stores the POSTs of a burst together with
`webhook_receive_many` (the same code as the DRF view) in one multi-row INSERT,
then answers each of them. That is a group commit: every delivery is durable
before its 200, and the database pays one statement for a batch instead of one per
request. Everything else (including the GET handshake) goes to Django unchanged.

Only POSTs whose signature matches reach the writer: the check runs here, on the
event loop, and a refused POST is kept small (and rate limited per client address)
in a plain INSERT of its own, so a flood of bad POSTs never queues in front of the
real deliveries. The writer thread is supervised: a POST waits at most
WEBHOOK_WRITER_WAIT seconds for its answer (503 after that), a dead thread is
restarted by the next POST, and /healthz reports it meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.utils.datastructures import CaseInsensitiveMapping

from conversations.providers import PROVIDERS
from conversations.services.channels import webhook_secrets, webhook_secrets_cached
from conversations.webhooks import (
    READ_TIMEOUT,
    UNAVAILABLE,
    UNKNOWN_PROVIDER,
    WebhookAnswer,
    WebhookPost,
    checks_on,
    signature_verdict,
    webhook_bad_signature,
    webhook_receive_many,
    webhook_too_large,
)

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_Item = tuple[WebhookPost, asyncio.AbstractEventLoop, "asyncio.Future[WebhookAnswer]"]

_STOP: Any = object()
_writers: weakref.WeakSet[DeliveryWriter] = weakref.WeakSet()
_WEBHOOK_PATH = re.compile(r"^/(?:webhook|webhooks/(?P<provider>[a-z0-9_-]+)/)$")


class DeliveryWriter:
    """Stores the webhook POSTs of every event loop of the process in batches, from one thread.

    The thread takes whatever has queued up (at most `max_batch` POSTs or about
    `max_bytes` of bodies) while it wrote the previous batch, so a quiet server writes
    batches of one with no added delay and a busy one writes fewer, larger INSERTs.
    A POST waits at most `wait` seconds (WEBHOOK_WRITER_WAIT) for its answer; a
    thread that died is replaced by the next POST.
    """

    def __init__(
        self,
        *,
        max_batch: int = 256,
        max_bytes: int = 4 * 1024 * 1024,
        ping_after: float = 30.0,
        wait: float | None = None,
    ) -> None:
        self.max_batch = max_batch
        self.max_bytes = max_bytes
        self.ping_after = ping_after
        self.wait = wait  # None: settings.WEBHOOK_WRITER_WAIT
        self.restarts = 0
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_write = 0.0
        self._busy_since: float | None = None
        self._death = ""
        _writers.add(self)

    async def receive(self, post: WebhookPost) -> WebhookAnswer:
        """Queue a checked POST and wait for its answer: 503 when it does not come in time."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WebhookAnswer] = loop.create_future()
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._start()
        self._queue.put((post, loop, future))
        wait = settings.WEBHOOK_WRITER_WAIT if self.wait is None else self.wait
        try:
            async with asyncio.timeout(wait):
                return await future  # on timeout the future is cancelled: the writer skips it
        except TimeoutError:
            logger.error("Webhook writer gave no answer within %.1f s; answering 503 (the provider retries)", wait)
            return UNAVAILABLE

    def _start(self) -> None:
        with self._start_lock:
            thread = self._thread
            if thread is not None and thread.is_alive():
                return
            if thread is not None:
                self.restarts += 1
                logger.error("Webhook writer thread is dead (%s); starting a new one", self._death or "it ended")
            self._death = ""
            self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread and close its database connection."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():  # a dead one would leave _STOP for its successor
            self._queue.put(_STOP)
            thread.join(timeout)

    def problem(self, *, now: float | None = None) -> str | None:
        """Why this writer cannot store POSTs right now (for /healthz), or None when it can."""
        thread = self._thread
        if thread is not None and not thread.is_alive():
            return f"webhook writer thread is dead ({self._death or 'it ended'}); the next POST restarts it"
        busy = self._busy_since
        wait = settings.WEBHOOK_WRITER_WAIT if self.wait is None else self.wait
        now = time.monotonic() if now is None else now
        if busy is not None and now - busy > wait:
            return f"webhook writer stuck on one batch for {now - busy:.0f} s"
        return None

    def _run(self) -> None:
        batch: list[_Item] = []
        try:
            while True:
                batch = self._next_batch()
                if not batch:
                    return
                self._write(batch)
                batch = []
        except BaseException as exc:  # the thread ends: say so, and answer whoever is waiting
            self._death = f"{type(exc).__name__}: {exc}"[:300]
            logger.critical("Webhook writer thread died (%s); the next POST restarts it", self._death, exc_info=True)
            _answer_all(batch, UNAVAILABLE)
        finally:
            self._busy_since = None
            connection.close()

    def _write(self, batch: list[_Item]) -> None:
        self._busy_since = time.monotonic()
        try:
            answers = self._store([post for post, _loop, _future in batch])
        except Exception:  # the thread must outlive any failure: answer 503, go on
            logger.exception("Webhook writer failed on a batch of %d", len(batch))
            answers = [UNAVAILABLE] * len(batch)
        self._busy_since = None
        _answer_all(batch, answers)

    def _next_batch(self) -> list[_Item]:
        """What has queued up (waiting for the first); empty once close() was called and all is written.

        A POST already answered (its wait ran out, or its client left) is not stored: its
        503 told the provider to send it again.
        """
        batch: list[_Item] = []
        size = 0
        item = self._queue.get()
        while True:
            if item is _STOP:
                if batch:
                    self._queue.put(_STOP)  # after this batch
                return batch
            if not item[2].done():
                batch.append(item)
                size += len(item[0].body)
            if len(batch) >= self.max_batch or size >= self.max_bytes:
                return batch
            try:
                item = self._queue.get_nowait() if batch else self._queue.get()
            except queue.Empty:
                return batch

    def _store(self, posts: list[WebhookPost]) -> list[WebhookAnswer]:
        # This thread keeps one database connection whatever DB_CONN_MAX_AGE says (that
        # setting is for Django's thread-per-request views); after an error or a quiet
        # spell it is checked first, so a connection the server dropped costs no 503.
        now = time.monotonic()
        if connection.connection is not None and (
            connection.errors_occurred or now - self._last_write > self.ping_after
        ):
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
        self._last_write = now
        try:
            return webhook_receive_many(posts)
        except Exception:
            connection.close()
            raise


def _answer_all(batch: list[_Item], answers: WebhookAnswer | list[WebhookAnswer]) -> None:
    """Hand each waiting request its answer on its own event loop."""
    if isinstance(answers, WebhookAnswer):
        answers = [answers] * len(batch)
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WebhookAnswer], WebhookAnswer]]] = {}
    for (_post, loop, future), answer in zip(batch, answers, strict=True):
        by_loop.setdefault(loop, []).append((future, answer))
    for loop, pairs in by_loop.items():
        # A closed loop (RuntimeError) has nobody waiting for these answers any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[asyncio.Future[WebhookAnswer], WebhookAnswer]]) -> None:
    for future, answer in pairs:
        if not future.done():  # a cancelled request (client gone) just drops its answer
            future.set_result(answer)


writer = DeliveryWriter()


def webhook_writers_problem() -> str | None:
    """The /healthz check: what is wrong with this process's webhook writer(s), if anything."""
    problems = [p for w in list(_writers) if (p := w.problem())]
    return "; ".join(problems) or None


class WebhookRoute:
    """Serve `POST /webhook` and `POST /webhooks/<provider>/` directly; pass everything else on."""

    def __init__(self, app: ASGIApp, *, writer: DeliveryWriter | None = None) -> None:
        self.app = app
        self.writer = writer  # None: the process's `writer`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _WEBHOOK_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        provider_name = match["provider"] or "meta"
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        client = _client(scope)
        try:
            body, size = await _read_body(
                receive, limit=limit, keep=settings.WEBHOOK_REJECTED_KEEP_BYTES, timeout=settings.WEBHOOK_READ_TIMEOUT
            )
        except TimeoutError:
            logger.warning("Webhook POST from %s: body not complete within WEBHOOK_READ_TIMEOUT; 408", client)
            await _respond(send, READ_TIMEOUT.status, READ_TIMEOUT.body)
            return
        except _ClientGone:
            return  # nobody to answer, and a partial body is nothing to keep
        if provider_name not in PROVIDERS:
            await _respond(send, UNKNOWN_PROVIDER.status, UNKNOWN_PROVIDER.body)
            return
        headers = CaseInsensitiveMapping(
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        )
        if size > limit:  # `body` is only its head
            answer = await database_sync_to_async(webhook_too_large)(
                provider_name=provider_name, head=body, size=size, headers=headers, client=client
            )
        elif (verdict := await _signature_verdict(provider_name, body, headers, _query(scope))) is False:
            # Refused here, before the writer's queue: kept small, or counted past the rate limit.
            answer = await database_sync_to_async(webhook_bad_signature)(
                provider_name=provider_name, body=body, headers=headers, client=client
            )
        else:
            answer = await (self.writer or writer).receive(WebhookPost(provider_name, body, headers, verdict, client))
        await _respond(send, answer.status, answer.body)


class _ClientGone(Exception):
    pass


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0])[:64] if client else ""


def _query(scope: Scope) -> dict[str, str]:
    """The URL's query parameters (the last value of each name); {} for none or an unreadable one."""
    raw = scope.get("query_string") or b""
    if not raw:
        return {}
    try:
        return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True, max_num_fields=20))
    except ValueError:
        return {}


async def _signature_verdict(provider_name: str, body: bytes, headers: Any, params: dict[str, str]) -> bool | None:
    """The authenticity check, on the event loop; None when checks are off (development only)."""
    if not checks_on():
        return None
    secrets = webhook_secrets_cached(provider=provider_name)
    if secrets is None:  # a query, every few seconds at most
        secrets = await database_sync_to_async(webhook_secrets)(provider=provider_name)
    return signature_verdict(provider_name=provider_name, body=body, headers=headers, secrets=secrets, params=params)


async def _read_body(receive: Receive, *, limit: int, keep: int, timeout: float) -> tuple[bytes, int]:
    """(the body, its size in bytes), all within `timeout` seconds (TimeoutError otherwise).

    Past `limit`, the rest is read and dropped: only the first `keep` bytes come back.
    _ClientGone when the client disconnects first.
    """
    body = bytearray()
    size = 0
    async with asyncio.timeout(timeout):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if not body and not message.get("more_body", False) and size <= limit:
                return chunk, size  # the usual case: the whole body in one message, no copy
            if size <= limit:
                body += chunk
            elif len(body) < keep:
                body += chunk[: keep - len(body)]
            if not message.get("more_body", False):
                break
    if size > limit:
        del body[keep:]
    return bytes(body), size


async def _respond(send: Send, status: int, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
