"""(Being written) The flow diagram admin page."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def flow_diagram_view(request: HttpRequest, *, context: dict[str, Any], opts: Any) -> HttpResponse:
    raise Http404("The flow diagram is being built.")
