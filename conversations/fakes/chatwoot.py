"""A local fake of Chatwoot's API (the subset the Chatwoot provider uses), over real HTTP, and the
webhooks Chatwoot would send.

    with FakeChatwoot(token="TEST", account_id="7") as chatwoot:
        provider = ChatwootProvider(ChannelConfig(..., base_url=chatwoot.base_url, account_id="7"))
        provider.send(OutboundMessage(kind="text", to="", text="Hola", thread_id="42"))
        sent = chatwoot.wait_for_sent(1)
        body, headers = chatwoot.webhooks.deliver(chatwoot.webhooks.echo(sent[0]), secret="s3cret")

It speaks POST /api/v1/accounts/{account}/conversations/{conversation}/messages (JSON or
multipart/form-data with ``attachments[]`` file parts), checks the ``api_access_token`` header
(401 otherwise) and answers the created message in Chatwoot's push_event_data shape with an
increasing integer id. Attachment files live at ActiveStorage-like redirect URLs
(``add_attachment``), which answer 302 to ``/storage/...`` on `storage_host` (set it to
"localhost" to make the storage another host than the API). Tests script failures with
`fail_next`.

`ChatwootWebhooks` (``fake.webhooks``) builds the deliveries Chatwoot would POST to
``/webhooks/chatwoot/?token=...``: message_created (incoming text or attachments, the echo of a
message the fake created, a private note, an external_echo from the Instagram app),
message_updated (a delivery failure) and conversation_status_changed, as `Message#webhook_data`
/ `Conversation#webhook_data` shapes; `deliver` turns one into (body bytes, headers), signed
like newer Chatwoot when given a secret.
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
from urllib.parse import quote, urlsplit

from conversations.fakes.server import FakeServer, Reply, json_reply

__all__ = ["ChatwootWebhooks", "FakeChatwoot", "chatwoot_signature", "iso_time"]

_MESSAGES_PATH = re.compile(r"^/api/v1/accounts/(?P<account>[^/]+)/conversations/(?P<conversation>[^/]+)/messages$")
_BLOB_PATH = re.compile(r"^/rails/active_storage/blobs/redirect/(?P<key>[A-Za-z0-9_\-]+)/(?P<filename>[^/]+)$")
_STORAGE_PATH = re.compile(r"^/storage/(?P<key>[A-Za-z0-9_\-]+)$")
UNAUTHORIZED = {"error": "You need to sign in or sign up before continuing."}
NOT_FOUND = {"error": "Resource could not be found"}


def iso_time(seconds: float) -> str:
    """Unix seconds as Rails renders a time in webhook_data ('2026-03-01T12:00:00.000Z')."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(seconds % 1 * 1000):03d}Z"


