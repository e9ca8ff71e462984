"""Chatwoot webhooks -> normalized events. Pure and total: any decoded JSON (or garbage) in, a
`ParseResult` out; every skipped or unknown piece is named in `problems`.

One delivery is one event: the payload root is `Message#webhook_data` (message_created /
message_updated) or `Conversation#webhook_data` (conversation_* events), merged with
``"event": "<name>"``. Shapes: /work/shared/providers/chatwoot-api.md, checked against
chatwoot/chatwoot app/models/message.rb, attachment.rb and app/listeners/webhook_listener.rb.

What becomes what:
- message_created, message_type "incoming", not private -> one `InboundMessage` per attachment
  (or one for the text): the customer wrote.
- message_created / message_updated, message_type "outgoing" or "template", or private ->
  `OutboundEcho` (never answered): our own posts, agents' replies, replies typed in the
  Instagram / Messenger app, Chatwoot's automations and private notes.
- message_updated of an outgoing message that says how delivery went -> `StatusUpdate`.
- conversation_status_changed -> `ThreadStatus`.
- activity messages, incoming message_updated and the other known events -> nothing.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from conversations.providers.base import (
    ECHO_AGENT,
    ECHO_API,
    ECHO_NOTE,
    ECHO_PLATFORM,
    THREAD_OPEN,
    THREAD_PENDING,
    THREAD_RESOLVED,
    THREAD_SNOOZED,
    InboundEvent,
    InboundMessage,
    MediaRef,
    OutboundEcho,
    ParseResult,
    StatusUpdate,
    ThreadStatus,
)
from conversations.providers.meta.parse import location_summary
from conversations.providers.meta.values import as_dict, as_list, json_type, text

__all__ = [
    "IGNORED_EVENTS",
    "attachment_kind",
    "attachment_mime_type",
    "conversation_platform",
    "echo_origin",
    "parse_time",
    "parse_webhook",
]

INSTAGRAM = "instagram"
FACEBOOK = "facebook"
# Events Chatwoot sends that carry nothing for the bot: no events, no problem.
IGNORED_EVENTS = frozenset(
    {
        "conversation_created",
        "conversation_updated",
        "conversation_opened",
        "conversation_resolved",
        "conversation_typing_on",
        "conversation_typing_off",
        "contact_created",
        "contact_updated",
        "contact_deleted",
        "webwidget_triggered",
        "inbox_created",
        "inbox_updated",
        "message_deleted",
    }
)
DELIVERY_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
THREAD_STATUSES = frozenset({THREAD_OPEN, THREAD_PENDING, THREAD_RESOLVED, THREAD_SNOOZED})
# Chatwoot file_type -> MessageKind for files we can fetch ("file" is any document).
_FILE_KINDS = {"image": "image", "audio": "audio", "video": "video", "file": "document"}
# Instagram content Chatwoot keeps as a link (shared posts, reels, story mentions): nothing to download
# and read, so "unsupported" like Meta's, with the link kept in data.
_LINK_FILE_TYPES = frozenset({"share", "story_mention", "ig_reel", "ig_post", "ig_story", "embed"})
_VOICE_MIME_TYPES = frozenset({"audio/ogg", "audio/opus"})
# Extensions mimetypes does not know everywhere (the container images differ).
_EXTRA_MIME_TYPES = {
    "opus": "audio/ogg",
    "oga": "audio/ogg",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "amr": "audio/amr",
    "mp3": "audio/mpeg",
    "webm": "video/webm",
    "webp": "image/webp",
}


@dataclass
class _Out:
    events: list[InboundEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, what: str) -> None:
        self.problems.append(what)


@dataclass(frozen=True)
class _Context:
    """What every event of one message delivery shares."""

    message_id: str
    channel: str
    contact: str
    contact_name: str
    thread_id: str
    platform: str
    sent_at: datetime | None
    data: dict[str, Any]


def parse_webhook(payload: Any) -> ParseResult:
    """Normalize one decoded Chatwoot webhook body. Pure; never raises (see module docstring)."""
    out = _Out()
    try:
        _parse(payload, out)
    except Exception as exc:  # parse() must never raise; whatever was collected still counts
        out.problem(f"payload: parser error {type(exc).__name__}: {exc}")
    return ParseResult(events=out.events, problems=out.problems)


def _parse(payload: Any, out: _Out) -> None:
    if not isinstance(payload, dict):
        out.problem(f"payload: expected a JSON object, got a {json_type(payload)}")
        return
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        out.problem("payload: no event name; nothing parsed" if event is None else "payload: event is not a string")
        return
    if event in IGNORED_EVENTS:
        return
    handler = _EVENT_HANDLERS.get(event)
    if handler is None:
        out.problem(f"payload: unknown event {event!r}; nothing parsed")
        return
    handler(payload, event, out)


# --------------------------------------------------------------------------- shared readers


def parse_time(value: Any) -> datetime | None:
    """Chatwoot's times: ISO 8601 strings (webhook_data) or Unix seconds (push_event_data); None if bad."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if isinstance(value, str) and value.strip():
        raw = value.strip()
        if raw.isdigit():
            return parse_time(int(raw))
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _id(value: Any) -> str:
    """A Chatwoot id (integer, or a digit string in some versions) as text; '' when absent or not an id."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return ""


def conversation_platform(conversation: dict[str, Any]) -> str:
    """'instagram', 'facebook' or '' from a conversation's channel (and Instagram-through-a-Page's DM type)."""
    channel = text(conversation.get("channel"))
    if channel == "Channel::Instagram":
        return INSTAGRAM
    if text(as_dict(conversation.get("additional_attributes")).get("type")) == "instagram_direct_message":
        return INSTAGRAM
    if channel == "Channel::FacebookPage":
        return FACEBOOK
    return ""


def _conversation_contact(conversation: dict[str, Any]) -> str:
    """The conversation's Chatwoot contact id: contact_inbox.contact_id, else meta.sender.id."""
    contact = _id(as_dict(conversation.get("contact_inbox")).get("contact_id"))
    return contact or _id(as_dict(as_dict(conversation.get("meta")).get("sender")).get("id"))


