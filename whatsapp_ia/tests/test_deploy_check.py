"""Production settings pass `manage.py check --deploy` with the documented production variables."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "whatsapp_ia.settings.production",
    "SECRET_KEY": "x8!kq2#v9pz$w4m7r1t6y3u0i5o8p2a4s6d8f0g2h4j6k8l0zxcvbnm",
    "FIELD_ENCRYPTION_KEY": "qW3x0r0XJb3b8v3Y1m7S2q9v6p0l4k8j2h6g0f4d8s0=",
    "ALLOWED_HOSTS": "chat.example.com",
    "DATABASE_URL": "sqlite:////tmp/wia-deploy-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "META_APP_SECRET": "app-secret",
}


def _run_check(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    skip = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_variables() -> None:
    result = _run_check(PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key() -> None:
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _run_check(env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr
