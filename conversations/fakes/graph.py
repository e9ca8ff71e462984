"""A local fake of Meta's Graph API (the WhatsApp Cloud API subset we use), over real HTTP.

    with FakeGraph(token="TEST") as graph:
        settings.META_GRAPH_URL = graph.base_url
        ...
        assert graph.sent[0]["json"]["type"] == "text"

It speaks: POST /{version}/{phone_number_id}/messages (sends and mark-read),
POST /{version}/{phone_number_id}/media (multipart upload -> {"id": ...}),
GET /{version}/{media_id} (media lookup), GET /lookaside/{token} (media download) and
GET /{version}/{waba_id}/message_templates (cursor pages; `add_templates` fills it),
with Meta's bearer check, response and error bodies. Tests script failures with
`fail_next` / `fail_for`; benchmarks switch on `rate_limit_per_second` / `pair_interval`.
`status_webhook(send, status)` builds the status webhook Meta would POST for a recorded send,
echoing its biz_opaque_callback_data as Meta does.
Everything is thread-safe; the server is HTTP/1.1 keep-alive and always sends Content-Length.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from conversations.fakes.server import FakeServer, Reply, json_reply

__all__ = ["ERROR_TITLES", "FakeGraph", "graph_error_body"]

_VERSION = r"v\d+(?:\.\d+)?"
_MESSAGES_PATH = re.compile(rf"^/(?P<version>{_VERSION})/(?P<phone_number_id>[^/]+)/messages$")
_UPLOAD_PATH = re.compile(rf"^/(?P<version>{_VERSION})/(?P<phone_number_id>[^/]+)/media$")
_MEDIA_PATH = re.compile(rf"^/(?P<version>{_VERSION})/(?P<media_id>[^/]+)$")
_TEMPLATES_PATH = re.compile(rf"^/(?P<version>{_VERSION})/(?P<waba_id>[^/]+)/message_templates$")
_LOOKASIDE_PATH = re.compile(r"^/lookaside/(?P<token>[A-Za-z0-9_\-]+)$")

# Titles Meta uses for the codes tests script; the error message is "(#code) title".
ERROR_TITLES: dict[int, str] = {
    1: "An unknown error occurred",
    2: "Service temporarily unavailable",
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131031: "Account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
}


def graph_error_body(code: int, message: str | None = None, *, details: str = "") -> dict[str, Any]:
    """Meta's synchronous error body: {"error": {message, type, code, error_data, fbtrace_id}}."""
    title = message or ERROR_TITLES.get(code, "Error")
    return {
        "error": {
            "message": f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or title},
            "fbtrace_id": "A" + secrets.token_urlsafe(15),
        }
    }


def _error_reply(status: int, code: int, message: str | None = None, *, details: str = "") -> Reply:
    return json_reply(status, graph_error_body(code, message, details=details))


@dataclass
class _Failure:
    """A scripted answer for the next matching send(s)."""

    http_status: int
    body: Any  # dict (sent as JSON) or bytes (sent raw)
    to: str | None = None  # None: any recipient
    remaining: int | None = 1  # None: forever
    retry_after: float | None = None

    def reply(self) -> Reply:
        headers = (("Retry-After", f"{self.retry_after:g}"),) if self.retry_after is not None else ()
        if isinstance(self.body, bytes):
            return Reply(status=self.http_status, body=self.body, content_type="text/html", headers=headers)
        return json_reply(self.http_status, self.body, headers)


@dataclass
class _Media:
    media_id: str
    content: bytes
    mime_type: str
    sha256: str
    file_size: str
    expire_downloads: int = 0
    corrupt_downloads: int = 0
    failing_lookups: int = 0
    gone_after_lookups: int | None = None


