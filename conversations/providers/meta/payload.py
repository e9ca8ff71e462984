"""Meta /messages payloads: every documented limit is checked before any HTTP call, and a broken
one raises `OutboundValidationError` naming the field, its size and the limit."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conversations.providers.base import OutboundMessage, OutboundValidationError
from conversations.providers.meta.values import MAX_CALLBACK_DATA, MEDIA_KINDS

__all__ = ["PENDING_UPLOAD", "build_message_payload", "normalize_recipient", "read_payload"]

PENDING_UPLOAD = "pending-upload"  # stands for a media_path's id in a payload built before the upload
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")


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
