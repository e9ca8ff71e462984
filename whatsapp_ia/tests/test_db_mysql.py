"""The MySQL/MariaDB backend (whatsapp_ia/db/mysql): START TRANSACTION instead of turning autocommit off and on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, connections, transaction

from conversations.models import Contact

pytestmark = [
    pytest.mark.skipif(connection.vendor != "mysql", reason="the MySQL/MariaDB backend"),
    pytest.mark.django_db(transaction=True),  # the tests' own transactions, not a test case's savepoints
]


def _counters() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Com_set_option', 'Com_begin', 'Com_commit')")
        return {name: int(value) for name, value in cursor.fetchall()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


@pytest.fixture
def other() -> Iterator[object]:
    """A second connection, to see what is committed."""
    from django.db import DEFAULT_DB_ALIAS

    conn = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        yield conn
    finally:
        conn.close()


def _seen_by(conn: object, external_id: str) -> bool:
    with conn.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT COUNT(*) FROM conversations_contact WHERE external_id = %s", [external_id])
        return cursor.fetchone()[0] == 1


def test_a_transaction_costs_start_and_commit_and_no_autocommit_switch() -> None:
    assert connection.settings_dict["ENGINE"] == "whatsapp_ia.db.mysql"
    _counters()  # connected
    before = _counters()
    with transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000001")
    after = _counters()
    # Django's own backend: Com_set_option +2 (SET autocommit=0, then =1) and Com_begin +0.
    assert _delta(before, after) == {"Com_set_option": 0, "Com_begin": 1, "Com_commit": 1}


def test_commit_rollback_and_autocommit_behave_as_with_djangos_backend(other: object) -> None:
    with transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000002")
        assert not _seen_by(other, "573000000002")  # not committed yet
    assert _seen_by(other, "573000000002")

    with pytest.raises(RuntimeError), transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000003")
        raise RuntimeError
    assert not Contact.objects.filter(external_id="573000000003").exists()

    Contact.objects.create(provider="meta", external_id="573000000004")  # autocommit again after the block
    assert _seen_by(other, "573000000004")

    with transaction.atomic():  # savepoints inside still roll back on their own
        Contact.objects.create(provider="meta", external_id="573000000005")
        with pytest.raises(RuntimeError), transaction.atomic():
            Contact.objects.create(provider="meta", external_id="573000000006")
            raise RuntimeError
    assert _seen_by(other, "573000000005") and not _seen_by(other, "573000000006")


def test_turning_autocommit_back_on_commits_an_open_transaction(other: object) -> None:
    transaction.set_autocommit(False)
    try:
        Contact.objects.create(provider="meta", external_id="573000000007")
        assert not _seen_by(other, "573000000007")
    finally:
        transaction.set_autocommit(True)  # as SET autocommit=1 does on Django's backend
    assert _seen_by(other, "573000000007")


def test_a_new_connection_needs_no_autocommit_statement() -> None:
    connection.close()
    connection.ensure_connection()
    before = _counters()
    Contact.objects.create(provider="meta", external_id="573000000008")
    assert _delta(before, _counters())["Com_set_option"] == 0
