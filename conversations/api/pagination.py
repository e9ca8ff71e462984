"""Keyset (cursor) pages for the console API: stable under inserts, no OFFSET scans.

Chats: newest activity first, ``next`` goes to older activity. Messages: each page is oldest
to newest (newest last, like a chat); the first page is the newest one, ``previous`` goes to
older messages and ``next`` back to newer ones.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

PAGE_SIZE = 50


def _encode(direction: str, at: datetime | None, pk: int) -> str:
    raw = json.dumps([direction, at.isoformat() if at else None, pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, datetime | None, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        direction, at, pk = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        when = parse_datetime(at) if at is not None else None
        bad_pk = not isinstance(pk, int) or not 0 <= pk < 2**63
        if direction not in ("a", "b") or bad_pk or (at is not None and (when is None or when.tzinfo is None)):
            raise ValueError(cursor)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError({"cursor": [_("Invalid cursor.")]}) from None
    return direction, when, pk


def _url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor)


def _page(request: Request, results: list[Any], next_cursor: str | None, previous_cursor: str | None) -> dict:
    return {"next": _url(request, next_cursor), "previous": _url(request, previous_cursor), "results": results}


def conversations_page(
    request: Request,
    queryset: QuerySet,
    *,
    ids: Callable[[QuerySet, int, Q], list[int]],
    load: Callable[[list[int]], list[Any]],
    serialize: Callable[[Sequence[Any]], list[Any]],
) -> dict[str, Any]:
    """Chats in (-last_activity_at, id) order, NULL activity last; ``next`` = older activity.

    ``ids(queryset, n, after)`` picks the page's first n ids (the search lives there; ``after`` is the
    cursor's condition alone), ``load(ids)`` reads them whole.
    """
    cursor = request.query_params.get("cursor")
    after = Q()
    if cursor:
        _direction, at, pk = _decode(cursor)
        if at is None:
            after = Q(last_activity_at__isnull=True, pk__gt=pk)
        else:
            after = Q(last_activity_at__lt=at) | Q(last_activity_at=at, pk__gt=pk) | Q(last_activity_at__isnull=True)
    page_ids = ids(queryset.filter(after), PAGE_SIZE + 1, after)
    more = len(page_ids) > PAGE_SIZE
    rows = load(page_ids[:PAGE_SIZE])
    next_cursor = _encode("b", rows[-1].last_activity_at, rows[-1].pk) if more and rows else None
    return _page(request, serialize(rows), next_cursor, None)


def messages_page(
    request: Request, queryset: QuerySet, serialize: Callable[[Sequence[Any]], list[Any]]
) -> dict[str, Any]:
    """By (created_at, id): each page oldest to newest; no cursor = the newest page; ``previous`` = older."""
    cursor = request.query_params.get("cursor")
    direction, at, pk = _decode(cursor) if cursor else ("b", None, 0)
    if direction == "a":  # newer than the cursor, oldest first
        rows = list(
            queryset.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)).order_by("created_at", "id")[
                : PAGE_SIZE + 1
            ]
        )
        more_newer, more_older = len(rows) > PAGE_SIZE, True
        rows = rows[:PAGE_SIZE]
    else:  # older than the cursor (or the newest page), newest first, then turned around
        older = queryset
        if cursor:
            older = queryset.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
        rows = list(older.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
        more_older, more_newer = len(rows) > PAGE_SIZE, bool(cursor)
        rows = rows[:PAGE_SIZE][::-1]
    if not rows:
        return {"next": None, "previous": None, "results": []}
    previous_cursor = _encode("b", rows[0].created_at, rows[0].pk) if more_older else None
    next_cursor = _encode("a", rows[-1].created_at, rows[-1].pk) if more_newer else None
    return _page(request, serialize(rows), next_cursor, previous_cursor)


__all__ = ["PAGE_SIZE", "conversations_page", "messages_page"]