def chatwoot_signature(secret: str, timestamp: str, body: bytes) -> str:
    """X-Chatwoot-Signature: sha256=HMAC-SHA256(secret, "{timestamp}.{body}")."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass
class _Failure:
    status: int
    body: Any  # dict/list (JSON) or bytes (raw HTML)
    remaining: int
    retry_after: float | None = None

    def reply(self) -> Reply:
        headers = (("Retry-After", f"{self.retry_after:g}"),) if self.retry_after is not None else ()
        if isinstance(self.body, bytes):
            return Reply(status=self.status, body=self.body, content_type="text/html", headers=headers)
        return json_reply(self.status, self.body, headers)


@dataclass
class _File:
    content: bytes
    mime_type: str
    filename: str


@dataclass
class _Log:
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[dict[str, Any]] = field(default_factory=list)


class FakeChatwoot(FakeServer):
    """The fake Chatwoot server. Start with `with FakeChatwoot(...) as chatwoot` or `start()` / `stop()`.

    Recorded (lists of dicts, oldest first):
      requests   every POST to .../messages: path, account_id, conversation_id, headers, status, response
      sent       accepted posts: path, account_id, conversation_id, headers, json (None for multipart),
                 form (multipart text fields), files [(filename, content, mime type)], response, id, at
      downloads  every GET of an attachment URL: path, headers (lower-case names)
    """

    thread_name = "fake-chatwoot"

    def __init__(
        self,
        token: str = "TEST",  # noqa: S107 - a fake server's fixed test token
        *,
        account_id: str = "1",
        inbox_id: int = 12,
        sender_type: str = "agent_bot",
        storage_host: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.account_id = account_id
        self.inbox_id = inbox_id
        self.sender_type = sender_type  # who posts: "agent_bot" (bot token) or "user" (agent token)
        self.storage_host = storage_host  # None: the API's host
        super().__init__(host=host, port=port)
        self._log = _Log()
        self._failures: list[_Failure] = []
        self._files: dict[str, _File] = {}
        self._next_id = 5000
        self._next_attachment = 900

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
    def downloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log.downloads)

    def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `count` posts were accepted; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._log.sent) >= count, timeout=timeout):
                raise TimeoutError(f"{len(self._log.sent)} of {count} posts arrived within {timeout}s")
            return list(self._log.sent)

    def reset(self) -> None:
        """Forget recorded traffic and scripted failures (keeps attachment files)."""
        with self._lock:
            self._log = _Log()
            self._failures.clear()

    @property
    def webhooks(self) -> ChatwootWebhooks:
        """A webhook builder for this server's account and inbox."""
        return ChatwootWebhooks(account_id=int(self.account_id), inbox_id=self.inbox_id)

    # ------------------------------------------------------------------ scripting

    def fail_next(self, status: int = 500, body: Any = None, *, n: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `n` posts with `status` and `body` (a dict/list as JSON, bytes as HTML;
        None: Chatwoot's usual {"error": ...})."""
        answer = body if body is not None else {"error": f"scripted failure {status}"}
        with self._lock:
            self._failures.append(_Failure(status=status, body=answer, remaining=n, retry_after=retry_after))

    def add_attachment(self, content: bytes, mime: str, filename: str = "file.bin") -> str:
        """Keep a file; its data_url, an ActiveStorage redirect URL as Chatwoot puts in attachments."""
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._files[key] = _File(content=content, mime_type=mime, filename=filename)
        return f"{self.base_url}/rails/active_storage/blobs/redirect/{key}/{quote(filename)}"

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        route = urlsplit(path).path
        try:
            if method == "POST" and (match := _MESSAGES_PATH.match(route)):
                return self._messages(match["account"], match["conversation"], path, headers, body)
            if method == "GET" and (match := _BLOB_PATH.match(route)):
                return self._blob(match["key"], path, headers)
            if method == "GET" and (match := _STORAGE_PATH.match(route)):
                return self._storage(match["key"], path, headers)
        except Exception as exc:  # a bug in the fake must show up as a failed request, not a hang
            return json_reply(500, {"error": f"fake chatwoot crashed: {type(exc).__name__}: {exc}"})
        return json_reply(404, {"error": f"no route for {method} {route}"})

    def _messages(self, account: str, conversation: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        parsed = _parse_body(headers.get("content-type", ""), body)
        reply = self._messages_reply(account, conversation, path, headers, parsed)
        record = {
            "path": path,
            "account_id": account,
            "conversation_id": conversation,
            "headers": headers,
            "status": reply.status,
            "response": _decode_json(reply.body),
        }
        with self._lock:
            self._log.requests.append(record)
            self._lock.notify_all()
        return reply

    def _messages_reply(
        self, account: str, conversation: str, path: str, headers: dict[str, str], parsed: _Posted
    ) -> Reply:
        if not secrets.compare_digest(headers.get("api_access_token", ""), self.token):
            return json_reply(401, UNAUTHORIZED)
        if account != self.account_id or not conversation.isdigit():
            return json_reply(404, NOT_FOUND)
        problem = parsed.problem()
        if problem:
            return json_reply(422, {"message": problem})
        with self._lock:
            failure = self._take_failure()
            if failure is not None:
                return failure.reply()
            self._next_id += 1
            message_id = self._next_id
            attachments = [self._store_upload(message_id, *part) for part in parsed.files]
            response = self._created_message(message_id, int(conversation), parsed, attachments)
            self._log.sent.append(
                {
                    "path": path,
                    "account_id": account,
                    "conversation_id": conversation,
                    "headers": headers,
                    "json": parsed.json,
                    "form": parsed.form,
                    "files": list(parsed.files),
                    "response": response,
                    "id": message_id,
                    "at": time.time(),
                }
            )
            self._lock.notify_all()
        return json_reply(200, response)

    def _take_failure(self) -> _Failure | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            self._failures.pop(0)
        return failure

    def _store_upload(self, message_id: int, filename: str, content: bytes, mime: str) -> dict[str, Any]:
        """Keep an uploaded file (caller holds the lock); its attachment push_event_data."""
        key = secrets.token_urlsafe(18)
        self._files[key] = _File(content=content, mime_type=mime, filename=filename)
        self._next_attachment += 1
        family = mime.partition("/")[0]
        return {
            "id": self._next_attachment,
            "message_id": message_id,
            "file_type": family if family in ("image", "audio", "video") else "file",
            "account_id": int(self.account_id),
            "extension": filename.rpartition(".")[2] if "." in filename else None,
            "data_url": f"{self.base_url}/rails/active_storage/blobs/redirect/{key}/{quote(filename)}",
            "thumb_url": "",
            "file_size": len(content),
        }

    def _created_message(
        self, message_id: int, conversation: int, parsed: _Posted, attachments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The created message as Chatwoot answers it (Message#push_event_data)."""
        fields = parsed.fields()
        sender = (
            {"id": 3, "name": "Asistente", "avatar_url": "", "type": "agent_bot"}
            if self.sender_type == "agent_bot"
            else {
                "id": 8,
                "name": "Marta Gómez",
                "available_name": "Marta",
                "type": "user",
                "availability_status": "online",
            }
        )
        message: dict[str, Any] = {
            "id": message_id,
            "content": fields.get("content"),
            "account_id": int(self.account_id),
            "inbox_id": self.inbox_id,
            "conversation_id": conversation,
            "message_type": 1,
            "created_at": int(time.time()),
            "updated_at": iso_time(time.time()),
            "private": fields.get("private") in (True, "true"),
            "status": "sent",
            "source_id": None,
            "content_type": fields.get("content_type") or "text",
            "content_attributes": fields.get("content_attributes") or {},
            "sender_type": "AgentBot" if self.sender_type == "agent_bot" else "User",
            "sender_id": sender["id"],
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": fields.get("content"),
            "sentiment": {},
            "conversation": {"assignee_id": None, "unread_count": 0, "last_activity_at": int(time.time())},
            "sender": sender,
        }
        if attachments:
            message["attachments"] = attachments
        return message

    def _blob(self, key: str, path: str, headers: dict[str, str]) -> Reply:
        """ActiveStorage's redirect URL: 302 to the storage service (signed URLs: no token needed)."""
        with self._lock:
            self._log.downloads.append({"path": path, "headers": headers})
            known = key in self._files
        if not known:
            return Reply(status=404, body=b"Not Found", content_type="text/plain")
        storage = self.base_url if self.storage_host is None else f"http://{self.storage_host}:{self.port}"
        return Reply(
            status=302, body=b"", content_type="text/html", headers=(("Location", f"{storage}/storage/{key}"),)
        )

    def _storage(self, key: str, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self._log.downloads.append({"path": path, "headers": headers})
            stored = self._files.get(key)
        if stored is None:
            return Reply(status=404, body=b"Not Found", content_type="text/plain")
        return Reply(status=200, body=stored.content, content_type=stored.mime_type)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


# ---------------------------------------------------------------------- request bodies


@dataclass
class _Posted:
    json: Any = None
    form: dict[str, str] | None = None
    files: list[tuple[str, bytes, str]] = field(default_factory=list)
    error: str = ""

    def fields(self) -> dict[str, Any]:
        if self.form is not None:
            attributes = {
                key[len("content_attributes[") : -1]: value
                for key, value in self.form.items()
                if key.startswith("content_attributes[")
            }
            return {**self.form, "content_attributes": attributes}
        return self.json if isinstance(self.json, dict) else {}

    def problem(self) -> str:
        """What Chatwoot would refuse with 422, '' when the post is acceptable."""
        if self.error:
            return self.error
        fields = self.fields()
        if fields.get("message_type", "outgoing") not in ("outgoing", "incoming"):
            return f"message_type {fields.get('message_type')!r} is not valid"
        if not fields.get("content") and not self.files:
            return "Content can't be blank"
        if fields.get("content_type") == "input_select":
            items = (fields.get("content_attributes") or {}).get("items")
            if not isinstance(items, list) or not items:
                return "Content attributes items can't be blank"
        return ""


def _parse_body(content_type: str, body: bytes) -> _Posted:
    if content_type.lower().startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            return _Posted(error="malformed multipart body")
        posted = _Posted(form={})
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition") or "")
            payload = part.get_payload(decode=True) or b""
            if name == "attachments[]":
                posted.files.append((part.get_filename() or "", payload, part.get_content_type()))
            elif name:
                assert posted.form is not None
                posted.form[name] = payload.decode("utf-8", "replace")
        return posted
    data = _decode_json(body)
    if not isinstance(data, dict):
        return _Posted(error="the body must be a JSON object or multipart/form-data")
    return _Posted(json=data)


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------- webhooks


@dataclass
class ChatwootWebhooks:
    """Builds what Chatwoot POSTs to the bot's webhook: `Message#webhook_data` / `Conversation#webhook_data`
    merged with the event name, for one Instagram (or Facebook) conversation.

    Every builder returns the payload dict (edit it for odd cases); `deliver` makes the request.
    """

    account_id: int = 1
    inbox_id: int = 12
    inbox_name: str = "Instagram Acme"
    conversation_id: int = 42  # the display id, used in reply URLs
    contact_id: int = 301
    contact_name: str = "Laura Pérez"
    contact_source_id: str = "17841400000000001"  # IGSID / PSID
    channel: str = "Channel::Instagram"  # or "Channel::FacebookPage"
    instagram_via_page: bool = False  # an Instagram account connected through a Facebook Page
    status: str = "open"
    now: float = 1_772_366_400.0  # 2026-03-01 12:00:00 UTC
    _next_id: int = 7000

    def _message_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def contact(self) -> dict[str, Any]:
        return {
            "id": self.contact_id,
            "name": self.contact_name,
            "avatar": "",
            "type": "contact",
            "account": {"id": self.account_id, "name": "Acme"},
            "additional_attributes": {"social_profiles": {"instagram": "laura.perez"}},
            "custom_attributes": {},
            "email": None,
            "identifier": None,
            "phone_number": None,
            "thumbnail": "",
        }

    def conversation(self, *, status: str | None = None) -> dict[str, Any]:
        """Conversation#webhook_data (the parts a bot reads)."""
        via_page = self.channel == "Channel::FacebookPage" and self.instagram_via_page
        attributes = {"type": "instagram_direct_message"} if via_page else {}
        return {
            "additional_attributes": attributes,
            "can_reply": True,
            "channel": self.channel,
            "contact_inbox": {
                "id": 88,
                "contact_id": self.contact_id,
                "inbox_id": self.inbox_id,
                "source_id": self.contact_source_id,
                "created_at": iso_time(self.now - 86400),
                "updated_at": iso_time(self.now - 86400),
                "hmac_verified": False,
                "pubsub_token": "pQ7wY3",
            },
            "id": self.conversation_id,
            "inbox_id": self.inbox_id,
            "messages": [],
            "labels": [],
            "meta": {
                "sender": {**self.contact(), "account": None},
                "assignee": None,
                "team": None,
                "hmac_verified": False,
            },
            "status": status or self.status,
            "custom_attributes": {},
            "snoozed_until": None,
            "unread_count": 1,
            "first_reply_created_at": None,
            "priority": None,
            "waiting_since": int(self.now),
            "agent_last_seen_at": 0,
            "contact_last_seen_at": 0,
            "last_activity_at": int(self.now),
            "timestamp": int(self.now),
            "created_at": int(self.now - 3600),
            "updated_at": self.now,
        }

    def _message(
        self,
        event: str,
        *,
        message_id: int | None,
        message_type: str,
        content: str | None,
        sender: dict[str, Any] | None,
        private: bool = False,
        content_attributes: dict[str, Any] | None = None,
        source_id: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        created_at: float | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "account": {"id": self.account_id, "name": "Acme"},
            "additional_attributes": {},
            "content_attributes": content_attributes or {},
            "content_type": "text",
            "content": content,
            "conversation": self.conversation(),
            "created_at": iso_time(self.now if created_at is None else created_at),
            "id": message_id if message_id is not None else self._message_id(),
            "inbox": {"id": self.inbox_id, "name": self.inbox_name},
            "message_type": message_type,
            "private": private,
            "sender": sender,
            "source_id": source_id,
            "event": event,
        }
        if attachments:
            payload["attachments"] = attachments
        return payload

    def incoming_text(self, text: str, *, message_id: int | None = None, mid: str = "") -> dict[str, Any]:
        """message_created: the customer wrote `text` in Instagram / Messenger."""
        return self._message(
            "message_created",
            message_id=message_id,
            message_type="incoming",
            content=text,
            sender=self.contact(),
            source_id=mid or f"aWdfZAG1faXRlbToxOklH{secrets.token_hex(6)}",
        )

    def attachment(
        self,
        file_type: str,
        data_url: str,
        *,
        extension: str | None = None,
        file_size: int | None = None,
        attachment_id: int | None = None,
        message_id: int = 0,
    ) -> dict[str, Any]:
        """One attachment's push_event_data."""
        self._next_id += 1
        return {
            "id": attachment_id if attachment_id is not None else self._next_id,
            "message_id": message_id,
            "file_type": file_type,
            "account_id": self.account_id,
            "extension": extension,
            "data_url": data_url,
            "thumb_url": data_url if file_type == "image" else "",
            "file_size": file_size,
            "width": None,
            "height": None,
        }

    def incoming_attachments(
        self, attachments: list[dict[str, Any]], *, text: str | None = None, message_id: int | None = None
    ) -> dict[str, Any]:
        """message_created: the customer sent files (`attachment(...)` items), with optional text."""
        message_id = message_id if message_id is not None else self._message_id()
        items = [{**item, "message_id": message_id} for item in attachments]
        return self._message(
            "message_created",
            message_id=message_id,
            message_type="incoming",
            content=text,
            sender=self.contact(),
            source_id=f"aWdfZAG1faXRlbToxOklH{secrets.token_hex(6)}",
            attachments=items,
        )

    def echo(self, sent: dict[str, Any], *, sender_type: str | None = None) -> dict[str, Any]:
        """message_created for a message FakeChatwoot just created (an entry of `sent`): same id, outgoing."""
        response = sent["response"]
        kind = sender_type or ("agent_bot" if response.get("sender_type") == "AgentBot" else "user")
        sender = (
            {"id": 3, "name": "Asistente", "avatar_url": "", "type": "agent_bot"}
            if kind == "agent_bot"
            else {"id": 8, "name": "Marta Gómez", "email": "marta@acme.example", "type": "user"}
        )
        payload = self._message(
            "message_created",
            message_id=int(response["id"]),
            message_type="outgoing",
            content=response.get("content"),
            sender=sender,
            content_attributes=response.get("content_attributes") or {},
            created_at=float(response.get("created_at") or self.now),
        )
        payload["content_type"] = response.get("content_type") or "text"
        payload["conversation"]["id"] = int(sent["conversation_id"])
        if response.get("attachments"):
            payload["attachments"] = response["attachments"]
        return payload

    def agent_reply(self, text: str, *, message_id: int | None = None) -> dict[str, Any]:
        """message_created: an agent typed `text` in Chatwoot."""
        sender = {"id": 8, "name": "Marta Gómez", "email": "marta@acme.example", "type": "user"}
        return self._message(
            "message_created", message_id=message_id, message_type="outgoing", content=text, sender=sender
        )

    def private_note(self, text: str, *, message_id: int | None = None) -> dict[str, Any]:
        """message_created: an agent's private note (never sent to the customer)."""
        sender = {"id": 8, "name": "Marta Gómez", "email": "marta@acme.example", "type": "user"}
        return self._message(
            "message_created", message_id=message_id, message_type="outgoing", content=text, sender=sender, private=True
        )

    def external_echo(self, text: str, *, message_id: int | None = None) -> dict[str, Any]:
        """message_created: someone replied from the Instagram / Messenger app; Chatwoot imported it."""
        return self._message(
            "message_created",
            message_id=message_id,
            message_type="outgoing",
            content=text,
            sender=None,
            content_attributes={"external_echo": True},
            source_id=f"aWdfZAG1faXRlbToxOklH{secrets.token_hex(6)}",
        )

    def message_failed(
        self, message_id: int, *, error: str = "100 - (#100) No matching user found", text: str = ""
    ) -> dict[str, Any]:
        """message_updated: Chatwoot could not deliver one of the business's messages (status failed)."""
        sender = {"id": 3, "name": "Asistente", "avatar_url": "", "type": "agent_bot"}
        return self._message(
            "message_updated",
            message_id=message_id,
            message_type="outgoing",
            content=text,
            sender=sender,
            content_attributes={"external_error": error},
        )

    def status_changed(self, status: str, *, previous: str = "open") -> dict[str, Any]:
        """conversation_status_changed: an agent resolved (or reopened, snoozed) the conversation."""
        payload = self.conversation(status=status)
        payload["event"] = "conversation_status_changed"
        payload["changed_attributes"] = [{"status": {"previous_value": previous, "current_value": status}}]
        return payload

    def deliver(
        self, payload: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The POST body and headers; with `secret`, signed as newer Chatwoot signs (timestamp: `now`)."""
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "rest-client/2.1.0"}
        if secret is not None:
            stamp = str(int(self.now) if timestamp is None else timestamp)
            headers["X-Chatwoot-Timestamp"] = stamp
            headers["X-Chatwoot-Signature"] = chatwoot_signature(secret, stamp, body)
            headers["X-Chatwoot-Delivery"] = secrets.token_hex(16)
        return body, headers
