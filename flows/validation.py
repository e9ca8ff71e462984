"""Checks of rules against WhatsApp's limits and of the flow as a whole (dangling, unreachable steps).

Pure: no ORM, no I/O. Plain values or rule-like objects in (``flows.models.Rule``
instances and ``flows.engine.RuleData`` both fit), problems and warnings out.
The admin form (flows.forms) turns :func:`rule_problems` into field errors, and
the admin and the flow diagram (flows.diagram) show :func:`flow_warnings`.

The limits are the ones ``conversations.providers.meta`` enforces when it sends:
buttons 1 to 3 with titles of at most 20 characters, unique; list 1 to 10 rows,
row titles of at most 24 characters and descriptions of at most 72; interactive
body text at most 1024 characters, text messages at most 4096, captions at most
1024. Options are parsed with :func:`flows.engine.parse_options`, exactly as the
engine sends them.

Messages are translatable (English msgids); the severity decides what the admin
does with a problem: an "error" blocks saving, a "warning" is shown after saving.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from flows.engine import MAX_ADVANCE_STEPS, MEDIA_RESPONSE_TYPES, RESPONSE_TYPES, WILDCARD, parse_options
from flows.handlers import HANDLERS

__all__ = [
    "BODY_MAX",
    "BUTTONS_MAX",
    "BUTTON_TITLE_MAX",
    "CAPTION_MAX",
    "LIST_DESCRIPTION_MAX",
    "LIST_ROWS_MAX",
    "LIST_TITLE_MAX",
    "TEXT_MAX",
    "FlowAnalysis",
    "Problem",
    "RuleLike",
    "advance_chain",
    "analyze_flow",
    "flow_warnings",
    "is_default_rule",
    "rule_keywords",
    "rule_problems",
    "warnings_of",
]

BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
LIST_ROWS_MAX = 10
LIST_TITLE_MAX = 24
LIST_DESCRIPTION_MAX = 72
BODY_MAX = 1024  # body text of buttons and lists
TEXT_MAX = 4096  # a plain text message
CAPTION_MAX = 1024  # image, video and document captions

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem of one rule. ``field`` is the Rule field it belongs to ("" for the rule as a whole)."""

    field: str
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class RuleLike(Protocol):
    """What the flow checks read from a rule (a Rule row or an engine RuleData).

    ``active`` is read with getattr (default True): RuleData has none, since the
    engine only ever gets active rules.
    """

    id: int | None
    step: str
    input_text: str
    next_step: str
    advance_steps: int
    handler: str


# --- one rule ------------------------------------------------------------------------------


def rule_keywords(input_text: str) -> list[str]:
    """The comma-separated keywords of a rule, stripped, blanks dropped ("*" kept)."""
    return [keyword.strip() for keyword in (input_text or "").split(",") if keyword.strip()]


def is_default_rule(rule: RuleLike) -> bool:
    """True for a step's ``*`` rule (``*`` among its keywords), as the engine reads it."""
    return WILDCARD in rule_keywords(rule.input_text)


def _length_problem(field_name: str, what: str, value: str, maximum: int) -> Problem | None:
    if len(value) <= maximum:
        return None
    return Problem(
        field_name,
        _("%(what)s '%(value)s' has %(length)d characters; WhatsApp allows %(maximum)d.")
        % {"what": what, "value": value, "length": len(value), "maximum": maximum},
    )


def _button_problems(options: str) -> list[Problem]:
    parsed = parse_options(options)
    problems: list[Problem] = []
    if not parsed:
        return [
            Problem(
                "options",
                _("A button response needs 1 to %(maximum)d options separated by |; none given.")
                % {"maximum": BUTTONS_MAX},
            )
        ]
    if len(parsed) > BUTTONS_MAX:
        problems.append(
            Problem(
                "options",
                _("%(count)d buttons given; WhatsApp allows at most %(maximum)d. Use a list for more options.")
                % {"count": len(parsed), "maximum": BUTTONS_MAX},
            )
        )
    seen: dict[str, int] = {}
    for number, option in enumerate(parsed, start=1):
        what = _("Button %(number)d title") % {"number": number}
        problem = _length_problem("options", what, option.title, BUTTON_TITLE_MAX)
        if problem:
            problems.append(problem)
        if option.title in seen:
            problems.append(
                Problem(
                    "options",
                    _("Button %(number)d title '%(title)s' repeats button %(first)d; WhatsApp requires unique titles.")
                    % {"number": number, "title": option.title, "first": seen[option.title]},
                )
            )
        else:
            seen[option.title] = number
        if option.description:
            problems.append(
                Problem(
                    "options",
                    _(
                        "Button %(number)d has a description ('%(description)s') that WhatsApp does not show on "
                        "buttons; a ':' in an option starts its description."
                    )
                    % {"number": number, "description": option.description},
                    "warning",
                )
            )
    return problems


