"""The bot simulator: drive the real pipeline for a test contact, with the replies captured.

``simulate(number=..., texts=[...])`` plays a customer writing from ``number`` to the
simulator channel (``Channel(provider="simulator", external_id="simulator")``, created on
demand) and returns, for every text, the bot's replies and the resulting step and roles.
``manage.py simulate_chat`` and the admin page "Try the bot" are thin layers over it.

What runs is the production code, not a copy of it: for each text an ``InboundMessage``
goes through ``message_store_inbound`` (contact, conversation, session timeout, ...),
``conversation_process`` (global commands, paused bot, rule engine, roles, hand-off) and
``conversation_flush_outbound`` (24-hour window, provider validation, sending, ticks).
The channel's provider is `conversations.providers.simulator.SimulatorProvider`, which
validates every message with Meta's payload builder and "sends" it by returning an id:
replies are stored like real ones and nothing leaves the machine.

Running it synchronously, without Celery:

- Those services enqueue their follow-up Celery tasks (process, flush) with
  ``transaction.on_commit``. Each simulated turn runs inside one ``transaction.atomic()``
  block; before the block commits, the commit hooks the turn registered are filtered on this
  thread's connection: the console broadcasts (``conversations.events``) are kept, so open
  agent consoles update live, and every other hook (the task enqueues) is dropped. The
  simulator then calls the process and flush services itself, in this process. Nothing is
  published to a broker and no global state is touched (no ``task_always_eager``, no
  settings override), so a simulation in the admin never changes how concurrent requests
  behave. A turn is all-or-nothing: if it crashes, its inbound message is rolled back too.
- A responder that answers later in production (the AI, after its buffer window) answers
  at once: after processing, the simulator runs the responders registered with
  a ``run_now`` in ``conversations.services.bots`` (catalog_ai registers the
  AI's), so the AI hand-off shows its answer in the same turn.
- Pacing (Meta's per-number and per-customer limits, Redis token buckets) would hold the
  simulator's replies back for seconds; before each flush the simulator channel's own
  buckets are emptied. Real channels' buckets are never touched.
- Redis is still needed, as by the services themselves (per-conversation locks). Turns of
  the same number are serialized by a Redis lock of their own (``wia:lock:sim:<number>``),
  so two browser tabs cannot interleave their replies. When Redis does not answer,
  `SimulatorError` says how to start it (``bin/run``, or ``REDIS_URL``).

Taps: when a text equals an option id or title of the bot's latest buttons/list (case and
accents ignored), or is a number 1..N, it is sent as the interactive reply to that option
(``interactive_id`` set), exactly as WhatsApp delivers a tap. A leading backslash sends the
rest as typed text (``\\1`` sends "1").

State persists in the database like any conversation (step, roles, paused bot, history),
so a chat can be driven one call at a time; the normal session timeout still applies.
``reset=True`` deletes the test conversation (its messages and roles with it): the next
text starts a fresh chat in ``settings.INITIAL_STEP`` with the bot active.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import events
from conversations.models import Channel, Conversation, ConversationStatus, Message, MessageStatus
from conversations.providers.base import InboundMessage
from conversations.providers.simulator import SimulatorProvider
from conversations.services import ratelimit
from conversations.services.bots import conversation_immediate_turns_run
from conversations.services.ingest import message_store_inbound
from conversations.services.outbound import conversation_flush_outbound
from conversations.services.processing import conversation_process
from conversations.services.serialize import message_media_url
from whatsapp_ia.text import normalize_text

__all__ = [
    "CHANNEL_EXTERNAL_ID",
    "CHANNEL_NAME",
    "DEFAULT_NUMBER",
    "PROVIDER",
    "SimEntry",
    "SimOption",
    "SimReply",
    "SimState",
    "SimTurn",
    "SimulatorError",
    "normalize_number",
    "redis_problem",
    "reply_from_message",
    "reply_from_outbound",
    "simulate",
    "simulator_channel",
    "simulator_conversation",
    "simulator_reset",
    "simulator_state",
]

logger = logging.getLogger(__name__)

PROVIDER = SimulatorProvider.name
CHANNEL_EXTERNAL_ID = "simulator"
CHANNEL_NAME = "Simulador"
CONTACT_NAME = "Simulador"
DEFAULT_NUMBER = "573000000000"
MAX_TEXT = 4096  # WhatsApp's limit for a text message
HISTORY_LIMIT = 200
LITERAL_PREFIX = "\\"

_TURN_LOCK_TIMEOUT = 120.0  # seconds a turn may hold the number's lock
_TURN_LOCK_WAIT = 10.0  # seconds to wait for another turn of the same number
_PROCESS_ATTEMPTS = 50  # x 0.1 s: a worker holding the conversation's lock
_FLUSH_ROUNDS = 20


class SimulatorError(Exception):
    """Something the admin can fix (a bad number, an empty message, Redis down); the text says what."""


@dataclass(frozen=True)
class SimOption:
    """A tappable option of a bot reply (a button or a list row)."""

    id: str
    title: str
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.title} — {self.description}" if self.description else self.title


@dataclass(frozen=True)
class SimReply:
    """One bot message as the customer sees it."""

    type: str  # the outbound kind: text | buttons | list | image | video | audio | document | sticker | template
    text: str = ""
    options: list[str] = field(default_factory=list)  # button titles; list rows as "title — description"
    media: list[str] = field(default_factory=list)  # links (or "media:<id>")
    choices: tuple[SimOption, ...] = ()  # the same options with their ids (not part of the JSON)
    list_button: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text, "options": list(self.options), "media": list(self.media)}


@dataclass(frozen=True)
class SimTurn:
    """One simulated customer message and what the bot did about it."""

    input: str
    replies: list[SimReply]
    step: str
    roles: list[str]
    status: str = ConversationStatus.BOT  # the conversation's status after the turn (not part of the JSON)

    @property
    def bot_paused(self) -> bool:
        return self.status == ConversationStatus.HUMAN

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `manage.py simulate_chat --json` (exactly these keys)."""
        return {
            "input": self.input,
            "replies": [reply.as_dict() for reply in self.replies],
            "step": self.step,
            "roles": list(self.roles),
        }


