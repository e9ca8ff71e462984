"""Migration 0007 moves ``Message.data["awaiting_ai"]`` to the ``awaiting_ai`` column, and back when reversed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("conversations", "0006_delivery_attempts_and_attention_reason")
AFTER = ("conversations", "0007_message_awaiting_ai_column")


def _migrate(target: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return MigrationExecutor(connection)


def test_awaiting_ai_moves_from_data_to_the_column_and_back() -> None:
    apps = _migrate(BEFORE).loader.project_state([BEFORE]).apps
    Channel, Contact, Conversation, Message = (
        apps.get_model("conversations", name) for name in ("Channel", "Contact", "Conversation", "Message")
    )
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1234567890")
    conversation = Conversation.objects.create(
        contact=Contact.objects.create(provider="meta", external_id="573001112233"), channel=channel
    )

    def message(n: int, data: dict) -> int:
        return Message.objects.create(
            conversation=conversation, direction="in", provider="meta", provider_message_id=f"w{n}", data=data
        ).pk

    waiting = message(1, {"awaiting_ai": True, "referral": {"headline": "Mesas"}})
    answered = message(2, {"awaiting_ai": False, "ai_answered": True})
    plain = message(3, {})

    try:
        apps = _migrate(AFTER).loader.project_state([AFTER]).apps
        Message = apps.get_model("conversations", "Message")
        rows = {m.pk: (m.awaiting_ai, m.data) for m in Message.objects.all()}
        assert rows == {
            waiting: (True, {"referral": {"headline": "Mesas"}}),
            answered: (False, {"ai_answered": True}),
            plain: (False, {}),
        }

        apps = _migrate(BEFORE).loader.project_state([BEFORE]).apps
        Message = apps.get_model("conversations", "Message")
        assert Message.objects.get(pk=waiting).data == {"referral": {"headline": "Mesas"}, "awaiting_ai": True}
    finally:  # every app back at its latest migration (going back to BEFORE unapplied what depends on it)
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
