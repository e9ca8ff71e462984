"""AI settings writes: switch the AI mode on/off, update its settings.

Switching the AI off returns every conversation parked in the hand-off step to
settings.INITIAL_STEP (the seed's ``reset_ai_conversations``): those that the AI
was answering go back to the rule bot; a chat a human holds keeps its agent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from catalog_ai.cache import answer_cache_clear
from catalog_ai.models import AISettings

logger = logging.getLogger(__name__)

__all__ = ["AI_SETTINGS_FIELDS", "ai_conversations_reset", "ai_mode_switch", "ai_settings_update"]

# Fields an admin may change (AISettings has no others that are editable).
AI_SETTINGS_FIELDS = (
    "enabled",
    "handoff_step",
    "embed_model",
    "gen_model",
    "max_output_tokens",
    "response_max_sentences",
    "response_max_chars",
    "fallback_message",
    "top_k",
    "min_score",
    "cache_ttl",
)
# Fields that change what an answer says: changing one forgets the cached answers.
_ANSWER_FIELDS = frozenset(AI_SETTINGS_FIELDS) - {"enabled", "handoff_step", "cache_ttl"}


def ai_conversations_reset(*, step: str) -> int:
    """Move the conversations in ``step`` to settings.INITIAL_STEP; returns how many moved."""
    from conversations.models import Conversation, Message
    from conversations.services.state import conversation_leave_ai, conversation_state_broadcast

    if not step:
        return 0
    moved = 0
    with transaction.atomic():
        conversations = list(Conversation.objects.select_for_update().filter(step=step))
        for conversation in conversations:
            conversation.step = settings.INITIAL_STEP
            # The AI's chats go back to the rules (a human keeps theirs): one write, one event.
            fields = ["step", "updated_at", *conversation_leave_ai(conversation, save=False)]
            conversation.save(update_fields=fields)
            conversation_state_broadcast(conversation)
            moved += 1
        # Messages still waiting for the AI will not get its answer now.
        waiting = Message.objects.filter(
            conversation__in=[c.pk for c in conversations], direction="in", awaiting_ai=True
        )
        for message in waiting:
            message.awaiting_ai = False
            message.data = {**message.data, "ai_skipped": "ai_disabled"}
            message.save(update_fields=["awaiting_ai", "data", "updated_at"])
    if moved:
        logger.info("AI mode off: %s conversation(s) in step %r returned to %r", moved, step, settings.INITIAL_STEP)
    return moved


def ai_mode_switch(*, enabled: bool) -> int:
    """Turn the AI mode on or off; off returns the hand-off step's conversations to INITIAL_STEP.

    Returns how many conversations were moved (always 0 when switching on).
    """
    with transaction.atomic():
        ai = AISettings.load()
        was = ai.enabled
        ai.enabled = enabled
        ai.save(update_fields=["enabled", "updated_at"])
        moved = 0 if enabled else ai_conversations_reset(step=ai.handoff_step)
    if was != enabled:
        logger.info("AI mode switched %s", "on" if enabled else "off")
    return moved


def ai_settings_update(**changes: Any) -> tuple[AISettings, int]:
    """Apply ``changes`` (AI_SETTINGS_FIELDS only) to the AI settings.

    Switching ``enabled`` off returns the hand-off step's conversations to INITIAL_STEP (as
    ``ai_mode_switch`` does), and so does renaming the hand-off step for the old name's
    conversations; changing what answers depend on forgets the cached answers. Returns (settings, conversations moved).
    """
    unknown = set(changes) - set(AI_SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Unknown AI settings: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        ai = AISettings.load()
        old_step = ai.handoff_step
        changed = {name for name, value in changes.items() if getattr(ai, name) != value}
        for name in changed:
            setattr(ai, name, changes[name])
        if changed:
            ai.full_clean()
            ai.save()
        moved = 0
        if "handoff_step" in changed:  # chats handed over under the old name would be stranded there
            moved += ai_conversations_reset(step=old_step)
        if not ai.enabled and "enabled" in changed:
            moved += ai_conversations_reset(step=ai.handoff_step)
    if changed & _ANSWER_FIELDS:
        answer_cache_clear()
    return ai, moved