def _list_problems(options: str) -> list[Problem]:
    parsed = parse_options(options)
    if not parsed:
        return [
            Problem(
                "options",
                _("A list response needs 1 to %(maximum)d rows separated by |; none given.")
                % {"maximum": LIST_ROWS_MAX},
            )
        ]
    problems: list[Problem] = []
    if len(parsed) > LIST_ROWS_MAX:
        problems.append(
            Problem(
                "options",
                _("%(count)d list rows given; WhatsApp allows at most %(maximum)d.")
                % {"count": len(parsed), "maximum": LIST_ROWS_MAX},
            )
        )
    for number, option in enumerate(parsed, start=1):
        title_problem = _length_problem(
            "options", _("Row %(number)d title") % {"number": number}, option.title, LIST_TITLE_MAX
        )
        description_problem = _length_problem(
            "options",
            _("Row %(number)d description") % {"number": number},
            option.description,
            LIST_DESCRIPTION_MAX,
        )
        problems.extend(p for p in (title_problem, description_problem) if p)
    return problems


def _body_problems(response_type: str, response_text: str, *, handler: str) -> list[Problem]:
    problems: list[Problem] = []
    length = len(response_text)
    if response_type in ("button", "list"):
        if not response_text.strip() and not handler:
            problems.append(
                Problem("response_text", _("WhatsApp requires a body text for buttons and lists; enter one."))
            )
        if length > BODY_MAX:
            problems.append(
                Problem(
                    "response_text",
                    _("The body text has %(length)d characters; WhatsApp allows %(maximum)d with buttons or a list.")
                    % {"length": length, "maximum": BODY_MAX},
                )
            )
    elif response_type in ("image", "video", "document"):
        if length > CAPTION_MAX:
            problems.append(
                Problem(
                    "response_text",
                    _("The caption has %(length)d characters; WhatsApp allows %(maximum)d.")
                    % {"length": length, "maximum": CAPTION_MAX},
                )
            )
    elif response_type == "audio":
        if response_text.strip():
            problems.append(
                Problem(
                    "response_text",
                    _("Audio messages have no caption: this response text is not sent."),
                    "warning",
                )
            )
    elif length > TEXT_MAX:
        problems.append(
            Problem(
                "response_text",
                _("The text has %(length)d characters; WhatsApp allows %(maximum)d.")
                % {"length": length, "maximum": TEXT_MAX},
            )
        )
    return problems


def _media_problems(response_type: str, media_types: Sequence[str]) -> list[Problem]:
    if response_type in MEDIA_RESPONSE_TYPES:
        if not media_types:
            return [
                Problem(
                    "",
                    _("A response of type %(type)s needs a media item below; without one the text is sent instead.")
                    % {"type": response_type},
                    "warning",
                )
            ]
        if response_type not in media_types:
            return [
                Problem(
                    "",
                    _("None of the media is of type %(type)s; the first media is sent as the %(type)s.")
                    % {"type": response_type},
                    "warning",
                )
            ]
    return []


def rule_problems(
    *,
    response_type: str,
    options: str = "",
    response_text: str = "",
    handler: str = "",
    advance_steps: int = 0,
    input_text: str = WILDCARD,
    media_types: Sequence[str] | None = None,
    handlers: Collection[str] | None = None,
) -> list[Problem]:
    """Everything wrong with one rule, as WhatsApp and the engine will see it.

    ``media_types``: the types of the rule's media, in order; None when unknown
    (the admin form cannot see its inline media), which skips the media checks.
    ``handlers``: the valid handler names (default: the registered ones).
    """
    known_handlers = HANDLERS if handlers is None else handlers
    response_text = response_text or ""
    options = options or ""
    handler = (handler or "").strip()
    problems: list[Problem] = []

    if not rule_keywords(input_text):
        problems.append(Problem("input_text", _("Enter at least one keyword, or * for the step's default answer.")))
    if response_type not in RESPONSE_TYPES:
        problems.append(Problem("response_type", _("Unknown response type '%(type)s'.") % {"type": response_type}))
    elif response_type == "button":
        problems.extend(_button_problems(options))
    elif response_type == "list":
        problems.extend(_list_problems(options))
    elif options.strip():
        problems.append(
            Problem(
                "options",
                _("Options are only sent with buttons or a list; a %(type)s response ignores them.")
                % {"type": response_type},
                "warning",
            )
        )
    problems.extend(_body_problems(response_type, response_text, handler=handler))
    if media_types is not None:
        problems.extend(_media_problems(response_type, media_types))
        if response_type == "text" and not response_text.strip() and not media_types and not handler:
            problems.append(
                Problem("response_text", _("The response text is empty: this rule sends no message."), "warning")
            )
    if handler and handler not in known_handlers:
        problems.append(
            Problem(
                "handler",
                _("Unknown handler '%(handler)s'. Available handlers: %(names)s.")
                % {"handler": handler, "names": ", ".join(sorted(known_handlers)) or "-"},
            )
        )
    if advance_steps and advance_steps > MAX_ADVANCE_STEPS:
        problems.append(
            Problem(
                "advance_steps",
                _("The bot advances at most %(maximum)d steps in a row; %(count)d is capped to that.")
                % {"maximum": MAX_ADVANCE_STEPS, "count": advance_steps},
                "warning",
            )
        )
    return problems


