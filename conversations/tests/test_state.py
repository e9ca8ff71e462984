"""conversations.services.state: each transition writes only what changes and tells the consoles once."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from conversations.models import Conversation, ConversationStatus
from conversations.services import state

pytestmark = pytest.mark.django_db


def _stored(conversation: Conversation) -> tuple[str, bool, int | None]:
    row = Conversation.objects.get(pk=conversation.pk)
    return row.status, row.bot_paused, row.assigned_to_id


def test_take_over_assigns_pauses_the_bot_and_broadcasts_once(
    conversation: Conversation, django_capture_on_commit_callbacks: Any
) -> None:
    agent = User.objects.create_user("ana", password="x")
    with django_capture_on_commit_callbacks() as callbacks:
        changed = state.conversation_take_over(conversation, user=agent)
    assert sorted(changed) == ["assigned_to_id", "bot_paused", "status"]
    assert _stored(conversation) == (ConversationStatus.HUMAN, True, agent.pk)
    assert len(callbacks) == 1  # one console event

    with django_capture_on_commit_callbacks() as callbacks:
        assert state.conversation_take_over(conversation, user=agent) == []  # nothing changes: no write, no event
    assert callbacks == []


def test_release_to_bot_and_assign(conversation: Conversation) -> None:
    agent = User.objects.create_user("ana", password="x")
    state.conversation_take_over(conversation, user=agent)
    state.conversation_release_to_bot(conversation)
    assert _stored(conversation) == (ConversationStatus.BOT, False, agent.pk)  # the assignee stays
    state.conversation_assign(conversation, user=None)
    assert _stored(conversation) == (ConversationStatus.BOT, False, None)


def test_leave_ai_only_moves_the_ais_chats(conversation: Conversation) -> None:
    state.conversation_take_over(conversation)
    assert state.conversation_leave_ai(conversation) == []
    assert _stored(conversation)[0] == ConversationStatus.HUMAN
    state.conversation_hand_to_ai(conversation)
    assert _stored(conversation)[0] == ConversationStatus.AI
    assert state.conversation_leave_ai(conversation) == ["status"]
    assert _stored(conversation)[0] == ConversationStatus.BOT


def test_reopen_only_a_closed_chat(conversation: Conversation) -> None:
    state.conversation_take_over(conversation)
    assert state.conversation_reopen(conversation) == []
    state.conversation_close(conversation)
    assert _stored(conversation) == (ConversationStatus.CLOSED, True, None)
    assert sorted(state.conversation_reopen(conversation)) == ["bot_paused", "status"]
    assert _stored(conversation) == (ConversationStatus.BOT, False, None)


def test_without_save_the_caller_writes_the_returned_fields(
    conversation: Conversation, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        changed = state.conversation_hand_to_ai(conversation, save=False)
    assert changed == ["status"] and conversation.status == ConversationStatus.AI
    assert _stored(conversation)[0] == ConversationStatus.BOT and callbacks == []
    conversation.save(update_fields=[*changed, "updated_at"])
    assert _stored(conversation)[0] == ConversationStatus.AI
