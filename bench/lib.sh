# Shared by the benchmark scripts: source it from the repository root, then call bench_prepare.
#   bench_prepare            Debian packages (as root), .venv, throwaway MariaDB + Redis, migrations
# Exports PY, LOG, RESULTS, DJANGO_SETTINGS_MODULE and the production settings' mandatory variables.

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

bench_free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bench_debian_packages() {
  local wanted=(pkg-config build-essential default-libmysqlclient-dev mariadb-server mariadb-client redis-server
    util-linux "$@")
  local missing=() p
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    say "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$LOG/apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG/apt.log" 2>&1 \
      || { tail -30 "$LOG/apt.log"; return 1; }
  else
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}" >&2
    return 1
  fi
}

# The same virtualenv bin/test makes (and the same marker, so neither reinstalls after the other).
bench_venv() {
  local want
  if [ ! -x .venv/bin/python ]; then
    # shellcheck source=bin/lib/python.sh
    . bin/lib/python.sh
    python_venv_create .venv || return 1
  fi
  want=$(cat requirements.txt requirements-mysql.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat .venv/.requirements-dev.sha 2>/dev/null)" != "$want" ]; then
    say "Installing Python packages into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >"$LOG/pip.log" 2>&1
    .venv/bin/python -m pip install -q -r requirements-dev.txt -r requirements-mysql.txt >>"$LOG/pip.log" 2>&1 \
      || { tail -30 "$LOG/pip.log"; return 1; }
    echo "$want" >.venv/.requirements-dev.sha
    sha256sum <requirements.txt | cut -d' ' -f1 >.venv/.requirements.sha
  fi
  PY=$ROOT/.venv/bin/python
  export PY
}

# Production settings (bench.settings = production + two baseline routes) with throwaway secrets.
bench_django_env() {
  export DJANGO_SETTINGS_MODULE=bench.settings
  export SECRET_KEY=${BENCH_SECRET_KEY:-bench-secret-key-not-for-production-$RANDOM$RANDOM}
  FIELD_ENCRYPTION_KEY=$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
  export FIELD_ENCRYPTION_KEY
  export ALLOWED_HOSTS=127.0.0.1,localhost
  export SECURE_SSL_REDIRECT=false
  export META_APP_SECRET=bench-secret
  export LOG_LEVEL=WARNING
  export PYTHONDONTWRITEBYTECODE=1
  # Nothing of the developer's environment may leak in (a .env is read only for unset names).
  unset CELERY_BROKER_URL CELERY_RESULT_BACKEND CELERY_TASK_ALWAYS_EAGER DB_HOST DB_NAME TEST_DB
}

# Processes a benchmark started (servers, workers): stopped, by pid, before the databases on exit.
BENCH_PIDS=()
bench_cleanup() {
  set +e
  local pid
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  services_stop
}

# Everything a benchmark needs before its own part: run from the repository root.
bench_prepare() {
  ROOT=$PWD
  LOG=$ROOT/var/bench-logs
  RESULTS=$ROOT/bench/results
  mkdir -p "$LOG" "$RESULTS"
  export ROOT LOG RESULTS
  if [ "$(nproc)" -lt 2 ]; then
    echo "These benchmarks pin the server and the load to separate cores: they need 2 cores." >&2
    return 1
  fi
  bench_debian_packages "$@"
  bench_venv
  bench_django_env
  # Server side on core 0 (MariaDB and Redis are part of what serves a request); load on core 1.
  export MARIADB_TASKSET=${MARIADB_TASKSET:-taskset -c 0}
  export REDIS_TASKSET=${REDIS_TASKSET:-taskset -c 0}
  export TEST_DB=mariadb
  # shellcheck source=bin/lib/services.sh
  . "$ROOT/bin/lib/services.sh"
  services_start
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  say "Migrating the throwaway database"
  "$PY" manage.py migrate --noinput >"$LOG/migrate.log" 2>&1 || { tail -30 "$LOG/migrate.log"; return 1; }
}
