"""Account services: migrating the seed's legacy password hashes; roles named by rules' keywords."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import Role
from accounts.passwords import ALGORITHM, normalize_legacy_hash

# A role keyword is a slug (Role.keyword is a SlugField): letters, digits, "-" and "_".
_ROLE_KEYWORD = re.compile(r"[-a-zA-Z0-9_]{1,50}")


def role_keyword_valid(keyword: str) -> bool:
    """True when ``keyword`` can be a Role.keyword."""
    return bool(_ROLE_KEYWORD.fullmatch(keyword))


def roles_by_keyword(*, keywords: Iterable[str]) -> dict[str, Role]:
    """The existing roles of ``keywords`` (matched ignoring case), keyed by the keyword as given."""
    wanted = [k for k in dict.fromkeys(k.strip() for k in keywords) if k]
    if not wanted:
        return {}
    found: dict[str, Role] = {}
    by_folded: dict[str, Role] = {}
    matching = Q()
    for keyword in wanted:
        matching |= Q(keyword__iexact=keyword)
    for role in Role.objects.filter(matching).order_by("id"):
        by_folded.setdefault(role.keyword.casefold(), role)
    for keyword in wanted:
        role = by_folded.get(keyword.casefold())
        if role is not None:
            found[keyword] = role
    return found


@dataclass(frozen=True)
class RolesEnsured:
    roles: dict[str, Role]  # every valid keyword -> its role (existing or new)
    created: tuple[Role, ...]  # the roles this call created
    invalid: tuple[str, ...]  # keywords that cannot be a role keyword (left alone)


def roles_ensure(*, keywords: Iterable[str]) -> RolesEnsured:
    """The roles of ``keywords``, creating each missing one (named after its keyword).

    A rule that assigns a role nobody created yet must not lose the assignment: the role is
    created, and the caller says so. Keywords that are not slugs are returned in ``invalid``.
    """
    wanted = [k for k in dict.fromkeys(k.strip() for k in keywords) if k]
    invalid = tuple(k for k in wanted if not role_keyword_valid(k))
    valid = [k for k in wanted if role_keyword_valid(k)]
    roles = roles_by_keyword(keywords=valid)
    created: list[Role] = []
    for keyword in valid:
        if keyword in roles:
            continue
        role, new = _role_create(keyword=keyword)
        roles[keyword] = role
        if new:
            created.append(role)
    return RolesEnsured(roles=roles, created=tuple(created), invalid=invalid)


def _role_create(*, keyword: str) -> tuple[Role, bool]:
    """(a new role for ``keyword`` named after it (a free name if taken), True); (the existing one, False) on a race."""
    # Names are unique, and case-insensitively so under MariaDB's collation: compare folded.
    taken = {n.casefold() for n in Role.objects.filter(name__istartswith=keyword).values_list("name", flat=True)}
    base = keyword[:1].upper() + keyword[1:]  # "ventas" -> "Ventas"
    name, n = base, 2
    while name.casefold() in taken:
        name, n = f"{base} ({n})", n + 1
    try:
        with transaction.atomic():
            role = Role.objects.create(keyword=keyword, name=name[:100])
    except IntegrityError:  # created meanwhile by another request
        return Role.objects.get(keyword__iexact=keyword), False
    return role, True


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