def _channel_id(payload: dict[str, Any]) -> str:
    """The inbox id: inbox.id on message events, inbox_id (or inbox.id) on conversation events."""
    return _id(as_dict(payload.get("inbox")).get("id")) or _id(payload.get("inbox_id"))


# --------------------------------------------------------------------------- messages


def _message_event(payload: dict[str, Any], event: str, out: _Out) -> None:
    message_type = payload.get("message_type")
    if message_type == "activity":
        return  # "Conversation was resolved by ...": Chatwoot's own log lines
    message_id = _id(payload.get("id"))
    if not message_id:
        out.problem(f"{event}: message without id; skipped")
        return
    channel = _channel_id(payload)
    if not channel:
        out.problem(f"{event}: message {message_id} without inbox.id; skipped")
        return
    conversation = payload.get("conversation")
    if not isinstance(conversation, dict):
        out.problem(f"{event}: message {message_id} without a conversation object; skipped")
        return
    private = payload.get("private") is True
    if message_type == "incoming" and not private:
        if event == "message_created":
            _incoming(payload, message_id, channel, conversation, out)
        # An incoming message_updated is Chatwoot's bookkeeping on a message that already arrived
        # with message_created (its source_id, a processed attachment, a transcription, a deletion):
        # answering it again would answer the customer twice, so it yields nothing.
        return
    if message_type in ("outgoing", "template") or private:
        if event == "message_updated" and not private:
            status = _delivery_status(payload, message_id, channel, conversation, out)
            if status is not None:
                out.events.append(status)
                return
        _echo(payload, message_id, channel, conversation, out)
        return
    out.problem(f"{event}: message {message_id} has message_type {message_type!r}; skipped")


