# Throwaway MariaDB and Redis servers on loopback, for tests and benchmarks. Source this file, then:
#   services_start   # exports DATABASE_URL (unless TEST_DB=sqlite) and REDIS_URL, stops both on exit
# Needs: $PY (a Python), $LOG (a log directory); Debian's mariadb-server and redis-server.
# MARIADB_ARGS: more mariadbd options, e.g. "--general-log --general-log-file=/tmp/q.log" to see every statement.

services_start() {
  RUN_DIR=$(mktemp -d /tmp/wia-services.XXXXXX)
  chmod 755 "$RUN_DIR"
  trap services_stop EXIT
  free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

  if [ "${TEST_DB:-mariadb}" = "mariadb" ]; then
    echo "· Starting MariaDB"
    DATADIR=$RUN_DIR/mariadb; MARIADB_SOCK=$RUN_DIR/mysqld.sock; DB_PORT=$(free_port)
    mkdir -p "$DATADIR"
    local user_args=()
    if [ "$(id -u)" = 0 ]; then chown mysql:mysql "$DATADIR" "$RUN_DIR"; user_args=(--user=mysql); fi
    mariadb-install-db --no-defaults "${user_args[@]}" --datadir="$DATADIR" --auth-root-authentication-method=normal \
      --skip-test-db >"$LOG/mariadb-install.log" 2>&1 || { tail -20 "$LOG/mariadb-install.log"; return 1; }
    ${MARIADB_TASKSET:-} mariadbd --no-defaults "${user_args[@]}" --datadir="$DATADIR" --socket="$MARIADB_SOCK" \
      --pid-file="$RUN_DIR/mysqld.pid" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-log-bin \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --max-connections=300 \
      --innodb-flush-log-at-trx-commit=${INNODB_FLUSH:-2} ${MARIADB_ARGS:-} >"$LOG/mariadb.log" 2>&1 </dev/null &
    for _ in $(seq 120); do mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -uroot ping >/dev/null 2>&1 && break; sleep 0.25; done
    mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -uroot ping >/dev/null || { tail -20 "$LOG/mariadb.log"; return 1; }
    # Time zone tables: Django's date lookups with USE_TZ use CONVERT_TZ on MySQL/MariaDB.
    mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | mariadb --no-defaults --socket="$MARIADB_SOCK" -uroot mysql
    mariadb --no-defaults --socket="$MARIADB_SOCK" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS wia CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'wia'@'127.0.0.1' IDENTIFIED BY 'wia-test-pass';
CREATE USER IF NOT EXISTS 'wia'@'localhost' IDENTIFIED BY 'wia-test-pass';
GRANT ALL PRIVILEGES ON `wia`.* TO 'wia'@'127.0.0.1', 'wia'@'localhost';
GRANT ALL PRIVILEGES ON `test\_wia`.* TO 'wia'@'127.0.0.1', 'wia'@'localhost';
FLUSH PRIVILEGES;
SQL
    export DATABASE_URL="mysql://wia:wia-test-pass@127.0.0.1:$DB_PORT/wia"
  else
    unset DATABASE_URL DB_HOST DB_NAME
  fi

  echo "· Starting Redis"
  REDIS_PORT=$(free_port)
  ${REDIS_TASKSET:-} redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
    --pidfile "$RUN_DIR/redis.pid" --logfile "$LOG/redis.log" --dir "$RUN_DIR"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
}

services_stop() {
  set +e
  if [ -n "${MARIADB_SOCK:-}" ] && [ -S "$MARIADB_SOCK" ]; then
    mariadb-admin --no-defaults --socket="$MARIADB_SOCK" -uroot shutdown >/dev/null 2>&1
  fi
  if [ -n "${REDIS_PORT:-}" ]; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1; fi
  sleep 0.2
  [ -n "${RUN_DIR:-}" ] && rm -rf "$RUN_DIR"
}
