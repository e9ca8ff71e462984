"""The console's quick replies (conversations.services.quick_replies), read from flows' QuickReply model."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from conversations.services.quick_replies import QuickReplyItem, QuickReplyMedia, QuickReplySource
from flows.models import QuickReply

MAX_LISTED = 200


def _for_user(user: Any) -> QuerySet[QuickReply]:
    """Active quick replies the user may use: those without roles, and those of the user's roles."""
    replies = QuickReply.objects.filter(active=True)
    if not (user.is_superuser or user.has_perm("conversations.view_all_conversations")):
        mine = user.roles.values("id")
        replies = replies.filter(Q(roles__isnull=True) | Q(roles__in=mine)).distinct()
    return replies.prefetch_related("media").order_by("order", "title", "id")


def _item(reply: QuickReply) -> QuickReplyItem:
    media = tuple(
        QuickReplyMedia(kind=m.media_type, path=m.file.name if m.file else "", url=m.url, caption=m.caption)
        for m in reply.media.all()
        if m.file or m.url
    )
    return QuickReplyItem(id=reply.pk, title=reply.title, text=reply.text, media=media)


def quick_replies_list(*, user: Any, query: str = "") -> list[QuickReplyItem]:
    replies = _for_user(user)
    if query:
        replies = replies.filter(Q(title__icontains=query) | Q(text__icontains=query))
    return [_item(reply) for reply in replies[:MAX_LISTED]]


def quick_reply_for_user(*, user: Any, quick_reply_id: int) -> QuickReplyItem | None:
    reply = _for_user(user).filter(pk=quick_reply_id).first()
    return _item(reply) if reply is not None else None


SOURCE = QuickReplySource(list=quick_replies_list, get=quick_reply_for_user)
