"""The console API's docs page works offline in Chromium: Swagger UI from our own static files, every
endpoint listed, nothing fetched from another host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_the_api_docs_page_lists_the_console_api_without_any_cdn(live_server: Any, page: Any) -> None:  # noqa: F811
    User.objects.create_superuser(username="root", password="admin-pass-123")
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto(live_server.url + "/admin/login/?next=/api/docs/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.locator("input[type=submit], button[type=submit]").first.click()

    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs.png"), full_page=False)
    assert "/api/conversations/" in [p.replace("\u200b", "") for p in paths]
    assert any("/api/conversations/{conversation_id}/messages/" in p.replace("\u200b", "") for p in paths)
    assert outside == []
