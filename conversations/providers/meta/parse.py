"""Meta webhooks -> normalized events. Pure and total: any decoded JSON (or garbage) in, a
`ParseResult` out; every skipped or unknown piece is named in `problems` with its path
(``entry[0].changes[1]``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conversations.providers.base import (
    InboundEvent,
    InboundMessage,
    MediaRef,
    ParseResult,
    ProviderNotice,
    StatusUpdate,
)
from conversations.providers.meta.values import MAX_CALLBACK_DATA, MEDIA_KINDS, parse_timestamp
from conversations.providers.meta.values import as_dict as _as_dict
from conversations.providers.meta.values import as_list as _as_list
from conversations.providers.meta.values import json_type as _json_type
from conversations.providers.meta.values import text as _text

__all__ = [
    "contact_card_summary",
    "contact_names",
    "location_summary",
    "parse_error",
    "parse_errors",
    "parse_referral",
    "parse_webhook",
]

WEBHOOK_OBJECT = "whatsapp_business_account"
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})
REFERRAL_KEYS = (
    "source_url",
    "source_id",
    "source_type",
    "headline",
    "body",
    "media_type",
    "image_url",
    "video_url",
    "thumbnail_url",
    "ctwa_clid",
)


@dataclass
class _Collector:
    events: list[InboundEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


@dataclass(frozen=True)
class _ValueContext:
    """What every item of one `changes[].value` shares."""

    channel: str
    names: dict[str, str]
    out: _Collector

    def contact_name(self, *identities: str) -> str:
        return next((self.names[i] for i in identities if i and self.names.get(i)), "")


@dataclass(frozen=True)
class _Body:
    """The type-specific part of an inbound message."""

    kind: str
    text: str = ""
    caption: str = ""
    media: MediaRef | None = None
    interactive_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    unknown: bool = False
    problem: str = ""


def _each(items: list[Any], where: str, name: str, out: _Collector, handle: Callable[[str, Any], None]) -> None:
    """Call `handle(path, item)` for every item; an unexpected crash skips only that item."""
    for index, item in enumerate(items):
        path = f"{where}.{name}[{index}]" if where else f"{name}[{index}]"
        try:
            handle(path, item)
        except Exception as exc:  # parse() must never raise; the rest of the delivery still counts
            out.problem(path, f"skipped after parser error {type(exc).__name__}: {exc}")


def _list_field(container: dict[str, Any], key: str, where: str, out: _Collector) -> list[Any] | None:
    """container[key] when it is a list; otherwise None and a problem."""
    value = container.get(key)
    if isinstance(value, list):
        return value
    out.problem(where, f"missing {key}" if value is None else f"{key} is a {_json_type(value)}, expected a list")
    return None


def parse_webhook(payload: Any) -> ParseResult:
    """Normalize one decoded webhook body. Pure; never raises (see module docstring)."""
    out = _Collector()
    try:
        _parse_envelope(payload, out)
    except Exception as exc:  # belt and braces: _each already isolates items
        out.problem("payload", f"parser error {type(exc).__name__}: {exc}")
    return ParseResult(events=out.events, problems=out.problems)


def _parse_envelope(payload: Any, out: _Collector) -> None:
    if not isinstance(payload, dict):
        out.problem("payload", f"expected a JSON object, got a {_json_type(payload)}")
        return
    kind = payload.get("object")
    if kind != WEBHOOK_OBJECT:
        out.problem("payload", f"object is {kind!r}, expected {WEBHOOK_OBJECT!r}; nothing parsed")
        return
    entries = _list_field(payload, "entry", "payload", out)
    if entries is None:
        return
    if not entries:
        out.problem("payload", "entry is empty")
    _each(entries, "", "entry", out, functools.partial(_parse_entry, out=out))


def _parse_entry(path: str, entry: Any, *, out: _Collector) -> None:
    if not isinstance(entry, dict):
        out.problem(path, f"expected an object, got a {_json_type(entry)}")
        return
    changes = _list_field(entry, "changes", path, out)
    if changes is None:
        return
    if not changes:
        out.problem(path, "no changes")
    _each(changes, path, "changes", out, functools.partial(_parse_change, out=out))


def _parse_change(path: str, change: Any, *, out: _Collector) -> None:
    if not isinstance(change, dict):
        out.problem(path, f"expected an object, got a {_json_type(change)}")
        return
    field_name = change.get("field")
    if field_name is None:
        out.problem(path, "missing field; read as 'messages'")
    elif field_name != "messages":
        out.problem(path, f"ignored field {field_name!r}")
        return
    value = change.get("value")
    if not isinstance(value, dict):
        out.problem(path, "missing value" if value is None else f"value is a {_json_type(value)}, expected an object")
        return
    _parse_value(f"{path}.value", value, out)


_ValueHandler = Callable[..., None]  # (path, item, *, context)


def _parse_value(path: str, value: dict[str, Any], out: _Collector) -> None:
    channel = _text(_as_dict(value.get("metadata")).get("phone_number_id"))
    if not channel:
        out.problem(path, "missing metadata.phone_number_id; value skipped")
        return
    context = _ValueContext(channel=channel, names=contact_names(value.get("contacts")), out=out)
    present = [key for key in _VALUE_SECTIONS if key in value]
    if not present:
        out.problem(path, "no messages, statuses or errors")
    for key in present:
        items = value[key]
        if not isinstance(items, list):
            out.problem(f"{path}.{key}", f"expected a list, got a {_json_type(items)}")
            continue
        _each(items, path, key, out, functools.partial(_VALUE_SECTIONS[key], context=context))


def contact_names(contacts: Any) -> dict[str, str]:
    """`value.contacts[]` as {wa_id or user_id: profile name}."""
    names: dict[str, str] = {}
    for contact in _as_list(contacts):
        contact = _as_dict(contact)
        name = _text(_as_dict(contact.get("profile")).get("name"))
        for key in ("wa_id", "user_id"):
            identity = _text(contact.get(key))
            if identity and name:
                names.setdefault(identity, name)
    return names


def _parse_message(path: str, message: Any, *, context: _ValueContext) -> None:
    out = context.out
    if not isinstance(message, dict):
        out.problem(path, f"expected a message object, got a {_json_type(message)}")
        return
    message_id = _text(message.get("id"))
    if not message_id:
        out.problem(path, "message without id")
        return
    sender, sender_user_id = _text(message.get("from")), _text(message.get("from_user_id"))
    if not (sender or sender_user_id):
        out.problem(path, f"message {message_id} has neither from nor from_user_id")
        return
    body = _message_body(message)
    if body.problem:
        out.problem(path, body.problem)
    quoted = _as_dict(message.get("context"))
    data = {**body.data, "context": dict(quoted)} if quoted else dict(body.data)
    out.events.append(
        InboundMessage(
            provider_message_id=message_id,
            channel_external_id=context.channel,
            contact_external_id=sender or sender_user_id,
            contact_name=context.contact_name(sender, sender_user_id),
            kind=body.kind,
            sent_at=parse_timestamp(message.get("timestamp")),
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


def _message_body(message: dict[str, Any]) -> _Body:
    """Pick the body parser from `type`; messages Meta flags with errors are 'unsupported'."""
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
    return _Body(kind="text", text=_text(_as_dict(message.get("text")).get("body")))


def _reply_body(subtype: str, reply: dict[str, Any]) -> _Body:
    title = _text(reply.get("title"))
    data = {"interactive_type": subtype, "title": title, "description": _text(reply.get("description"))}
    return _Body(kind="interactive", text=title, interactive_id=_text(reply.get("id")), data=data)


def _flow_reply_body(subtype: str, reply: dict[str, Any]) -> _Body:
    data = {"interactive_type": subtype, "name": _text(reply.get("name")), "response_json": reply.get("response_json")}
    return _Body(kind="interactive", text=_text(reply.get("body")), data=data)


_INTERACTIVE_PARSERS: dict[str, Callable[[str, dict[str, Any]], _Body]] = {
    "button_reply": _reply_body,
    "list_reply": _reply_body,
    "nfm_reply": _flow_reply_body,  # a WhatsApp Flow was submitted
}


def _interactive_body(message: dict[str, Any]) -> _Body:
    interactive = _as_dict(message.get("interactive"))
    subtype = _text(interactive.get("type"))
    parser = _INTERACTIVE_PARSERS.get(subtype)
    if parser is None:
        return _unknown_body(f"interactive.{subtype}", f"unknown interactive type {subtype!r}; kept as unsupported")
    return parser(subtype, _as_dict(interactive.get(subtype)))


def _button_body(message: dict[str, Any]) -> _Body:
    button = _as_dict(message.get("button"))
    return _Body(kind="button", text=_text(button.get("text")), interactive_id=_text(button.get("payload")))


def _media_body(message: dict[str, Any]) -> _Body:
    kind = _text(message.get("type"))
    obj = _as_dict(message.get(kind))
    media = MediaRef(
        media_id=_text(obj.get("id")),
        mime_type=_text(obj.get("mime_type")),
        sha256=_text(obj.get("sha256")),
        filename=_text(obj.get("filename")),
        url=_text(obj.get("url")),
        voice=obj.get("voice") is True,
        animated=obj.get("animated") is True,
    )
    problem = "" if media.media_id or media.url else f"{kind} without id or url"
    return _Body(kind=kind, caption=_text(obj.get("caption")), media=media, problem=problem)


def location_summary(location: Mapping[str, Any]) -> str:
    """'📍 Name, Address (lat, lon)' from whatever parts are present."""
    parts = [_text(location.get(key)).strip() for key in ("name", "address")]
    label = ", ".join(part for part in parts if part)
    latitude, longitude = _text(location.get("latitude")), _text(location.get("longitude"))
    coordinates = f"{latitude}, {longitude}" if latitude and longitude else ""
    if label and coordinates:
        return f"📍 {label} ({coordinates})"
    return f"📍 {label or coordinates}" if label or coordinates else ""


def _location_body(message: dict[str, Any]) -> _Body:
    location = _as_dict(message.get("location"))
    data = {key: location.get(key) for key in ("latitude", "longitude", "name", "address", "url")}
    return _Body(kind="location", text=location_summary(data), data=data)


def contact_card_summary(card: Mapping[str, Any]) -> str:
    """'Name (phone, phone)' for one shared contact card."""
    name = _as_dict(card.get("name"))
    full = _text(name.get("formatted_name")) or " ".join(
        part for part in (_text(name.get("first_name")), _text(name.get("last_name"))) if part
    )
    phones = [_text(p.get("phone")) or _text(p.get("wa_id")) for p in map(_as_dict, _as_list(card.get("phones")))]
    phones = [phone for phone in phones if phone]
    if full and phones:
        return f"{full} ({', '.join(phones)})"
    return full or ", ".join(phones)


def _contacts_body(message: dict[str, Any]) -> _Body:
    cards = [card for card in _as_list(message.get("contacts")) if isinstance(card, dict)]
    text = "; ".join(summary for summary in map(contact_card_summary, cards) if summary)
    return _Body(kind="contacts", text=text, data={"contacts": cards})


def _reaction_body(message: dict[str, Any]) -> _Body:
    reaction = _as_dict(message.get("reaction"))
    emoji = _text(reaction.get("emoji"))  # '' means the reaction was removed
    return _Body(kind="reaction", text=emoji, data={"message_id": _text(reaction.get("message_id")), "emoji": emoji})


def _system_body(message: dict[str, Any]) -> _Body:
    system = _as_dict(message.get("system"))
    return _Body(kind="system", text=_text(system.get("body")), data={"system": dict(system)})


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


def parse_error(error: Mapping[str, Any]) -> dict[str, str]:
    """One Meta error object as {code, title, message, details} strings."""
    return {
        "code": _text(error.get("code")),
        "title": _text(error.get("title")),
        "message": _text(error.get("message")),
        "details": _text(_as_dict(error.get("error_data")).get("details")),
    }


def parse_errors(errors: Any) -> tuple[dict[str, str], ...]:
    return tuple(parse_error(error) for error in _as_list(errors) if isinstance(error, dict))


def parse_referral(referral: Any) -> dict[str, str]:
    """A click-to-WhatsApp ad referral with every REFERRAL_KEYS key ('' when absent); {} if none."""
    if not isinstance(referral, dict) or not referral:
        return {}
    return {key: _text(referral.get(key)) for key in REFERRAL_KEYS}


def _parse_status(path: str, status: Any, *, context: _ValueContext) -> None:
    out = context.out
    if not isinstance(status, dict):
        out.problem(path, f"expected a status object, got a {_json_type(status)}")
        return
    message_id, state = _text(status.get("id")), _text(status.get("status"))
    if not message_id:
        out.problem(path, "status without id")
        return
    if not state:
        out.problem(path, f"status for {message_id} without status")
        return
    if state not in KNOWN_STATUSES:
        out.problem(path, f"unknown status {state!r} for {message_id}; passed on as-is")
    errors = parse_errors(status.get("errors"))
    first = errors[0] if errors else {}
    out.events.append(
        StatusUpdate(
            provider_message_id=message_id,
            channel_external_id=context.channel,
            status=state,
            timestamp=parse_timestamp(status.get("timestamp")),
            recipient_id=_text(status.get("recipient_id")) or _text(status.get("recipient_user_id")),
            error_code=first.get("code", ""),
            error_title=first.get("title", ""),
            error_detail=first.get("details") or first.get("message", ""),
            callback_data=_text(status.get("biz_opaque_callback_data"))[:MAX_CALLBACK_DATA],
            raw=status,
        )
    )


def _parse_notice(path: str, error: Any, *, context: _ValueContext) -> None:
    if not isinstance(error, dict):
        context.out.problem(path, f"expected an error object, got a {_json_type(error)}")
        return
    parsed = parse_error(error)
    context.out.events.append(
        ProviderNotice(
            channel_external_id=context.channel,
            code=parsed["code"],
            title=parsed["title"] or parsed["message"],
            detail=parsed["details"] or parsed["message"],
            raw=error,
        )
    )


_VALUE_SECTIONS: dict[str, _ValueHandler] = {
    "messages": _parse_message,
    "statuses": _parse_status,
    "errors": _parse_notice,
}


# --------------------------------------------------------------------------- outbound payloads
