"""Plain-dict views of messages and conversations: the console contract's JSON shapes.

The REST API and the websocket events send the same dicts (CONSOLE-CONTRACT.md). The pipeline
calls ``message_event_data`` / ``conversation_event_data`` on its hot path, so they never query
for what is not already loaded: a field the caller did not load (deferred, or a relation not
selected) is left out, and consoles merge event data by id. The API loads everything and passes
the page's lookups (reactions, quoted messages) in, one query each per page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext

from conversations.models import Conversation, Message
from conversations.providers import get_provider_class, provider_platform
from conversations.services.enrichment_types import REASONS

__all__ = [
    "contact_data",
    "conversation_data",
    "conversation_event_data",
    "message_data",
    "message_event_data",
    "message_file_name",
    "message_media_url",
    "message_origin",
    "messages_data",
    "user_brief",
]

_MISSING = object()


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _loaded(instance: Any, name: str) -> Any:
    """The field's value if it was loaded; _MISSING when reading it would query (deferred).

    ``name`` is a concrete field's attname: a loaded one is in the instance's ``__dict__``, which is
    how Django's ``get_deferred_fields`` tells (without building the set of every field, per call).
    """
    return instance.__dict__.get(name, _MISSING)


def _cached_relation(instance: Any, name: str) -> Any:
    """The related object if already loaded (select_related or set); _MISSING otherwise."""
    descriptor = getattr(type(instance), name)
    return descriptor.field.get_cached_value(instance) if descriptor.is_cached(instance) else _MISSING


def user_brief(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.get_full_name() or user.get_username()}


def message_file_name(message: Message) -> str:
    """The storage name of the message's file: the one stored with it (customer media, agent
    attachments), else the business file an outbound message sends by upload (a rule's or a quick
    reply's media, which is not copied into the message). Empty: no file."""
    if message.media_file:
        return message.media_file.name
    data = message.data if isinstance(message.data, dict) else {}
    outbound = data.get("outbound")
    path = outbound.get("media_path") if message.direction == "out" and isinstance(outbound, dict) else ""
    return path if isinstance(path, str) else ""


def message_media_url(message: Message) -> str | None:
    """Where a user who may see the chat opens the message's file (never a public path)."""
    return reverse("message-media", args=[message.pk]) if message_file_name(message) else None


def _media_name(message: Message, data: Mapping[str, Any]) -> str | None:
    media = data.get("media") or {}
    outbound = data.get("outbound") or {}
    name = (media.get("filename") if isinstance(media, dict) else "") or outbound.get("filename") or ""
    if not name and message.media_file:
        name = PurePosixPath(message.media_file.name).name
    return name or None


def _location(message: Message, data: Mapping[str, Any]) -> dict[str, Any] | None:
    if message.kind != "location":
        return None
    return {key: data.get(key) for key in ("latitude", "longitude", "name", "address")}


def _interactive(data: Mapping[str, Any]) -> dict[str, Any] | None:
    outbound = data.get("outbound") or {}
    kind = outbound.get("kind")
    if kind == "buttons":
        buttons = [{"id": b[0], "title": b[1]} for b in outbound.get("buttons") or ()]
        return {"type": "buttons", "body": outbound.get("text", ""), "buttons": buttons}
    if kind == "list":
        sections = [
            {"title": title, "rows": [{"id": r[0], "title": r[1], "description": r[2]} for r in rows]}
            for title, rows in outbound.get("sections") or ()
        ]
        return {"type": "list", "body": outbound.get("text", ""), "button": outbound.get("list_button", ""),
                "sections": sections}  # fmt: skip
    return None


def _template(data: Mapping[str, Any]) -> dict[str, Any] | None:
    outbound = data.get("outbound") or {}
    if outbound.get("kind") != "template":
        return None
    return {"name": outbound.get("template_name", ""), "language": outbound.get("template_language", "")}


def _origin(message: Message, data: Mapping[str, Any], rule_id: Any, sent_by_id: Any) -> str:
    return message_origin(
        direction=message.direction, kind=message.kind, data=data, rule_id=rule_id, sent_by_id=sent_by_id
    )


def message_origin(*, direction: str, kind: str, data: Mapping[str, Any], rule_id: Any, sent_by_id: Any) -> str:
    """Who wrote a message: customer, agent, rule, ai, system or outside (the exports read it from plain rows)."""
    if direction == "in":
        return "customer"
    if sent_by_id:
        return "agent"
    if rule_id:
        return "rule"
    if kind == "system":
        return "system"
    if "ai_log" in data:  # an AI answer stored before the responder said so in "origin"
        return "ai"
    if "echo" in data:  # typed outside the product (a Chatwoot agent, the Instagram app): see services.echoes
        return "outside"
    return str(data.get("origin") or "system")


def _rule(message: Message, rule_id: Any) -> dict[str, Any] | None:
    if not rule_id:
        return None
    rule = _cached_relation(message, "rule")
    if rule is _MISSING or rule is None:
        return {"id": rule_id, "step": None, "label": None}
    return {"id": rule.pk, "step": rule.step, "label": str(rule)}


def _enrichment(message: Message, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The transcription's or description's state for agents: None when the message needs neither."""
    state = message.enrichment_state
    if not state:
        return None

    details = data.get("enrichment") if isinstance(data.get("enrichment"), dict) else {}
    reason = message.enrichment_reason
    return {
        "state": state,
        "reason": reason,
        "label": str(REASONS[reason]) if reason in REASONS else reason,
        "source": str(details.get("source") or ""),
        "backend": str(details.get("backend") or ""),
    }


def message_data(
    message: Message,
    *,
    reactions: Mapping[str, list[dict[str, str]]] | None = None,
    quoted: Mapping[str, Message] | None = None,
) -> dict[str, Any]:
    """The Message JSON. ``reactions`` (by provider message id) and ``quoted`` (quoted messages by
    provider id) come from the caller's page lookups; without them nothing is queried except the
    one message a reply quotes and the agent who sent it, when those are not loaded."""
    data = message.data if isinstance(message.data, dict) else {}
    out: dict[str, Any] = {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "kind": message.kind,
        "text": message.text,
        "caption": message.caption,
        "status": message.status,
        "error_code": message.error_code,
        "error": message.error_message,
        "media_url": message_media_url(message),
        # Read only when there is a file: outbound flushes load few columns (no extra query per send).
        "media_checksum_mismatch": bool(message.media_file) and message.media_checksum_mismatch,
        "media_mime": message.media_mime,
        "media_name": _media_name(message, data),
        "transcription": message.transcription,
        "location": _location(message, data),
        "contacts": data.get("contacts") if message.kind == "contacts" else None,
        "referral": data.get("referral") or None,
        "interactive": _interactive(data),
        "template": _template(data),
        "created_at": _iso(message.created_at),
    }
    provider_id = _loaded(message, "provider_message_id")
    if provider_id is not _MISSING:
        if reactions is not None:
            out["reactions"] = reactions.get(provider_id or "", [])
        elif message.kind != "reaction":
            out["reactions"] = []
    if message.direction == "in":
        out["image_description"] = message.image_description
        out["enrichment"] = _enrichment(message, data)
    if message.kind == "reaction":  # a reaction message says which message it reacts to (consoles merge it)
        out["reacts_to"] = data.get("message_id") or None
    reply_to = _loaded(message, "reply_to_provider_id")
    if reply_to is not _MISSING:
        out["reply_to"] = _reply_to(message, reply_to, quoted)
    rule_id, sent_by_id = _loaded(message, "rule_id"), _loaded(message, "sent_by_id")
    if rule_id is not _MISSING and sent_by_id is not _MISSING:
        out["origin"] = _origin(message, data, rule_id, sent_by_id)
        if out["origin"] == "outside":
            out["outside_sender"] = str((data.get("echo") or {}).get("sender") or "")
        out["rule"] = _rule(message, rule_id)
        out["sent_by"] = _sent_by(message, sent_by_id)
    for name in ("sent_at", "delivered_at", "read_at"):
        value = _loaded(message, name)
        if value is not _MISSING:
            out[name] = _iso(value)
    if message.status == "failed":
        out["failure_reason"] = _failure_reason(message)
    return out


def _failure_reason(message: Message) -> str:
    """Why it was not sent, as one of the stored reasons (English: the consoles translate it, like the
    attention reasons, since one event reaches agents of every language)."""
    from conversations.services.attention import send_failure_reason

    attempts = _loaded(message, "attempts")
    return send_failure_reason(code=message.error_code, attempts=attempts if attempts is not _MISSING else 1)


def _sent_by(message: Message, sent_by_id: Any) -> dict[str, Any] | None:
    if not sent_by_id:
        return None
    user = _cached_relation(message, "sent_by")
    if user is _MISSING:
        user = type(message).sent_by.field.related_model.objects.filter(pk=sent_by_id).first()
    return user_brief(user) if user is not None else {"id": sent_by_id, "name": ""}


def _reply_to(message: Message, provider_id: str, quoted: Mapping[str, Message] | None) -> dict[str, Any] | None:
    if not provider_id:
        return None
    if quoted is not None:
        target = quoted.get(provider_id)
    else:
        target = (
            Message.objects.filter(conversation_id=message.conversation_id, provider_message_id=provider_id)
            .only("id", "text", "caption", "kind")
            .first()
        )
    if target is None:
        return {"id": None, "text": "", "kind": None}
    return {"id": target.pk, "text": target.text or target.caption, "kind": target.kind}


def message_event_data(message: Message) -> dict[str, Any]:
    """A message for the consoles' events (the pipeline's hot path: only what is loaded)."""
    return message_data(message)


def _page_reactions(messages: list[Message]) -> dict[str, list[dict[str, str]]]:
    """Reactions to the page's messages, by their provider id: the latest per side wins; '' removes."""
    by_target: dict[str, dict[str, str]] = {}
    conversation_ids = {m.conversation_id for m in messages}
    targets = {m.provider_message_id for m in messages if m.provider_message_id}
    if not targets:
        return {}
    rows = (
        Message.objects.filter(conversation_id__in=conversation_ids, kind="reaction")
        .order_by("created_at", "id")
        .values_list("direction", "data")
    )
    for direction, data in rows:
        target = (data or {}).get("message_id") if isinstance(data, dict) else None
        if target not in targets:
            continue
        side = "customer" if direction == "in" else "agent"
        by_target.setdefault(target, {})[side] = (data or {}).get("emoji") or ""
    return {
        target: [{"emoji": emoji, "from": side} for side, emoji in sides.items() if emoji]
        for target, sides in by_target.items()
    }


def _page_quoted(messages: list[Message]) -> dict[str, Message]:
    wanted = {m.reply_to_provider_id for m in messages if m.reply_to_provider_id}
    if not wanted:
        return {}
    conversation_ids = {m.conversation_id for m in messages}
    rows = Message.objects.filter(conversation_id__in=conversation_ids, provider_message_id__in=wanted).only(
        "id", "text", "caption", "kind", "provider_message_id"
    )
    return {m.provider_message_id: m for m in rows}


def messages_data(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """A page of messages (load them with select_related("rule", "sent_by")): two lookups for the page."""
    messages = list(messages)
    reactions, quoted = _page_reactions(messages), _page_quoted(messages)
    return [message_data(m, reactions=reactions, quoted=quoted) for m in messages]


def contact_data(contact: Any) -> dict[str, Any]:
    # A WhatsApp id is the customer's number; an Instagram or Facebook id (through Chatwoot) is no number.
    whatsapp = provider_platform(contact.provider) in ("whatsapp", "")
    phone = contact.phone or (contact.external_id if whatsapp else "")
    return {
        "id": contact.pk,
        "name": contact.alias or contact.profile_name or phone or contact.external_id,
        "alias": contact.alias,
        "profile_name": contact.profile_name,
        "phone": phone,
    }


def _window(conversation: Conversation, channel: Any) -> tuple[bool, datetime | None]:
    from django.utils import timezone

    window = get_provider_class(channel.provider).service_window()
    if window is None:
        return True, None
    if conversation.last_inbound_at is None:
        return False, None
    closes_at = conversation.last_inbound_at + window
    return timezone.now() < closes_at, closes_at


def conversation_platform(conversation: Conversation, channel: Any) -> str:
    """whatsapp | instagram | facebook: what the customer writes from (the provider's own when not recorded)."""
    return conversation.platform or provider_platform(channel.provider)


def conversation_data(conversation: Conversation, *, roles: list[Any] | None = None) -> dict[str, Any]:
    """The Conversation JSON. What is not loaded (contact, channel, assignee, roles) is left out,
    unless ``roles`` is given or prefetched (``prefetch_related("roles")``)."""
    out: dict[str, Any] = {
        "id": conversation.pk,
        "status": conversation.status,
        "bot_paused": conversation.bot_paused,
        "step": conversation.step,
        "unread_count": conversation.unread_count,
        "needs_attention": conversation.needs_attention,
        "attention_reason": gettext(conversation.attention_reason) if conversation.attention_reason else "",
        "last_message_preview": conversation.last_message_preview,
        "last_message_at": _iso(conversation.last_activity_at),
        "last_activity_at": _iso(conversation.last_activity_at),
    }
    contact = _cached_relation(conversation, "contact")
    if contact is not _MISSING:
        out["contact"] = contact_data(contact)
    channel = _cached_relation(conversation, "channel")
    if channel is not _MISSING:
        out["channel"] = {"id": channel.pk, "name": channel.name, "provider": channel.provider}
        out["is_test"] = channel.provider == "simulator"
        out["platform"] = conversation_platform(conversation, channel)
        window_open, closes_at = _window(conversation, channel)
        out["window_open"], out["window_closes_at"] = window_open, _iso(closes_at)
    if conversation.assigned_to_id is None:
        out["assigned_to"] = None
    else:
        assignee = _cached_relation(conversation, "assigned_to")
        if assignee is not _MISSING:
            out["assigned_to"] = user_brief(assignee)
    if roles is None and "roles" in getattr(conversation, "_prefetched_objects_cache", {}):
        roles = list(conversation.roles.all())
    if roles is not None:
        out["roles"] = [{"id": role.pk, "name": role.name} for role in sorted(roles, key=lambda r: r.name)]
    return out


def conversation_event_data(conversation: Conversation) -> dict[str, Any]:
    """A conversation for the consoles' events (only what is loaded; consoles merge by id).

    One frame reaches agents of every language, so the attention reason goes as stored (its English
    original); each console translates it (the page's attention reason catalog)."""
    out = conversation_data(conversation)
    out["attention_reason"] = conversation.attention_reason
    return out
