"""A local fake of YCloud's WhatsApp API (the subset we use), over real HTTP.

    with FakeYCloud(api_key="TEST") as ycloud:
        config = ChannelConfig(provider="ycloud", external_id="+576015550100",
                               access_token="TEST", base_url=ycloud.base_url)
        ...
        assert ycloud.sent[0]["json"]["type"] == "text"

It speaks (with or without a leading /v2, so base_url may be the root or root + "/v2"):
  POST /whatsapp/messages/sendDirectly   synchronous send -> WhatsappMessage (status "sent", a wamid)
  POST /whatsapp/messages                enqueue -> WhatsappMessage (status "accepted")
  POST /whatsapp/inboundMessages/{id}/markAsRead   -> 200, empty body
  POST /whatsapp/media/{phoneNumber}/upload        multipart ``file`` -> {"id": ...}
  GET  /whatsapp/media/download/{id}     the file (``add_media`` / uploads)
  GET  /whatsapp/templates               ?page=&limit=&filter.wabaId= -> {items, offset, limit, length}
Every route wants ``X-API-Key`` (401 UNAUTHORIZED otherwise) and answers errors in YCloud's shape
``{"error": {status, code, message, requestId[, whatsappApiError]}}``. Tests script send failures
with `fail_next` (429, 5xx, permanent YCloud codes or Meta codes wrapped in whatsappApiError).

Webhooks: `inbound_text_event` / `status_event` build the events YCloud would POST, and
`signed_delivery` turns one into (body bytes, headers) signed with the webhook secret, ready to
POST at /webhooks/ycloud/.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from conversations.fakes.server import FakeServer, Reply, json_reply

__all__ = ["FakeYCloud", "signed_delivery", "ycloud_error_body"]

_PREFIX = r"(?:/v2)?"
_SEND_PATH = re.compile(rf"^{_PREFIX}/whatsapp/messages(?P<direct>/sendDirectly)?$")
_READ_PATH = re.compile(rf"^{_PREFIX}/whatsapp/inboundMessages/(?P<id>[^/]+)/markAsRead$")
_UPLOAD_PATH = re.compile(rf"^{_PREFIX}/whatsapp/media/(?P<number>[^/]+)/upload$")
_DOWNLOAD_PATH = re.compile(rf"^{_PREFIX}/whatsapp/media/download/(?P<id>[^/]+)$")
_TEMPLATES_PATH = re.compile(rf"^{_PREFIX}/whatsapp/templates$")
_E164 = re.compile(r"\+[0-9]{6,20}")
_SEND_TYPES = frozenset(
    {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "interactive",
        "template",
        "location",
        "contacts",
        "reaction",
    }
)

# YCloud's error code for an HTTP status, used when a scripted failure names a Meta code.
STATUS_CODES: dict[int, str] = {
    400: "PARAM_INVALID",
    401: "UNAUTHORIZED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
# Titles Meta uses for the Meta codes tests script ("(#code) title").
META_TITLES: dict[str, str] = {
    "131000": "Something went wrong",
    "131026": "Message undeliverable",
    "131047": "Re-engagement message",
    "131048": "Spam rate limit hit",
    "131056": "(Business Account, Consumer Account) pair rate limit hit",
    "130429": "Rate limit hit",
}


def _request_id() -> str:
    return "req_" + secrets.token_urlsafe(15)


def ycloud_error_body(status: int, code: str, message: str = "", *, details: str = "") -> dict[str, Any]:
    """YCloud's error body. A numeric `code` is Meta's: it goes into whatsappApiError, as Direct Send does."""
    if code.isdigit():
        title = message or f"(#{code}) {META_TITLES.get(code, 'Error')}"
        api_error = {
            "message": title,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or title},
            "fbtrace_id": "A" + secrets.token_urlsafe(12),
        }
        error = {
            "status": status,
            "code": STATUS_CODES.get(status, "WHATSAPP_API_ERROR"),
            "message": title,
            "target": "whatsappApiError",
            "docUrl": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes",
            "requestId": _request_id(),
            "whatsappApiError": api_error,
        }
        return {"error": error}
    return {"error": {"status": status, "code": code, "message": message or code, "requestId": _request_id()}}


def _error_reply(status: int, code: str, message: str = "") -> Reply:
    return json_reply(status, ycloud_error_body(status, code, message))


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def signed_delivery(
    event: dict[str, Any], *, secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a webhook delivery as YCloud POSTs it: JSON, signed 't=<ts>,s=<hmac hex>'.

    Signed here independently of the provider's code, so a bug there cannot hide itself.
    """
    body = json.dumps(event, ensure_ascii=False).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "YCloud-Signature": f"t={stamp},s={digest}"}


