"""What the metrics read that is recorded as it happens: a chat's closings, and the step a message was lost at."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from analytics.models import ConversationClosing
from analytics.tests.metrics_data import message
from conversations.models import Message
from conversations.services.state import conversation_close, conversation_reopen, conversation_take_over
from conversations.tests.conftest import laura_conversation
from flows.simulator import simulate
from flows.tests import factories

pytestmark = pytest.mark.django_db


def test_closing_a_chat_records_its_resolution_from_the_first_customer_message() -> None:
    chat = laura_conversation(status="human")
    now = timezone.now()
    first = message(chat, "in", now - timedelta(hours=3), "hola")
    message(chat, "out", now - timedelta(hours=2), "¿En qué te ayudo?")
    message(chat, "in", now - timedelta(hours=1), "gracias")

    conversation_close(chat)

    closing = ConversationClosing.objects.get(conversation=chat)
    assert closing.opened_at == Message.objects.get(pk=first.pk).created_at
    assert now <= closing.closed_at <= timezone.now()

    # Reopened by a new message and closed again: the second episode starts with that message.
    conversation_reopen(chat)
    again = message(chat, "in", timezone.now(), "otra pregunta")
    conversation_close(chat)
    second = ConversationClosing.objects.filter(conversation=chat).order_by("closed_at").last()
    assert ConversationClosing.objects.filter(conversation=chat).count() == 2
    assert second.opened_at == Message.objects.get(pk=again.pk).created_at


def test_other_changes_record_no_closing() -> None:
    chat = laura_conversation()
    conversation_take_over(chat)
    chat.alias = "Laura"
    chat.save()
    assert not ConversationClosing.objects.exists()


def test_an_unmatched_message_keeps_the_step_it_was_lost_at(settings: Any) -> None:
    settings.INITIAL_STEP = "inicio"
    factories.rule(step="inicio", input_text="hola", response_text="Elige: precios o asesor", next_step="menu")
    factories.rule(step="menu", input_text="precios", response_text="Nuestros precios...", next_step="menu")

    simulate(number="573001112233", texts=["hola", "quiero algo raro"], reset=True)

    hola, lost = Message.objects.filter(direction="in").order_by("created_at", "id")
    assert "step" not in hola.data  # answered by a rule
    assert hola.unmatched_step is None
    assert lost.data["unmatched"] is True
    assert lost.data["step"] == "menu"
    assert lost.unmatched_step == "menu"  # the column the dashboard counts by
