"""The rule engine: what the bot answers to one incoming message, and where the chat goes next.

Pure: no Django imports, no I/O. Plain frozen dataclasses in, a :class:`Decision`
out; the caller (a service) loads rules/commands, stores the replies, sends them,
saves the step and roles, and logs ``Decision.problems``.

Order of evaluation (seed: "Flujo de un mensaje entrante"):

1. Global commands: the normalized text, or the interactive reply id, equals one
   of a command's comma-separated keywords. Its registered handler decides
   (restart, help, human, menu; see flows.handlers) and the flow stops there.
2. AI hand-off: with AI enabled and the chat in ``state.ai_handoff_step``, the
   engine answers nothing and sets ``to_ai`` (the AI answers). With AI disabled
   a chat left in that step is treated as being in ``state.initial_step``.
3. Rules of the current step (an empty step is the initial step): the best
   keyword match wins (exact before contained, then priority, then id); the
   step's ``*`` rule answers when nothing else matches; with no ``*`` rule the
   fallback text is replied and ``unmatched`` is set. A rule with
   ``match_image_description`` also matches its keywords in the description of
   an image (what the vision model or OCR read in it), ranked after every match
   of what the customer typed or tapped; other rules never see the description.

Conventions:

- A rule reply's options come from ``options``: "Title | Title: description";
  each option id is the normalized title with "_" for spaces ("ver_catalogo").
- Media response types (image, video, audio, document) send the first media of
  that type as the message, captioned with the response text (else the media's
  own caption), then the other media as they are. Text, list and button replies
  carry the rule's media as extras sent after the message.
- ``advance_steps`` = N: after moving to the rule's next step, run that step's
  ``*`` rule and follow its next step, N times at most (capped at
  MAX_ADVANCE_STEPS); it stops at a step without ``*`` rule, at a ``*`` rule
  with a handler (that one waits for the customer's input), or at a rule
  already answered in this decision (a cycle).
- Handlers (``rule.handler``): ``HANDLERS[name](text=..., calculation=..., rule=...)``.
  On success the result replaces ``{result}`` in the response text, or is the
  whole reply when the response text has no ``{result}``; the rule's next step,
  roles and advance_steps apply. On failure (input not understood) the reply is
  the handler's explanation of the expected format, nothing else happens and
  the chat stays in the same step so the customer can try again. A message
  without text gives the handler a tapped option's title, else, when the rule
  has ``match_image_description``, the image's description. An unknown
  handler or one that raises never escapes: the fallback text is replied,
  ``unmatched`` is set and the reason is in ``problems``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from flows.handlers import (
    COMMAND_HANDLERS,
    DEFAULT_COMMANDS,
    HANDLERS,
    CommandHandler,
    CommandResult,
    Handler,
    HandlerResult,
)
from whatsapp_ia.text import match_text, slugify_option

__all__ = [
    "DEFAULT_AI_HANDOFF_STEP",
    "DEFAULT_COMMANDS",
    "DEFAULT_FALLBACK_TEXT",
    "DEFAULT_LIST_BUTTON",
    "MAX_ADVANCE_STEPS",
    "MEDIA_RESPONSE_TYPES",
    "RESPONSE_TYPES",
    "WILDCARD",
    "CommandData",
    "Decision",
    "Incoming",
    "MediaData",
    "Option",
    "Reply",
    "RuleData",
    "State",
    "decide",
    "default_rule",
    "match_rule",
    "parse_options",
    "rule_reply",
]

WILDCARD = "*"
MAX_ADVANCE_STEPS = 20
RESPONSE_TYPES = frozenset({"text", "list", "button", "image", "video", "audio", "document"})
MEDIA_RESPONSE_TYPES = frozenset({"image", "video", "audio", "document"})
DEFAULT_FALLBACK_TEXT = "Disculpa, no entendí tu mensaje. ¿Puedes escribirlo de otra forma?"
DEFAULT_LIST_BUTTON = "Ver opciones"
DEFAULT_AI_HANDOFF_STEP = "ia_chat"


# --- data in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaData:
    media_type: str  # image | video | audio | document
    url: str
    caption: str = ""


@dataclass(frozen=True)
class RuleData:
    id: int
    step: str
    input_text: str
    priority: int
    response_type: str
    response_text: str
    options: str
    next_step: str
    advance_steps: int
    role_keyword: str
    handler: str
    calculation: str
    media: tuple[MediaData, ...] = ()
    match_image_description: bool = False  # its keywords are matched in an image's description too


@dataclass(frozen=True)
class CommandData:
    id: int
    keywords: str  # comma-separated
    handler: str
    response_text: str = ""
    description: str = ""
    priority: int = 100


@dataclass(frozen=True)
class Incoming:
    """The customer's message: typed text (a caption, or a transcription), or the id/title of a tapped option.

    ``image_description``: what was read in an image (vision model or OCR); only rules with
    ``match_image_description`` look at it.
    """

    text: str = ""
    interactive_id: str = ""
    interactive_title: str = ""
    image_description: str = ""


@dataclass(frozen=True)
class State:
    """Where the chat is, plus the settings the engine needs. An empty step means a new chat."""

    step: str
    initial_step: str
    ai_enabled: bool = False
    ai_handoff_step: str = DEFAULT_AI_HANDOFF_STEP
    fallback_text: str = DEFAULT_FALLBACK_TEXT
    list_button: str = DEFAULT_LIST_BUTTON


# --- decision out --------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Reply:
    type: str  # one of RESPONSE_TYPES
    text: str = ""
    options: tuple[Option, ...] = ()
    media: tuple[MediaData, ...] = ()
    rule_id: int | None = None
    list_button: str = ""


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What to send (in order) and what to save. ``next_step`` is always the step to store."""

    replies: tuple[Reply, ...] = ()
    next_step: str
    assign_roles: tuple[str, ...] = ()
    hand_off_to_human: bool = False
    to_ai: bool = False
    restart: bool = False
    unmatched: bool = False
    matched_rule_ids: tuple[int, ...] = ()
    command: str | None = None
    problems: tuple[str, ...] = ()


