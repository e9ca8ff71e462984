"""Meta WhatsApp Cloud API (Graph) provider.

Contracts:
- `parse` is pure and total: any decoded JSON (or garbage) in, a `ParseResult` out; every
  skipped or unknown piece is named in `problems` with its path (``entry[0].changes[1]``).
- `build_payload` checks every documented limit before any HTTP call and raises
  `OutboundValidationError` naming the field, its size and the limit.
- `send`, `fetch_media` and `mark_read` talk to ``{base}/{version}/...`` (base and version from
  the channel config, else settings) and turn every failure into a `ProviderError` whose
  `transient` flag comes from `ERROR_TRANSIENCE` (then from the HTTP status).
Format notes: /work/shared/providers/meta-cloud-api.md.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from conversations.providers.base import (
    InboundEvent,
    InboundMessage,
    MediaFile,
    MediaRef,
    OutboundMessage,
    OutboundValidationError,
    ParseResult,
    Provider,
    ProviderError,
    ProviderNotice,
    SendResult,
    StatusUpdate,
)

__all__ = [
    "ERROR_TRANSIENCE",
    "MetaProvider",
    "build_message_payload",
    "checksum_error",
    "compute_signature",
    "error_from_response",
    "find_header",
    "http_session",
    "is_transient",
    "normalize_recipient",
    "parse_retry_after",
    "parse_timestamp",
    "parse_webhook",
    "read_payload",
    "signature_is_valid",
]

WEBHOOK_OBJECT = "whatsapp_business_account"
SIGNATURE_HEADER = "X-Hub-Signature-256"
KNOWN_STATUSES = frozenset({"sent", "delivered", "read", "failed", "played"})
MAX_CALLBACK_DATA = 512  # biz_opaque_callback_data: sent with a message, echoed in its status webhooks
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
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
PENDING_UPLOAD = "pending-upload"  # stands for a media_path's id in a payload built before the upload

# Meta error code -> "trying again later can help". Codes not listed fall back to the HTTP
# status (429 and 5xx transient, everything else permanent); see `is_transient`.
ERROR_TRANSIENCE: dict[str, bool] = {
    "network": True,  # connection refused/reset, timeouts (ours, not Meta's)
    "130429": True,  # throughput rate limit
    "131056": True,  # pair rate limit (this recipient only)
    "131000": True,  # something went wrong
    "4": True,  # app call rate limit
    "80007": True,  # WABA rate limit
    "2": True,  # service temporarily unavailable
    "131016": True,  # service unavailable
    "131047": False,  # 24 h window closed: only a template can go out
    "131026": False,  # undeliverable to this recipient
    "190": False,  # access token expired or invalid
    "100": False,  # invalid parameter
    "131008": False,  # required parameter missing
    "131009": False,  # parameter value not valid
    "131051": False,  # unsupported message type
    "131048": False,  # spam rate limit: do not retry this message
    "368": False,  # temporarily blocked for policy violations
    "131031": False,  # account locked
    "config": False,  # channel configuration is unusable (no token, bad URL)
    "malformed_response": False,
    "media_too_large": False,
    "no_media": False,
}

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_DOWNLOAD_CHUNK = 64 * 1024
_thread_state = threading.local()


# --------------------------------------------------------------------------- small helpers


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A JSON scalar as text: strings as-is, numbers formatted, anything else ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for problem messages."""
    names: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "boolean"),
        ((int, float), "number"),
        (str, "string"),
        (list, "list"),
        (dict, "object"),
    )
    if value is None:
        return "null"
    return next((name for kind, name in names if isinstance(value, kind)), type(value).__name__)


