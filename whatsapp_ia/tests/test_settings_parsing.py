"""Settings parsing: DATABASE_URL, the seed's DB_* variables, the SQLite default, Redis URLs."""

from pathlib import Path

import pytest

from whatsapp_ia.settings.parsing import database_from_env, redis_from_env

SQLITE = Path("/srv/wia/var/db.sqlite3")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"DATABASE_URL": "mysql://app:s3cr%40t@db.example:3307/shop"},
            {"ENGINE": "whatsapp_ia.db.mysql", "NAME": "shop", "USER": "app", "PASSWORD": "s3cr@t",
             "HOST": "db.example", "PORT": 3307},
        ),
        (
            {"DB_HOST": "10.0.0.5", "DB_PORT": "3306", "DB_USER": "bot", "DB_PASSWORD": "p@ss:word/1", "DB_NAME": "wa"},
            {"ENGINE": "whatsapp_ia.db.mysql", "NAME": "wa", "USER": "bot", "PASSWORD": "p@ss:word/1",
             "HOST": "10.0.0.5", "PORT": 3306},
        ),
        (
            {"DB_HOST": "localhost", "DB_USER": "root", "DB_NAME": "chat"},
            {"ENGINE": "whatsapp_ia.db.mysql", "NAME": "chat", "USER": "root", "PASSWORD": "", "HOST": "localhost"},
        ),
        (
            {"DATABASE_URL": "postgres://u:p@pg:5432/x", "DB_HOST": "ignored"},
            {"ENGINE": "django.db.backends.postgresql", "NAME": "x", "HOST": "pg"},
        ),
    ],
)  # fmt: skip
def test_database_from_env_forms(environ: dict, expected: dict) -> None:
    config = database_from_env(environ, sqlite_path=SQLITE)
    for key, value in expected.items():
        assert config[key] == value, key


def test_mysql_gets_utf8mb4_and_an_explicit_test_name() -> None:
    config = database_from_env({"DATABASE_URL": "mysql://a:b@h:3306/shop"}, sqlite_path=SQLITE)
    assert config["OPTIONS"]["charset"] == "utf8mb4"
    assert config["TEST"]["NAME"] == "test_shop"
    assert config["TEST"]["COLLATION"] == "utf8mb4_unicode_ci"


def test_sqlite_default_uses_wal_busy_timeout_immediate_transactions_and_the_writers_queue() -> None:
    config = database_from_env({}, sqlite_path=SQLITE)
    assert config["ENGINE"] == "whatsapp_ia.db.sqlite3"
    assert config["NAME"] == str(SQLITE)
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert config["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


@pytest.mark.parametrize("url", ["sqlite:////srv/wia/var/other.sqlite3", "sqlite:///relative.db"])
def test_every_sqlite_database_url_gets_wal_busy_timeout_immediate_transactions_and_the_writers_queue(url: str) -> None:
    config = database_from_env({"DATABASE_URL": url}, sqlite_path=SQLITE)
    assert config["ENGINE"] == "whatsapp_ia.db.sqlite3"
    assert config["NAME"] != str(SQLITE)
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert config["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_sqlite_url_options_keep_what_the_url_says() -> None:
    config = database_from_env({"DATABASE_URL": "sqlite:////tmp/x.db?timeout=90"}, sqlite_path=SQLITE)
    assert config["OPTIONS"]["timeout"] == 90
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_redis_url_from_env_and_embedded_socket() -> None:
    explicit = redis_from_env({"REDIS_URL": "redis://cache:6379/2"}, socket_path=Path("/x/redis.sock"))
    assert (explicit.client, explicit.celery, explicit.socket_path) == (
        "redis://cache:6379/2",
        "redis://cache:6379/2",
        None,
    )
    embedded = redis_from_env({}, socket_path=Path("/srv/var/redis.sock"))
    assert embedded.client == "unix:///srv/var/redis.sock"
    assert embedded.celery == "redis+socket:///srv/var/redis.sock"
    assert embedded.socket_path == "/srv/var/redis.sock"
    unix = redis_from_env({"REDIS_URL": "unix:///run/redis.sock"}, socket_path=Path("/x"))
    assert unix.celery == "redis+socket:///run/redis.sock"
