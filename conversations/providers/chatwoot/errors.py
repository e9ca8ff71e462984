"""Chatwoot's error answers -> `ProviderError`: 429, 408 and 5xx are worth retrying, the rest is not.

Chatwoot answers errors in several shapes, depending on the controller and the version:
``{"error": "..."}`` (authentication, not found), ``{"message": "..."}`` (validation, often with
``"attributes"``), ``{"errors": ["...", ...]}`` or ``{"errors": [{"message"/"field": ...}]}``
(some API controllers), or an HTML page from a proxy. All become one readable sentence.
"""

from __future__ import annotations

from typing import Any

from conversations.providers.base import ProviderError
from conversations.providers.http import HttpAnswer, json_dict, parse_retry_after
from conversations.providers.meta.values import as_list, text

__all__ = ["chatwoot_error_message", "error_from_response", "is_transient_status"]

_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def is_transient_status(status: int) -> bool:
    """Rate limits, request timeouts and server errors can pass; anything else will fail again."""
    return status in _TRANSIENT_STATUSES or status >= 500


def _error_item(item: Any) -> str:
    if isinstance(item, dict):
        message = text(item.get("message")) or text(item.get("error"))
        field = text(item.get("field")) or text(item.get("attribute"))
        return f"{field}: {message}" if field and message else message or field
    return text(item)


def chatwoot_error_message(body: dict[str, Any]) -> str:
    """The words of a Chatwoot error body ('' when it has none we recognise)."""
    parts: list[str] = []
    for key in ("error", "message"):
        value = body.get(key)
        if isinstance(value, dict):
            value = _error_item(value)
        elif isinstance(value, list):
            value = "; ".join(filter(None, map(_error_item, value)))
        if text(value):
            parts.append(text(value))
    errors = body.get("errors")
    if isinstance(errors, dict):  # {"field": ["is invalid"]}
        parts.extend(f"{key}: {', '.join(map(text, as_list(value))) or text(value)}" for key, value in errors.items())
    else:
        parts.extend(filter(None, map(_error_item, as_list(errors))))
    attributes = [text(item) for item in as_list(body.get("attributes")) if text(item)]
    if attributes:
        parts.append(f"attributes: {', '.join(attributes)}")
    return "; ".join(dict.fromkeys(parts))


def error_from_response(response: HttpAnswer, what: str) -> ProviderError:
    """A ProviderError from a non-2xx Chatwoot answer; code ``http_<status>``."""
    status = response.status_code
    body = json_dict(response)
    message = chatwoot_error_message(body) or f"HTTP {status} {response.reason or ''}".strip()
    return ProviderError(
        f"{what} failed: {message}",
        code=f"http_{status}",
        transient=is_transient_status(status),
        http_status=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        raw=body or {"body": response.text[:2000]},
    )