def parse_timestamp(value: Any) -> datetime | None:
    """Unix seconds (string or integer) -> aware UTC datetime; None when missing or bad."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


# --------------------------------------------------------------------------- signature


def _header_key(name: str) -> str:
    """Normalize 'X-Hub-Signature-256', 'x_hub_signature_256' and 'HTTP_X_HUB_SIGNATURE_256' alike."""
    return name.lower().replace("_", "-").removeprefix("http-")


def find_header(headers: Any, name: str) -> str:
    """The value of header `name` in any mapping, matching names case-insensitively; '' if absent."""
    items = getattr(headers, "items", None)
    if not callable(items):
        return ""
    wanted = _header_key(name)
    for key, value in items():
        if isinstance(key, str) and _header_key(key) == wanted:
            if isinstance(value, bytes):
                return value.decode("latin-1")
            return value if isinstance(value, str) else ""
    return ""


def compute_signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 header value Meta sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(*, secret: str, body: Any, header: str) -> bool:
    """Constant-time check of a 'sha256=<hex>' header; False for an empty secret or a malformed header."""
    if not secret or not isinstance(body, bytes | bytearray):
        return False
    scheme, separator, digest = header.strip().partition("=")
    if separator != "=" or scheme.lower() != "sha256" or not _HEX_SHA256.fullmatch(digest):
        return False
    expected = compute_signature(secret, bytes(body)).removeprefix("sha256=")
    return hmac.compare_digest(expected, digest.lower())


# --------------------------------------------------------------------------- parsing


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


def _preview(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _check_length(label: str, value: str, *, maximum: int, required: bool = False) -> None:
    """Raise OutboundValidationError when `value` is blank but required, or longer than `maximum`."""
    if required and not value.strip():
        raise OutboundValidationError(f"{label} is empty; WhatsApp requires 1 to {maximum} characters")
    if len(value) > maximum:
        raise OutboundValidationError(
            f"{label} {_preview(value)} is {len(value)} characters; WhatsApp allows {maximum}"
        )


def _check_count(label: str, count: int, *, minimum: int, maximum: int) -> None:
    if not minimum <= count <= maximum:
        raise OutboundValidationError(f"{label}: {count} given; WhatsApp allows {minimum} to {maximum}")


def _check_id(label: str, value: str, *, maximum: int, no_outer_spaces: bool) -> None:
    _check_length(label, value, maximum=maximum, required=True)
    if no_outer_spaces and value != value.strip():
        raise OutboundValidationError(f"{label} {value!r} has leading or trailing spaces; WhatsApp rejects them")


def _check_unique(label: str, value: str, seen: dict[str, str]) -> None:
    """`seen` maps values already used to the label that used them."""
    if value in seen:
        raise OutboundValidationError(f"{label} {value!r} repeats {seen[value]}; WhatsApp requires unique values")
    seen[value] = label


def normalize_recipient(to: str) -> str:
    """'+573001112233' -> '573001112233'; raises unless 6 to 20 ASCII digits remain."""
    digits = to.strip().removeprefix("+") if isinstance(to, str) else ""
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 20):
        raise OutboundValidationError(f"recipient {to!r} must be 6 to 20 digits (a leading + is allowed)")
    return digits


def _pair(value: Any, size: int, label: str) -> tuple[str, ...]:
    if not (isinstance(value, tuple | list) and len(value) == size and all(isinstance(v, str) for v in value)):
        raise OutboundValidationError(f"{label} must be a tuple of {size} strings, got {value!r}")
    return tuple(value)


def _interactive_texts(message: OutboundMessage) -> dict[str, Any]:
    """The header/body/footer parts shared by button and list messages, validated."""
    _check_length("body text", message.text, maximum=1024, required=True)
    _check_length("header", message.header, maximum=60)
    _check_length("footer", message.footer, maximum=60)
    parts: dict[str, Any] = {}
    if message.header:
        parts["header"] = {"type": "text", "text": message.header}
    parts["body"] = {"text": message.text}
    if message.footer:
        parts["footer"] = {"text": message.footer}
    return parts


def _text_payload(message: OutboundMessage) -> dict[str, Any]:
    _check_length("text body", message.text, maximum=4096, required=True)
    return {"type": "text", "text": {"preview_url": bool(message.preview_url), "body": message.text}}


def _buttons_payload(message: OutboundMessage) -> dict[str, Any]:
    _check_count("buttons", len(message.buttons), minimum=1, maximum=3)
    ids: dict[str, str] = {}
    titles: dict[str, str] = {}
    buttons = []
    for number, button in enumerate(message.buttons, start=1):
        button_id, title = _pair(button, 2, f"button {number}")
        _check_id(f"button {number} id", button_id, maximum=256, no_outer_spaces=True)
        _check_length(f"button {number} title", title, maximum=20, required=True)
        _check_unique(f"button {number} id", button_id, ids)
        _check_unique(f"button {number} title", title, titles)
        buttons.append({"type": "reply", "reply": {"id": button_id, "title": title}})
    interactive = {"type": "button", **_interactive_texts(message), "action": {"buttons": buttons}}
    return {"type": "interactive", "interactive": interactive}


def _list_row(label: str, row: Any, ids: dict[str, str]) -> dict[str, str]:
    row_id, title, description = _pair(row, 3, label)
    _check_id(f"{label} id", row_id, maximum=200, no_outer_spaces=False)
    _check_length(f"{label} title", title, maximum=24, required=True)
    _check_length(f"{label} description", description, maximum=72)
    _check_unique(f"{label} id", row_id, ids)
    return {"id": row_id, "title": title, **({"description": description} if description else {})}


def _section_parts(section: Any, number: int) -> tuple[str, list[Any]]:
    if not (
        isinstance(section, tuple | list)
        and len(section) == 2
        and isinstance(section[0], str)
        and isinstance(section[1], tuple | list)
    ):
        raise OutboundValidationError(f"section {number} must be a (title, rows) pair, got {section!r}")
    return section[0], list(section[1])


def _list_payload(message: OutboundMessage) -> dict[str, Any]:
    _check_length("list button label", message.list_button, maximum=20, required=True)
    _check_count("sections", len(message.sections), minimum=1, maximum=10)
    sections = [_section_parts(section, n) for n, section in enumerate(message.sections, start=1)]
    _check_count("rows across all sections", sum(len(rows) for _, rows in sections), minimum=1, maximum=10)
    ids: dict[str, str] = {}
    built = []
    for number, (title, rows) in enumerate(sections, start=1):
        _check_length(f"section {number} title", title, maximum=24, required=len(sections) > 1)
        if not rows:
            raise OutboundValidationError(f"section {number} has no rows; WhatsApp requires at least one")
        built_rows = [_list_row(f"section {number} row {r}", row, ids) for r, row in enumerate(rows, start=1)]
        built.append({**({"title": title} if title else {}), "rows": built_rows})
    action = {"button": message.list_button, "sections": built}
    interactive = {"type": "list", **_interactive_texts(message), "action": action}
    return {"type": "interactive", "interactive": interactive}


@dataclass(frozen=True)
class _MediaRules:
    caption: bool = False
    filename: bool = False
    voice: bool = False


_MEDIA_RULES: dict[str, _MediaRules] = {
    "image": _MediaRules(caption=True),
    "audio": _MediaRules(voice=True),
    "video": _MediaRules(caption=True),
    "document": _MediaRules(caption=True, filename=True),
    "sticker": _MediaRules(),
}


def _check_media_path(path: str) -> None:
    """A file under MEDIA_ROOT: relative, no '..', no backslashes."""
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or any(part in ("", ".", "..") for part in parts):
        raise OutboundValidationError(f"media_path {_preview(path)} must be a relative path under MEDIA_ROOT")


def _media_source(kind: str, message: OutboundMessage) -> dict[str, str]:
    sources = [bool(message.media_id.strip()), bool(message.media_link.strip()), bool(message.media_path.strip())]
    if sum(sources) != 1:
        got = "none" if not any(sources) else "several"
        raise OutboundValidationError(f"{kind} needs exactly one of media_id, media_link or media_path; got {got}")
    if message.media_path.strip():
        _check_media_path(message.media_path.strip())
        return {"id": PENDING_UPLOAD}  # validation only: the delivery step uploads it first
    if message.media_id.strip():
        return {"id": message.media_id.strip()}
    link = message.media_link.strip()
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OutboundValidationError(f"media_link {_preview(link)} must be an http(s) URL")
    return {"link": link}


def _media_payload(message: OutboundMessage) -> dict[str, Any]:
    kind = message.kind
    rules = _MEDIA_RULES[kind]
    media: dict[str, Any] = _media_source(kind, message)
    if message.caption:
        if not rules.caption:
            raise OutboundValidationError(f"{kind} cannot have a caption; only image, video and document can")
        _check_length("caption", message.caption, maximum=1024)
        media["caption"] = message.caption
    if rules.filename and message.filename:
        _check_length("filename", message.filename, maximum=240)
        media["filename"] = message.filename
    if rules.voice and message.voice:
        media["voice"] = True
    return {"type": kind, kind: media}


def _template_payload(message: OutboundMessage) -> dict[str, Any]:
    if not _TEMPLATE_NAME.fullmatch(message.template_name):
        raise OutboundValidationError(
            f"template name {_preview(message.template_name)} must be 1 to 512 lowercase letters, digits or _"
        )
    language = message.template_language.strip()
    if not language:
        raise OutboundValidationError("template language is empty; use a code such as 'es' or 'es_AR'")
    for number, component in enumerate(message.template_components, start=1):
        if not isinstance(component, dict):
            raise OutboundValidationError(f"template component {number} must be an object, got {component!r}")
    template: dict[str, Any] = {"name": message.template_name, "language": {"code": language}}
    if message.template_components:
        template["components"] = copy.deepcopy(list(message.template_components))
    return {"type": "template", "template": template}


_PAYLOAD_BUILDERS: dict[str, Callable[[OutboundMessage], dict[str, Any]]] = {
    "text": _text_payload,
    "buttons": _buttons_payload,
    "list": _list_payload,
    **dict.fromkeys(MEDIA_KINDS, _media_payload),
    "template": _template_payload,
}


def build_message_payload(message: OutboundMessage) -> dict[str, Any]:
    """Meta's /messages JSON for `message`; raises OutboundValidationError on any broken limit."""
    builder = _PAYLOAD_BUILDERS.get(message.kind)
    if builder is None:
        known = ", ".join(sorted(_PAYLOAD_BUILDERS))
        raise OutboundValidationError(f"unknown outbound kind {message.kind!r}; expected one of {known}")
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": normalize_recipient(message.to),
    }
    payload.update(builder(message))
    if message.reply_to:
        payload["context"] = {"message_id": message.reply_to}
    if message.callback_data:
        _check_length("biz_opaque_callback_data", message.callback_data, maximum=MAX_CALLBACK_DATA)
        payload["biz_opaque_callback_data"] = message.callback_data
    return payload