# --- matching ------------------------------------------------------------------------------

# Ranks of a match, best first: what the customer typed or tapped, then what was read in an image.
_EXACT, _CONTAINED, _DESCRIPTION_EXACT, _DESCRIPTION_CONTAINED = 0, 1, 2, 3


def _split_keywords(raw: str) -> list[str]:
    return [keyword.strip() for keyword in raw.split(",") if keyword.strip()]


def _is_default(rule: RuleData) -> bool:
    return WILDCARD in _split_keywords(rule.input_text)


def _rule_keywords(rule: RuleData) -> set[str]:
    keywords = {match_text(k) for k in _split_keywords(rule.input_text) if k != WILDCARD}
    keywords.discard("")
    return keywords


def _contains_phrase(text: str, phrase: str) -> bool:
    # Both sides are normalized: words separated by single spaces.
    return f" {phrase} " in f" {text} "


def _sort_key(rule: RuleData) -> tuple[int, int]:
    return (rule.priority, rule.id)


def _match_rank(keywords: set[str], *, exact_inputs: set[str], text: str, description: str) -> int | None:
    """How well ``keywords`` match (the ranks above, lower is better); None when they do not.

    ``description`` is "" unless the rule opted in to image descriptions.
    """
    if keywords & exact_inputs:
        return _EXACT
    if text and any(_contains_phrase(text, keyword) for keyword in keywords):
        return _CONTAINED
    if description and description in keywords:
        return _DESCRIPTION_EXACT
    if description and any(_contains_phrase(description, keyword) for keyword in keywords):
        return _DESCRIPTION_CONTAINED
    return None


def match_rule(rules: Sequence[RuleData], step: str, incoming: Incoming) -> RuleData | None:
    """The best keyword match among ``step``'s rules, ignoring ``*``; None when no keyword matches.

    Exact matches (text, interactive id or interactive title equal to a keyword)
    beat keywords merely contained, as whole words, in the text; then lower
    priority, then lower id. Text and keywords are folded by ``match_text``: a
    number is a whole word, so "2" matches "opción 2" but never "2,4", "12" or "2x3".
    Rules with ``match_image_description`` also match the image's description the
    same way (folded, exact or whole words contained), ranked after every match of
    the text: what the customer wrote wins over what was read in the picture.
    """
    text = match_text(incoming.text)
    exact_inputs = {text, match_text(incoming.interactive_id), match_text(incoming.interactive_title)}
    exact_inputs.discard("")
    description = match_text(incoming.image_description)
    best: tuple[int, int, int] | None = None
    best_rule: RuleData | None = None
    for rule in rules:
        if rule.step != step:
            continue
        rank = _match_rank(
            _rule_keywords(rule),
            exact_inputs=exact_inputs,
            text=text,
            description=description if rule.match_image_description else "",
        )
        if rank is None:
            continue
        key = (rank, *_sort_key(rule))
        if best is None or key < best:
            best, best_rule = key, rule
    return best_rule


def default_rule(rules: Sequence[RuleData], step: str) -> RuleData | None:
    """The ``*`` rule of ``step`` (lowest priority, then id), or None."""
    candidates = [rule for rule in rules if rule.step == step and _is_default(rule)]
    return min(candidates, key=_sort_key, default=None)


