"""Run the rule engine for one inbound message and apply its decision (the only I/O around the engine)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings

from accounts.models import ChatRole
from accounts.services import roles_ensure
from conversations.models import Conversation, ConversationStatus, Message
from conversations.providers.base import OutboundMessage, OutboundValidationError
from conversations.services import attention
from conversations.services.bots import AI_RESPONDER, responder_handoff
from conversations.services.outbound import message_queue_outbound
from conversations.services.sql import row_update
from conversations.services.state import (
    conversation_hand_to_ai,
    conversation_leave_ai,
    conversation_release_to_bot,
    conversation_state_broadcast,
    conversation_take_over,
)
from conversations.services.writes import conversation_save
from conversations.visibility import groups_forget
from flows.engine import CommandData, Decision, Incoming, MediaData, Reply, RuleData, State, decide
from flows.models import GlobalCommand, Rule
from flows.rules_cache import rules_and_commands

logger = logging.getLogger(__name__)


def rules_as_data(rules: Iterable[Rule]) -> list[RuleData]:
    return [
        RuleData(
            id=r.pk,
            step=r.step,
            input_text=r.input_text,
            priority=r.priority,
            response_type=r.response_type,
            response_text=r.response_text,
            options=r.options,
            next_step=r.next_step,
            advance_steps=r.advance_steps,
            role_keyword=r.role_keyword,
            handler=r.handler,
            calculation=r.calculation,
            match_image_description=r.match_image_description,
            media=tuple(
                # An uploaded file stays a path under MEDIA_ROOT: the delivery step uploads it to the
                # provider (or links it when published and OUTBOUND_MEDIA_MODE=link).
                MediaData(media_type=m.media_type, url=m.url or m.file.name, caption=m.caption)
                for m in r.media.all()
            ),
        )
        for r in rules
    ]


def rule_steps() -> set[str]:
    """Every step a rule answers in or moves a chat to."""
    return set(Rule.objects.values_list("step", flat=True)) | set(Rule.objects.values_list("next_step", flat=True))


def active_rules() -> list[RuleData]:
    return rules_as_data(Rule.objects.filter(active=True).prefetch_related("media").order_by("step", "priority", "id"))


def active_commands() -> list[CommandData]:
    return [
        CommandData(
            id=c.pk,
            keywords=c.keywords,
            handler=c.handler,
            response_text=c.response_text,
            description=c.description,
            priority=c.priority,
        )
        for c in GlobalCommand.objects.filter(active=True)
    ]


def incoming_from(message: Message) -> Incoming:
    """The engine's view of a message: a voice note's transcription reads as typed text (as an image's caption
    does); an image's description goes apart, for the rules that opted in to it."""
    interactive_id = str(message.data.get("interactive_id", ""))
    text = message.text or message.transcription or message.caption
    return Incoming(
        text=text,
        interactive_id=interactive_id,
        interactive_title=message.text if interactive_id else "",
        image_description=message.image_description,
    )


def flow_state(conversation: Conversation) -> State:
    ai = responder_handoff(AI_RESPONDER)  # the AI, when installed, says which step hands chats to it
    return State(
        step=conversation.step,
        initial_step=settings.INITIAL_STEP,
        ai_enabled=bool(ai and ai.enabled),
        ai_handoff_step=ai.step if ai else "",
        fallback_text=settings.FLOW_FALLBACK_MESSAGE,
    )


def flow_respond(*, conversation: Conversation, message: Message) -> Decision:
    """Decide and apply the bot's answer to `message` (called inside the processing transaction).

    While a human has the chat only global commands are honoured; otherwise the bot stays silent.
    A message handed to the AI is left ``awaiting_ai`` for the AI's responder, which runs next.
    """
    paused = conversation.bot_paused or conversation.status == ConversationStatus.HUMAN
    rules, commands = rules_and_commands()  # this process's copy, reloaded when a rule changes
    decision = decide(
        rules=rules,
        commands=commands,
        incoming=incoming_from(message),
        state=flow_state(conversation),
    )
    if paused and decision.command is None:
        return Decision(next_step=conversation.step)
    decision_apply(conversation=conversation, message=message, decision=decision)
    return decision


def flow_turn(*, conversation: Conversation, message: Message) -> bool:
    """The rule engine's responder (registered in FlowsConfig.ready): never ends the turn, so the
    AI's responder, next, answers what the rules handed to it."""
    flow_respond(conversation=conversation, message=message)
    return False