def read_payload(provider_message_id: str) -> dict[str, Any]:
    """The body that marks an inbound message as read (blue ticks)."""
    if not provider_message_id.strip():
        raise OutboundValidationError("mark_read needs the provider message id")
    return {"messaging_product": "whatsapp", "status": "read", "message_id": provider_message_id}


# --------------------------------------------------------------------------- HTTP and errors


def http_session() -> requests.Session:
    """This thread's pooled session (requests.Session is not guaranteed thread-safe).

    requests reads the environment on every request by default (proxies, CA bundle, ~/.netrc:
    measured 0.81 ms of CPU per send with it, 0.58 ms without). Here it is read once: `verify` from
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE now, proxies per origin by `environ_proxies`. ~/.netrc is
    never consulted: its credentials would replace the bearer token.
    """
    session: requests.Session | None = getattr(_thread_state, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _thread_state.session = session
    return session


@functools.lru_cache(maxsize=64)
def _origin_proxies(origin: str) -> dict[str, str]:
    return requests.utils.get_environ_proxies(origin)


def environ_proxies(url: str) -> dict[str, str]:
    """HTTP(S)_PROXY for `url` unless NO_PROXY covers its host (read once per origin and process)."""
    parts = urlsplit(url)
    return _origin_proxies(f"{parts.scheme}://{parts.netloc}")


def is_transient(code: str, http_status: int | None) -> bool:
    """ERROR_TRANSIENCE by code first; unknown codes: HTTP 429 and 5xx are transient, the rest permanent."""
    known = ERROR_TRANSIENCE.get(code)
    if known is not None:
        return known
    return http_status is not None and (http_status == 429 or http_status >= 500)


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(tz=UTC)).total_seconds())


