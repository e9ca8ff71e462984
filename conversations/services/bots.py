"""Where the bots plug into the message pipeline: two registries, filled by the apps' ``AppConfig.ready()``.

``conversations`` knows no bot. For each inbound message, processing runs

1. the enrichment of its kind, if a step reads it (audio → transcription, image → description):
   a task on the step's own queue stores its text on the message, then the turn goes on
   (conversations.services.enrichment owns that wait);
2. the responders, in order: each gets the conversation (locked) and the message inside the
   processing transaction; one that returns True ends the turn for the ones after it. A message
   answered as it arrives is INSERTed by the turn's first reply (``message_queue_outbound``) or at
   the turn's end, with what the responders set on it: one that needs its id before that calls
   ``conversations.services.writes.turn_message_store(conversation)``.

The rule engine (flows) registers a responder, the AI (catalog_ai) another after it that
answers the messages the rules handed to it (``Message.awaiting_ai``). A responder may
also say which step hands a chat to it (``handoff``: what the rules' editor and engine
need to know about the AI without importing it), and how to answer at once what it
would answer later (``run_now``: the bot simulator has no worker and no reason to wait).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conversations.models import Conversation, Message

__all__ = [
    "AI_RESPONDER",
    "Enrichment",
    "Handoff",
    "Responder",
    "bot_respond",
    "conversation_immediate_turns_run",
    "enrichment_for",
    "enrichment_needed",
    "enrichment_register",
    "enrichment_unregister",
    "enrichments",
    "known_steps",
    "responder_handoff",
    "responder_register",
    "responder_unregister",
    "responders",
]


AI_RESPONDER = "ai"  # the name the AI registers under: the rules hand chats to it


@dataclass(frozen=True)
class Handoff:
    """The step whose chats a responder answers, and whether it answers at all now."""

    enabled: bool
    step: str


@dataclass(frozen=True)
class Responder:
    name: str
    respond: Callable[..., bool | None]  # respond(conversation=, message=) -> True: the turn is over
    order: int
    run_now: Callable[[int], object] | None = None  # run_now(conversation_id): answer what it owes, now
    handoff: Callable[..., Handoff] | None = None  # handoff(create=bool)
    steps: Callable[[], Iterable[str]] | None = None  # the conversation steps this responder knows


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Enrichment:
    """A step that turns a media message into text the bots read (see conversations.services.enrichment).

    ``enrich(message=, path=)`` returns an EnrichmentResult or raises an EnrichmentError (the contract
    of conversations.services.enrichment_types); its text is stored in the message's ``field``.
    """

    name: str
    enrich: Callable[..., Any]  # enrich(message=, path=) -> EnrichmentResult
    order: int
    kinds: frozenset[str]  # the message kinds it reads
    field: str  # the Message field its text goes to: "transcription", "image_description"
    queue: str  # the Celery queue its task runs on
    availability: Callable[[], Any]  # () -> Availability: is there a backend, a model?
    enabled: Callable[[], bool] = _always  # the admins' on/off switch

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds


_RESPONDERS: dict[str, Responder] = {}
_ENRICHMENTS: dict[str, Enrichment] = {}
# Sorted once per registration, not per message.
_responders_sorted: tuple[Responder, ...] = ()
_enrichments_sorted: tuple[Enrichment, ...] = ()


def _resort() -> None:
    global _responders_sorted, _enrichments_sorted
    _responders_sorted = tuple(sorted(_RESPONDERS.values(), key=lambda r: (r.order, r.name)))
    _enrichments_sorted = tuple(sorted(_ENRICHMENTS.values(), key=lambda e: (e.order, e.name)))


def responder_register(
    name: str,
    respond: Callable[..., bool | None],
    order: int,
    *,
    run_now: Callable[[int], object] | None = None,
    handoff: Callable[..., Handoff] | None = None,
    steps: Callable[[], Iterable[str]] | None = None,
) -> None:
    """Register (or replace) the responder ``name``; lower ``order`` answers first."""
    _RESPONDERS[name] = Responder(
        name=name, respond=respond, order=order, run_now=run_now, handoff=handoff, steps=steps
    )
    _resort()


def responder_unregister(name: str) -> None:
    _RESPONDERS.pop(name, None)
    _resort()


def enrichment_register(
    name: str,
    enrich: Callable[..., Any],
    order: int,
    *,
    kinds: Iterable[str],
    field: str,
    queue: str,
    availability: Callable[[], Any],
    enabled: Callable[[], bool] = _always,
) -> None:
    """Register (or replace) the enrichment step ``name``; for a kind two steps read, the lower ``order`` wins.

    ``kinds``: the message kinds the step reads (audio, image...). A message no step reads and
    without media to download is answered in the same transaction that stores it
    (``enrichment_needed``); the others wait for the step's task, since enriching may take long.
    """
    _ENRICHMENTS[name] = Enrichment(
        name=name,
        enrich=enrich,
        order=order,
        kinds=frozenset(kinds),
        field=field,
        queue=queue,
        availability=availability,
        enabled=enabled,
    )
    _resort()


def enrichment_unregister(name: str) -> None:
    _ENRICHMENTS.pop(name, None)
    _resort()


def responders() -> tuple[Responder, ...]:
    return _responders_sorted


def enrichments() -> tuple[Enrichment, ...]:
    return _enrichments_sorted


def enrichment_for(kind: str) -> Enrichment | None:
    """The step that reads messages of this kind (the first by order), if any."""
    return next((step for step in _enrichments_sorted if step.applies_to(kind)), None)


def enrichment_needed(kind: str) -> bool:
    """Does some enrichment step read messages of this kind?"""
    return any(step.applies_to(kind) for step in _enrichments_sorted)


def bot_respond(*, conversation: Conversation, message: Message) -> None:
    """The bots' turn on ``message``: each responder in order until one says the turn is over."""
    for responder in _responders_sorted:
        if responder.respond(conversation=conversation, message=message):
            return


def responder_handoff(name: str, *, create: bool = True) -> Handoff | None:
    """The hand-off of responder ``name`` (None: not installed or hands nothing off)."""
    responder = _RESPONDERS.get(name)
    if responder is None or responder.handoff is None:
        return None
    return responder.handoff(create=create)


def known_steps() -> list[str]:
    """Every conversation step some responder knows (the rules' steps), sorted."""
    steps: set[str] = set()
    for responder in _responders_sorted:
        if responder.steps is not None:
            steps.update(s for s in responder.steps() if s)
    return sorted(steps)


def conversation_immediate_turns_run(*, conversation_id: int) -> None:
    """Let every responder that answers later answer the conversation now (see ``run_now``)."""
    for responder in _responders_sorted:
        if responder.run_now is not None:
            responder.run_now(conversation_id)


def registered_names() -> dict[str, Any]:
    """What is plugged in (for diagnostics and tests)."""
    return {"responders": [r.name for r in _responders_sorted], "enrichments": [e.name for e in _enrichments_sorted]}
