"""The flow as a graph: steps as nodes, rules as labelled edges. Pure: no ORM, no I/O.

:func:`flow_graph` returns plain JSON-serializable data that the admin's flow
diagram page (flows.admin_diagram) embeds with ``json_script`` and
static/js/flow_diagram.js draws with the vendored Cytoscape.js + dagre layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from flows.validation import RuleLike, analyze_flow, is_default_rule, rule_keywords, warnings_of

__all__ = [
    "EDGE_KINDS",
    "IMAGE_DESCRIPTION_MARK",
    "LABEL_MAX",
    "NODE_KINDS",
    "RESPONSE_PREVIEW_MAX",
    "edge_label",
    "flow_graph",
    "shorten",
]

NODE_KINDS = ("initial", "step", "dangling", "unreachable", "ai")
EDGE_KINDS = ("keyword", "default", "advance", "handler")
LABEL_MAX = 28
RESPONSE_PREVIEW_MAX = 90


def shorten(text: str, limit: int = LABEL_MAX) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 1)].rstrip() + "…"


IMAGE_DESCRIPTION_MARK = "\U0001f4f7 "  # a camera: the rule also reads what was seen in a photo


def edge_label(rule: RuleLike, limit: int = LABEL_MAX) -> str:
    """The keywords of a rule as an edge label ("*" for the default), shortened; a camera marks a rule that
    also matches image descriptions."""
    mark = IMAGE_DESCRIPTION_MARK if getattr(rule, "match_image_description", False) else ""
    return mark + shorten(", ".join(rule_keywords(rule.input_text)) or "?", limit)


def _edge_title(rule: RuleLike) -> str:
    title = ", ".join(rule_keywords(rule.input_text))
    if getattr(rule, "match_image_description", False):
        title += " · " + _("also matched in the description of a photo")
    return title


def _node_kind(step: str, *, initial_step: str, ai_handoff_step: str, dangling: set[str], reachable: set[str]) -> str:
    if ai_handoff_step and step == ai_handoff_step:
        return "ai"
    if step in dangling:
        return "dangling"
    if step == initial_step:
        return "initial"
    if step not in reachable:
        return "unreachable"
    return "step"


def _edge_kind(rule: RuleLike) -> str:
    if (rule.handler or "").strip():
        return "handler"
    if is_default_rule(rule):
        return "default"
    return "keyword"


def flow_graph(rules: Sequence[RuleLike], *, initial_step: str, ai_handoff_step: str) -> dict[str, Any]:
    """The flow of ``rules`` as ``{"nodes", "edges", "warnings", ...}``.

    Nodes: every step with an active rule, every targeted step, and the initial
    step; ``kind`` is "ai" (the AI hand-off step), "dangling" (targeted, or the
    initial step, but no active rule handles it), "initial", "unreachable" (no
    path from the initial step) or "step".
    Edges: one per active rule, from its step to its next step (itself when
    next_step is empty: a self-loop), labelled with its keywords (a camera first when the rule also matches
    image descriptions); ``kind`` is
    "handler" (a handler decides; on failure the chat stays), "default" (a ``*``
    rule) or "keyword"; ``response`` previews the rule's response text (when the
    rules have one). A rule with advance_steps adds an "advance" edge (drawn
    dashed) from its next step to the step its automatic cascade ends in.
    Inactive rules are left out (the engine ignores them); ``inactive_rules``
    counts them.
    """
    analysis = analyze_flow(rules, initial_step=initial_step, ai_handoff_step=ai_handoff_step)
    dangling = set(analysis.dangling)
    counts: dict[str, int] = {}
    for rule in analysis.rules:
        counts[rule.step] = counts.get(rule.step, 0) + 1

    nodes = []
    for step in analysis.all_steps:
        nodes.append(
            {
                "id": step,
                "label": shorten(step, 40),
                "kind": _node_kind(
                    step,
                    initial_step=initial_step,
                    ai_handoff_step=ai_handoff_step,
                    dangling=dangling,
                    reachable=analysis.reachable,
                ),
                "rules_count": counts.get(step, 0),
                "initial": step == initial_step,
                "has_default": any(r.step == step and is_default_rule(r) for r in analysis.rules),
            }
        )

    edges: list[dict[str, Any]] = []
    ordered = sorted(analysis.rules, key=lambda r: (r.step, getattr(r, "priority", 100), r.id or 0))
    for rule in ordered:
        edges.append(
            {
                "id": f"rule-{rule.id}",
                "from": rule.step,
                "to": rule.next_step or rule.step,
                "label": edge_label(rule),
                "title": _edge_title(rule),
                "rule_id": rule.id,
                "kind": _edge_kind(rule),
                "handler": (rule.handler or "").strip(),
                "response": shorten(getattr(rule, "response_text", "") or "", RESPONSE_PREVIEW_MAX),
            }
        )
    for rule in ordered:
        chain = analysis.advance_chains.get(rule.id or 0)
        if not chain:
            continue
        edges.append(
            {
                "id": f"advance-{rule.id}",
                "from": rule.next_step or rule.step,
                "to": chain[-1],
                "label": ngettext("auto: %(count)d step", "auto: %(count)d steps", len(chain)) % {"count": len(chain)},
                "title": _("Rule #%(rule)s then runs, without waiting: %(steps)s")
                % {"rule": rule.id, "steps": " → ".join(chain)},
                "rule_id": rule.id,
                "kind": "advance",
                "handler": "",
                "response": "",
            }
        )

    return {
        "nodes": nodes,
        "edges": edges,
        "warnings": warnings_of(analysis),
        "initial_step": initial_step,
        "ai_handoff_step": ai_handoff_step,
        "rules_count": len(analysis.rules),
        "inactive_rules": analysis.inactive_count,
    }
