from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from conversations.services.channels import channels_needing_setup


def channel_warnings(request: HttpRequest) -> dict[str, Any]:
    """Channels the admin must configure, for the warning on every admin page (queried only when shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_staff:
        return {"UNCONFIGURED_CHANNELS": ()}
    return {"UNCONFIGURED_CHANNELS": SimpleLazyObject(channels_needing_setup)}