def _incoming(payload: dict[str, Any], message_id: str, channel: str, conversation: dict[str, Any], out: _Out) -> None:
    sender = as_dict(payload.get("sender"))
    contact = _id(sender.get("id")) or _conversation_contact(conversation)
    if not contact:
        out.problem(f"message_created: incoming message {message_id} without sender.id or contact; skipped")
        return
    platform = conversation_platform(conversation)
    context = _Context(
        message_id=message_id,
        channel=channel,
        contact=contact,
        contact_name=text(sender.get("name")),
        thread_id=_id(conversation.get("id")),
        platform=platform,
        sent_at=parse_time(payload.get("created_at")),
        data={
            "source_id": text(payload.get("source_id")),
            "platform": platform,
            "account_id": _id(as_dict(payload.get("account")).get("id")),
            "contact_source_id": text(as_dict(conversation.get("contact_inbox")).get("source_id")),
        },
    )
    if not context.thread_id:
        out.problem(f"message_created: message {message_id} has no conversation.id; replies cannot be posted")
    content = text(payload.get("content"))
    attributes = as_dict(payload.get("content_attributes"))
    reply_to = _id(attributes.get("in_reply_to"))
    attachments = payload.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        out.problem(f"message_created: message {message_id} attachments is a {json_type(attachments)}; ignored")
        attachments = []
    files = [item for item in as_list(attachments) if isinstance(item, dict)]
    if len(files) != len(as_list(attachments)):
        out.problem(f"message_created: message {message_id} has attachments that are not objects; ignored")
    if not files:
        out.events.append(_text_message(context, content, attributes, reply_to, payload, out))
        return
    for index, attachment in enumerate(files):
        first = index == 0
        attachment_id = _id(attachment.get("id"))
        if first:
            provider_id = message_id
        elif attachment_id:
            provider_id = f"{message_id}:{attachment_id}"
        else:
            provider_id = f"{message_id}:{index}"
            out.problem(f"message_created: message {message_id} attachment {index} without id")
        body = _attachment_body(attachment, caption=content if first else "")
        if body.problem:
            out.problem(f"message_created: message {message_id} attachment {index}: {body.problem}")
        out.events.append(
            InboundMessage(
                provider_message_id=provider_id,
                channel_external_id=context.channel,
                contact_external_id=context.contact,
                contact_name=context.contact_name,
                kind=body.kind,
                sent_at=context.sent_at,
                text=body.text,
                caption=body.caption,
                media=body.media,
                reply_to=reply_to if first else "",
                data={**context.data, **body.data},
                unknown=body.unknown,
                thread_id=context.thread_id,
                platform=context.platform,
                raw=payload,
            )
        )


def _text_message(
    context: _Context, content: str, attributes: dict[str, Any], reply_to: str, payload: dict[str, Any], out: _Out
) -> InboundMessage:
    """A message without attachments: text, a reaction, or something Chatwoot could not read."""
    kind, data, unknown = "text", dict(context.data), False
    if attributes.get("is_reaction") is True:
        kind = "reaction"
        data.update({"message_id": reply_to, "emoji": content})
    elif attributes.get("is_unsupported") is True:
        kind = "unsupported"
    elif not content:
        kind, unknown = "unsupported", True
        out.problem(f"message_created: message {context.message_id} has no content and no attachments")
    return InboundMessage(
        provider_message_id=context.message_id,
        channel_external_id=context.channel,
        contact_external_id=context.contact,
        contact_name=context.contact_name,
        kind=kind,
        sent_at=context.sent_at,
        text=content,
        reply_to=reply_to,
        data=data,
        unknown=unknown,
        thread_id=context.thread_id,
        platform=context.platform,
        raw=payload,
    )


# --------------------------------------------------------------------------- attachments


@dataclass(frozen=True)
class _Body:
    kind: str
    text: str = ""
    caption: str = ""
    media: MediaRef | None = None
    data: dict[str, Any] = field(default_factory=dict)
    unknown: bool = False
    problem: str = ""


def attachment_mime_type(attachment: dict[str, Any]) -> str:
    """The attachment's MIME type: its content_type (newer Chatwoot), else guessed from `extension`,
    else from the file name at the end of data_url; '' when none says."""
    declared = text(attachment.get("content_type")).split(";")[0].strip().lower()
    if declared:
        return declared
    for extension in (text(attachment.get("extension")), _url_extension(text(attachment.get("data_url")))):
        guessed = _mime_from_extension(extension)
        if guessed:
            return guessed
    return ""


def _url_extension(url: str) -> str:
    name = posixpath.basename(unquote(urlsplit(url).path)) if url else ""
    return name.rpartition(".")[2] if "." in name else ""


def _mime_from_extension(extension: str) -> str:
    extension = extension.strip().lower().lstrip(".")
    if not extension:
        return ""
    return _EXTRA_MIME_TYPES.get(extension) or mimetypes.types_map.get(f".{extension}", "")


