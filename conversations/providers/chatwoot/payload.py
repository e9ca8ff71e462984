"""OutboundMessage -> the body of Chatwoot's "create message" call, every limit checked first.

POST /api/v1/accounts/{account}/conversations/{display id}/messages takes JSON
``{"content", "message_type": "outgoing", "private": false, "content_type"}``, or multipart with
``attachments[]`` file parts for files. Chatwoot then delivers to Instagram / Messenger itself.

Buttons and lists: Chatwoot turns an ``input_select`` message into Messenger quick replies
(Facebook::SendOnFacebookService, payload = the option's title), but its Instagram send service
sends only the text (checked in chatwoot/chatwoot app/services/instagram/base_send_service.rb:
``message: {text: message.content}``). So the options are ALSO written into the text as a
numbered list: Instagram customers see them and answer with the number or the words, Messenger
customers get tappable chips besides. The quick-reply limits (13 options, 20-character titles)
are checked because Messenger refuses more.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable
from typing import Any

from conversations.providers.base import OutboundMessage, OutboundValidationError

__all__ = [
    "FILE_KINDS",
    "MAX_QUICK_REPLIES",
    "MAX_QUICK_REPLY_TITLE",
    "MAX_TEXT",
    "NO_TEMPLATES",
    "build_message_payload",
    "numbered_options",
]

MAX_TEXT = 2000  # Messenger's text limit (Instagram's is 1000 bytes: Chatwoot reports a longer one as failed)
MAX_QUICK_REPLIES = 13  # Instagram and Messenger quick replies
MAX_QUICK_REPLY_TITLE = 20
FILE_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})
NO_TEMPLATES = "Chatwoot inboxes (Instagram, Facebook) have no message templates"
_BASE = {"message_type": "outgoing", "private": False}


def _check_text(label: str, value: str, *, required: bool) -> None:
    if required and not value.strip():
        raise OutboundValidationError(f"{label} is empty; Chatwoot needs some text to send")
    if len(value) > MAX_TEXT:
        raise OutboundValidationError(f"{label} is {len(value)} characters; Instagram and Messenger allow {MAX_TEXT}")


def _reply_attributes(message: OutboundMessage) -> dict[str, Any]:
    """content_attributes.in_reply_to: the Chatwoot id of the quoted message (ours may carry ':<attachment>')."""
    quoted = message.reply_to.partition(":")[0].strip()
    return {"in_reply_to": int(quoted)} if quoted.isdigit() else {}


def _text_payload(message: OutboundMessage) -> dict[str, Any]:
    _check_text("text body", message.text, required=True)
    return {"content": message.text, **_BASE, "content_type": "text"}


def numbered_options(options: list[tuple[str, str]]) -> str:
    """'1. Title — description' lines, one per option."""
    return "\n".join(
        f"{number}. {title} — {description}" if description else f"{number}. {title}"
        for number, (title, description) in enumerate(options, start=1)
    )


def _options_payload(message: OutboundMessage, options: list[tuple[str, str, str]]) -> dict[str, Any]:
    """input_select with items [{title, value}] and the options numbered in the text too (see module docstring)."""
    if not options:
        raise OutboundValidationError(f"{message.kind} message without options")
    if len(options) > MAX_QUICK_REPLIES:
        raise OutboundValidationError(
            f"{len(options)} options given; Instagram and Messenger quick replies allow {MAX_QUICK_REPLIES}"
        )
    seen: set[str] = set()
    for number, (option_id, title, _description) in enumerate(options, start=1):
        if not title.strip() or not option_id.strip():
            raise OutboundValidationError(f"option {number} needs an id and a title")
        if len(title) > MAX_QUICK_REPLY_TITLE:
            raise OutboundValidationError(
                f"option {number} title {title!r} is {len(title)} characters; "
                f"Instagram and Messenger quick replies allow {MAX_QUICK_REPLY_TITLE}"
            )
        if title in seen:  # Messenger returns the title as the reply: two equal titles cannot be told apart
            raise OutboundValidationError(f"option {number} title {title!r} repeats an earlier option")
        seen.add(title)
    body = message.text.strip()
    if not body:
        raise OutboundValidationError(f"{message.kind} message without body text")
    parts = [message.header.strip(), body, numbered_options([(t, d) for _, t, d in options]), message.footer.strip()]
    content = "\n\n".join(part for part in parts if part)
    _check_text(f"{message.kind} text with its options", content, required=True)
    items = [{"title": title, "value": option_id} for option_id, title, _ in options]
    return {"content": content, **_BASE, "content_type": "input_select", "content_attributes": {"items": items}}


def _buttons_payload(message: OutboundMessage) -> dict[str, Any]:
    options = []
    for number, button in enumerate(message.buttons, start=1):
        if not (isinstance(button, tuple | list) and len(button) == 2 and all(isinstance(v, str) for v in button)):
            raise OutboundValidationError(f"button {number} must be (id, title), got {button!r}")
        options.append((button[0], button[1], ""))
    return _options_payload(message, options)


def _list_payload(message: OutboundMessage) -> dict[str, Any]:
    options = []
    for section in message.sections:
        if not (isinstance(section, tuple | list) and len(section) == 2):
            raise OutboundValidationError(f"list section must be (title, rows), got {section!r}")
        for row in section[1]:
            if not (isinstance(row, tuple | list) and len(row) == 3 and all(isinstance(v, str) for v in row)):
                raise OutboundValidationError(f"list row must be (id, title, description), got {row!r}")
            options.append((row[0], row[1], row[2]))
    return _options_payload(message, options)


def _file_payload(message: OutboundMessage) -> dict[str, Any]:
    """A local file goes inline (multipart); a link is sent as text, since downloading is not our job here."""
    _check_text("caption", message.caption, required=False)
    if message.media_path:
        # Validated when queued (a stored file's name under MEDIA_ROOT); the delivery step makes it the
        # absolute path `send` opens (outbound_media, `sends_files_inline`).
        filename = message.filename or os.path.basename(message.media_path)
        mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        attachment = {"path": message.media_path, "filename": filename, "mime_type": mime_type}
        return {"content": message.caption, **_BASE, "attachments": [attachment]}
    if message.media_link:
        content = "\n".join(part for part in (message.caption.strip(), message.media_link.strip()) if part)
        _check_text(f"{message.kind} link with its caption", content, required=True)
        return {"content": content, **_BASE, "content_type": "text"}
    if message.media_id:
        raise OutboundValidationError(
            "Chatwoot takes files inline: give media_path (a local file) or media_link, not a media_id"
        )
    raise OutboundValidationError(f"{message.kind} message without media_path or media_link")


def _template_payload(message: OutboundMessage) -> dict[str, Any]:
    raise OutboundValidationError(NO_TEMPLATES)


_BUILDERS: dict[str, Callable[[OutboundMessage], dict[str, Any]]] = {
    "text": _text_payload,
    "buttons": _buttons_payload,
    "list": _list_payload,
    **dict.fromkeys(FILE_KINDS, _file_payload),
    "template": _template_payload,
}


def build_message_payload(message: OutboundMessage) -> dict[str, Any]:
    """The create-message body for `message`; raises OutboundValidationError on a broken limit.

    JSON-ready, except that a file to send inline is described under ``"attachments"`` as
    ``[{"path", "filename", "mime_type"}]``: `ChatwootProvider.send` turns that into multipart.
    """
    builder = _BUILDERS.get(message.kind)
    if builder is None:
        raise OutboundValidationError(f"unknown message kind {message.kind!r} for Chatwoot")
    payload = builder(message)
    reply = _reply_attributes(message)
    if reply:
        payload["content_attributes"] = {**payload.get("content_attributes", {}), **reply}
    return payload
