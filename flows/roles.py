"""The roles a rule assigns (``Rule.role_keyword``): checked when a rule is saved or imported, never dropped.

A keyword that no role has yet creates that role (named after the keyword) and the admin,
the import report or the log says so; a keyword that cannot be a role keyword is an error
where the rule is written.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.models import Role
from accounts.services import role_keyword_valid, roles_ensure

__all__ = ["role_created_message", "role_keyword_errors", "role_keywords", "rule_roles_ensure"]


def role_keywords(raw: str) -> list[str]:
    """The keywords of a rule's role_keyword cell, comma-separated as the engine reads them."""
    return [k for k in dict.fromkeys(part.strip() for part in (raw or "").split(",")) if k]


def role_keyword_errors(raw: str) -> list[str]:
    """What is wrong with the role keywords of ``raw`` (empty when they can all be role keywords)."""
    return [
        _(
            "'%(keyword)s' cannot be a role keyword: use letters, digits, '-' or '_' "
            "(no spaces or accents), at most 50 characters."
        )
        % {"keyword": keyword}
        for keyword in role_keywords(raw)
        if not role_keyword_valid(keyword)
    ]


def rule_roles_ensure(*, role_keyword: str) -> list[Role]:
    """Create the roles of ``role_keyword`` that do not exist yet; returns the ones created."""
    return list(roles_ensure(keywords=role_keywords(role_keyword)).created)


def role_created_message(role: Role) -> str:
    """How the admin and the import report say that a rule created a role."""
    return _(
        "No role had the keyword '%(keyword)s', so the role '%(name)s' was created for it. "
        "Add agents to that role so they see the chats it receives."
    ) % {"keyword": role.keyword, "name": role.name}
