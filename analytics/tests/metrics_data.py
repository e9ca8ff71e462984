"""Fixed data for the metric tests: three customers' chats over three days, and what must be left out.

Business time zone America/Mexico_City (UTC-6 all year). The range is Monday 2025-03-10 to
Wednesday 2025-03-12. Times below are business (local) times; several fall on another UTC day
(Beto's voice note at Tue 23:30 is Wed 05:30 UTC; Caro's 18:00 question on Wednesday is Thursday
00:00 UTC; Caro's "granito" at Sun 23:59, before the range, is Monday 05:59 UTC), so a bucket
computed in UTC gives other numbers.

Chats (customers):
- Ana (Ventas number, role Ventas, taken by an agent): Monday 9:00-9:21, a rule answers, she asks for
  an agent, Luis answers at 9:06 (5 min after "asesor"), then 9:20 (10 min after "precio", her first
  message since his 9:06 reply) and 9:21 (a follow-up, not a response).
- Beto (Ventas number, role Atención, closed): a transcribed voice note Tue 23:30, Luis answers 23:32
  (2 min); a voice note that failed Wed 10:00, Luis's reply 10:05 (5 min) fails with 131047.
- Caro (Soporte number, no role, with the bot): three messages no rule matched (two at step
  menu_principal, one at cotizacion), a reply that failed with 131026, an image, an English question
  the AI answered, a system notice and a reply typed in Chatwoot (human).
Left out: Dora (role Ventas, only a message before the range), Caro's messages just outside the
range, the bot simulator's chat, AI logs without a chat, closings outside the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from accounts.models import ChatRole, Role, User
from analytics.models import ConversationClosing
from catalog_ai.models import AILog
from conversations.models import Channel, Contact, Conversation, Message

ZONE = ZoneInfo("America/Mexico_City")
START, END = date(2025, 3, 10), date(2025, 3, 12)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A business time in March 2025."""
    return datetime(2025, 3, day, hour, minute, second, tzinfo=ZONE)


@dataclass
class World:
    ventas: Channel
    soporte: Channel
    role_ventas: Role
    role_atencion: Role
    ana: Conversation
    beto: Conversation
    caro: Conversation
    dora: Conversation
    agent: User


_counter = iter(range(1, 10_000))


def message(conversation: Conversation, direction: str, when: datetime, text: str = "", **fields: Any) -> Message:
    fields.setdefault("kind", "text")
    row = Message.objects.create(
        conversation=conversation,
        direction=direction,
        text=text,
        provider=conversation.channel.provider,
        provider_message_id=f"id-{next(_counter)}",
        status="received" if direction == "in" else fields.pop("status", "delivered"),
        **fields,
    )
    Message.objects.filter(pk=row.pk).update(created_at=when)  # created_at is auto_now_add
    return row


def chat(channel: Channel, number: str, name: str, *roles: Role, **fields: Any) -> Conversation:
    contact = Contact.objects.create(provider=channel.provider, external_id=number, profile_name=name)
    conversation = Conversation.objects.create(contact=contact, channel=channel, **fields)
    for role in roles:
        ChatRole.objects.create(conversation=conversation, role=role)
    return conversation


