"""(Being written) The bot simulator admin page."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def simulator_view(request: HttpRequest, *, context: dict[str, Any], opts: Any) -> HttpResponse:
    raise Http404("The simulator is being built.")
