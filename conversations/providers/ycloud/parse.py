"""YCloud webhook events -> normalized events. Pure and total: any decoded JSON (or garbage) in, a
`ParseResult` out; every skipped or unknown piece is named in `problems`.

YCloud delivers one event per POST: ``{id, type, apiVersion, createTime, <payload key>: {...}}``.
Two event types carry messages:

- ``whatsapp.inbound_message.received`` (``whatsappInboundMessage``): a customer's message. Its
  content objects have Meta's shapes, so the events come out exactly as Meta's parse makes them
  (same kinds, same `data` for location, contacts and reactions; see meta/parse.py). The id is
  the message's ``wamid`` (what a quoted reply's ``context.id`` names), else YCloud's ``id``.
- ``whatsapp.message.updated`` (``whatsappMessage``): the status of a message we sent. Its id is
  YCloud's ``id``: what our send's response gave us. ``accepted`` (YCloud queued it) is no news.

Numbers: the business number (the channel) is E.164 with '+'; the customer is digits without '+'
like Meta's wa_id, so a contact is the same whichever WhatsApp provider brought them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conversations.providers.base import InboundEvent, InboundMessage, MediaRef, ParseResult, StatusUpdate
from conversations.providers.meta.parse import contact_card_summary, location_summary, parse_errors, parse_referral
from conversations.providers.meta.values import MAX_CALLBACK_DATA, MEDIA_KINDS
from conversations.providers.meta.values import as_dict as _as_dict
from conversations.providers.meta.values import as_list as _as_list
from conversations.providers.meta.values import json_type as _json_type
from conversations.providers.meta.values import text as _text

__all__ = [
    "IGNORED_EVENT_TYPES",
    "INBOUND_EVENT",
    "STATUS_EVENT",
    "e164",
    "parse_event",
    "parse_rfc3339",
    "wa_id",
]

INBOUND_EVENT = "whatsapp.inbound_message.received"
STATUS_EVENT = "whatsapp.message.updated"
PAYLOAD_KEYS = {INBOUND_EVENT: "whatsappInboundMessage", STATUS_EVENT: "whatsappMessage"}
# YCloud's other documented event types: nothing for us in them, so they pass without a problem.
IGNORED_EVENT_TYPES = frozenset(
    {
        "email.delivery.updated",
        "sms.message.updated",
        "sms.inbound.received",
        "voice.message.updated",
        "whatsapp.business_account.deleted",
        "whatsapp.business_account.reviewed",
        "whatsapp.business_account.updated",
        "whatsapp.smb.history",
        "whatsapp.smb.message.created",
        "whatsapp.smb.message.echoes",
        "whatsapp.phone_number.deleted",
        "whatsapp.phone_number.name_updated",
        "whatsapp.phone_number.quality_updated",
        "whatsapp.template.category_updated",
        "whatsapp.template.quality_updated",
        "whatsapp.template.reviewed",
        "whatsapp.payment.updated",
        "contact.attributes_changed",
        "contact.created",
        "contact.deleted",
        "contact.unsubscribe.created",
        "contact.unsubscribe.deleted",
    }
)
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
QUEUED_STATUS = "accepted"  # YCloud took the message; Meta has not seen it yet: no event
# The field that dates each status (YCloud stamps each change); updateTime is the fallback.
STATUS_TIME_FIELDS = {"sent": "sendTime", "delivered": "deliverTime", "read": "readTime", "failed": "updateTime"}


@dataclass
class _Collector:
    events: list[InboundEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


@dataclass(frozen=True)
class _Body:
    """The type-specific part of an inbound message (the same parts Meta's parse fills)."""

    kind: str
    text: str = ""
    caption: str = ""
    media: MediaRef | None = None
    interactive_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    unknown: bool = False
    problem: str = ""


# --------------------------------------------------------------------------- small pure helpers


def e164(number: Any) -> str:
    """A phone number as E.164 with '+' ('573001112233' and '+573001112233' alike); '' if absent."""
    value = _text(number).strip()
    if not value:
        return ""
    return value if value.startswith("+") else f"+{value}"


def wa_id(number: Any) -> str:
    """A customer's number as WhatsApp's wa_id: digits without '+' (how Meta names contacts)."""
    return _text(number).strip().removeprefix("+")


def parse_rfc3339(value: Any) -> datetime | None:
    """'2026-03-01T12:00:00.000Z' -> aware UTC datetime; None when missing or not a date-time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:  # YCloud always sends an offset; a bare time is read as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- envelope


def parse_event(payload: Any) -> ParseResult:
    """Normalize one decoded YCloud webhook body. Pure; never raises (see module docstring)."""
    out = _Collector()
    try:
        _parse_envelope(payload, out)
    except Exception as exc:  # parse() must never raise: a parser bug becomes a problem, in words
        out.problem("event", f"parser error {type(exc).__name__}: {exc}")
    return ParseResult(events=out.events, problems=out.problems)


def _parse_envelope(payload: Any, out: _Collector) -> None:
    if not isinstance(payload, dict):
        out.problem("event", f"expected a JSON object, got a {_json_type(payload)}")
        return
    event_type = payload.get("type")
    event_id = _text(payload.get("id"))
    where = f"event {event_id}" if event_id else "event"
    if not isinstance(event_type, str) or not event_type:
        out.problem(where, "missing type" if event_type is None else f"type is a {_json_type(event_type)}")
        return
    key = PAYLOAD_KEYS.get(event_type)
    if key is None:
        if event_type not in IGNORED_EVENT_TYPES:
            out.problem(where, f"ignored event type {event_type!r}")
        return
    item = payload.get(key)
    if not isinstance(item, dict):
        what = f"missing {key}" if item is None else f"{key} is a {_json_type(item)}, expected an object"
        out.problem(where, f"{what}; nothing parsed")
        return
    path = f"{where}.{key}"
    if event_type == INBOUND_EVENT:
        _parse_inbound(path, item, event_id, out)
    else:
        _parse_status(path, item, out)


# --------------------------------------------------------------------------- inbound messages


def _parse_inbound(path: str, message: dict[str, Any], event_id: str, out: _Collector) -> None:
    ycloud_id, wamid = _text(message.get("id")), _text(message.get("wamid"))
    message_id = wamid or ycloud_id
    if not message_id:
        out.problem(path, "message without wamid or id")
        return
    channel = e164(message.get("to"))
    if not channel:
        out.problem(path, f"message {message_id} has no to (the business number); skipped")
        return
    sender = wa_id(message.get("from")) or _text(message.get("fromUserId"))
    if not sender:
        out.problem(path, f"message {message_id} has neither from nor fromUserId")
        return
    body = _message_body(message)
    if body.problem:
        out.problem(path, body.problem)
    quoted = _as_dict(message.get("context"))
    data: dict[str, Any] = dict(body.data)
    if quoted:
        data["context"] = dict(quoted)
    data["ycloud_message_id"] = ycloud_id
    data["ycloud_event_id"] = event_id
    out.events.append(
        InboundMessage(
            provider_message_id=message_id,
            channel_external_id=channel,
            contact_external_id=sender,
            contact_name=_text(_as_dict(message.get("customerProfile")).get("name")),
            kind=body.kind,
            sent_at=parse_rfc3339(message.get("sendTime")),
            text=body.text,
            caption=body.caption,
            media=body.media,
            reply_to=_text(quoted.get("id")),
            interactive_id=body.interactive_id,
            data=data,
            referral=parse_referral(message.get("referral")),
            errors=parse_errors(message.get("errors")),
            unknown=body.unknown,
            raw=message,
        )
    )


def _content(message: dict[str, Any], key: str) -> tuple[dict[str, Any], str]:
    """message[key] as an object, and a problem when it is there but is not one."""
    value = message.get(key)
    if value is None or isinstance(value, dict):
        return _as_dict(value), ""
    return {}, f"{key} is a {_json_type(value)}, expected an object"


def _message_body(message: dict[str, Any]) -> _Body:
    """Pick the body parser from `type`; messages WhatsApp flags with errors are 'unsupported' (as Meta's)."""
    kind = _text(message.get("type"))
    if _as_list(message.get("errors")):
        return _Body(kind="unsupported")
    parser = _BODY_PARSERS.get(kind)
    if parser is None:
        return _unknown_body(kind, f"unknown message type {kind!r}; kept as unsupported")
    return parser(message)


def _unknown_body(original_type: str, problem: str) -> _Body:
    return _Body(kind="unsupported", unknown=True, data={"original_type": original_type}, problem=problem)


def _text_body(message: dict[str, Any]) -> _Body:
    text, problem = _content(message, "text")
    return _Body(kind="text", text=_text(text.get("body")), problem=problem)


def _reply_body(subtype: str, reply: dict[str, Any]) -> _Body:
    title = _text(reply.get("title"))
    data = {"interactive_type": subtype, "title": title, "description": _text(reply.get("description"))}
    return _Body(kind="interactive", text=title, interactive_id=_text(reply.get("id")), data=data)


def _flow_reply_body(subtype: str, reply: dict[str, Any]) -> _Body:
    """A submitted WhatsApp Flow: it has no title or id, only a body and the answers (as Meta's parse)."""
    data = {"interactive_type": subtype, "name": _text(reply.get("name")), "response_json": reply.get("response_json")}
    return _Body(kind="interactive", text=_text(reply.get("body")), data=data)


_INTERACTIVE_PARSERS: dict[str, Callable[[str, dict[str, Any]], _Body]] = {
    "button_reply": _reply_body,
    "list_reply": _reply_body,
    "nfm_reply": _flow_reply_body,
}


def _interactive_body(message: dict[str, Any]) -> _Body:
    interactive, problem = _content(message, "interactive")
    if problem:
        return _unknown_body("interactive", f"{problem}; kept as unsupported")
    subtype = _text(interactive.get("type"))
    parser = _INTERACTIVE_PARSERS.get(subtype)
    if parser is None:
        return _unknown_body(f"interactive.{subtype}", f"unknown interactive type {subtype!r}; kept as unsupported")
    return parser(subtype, _as_dict(interactive.get(subtype)))


def _button_body(message: dict[str, Any]) -> _Body:
    button, problem = _content(message, "button")
    return _Body(
        kind="button",
        text=_text(button.get("text")),
        interactive_id=_text(button.get("payload")),
        problem=problem,
    )


def _media_body(message: dict[str, Any]) -> _Body:
    kind = _text(message.get("type"))
    obj, problem = _content(message, kind)
    media = MediaRef(
        media_id=_text(obj.get("id")),
        mime_type=_text(obj.get("mime_type")),
        sha256=_text(obj.get("sha256")),
        filename=_text(obj.get("filename")),
        url=_text(obj.get("link")),
        voice=obj.get("voice") is True,
        animated=obj.get("animated") is True or _as_dict(obj.get("metadata")).get("is_animated") is True,
    )
    if not problem and not (media.media_id or media.url):
        problem = f"{kind} without id or link"
    return _Body(kind=kind, caption=_text(obj.get("caption")), media=media, problem=problem)


def _location_body(message: dict[str, Any]) -> _Body:
    location, problem = _content(message, "location")
    data = {key: location.get(key) for key in ("latitude", "longitude", "name", "address", "url")}
    return _Body(kind="location", text=location_summary(data), data=data, problem=problem)


def _contacts_body(message: dict[str, Any]) -> _Body:
    value = message.get("contacts")
    problem = "" if value is None or isinstance(value, list) else f"contacts is a {_json_type(value)}, expected a list"
    cards = [card for card in _as_list(value) if isinstance(card, dict)]
    text = "; ".join(summary for summary in map(contact_card_summary, cards) if summary)
    return _Body(kind="contacts", text=text, data={"contacts": cards}, problem=problem)


def _reaction_body(message: dict[str, Any]) -> _Body:
    reaction, problem = _content(message, "reaction")
    emoji = _text(reaction.get("emoji"))  # '' means the reaction was removed
    data = {"message_id": _text(reaction.get("message_id")), "emoji": emoji}
    return _Body(kind="reaction", text=emoji, data=data, problem=problem)


def _system_body(message: dict[str, Any]) -> _Body:
    system, problem = _content(message, "system")
    return _Body(kind="system", text=_text(system.get("body")), data={"system": dict(system)}, problem=problem)


def _unsupported_body(message: dict[str, Any]) -> _Body:
    return _Body(kind="unsupported")


_BODY_PARSERS: dict[str, Callable[[dict[str, Any]], _Body]] = {
    "text": _text_body,
    "interactive": _interactive_body,
    "button": _button_body,
    **dict.fromkeys(MEDIA_KINDS, _media_body),
    "location": _location_body,
    "contacts": _contacts_body,
    "reaction": _reaction_body,
    "system": _system_body,
    "unsupported": _unsupported_body,
}


# --------------------------------------------------------------------------- statuses


def _status_error(message: dict[str, Any]) -> tuple[str, str, str]:
    """(code, title, detail) of a failed message: YCloud's errorCode/errorMessage, Meta's details."""
    api_error = _as_dict(message.get("whatsappApiError"))
    code = _text(message.get("errorCode")) or _text(api_error.get("code"))
    title = _text(message.get("errorMessage")) or _text(api_error.get("message"))
    error_data = api_error.get("error_data")
    details = _text(_as_dict(error_data).get("details")) or _text(error_data)  # an object, or a bare string
    detail = details or (_text(api_error.get("message")) if api_error.get("message") != title else "")
    return code, title, detail


def _parse_status(path: str, message: dict[str, Any], out: _Collector) -> None:
    # The wamid, as our send stored it (YCloud's id until a wamid exists: a send refused before Meta).
    message_id, state = _text(message.get("wamid")) or _text(message.get("id")), _text(message.get("status"))
    if not message_id:
        out.problem(path, "status without id")
        return
    if not state:
        out.problem(path, f"status for {message_id} without status")
        return
    if state == QUEUED_STATUS:
        return
    channel = e164(message.get("from"))
    if not channel:
        out.problem(path, f"status for {message_id} has no from (the business number); skipped")
        return
    if state not in KNOWN_STATUSES:
        out.problem(path, f"unknown status {state!r} for {message_id}; passed on as-is")
    code, title, detail = _status_error(message)
    stamp = message.get(STATUS_TIME_FIELDS.get(state, "updateTime"))
    out.events.append(
        StatusUpdate(
            provider_message_id=message_id,
            channel_external_id=channel,
            status=state,
            timestamp=parse_rfc3339(stamp) or parse_rfc3339(message.get("updateTime")),
            recipient_id=wa_id(message.get("to")),
            error_code=code,
            error_title=title,
            error_detail=detail,
            callback_data=_text(message.get("externalId"))[:MAX_CALLBACK_DATA],
            raw=message,
        )
    )
