"""Helpers for the console's browser tests: the whole ASGI app (HTTP + websockets) in a live Daphne
process on the test database, logging in, and posting signed Meta webhooks to it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from conftest import wait_for
from conversations.tests.conftest import PHONE_NUMBER_ID, sign

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "console"


class ConsoleServer:
    def __init__(self, url: str) -> None:
        self.url = url

    def post_webhook(self, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + "/webhooks/meta/",
            data=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status


def _close_connections_before_fork() -> None:
    """Close this process's database connections (every thread's we can reach) before forking the server.

    A forked child shares their sockets; whatever it closes (Django closes connections after each
    request) ends the parent's too: on MariaDB every later test then met "server has gone away".
    The webhook writer's thread and asgiref's executor thread hold connections of their own.
    """
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from conversations.asgi import writer

    writer.close()
    connections.close_all()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


def _child_setup() -> None:
    """In the forked server: this test's database, and a fresh executor for sync_to_async.

    asgiref runs thread-sensitive sync code on one executor thread per process. A test that ran
    async code earlier in this pytest process started that thread; a forked child inherits the
    executor but not its thread, so whatever the child hands it (the webhook's secret lookup) waits
    forever.
    """
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync
    from channels.testing.live import set_database_connection

    set_database_connection()
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


@pytest.fixture
def console_server(request: Any, meta_settings: Any, fake_graph: Any) -> Iterator[ConsoleServer]:
    """The project's ASGI application (Django + Channels) served by Daphne in a forked process that uses
    this test's database and settings (the fake Graph's URL, Meta's secrets), with a live Celery worker.
    pytest-django's live_server is WSGI only: the console needs its websocket."""
    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    _close_connections_before_fork()
    process = DaphneProcess(
        "127.0.0.1", partial(make_application, static_wrapper=ASGIStaticFilesHandler), setup=_child_setup
    )
    process.start()
    wait_for(lambda: process.ready.is_set() or not process.is_alive(), timeout=30, message="Daphne did not start")
    if not process.is_alive():
        raise RuntimeError("the console's Daphne process stopped while starting")
    request.getfixturevalue("celery_live_worker")  # its threads start after the fork, never copied into it
    try:
        yield ConsoleServer(f"http://127.0.0.1:{process.port.value}")
    finally:
        process.terminate()
        process.join(10)


def log_in(page: Any, base_url: str, username: str, password: str, language: str = "es") -> None:
    page.context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_selector("[data-console][data-ready=true]")


def watch_errors(page: Any) -> list[str]:
    """Script errors on the page (a broken module, an exception in a handler)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def text_payload(text: str, *, n: int, wa_id: str = "573001112233", name: str = "Laura Martínez") -> dict[str, Any]:
    """A Meta text-message webhook from `wa_id`, with a message id unique per `n`."""
    from conftest import load_fixture

    payload = load_fixture("meta", "message__text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    value["contacts"][0]["wa_id"] = wa_id
    value["contacts"][0]["profile"]["name"] = name
    message = value["messages"][0]
    message["from"] = wa_id
    message["id"] = f"wamid.CONSOLE{wa_id}{n:04d}"
    message["text"]["body"] = text
    import time

    message["timestamp"] = str(int(time.time()))
    return payload


def voice_note_ogg(tmp_path: Path) -> bytes:
    """One second of tone as Ogg/Opus, what WhatsApp voice notes are (ffmpeg, as in CI)."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        pytest.fail("ffmpeg is needed to make a voice note (bin/test installs Debian's ffmpeg)")
    out = tmp_path / "voice.ogg"
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    subprocess.run([ffmpeg, "-loglevel", "error", *tone, "-c:a", "libopus", str(out)], check=True, env={**os.environ})
    return out.read_bytes()