@dataclass
class _Failure:
    status: int
    body: dict[str, Any] | bytes
    remaining: int
    retry_after: float | None = None

    def reply(self) -> Reply:
        headers = (("Retry-After", f"{self.retry_after:g}"),) if self.retry_after is not None else ()
        if isinstance(self.body, bytes):
            return Reply(status=self.status, body=self.body, content_type="text/html", headers=headers)
        return json_reply(self.status, self.body, headers)


@dataclass
class _Media:
    content: bytes
    mime_type: str
    failing_downloads: int = 0


@dataclass
class _Log:
    """Everything the server recorded; guarded by FakeYCloud._lock."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    read_marks: list[str] = field(default_factory=list)
    downloads: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)


class FakeYCloud(FakeServer):
    """The fake YCloud server. Start with `with FakeYCloud(...) as ycloud` or `start()` / `stop()`.

    Recorded (copies, oldest first):
      requests    every send attempt: path, headers (lower-case names), json, status, response
      sent        accepted sends: path, direct (bool), headers, json, id, wamid, at
      read_marks  message ids marked as read
      downloads   every download attempt: media_id, authorized (bool), headers
      uploads     accepted uploads: number, media_id, filename, mime_type, content
    """

    thread_name = "fake-ycloud"

    def __init__(
        self,
        api_key: str = "TEST",
        *,
        webhook_secret: str = "whsec_test",  # noqa: S107 - a fake server's fixed test secret
        waba_id: str = "102290129340398",
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.waba_id = waba_id
        self.latency = latency
        super().__init__(host=host, port=port)
        self._log = _Log()
        self._failures: list[_Failure] = []
        self._media: dict[str, _Media] = {}
        self._templates: list[dict[str, Any]] = []
        self._counter = 0
        self.template_pages_served = 0

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
    def read_marks(self) -> list[str]:
        with self._lock:
            return list(self._log.read_marks)

    @property
    def downloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log.downloads)

    @property
    def uploads(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log.uploads)

    def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` sends were accepted; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._log.sent) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self._log.sent)} of {count} sends arrived within {timeout}s")
            return list(self._log.sent)

    def reset(self) -> None:
        """Forget recorded traffic and scripted failures (keeps media and templates)."""
        with self._lock:
            self._log = _Log()
            self._failures.clear()

    # ------------------------------------------------------------------ scripting

    def fail_next(
        self,
        status: int = 500,
        code: str = "INTERNAL_ERROR",
        message: str = "",
        *,
        n: int = 1,
        details: str = "",
        retry_after: float | None = None,
        body: dict[str, Any] | bytes | None = None,
    ) -> None:
        """Answer the next `n` sends with this error: a YCloud code ('BALANCE_INSUFFICIENT') or a Meta
        code ('131056', wrapped in whatsappApiError), or `body` verbatim (bytes: a non-JSON page)."""
        answer = body if body is not None else ycloud_error_body(status, code, message, details=details)
        with self._lock:
            self._failures.append(_Failure(status=status, body=answer, remaining=n, retry_after=retry_after))

    def add_media(
        self, media_id: str, content: bytes, mime: str = "application/octet-stream", *, failing_downloads: int = 0
    ) -> None:
        """Register a file for /whatsapp/media/download/{media_id}; the first `failing_downloads` answer 503."""
        with self._lock:
            self._media[media_id] = _Media(content=content, mime_type=mime, failing_downloads=failing_downloads)

    def media_url(self, media_id: str) -> str:
        """The `link` YCloud puts in an inbound media message."""
        return f"{self.base_url}/whatsapp/media/download/{media_id}"

    def add_templates(self, templates: list[dict[str, Any]]) -> None:
        """Templates as YCloud lists them (wabaId, name, language, category, status, components, ...)."""
        with self._lock:
            self._templates.extend(json.loads(json.dumps(templates)))

    # ------------------------------------------------------------------ webhooks

    def inbound_text_event(
        self,
        text: str,
        *,
        from_: str = "+573001112233",
        to: str = "+576015550100",
        name: str = "Laura",
        wamid: str | None = None,
        context_id: str = "",
        at: float | None = None,
    ) -> dict[str, Any]:
        """The whatsapp.inbound_message.received event for a customer's text message."""
        moment = time.time() if at is None else at
        message: dict[str, Any] = {
            "id": secrets.token_hex(12),
            "wamid": wamid or f"wamid.FAKEIN{secrets.token_hex(12).upper()}",
            "wabaId": self.waba_id,
            "from": from_,
            "customerProfile": {"name": name},
            "to": to,
            "sendTime": _rfc3339(moment),
            "type": "text",
            "text": {"body": text},
        }
        if context_id:
            message["context"] = {"from": to.removeprefix("+"), "id": context_id}
        return self._event("whatsapp.inbound_message.received", "whatsappInboundMessage", message, moment)

    def status_event(
        self,
        send: dict[str, Any],
        status: str = "delivered",
        *,
        error_code: str = "",
        error_message: str = "",
        at: float | None = None,
    ) -> dict[str, Any]:
        """The whatsapp.message.updated event for a recorded send (an entry of `sent`); echoes its externalId."""
        moment = time.time() if at is None else at
        body = send["json"]
        message: dict[str, Any] = {
            "id": send["id"],
            "wamid": send["wamid"],
            "wabaId": self.waba_id,
            "from": body.get("from", ""),
            "to": body.get("to", ""),
            "type": body.get("type", ""),
            "status": status,
            "createTime": _rfc3339(send["at"]),
            "updateTime": _rfc3339(moment),
            "bizType": "whatsapp",
        }
        time_field = {"sent": "sendTime", "delivered": "deliverTime", "read": "readTime"}.get(status)
        if time_field:
            message[time_field] = _rfc3339(moment)
        if "externalId" in body:
            message["externalId"] = body["externalId"]
        if error_code:
            message["errorCode"] = error_code
            message["errorMessage"] = error_message or META_TITLES.get(error_code, error_code)
        return self._event("whatsapp.message.updated", "whatsappMessage", message, moment)

    def signed_delivery(self, event: dict[str, Any], *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """`signed_delivery` with this server's webhook secret."""
        return signed_delivery(event, secret=self.webhook_secret, timestamp=timestamp)

    @staticmethod
    def _event(event_type: str, key: str, item: dict[str, Any], moment: float) -> dict[str, Any]:
        return {
            "id": "evt_" + secrets.token_urlsafe(12),
            "type": event_type,
            "apiVersion": "v2",
            "createTime": _rfc3339(moment),
            key: item,
        }

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request (called from the server's handler threads)."""
        if self.latency:
            time.sleep(self.latency)
        route = urlsplit(path).path
        try:
            if not secrets.compare_digest(headers.get("x-api-key", ""), self.api_key):
                if method == "GET" and (match := _DOWNLOAD_PATH.match(route)):
                    self._record_download(unquote(match["id"]), headers, authorized=False)
                return _error_reply(401, "UNAUTHORIZED", "Invalid API key.")
            if method == "POST" and (match := _SEND_PATH.match(route)):
                return self._send(path, bool(match["direct"]), headers, body)
            if method == "POST" and (match := _READ_PATH.match(route)):
                return self._mark_read(unquote(match["id"]))
            if method == "POST" and (match := _UPLOAD_PATH.match(route)):
                return self._upload(unquote(match["number"]), headers, body)
            if method == "GET" and (match := _DOWNLOAD_PATH.match(route)):
                return self._download(unquote(match["id"]), headers)
            if method == "GET" and _TEMPLATES_PATH.match(route):
                return self._template_list(path)
        except Exception as exc:  # a bug in the fake must show up as a failed request, not a hang
            return _error_reply(500, "INTERNAL_ERROR", f"fake ycloud crashed: {type(exc).__name__}: {exc}")
        return _error_reply(404, "NOT_FOUND", f"no route for {method} {route}")

    def _send(self, path: str, direct: bool, headers: dict[str, str], body: bytes) -> Reply:
        data = _decode_json(body)
        reply = self._send_reply(path, direct, headers, data)
        record = {
            "path": path,
            "headers": headers,
            "json": data,
            "status": reply.status,
            "response": _decode_json(reply.body),
        }
        with self._lock:
            self._log.requests.append(record)
            self._lock.notify_all()
        return reply

    def _send_reply(self, path: str, direct: bool, headers: dict[str, str], data: Any) -> Reply:
        problem = _payload_problem(data)
        if problem:
            return _error_reply(400, "PARAM_INVALID", problem)
        with self._lock:
            if self._failures:
                failure = self._failures[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.pop(0)
                return failure.reply()
            self._counter += 1
            now = time.time()
            message_id = f"{int(now):08x}{self._counter:016x}"[-24:]
            wamid = f"wamid.FAKE{self._counter:08d}{secrets.token_hex(8).upper()}"
            self._log.sent.append(
                {
                    "path": path,
                    "direct": direct,
                    "headers": headers,
                    "json": data,
                    "id": message_id,
                    "wamid": wamid,
                    "at": now,
                }
            )
            self._lock.notify_all()
        response: dict[str, Any] = {
            "id": message_id,
            "wabaId": self.waba_id,
            "from": data["from"],
            "to": data["to"],
            "type": data["type"],
            data["type"]: data[data["type"]],
            "status": "sent" if direct else "accepted",
            "createTime": _rfc3339(now),
            "bizType": "whatsapp",
        }
        if direct:
            response["wamid"] = wamid
            response["sendTime"] = _rfc3339(now)
        if "externalId" in data:
            response["externalId"] = data["externalId"]
        return json_reply(200, response)

    def _mark_read(self, message_id: str) -> Reply:
        with self._lock:
            self._log.read_marks.append(message_id)
        return Reply(status=200, body=b"", content_type="application/json")

    def _upload(self, number: str, headers: dict[str, str], body: bytes) -> Reply:
        if not _E164.fullmatch(number):
            return _error_reply(400, "PARAM_INVALID", f"phoneNumber {number!r} must be in E.164 format")
        fields = _multipart_fields(headers.get("content-type", ""), body)
        if fields is None or "file" not in fields or not fields["file"][1]:
            return _error_reply(400, "PARAM_INVALID", "file is required (multipart/form-data)")
        filename, content, mime_type = fields["file"]
        with self._lock:
            self._counter += 1
            media_id = f"{9_000_000_000_000 + self._counter}"
            self._media[media_id] = _Media(content=content, mime_type=mime_type)
            self._log.uploads.append(
                {
                    "number": number,
                    "media_id": media_id,
                    "filename": filename,
                    "mime_type": mime_type,
                    "content": content,
                }
            )
        return json_reply(200, {"id": media_id})

    def _record_download(self, media_id: str, headers: dict[str, str], *, authorized: bool) -> None:
        with self._lock:
            self._log.downloads.append({"media_id": media_id, "authorized": authorized, "headers": headers})

    def _download(self, media_id: str, headers: dict[str, str]) -> Reply:
        self._record_download(media_id, headers, authorized=True)
        with self._lock:
            media = self._media.get(media_id)
            if media is None:
                return _error_reply(404, "NOT_FOUND", f"media {media_id} not found")
            if media.failing_downloads > 0:
                media.failing_downloads -= 1
                return _error_reply(503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable.")
        return Reply(status=200, body=media.content, content_type=media.mime_type)

    def _template_list(self, path: str) -> Reply:
        query = parse_qs(urlsplit(path).query)
        try:
            page = int(query.get("page", ["1"])[0])
            limit = int(query.get("limit", ["10"])[0])
        except ValueError:
            return _error_reply(400, "PARAM_INVALID", "page and limit must be numbers")
        if page < 1 or not 1 <= limit <= 100:
            return _error_reply(400, "PARAM_INVALID", "Parameter 'limit' should be between 1 and 100.")
        waba = query.get("filter.wabaId", [""])[0]
        with self._lock:
            items = [t for t in self._templates if not waba or t.get("wabaId") == waba]
            self.template_pages_served += 1
        offset = (page - 1) * limit
        chunk = items[offset : offset + limit]
        return json_reply(200, {"items": chunk, "offset": offset, "limit": limit, "length": len(chunk)})


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None


def _payload_problem(data: Any) -> str:
    """Why YCloud would reject this send body with PARAM_INVALID, or '' (shape only, not WhatsApp's limits)."""
    if not isinstance(data, dict):
        return "The request body must be a JSON object"
    kind = data.get("type")
    checks: tuple[tuple[bool, str], ...] = (
        (isinstance(data.get("from"), str) and bool(_E164.fullmatch(data["from"])), "from must be an E.164 number"),
        (isinstance(data.get("to"), str) and bool(_E164.fullmatch(data["to"])), "to must be an E.164 number"),
        (kind in _SEND_TYPES, f"type {kind!r} is not supported"),
        (isinstance(data.get(str(kind)), dict), f"{kind} is required for type {kind}"),
        ("messaging_product" not in data, "messaging_product is not a YCloud field"),
    )
    return next((message for ok, message in checks if not ok), "")


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
            fields[str(name)] = (
                part.get_filename() or "",
                part.get_payload(decode=True) or b"",
                part.get_content_type(),
            )
    return fields
