"""The flow diagram admin page: the rules drawn as a graph (flows.diagram) with the flow's warnings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from flows.diagram import flow_graph
from flows.forms import flow_steps
from flows.models import Rule

__all__ = ["flow_diagram_view"]

_GRAPH_FIELDS = (
    "id",
    "step",
    "input_text",
    "priority",
    "response_text",
    "next_step",
    "advance_steps",
    "handler",
    "active",
    "match_image_description",
)


def _kind_labels() -> dict[str, str]:
    return {
        "initial": _("Initial step"),
        "step": _("Step with rules"),
        "dangling": _("Dangling: no rule handles it"),
        "unreachable": _("Unreachable from the initial step"),
        "ai": _("AI hand-off"),
    }


def _add_links(graph: dict[str, Any], opts: Any) -> None:
    """Give every node and edge the admin page it opens (the JS only follows these)."""
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    try:
        ai_settings_url = reverse("admin:catalog_ai_aisettings_changelist")
    except NoReverseMatch:
        ai_settings_url = ""
    for node in graph["nodes"]:
        count = node["rules_count"]
        if count:
            node["url"] = f"{changelist}?{urlencode({'step__exact': node['id']})}"
            node["caption"] = ngettext("%(count)d rule", "%(count)d rules", count) % {"count": count}
            node["hint"] = _("Step '%(step)s': click to see its rules.") % {"step": node["id"]}
        elif node["kind"] == "ai":
            node["url"] = ai_settings_url
            node["caption"] = _("AI answers")
            node["hint"] = _("Step '%(step)s': the AI answers here.") % {"step": node["id"]}
        else:
            node["url"] = f"{add}?{urlencode({'step': node['id']})}"
            node["caption"] = _("no rule")
            node["hint"] = _("Step '%(step)s' has no rule: click to add one.") % {"step": node["id"]}
    for edge in graph["edges"]:
        edge["url"] = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[edge["rule_id"]])
        if edge["kind"] == "advance":
            edge["hint"] = edge["title"]
        else:
            edge["hint"] = _("Rule #%(id)s (%(keywords)s): click to edit it.") % {
                "id": edge["rule_id"],
                "keywords": edge["title"],
            }
            if edge["response"]:
                edge["hint"] += " " + _("Replies: “%(text)s”") % {"text": edge["response"]}


def _outline(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The same graph as a list (steps and their outgoing rules) for the page's text view."""
    labels = _kind_labels()
    outgoing: dict[str, list[dict[str, Any]]] = {}
    for edge in graph["edges"]:
        outgoing.setdefault(edge["from"], []).append(edge)
    return [
        {**node, "kind_label": labels.get(node["kind"], node["kind"]), "edges": outgoing.get(node["id"], [])}
        for node in graph["nodes"]
    ]


def flow_diagram_view(request: HttpRequest, *, context: dict[str, Any], opts: Any) -> HttpResponse:
    """GET the flow diagram of every rule; needs the model's view (or change) permission."""
    user = request.user
    if not (
        user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
        or user.has_perm(f"{opts.app_label}.change_{opts.model_name}")
    ):
        raise PermissionDenied
    rules = list(Rule.objects.only(*_GRAPH_FIELDS).order_by("step", "priority", "id"))
    initial_step, ai_step = flow_steps()
    graph = flow_graph(rules, initial_step=initial_step, ai_handoff_step=ai_step)
    _add_links(graph, opts)
    legend = [{"kind": kind, "label": label} for kind, label in _kind_labels().items()]
    return TemplateResponse(
        request,
        "admin/flows/rule/diagram.html",
        {
            **context,
            "title": _("Flow diagram"),
            "opts": opts,
            "graph": graph,
            "warnings": graph["warnings"],
            "has_rules": bool(graph["nodes"]),
            "outline": _outline(graph),
            "legend": legend,
            "initial_step": initial_step,
            "ai_handoff_step": ai_step,
            "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            "add_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_add"),
        },
    )
