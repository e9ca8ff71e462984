from django.conf import settings
from django.http import HttpRequest


def admin_warnings(request: HttpRequest) -> dict[str, bool]:
    """Flags the admin shows as warnings on every page."""
    return {"WEBHOOK_SIGNATURES_OFF": not settings.WEBHOOK_VERIFY_SIGNATURES}
