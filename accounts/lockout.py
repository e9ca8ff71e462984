"""Failed-login lockout: django-axes with a limit for each lockout parameter combination.

django-axes counts failures for each combination in AXES_LOCKOUT_PARAMETERS (here a
username+address pair, and a username alone) but compares them all with one limit.
A username alone sums the failures from every address, so it needs a higher limit
than the pair, or one user's typos from one machine would lock them out everywhere:
LOGIN_USERNAME_FAILURE_LIMIT, against AXES_FAILURE_LIMIT for the pair.
"""

from __future__ import annotations

from collections.abc import Sequence

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address axes counts failures for: REMOTE_ADDR, which whatsapp_ia.proxy sets behind trusted proxies."""
    return request.META.get("REMOTE_ADDR")


def parameter_limit(parameter: str | Sequence[str], *, base_limit: int) -> int:
    """The failure limit of one lockout parameter combination ("username" alone has its own)."""
    names = (parameter,) if isinstance(parameter, str) else tuple(parameter)
    if names == ("username",):
        return settings.LOGIN_USERNAME_FAILURE_LIMIT
    return base_limit


def scaled_failures(*, counts: Sequence[int], limits: Sequence[int], base_limit: int) -> int:
    """One failure count to compare with `base_limit`: it reaches `base_limit` exactly when some
    combination's count reaches that combination's own limit (axes compares a single number)."""
    scaled = 0
    for count, limit in zip(counts, limits, strict=True):
        if count >= limit:
            return max(count, base_limit)
        scaled = max(scaled, min(count * base_limit // max(limit, 1), base_limit - 1))
    return scaled


class LockoutHandler(AxesDatabaseHandler):
    """AxesDatabaseHandler, with each combination of AXES_LOCKOUT_PARAMETERS held to its own limit."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        base_limit = get_failure_limit(request, credentials)
        parameters = get_lockout_parameters(request, credentials)
        attempts_list = self.get_user_attempts(request, credentials)  # one queryset per parameter, same order
        counts = [attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0 for attempts in attempts_list]
        limits = [parameter_limit(parameter, base_limit=base_limit) for parameter in parameters]
        return scaled_failures(counts=counts, limits=limits, base_limit=base_limit)
