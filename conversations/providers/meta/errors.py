"""Meta's errors: which codes are worth retrying, and a `ProviderError` from any Graph answer."""

from __future__ import annotations

from typing import Any

from conversations.providers.base import ProviderError
from conversations.providers.http import HttpAnswer, json_dict, parse_retry_after
from conversations.providers.meta.values import as_dict, text

__all__ = ["ERROR_TRANSIENCE", "WINDOW_CLOSED", "error_from_response", "failure", "is_transient"]

WINDOW_CLOSED = "131047"  # Meta's code for a free-form message outside the 24 h customer-service window

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
    WINDOW_CLOSED: False,  # 24 h window closed: only a template can go out
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


def is_transient(code: str, http_status: int | None) -> bool:
    """ERROR_TRANSIENCE by code first; unknown codes: HTTP 429 and 5xx are transient, the rest permanent."""
    known = ERROR_TRANSIENCE.get(code)
    if known is not None:
        return known
    return http_status is not None and (http_status == 429 or http_status >= 500)


def failure(message: str, code: str, **extra: Any) -> ProviderError:
    """A ProviderError whose `transient` flag follows `is_transient`."""
    return ProviderError(message, code=code, transient=is_transient(code, extra.get("http_status")), **extra)


def error_from_response(response: HttpAnswer, what: str) -> ProviderError:
    """A ProviderError from a non-2xx Graph response (Meta error body or anything else)."""
    body = json_dict(response)
    error = as_dict(body.get("error"))
    status = response.status_code
    code = text(error.get("code")) or f"http_{status}"
    message = text(error.get("message")) or f"HTTP {status} {response.reason or ''}".strip()
    details = text(as_dict(error.get("error_data")).get("details"))
    if details and details not in message:
        message = f"{message}: {details}"
    raw = body or {"body": response.text[:2000]}
    return failure(
        f"{what} failed: {message}",
        code,
        http_status=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        raw=raw,
    )
