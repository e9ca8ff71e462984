"""Demo data: a small countertop-store flow, two roles and a few conversations. Idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ChatRole, Role
from conversations.models import Channel, Contact, Conversation, Message
from flows.models import Rule

DEMO_RULES = [
    # step, input_text, priority, type, text, options, next_step, role_keyword, handler, calculation
    ("inicio", "*", 100, "button",
     "¡Hola! 👋 Bienvenido a Mesones del Valle. ¿En qué te ayudamos?",
     "Cotizar mesón|Ver catálogo|Hablar con asesor", "menu", "", "", ""),
    ("menu", "cotizar meson, cotizar, 1", 10, "text",
     "Escríbeme las medidas del mesón (largo x ancho), por ejemplo 2.4x0.6 o 240 x 60 cm.",
     "", "medidas", "ventas", "", ""),
    ("menu", "ver catalogo, catalogo, 2", 20, "list",
     "Estos son nuestros materiales:", "Granito: Negro San Gabriel|Cuarzo: Blanco Polar|Mármol: Crema Marfil",
     "menu", "", "", ""),
    ("menu", "hablar con asesor, asesor, 3", 30, "text",
     "Te comunico con un asesor. Un momento, por favor.", "", "asesor", "soporte", "human_handoff", ""),
    ("menu", "*", 100, "text",
     "No entendí tu opción. Elige una de las opciones del menú o escribe *menu*.", "", "menu", "", "", ""),
    ("medidas", "*", 10, "text",
     "{result}\n¿Deseas agendar una visita de medición? Responde *si* o *no*.", "", "visita", "ventas",
     "countertop_quote", "420000"),
    ("visita", "si, sí, claro", 10, "text",
     "¡Perfecto! Un asesor te escribirá para coordinar la visita.", "", "asesor", "ventas", "human_handoff", ""),
    ("visita", "no, *", 100, "text",
     "Listo. Si necesitas algo más escribe *menu*.", "", "menu", "", "", ""),
    ("asesor", "*", 100, "text",
     "Gracias por escribirnos. Si quieres volver al menú escribe *menu*.", "", "menu", "", "", ""),
]  # fmt: skip

DEMO_CHATS = [
    ("573001112233", "Laura Gómez", "menu", "bot", ["hola", "¿tienen granito negro?"], ["ventas"]),
    ("573004445566", "Carlos Pérez", "asesor", "human", ["quiero hablar con un asesor"], ["soporte"]),
    ("573007778899", "María Ruiz", "medidas", "bot", ["cotizar", "2,4 x 0,6 m"], ["ventas"]),
]


@transaction.atomic
def demo_flow_load() -> dict[str, Role]:
    """The demo's roles and rules only (no conversations); returns the roles by keyword."""
    roles = {
        kw: Role.objects.get_or_create(keyword=kw, defaults={"name": name, "description": desc})[0]
        for kw, name, desc in [
            ("ventas", "Ventas", "Cotizaciones y visitas de medición"),
            ("soporte", "Soporte", "Atención de asesores humanos"),
        ]
    }
    for step, input_text, prio, rtype, text, options, next_step, role_kw, handler, calc in DEMO_RULES:
        Rule.objects.update_or_create(
            step=step,
            input_text=input_text,
            defaults={
                "priority": prio,
                "response_type": rtype,
                "response_text": text,
                "options": options,
                "next_step": next_step,
                "role_keyword": role_kw,
                "handler": handler,
                "calculation": calc,
                "active": True,
            },
        )
    return roles


@transaction.atomic
def demo_load() -> dict[str, int]:
    """Create (or refresh) the demo; returns how many rows of each kind exist afterwards."""
    roles = demo_flow_load()
    channel, _ = Channel.objects.get_or_create(
        provider="meta",
        external_id=settings.PHONE_NUMBER_ID or "demo-number",
        defaults={"name": "WhatsApp demo", "display_phone_number": "+57 300 000 0000"},
    )
    now = timezone.now()
    for i, (wa_id, name, step, status, texts, role_kws) in enumerate(DEMO_CHATS):
        contact, _ = Contact.objects.get_or_create(
            provider="meta", external_id=wa_id, defaults={"profile_name": name, "phone": "+" + wa_id}
        )
        conversation, created = Conversation.objects.get_or_create(
            contact=contact,
            channel=channel,
            defaults={"step": step, "status": status, "bot_paused": status == "human"},
        )
        if created:
            at = now - timedelta(minutes=30 * (i + 1))
            for n, text in enumerate(texts):
                Message.objects.create(
                    conversation=conversation,
                    direction="in",
                    kind="text",
                    text=text,
                    provider="meta",
                    provider_message_id=f"demo.{wa_id}.{n}",
                    status="received",
                    processing_state="done",
                    provider_timestamp=at,
                )
            conversation.last_activity_at = at
            conversation.last_inbound_at = at
            conversation.last_message_preview = texts[-1][:200]
            conversation.unread_count = len(texts)
            conversation.save()
            for kw in role_kws:
                ChatRole.objects.get_or_create(
                    conversation=conversation, role=roles[kw], defaults={"assigned_by": "demo"}
                )
    return {
        "rules": Rule.objects.count(),
        "roles": Role.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
    }
