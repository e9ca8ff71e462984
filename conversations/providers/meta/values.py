"""Reading Meta's JSON defensively: every accessor returns a safe default instead of raising."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_CALLBACK_DATA", "MEDIA_KINDS", "as_dict", "as_list", "json_type", "parse_timestamp", "text"]

MAX_CALLBACK_DATA = 512  # biz_opaque_callback_data: sent with a message, echoed in its status webhooks
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: Any) -> str:
    """A JSON scalar as text: strings as-is, numbers formatted, anything else ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def json_type(value: Any) -> str:
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