# --- the whole flow ------------------------------------------------------------------------


def _is_active(rule: RuleLike) -> bool:
    return bool(getattr(rule, "active", True))


def _rule_ref(rule: RuleLike) -> str:
    return f"#{rule.id}" if rule.id is not None else "#?"


def _sort_key(rule: RuleLike) -> tuple[int, int]:
    return (int(getattr(rule, "priority", 100) or 0), rule.id or 0)


def _default_of(rules: Iterable[RuleLike], step: str) -> RuleLike | None:
    candidates = [rule for rule in rules if rule.step == step and is_default_rule(rule)]
    return min(candidates, key=_sort_key, default=None)


@dataclass
class FlowAnalysis:
    """The shape of a flow: which steps exist, which are targeted, which are reachable.

    Built from active rules only (the engine never sees inactive ones).
    """

    initial_step: str
    ai_handoff_step: str
    rules: list[RuleLike]
    inactive_count: int
    steps: list[str]  # steps with at least one active rule, in first-seen order
    targets: dict[str, list[RuleLike]]  # next_step -> the rules that send chats there
    dangling: list[str]  # targeted (or initial) steps that no active rule handles
    unreachable: list[str]  # steps with rules that no path from the initial step reaches
    reachable: set[str]
    without_default: list[str]  # steps with rules but no * rule
    ai_step_rules: list[RuleLike]  # rules in the AI hand-off step: they never run
    advance_chains: dict[int, list[str]] = field(default_factory=dict)  # rule id -> steps passed automatically
    idle_advances: list[RuleLike] = field(default_factory=list)  # advance_steps > 0 that advance nowhere

    @property
    def all_steps(self) -> list[str]:
        """Every step worth drawing: steps with rules, then targeted steps (and the AI step) without."""
        ordered = list(self.steps)
        if self.rules and self.initial_step and self.initial_step not in ordered:
            ordered.insert(0, self.initial_step)
        for target in self.targets:
            if target not in ordered:
                ordered.append(target)
        return ordered


def advance_chain(rules: Sequence[RuleLike], rule: RuleLike) -> list[str]:
    """The steps the engine passes through automatically after ``rule`` (its advance_steps cascade).

    Mirrors flows.engine._advance: from the rule's next step, run that step's ``*``
    rule and follow its next step, advance_steps times at most; stop at a step
    without ``*`` rule, at a ``*`` rule with a handler, or at a rule already run.
    Returns the steps reached after each hop (empty when nothing advances).
    """
    times = min(max(int(rule.advance_steps or 0), 0), MAX_ADVANCE_STEPS)
    step = rule.next_step or rule.step
    answered = {rule.id}
    reached: list[str] = []
    for _hop in range(times):
        default = _default_of(rules, step)
        if default is None or default.handler or default.id in answered:
            break
        answered.add(default.id)
        step = default.next_step or step
        reached.append(step)
    return reached