def build() -> World:
    ventas = Channel.objects.create(name="Ventas", provider="meta", external_id="1065400001")
    soporte = Channel.objects.create(name="Soporte", provider="ycloud", external_id="+5215559990000")
    simulator = Channel.objects.create(name="Simulador", provider="simulator", external_id="sim")
    role_ventas = Role.objects.create(name="Ventas", keyword="ventas")
    role_atencion = Role.objects.create(name="Atención", keyword="atencion")
    agent = User.objects.create_user("luis", password="x")

    ana = chat(ventas, "5215550001111", "Ana", role_ventas, status="human")
    beto = chat(ventas, "5215550002222", "Beto", role_atencion, status="closed")
    caro = chat(soporte, "5215550003333", "Caro", status="bot")
    dora = chat(ventas, "5215550004444", "Dora", role_ventas, status="bot")
    test_chat = chat(simulator, "sim-1", "Prueba", status="bot")

    # Ana, Monday.
    message(ana, "in", at(10, 9, 0), "Hola, ¿cuánto cuesta la cubierta de granito?")
    message(ana, "out", at(10, 9, 0, 5), "Menú: 1 precios, 2 asesor")  # a rule (rule id not needed here)
    message(ana, "in", at(10, 9, 1), "asesor")
    message(ana, "out", at(10, 9, 1, 2), "Te comunico con un asesor")  # the bot's hand-off notice
    message(ana, "out", at(10, 9, 6), "Hola Ana, soy Luis", sent_by=agent)  # 5 min
    message(ana, "in", at(10, 9, 10), "precio granito negro")
    message(ana, "in", at(10, 9, 12), "granito?")
    message(ana, "out", at(10, 9, 20), "Son 1.200 el metro", sent_by=agent)  # 10 min (from 9:10)
    message(ana, "out", at(10, 9, 21), "¿Algo más?", sent_by=agent)  # a follow-up

    # Beto, Tuesday night and Wednesday.
    message(beto, "in", at(11, 23, 30), kind="audio", transcription="quiero una cotización de mármol",
            enrichment_state="done")  # fmt: skip
    message(beto, "out", at(11, 23, 32), "Claro, ¿qué medidas?", sent_by=agent)  # 2 min
    message(beto, "in", at(12, 10, 0), kind="audio", enrichment_state="failed", enrichment_reason="corrupt")
    message(beto, "out", at(12, 10, 5), "No pude escuchar tu audio", sent_by=agent, status="failed",
            error_code="131047", error_message="Re-engagement message")  # fmt: skip  # 5 min

    # Caro, with the bot.
    message(caro, "in", at(9, 23, 59), "granito")  # Sunday: before the range
    message(caro, "in", at(10, 8, 0), "asdf", data={"unmatched": True, "step": "menu_principal"},
            unmatched_step="menu_principal")  # fmt: skip
    message(caro, "out", at(10, 8, 0, 1), "No entendí")
    message(caro, "in", at(10, 8, 1), "qwerty", data={"unmatched": True, "step": "menu_principal"},
            unmatched_step="menu_principal")  # fmt: skip
    message(caro, "out", at(10, 8, 1, 1), "No entendí")
    message(caro, "in", at(11, 12, 0), "zzz", data={"unmatched": True, "step": "cotizacion"},
            unmatched_step="cotizacion")  # fmt: skip
    message(caro, "out", at(11, 12, 0, 1), "No entendí", status="failed", error_code="131026",
            error_message="Message undeliverable")  # fmt: skip
    message(caro, "in", at(11, 12, 5), kind="image")
    message(caro, "in", at(12, 18, 0), "Hello, price of the marble countertop?")
    message(caro, "out", at(12, 18, 0, 30), "The marble countertop is 1,500", data={"origin": "ai", "ai_log": 1})
    message(caro, "out", at(12, 18, 1), "", kind="system")
    message(caro, "out", at(12, 18, 5), "Te escribo yo", data={"echo": {"origin": "agent", "sender": "Marta"}})
    message(caro, "in", at(13, 0, 0), "granito")  # Thursday: after the range

    message(dora, "in", at(9, 12, 0), "granito")  # before the range
    message(test_chat, "in", at(11, 10, 0), "granito granito granito")

    def ai_log(conversation: Conversation | None, when: datetime, backend: str, cached: bool = False) -> None:
        row = AILog.objects.create(conversation=conversation, question="?", backend=backend, cached=cached)
        AILog.objects.filter(pk=row.pk).update(created_at=when)

    ai_log(caro, at(12, 18, 0, 30), "extractive")
    ai_log(caro, at(11, 12, 30), "fallback")
    ai_log(caro, at(11, 13, 0), "extractive", cached=True)
    ai_log(caro, at(13, 0, 30), "fallback")  # after the range
    ai_log(None, at(11, 9, 0), "fallback")  # "Try a question" in the admin: no chat
    ai_log(test_chat, at(11, 10, 0), "fallback")

    def closing(conversation: Conversation, opened: datetime, closed: datetime) -> None:
        ConversationClosing.objects.create(conversation=conversation, opened_at=opened, closed_at=closed)

    closing(ana, at(10, 9, 0), at(10, 10, 0))  # 1 h
    closing(beto, at(11, 23, 30), at(12, 11, 0))  # 11 h 30 min
    closing(beto, at(12, 12, 0), at(13, 1, 0))  # after the range
    closing(ana, at(9, 20, 0), at(9, 23, 59))  # before the range
    closing(test_chat, at(11, 9, 0), at(11, 9, 30))

    return World(ventas, soporte, role_ventas, role_atencion, ana, beto, caro, dora, agent)
