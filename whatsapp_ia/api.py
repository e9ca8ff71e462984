"""DRF glue shared by every app's API."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, plus: anything unexpected becomes a JSON 500 without a traceback."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    logger.exception("Unhandled API error in %s", context.get("view"))
    return Response({"detail": "Internal error; it has been logged."}, status=500)