# --- replies -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def parse_options(raw: str) -> tuple[Option, ...]:
    """Options from "Title | Title: description | ..."; ids are slugs of the titles, kept unique.

    Remembered by text (a rule's options are parsed at each turn that sends or checks it; the
    options are immutable)."""
    options: list[Option] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw.split("|"), start=1):
        title, _, description = entry.partition(":")
        title, description = title.strip(), description.strip()
        if not title:
            continue
        option_id = slugify_option(title) or f"option_{index}"
        if option_id in seen:
            option_id = f"{option_id}_{index}"
        seen.add(option_id)
        options.append(Option(id=option_id, title=title, description=description))
    return tuple(options)


def rule_reply(rule: RuleData, *, text: str | None = None, list_button: str = DEFAULT_LIST_BUTTON) -> Reply | None:
    """The message a rule sends (``text`` overrides its response_text); None when there is nothing to send.

    A list/button rule without options, or a media rule without media, is sent
    as a text reply (the caller cannot build the interactive/media message).
    """
    body = rule.response_text if text is None else text
    reply_type = rule.response_type if rule.response_type in RESPONSE_TYPES else "text"
    options: tuple[Option, ...] = ()
    media = rule.media
    if reply_type in ("list", "button"):
        options = parse_options(rule.options)
        if not options:
            reply_type = "text"
    elif reply_type in MEDIA_RESPONSE_TYPES:
        if not media:
            reply_type = "text"
        else:
            # The first media of the reply's own type is the message; the rest follow it.
            main = next((i for i, m in enumerate(media) if m.media_type == reply_type), 0)
            rest = media[:main] + media[main + 1 :]
            media = (replace(media[main], caption=body or media[main].caption), *rest)
    if reply_type == "text" and not body.strip() and not media:
        return None
    return Reply(
        type=reply_type,
        text=body,
        options=options,
        media=media,
        rule_id=rule.id,
        list_button=list_button if reply_type == "list" else "",
    )


def _rule_problems(rule: RuleData) -> list[str]:
    problems = []
    if rule.response_type not in RESPONSE_TYPES:
        problems.append(f"rule {rule.id}: unknown response type {rule.response_type!r}, sent as text")
    elif rule.response_type in ("list", "button") and not parse_options(rule.options):
        problems.append(f"rule {rule.id}: {rule.response_type} without options, sent as text")
    elif rule.response_type in MEDIA_RESPONSE_TYPES and not rule.media:
        problems.append(f"rule {rule.id}: {rule.response_type} without media, sent as text")
    return problems


# --- the decision --------------------------------------------------------------------------


@dataclass
class _Outcome:
    """Mutable accumulator for one decision (private; frozen into a Decision at the end)."""

    state: State
    rules: Sequence[RuleData]
    handlers: Mapping[str, Handler]
    replies: list[Reply] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    rule_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hand_off: bool = False
    unmatched: bool = False

    def add_text(self, text: str | None) -> None:
        if text and text.strip():
            self.replies.append(Reply(type="text", text=text))

    def add_roles(self, roles: Sequence[str]) -> None:
        for role in roles:
            role = role.strip()
            if role and role not in self.roles:
                self.roles.append(role)

    def send_rule(self, rule: RuleData, text: str | None = None) -> None:
        self.rule_ids.append(rule.id)
        self.problems.extend(_rule_problems(rule))
        reply = rule_reply(rule, text=text, list_button=self.state.list_button)
        if reply is not None:
            self.replies.append(reply)
        self.add_roles(_split_keywords(rule.role_keyword))

    def fallback(self, problem: str | None = None) -> None:
        self.unmatched = True
        if problem:
            self.problems.append(problem)
        self.add_text(self.state.fallback_text)

    def decision(
        self, *, next_step: str, to_ai: bool = False, restart: bool = False, command: str | None = None
    ) -> Decision:
        return Decision(
            replies=tuple(self.replies),
            next_step=next_step,
            assign_roles=tuple(self.roles),
            hand_off_to_human=self.hand_off,
            to_ai=to_ai,
            restart=restart,
            unmatched=self.unmatched,
            matched_rule_ids=tuple(self.rule_ids),
            command=command,
            problems=tuple(self.problems),
        )


def _run_handler(out: _Outcome, rule: RuleData, text: str) -> HandlerResult | None:
    handler = out.handlers.get(rule.handler)
    if handler is None:
        out.fallback(f"rule {rule.id}: unknown handler {rule.handler!r}")
        return None
    try:
        result = handler(text=text, calculation=rule.calculation, rule=rule)
    except Exception as exc:  # a broken handler must not leave the customer unanswered
        out.fallback(f"rule {rule.id}: handler {rule.handler!r} raised {exc!r}")
        return None
    if result.problem:
        out.problems.append(result.problem)
    out.hand_off = out.hand_off or result.hand_off_to_human
    return result


def _merge_result(template: str, result: str | None) -> str:
    if result is None:
        return template
    if "{result}" in template:
        return template.replace("{result}", result)
    return result