def _filename(attachment: dict[str, Any]) -> str:
    """The file name at the end of data_url (ActiveStorage URLs end with it), '' for bare links."""
    url = text(attachment.get("data_url"))
    name = posixpath.basename(unquote(urlsplit(url).path)) if url else ""
    return name if "." in name else ""


def attachment_kind(file_type: str, mime_type: str) -> str:
    """MessageKind for a fetchable attachment; audio by file_type OR by MIME type is always "audio"
    (Chatwoot files some voice notes as "file"), else file_type decides, else the MIME family."""
    if file_type == "audio" or mime_type.startswith("audio/"):
        return "audio"
    if file_type in _FILE_KINDS:
        return _FILE_KINDS[file_type]
    family = mime_type.partition("/")[0]
    return family if family in ("image", "video") else "document"


def _attachment_body(attachment: dict[str, Any], *, caption: str) -> _Body:
    file_type = text(attachment.get("file_type"))
    if file_type == "location":
        return _location_body(attachment, caption)
    if file_type == "fallback":
        return _fallback_body(attachment, caption)
    if file_type == "contact":
        return _contact_body(attachment, caption)
    url = text(attachment.get("data_url"))
    if file_type in _LINK_FILE_TYPES:
        return _Body(kind="unsupported", caption=caption, data={"original_type": file_type, "url": url})
    mime_type = attachment_mime_type(attachment)
    known = file_type in _FILE_KINDS
    kind = attachment_kind(file_type, mime_type)
    if kind == "audio" and mime_type.startswith("video/"):  # an .mp4 / .webm voice clip: the audio of that container
        mime_type = "audio/" + mime_type.partition("/")[2]
    media = MediaRef(
        media_id=_id(attachment.get("id")),
        mime_type=mime_type,
        filename=_filename(attachment),
        url=url,
        voice=kind == "audio" and mime_type in _VOICE_MIME_TYPES,
    )
    data: dict[str, Any] = {"file_type": file_type}
    size = attachment.get("file_size")
    if isinstance(size, int) and not isinstance(size, bool):
        data["file_size"] = size
    problems = []
    if not known:
        problems.append(f"unknown file_type {file_type!r}; read as {kind}")
    if not url:
        problems.append(f"{kind} without data_url")
    return _Body(kind=kind, caption=caption, media=media, data=data, unknown=not known, problem="; ".join(problems))


def _location_body(attachment: dict[str, Any], caption: str) -> _Body:
    """Meta's location data shape (latitude, longitude, name, address, url) so both providers read alike."""
    data = {
        "latitude": attachment.get("coordinates_lat"),
        "longitude": attachment.get("coordinates_long"),
        "name": text(attachment.get("fallback_title")),
        "address": "",
        "url": text(attachment.get("data_url")),
    }
    return _Body(kind="location", text=location_summary(data), caption=caption, data=data)


def _fallback_body(attachment: dict[str, Any], caption: str) -> _Body:
    """A link Chatwoot could not turn into a file (a shared URL card): its title and link as text."""
    title, url = text(attachment.get("fallback_title")), text(attachment.get("data_url"))
    summary = " ".join(part for part in (title, url) if part)
    return _Body(kind="text", text=summary, caption=caption, data={"fallback_title": title, "url": url})


def _contact_body(attachment: dict[str, Any], caption: str) -> _Body:
    """A shared contact card, as Meta's `contacts` kind: the name Chatwoot kept and any phone."""
    name = text(attachment.get("fallback_title"))
    meta = as_dict(attachment.get("meta"))
    phone = text(meta.get("phone_number")) or text(meta.get("phone"))
    card: dict[str, Any] = {"name": {"formatted_name": name}, "phones": [{"phone": phone}] if phone else []}
    summary = f"{name} ({phone})" if name and phone else name or phone
    return _Body(kind="contacts", text=summary, caption=caption, data={"contacts": [card]})


# --------------------------------------------------------------------------- business side


