"""`.env.example` documents every variable the settings read, so a newcomer finds each one there."""

from __future__ import annotations

import re

from whatsapp_ia.env import BASE_DIR

READ = re.compile(r'env\.(?:str|int|float|bool|list|url|path|json)\(\s*"([A-Z][A-Z0-9_]*)"')
DOCUMENTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def test_every_variable_the_settings_read_is_in_env_example() -> None:
    read = {
        name
        for path in (BASE_DIR / "whatsapp_ia").rglob("*.py")
        if "tests" not in path.parts
        for name in READ.findall(path.read_text())
    }
    documented = set(DOCUMENTED.findall((BASE_DIR / ".env.example").read_text()))
    assert len(read) > 40  # the scan found the settings
    assert sorted(read - documented) == []
