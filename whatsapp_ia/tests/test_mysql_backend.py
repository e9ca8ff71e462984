"""The MySQL/MariaDB backend opens transactions with BEGIN (whatsapp_ia/db/mysql/base.py): the same
transactions as Django's, one round trip fewer each, none for a block that runs no statement."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from accounts.models import Role

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the transactions under test are the outermost ones
    pytest.mark.skipif("connection.vendor != 'mysql'", reason="MySQL/MariaDB backend"),
]


def _counters() -> dict[str, int]:
    """This session's statement counters (SHOW SESSION STATUS does not count itself in these)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SHOW SESSION STATUS WHERE Variable_name IN ('Com_begin', 'Com_commit', 'Com_rollback', 'Com_set_option')"
        )
        return {name: int(value) for name, value in cursor.fetchall()}


def _delta(before: dict[str, int]) -> dict[str, int]:
    after = _counters()
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


def _other_connection_sees(name: str) -> bool:
    """Read committed data through a second connection."""
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {Role._meta.db_table} WHERE name = %s", [name])  # noqa: S608
            return cursor.fetchone()[0] == 1
    finally:
        other.close()


def test_a_block_is_begin_then_commit_and_the_session_stays_in_autocommit() -> None:
    connection.ensure_connection()
    before = _counters()
    with transaction.atomic():
        Role.objects.create(name="Ventas", keyword="ventas")
        assert not _other_connection_sees("Ventas")  # not committed yet
    assert _delta(before) == {"Com_begin": 1, "Com_commit": 1}  # no SET autocommit pair
    assert _other_connection_sees("Ventas")
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@autocommit")
        assert cursor.fetchone()[0] == 1


def test_a_block_that_fails_leaves_nothing() -> None:
    connection.ensure_connection()
    before = _counters()
    with pytest.raises(RuntimeError), transaction.atomic():
        Role.objects.create(name="Soporte", keyword="soporte")
        raise RuntimeError("the block fails")
    assert _delta(before) == {"Com_begin": 1, "Com_rollback": 1}
    assert not Role.objects.filter(name="Soporte").exists()


def test_a_block_without_statements_costs_no_round_trip() -> None:
    connection.ensure_connection()
    before = _counters()
    with transaction.atomic():
        pass
    assert _delta(before) == {}


def test_savepoints_and_row_locks_work_inside_a_block() -> None:
    with transaction.atomic():
        Role.objects.create(name="Uno", keyword="uno")
        with pytest.raises(RuntimeError), transaction.atomic():
            Role.objects.create(name="Dos", keyword="dos")
            raise RuntimeError("only the savepoint rolls back")
        assert list(Role.objects.select_for_update().values_list("name", flat=True)) == ["Uno"]
    assert list(Role.objects.values_list("name", flat=True)) == ["Uno"]


def test_manual_transactions_go_on_after_each_commit() -> None:
    transaction.set_autocommit(False)
    try:
        Role.objects.create(name="Primero", keyword="primero")
        transaction.commit()
        Role.objects.create(name="Segundo", keyword="segundo")  # in a new transaction, not autocommitted
        assert not _other_connection_sees("Segundo")
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert set(Role.objects.values_list("name", flat=True)) == {"Primero"}


def test_turning_autocommit_back_on_commits_what_is_open_as_mysql_does() -> None:
    transaction.set_autocommit(False)
    Role.objects.create(name="Abierto", keyword="abierto")
    transaction.set_autocommit(True)
    assert _other_connection_sees("Abierto")
