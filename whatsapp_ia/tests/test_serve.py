"""The README's run command: `manage.py serve` brings up web + worker + scheduler and stops them on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAST_CPU = (os.cpu_count() or 1) - 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True, check=True).stdout
    pairs = [line.split() for line in out.splitlines()[1:]]
    return [int(p) for p, pp in pairs if int(pp) == pid]


def test_serve_runs_everything_on_the_embedded_default_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "whatsapp_ia.settings.base",
            "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
            "WIA_VAR_DIR": str(var),
            "DJANGO_SUPERUSER_PASSWORD": "serve-test-pass-1",
            "MEDIA_WORKER_CPUS": str(LAST_CPU),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--demo", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            output.append(line)
            if "is up at" in line:
                break
        text = "".join(output)
        assert "is up at" in text, text
        assert "Created administrator 'admin'" in text
        assert "Demo data ready" in text
        assert (var / "redis.sock").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as response:
            assert response.status == 200
        children = _children(proc.pid)
        assert len(children) >= 4  # redis, daphne, celery worker, celery beat
        media = [pid for pid in children if b"media@" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(media) == 1
        assert os.sched_getaffinity(media[0]) == {LAST_CPU}  # MEDIA_WORKER_CPUS
        assert os.sched_getscheduler(media[0]) == os.SCHED_OTHER  # its recognition thread alone runs at SCHED_IDLE
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(output) + rest
    assert "Stopped." in rest
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (var / "redis.sock").exists()


def test_media_worker_cpus_are_a_linux_cpu_list_of_this_machines_cpus() -> None:
    from whatsapp_ia.management.commands.serve import media_worker_cpus

    assert media_worker_cpus("") == frozenset()
    assert media_worker_cpus(str(LAST_CPU)) == {LAST_CPU}
    assert media_worker_cpus(f"0-{LAST_CPU}") == set(range(LAST_CPU + 1))
    assert media_worker_cpus(" 0 , 0 ") == {0}
    for bad in ("a", "1-", "-1", "2-1", "0;1"):
        with pytest.raises(SystemExit, match="write CPUs as a list"):
            media_worker_cpus(bad)
    with pytest.raises(SystemExit, match=f"this machine has CPUs 0-{LAST_CPU}"):
        media_worker_cpus(str(LAST_CPU + 1))
