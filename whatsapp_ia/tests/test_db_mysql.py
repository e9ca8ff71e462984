"""The MySQL/MariaDB backend (whatsapp_ia/db/mysql): START TRANSACTION instead of turning autocommit off and
on, sent with the transaction's first statement; writes that wait for the next statement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from conftest import database_round_trips
from conversations.models import Contact
from conversations.services.sql import execute_later

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


@pytest.fixture
def round_trips() -> Iterator[list[bytes]]:
    with database_round_trips() as sent:
        yield sent


def _name(external_id: str) -> str:
    return Contact.objects.values_list("profile_name", flat=True).get(external_id=external_id)


def _rename_later(external_id: str, name: str) -> None:
    execute_later("UPDATE conversations_contact SET profile_name = %s WHERE external_id = %s", [name, external_id])


def test_start_goes_out_with_the_first_statement_and_an_empty_transaction_sends_nothing(
    round_trips: list[bytes],
) -> None:
    with transaction.atomic():
        pass
    assert round_trips == []
    with transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000010")
    assert len(round_trips) == 2  # START + INSERT, then COMMIT
    assert round_trips[0].startswith(b"START TRANSACTION; INSERT INTO") and round_trips[1] == b"COMMIT"


def test_a_write_given_for_later_goes_out_with_the_next_statement_in_order(
    round_trips: list[bytes], other: object
) -> None:
    Contact.objects.create(provider="meta", external_id="573000000011", profile_name="antes")
    round_trips.clear()
    with transaction.atomic():
        _rename_later("573000000011", "primero")
        _rename_later("573000000011", "después")
        assert len(round_trips) == 0
        assert _name("573000000011") == "después"  # the transaction reads its own writes
        assert len(round_trips) == 1
        assert round_trips[0].count(b";") == 3  # START; UPDATE; UPDATE; SELECT
        assert _seen_by(other, "573000000011") and _name_seen_by(other, "573000000011") == "antes"
        _rename_later("573000000011", "al final")
    assert len(round_trips) == 2 and round_trips[1].endswith(b"; COMMIT")  # the UPDATE with the COMMIT
    assert _name_seen_by(other, "573000000011") == "al final"


def _name_seen_by(conn: object, external_id: str) -> str:
    with conn.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT profile_name FROM conversations_contact WHERE external_id = %s", [external_id])
        return cursor.fetchone()[0]


def test_outside_a_transaction_a_write_for_later_runs_at_once(round_trips: list[bytes], other: object) -> None:
    Contact.objects.create(provider="meta", external_id="573000000012", profile_name="antes")
    round_trips.clear()
    _rename_later("573000000012", "ya")
    assert len(round_trips) == 1 and _name_seen_by(other, "573000000012") == "ya"


def test_a_rollback_drops_the_writes_not_sent_and_the_savepoints_keep_their_order(other: object) -> None:
    Contact.objects.create(provider="meta", external_id="573000000013", profile_name="antes")
    with pytest.raises(RuntimeError), transaction.atomic():
        _rename_later("573000000013", "nunca")
        raise RuntimeError
    assert _name_seen_by(other, "573000000013") == "antes"

    with transaction.atomic():
        _rename_later("573000000013", "fuera")
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint: the UPDATE goes out before it
            _rename_later("573000000013", "dentro")
            raise RuntimeError
    assert _name_seen_by(other, "573000000013") == "fuera"


def test_a_failed_write_is_raised_by_the_next_statement_as_its_own_error_and_the_statement_does_not_run() -> None:
    Contact.objects.create(provider="meta", external_id="573000000014")
    Contact.objects.create(provider="meta", external_id="573000000015")
    with pytest.raises(DatabaseError) as failed, transaction.atomic():
        # a duplicate (provider, external_id): refused by the unique constraint when it goes out
        execute_later(
            "UPDATE conversations_contact SET external_id = %s WHERE external_id = %s", ["573000000014", "573000000015"]
        )
        Contact.objects.create(provider="meta", external_id="573000000016")
    assert type(failed.value).__name__ == "DeferredWriteFailed"
    assert not isinstance(failed.value, IntegrityError)  # the INSERT's own IntegrityError handlers must not see it
    assert failed.value.__cause__.args[0] == 1062  # the driver's duplicate-key error
    assert not Contact.objects.filter(external_id="573000000016").exists()
    # the connection is usable afterwards, in and out of transactions
    with transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000017")
    assert Contact.objects.filter(external_id__in=["573000000014", "573000000015", "573000000017"]).count() == 3


def test_a_statements_own_integrity_error_stays_one_after_writes_that_waited() -> None:
    Contact.objects.create(provider="meta", external_id="573000000018")
    with transaction.atomic():
        _rename_later("573000000018", "sigue")
        with pytest.raises(IntegrityError), transaction.atomic():
            Contact.objects.create(provider="meta", external_id="573000000018")
    assert _name("573000000018") == "sigue"


def test_a_failed_write_at_commit_rolls_the_transaction_back(other: object) -> None:
    Contact.objects.create(provider="meta", external_id="573000000019")
    Contact.objects.create(provider="meta", external_id="573000000020")
    with pytest.raises(DatabaseError) as failed, transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000021")
        execute_later(
            "UPDATE conversations_contact SET external_id = %s WHERE external_id = %s", ["573000000019", "573000000020"]
        )
    assert type(failed.value).__name__ == "DeferredWriteFailed"
    assert not _seen_by(other, "573000000021")
    assert Contact.objects.filter(external_id="573000000020").exists()


def test_captured_queries_list_each_statement_on_its_own() -> None:
    Contact.objects.create(provider="meta", external_id="573000000022")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        _rename_later("573000000022", "uno")
        assert _name("573000000022") == "uno"
    sqls = [q["sql"] for q in queries.captured_queries]
    assert len(sqls) == 4 and sqls[0] == "BEGIN" and sqls[3] == "COMMIT"  # as Django logs a transaction
    assert sqls[1].startswith("UPDATE conversations_contact SET profile_name = 'uno'")
    assert sqls[2].startswith("SELECT") and ";" not in sqls[2]


def test_percent_signs_in_values_and_in_statements_without_values_survive() -> None:
    Contact.objects.create(provider="meta", external_id="573000000023")
    with transaction.atomic():
        _rename_later("573000000023", "100% %s %(x)s")
        with connection.cursor() as cursor:
            cursor.execute("SELECT profile_name FROM conversations_contact WHERE profile_name LIKE '100%%%'")
            assert cursor.fetchone()[0] == "100% %s %(x)s"


def test_binary_values_go_out_with_the_next_statement_untouched() -> None:
    from conversations.models import WebhookDelivery

    delivery = WebhookDelivery.objects.create(provider="meta", body=b"{}")
    raw = bytes(range(256)) * 4  # no text in any encoding
    with transaction.atomic():
        execute_later("UPDATE conversations_webhookdelivery SET body = %s WHERE id = %s", [raw, delivery.pk])
        assert bytes(WebhookDelivery.objects.values_list("body", flat=True).get(pk=delivery.pk)) == raw


def test_a_connection_lost_with_writes_waiting_is_raised_as_the_drivers_transient_error(other: object) -> None:
    from django.db import OperationalError

    from conversations.services.errors import is_transient_error

    Contact.objects.create(provider="meta", external_id="573000000024")
    with pytest.raises(OperationalError) as lost, transaction.atomic():
        Contact.objects.create(provider="meta", external_id="573000000025")  # START went out with it
        _rename_later("573000000024", "nunca")
        with other.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("KILL %s", [connection.connection.thread_id()])
        Contact.objects.filter(external_id="573000000024").exists()
    assert is_transient_error(lost.value)
    connection.close()
    assert _name("573000000024") == "" and not Contact.objects.filter(external_id="573000000025").exists()


def test_writes_waiting_go_out_before_an_executemany(other: object) -> None:
    Contact.objects.create(provider="meta", external_id="573000000026")
    with transaction.atomic():
        _rename_later("573000000026", "primero")
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE conversations_contact SET alias = %s WHERE external_id = %s AND profile_name = %s",
                [("visto", "573000000026", "primero")],
            )
    with other.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT profile_name, alias FROM conversations_contact WHERE external_id = '573000000026'")
        assert cursor.fetchone() == ("primero", "visto")
