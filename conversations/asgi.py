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
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.utils.datastructures import CaseInsensitiveMapping

from conversations.providers import PROVIDERS
from conversations.webhooks import (
    TOO_LARGE_KEPT,
    UNAVAILABLE,
    UNKNOWN_PROVIDER,
    WebhookAnswer,
    WebhookPost,
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
_WEBHOOK_PATH = re.compile(r"^/(?:webhook|webhooks/(?P<provider>[a-z0-9_-]+)/)$")


class DeliveryWriter:
    """Stores the webhook POSTs of every event loop of the process in batches, from one thread.

    The thread takes whatever has queued up (at most `max_batch` POSTs or about
    `max_bytes` of bodies) while it wrote the previous batch, so a quiet server writes
    batches of one with no added delay and a busy one writes fewer, larger INSERTs.
    """

    def __init__(self, *, max_batch: int = 256, max_bytes: int = 4 * 1024 * 1024, ping_after: float = 30.0) -> None:
        self.max_batch = max_batch
        self.max_bytes = max_bytes
        self.ping_after = ping_after
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_write = 0.0

    async def receive(self, post: WebhookPost) -> WebhookAnswer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WebhookAnswer] = loop.create_future()
        if self._thread is None:
            self._start()
        self._queue.put((post, loop, future))
        return await future

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread and close its database connection."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if not batch:
                    return
                self._write(batch)
        finally:
            connection.close()

    def _write(self, batch: list[_Item]) -> None:
        try:
            answers = self._store([post for post, _loop, _future in batch])
        except Exception:  # the thread must outlive any failure: answer 503, go on
            logger.exception("Webhook writer failed on a batch of %d", len(batch))
            answers = [UNAVAILABLE] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WebhookAnswer], WebhookAnswer]]] = {}
        for (_post, loop, future), answer in zip(batch, answers, strict=True):
            by_loop.setdefault(loop, []).append((future, answer))
        for loop, pairs in by_loop.items():
            # A closed loop (RuntimeError) has nobody waiting for these answers any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, pairs)

    def _next_batch(self) -> list[_Item]:
        """What has queued up (waiting for the first); empty once close() was called and all is written."""
        item = self._queue.get()
        if item is _STOP:
            return []
        batch = [item]
        size = len(item[0].body)
        while len(batch) < self.max_batch and size < self.max_bytes:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # after this batch
                break
            batch.append(item)
            size += len(item[0].body)
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


def _resolve(pairs: list[tuple[asyncio.Future[WebhookAnswer], WebhookAnswer]]) -> None:
    for future, answer in pairs:
        if not future.done():  # a cancelled request (client gone) just drops its answer
            future.set_result(answer)


writer = DeliveryWriter()


class WebhookRoute:
    """Serve `POST /webhook` and `POST /webhooks/<provider>/` directly; pass everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _WEBHOOK_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        provider_name = match["provider"] or "meta"
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body, size = await _read_body(receive, limit=limit)
        if provider_name not in PROVIDERS:
            await _respond(send, UNKNOWN_PROVIDER.status, UNKNOWN_PROVIDER.body)
            return
        headers = CaseInsensitiveMapping(
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        )
        if limit is not None and size > limit:  # `body` is only its head
            answer = await database_sync_to_async(webhook_too_large)(
                provider_name=provider_name, head=body, size=size, headers=headers
            )
        else:
            answer = await writer.receive(WebhookPost(provider_name, body, headers))
        await _respond(send, answer.status, answer.body)


async def _read_body(receive: Receive, *, limit: int | None) -> tuple[bytes, int]:
    """(the body, its size in bytes). Past `limit`, the rest is read and dropped: only the first
    TOO_LARGE_KEPT bytes come back."""
    body = bytearray()
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if not body and not message.get("more_body", False) and (limit is None or size <= limit):
            return chunk, size  # the usual case: the whole body in one message, no copy
        if limit is None or size <= limit:
            body += chunk
        elif len(body) < TOO_LARGE_KEPT:
            body += chunk[: TOO_LARGE_KEPT - len(body)]
        if not message.get("more_body", False):
            break
    if limit is not None and size > limit:
        del body[TOO_LARGE_KEPT:]
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
