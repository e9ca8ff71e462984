"""The bot simulator admin page ("Try the bot"): chat with the rules as a test customer.

GET shows the test chat of ``?number=`` (default `flows.simulator.DEFAULT_NUMBER`): its
messages, step, roles and whether the bot is paused. The AI's answers show as the customer gets
them: the text, then the catalog pages it cites as images (served by the authenticated message
media view), each marked "AI" with a link to its AI log. POST (``text`` typed, ``option`` tapped,
or ``action=reset``) runs `flows.simulator.simulate` and redirects back (post/redirect/get).
Viewing needs ``flows.view_rule``; sending needs ``flows.change_rule`` (403 otherwise); the
admin_view wrapper already requires staff.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from conversations.services.bots import AI_RESPONDER, responder_handoff
from flows.forms import flow_steps
from flows.simulator import (
    DEFAULT_NUMBER,
    HISTORY_LIMIT,
    SimulatorError,
    normalize_number,
    simulate,
    simulator_reset,
    simulator_state,
)

TEMPLATE = "admin/flows/rule/simulator.html"


def simulator_view(request: HttpRequest, *, context: dict[str, Any], opts: Any) -> HttpResponse:
    if not request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        raise PermissionDenied
    can_send = request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")
    if request.method == "POST":
        if not can_send:
            raise PermissionDenied
        return _post(request)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])

    raw_number = request.GET.get("number", "").strip() or DEFAULT_NUMBER
    number_error = ""
    try:
        number = normalize_number(raw_number)
    except SimulatorError as exc:
        number, number_error = DEFAULT_NUMBER, str(exc)
    state = simulator_state(number=number)
    handoff = responder_handoff(AI_RESPONDER, create=False)  # the AI's switch, when it is installed
    page = {
        **context,
        "opts": opts,
        "title": _("Try the bot"),
        "state": state,
        "number": number,
        "number_typed": raw_number if number_error else number,
        "number_error": number_error,
        "can_send": can_send,
        "initial_step": settings.INITIAL_STEP,
        "ai_step": flow_steps()[1],
        "ai_on": bool(handoff and handoff.enabled),
        "history_limit": HISTORY_LIMIT,
    }
    return TemplateResponse(request, TEMPLATE, page)


def _post(request: HttpRequest) -> HttpResponse:
    raw_number = request.POST.get("number", "").strip() or DEFAULT_NUMBER
    try:
        number = normalize_number(raw_number)
    except SimulatorError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("admin:flows_rule_simulator"))
    try:
        if request.POST.get("action") == "reset":
            simulator_reset(number=number)
            messages.success(request, _("The test chat of +%(number)s started over.") % {"number": number})
        else:
            text = request.POST.get("option") or request.POST.get("text", "")
            simulate(number=number, texts=[text])
    except SimulatorError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(f"{reverse('admin:flows_rule_simulator')}?{urlencode({'number': number})}")
