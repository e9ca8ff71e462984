"""Health checks that apps register (the project infrastructure never imports them).

Each check returns None when all is well, or a sentence saying what is wrong;
`/healthz` answers 503 with those sentences while any check fails.
"""

from __future__ import annotations

from collections.abc import Callable

Check = Callable[[], str | None]

_checks: dict[str, Check] = {}


def health_check_register(name: str, check: Check) -> None:
    """Add (or replace) the check called `name`; apps call this from AppConfig.ready()."""
    _checks[name] = check


def health_problems() -> dict[str, str]:
    """What is wrong right now, by check name (empty when healthy). A check that raises counts as failing."""
    problems: dict[str, str] = {}
    for name, check in _checks.items():
        try:
            problem = check()
        except Exception as exc:  # a broken check must not hide the others
            problem = f"check failed: {type(exc).__name__}: {exc}"
        if problem:
            problems[name] = problem
    return problems