def decision_apply(*, conversation: Conversation, message: Message, decision: Decision) -> None:
    for problem in decision.problems:
        logger.warning("Flow problem (conversation %s): %s", conversation.pk, problem)
    # What the turn notes on the message is set before its replies are queued: a message the pipeline stores
    # in this turn is INSERTed before its first reply (conversations.services.writes), with the notes in it.
    notes: dict = {}
    if decision.matched_rule_ids:
        notes["rules"] = list(decision.matched_rule_ids)
    if decision.command:
        notes["command"] = decision.command
    fields = ["step", "updated_at"]
    conversation.step = decision.next_step
    if decision.assign_roles:
        # Saving or importing a rule creates its roles; one written another way gets them here, never dropped.
        ensured = roles_ensure(keywords=decision.assign_roles)
        for role in ensured.created:
            logger.warning("Rule role keyword %r had no role: created role %r", role.keyword, role.name)
        if ensured.created:
            notes["created_roles"] = [role.keyword for role in ensured.created]
        if ensured.invalid:
            notes["unknown_roles"] = list(ensured.invalid)
            logger.warning("Rule role keywords %r cannot be role keywords; not assigned", ensured.invalid)
        for role in ensured.roles.values():
            ChatRole.objects.get_or_create(conversation=conversation, role=role, defaults={"assigned_by": "rule"})
        groups_forget(conversation)  # its events go to the new roles' consoles from now on
    # Who answers the chat next: conversations.services.state owns the transition; saved with the step below.
    moved: list[str] = []
    if decision.hand_off_to_human:
        moved = conversation_take_over(conversation, save=False)
    elif decision.command in ("restart", "menu"):
        moved = conversation_release_to_bot(conversation, save=False)
    elif decision.to_ai:
        moved = conversation_hand_to_ai(conversation, save=False)
        message.awaiting_ai = True  # the AI's responder buffers it and answers the burst after commit
    else:
        moved = conversation_leave_ai(conversation, save=False)
    fields += moved
    if decision.unmatched:  # where the flow lost the customer: the dashboard counts them by step
        notes["unmatched"] = True
        notes["step"] = decision.next_step
        message.unmatched_step = decision.next_step or ""
    stored = message.pk is not None  # else the pipeline stores it with what is noted here
    message_fields = _message_note(message, notes)
    send_errors: list[str] = []
    for reply in decision.replies:
        for outbound, rule_id in replies_to_outbound(reply):
            try:
                message_queue_outbound(conversation=conversation, outbound=outbound, rule_id=rule_id)
            except OutboundValidationError as exc:
                logger.warning("Rule %s cannot be sent: %s", rule_id, exc)
                send_errors.append(f"rule {rule_id}: {exc}")
    if send_errors:
        extra = {"send_errors": send_errors, "unmatched": decision.unmatched}
        stored = stored or message.pk is not None  # stored before the first reply, without these
        message_fields = sorted({*message_fields, *_message_note(message, extra)})
    if decision.unmatched or send_errors:
        # A voice note or photo nobody could read already told agents why (listen to it, look at it).
        told = conversation.needs_attention and message.enrichment_state in ("failed", "skipped", "unavailable")
        conversation.needs_attention = True
        # A reply the rules could not send weighs more than a message the bot did not understand.
        reason = attention.REASON_SEND_INVALID if send_errors else attention.REASON_UNMATCHED
        if send_errors or not told:
            conversation.attention_reason = reason
        fields += ["needs_attention", "attention_reason"]
    conversation_save(conversation, fields)  # with the turn's other writes of the row, when in a turn
    if moved:
        conversation_state_broadcast(conversation)
    if stored and message_fields:
        row_update(message, message_fields)  # a plain UPDATE built once (updated_at included)


def _message_note(message: Message, notes: dict) -> list[str]:
    """Set the turn's notes on the message; the fields they changed."""
    fields = ["awaiting_ai"] if message.awaiting_ai else []
    if message.unmatched_step is not None:
        fields.append("unmatched_step")
    if notes:
        message.data = {**message.data, **notes}
        fields.append("data")
    return fields


def replies_to_outbound(reply: Reply) -> list[tuple[OutboundMessage, int | None]]:
    """The provider-neutral messages for one engine reply (the message, then any extra media)."""
    rule_id = reply.rule_id
    out: list[tuple[OutboundMessage, int | None]] = []
    extras = reply.media
    if reply.type == "button":
        out.append(
            (
                OutboundMessage(
                    kind="buttons", to="", text=reply.text, buttons=tuple((o.id, o.title) for o in reply.options)
                ),
                rule_id,
            )
        )
    elif reply.type == "list":
        rows = tuple((o.id, o.title, o.description) for o in reply.options)
        out.append(
            (
                OutboundMessage(
                    kind="list",
                    to="",
                    text=reply.text,
                    list_button=reply.list_button or "Ver opciones",
                    sections=(("", rows),),
                ),
                rule_id,
            )
        )
    elif reply.type in ("image", "video", "audio", "document") and reply.media:
        main, extras = reply.media[0], reply.media[1:]
        out.append((_media_outbound(main, kind=reply.type), rule_id))
    elif reply.text.strip():
        out.append((OutboundMessage(kind="text", to="", text=reply.text), rule_id))
    out.extend((_media_outbound(m, kind=m.media_type), rule_id) for m in extras)
    return out


def _media_outbound(media: MediaData, *, kind: str) -> OutboundMessage:
    caption = media.caption if kind in ("image", "video", "document") else ""
    filename = media.url.rsplit("/", 1)[-1].split("?")[0] if kind == "document" else ""
    source = {"media_link": media.url} if "://" in media.url else {"media_path": media.url}
    return OutboundMessage(kind=kind, to="", caption=caption, filename=filename, **source)
