"""OpenAPI: the schema documents the console API only (the providers' webhooks are not ours to call)."""

from __future__ import annotations

from typing import Any


def only_console_api(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular preprocessing hook: keep the endpoints under /api/."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]