@dataclass(frozen=True)
class SimEntry:
    """One message of the test chat, for the admin page."""

    id: int  # the Message's pk
    direction: str  # in | out
    reply: SimReply  # inbound messages too: type "text" or "interactive"
    at: datetime
    status: str = ""
    error: str = ""
    rule_id: int | None = None
    command: str = ""
    unmatched: bool = False
    problems: tuple[str, ...] = ()
    media_url: str = ""  # where the admin opens the message's file (the authenticated media view), if it has one
    origin: str = ""  # "ai" for the AI's answers (text and page images); "" for the rules' replies
    ai_log_id: int | None = None  # the AI log entry of that answer

    @property
    def shows_image(self) -> bool:
        return bool(self.media_url) and self.reply.type in ("image", "sticker")


@dataclass(frozen=True)
class SimState:
    """The test chat of one number: its history and where it stands."""

    number: str
    exists: bool
    step: str
    roles: list[str]
    status: str
    entries: list[SimEntry]
    options: list[SimOption]  # the options of the bot's latest turn (tappable now)
    offer_id: int | None = None  # the entry (message pk) those options belong to
    truncated: bool = False

    @property
    def bot_paused(self) -> bool:
        return self.status == ConversationStatus.HUMAN


# --------------------------------------------------------------------------- public API


def normalize_number(number: str) -> str:
    """'+57 300 111 2233' -> '573001112233'; SimulatorError unless 6 to 20 digits remain."""
    digits = "".join(str(number or "").split()).removeprefix("+").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 20):
        raise SimulatorError(
            _("“%(number)s” is not a phone number: use 6 to 20 digits, such as %(example)s.")
            % {"number": number, "example": DEFAULT_NUMBER}
        )
    return digits


def simulate(*, number: str, texts: Sequence[str], reset: bool = False) -> list[SimTurn]:
    """Send `texts` one by one as the customer `number` and return what the bot did for each.

    `reset` first deletes the test conversation (history, roles, step). Raises SimulatorError
    for a bad number, an empty or too long text, or Redis not answering.
    """
    number = normalize_number(number)
    for text in texts:
        _check_text(text)
    problem = redis_problem()
    if problem:
        raise SimulatorError(problem)
    if reset:
        with _number_lock(number):
            _reset(number)
    turns = []
    for text in texts:
        with _number_lock(number):
            turns.append(_turn(number, text))
    return turns


