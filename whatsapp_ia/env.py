"""Environment access: one `env` object, a `.env` file read once, and small helpers."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from enum import Enum
from pathlib import Path
from typing import TypeVar

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime data (SQLite, the embedded Redis socket, logs, media); WIA_VAR_DIR moves it.
VAR_DIR = Path(os.environ.get("WIA_VAR_DIR", "") or BASE_DIR / "var")

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.exists():
    environ.Env.read_env(str(_dotenv), overwrite=False)

E = TypeVar("E", bound=Enum)


def env_to_enum(enum_cls: type[E], value: str) -> E:
    """Map a setting's text onto an Enum so a typo fails at start-up, not later."""
    for member in enum_cls:
        if member.value == value.strip().lower():
            return member
    choices = ", ".join(m.value for m in enum_cls)
    raise environ.ImproperlyConfigured(f"Unknown value {value!r}; expected one of: {choices}")


def persistent_secret(name: str) -> str:
    """A random secret generated once and kept under var/ (embedded default only)."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(50)
    path.write_text(value)
    path.chmod(0o600)
    return value


def fernet_key_from(secret: str) -> str:
    """Derive a valid Fernet key from any secret string."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()
