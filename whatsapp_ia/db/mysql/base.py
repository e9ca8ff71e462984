"""Django's MySQL/MariaDB backend, with one statement per transaction start instead of two.

Django starts a transaction on MySQL by turning autocommit off (``SET autocommit=0``) and ends it
with ``COMMIT`` and then ``SET autocommit=1``: two statements besides COMMIT, each a round trip that
wakes the server. This backend leaves the session in autocommit mode and starts each transaction
with ``START TRANSACTION``, which COMMIT and ROLLBACK end by themselves. The pipeline runs one
transaction per customer message (bench/e2e_pipeline.sh), so that is one round trip fewer for each.

Everything else is Django's backend: the same vendor ("mysql"), SQL, features and isolation level.
The semantics Django relies on hold: ``atomic`` commits or rolls back before it turns autocommit back
on. Turning autocommit on with a transaction still open commits it, as ``SET autocommit=1`` would.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.mysql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _transaction_open = False  # a START TRANSACTION that no COMMIT or ROLLBACK has ended yet

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        # autocommit=True: mysqlclient sends nothing when the server's default already is autocommit.
        connection = super().get_new_connection({**conn_params, "autocommit": True})
        self._transaction_open = False
        return connection

    def _set_autocommit(self, autocommit: bool) -> None:
        with self.wrap_database_errors:
            if not autocommit:
                self.connection.autocommit(True)  # no round trip unless someone turned it off
                cursor = self.connection.cursor()
                try:
                    cursor.execute("START TRANSACTION")
                finally:
                    cursor.close()
                self._transaction_open = True
            elif self._transaction_open:
                self.connection.commit()
                self._transaction_open = False
            else:
                self.connection.autocommit(True)

    def _commit(self) -> None:
        super()._commit()
        self._transaction_open = False

    def _rollback(self) -> None:
        super()._rollback()
        self._transaction_open = False