def analyze_flow(rules: Sequence[RuleLike], *, initial_step: str, ai_handoff_step: str) -> FlowAnalysis:
    """Steps, targets, dangling and unreachable steps of the active rules."""
    active = [rule for rule in rules if _is_active(rule)]
    inactive_count = len(rules) - len(active)
    steps: list[str] = []
    for rule in sorted(active, key=lambda r: (r.step != initial_step, *_sort_key(r))):
        if rule.step not in steps:
            steps.append(rule.step)
    defined = set(steps)

    targets: dict[str, list[RuleLike]] = {}
    edges: dict[str, set[str]] = {}
    for rule in active:
        target = rule.next_step or rule.step
        edges.setdefault(rule.step, set()).add(target)
        if rule.next_step:
            targets.setdefault(rule.next_step, []).append(rule)

    advance_chains: dict[int, list[str]] = {}
    idle_advances: list[RuleLike] = []
    for rule in active:
        if rule.advance_steps and rule.advance_steps > 0:
            chain = advance_chain(active, rule)
            if chain:
                advance_chains[rule.id or 0] = chain
                hop_from = rule.next_step or rule.step
                for step in chain:
                    edges.setdefault(hop_from, set()).add(step)
                    hop_from = step
            else:
                idle_advances.append(rule)

    # Reachability from the initial step; a chat left in the AI step with the AI off is
    # treated as being in the initial step, so the AI step leads nowhere new.
    reachable: set[str] = set()
    if initial_step:
        frontier = [initial_step]
        while frontier:
            step = frontier.pop()
            if step in reachable:
                continue
            reachable.add(step)
            frontier.extend(edges.get(step, ()))

    dangling = sorted(t for t in targets if t not in defined and t != ai_handoff_step)
    if active and initial_step and initial_step not in defined and initial_step not in dangling:
        dangling.insert(0, initial_step)
    unreachable = [s for s in steps if s not in reachable and s != ai_handoff_step]
    without_default = [
        s for s in steps if s != ai_handoff_step and not any(r.step == s and is_default_rule(r) for r in active)
    ]
    ai_step_rules = [r for r in active if ai_handoff_step and r.step == ai_handoff_step]
    return FlowAnalysis(
        initial_step=initial_step,
        ai_handoff_step=ai_handoff_step,
        rules=active,
        inactive_count=inactive_count,
        steps=steps,
        targets=targets,
        dangling=dangling,
        unreachable=unreachable,
        reachable=reachable,
        without_default=without_default,
        ai_step_rules=ai_step_rules,
        advance_chains=advance_chains,
        idle_advances=idle_advances,
    )


def _refs(rules: Iterable[RuleLike]) -> str:
    return ", ".join(_rule_ref(rule) for rule in sorted(rules, key=lambda r: r.id or 0))


def warnings_of(analysis: FlowAnalysis) -> list[str]:
    """The human-readable warnings of an analysed flow (see :func:`flow_warnings`)."""
    warnings: list[str] = []
    initial = analysis.initial_step
    for step in analysis.dangling:
        senders = analysis.targets.get(step, [])
        if step == initial and not senders:
            warnings.append(
                _("The initial step '%(step)s' has no active rule: new chats get the fallback text.") % {"step": step}
            )
            continue
        warnings.append(
            ngettext(
                "Step '%(step)s' is the next step of rule %(rules)s, but no active rule handles it: "
                "chats sent there get the fallback text.",
                "Step '%(step)s' is the next step of rules %(rules)s, but no active rule handles it: "
                "chats sent there get the fallback text.",
                len(senders),
            )
            % {"step": step, "rules": _refs(senders)}
        )
    for step in analysis.unreachable:
        warnings.append(
            _("Step '%(step)s' cannot be reached from the initial step '%(initial)s': no rule leads there.")
            % {"step": step, "initial": initial}
        )
    for step in analysis.without_default:
        warnings.append(
            _("Step '%(step)s' has no * rule: messages that match none of its keywords get the fallback text.")
            % {"step": step}
        )
    if analysis.ai_step_rules:
        warnings.append(
            ngettext(
                "Rule %(rules)s is in the AI hand-off step '%(step)s' and never runs: the AI answers there "
                "(with the AI off, chats there start over at '%(initial)s').",
                "Rules %(rules)s are in the AI hand-off step '%(step)s' and never run: the AI answers there "
                "(with the AI off, chats there start over at '%(initial)s').",
                len(analysis.ai_step_rules),
            )
            % {"rules": _refs(analysis.ai_step_rules), "step": analysis.ai_handoff_step, "initial": initial}
        )
    for rule in analysis.idle_advances:
        target = rule.next_step or rule.step
        warnings.append(
            _(
                "Rule %(rule)s advances %(count)d steps, but step '%(step)s' has no * rule the bot can run "
                "without waiting for the customer, so nothing advances."
            )
            % {"rule": _rule_ref(rule), "count": rule.advance_steps, "step": target}
        )
    return warnings


def flow_warnings(rules: Sequence[RuleLike], *, initial_step: str, ai_handoff_step: str) -> list[str]:
    """Warnings about the flow as a whole, most serious first.

    - dangling steps: a next_step that no active rule handles (not the AI
      hand-off step, which the AI serves; an empty next_step stays in the step),
      and an initial step without rules;
    - unreachable steps: no path of next_step edges (advance_steps cascades
      included) leads there from the initial step;
    - steps without a ``*`` rule (unmatched messages get the fallback text);
    - rules in the AI hand-off step (they never run);
    - advance_steps that advance nowhere.
    Inactive rules are ignored, as the engine ignores them.
    """
    return warnings_of(analyze_flow(rules, initial_step=initial_step, ai_handoff_step=ai_handoff_step))
