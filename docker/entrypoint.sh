#!/bin/sh
# Container entry point for every WhatsApp IA service (web, pipeline, worker, scheduler).
#
#   RUN_MIGRATIONS=1  wait for the database, then `migrate --noinput` and `ensure_admin`
#                     (set it on the web service only, so one process migrates).
#   WAIT_FOR_DB=1     only wait for the database (no migrations).
#   DB_WAIT_TIMEOUT   seconds to wait for the database before giving up (default 60).
#
# Then it execs the command ("$@"), so Daphne or Celery runs as PID 1 and gets the signals.
set -eu

cd /app

wait_for_db() {
    echo "· Waiting for the database (up to ${DB_WAIT_TIMEOUT:-60} s)…"
    python - <<'PY'
import os
import sys
import time

import django

django.setup()

from django.db import connection
from django.db.utils import OperationalError

deadline = time.monotonic() + float(os.environ.get("DB_WAIT_TIMEOUT") or 60)
while True:
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        if time.monotonic() >= deadline:
            print(f"The database did not answer in time: {exc}", file=sys.stderr)
            sys.exit(1)
        time.sleep(1)
    else:
        connection.close()
        break
print("· Database reachable")
PY
}

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    wait_for_db
    echo "· Applying migrations…"
    python manage.py migrate --noinput
    # Creates the first administrator only when none exists. Without DJANGO_SUPERUSER_PASSWORD
    # the generated password is printed once here: see `docker compose logs web`.
    python manage.py ensure_admin
elif [ "${WAIT_FOR_DB:-0}" = "1" ]; then
    wait_for_db
fi

exec "$@"
