"""Account services: migrating the seed's legacy password hashes."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.passwords import ALGORITHM, normalize_legacy_hash


@dataclass(frozen=True)
class RehashReport:
    normalized: int  # raw seed values rewritten into a Django-readable form
    converted_pbkdf2: int  # Werkzeug PBKDF2 hashes converted losslessly
    legacy_remaining: int  # unsalted SHA-256 still waiting for the user's next login
    reset: int  # legacy hashes made unusable (--force-reset)
    usernames_remaining: tuple[str, ...]


@transaction.atomic
def passwords_rehash(*, force_reset: bool = False) -> RehashReport:
    """Bring every stored password into a form Django can check, and report what is still weak.

    Unsalted SHA-256 cannot be upgraded without the plain password, so it is
    upgraded on the user's next successful login; `force_reset` instead makes
    those passwords unusable so the users must reset them.
    """
    user_model = get_user_model()
    normalized = converted = reset = 0
    for user in user_model.objects.select_for_update().exclude(password=""):
        fixed = normalize_legacy_hash(user.password)
        if fixed is not None and fixed != user.password:
            if fixed.startswith("pbkdf2_sha256$"):
                converted += 1
            else:
                normalized += 1
            user.password = fixed
            user.save(update_fields=["password"])
    remaining = user_model.objects.filter(password__startswith=f"{ALGORITHM}$")
    if force_reset:
        for user in remaining:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            reset += 1
    names = tuple(remaining.order_by("username").values_list("username", flat=True))
    return RehashReport(
        normalized=normalized,
        converted_pbkdf2=converted,
        legacy_remaining=len(names),
        reset=reset,
        usernames_remaining=names,
    )
