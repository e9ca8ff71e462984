"""Pure helpers that turn environment values into Django settings (tested without Django)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import environ

# Web and worker processes write together: WAL, a busy timeout and
# IMMEDIATE transactions avoid "database is locked" under load; the backend
# (whatsapp_ia/db/sqlite3) makes the writers take turns promptly.
SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

#: Django's SQLite backend, with the writers of one file taking turns (whatsapp_ia/db/sqlite3).
SQLITE_ENGINE = "whatsapp_ia.db.sqlite3"


def database_from_env(environ_map: Mapping[str, str], *, sqlite_path: Path) -> dict:
    """DATABASES['default'] from DATABASE_URL, else the seed's DB_* variables, else SQLite.

    DB_HOST (or DB_NAME) set means MySQL/MariaDB, as in the seed's config.py.
    """
    url = environ_map.get("DATABASE_URL", "").strip()
    if not url and (environ_map.get("DB_HOST") or environ_map.get("DB_NAME")):
        user = quote(environ_map.get("DB_USER", "root"), safe="")
        password = quote(environ_map.get("DB_PASSWORD", ""), safe="")
        host = environ_map.get("DB_HOST", "127.0.0.1") or "127.0.0.1"
        port = environ_map.get("DB_PORT", "3306") or "3306"
        name = environ_map.get("DB_NAME", "whatsapp_ia") or "whatsapp_ia"
        auth = f"{user}:{password}@" if password else f"{user}@"
        url = f"mysql://{auth}{host}:{port}/{name}"
    if not url:
        return {
            "ENGINE": SQLITE_ENGINE,
            "NAME": str(sqlite_path),
            "OPTIONS": dict(SQLITE_OPTIONS),
            "TEST": {"NAME": str(sqlite_path.with_name("test_db.sqlite3"))},
        }
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Any SQLite file (the embedded default or DATABASE_URL=sqlite:///...) is written by web and
        # worker processes together; what the URL sets itself wins.
        config["ENGINE"] = SQLITE_ENGINE
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        with contextlib.suppress(TypeError, ValueError):
            config["OPTIONS"]["timeout"] = float(config["OPTIONS"]["timeout"])
    if config["ENGINE"] in ("django.db.backends.mysql",):
        # Django's backend with one statement per transaction start instead of two (whatsapp_ia/db/mysql).
        config["ENGINE"] = "whatsapp_ia.db.mysql"
        config.setdefault("OPTIONS", {})
        config["OPTIONS"].setdefault("charset", "utf8mb4")
        config["OPTIONS"].setdefault("isolation_level", "read committed")
        # Under Daphne every Django request runs in a thread of its own, so persistent
        # connections would pile up (one left open per request): 0 in the web tier.
        # Celery workers (whatsapp_ia/celery.py) and the webhook route keep theirs.
        config["CONN_MAX_AGE"] = int(environ_map.get("DB_CONN_MAX_AGE", "0"))
        config["CONN_HEALTH_CHECKS"] = True
        # channels' live server adds "test_" again unless TEST.NAME is explicit.
        config["TEST"] = {
            "NAME": f"test_{config['NAME']}",
            "CHARSET": "utf8mb4",
            "COLLATION": "utf8mb4_unicode_ci",
        }
    return config


@dataclass(frozen=True)
class RedisUrls:
    """One Redis reached by every component, spelled as each client wants it."""

    client: str  # redis-py, django cache, channels-redis
    celery: str  # kombu broker / result backend
    socket_path: str | None  # set when the project runs its own embedded Redis


def redis_from_env(environ_map: Mapping[str, str], *, socket_path: Path) -> RedisUrls:
    """REDIS_URL when set; otherwise the private Redis on a unix socket under var/."""
    url = environ_map.get("REDIS_URL", "").strip()
    if url:
        if url.startswith("unix://"):
            return RedisUrls(client=url, celery="redis+socket://" + url[len("unix://") :], socket_path=None)
        return RedisUrls(client=url, celery=url, socket_path=None)
    path = str(socket_path)
    return RedisUrls(client=f"unix://{path}", celery=f"redis+socket://{path}", socket_path=path)
