"""Builders for rules and commands in tests: one place for their defaults, any field overridable by keyword.

- `rule_data(...)`: the engine's input (`RuleData`), no database.
- `command_data(...)`: a global command for the engine (`CommandData`).
- `rule(...)`: a `Rule` row (needs the database).
- `rule_form(...)`: the POST of the rule admin's add/change form, its media inline included.

A test states only the fields it is about; the defaults are a plain text answer on the
initial step's default (`*`) rule.
"""

from __future__ import annotations

from typing import Any

from flows.engine import CommandData, RuleData
from flows.handlers import DEFAULT_COMMANDS

RULE_DEFAULTS: dict[str, Any] = {
    "step": "inicio",
    "input_text": "*",
    "priority": 100,
    "response_type": "text",
    "response_text": "Hola",
    "options": "",
    "next_step": "",
    "advance_steps": 0,
    "role_keyword": "",
    "handler": "",
    "calculation": "",
    "match_image_description": False,
}


def rule_data(**overrides: Any) -> RuleData:
    """A rule as the engine sees it (id 1 unless given)."""
    return RuleData(**{"id": 1, **RULE_DEFAULTS, **overrides})


def command_data(**overrides: Any) -> CommandData:
    """A global command as the engine sees it (id 1 unless given)."""
    return CommandData(**{"id": 1, "keywords": "ayuda", "handler": "help", **overrides})


def rule(**overrides: Any) -> Any:
    """A saved, active `Rule` row."""
    from flows.models import Rule

    return Rule.objects.create(**{**RULE_DEFAULTS, **overrides})


def rule_form(**overrides: Any) -> dict[str, Any]:
    """The rule admin form's POST data: a text answer for "horarios" on step "menu", no media."""
    data: dict[str, Any] = {
        **{field: str(value) for field, value in RULE_DEFAULTS.items()},
        "key": "",
        "step": "menu",
        "input_text": "horarios",
        "response_text": "Atendemos de 8 a 6.",
        "active": "on",
        # the media inline's management form
        "media-TOTAL_FORMS": "0",
        "media-INITIAL_FORMS": "0",
        "media-MIN_NUM_FORMS": "0",
        "media-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def default_command_data() -> list[CommandData]:
    """The shipped global commands (restart, menu, help, human) as the engine sees them."""
    return [CommandData(id=i, **row) for i, row in enumerate(DEFAULT_COMMANDS, start=1)]


def default_commands() -> None:
    """The shipped global commands as rows, unless some exist (a transactional test flushes the data migration's)."""
    from flows.models import GlobalCommand

    if not GlobalCommand.objects.exists():
        for priority, row in enumerate(DEFAULT_COMMANDS, start=1):
            GlobalCommand.objects.create(**row, priority=priority * 10, active=True)
