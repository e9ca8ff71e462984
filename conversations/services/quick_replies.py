"""Where the console finds quick replies: a source that another app registers in ``AppConfig.ready()``.

``conversations`` does not import ``flows`` (where the QuickReply model and its admin live), so flows
registers a ``QuickReplySource`` here, the way responders plug into the pipeline (services/bots.py).
With no source registered, there are no quick replies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "QuickReplyItem",
    "QuickReplyMedia",
    "QuickReplySource",
    "quick_replies_for_user",
    "quick_reply_get",
    "quick_reply_source_register",
    "quick_reply_source_unregister",
]


@dataclass(frozen=True)
class QuickReplyMedia:
    kind: str  # image | video | audio | document
    path: str = ""  # a file under MEDIA_ROOT (uploaded at send time)
    url: str = ""  # or a public link
    caption: str = ""


@dataclass(frozen=True)
class QuickReplyItem:
    id: int
    title: str
    text: str
    media: tuple[QuickReplyMedia, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class QuickReplySource:
    # list(user=, query=) -> the active quick replies the user may use, in order, matching `query`
    list: Callable[..., Sequence[QuickReplyItem]]
    # get(user=, quick_reply_id=) -> the quick reply, or None when missing, inactive or not for this user
    get: Callable[..., QuickReplyItem | None]


_SOURCE: list[QuickReplySource] = []


def quick_reply_source_register(source: QuickReplySource) -> None:
    _SOURCE[:] = [source]


def quick_reply_source_unregister() -> None:
    _SOURCE.clear()


def quick_replies_for_user(*, user: Any, query: str = "") -> list[QuickReplyItem]:
    return list(_SOURCE[0].list(user=user, query=query.strip())) if _SOURCE else []


def quick_reply_get(*, user: Any, quick_reply_id: int) -> QuickReplyItem | None:
    return _SOURCE[0].get(user=user, quick_reply_id=quick_reply_id) if _SOURCE else None
