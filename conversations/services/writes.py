"""A conversation's writes during one turn of the pipeline, saved together in one UPDATE.

Storing a message touches its conversation (last activity, unread count, preview), queuing the
bot's reply touches it again (preview), and the rule engine moves its step and status: three
UPDATEs of one row in one transaction. While the pipeline runs a turn it marks the conversation
as deferring (``conversation_defer``); each step sets its fields on the instance and adds their
names; ``conversation_save`` writes everything pending at once. Outside a turn (the console, the
admin, a task) nothing is deferred and ``conversation_save`` writes the given fields at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from conversations.models import Conversation
from conversations.services.sql import row_update

_KEY = "_wia_deferred_fields"


def conversation_defer(conversation: Conversation, fields: Iterable[str]) -> None:
    """Note fields already set on the instance, to be written by the turn's ``conversation_save``."""
    conversation.__dict__.setdefault(_KEY, set()).update(fields)


def conversation_deferring(conversation: Conversation) -> bool:
    """Is a turn collecting this conversation's writes (so a step may defer its own)?"""
    return _KEY in conversation.__dict__


def conversation_save(conversation: Conversation, fields: Iterable[str] = ()) -> None:
    """Write ``fields`` and everything deferred so far in one UPDATE; the turn stays deferring."""
    pending = conversation.__dict__.get(_KEY)
    names = set(fields) | (pending or set())
    if pending is not None:
        pending.clear()
    if names:
        row_update(conversation, names)  # a plain UPDATE built once per field set (auto_now included)


def conversation_turn_end(conversation: Conversation) -> None:
    """Write what is still deferred and stop deferring."""
    conversation_save(conversation)
    conversation.__dict__.pop(_KEY, None)
