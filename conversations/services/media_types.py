"""What a media file is, judged by its bytes, and how it may be stored and served.

Customer files are hostile input: the mime type a webhook announces (or a file name)
is a claim, not a fact. The stored extension and the type we serve come from the
content, checked with the `filetype` library (magic bytes, pure Python, no system
libmagic), and only from the allowlist below; anything else is stored as ``.bin``
and served as ``application/octet-stream``, always as a download.
"""

from __future__ import annotations

from dataclasses import dataclass

import filetype

# Storable types: content type -> stored extension. Only these extensions are ever written.
STORED_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "text/plain": "txt",
}
UNKNOWN_TYPE = "application/octet-stream"
UNKNOWN_EXTENSION = "bin"

# Served by extension (what was stored), never by the stored media_mime or the file's claim.
SERVED_TYPES: dict[str, str] = {ext: mime for mime, ext in STORED_TYPES.items()}
SERVED_TYPES["txt"] = "text/plain; charset=utf-8"
SERVED_TYPES["jpeg"] = "image/jpeg"  # older stored names

# Shown in the browser; every other type is sent as an attachment.
INLINE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "ogg", "mp3", "m4a", "amr", "mp4", "pdf"})

# `filetype` names a few types differently from WhatsApp.
_ALIASES = {"audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4", "video/x-m4v": "video/mp4"}
_TEXT_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class SniffedType:
    mime_type: str  # what the content is ('application/octet-stream' when unknown or not allowed)
    extension: str  # the extension to store it under (from the allowlist, else 'bin')

    @property
    def known(self) -> bool:
        return self.extension != UNKNOWN_EXTENSION


def _base(mime_type: str) -> str:
    return mime_type.split(";")[0].strip().lower()


def _is_plain_text(content: bytes) -> bool:
    """UTF-8 without NUL bytes or markup openers: a .txt a customer may send (never HTML or SVG)."""
    sample = content[:_TEXT_SAMPLE]
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut by the sample's end is fine
        if exc.start < len(sample) - 4:
            return False
        text = sample[: exc.start].decode("utf-8")
    return "<" not in text.lstrip()[:1]


def media_sniff(content: bytes, *, claimed_mime: str = "") -> SniffedType:
    """The type of `content` by its bytes, restricted to STORED_TYPES.

    A claim of ``audio/*`` for an MP4 container is kept as audio (WhatsApp voice and m4a files
    are MP4 containers); text/plain is accepted only when the bytes are plain UTF-8 text.
    """
    kind = filetype.guess(content[:8192]) if content else None
    if kind is not None:
        mime = _ALIASES.get(kind.mime, kind.mime)
        if mime == "video/mp4" and _base(claimed_mime).startswith("audio/"):
            mime = "audio/mp4"
        if mime in STORED_TYPES:
            return SniffedType(mime, STORED_TYPES[mime])
        return SniffedType(UNKNOWN_TYPE, UNKNOWN_EXTENSION)
    if _base(claimed_mime) == "text/plain" and content and _is_plain_text(content):
        return SniffedType("text/plain", "txt")
    return SniffedType(UNKNOWN_TYPE, UNKNOWN_EXTENSION)


def served_type(name: str) -> tuple[str, bool]:
    """(Content-Type, inline?) for a stored file name, from its extension and the allowlists."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    content_type = SERVED_TYPES.get(extension, UNKNOWN_TYPE)
    return content_type, extension in INLINE_EXTENSIONS
