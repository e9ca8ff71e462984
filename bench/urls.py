"""The product's URLs plus a bare Django view, served by the same app and middleware stack."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def bare_django(request: HttpRequest) -> HttpResponse:
    """The cheapest possible Django view: what the framework costs before any product code runs."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare-django", bare_django, name="bench-bare-django"),
    path("", include("whatsapp_ia.urls")),
]
