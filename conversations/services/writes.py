"""A conversation's writes during one turn of the pipeline, saved together in one UPDATE.

Storing a message touches its conversation (last activity, unread count, preview), queuing the
bot's reply touches it again (preview), and the rule engine moves its step and status: three
UPDATEs of one row in one transaction. While the pipeline runs a turn it marks the conversation
as deferring (``conversation_defer``); each step sets its fields on the instance and adds their
names; ``conversation_save`` writes everything pending at once. Outside a turn (the console, the
admin, a task) nothing is deferred and ``conversation_save`` writes the given fields at once.

The message a turn answers is stored the same way: INSERTed when the turn first needs it in the
database (``turn_message_store``: before its first reply is queued, or at the turn's end), so that
what the bots note on it (the rules that matched, the AI's hand-off) rides in its INSERT instead of
an UPDATE of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from conversations.models import Conversation
from conversations.services.sql import row_update

_KEY = "_wia_deferred_fields"
_MESSAGE_KEY = "_wia_deferred_message"


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
        # A plain UPDATE built once per field set (auto_now included), sent with the next statement or the
        # COMMIT: nothing reads its row count.
        row_update(conversation, names, later=True)


def conversation_turn_end(conversation: Conversation) -> None:
    """Write what is still deferred and stop deferring."""
    conversation_save(conversation)
    conversation.__dict__.pop(_KEY, None)


def turn_message_defer(conversation: Conversation, store: Callable[[], None]) -> None:
    """The turn's message is stored by ``store`` when the turn first needs it (``turn_message_store``)."""
    conversation.__dict__[_MESSAGE_KEY] = store


def turn_message_store(conversation: Conversation) -> None:
    """Store the turn's message now unless it is stored already: before anything the turn writes after it
    (a reply), and at the turn's end. A responder that needs the message's id calls it too."""
    store = conversation.__dict__.pop(_MESSAGE_KEY, None)
    if store is not None:
        store()