@dataclass
class _Log:
    """Everything the server recorded; guarded by FakeGraph._lock."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    read_marks: list[dict[str, Any]] = field(default_factory=list)
    media_lookups: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)


class FakeGraph(FakeServer):
    """The fake Graph server. Start with `with FakeGraph(...) as graph` or `start()` / `stop()`.

    Recorded (lists of dicts, copies, oldest first):
      requests    every POST to /messages: method, path, phone_number_id, headers (lower-case
                  names), json (None if not JSON), status, response
      sent        accepted sends only: path, phone_number_id, headers, json, wamid, at
      read_marks  accepted mark-read calls: path, phone_number_id, headers, json, at
    Counters: rate_limit_errors (130429), pair_limit_errors (131056), connections_opened,
    media_lookups / downloads (lists of media ids).
    """

    thread_name = "fake-graph"

    def __init__(
        self,
        token: str = "TEST",  # noqa: S107 - a fake server's fixed test token
        *,
        rate_limit_per_second: int | None = None,
        pair_interval: float | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.clock = clock  # what the rate and pair limits measure time with (tests pass a fake clock)
        self.rate_limit_per_second = rate_limit_per_second  # per phone_number_id, sliding 1 s window
        self.pair_interval = pair_interval  # minimum seconds between sends to one recipient
        self.latency = latency  # seconds slept before answering any request
        self.rate_limit_errors = 0
        self.pair_limit_errors = 0
        super().__init__(host=host, port=port)
        self._log = _Log()
        self._failures: list[_Failure] = []
        self._media: dict[str, _Media] = {}
        self._download_tokens: dict[str, str] = {}
        self._windows: dict[str, deque[float]] = {}
        self._pair_last: dict[tuple[str, str], float] = {}
        self._counter = 0
        self._templates: dict[str, list[dict[str, Any]]] = {}
        self.template_pages_served = 0
        self.template_page_size: int | None = None  # Graph may answer fewer than `limit`: tests force pages

    # ------------------------------------------------------------------ what was recorded

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log.requests)

    @property
    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log.sent)

    @property
    def read_marks(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log.read_marks)

    @property
    def media_lookups(self) -> list[str]:
        with self._lock:
            return list(self._log.media_lookups)

    @property
    def downloads(self) -> list[str]:
        with self._lock:
            return list(self._log.downloads)

    @property
    def uploads(self) -> list[dict[str, Any]]:
        """Accepted uploads: phone_number_id, media_id, messaging_product, type, filename, mime_type, content."""
        with self._lock:
            return list(self._log.uploads)

    def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` sends were accepted; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._log.sent) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self._log.sent)} of {count} sends arrived within {timeout}s")
            return list(self._log.sent)

    def status_webhook(
        self, send: dict[str, Any], status: str = "sent", *, timestamp: int | None = None
    ) -> dict[str, Any]:
        """The status webhook Meta would POST for an accepted send (an entry of `sent`).

        Like Meta, it echoes the send's biz_opaque_callback_data when the request carried one.
        """
        body = send["json"]
        item: dict[str, Any] = {
            "id": send["wamid"],
            "status": status,
            "timestamp": str(timestamp if timestamp is not None else int(send["at"])),
            "recipient_id": str(body.get("to", "")),
        }
        if "biz_opaque_callback_data" in body:
            item["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
        if status != "read":
            item["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "", "phone_number_id": send["phone_number_id"]},
            "statuses": [item],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "0", "changes": [{"value": value, "field": "messages"}]}],
        }

    def reset(self) -> None:
        """Forget recorded traffic, scripted failures, limit windows and counters (keeps media)."""
        with self._lock:
            self._log = _Log()
            self._failures.clear()
            self._windows.clear()
            self._pair_last.clear()
            self.rate_limit_errors = self.pair_limit_errors = 0

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self,
        n: int = 1,
        *,
        http_status: int = 500,
        code: int = 131000,
        message: str | None = None,
        details: str = "",
        retry_after: float | None = None,
        body: dict[str, Any] | bytes | None = None,
    ) -> None:
        """Answer the next `n` sends (any recipient) with this error (or with `body` verbatim)."""
        self._script(None, n, http_status, code, message, details, retry_after, body)

    def fail_for(
        self,
        to: str,
        *,
        n: int | None = None,
        http_status: int = 400,
        code: int = 131047,
        message: str | None = None,
        details: str = "",
        retry_after: float | None = None,
        body: dict[str, Any] | bytes | None = None,
    ) -> None:
        """Answer sends to `to` with this error, `n` times (None: until `clear_failures`)."""
        self._script(to.lstrip("+"), n, http_status, code, message, details, retry_after, body)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def _script(
        self,
        to: str | None,
        n: int | None,
        http_status: int,
        code: int,
        message: str | None,
        details: str,
        retry_after: float | None,
        body: dict[str, Any] | bytes | None,
    ) -> None:
        answer = body if body is not None else graph_error_body(code, message, details=details)
        failure = _Failure(http_status=http_status, body=answer, to=to, remaining=n, retry_after=retry_after)
        with self._lock:
            self._failures.append(failure)

    # ------------------------------------------------------------------ templates

    def add_templates(self, waba_id: str, templates: list[dict[str, Any]]) -> None:
        """Templates of a WhatsApp Business Account, as Graph lists them (id, name, language, status, ...)."""
        with self._lock:
            self._templates.setdefault(waba_id, []).extend(json.loads(json.dumps(templates)))

    def _template_list(self, waba_id: str, path: str, headers: dict[str, str]) -> Reply:
        if not self._authorized(headers):
            return _error_reply(401, 190)
        query = parse_qs(urlsplit(path).query)
        try:
            limit = max(1, min(int(query.get("limit", ["25"])[0]), 1000, self.template_page_size or 1000))
            start = int(query["after"][0]) if "after" in query else 0
        except ValueError:
            return _error_reply(400, 100, "Invalid parameter", details="limit and after must be numbers")
        with self._lock:
            if waba_id not in self._templates:
                return _error_reply(400, 100, f"Unsupported get request. Object with ID '{waba_id}' does not exist")
            items = self._templates[waba_id]
            page = items[start : start + limit]
            self.template_pages_served += 1
        end = start + len(page)
        body: dict[str, Any] = {"data": page, "paging": {"cursors": {"before": str(start), "after": str(end)}}}
        if end < len(items):
            params = {k: v[0] for k, v in query.items()}
            params["after"] = str(end)
            body["paging"]["next"] = f"{self.base_url}{urlsplit(path).path}?{urlencode(params)}"
        return json_reply(200, body)

    # ------------------------------------------------------------------ media

    def add_media(
        self,
        media_id: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        *,
        sha256: str | None = None,
        file_size: str | None = None,
        expire_downloads: int = 0,
        corrupt_downloads: int = 0,
        failing_lookups: int = 0,
        gone_after_lookups: int | None = None,
    ) -> None:
        """Register a media file. `sha256`/`file_size` override what the lookup announces (to lie);
        the first `expire_downloads` downloads answer 404 like an expired lookaside URL, the first
        `corrupt_downloads` ones send damaged bytes (a flipped last byte), and the first
        `failing_lookups` lookups answer 503 with Meta's "service unavailable" (131016); after
        `gone_after_lookups` lookups the id is unknown, as when Meta no longer keeps the file."""
        media = _Media(
            media_id=media_id,
            content=content,
            mime_type=mime_type,
            sha256=sha256 if sha256 is not None else hashlib.sha256(content).hexdigest(),
            file_size=file_size if file_size is not None else str(len(content)),
            expire_downloads=expire_downloads,
            corrupt_downloads=corrupt_downloads,
            failing_lookups=failing_lookups,
            gone_after_lookups=gone_after_lookups,
        )
        with self._lock:
            self._media[media_id] = media

    def media_url(self, media_id: str) -> str:
        """A fresh download URL for registered media (what a lookup would return)."""
        with self._lock:
            return self._mint_download_url(media_id)

    def _mint_download_url(self, media_id: str) -> str:
        token = secrets.token_urlsafe(18)
        self._download_tokens[token] = media_id
        return f"{self.base_url}/lookaside/{token}"

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request (called from the server's handler threads)."""
        if self.latency:
            time.sleep(self.latency)
        route = urlsplit(path).path
        try:
            if method == "POST" and (match := _MESSAGES_PATH.match(route)):
                return self._messages(match["phone_number_id"], path, headers, body)
            if method == "POST" and (match := _UPLOAD_PATH.match(route)):
                return self._upload(match["phone_number_id"], headers, body)
            if method == "GET" and (match := _TEMPLATES_PATH.match(route)):
                return self._template_list(match["waba_id"], path, headers)
            if method == "GET" and (match := _LOOKASIDE_PATH.match(route)):
                return self._download(match["token"], headers)
            if method == "GET" and (match := _MEDIA_PATH.match(route)):
                return self._media_lookup(match["media_id"], headers)
        except Exception as exc:  # a bug in the fake must show up as a failed request, not a hang
            return _error_reply(500, 1, f"fake graph crashed: {type(exc).__name__}: {exc}")
        return _error_reply(400, 100, f"Unsupported {method.lower()} request", details=f"no route for {route}")

    def _authorized(self, headers: dict[str, str]) -> bool:
        return secrets.compare_digest(headers.get("authorization", ""), f"Bearer {self.token}")

    def _messages(self, phone_number_id: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        data = _decode_json(body)
        reply = self._messages_reply(phone_number_id, path, headers, data)
        record = {
            "method": "POST",
            "path": path,
            "phone_number_id": phone_number_id,
            "headers": headers,
            "json": data,
            "status": reply.status,
            "response": _decode_json(reply.body),
        }
        with self._lock:
            self._log.requests.append(record)
            self._lock.notify_all()
        return reply

    def _messages_reply(self, phone_number_id: str, path: str, headers: dict[str, str], data: Any) -> Reply:
        if not self._authorized(headers):
            return _error_reply(401, 190)
        problem = _payload_problem(data)
        if problem:
            return _error_reply(400, 100, details=problem)
        entry = {"path": path, "phone_number_id": phone_number_id, "headers": headers, "json": data}
        if data.get("status") == "read":
            with self._lock:
                self._log.read_marks.append({**entry, "at": time.time()})
            return json_reply(200, {"success": True})
        return self._accept_send(phone_number_id, str(data["to"]), entry)

    def _accept_send(self, phone_number_id: str, to: str, entry: dict[str, Any]) -> Reply:
        with self._lock:
            failure = self._take_failure(to)
            if failure is not None:
                return failure.reply()
            now = self.clock()
            limited = self._limit_reply(phone_number_id, to, now)
            if limited is not None:
                return limited
            self._windows.setdefault(phone_number_id, deque()).append(now)
            self._pair_last[(phone_number_id, to)] = now
            self._counter += 1
            wamid = f"wamid.FAKE{self._counter:08d}{secrets.token_hex(8).upper()}"
            self._log.sent.append({**entry, "wamid": wamid, "at": time.time()})
            self._lock.notify_all()
        response = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }
        return json_reply(200, response)

    def _take_failure(self, to: str) -> _Failure | None:
        """The first scripted failure matching `to`, used up once (caller holds the lock)."""
        for failure in self._failures:
            if failure.to in (None, to):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    def _limit_reply(self, phone_number_id: str, to: str, now: float) -> Reply | None:
        """130429 over the per-number rate, 131056 inside the pair interval (caller holds the lock)."""
        if self.rate_limit_per_second:
            window = self._windows.setdefault(phone_number_id, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.rate_limit_per_second:
                self.rate_limit_errors += 1
                return _error_reply(400, 130429, details="Cloud API message throughput has been reached.")
        last = self._pair_last.get((phone_number_id, to))
        if self.pair_interval and last is not None and now - last < self.pair_interval:
            self.pair_limit_errors += 1
            return _error_reply(
                400,
                131056,
                details="Too many messages sent from the sender phone number to the same recipient phone number "
                "in a short period of time.",
            )
        return None

    def _upload(self, phone_number_id: str, headers: dict[str, str], body: bytes) -> Reply:
        """Meta's media upload: multipart file + type + messaging_product=whatsapp -> {"id": media_id}."""
        if not self._authorized(headers):
            return _error_reply(401, 190)
        fields = _multipart_fields(headers.get("content-type", ""), body)
        if fields is None:
            return _error_reply(400, 100, details="The request must be multipart/form-data")
        checks = (
            (_field_text(fields, "messaging_product") == "whatsapp", "Param messaging_product must be whatsapp"),
            (bool(_field_text(fields, "type")), "Param type is required"),
            ("file" in fields and bool(fields["file"][1]), "Param file is required"),
        )
        problem = next((message for ok, message in checks if not ok), "")
        if problem:
            return _error_reply(400, 100, details=problem)
        filename, content, part_type = fields["file"]
        with self._lock:
            self._counter += 1
            media_id = f"{9_000_000_000_000 + self._counter}"
            mime_type = _field_text(fields, "type")
            self._media[media_id] = _Media(
                media_id=media_id,
                content=content,
                mime_type=mime_type,
                sha256=hashlib.sha256(content).hexdigest(),
                file_size=str(len(content)),
            )
            self._log.uploads.append(
                {
                    "phone_number_id": phone_number_id,
                    "media_id": media_id,
                    "messaging_product": _field_text(fields, "messaging_product"),
                    "type": mime_type,
                    "filename": filename,
                    "mime_type": part_type,
                    "content": content,
                }
            )
        return json_reply(200, {"id": media_id})

    def _media_lookup(self, media_id: str, headers: dict[str, str]) -> Reply:
        if not self._authorized(headers):
            return _error_reply(401, 190)
        with self._lock:
            self._log.media_lookups.append(media_id)
            media = self._media.get(media_id)
            if media is not None and media.gone_after_lookups is not None:
                if media.gone_after_lookups <= 0:
                    media = None
                else:
                    media.gone_after_lookups -= 1
            if media is None:
                return _error_reply(
                    400,
                    100,
                    f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded "
                    "due to missing permissions, or does not support this operation",
                )
            if media.failing_lookups > 0:
                media.failing_lookups -= 1
                return _error_reply(503, 131016)
            url = self._mint_download_url(media_id)
        info = {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": media.file_size,
            "id": media_id,
        }
        return json_reply(200, info)

    def _download(self, token: str, headers: dict[str, str]) -> Reply:
        if not self._authorized(headers):
            return _error_reply(401, 190)
        with self._lock:
            media = self._media.get(self._download_tokens.get(token, ""))
            if media is None:
                return Reply(status=404, body=b"Not Found", content_type="text/plain")
            self._log.downloads.append(media.media_id)
            if media.expire_downloads > 0:
                media.expire_downloads -= 1
                del self._download_tokens[token]
                return Reply(status=404, body=b"URL signature expired", content_type="text/plain")
            content = media.content
            if media.corrupt_downloads > 0:
                media.corrupt_downloads -= 1
                content = content[:-1] + bytes([content[-1] ^ 0xFF]) if content else b"\0"
        return Reply(status=200, body=content, content_type=media.mime_type)


def _multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str, bytes, str]] | None:
    """name -> (filename, bytes, part content type) of a multipart/form-data body; None if it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    fields: dict[str, tuple[str, bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = (part.get_filename() or "", payload, part.get_content_type())
    return fields


def _field_text(fields: dict[str, tuple[str, bytes, str]], name: str) -> str:
    return fields[name][1].decode("utf-8", "replace") if name in fields else ""


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None


def _payload_problem(data: Any) -> str:
    """Why Graph would reject this /messages body with code 100, or '' (shape only, not limits)."""
    if not isinstance(data, dict):
        return "The request body must be a JSON object"
    if data.get("messaging_product") != "whatsapp":
        return "Param messaging_product must be whatsapp"
    if data.get("status") == "read":
        return "" if isinstance(data.get("message_id"), str) and data["message_id"] else "Param message_id is required"
    kind = data.get("type", "text")
    checks: tuple[tuple[bool, str], ...] = (
        (isinstance(data.get("to"), str) and bool(data.get("to")), "Param to is required"),
        (data.get("recipient_type", "individual") == "individual", "Param recipient_type must be individual"),
        (isinstance(kind, str) and isinstance(data.get(kind), dict), f"Param {kind} is required for type {kind}"),
    )
    return next((message for ok, message in checks if not ok), "")