def simulator_reset(*, number: str) -> None:
    """Delete the test conversation of `number` (its messages and roles); the contact stays."""
    simulate(number=number, texts=[], reset=True)


def simulator_channel() -> Channel:
    """The simulator's channel, created on first use."""
    channel, _created = Channel.objects.get_or_create(
        provider=PROVIDER, external_id=CHANNEL_EXTERNAL_ID, defaults={"name": CHANNEL_NAME}
    )
    return channel


def simulator_conversation(*, number: str) -> Conversation | None:
    """The test conversation of `number` on the simulator channel, if there is one."""
    return (
        Conversation.objects.filter(
            channel__provider=PROVIDER,
            channel__external_id=CHANNEL_EXTERNAL_ID,
            contact__provider=PROVIDER,
            contact__external_id=normalize_number(number),
        )
        .select_related("contact", "channel")
        .first()
    )


def simulator_state(*, number: str, limit: int = HISTORY_LIMIT) -> SimState:
    """The test chat of `number` (its latest `limit` messages, oldest first) for display."""
    number = normalize_number(number)
    conversation = simulator_conversation(number=number)
    if conversation is None:
        return SimState(
            number=number, exists=False, step="", roles=[], status=ConversationStatus.BOT, entries=[], options=[]
        )
    offer = _latest_offer(conversation)
    newest = list(Message.objects.filter(conversation=conversation).order_by("-created_at", "-id")[: limit + 1])
    messages = list(reversed(newest[:limit]))
    return SimState(
        number=number,
        exists=True,
        step=conversation.step,
        roles=_roles(conversation),
        status=conversation.status,
        entries=[_entry(message) for message in messages],
        options=list(offer[1].choices) if offer else [],
        offer_id=offer[0] if offer else None,
        truncated=len(newest) > limit,
    )


def redis_problem() -> str:
    """'' when Redis answers; otherwise what to do about it, in words."""
    try:
        _redis(settings.REDIS_URL).ping()
    except (redis.RedisError, OSError):
        return _(
            "Redis is not answering at %(where)s. The bot pipeline needs it (conversation locks): "
            "start the app with bin/run, or set REDIS_URL to a running Redis."
        ) % {"where": _redacted(settings.REDIS_URL)}
    return ""


def reply_from_outbound(data: Mapping[str, Any]) -> SimReply:
    """A SimReply from an outbound message's stored ``data["outbound"]`` (an OutboundMessage as JSON)."""
    kind = str(data.get("kind") or "text")
    text = str(data.get("text") or data.get("caption") or "")
    choices: list[SimOption] = []
    if kind == "buttons":
        choices = [SimOption(id=str(b[0]), title=str(b[1])) for b in _pairs(data.get("buttons"), 2)]
    elif kind == "list":
        for section in data.get("sections") or ():
            if isinstance(section, list | tuple) and len(section) == 2:
                choices += [
                    SimOption(id=str(r[0]), title=str(r[1]), description=str(r[2])) for r in _pairs(section[1], 3)
                ]
    elif kind == "template":
        text = text or f"{data.get('template_name', '')} ({data.get('template_language', '')})"
    media = []
    if data.get("media_link"):
        media.append(str(data["media_link"]))
    elif data.get("media_id"):
        media.append(f"media:{data['media_id']}")
    elif data.get("media_path"):
        media.append(str(data["media_path"]))
    return SimReply(
        type=kind,
        text=text,
        options=[choice.label for choice in choices],
        media=media,
        choices=tuple(choices),
        list_button=str(data.get("list_button") or ""),
    )


def reply_from_message(message: Message) -> SimReply:
    """What a stored message shows: outbound ones from their stored OutboundMessage."""
    outbound = message.data.get("outbound") if message.direction == "out" else None
    if isinstance(outbound, dict) and outbound:
        return reply_from_outbound(outbound)
    media = [message.media_original_url] if message.media_original_url else []
    return SimReply(type=message.kind, text=message.text or message.caption or message.transcription, media=media)


