"""The Celery app's worker hooks: database connections kept between tasks, by Django's rules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from whatsapp_ia.celery import _close_old_db_connections, app

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))
EAGER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=True))


def _connect_with_max_age(monkeypatch: Any, seconds: int) -> Any:
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", seconds)
    connection.ensure_connection()
    return connection.connection


def test_celerys_django_fixup_leaves_connections_open(monkeypatch: Any) -> None:
    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max >= 1_000_000
    raw = _connect_with_max_age(monkeypatch, 300)
    fixup.close_database()  # what Celery runs before and after every task
    assert connection.connection is raw


def test_around_a_task_a_connection_within_its_max_age_is_kept(monkeypatch: Any) -> None:
    raw = _connect_with_max_age(monkeypatch, 300)
    _close_old_db_connections(task=WORKER_TASK)
    assert connection.connection is raw


def test_around_a_task_an_expired_or_broken_connection_is_dropped(monkeypatch: Any) -> None:
    _connect_with_max_age(monkeypatch, 0)
    _close_old_db_connections(task=WORKER_TASK)
    assert connection.connection is None

    _connect_with_max_age(monkeypatch, 300)
    connection.errors_occurred = True
    monkeypatch.setattr(connection, "is_usable", lambda: False)  # the server went away
    _close_old_db_connections(task=WORKER_TASK)
    assert connection.connection is None


def test_an_eager_task_never_touches_its_callers_connection(monkeypatch: Any) -> None:
    raw = _connect_with_max_age(monkeypatch, 0)
    _close_old_db_connections(task=EAGER_TASK)
    assert connection.connection is raw
