"""YCloud's errors: a `ProviderError` from any YCloud answer, transient or permanent.

YCloud answers errors as ``{"error": {"status", "code", "message", "target", "docUrl", "requestId",
"whatsappApiError": {...}}}``; ``whatsappApiError`` is Meta's own error, present when YCloud
passed the request on to Meta (Direct Send) and Meta refused it. The code we report prefers
Meta's (``131047`` window closed, ``131056`` pair rate limit, ...), so the rest of the product
handles a refusal the same whichever WhatsApp provider carried it; then YCloud's own code
(``BALANCE_INSUFFICIENT``, ``TOO_MANY_REQUESTS``, ...); then ``http_<status>``.

Transience: Meta's codes by Meta's table (meta/errors.py), YCloud's by `YCLOUD_TRANSIENCE`,
anything else by the HTTP status (429 and 5xx transient; 400, 401, 403, 404, ... permanent).
"""

from __future__ import annotations

from typing import Any

from conversations.providers.base import ProviderError
from conversations.providers.http import HttpAnswer, json_dict, parse_retry_after
from conversations.providers.meta.errors import ERROR_TRANSIENCE as META_TRANSIENCE
from conversations.providers.meta.values import as_dict, text

__all__ = [
    "NO_SENDER_NUMBER_CODE",
    "PAIR_RATE_LIMIT",
    "PAIR_RETRY_AFTER",
    "YCLOUD_TRANSIENCE",
    "error_from_body",
    "error_from_response",
    "failure",
    "is_transient",
]

NO_SENDER_NUMBER_CODE = "no_sender_number"
PAIR_RATE_LIMIT = "131056"  # Meta: too many messages to this one customer just now
# Meta lets one customer receive about one message every 6 s after a burst; when YCloud gives no
# Retry-After for a pair rate limit, this is how long the message waits.
PAIR_RETRY_AFTER = 6.0

# YCloud's own error codes (https://docs.ycloud.com/reference/errors). Codes not listed fall back
# to the HTTP status.
YCLOUD_TRANSIENCE: dict[str, bool] = {
    "TOO_MANY_REQUESTS": True,
    "LIMIT_EXCEEDED": True,
    "SERVICE_UNAVAILABLE": True,
    "INTERNAL_ERROR": True,
    "BALANCE_INSUFFICIENT": False,  # nothing goes out until someone tops up the account
    "ACCOUNT_LIMITED": False,  # e.g. a trial account writing to an unverified number
    "ACCOUNT_UNAVAILABLE": False,
    "UNAUTHORIZED": False,  # bad API key
    "PERMISSION_DENIED": False,
    "PARAM_INVALID": False,
    "NOT_FOUND": False,
    "RECIPIENT_UNSUBSCRIBED": False,
    "RECIPIENT_BLOCKED": False,
    NO_SENDER_NUMBER_CODE: False,
}


def is_transient(code: str, http_status: int | None) -> bool:
    """Meta's table, then YCloud's, then the HTTP status (429 and 5xx transient, the rest permanent)."""
    for table in (META_TRANSIENCE, YCLOUD_TRANSIENCE):
        known = table.get(code)
        if known is not None:
            return known
    return http_status is not None and (http_status == 429 or http_status >= 500)


def failure(message: str, code: str, **extra: Any) -> ProviderError:
    """A ProviderError whose `transient` flag follows `is_transient`."""
    return ProviderError(message, code=code, transient=is_transient(code, extra.get("http_status")), **extra)


def _details(api_error: dict[str, Any]) -> str:
    """Meta's error_data: an object with `details` for message APIs, a bare string for template APIs."""
    error_data = api_error.get("error_data")
    return text(as_dict(error_data).get("details")) or text(error_data)


def error_from_body(
    body: dict[str, Any], *, status: int, reason: str, what: str, retry_after: float | None
) -> ProviderError:
    """The ProviderError for a YCloud error body (any JSON object; {} when the body was not JSON)."""
    error = as_dict(body.get("error"))
    api_error = as_dict(error.get("whatsappApiError"))
    code = text(api_error.get("code")) or text(error.get("code")) or f"http_{status}"
    message = text(error.get("message")) or text(api_error.get("message")) or f"HTTP {status} {reason}".strip()
    details = _details(api_error)
    if details and details not in message:
        message = f"{message}: {details}"
    if retry_after is None and code == PAIR_RATE_LIMIT:
        retry_after = PAIR_RETRY_AFTER
    return failure(f"{what} failed: {message}", code, http_status=status, retry_after=retry_after, raw=body)


def error_from_response(response: HttpAnswer, what: str) -> ProviderError:
    """A ProviderError from a non-2xx YCloud response (its error body, or anything else it sent)."""
    body = json_dict(response)
    return error_from_body(
        body or {"body": response.text[:2000]},
        status=response.status_code,
        reason=response.reason or "",
        what=what,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