# --------------------------------------------------------------------------- one turn


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise SimulatorError(_("Type a message to send."))
    if len(text) > MAX_TEXT:
        raise SimulatorError(
            _("The message is %(length)d characters long; WhatsApp allows %(limit)d.")
            % {"length": len(text), "limit": MAX_TEXT}
        )


def _turn(number: str, text: str) -> SimTurn:
    """Store `text` as the customer's message, run the bot and send its replies: one transaction."""
    with _quiet_transaction():
        channel = simulator_channel()
        conversation = _conversation_for(channel, number)
        offer = _latest_offer(conversation) if conversation else None
        inbound = message_store_inbound(provider=PROVIDER, event=_inbound_event(number, text, offer))
        if inbound is None:  # cannot happen: every simulated message has a fresh id
            raise SimulatorError(_("The message was not stored; try again."))
        _process(inbound.conversation_id)
        # A responder that answers later in production (the AI after its buffer window) answers now.
        conversation_immediate_turns_run(conversation_id=inbound.conversation_id)
        _flush(inbound.conversation_id, channel_id=channel.pk, number=number)
        conversation = Conversation.objects.get(pk=inbound.conversation_id)
        replies = [
            reply_from_message(message)
            for message in Message.objects.filter(
                conversation=conversation, direction="out", pk__gt=inbound.pk
            ).order_by("created_at", "id")
        ]
        return SimTurn(
            input=text, replies=replies, step=conversation.step, roles=_roles(conversation), status=conversation.status
        )


def _conversation_for(channel: Channel, number: str) -> Conversation | None:
    return Conversation.objects.filter(channel=channel, contact__provider=PROVIDER, contact__external_id=number).first()


def _inbound_event(number: str, text: str, offer: tuple[int, SimReply] | None) -> InboundMessage:
    """A typed text, or the tap of an offered option (as WhatsApp reports button and list replies)."""
    common = {
        "provider_message_id": f"sim.in.{uuid.uuid4().hex}",
        "channel_external_id": CHANNEL_EXTERNAL_ID,
        "contact_external_id": number,
        "contact_name": CONTACT_NAME,
        "sent_at": timezone.now(),
    }
    if text.startswith(LITERAL_PREFIX) and text[len(LITERAL_PREFIX) :].strip():
        return InboundMessage(kind="text", text=text[len(LITERAL_PREFIX) :], **common)
    option = _pick_option(text, offer[1].choices) if offer else None
    if offer is None or option is None:
        return InboundMessage(kind="text", text=text, **common)
    data = {
        "interactive_type": "list_reply" if offer[1].type == "list" else "button_reply",
        "title": option.title,
        "description": option.description,
        "simulated_input": text,
    }
    return InboundMessage(kind="interactive", text=option.title, interactive_id=option.id, data=data, **common)


def _pick_option(text: str, choices: Sequence[SimOption]) -> SimOption | None:
    """The option `text` selects: by exact id, by number 1..N, then by title or id ignoring case and accents."""
    stripped = text.strip()
    for option in choices:
        if stripped == option.id:
            return option
    if stripped.isascii() and stripped.isdigit() and 1 <= int(stripped) <= len(choices):
        return choices[int(stripped) - 1]
    wanted = normalize_text(stripped)
    for option in choices:
        if wanted and wanted in (normalize_text(option.title), normalize_text(option.id), normalize_text(option.label)):
            return option
    return None


def _latest_offer(conversation: Conversation) -> tuple[int, SimReply] | None:
    """The bot's latest message with options sent after the customer's last message: (pk, reply)."""
    last_in = Message.objects.filter(conversation=conversation, direction="in").order_by("-created_at", "-id").first()
    replies = Message.objects.filter(conversation=conversation, direction="out", kind__in=("buttons", "list"))
    if last_in is not None:
        replies = replies.filter(pk__gt=last_in.pk)
    latest = replies.order_by("-created_at", "-id").first()
    if latest is None:
        return None
    reply = reply_from_message(latest)
    return (latest.pk, reply) if reply.choices else None