def _answer(out: _Outcome, rule: RuleData, *, text: str, step: str) -> str:
    """Send ``rule``'s reply (running its handler on ``text``), follow next step and advance_steps."""
    reply_text: str | None = None
    next_step = rule.next_step or step
    if rule.handler:
        result = _run_handler(out, rule, text)
        if result is None:
            return step
        if not result.ok:
            out.rule_ids.append(rule.id)
            error_text = result.text or out.state.fallback_text
            if error_text.strip():
                out.replies.append(Reply(type="text", text=error_text, rule_id=rule.id))
            return step
        reply_text = _merge_result(rule.response_text, result.text)
        next_step = result.next_step or next_step
        out.add_roles(result.assign_roles)
    out.send_rule(rule, reply_text)
    return _advance(out, next_step, rule.advance_steps, answered={rule.id})


def _advance(out: _Outcome, step: str, times: int, *, answered: set[int]) -> str:
    for _ in range(min(max(times, 0), MAX_ADVANCE_STEPS)):
        rule = default_rule(out.rules, step)
        if rule is None or rule.handler or rule.id in answered:
            break
        answered.add(rule.id)
        out.send_rule(rule)
        step = rule.next_step or step
    return step


def _answer_as_new_chat(out: _Outcome, step: str) -> str:
    """What a fresh chat in ``step`` gets without usable input: its ``*`` rule and that rule's cascade."""
    rule = default_rule(out.rules, step)
    if rule is None or rule.handler:
        return step
    out.send_rule(rule)
    return _advance(out, rule.next_step or step, rule.advance_steps, answered={rule.id})


def _find_command(
    out: _Outcome,
    commands: Sequence[CommandData],
    incoming: Incoming,
    command_handlers: Mapping[str, CommandHandler],
) -> tuple[CommandData, CommandHandler] | None:
    inputs = {match_text(incoming.text), match_text(incoming.interactive_id)}
    inputs.discard("")
    if not inputs:
        return None
    for command in sorted(commands, key=lambda c: (c.priority, c.id)):
        keywords = {match_text(k) for k in _split_keywords(command.keywords)}
        if not keywords & inputs:
            continue
        handler = command_handlers.get(command.handler)
        if handler is None:
            out.problems.append(f"command {command.id}: unknown command handler {command.handler!r}")
            continue
        return command, handler
    return None


def _effective_step(state: State) -> str:
    if not state.step:
        return state.initial_step
    if state.step == state.ai_handoff_step and not state.ai_enabled:
        return state.initial_step
    return state.step


def decide(
    *,
    rules: Sequence[RuleData],
    commands: Sequence[CommandData],
    incoming: Incoming,
    state: State,
    handlers: Mapping[str, Handler] = HANDLERS,
    command_handlers: Mapping[str, CommandHandler] = COMMAND_HANDLERS,
) -> Decision:
    """Decide the replies and the next state for one incoming message.

    ``rules``: every active rule (any step; the engine filters by step and
    follows next steps across them). ``commands``: active global commands.
    Never raises for bad data: problems are reported in ``Decision.problems``.
    """
    out = _Outcome(state=state, rules=rules, handlers=handlers)
    step = _effective_step(state)

    found = _find_command(out, commands, incoming, command_handlers)
    if found is not None:
        command, command_handler = found
        try:
            result: CommandResult | None = command_handler(command=command, state=state, commands=commands)
        except Exception as exc:  # fall through to the rules rather than leave the customer unanswered
            out.problems.append(f"command {command.id}: handler {command.handler!r} raised {exc!r}")
            result = None
        if result is not None:
            out.add_text(result.text)
            next_step = result.next_step or step
            out.hand_off = result.hand_off_to_human
            if result.run_default_rule:
                replies_before = len(out.replies)
                next_step = _answer_as_new_chat(out, next_step)
                if len(out.replies) == replies_before and not (result.text and result.text.strip()):
                    out.add_text(result.text_if_silent)
            return out.decision(next_step=next_step, restart=result.restart, command=command.handler)

    if state.ai_enabled and state.ai_handoff_step and step == state.ai_handoff_step:
        return out.decision(next_step=state.step, to_ai=True)

    rule = match_rule(rules, step, incoming) or default_rule(rules, step)
    if rule is None:
        out.fallback()
        return out.decision(next_step=step)
    next_step = _answer(out, rule, text=_handler_text(rule, incoming), step=step)
    return out.decision(next_step=next_step)


def _handler_text(rule: RuleData, incoming: Incoming) -> str:
    """What a rule's handler reads: the text, else a tapped option's title, else (for a rule that opted in to
    image descriptions) what was read in the image."""
    text = incoming.text or incoming.interactive_title
    if not text and rule.match_image_description:
        return incoming.image_description
    return text
