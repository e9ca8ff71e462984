"""The shipped command lines and compose file: no proxy header is believed from anyone, the app
port is not published on every interface, and MariaDB commits as the benchmark measures it."""

from __future__ import annotations

import re

from whatsapp_ia.env import BASE_DIR


def test_no_shipped_command_lets_daphne_believe_proxy_headers() -> None:
    for name in ("Dockerfile", "docker-compose.yml", "whatsapp_ia/management/commands/serve.py", "bin/run"):
        assert "--proxy-headers" not in (BASE_DIR / name).read_text(), name


def test_compose_publishes_the_web_port_on_loopback_by_default() -> None:
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    ports = re.findall(r'^\s*-\s*"([^"]*:8000)"\s*$', compose, re.MULTILINE)
    assert ports == ["${WEB_PUBLISH:-127.0.0.1:8000}:8000"]
    assert re.search(r"^\s*TRUSTED_PROXIES: \$\{TRUSTED_PROXIES:-[^}]+\}$", compose, re.MULTILINE)


def test_the_benchmark_measures_the_shipped_mariadbs_durability() -> None:
    """bench/e2e_pipeline.sh's MariaDB (bin/lib/services.sh) and compose's commit to disk alike: the figures the
    benchmark prints for MariaDB are those of the shipped setting, and .env.example says how to change it."""
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    shipped = re.findall(r"--innodb-flush-log-at-trx-commit=\$\{MARIADB_FLUSH_LOG_AT_TRX_COMMIT:-(\d)\}", compose)
    measured = re.findall(
        r"--innodb-flush-log-at-trx-commit=\$\{INNODB_FLUSH:-(\d)\}", (BASE_DIR / "bin/lib/services.sh").read_text()
    )
    assert shipped == measured == ["2"]
    assert re.search(r"^# MARIADB_FLUSH_LOG_AT_TRX_COMMIT=2$", (BASE_DIR / ".env.example").read_text(), re.MULTILINE)