def _process(conversation_id: int) -> None:
    for _attempt in range(_PROCESS_ATTEMPTS):
        if not conversation_process(conversation_id=conversation_id):
            return
        time.sleep(0.1)  # a worker holds the conversation's lock: it is finishing something
    raise SimulatorError(_("The test conversation is busy; try again in a moment."))


def _flush(conversation_id: int, *, channel_id: int, number: str) -> None:
    for _round in range(_FLUSH_ROUNDS):
        _pacing_reset(channel_id, number)
        conversation_flush_outbound(conversation_id=conversation_id)
        queued = Message.objects.filter(conversation_id=conversation_id, direction="out", status=MessageStatus.QUEUED)
        if not queued.exists():
            return
        time.sleep(0.05)
    logger.warning("Simulator: conversation %s still has queued replies", conversation_id)


def _pacing_reset(channel_id: int, number: str) -> None:
    """Empty the simulator channel's token buckets (the key layout of conversations.services.ratelimit)."""
    keys = [f"wia:rl:{ratelimit.pair_key(channel_id, number)}", f"wia:rl:{ratelimit.number_key(channel_id)}"]
    _redis(settings.REDIS_URL).delete(*keys)


def _reset(number: str) -> None:
    with transaction.atomic():
        Conversation.objects.filter(
            channel__provider=PROVIDER,
            channel__external_id=CHANNEL_EXTERNAL_ID,
            contact__provider=PROVIDER,
            contact__external_id=number,
        ).delete()


def _roles(conversation: Conversation) -> list[str]:
    return list(conversation.chat_roles.order_by("assigned_at", "id").values_list("role__keyword", flat=True))


def _entry(message: Message) -> SimEntry:
    data = message.data if isinstance(message.data, dict) else {}
    problems = tuple(str(p) for p in data.get("send_errors", ())) + tuple(
        _("unknown role “%(role)s”") % {"role": role} for role in data.get("unknown_roles", ())
    )
    if data.get("processing_error"):
        problems += (str(data["processing_error"]),)
    ai_log = data.get("ai_log")
    return SimEntry(
        id=message.pk,
        direction=message.direction,
        reply=reply_from_message(message),
        at=message.created_at,
        status=message.status,
        error=message.error_message if message.status == MessageStatus.FAILED else "",
        rule_id=message.rule_id,
        command=str(data.get("command") or ""),
        unmatched=bool(data.get("unmatched")),
        problems=problems,
        media_url=message_media_url(message) or "",
        origin=str(data.get("origin") or ""),
        ai_log_id=ai_log if isinstance(ai_log, int) and not isinstance(ai_log, bool) else None,
    )


def _pairs(value: Any, size: int) -> list[Sequence[Any]]:
    return [item for item in (value or ()) if isinstance(item, list | tuple) and len(item) == size]


# --------------------------------------------------------------------------- plumbing


@contextmanager
def _quiet_transaction() -> Iterator[None]:
    """An atomic block whose commit runs the console broadcasts only, never a task enqueue.

    ``transaction.on_commit`` hooks live on this thread's connection; the ones registered inside
    the block are filtered just before it commits (see the module docstring).
    """
    connection = transaction.get_connection()
    with transaction.atomic():
        first = len(connection.run_on_commit)
        try:
            yield
        finally:
            hooks = connection.run_on_commit[first:]
            connection.run_on_commit[first:] = [hook for hook in hooks if _is_console_broadcast(hook[1])]


def _is_console_broadcast(callback: Any) -> bool:
    return getattr(callback, "__module__", None) == events.__name__


@contextmanager
def _number_lock(number: str) -> Iterator[None]:
    lock = _redis(settings.REDIS_URL).lock(f"wia:lock:sim:{number}", timeout=_TURN_LOCK_TIMEOUT)
    if not lock.acquire(blocking=True, blocking_timeout=_TURN_LOCK_WAIT):
        raise SimulatorError(_("Another simulation of this number is still running; try again in a moment."))
    try:
        yield
    finally:
        with contextlib.suppress(redis.exceptions.LockError):  # expired while we worked
            lock.release()


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def _redacted(url: str) -> str:
    """The URL without credentials (it is shown to admins)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
