"""Spanish first: the UI language is the user's explicit choice (cookie), else LANGUAGE_CODE."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class DefaultLanguageMiddleware:
    """Ignore the browser's Accept-Language unless LANGUAGE_FOLLOWS_BROWSER is on.

    Placed before LocaleMiddleware, so the language selector's cookie still wins.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.LANGUAGE_FOLLOWS_BROWSER:
            request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