def _failure(message: str, code: str, **extra: Any) -> ProviderError:
    return ProviderError(message, code=code, transient=is_transient(code, extra.get("http_status")), **extra)


# Exceptions raised by requests before any response, in match order: (type, code).
_REQUEST_FAILURES: tuple[tuple[type[requests.RequestException], str], ...] = (
    (requests.exceptions.MissingSchema, "config"),
    (requests.exceptions.InvalidSchema, "config"),
    (requests.exceptions.InvalidURL, "config"),
    (requests.RequestException, "network"),
)


def _request_failure(exc: requests.RequestException, what: str) -> ProviderError:
    code = next(code for kind, code in _REQUEST_FAILURES if isinstance(exc, kind))
    return _failure(f"{what}: {type(exc).__name__}: {exc}", code)


def _json_dict(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from_response(response: requests.Response, what: str) -> ProviderError:
    """A ProviderError from a non-2xx Graph response (Meta error body or anything else)."""
    body = _json_dict(response)
    error = _as_dict(body.get("error"))
    status = response.status_code
    code = _text(error.get("code")) or f"http_{status}"
    message = _text(error.get("message")) or f"HTTP {status} {response.reason or ''}".strip()
    details = _text(_as_dict(error.get("error_data")).get("details"))
    if details and details not in message:
        message = f"{message}: {details}"
    raw = body or {"body": response.text[:2000]}
    return _failure(
        f"{what} failed: {message}",
        code,
        http_status=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        raw=raw,
    )


def checksum_error(content: bytes, expected: Iterable[str]) -> str:
    """'' when `content` matches every expected hex or base64 sha256 digest, else what differs."""
    digest = hashlib.sha256(content).digest()
    for value in filter(None, expected):
        if not _digest_matches(digest, value.strip()):
            return f"media sha256 mismatch: expected {value[:100]}, got {digest.hex()}"
    return ""


def _digest_matches(digest: bytes, value: str) -> bool:
    if _HEX_SHA256.fullmatch(value):
        return hmac.compare_digest(digest.hex(), value.lower())
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            if hmac.compare_digest(decode(value + "=" * (-len(value) % 4)), digest):
                return True
        except (binascii.Error, ValueError):
            continue
    return False


def _too_large(detail: str, max_bytes: int) -> ProviderError:
    return _failure(f"media too large: {detail}; the limit is {max_bytes} bytes", "media_too_large")


class _UrlExpired(Exception):
    """The media download URL answered 404 (it lives 5 minutes); ask Graph for a new one."""


class MetaProvider(Provider):
    """WhatsApp Cloud API for one business number (`config.external_id` = phone_number_id)."""

    name = "meta"

    # -- webhook side

    def verify_signature(self, *, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when X-Hub-Signature-256 is HMAC-SHA256(app_secret, body); False on anything missing."""
        header = find_header(headers, SIGNATURE_HEADER)
        return signature_is_valid(secret=self.config.app_secret, body=body, header=header)

    @staticmethod
    def parse(payload: Any) -> ParseResult:
        """See `parse_webhook`."""
        return parse_webhook(payload)

    # -- outbound side

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """See `build_message_payload`."""
        return build_message_payload(message)

    def send(self, message: OutboundMessage) -> SendResult:
        """POST /{phone_number_id}/messages; returns the wamid or raises ProviderError/OutboundValidationError."""
        if message.media_path:
            raise OutboundValidationError("media_path must be uploaded (media_id) or linked before sending")
        payload = self.build_payload(message)
        body = self._post_messages(payload, "send")
        first = _as_dict(next(iter(_as_list(body.get("messages"))), None))
        message_id = _text(first.get("id"))
        if not message_id:
            raise _failure("malformed send response: no messages[0].id", "malformed_response", raw=body)
        return SendResult(provider_message_id=message_id, raw=body)

    def mark_read(self, provider_message_id: str) -> None:
        """Blue ticks for an inbound message; raises ProviderError on failure."""
        self._post_messages(read_payload(provider_message_id), "mark read")

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """POST /{phone_number_id}/media (multipart: file, type, messaging_product); the media id.

        Meta keeps uploaded media 30 days; callers cache the id for less than that.
        """
        if not self.config.external_id:
            raise _failure("channel has no phone_number_id", "config")
        body = self._call_json(
            "POST",
            self._graph_url(self.config.external_id, "media"),
            "media upload",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename or "file", content, mime_type)},
        )
        media_id = _text(body.get("id"))
        if not media_id:
            raise _failure("malformed media upload response: no id", "malformed_response", raw=body)
        return media_id

    def fetch_media(self, media: MediaRef, *, max_bytes: int) -> MediaFile:
        """Download inbound media by id (Graph lookup, then the short-lived URL) or by its direct URL.

        Raises a permanent ProviderError when the file exceeds `max_bytes` and classified errors
        for everything Graph answers. A sha256 mismatch does not raise: the file comes back with
        `checksum_error` set, so the caller can download again and keep it either way.
        """
        if media.media_id:
            return self._fetch_by_id(media, max_bytes)
        if media.url:
            content, content_type = self._download(media.url, max_bytes, allow_expired=False)
            mismatch = checksum_error(content, [media.sha256])
            return self._media_file(content, media.mime_type or content_type, media.url, media, mismatch)
        raise _failure("media reference has neither media_id nor url", "no_media")

    # -- internals

    def _graph_url(self, *segments: str) -> str:
        base = (self.config.base_url or settings.META_GRAPH_URL).rstrip("/")
        version = (self.config.api_version or settings.META_API_VERSION).strip("/")
        return "/".join([base, version, *(quote(segment, safe="") for segment in segments)])

    def _headers(self) -> dict[str, str]:
        if not self.config.access_token:
            raise _failure(f"channel {self.config.external_id or '?'} has no access token", "config")
        return {"Authorization": f"Bearer {self.config.access_token}"}

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        timeout = float(getattr(settings, "PROVIDER_HTTP_TIMEOUT", 15.0))
        try:
            return http_session().request(
                method, url, headers=self._headers(), timeout=timeout, proxies=environ_proxies(url), **kwargs
            )
        except requests.RequestException as exc:
            raise _request_failure(exc, what) from exc

    def _call_json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, url, what, **kwargs)
        if not response.ok:
            raise error_from_response(response, what)
        return _json_dict(response)

    def _post_messages(self, payload: dict[str, Any], what: str) -> dict[str, Any]:
        if not self.config.external_id:
            raise _failure("channel has no phone_number_id", "config")
        return self._call_json("POST", self._graph_url(self.config.external_id, "messages"), what, json=payload)

    def _media_info(self, media_id: str) -> dict[str, Any]:
        info = self._call_json("GET", self._graph_url(media_id), "media lookup")
        if not _text(info.get("url")):
            raise _failure(f"malformed media response for {media_id}: no url", "malformed_response", raw=info)
        return info

    def _fetch_by_id(self, media: MediaRef, max_bytes: int) -> MediaFile:
        try:
            return self._fetch_announced(media, self._media_info(media.media_id), max_bytes, allow_expired=True)
        except _UrlExpired:  # the URL lives 5 minutes: ask Graph for a fresh one, once
            return self._fetch_announced(media, self._media_info(media.media_id), max_bytes, allow_expired=False)

    def _fetch_announced(
        self, media: MediaRef, info: dict[str, Any], max_bytes: int, *, allow_expired: bool
    ) -> MediaFile:
        """Download what a media lookup (`info`: url, file_size, sha256, mime_type) announced."""
        declared = _int_or_none(info.get("file_size"))
        if declared is not None and declared > max_bytes:
            raise _too_large(f"{media.media_id} is {declared} bytes", max_bytes)
        url = _text(info.get("url"))
        content, content_type = self._download(url, max_bytes, allow_expired=allow_expired)
        mismatch = checksum_error(content, [media.sha256, _text(info.get("sha256"))])
        mime_type = _text(info.get("mime_type")) or media.mime_type or content_type
        return self._media_file(content, mime_type, url, media, mismatch)

    def _download(self, url: str, max_bytes: int, *, allow_expired: bool) -> tuple[bytes, str]:
        """GET `url` with the bearer, streaming; stops as soon as more than `max_bytes` arrived."""
        with self._request("GET", url, "media download", stream=True) as response:
            if response.status_code == 404 and allow_expired:
                raise _UrlExpired(url)
            if not response.ok:
                raise error_from_response(response, "media download")
            declared = _int_or_none(response.headers.get("Content-Length"))
            if declared is not None and declared > max_bytes:
                raise _too_large(f"the download is {declared} bytes", max_bytes)
            content = _read_limited(response, max_bytes)
            return content, response.headers.get("Content-Type", "").split(";")[0].strip()

    @staticmethod
    def _media_file(content: bytes, mime_type: str, url: str, media: MediaRef, mismatch: str) -> MediaFile:
        return MediaFile(
            content=content,
            mime_type=mime_type,
            sha256=hashlib.sha256(content).hexdigest(),
            original_url=url,
            filename=media.filename,
            checksum_error=mismatch,
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except ValueError:
        return None


def _read_limited(response: requests.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(chunk_size=_DOWNLOAD_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(f"more than {max_bytes} bytes streamed", max_bytes)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise _request_failure(exc, "media download") from exc
    return b"".join(chunks)
