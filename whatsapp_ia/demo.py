"""Demo data: a small countertop-store flow, two roles, a few conversations and a sample catalog. Idempotent.

Every option the flow offers leads somewhere: the menu's buttons, the catalog list's rows (each
material has its own product step and quote), typed numbers after any list or buttons (the
rows' numbers), the quote calculator, the hand-off to a human and the hand-off to the AI, which
answers from the sample catalog (demo_data/catalogo-demo.pdf, ingested offline by demo_load).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ChatRole, Role
from conversations.models import Channel, Contact, Conversation, Message
from flows.models import Rule

WELCOME = "¡Hola! 👋 Bienvenido a Mesones del Valle. ¿En qué te ayudamos?"
MENU_OPTIONS = "Cotizar mesón|Ver catálogo|Hablar con asesor"
MEASURES = "Escríbeme las medidas del mesón (largo x ancho), por ejemplo 2.4x0.6 o 240 x 60 cm."
HANDOFF = "Te comunico con un asesor. Un momento, por favor."
CATALOG_TEXT = "Estos son nuestros materiales. Elige uno para ver su precio, o pregúntale al asistente:"
PRODUCT_OPTIONS = "Cotizar este|Ver otro material|Hablar con asesor"
AI_HANDOFF_STEP = "ia_chat"
# Questions the sample catalog answers well, offered as buttons under the AI's introduction (a tap asks it;
# WhatsApp allows 3 buttons of at most 20 characters), then more to type, named in the introduction.
DEMO_AI_QUESTIONS = ("¿Precio del mármol?", "¿Envían a Cali?", "¿Cómo puedo pagar?")
DEMO_AI_TYPED_QUESTIONS = (
    "¿Cuánto cuesta la grifería con sensor?",
    "¿Cuánto demora la entrega?",
    "¿Qué garantía tiene el cuarzo?",
)
AI_INTRO = (
    "¡Claro! Soy el asistente virtual: pregúntame por cualquier producto del catálogo "
    "(precios, medidas, referencias) o por envíos, instalación y garantía. Te respondo con la página del "
    "catálogo.\n\nToca una pregunta o escribe la tuya, por ejemplo:\n"
    + "".join(f"• {q}\n" for q in DEMO_AI_TYPED_QUESTIONS)
    + "\nEscribe *menu* para volver al menú."
)

# The catalog list's materials: (step suffix, list row title, colour, price per m², words that pick it).
# The prices are the sample catalog's (demo_data/catalogo-demo.pdf), so the list, the quote and the AI agree.
DEMO_MATERIALS = [
    ("granito", "Granito", "Negro San Gabriel", 420000, "granito negro san gabriel, negro san gabriel"),
    ("cuarzo", "Cuarzo", "Blanco Polar", 610000, "cuarzo blanco polar, blanco polar"),
    ("marmol", "Mármol", "Crema Marfil", 560000, "marmol crema marfil, crema marfil"),
]


def _cop(value: int) -> str:
    return "$" + f"{value:,}".replace(",", ".")


CATALOG_ROWS = "|".join(
    [f"{title}: {colour} · {_cop(price)}/m²" for _slug, title, colour, price, _words in DEMO_MATERIALS]
    + ["Preguntar al asistente: Dudas de productos, precios y medidas", "Menú principal: Volver a las opciones"]
)


def _material_rules() -> list[tuple]:
    """Per material: the catalog row, its product step (quote it, see another, talk to an adviser), its quote."""
    rows: list[tuple] = []
    for number, (slug, title, colour, price, words) in enumerate(DEMO_MATERIALS, start=1):
        name = f"{title} {colour}"
        rows += [
            (
                "catalogo",
                f"{slug}, {words}, {number}",
                10 * number,
                "button",
                f"{name}: {_cop(price)} por m², instalación incluida. ¿Qué quieres hacer?",
                PRODUCT_OPTIONS,
                f"producto_{slug}",
                "ventas",
                "",
                "",
            ),
            (
                f"producto_{slug}",
                "cotizar este, cotizar, 1",
                10,
                "text",
                f"{name} a {_cop(price)} por m². {MEASURES}",
                "",
                f"medidas_{slug}",
                "ventas",
                "",
                "",
            ),
            (
                f"producto_{slug}",
                "ver otro material, catalogo, otro, 2",
                20,
                "list",
                CATALOG_TEXT,
                CATALOG_ROWS,
                "catalogo",
                "",
                "",
                "",
            ),
            (
                f"producto_{slug}",
                "hablar con asesor, 3",
                30,
                "text",
                HANDOFF,
                "",
                "asesor",
                "soporte",
                "human_handoff",
                "",
            ),
            (
                f"producto_{slug}",
                "*",
                100,
                "text",
                "Responde 1 para cotizar este material, 2 para ver otro o 3 para hablar con un asesor.",
                "",
                f"producto_{slug}",
                "",
                "",
                "",
            ),
            (
                f"medidas_{slug}",
                "*",
                10,
                "text",
                f"{name}. {{result}}\n¿Deseas agendar una visita de medición? Responde *si* o *no*.",
                "",
                "visita",
                "ventas",
                "countertop_quote",
                str(price),
            ),
        ]
    return rows


DEMO_RULES = [
    # step, input_text, priority, type, text, options, next_step, role_keyword, handler, calculation
    ("inicio", "*", 100, "button", WELCOME, MENU_OPTIONS, "menu", "", "", ""),
    ("menu", "cotizar meson, cotizar, 1", 10, "text", MEASURES, "", "medidas", "ventas", "", ""),
    ("menu", "ver catalogo, catalogo, 2", 20, "list", CATALOG_TEXT, CATALOG_ROWS, "catalogo", "", "", ""),
    ("menu", "hablar con asesor, asesor, 3", 30, "text", HANDOFF, "", "asesor", "soporte", "human_handoff", ""),
    ("menu", "*", 100, "text",
     "No entendí tu opción. Responde 1, 2 o 3 (o toca un botón), o escribe *menu*.", "", "menu", "", "", ""),
    *_material_rules(),
    ("catalogo", "preguntar al asistente, asistente, preguntar, 4", 40, "button", AI_INTRO,
     "|".join(DEMO_AI_QUESTIONS), AI_HANDOFF_STEP, "", "", ""),
    ("catalogo", "menu principal, volver, 5", 50, "button", WELCOME, MENU_OPTIONS, "menu", "", "", ""),
    ("catalogo", "*", 100, "text",
     "Elige una opción de la lista (1 a 5) o escribe *menu* para volver.", "", "catalogo", "", "", ""),
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
# Customers writing from Instagram and Facebook through a Chatwoot inbox: (contact id, name, platform, texts).
DEMO_SOCIAL_CHATS = [
    ("9001", "Valentina Ríos", "instagram", ["hola! vi la mesada de cuarzo en su perfil 😍", "¿cuánto cuesta?"]),
    ("9002", "Martín Salazar", "facebook", ["Buenas, ¿hacen instalación en Medellín?"]),
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


DEMO_CATALOG_PDF = Path(__file__).resolve().parent / "demo_data" / "catalogo-demo.pdf"
DEMO_CATALOG_NAME = "Catálogo demo Mesones del Valle"


def demo_ai_load() -> dict[str, Any]:
    """The AI part of the demo: the sample catalog ingested (offline) and the AI on, with the demo's hand-off step.

    Idempotent: the same PDF is recognised by its hash and ingested again only if it is not ready; a demo
    catalog loaded from an earlier version of the PDF gets the new file (and only its changed chunks are
    embedded again). Runs outside a transaction (ingestion saves its progress as it goes). Returns the
    catalog's summary.
    """
    from catalog_ai.ingestion import (
        CatalogRejected,
        catalog_create_from_upload,
        catalog_ingest,
        catalog_replace_file,
    )
    from catalog_ai.models import Catalog, CatalogStatus
    from catalog_ai.services import ai_settings_update

    catalog = None
    older = Catalog.objects.filter(name=DEMO_CATALOG_NAME).order_by("pk").first()
    if older is not None:
        with DEMO_CATALOG_PDF.open("rb") as pdf, contextlib.suppress(CatalogRejected):  # loaded under another name
            catalog_replace_file(catalog=older, file=pdf, filename=DEMO_CATALOG_PDF.name)
            older.refresh_from_db()
            catalog = older
    if catalog is None:
        with DEMO_CATALOG_PDF.open("rb") as pdf:
            catalog, _created = catalog_create_from_upload(
                name=DEMO_CATALOG_NAME, file=pdf, filename=DEMO_CATALOG_PDF.name
            )
    summary = dict(catalog.summary or {})
    if catalog.status != CatalogStatus.READY:
        summary = catalog_ingest(catalog_id=catalog.pk)
    ai_settings_update(enabled=True, handoff_step=AI_HANDOFF_STEP)
    return summary


def demo_load(*, with_ai: bool = True) -> dict[str, int]:
    """Create (or refresh) the demo; returns how many rows of each kind exist afterwards.

    ``with_ai``: also ingest the sample catalog and switch the AI on (offline: local embedder,
    extractive answers without an OpenAI key).
    """
    counts = _demo_rows_load()
    if with_ai:
        from catalog_ai.models import CatalogChunk

        demo_ai_load()
        counts["catalog chunks"] = CatalogChunk.objects.count()
    return counts


def _demo_social_load(now: Any) -> None:
    """An Instagram and a Facebook chat on a demo Chatwoot inbox (it has no credentials: replies wait for them)."""
    inbox, _ = Channel.objects.get_or_create(
        provider="chatwoot", external_id="1", defaults={"name": "Instagram / Facebook demo"}
    )
    for i, (contact_id, name, platform, texts) in enumerate(DEMO_SOCIAL_CHATS):
        contact, _ = Contact.objects.get_or_create(
            provider="chatwoot", external_id=contact_id, defaults={"profile_name": name}
        )
        conversation, created = Conversation.objects.get_or_create(
            contact=contact,
            channel=inbox,
            defaults={"step": "inicio", "platform": platform, "provider_thread_id": str(100 + i)},
        )
        if not created:
            continue
        at = now - timedelta(minutes=12 * (i + 1))
        for n, text in enumerate(texts):
            Message.objects.create(
                conversation=conversation,
                direction="in",
                kind="text",
                text=text,
                provider="chatwoot",
                provider_message_id=f"demo.{contact_id}.{n}",
                status="received",
                processing_state="done",
                provider_timestamp=at,
            )
        conversation.last_activity_at = conversation.last_inbound_at = at
        conversation.last_message_preview = texts[-1][:200]
        conversation.unread_count = len(texts)
        conversation.save()


@transaction.atomic
def _demo_rows_load() -> dict[str, int]:
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
    _demo_social_load(now)
    return {
        "rules": Rule.objects.count(),
        "roles": Role.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
    }