def echo_origin(payload: dict[str, Any]) -> str:
    """Who sent a business-side message: a private note, the platform's own app, Chatwoot's API
    (an agent bot: us) or a person in Chatwoot.

    Template messages (greeting, out-of-office, CSAT) are Chatwoot's automations: ECHO_API even
    without a sender; an outgoing message without a sender is one imported from the platform.
    """
    if payload.get("private") is True:
        return ECHO_NOTE
    if as_dict(payload.get("content_attributes")).get("external_echo") is True:
        return ECHO_PLATFORM
    sender = payload.get("sender")
    sender_type = text(as_dict(sender).get("type")).lower()
    if payload.get("message_type") == "template" and sender_type not in ("user", "agent"):
        return ECHO_API
    if not isinstance(sender, dict) or not sender:
        return ECHO_PLATFORM
    if sender_type in ("user", "agent"):
        return ECHO_AGENT
    return ECHO_API  # agent_bot, captain_assistant and other automations posting through the API


def _echo(payload: dict[str, Any], message_id: str, channel: str, conversation: dict[str, Any], out: _Out) -> None:
    sender = as_dict(payload.get("sender"))
    out.events.append(
        OutboundEcho(
            provider_message_id=message_id,
            channel_external_id=channel,
            contact_external_id=_conversation_contact(conversation),
            origin=echo_origin(payload),
            sent_at=parse_time(payload.get("created_at")),
            text=text(payload.get("content")),
            sender_name=text(sender.get("name")),
            sender_type=text(sender.get("type")),
            thread_id=_id(conversation.get("id")),
            raw=payload,
        )
    )


def _delivery_status(
    payload: dict[str, Any], message_id: str, channel: str, conversation: dict[str, Any], out: _Out
) -> StatusUpdate | None:
    """The delivery news in an outgoing message_updated, or None when it carries none.

    Chatwoot's `Message#webhook_data` has no `status` key (checked in chatwoot/chatwoot
    app/models/message.rb); a failed send shows as content_attributes.external_error
    ("<code> - <message>", set with status failed by the Instagram / Facebook send services).
    A `status` key (versions or forks that add it) is used when present.
    """
    attributes = as_dict(payload.get("content_attributes"))
    error = text(attributes.get("external_error"))
    status = text(payload.get("status"))
    if status and status not in DELIVERY_STATUSES:
        out.problem(f"message_updated: message {message_id} has unknown status {status!r}; ignored")
        status = ""
    if not status and error:
        status = "failed"
    if not status:
        return None
    failed = status == "failed"
    code = error.partition(" - ")[0].strip() if failed else ""
    return StatusUpdate(
        provider_message_id=message_id,
        channel_external_id=channel,
        status=status,
        timestamp=parse_time(payload.get("updated_at")) or parse_time(payload.get("created_at")),
        recipient_id=_conversation_contact(conversation),
        error_code=code if code.isdigit() else "",  # Meta's code when Chatwoot wrote "<code> - <message>"
        error_title=error if failed else "",
        raw=payload,
    )


# --------------------------------------------------------------------------- conversations


def _previous_status(changed: Any) -> str:
    """changed_attributes is a list of {attribute: {previous_value, current_value}} (a dict in some versions)."""
    items = changed if isinstance(changed, list) else [changed]
    for item in items:
        status = as_dict(as_dict(item).get("status"))
        if status:
            return text(status.get("previous_value"))
    return ""


def _conversation_status(payload: dict[str, Any], event: str, out: _Out) -> None:
    thread_id = _id(payload.get("id"))
    if not thread_id:
        out.problem(f"{event}: conversation without id; skipped")
        return
    channel = _channel_id(payload)
    if not channel:
        out.problem(f"{event}: conversation {thread_id} without inbox_id; skipped")
        return
    status = text(payload.get("status"))
    if status not in THREAD_STATUSES:
        out.problem(f"{event}: conversation {thread_id} has unknown status {status!r}; skipped")
        return
    out.events.append(
        ThreadStatus(
            channel_external_id=channel,
            contact_external_id=_conversation_contact(payload),
            thread_id=thread_id,
            status=status,
            previous=_previous_status(payload.get("changed_attributes")),
            timestamp=parse_time(payload.get("updated_at")) or parse_time(payload.get("timestamp")),
            raw=payload,
        )
    )


_EVENT_HANDLERS: dict[str, Callable[[dict[str, Any], str, _Out], None]] = {
    "message_created": _message_event,
    "message_updated": _message_event,
    "conversation_status_changed": _conversation_status,
}
