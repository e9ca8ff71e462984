"""Admin forms for rules, plus the database-side helpers of the flow checks.

:class:`RuleAdminForm` refuses what WhatsApp would refuse (flows.validation's
errors become field errors) and a second rule with the same step and keywords;
softer problems (a next step no rule handles yet, ...) are kept in
``form.warnings`` and do not block saving. :func:`rule_save_warnings` and
:func:`current_flow_warnings` give the admin the warnings to show after a save
and on the rules list.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conversations.services.bots import AI_RESPONDER, responder_handoff
from flows.engine import DEFAULT_AI_HANDOFF_STEP
from flows.handlers import HANDLERS
from flows.models import Rule, rule_key
from flows.roles import role_keyword_errors
from flows.validation import analyze_flow, rule_problems, warnings_of

__all__ = [
    "RuleAdminForm",
    "StepInput",
    "active_rules_for_checks",
    "current_flow_warnings",
    "flow_steps",
    "rule_save_warnings",
]

_RULE_CHECK_FIELDS = ("id", "step", "input_text", "priority", "next_step", "advance_steps", "handler", "active")
_MAX_STEP_SUGGESTIONS = 300


def flow_steps() -> tuple[str, str]:
    """(initial step, AI hand-off step) as the engine uses them.

    The hand-off step is the AI settings row's when it exists (without creating
    it, unlike AISettings.load), else settings.AI_HANDOFF_STEP.
    """
    initial = settings.INITIAL_STEP
    ai_step = getattr(settings, "AI_HANDOFF_STEP", DEFAULT_AI_HANDOFF_STEP)
    ai = responder_handoff(AI_RESPONDER, create=False)  # the AI says its step when installed
    stored = ai.step if ai else None
    return initial, (stored or ai_step)


def active_rules_for_checks() -> list[Rule]:
    """Every active rule, with only the fields the flow checks read."""
    return list(Rule.objects.filter(active=True).only(*_RULE_CHECK_FIELDS).order_by("step", "priority", "id"))


def _known_steps() -> list[str]:
    steps = set(Rule.objects.values_list("step", flat=True).distinct()[:_MAX_STEP_SUGGESTIONS])
    steps.update(
        Rule.objects.exclude(next_step="").values_list("next_step", flat=True).distinct()[:_MAX_STEP_SUGGESTIONS]
    )
    initial, ai_step = flow_steps()
    steps.update(s for s in (initial, ai_step) if s)
    return sorted(steps)


def _did_you_mean(step: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(step, [c for c in candidates if c != step], n=1, cutoff=0.75)
    return " " + _("Did you mean '%(step)s'?") % {"step": close[0]} if close else ""


def _dangling_message(step: str, defined_steps: Iterable[str]) -> str:
    return (
        _(
            "No active rule handles the next step '%(step)s' yet: chats sent there get the fallback text "
            "until you add a rule for that step."
        )
        % {"step": step}
    ) + _did_you_mean(step, defined_steps)


class StepInput(forms.TextInput):
    """A text input that suggests the steps already used (an HTML datalist; free text still allowed)."""

    def __init__(self, attrs: dict[str, Any] | None = None, steps: Iterable[str] = ()) -> None:
        super().__init__(attrs)
        self.steps = list(steps)

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or 'id_' + name}_steps"
        attrs.update({"list": list_id, "autocomplete": "off"})
        html = super().render(name, value, attrs, renderer)
        if not self.steps:
            return html
        options = format_html_join("", '<option value="{}"></option>', ((step,) for step in self.steps))
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


class RuleAdminForm(forms.ModelForm):
    """The rule form of the admin: WhatsApp's limits and duplicate keywords are errors; the rest are warnings."""

    class Meta:
        model = Rule
        fields = "__all__"  # noqa: DJ007  (every Rule field is edited here, new ones included)
        widgets = {
            "input_text": forms.Textarea(attrs={"rows": 2, "cols": 80}),
            "response_text": forms.Textarea(attrs={"rows": 6, "cols": 80}),
            "options": forms.Textarea(attrs={"rows": 3, "cols": 80}),
            "step": StepInput(attrs={"size": 30}),
            "next_step": StepInput(attrs={"size": 30}),
            "calculation": forms.TextInput(attrs={"size": 40}),
        }
        help_texts = {
            "key": gettext_lazy(
                "Stable identifier used by Excel import/export. Leave it empty: it is filled from the step "
                "and keywords."
            ),
            "input_text": gettext_lazy(
                'Comma-separated keywords or phrases, matched without accents or case ("ver catalogo, 2"). '
                "* answers anything the step's other rules do not match. Button and list replies arrive as "
                "their titles, so a button 'Ver catálogo' is matched by the keyword 'ver catalogo'."
            ),
            "priority": gettext_lazy(
                "Lower numbers are tried first when several rules of the step match; exact matches always beat "
                "words merely contained in the message."
            ),
            "response_text": gettext_lazy(
                "What the bot answers (the caption of an image, video or document). With a handler, "
                "{result} is replaced by the handler's result. WhatsApp allows 4096 characters in a text "
                "message and 1024 with buttons, a list or as a caption."
            ),
            "options": gettext_lazy(
                "Buttons: 1 to 3 titles of at most 20 characters, separated by |. List: 1 to 10 rows of at "
                "most 24 characters, each optionally 'Title: description' (description up to 72). "
                "Example: Cotizar | Ver catálogo | Hablar con asesor"
            ),
            "advance_steps": gettext_lazy(
                "After moving to the next step, run that step's * rule right away (without waiting for the "
                "customer) this many times; at most 20."
            ),
            "role_keyword": gettext_lazy(
                "Keywords of roles assigned to the chat when this rule answers (comma-separated). "
                "A keyword no role has yet creates that role when the rule is saved."
            ),
            "calculation": gettext_lazy("Input for the handler, e.g. the price per m² for countertop_quote."),
            "active": gettext_lazy("Inactive rules are ignored by the bot and drawn nowhere."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []
        self._initial_step, self._ai_step = flow_steps()
        if "key" in self.fields:
            self.fields["key"].required = False
        steps = None
        for name in ("step", "next_step"):
            field = self.fields.get(name)
            if field is not None and isinstance(field.widget, StepInput):
                steps = _known_steps() if steps is None else steps
                field.widget.steps = steps
        # Django renders help texts as HTML: escape the values put into them.
        if "step" in self.fields:
            self.fields["step"].help_text = _(
                "The conversation step this rule answers in. New chats start in '%(initial)s'."
            ) % {"initial": escape(self._initial_step)}
        if "next_step" in self.fields:
            self.fields["next_step"].help_text = _(
                "The step the chat moves to after this answer; empty stays in the same step. "
                "'%(ai)s' hands the chat to the AI."
            ) % {"ai": escape(self._ai_step)}
        if "handler" in self.fields:
            names = escape(", ".join(sorted(HANDLERS)) or "-")
            self.fields["handler"].help_text = _(
                "Optional: a handler that computes the answer from the customer's message. Available: %(names)s."
            ) % {"names": names}

    # --- validation ----------------------------------------------------------------------

    def _value(self, name: str) -> Any:
        if name in self.cleaned_data:
            return self.cleaned_data[name]
        if name in self.fields:  # the field has an error of its own
            return None
        return getattr(self.instance, name, None)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.warnings = []
        for name in ("step", "next_step"):
            if isinstance(cleaned.get(name), str):
                cleaned[name] = cleaned[name].strip()
        self._check_rule()
        self._check_duplicate()
        self._check_next_step()
        self._check_roles()
        return cleaned

    def _check_rule(self) -> None:
        response_type = self._value("response_type")
        if response_type is None:
            return
        problems = rule_problems(
            response_type=response_type,
            options=self._value("options") or "",
            response_text=self._value("response_text") or "",
            handler=self._value("handler") or "",
            advance_steps=self._value("advance_steps") or 0,
            input_text=self._value("input_text") if self._value("input_text") is not None else "*",
            media_types=None,  # inline media are not visible here; rule_save_warnings checks them after saving
        )
        for problem in problems:
            if problem.is_error:
                self.add_error(problem.field if problem.field in self.fields else None, problem.message)
            else:
                self.warnings.append(problem.message)

    def _check_duplicate(self) -> None:
        step, input_text = self._value("step"), self._value("input_text")
        if not step or not input_text:
            return
        key = rule_key(step, input_text)
        others = Rule.objects.filter(step__contains=step.strip()).only("id", "step", "input_text", "active")
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        for other in others:
            if rule_key(other.step, other.input_text) == key:
                message = _(
                    "Rule #%(id)s already answers the keywords '%(keywords)s' in step '%(step)s'. "
                    "Edit that rule, or change the keywords or the step."
                ) % {"id": other.pk, "keywords": other.input_text, "step": other.step}
                if not other.active:
                    message += " " + _("(That rule is inactive.)")
                self.add_error("input_text", message)
                return

    def _check_roles(self) -> None:
        # Missing roles are created when the rule is saved (RuleAdmin says so); unusable keywords are errors.
        for message in role_keyword_errors(self._value("role_keyword") or ""):
            self.add_error("role_keyword", message)

    def _check_next_step(self) -> None:
        next_step, step = self._value("next_step"), self._value("step")
        if not next_step or next_step == self._ai_step or next_step == step:
            return
        handled = Rule.objects.filter(step=next_step, active=True)
        if self.instance.pk is not None:
            handled = handled.exclude(pk=self.instance.pk)
        if handled.exists():
            return
        defined = Rule.objects.filter(active=True).values_list("step", flat=True).distinct()
        self.warnings.append(_dangling_message(next_step, defined))


# --- database-side helpers for the admin --------------------------------------------------


def rule_save_warnings(rule: Rule) -> list[str]:
    """Warnings to show after ``rule`` (and its inline media) was saved; [] when all is well.

    Rule-level problems of the stored data (media missing for an image rule,
    options ignored, ...) and the rule's place in the flow: a next step no
    active rule handles, a step the initial step cannot reach, a step without
    a ``*`` rule.
    """
    media_types = [m.media_type for m in rule.media.all()] if rule.pk else []
    warnings = [
        problem.message
        for problem in rule_problems(
            response_type=rule.response_type,
            options=rule.options,
            response_text=rule.response_text,
            handler=rule.handler,
            advance_steps=rule.advance_steps,
            input_text=rule.input_text,
            media_types=media_types,
        )
    ]
    if not rule.active:
        return warnings
    initial, ai_step = flow_steps()
    analysis = analyze_flow(active_rules_for_checks(), initial_step=initial, ai_handoff_step=ai_step)
    if rule.next_step and rule.next_step in analysis.dangling:
        warnings.append(_dangling_message(rule.next_step, analysis.steps))
    if rule.step in analysis.unreachable:
        warnings.append(
            _("Step '%(step)s' cannot be reached from the initial step '%(initial)s': no rule leads there.")
            % {"step": rule.step, "initial": initial}
        )
    if rule.step in analysis.without_default:
        warnings.append(
            _("Step '%(step)s' has no * rule: messages that match none of its keywords get the fallback text.")
            % {"step": rule.step}
        )
    if rule.step == ai_step:
        warnings.append(
            _("Step '%(step)s' is the AI hand-off step: the AI answers there, so this rule never runs.")
            % {"step": rule.step}
        )
    return warnings


def current_flow_warnings(*, limit: int | None = None) -> list[str]:
    """The flow-wide warnings of the active rules (flows.validation.flow_warnings), at most ``limit`` of them.

    When some are left out, the last line says how many and points to the flow diagram.
    """
    initial, ai_step = flow_steps()
    warnings = warnings_of(analyze_flow(active_rules_for_checks(), initial_step=initial, ai_handoff_step=ai_step))
    if limit is not None and len(warnings) > limit:
        hidden = len(warnings) - limit
        warnings = [
            *warnings[:limit],
            _("…and %(count)d more warnings: see the flow diagram.") % {"count": hidden},
        ]
    return warnings
