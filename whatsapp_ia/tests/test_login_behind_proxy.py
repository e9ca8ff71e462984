"""The real web server, started with the Docker image's command: a forged X-Forwarded-For never
dodges the login lockout, and the header is believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from conftest import port_listening, wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "clave-correcta-123"

pytestmark = pytest.mark.django_db(transaction=True)  # the server process must see the test's rows


def _image_command() -> list[str]:
    """The Dockerfile's CMD (the production web server's command line)."""
    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    return json.loads(line[len("CMD ") :])


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
    return f"mysql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, *, trusted_proxies: str) -> tuple[subprocess.Popen, int, Path]:
    port = _free_port()
    command = _image_command()
    command[command.index("-b") + 1] = "127.0.0.1"
    command[command.index("-p") + 1] = str(port)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "TRUSTED_PROXIES")}
    env.update(
        DJANGO_SETTINGS_MODULE="whatsapp_ia.settings.test",
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        TRUSTED_PROXIES=trusted_proxies,
    )
    log = tmp_path / "server.log"
    if command[0] == "python":
        command[0] = sys.executable
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        return port_listening(port)

    try:
        wait_for(up, timeout=60, interval=0.1, message=lambda: "the server did not start: " + log.read_text())
    except BaseException:
        proc.kill()
        raise
    return proc, port, log


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    proc, port, _log = _start(tmp_path, trusted_proxies=getattr(request, "param", ""))
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _login(port: int, *, password: str, forwarded_for: str) -> int:
    """A browser's login: GET the form (CSRF cookie and token), POST it; the POST's status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/", headers={"X-Forwarded-For": forwarded_for})
    response = conn.getresponse()
    page = response.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "").group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({"username": "agente", "password": password, "csrfmiddlewaretoken": token})
    conn.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
            "X-Forwarded-For": forwarded_for,
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


@pytest.fixture
def agent() -> User:
    return User.objects.create_user(username="agente", password=PASSWORD)


def test_a_fresh_forged_x_forwarded_for_on_each_try_still_locks_the_account(server: int, agent: User) -> None:
    statuses = [_login(server, password="mala", forwarded_for=f"198.51.100.{n}") for n in range(1, 13)]
    assert 302 not in statuses
    # Locked: even the right password is refused, whatever address the header claims.
    assert _login(server, password=PASSWORD, forwarded_for="203.0.113.77") == 429


@pytest.mark.parametrize("server", ["127.0.0.1/32"], indirect=True)
def test_behind_a_trusted_proxy_the_forwarded_client_address_counts(server: int, agent: User) -> None:
    # The proxy (127.0.0.1) appends the address it saw; what a client wrote before it is ignored.
    for n in range(3):  # AXES_FAILURE_LIMIT of the test settings: that client is locked out
        _login(server, password="mala", forwarded_for=f"10.9.9.{n}, 198.51.100.7")
    assert _login(server, password=PASSWORD, forwarded_for="198.51.100.7") == 429
    # Another client behind the same proxy still logs in (the username alone is not over its limit).
    assert _login(server, password=PASSWORD, forwarded_for="198.51.100.8") == 302
