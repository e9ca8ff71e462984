"""Hostile customer files in real Chromium: opened from the admin's message page, no script runs on our origin.

The attack pages (an HTML "invoice", an SVG) set ``localStorage.pwned`` and the page title when
their script runs with our origin. Staff open them through the message page's link; afterwards
our origin's storage must be clean. Anonymous visitors and agents of another team get nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from accounts.models import ChatRole, Role, User
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.media_support import HTML_ATTACK, SVG_ATTACK, receive_media
from whatsapp_ia.tests.browser import page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings


@pytest.fixture
def _media_root(settings: Any) -> Iterator[None]:
    """The configured test MEDIA_ROOT (not a per-test folder): what the URL configuration serves, even the
    old public /media/ route, so this test would catch a stored file that is reachable and renders."""
    stored_before = set(Path(settings.MEDIA_ROOT).rglob("*")) if Path(settings.MEDIA_ROOT).exists() else set()
    yield
    for path in sorted(set(Path(settings.MEDIA_ROOT).rglob("*")) - stored_before, reverse=True):
        if path.is_file():
            path.unlink()


def _log_in_admin(page: Any, base_url: str) -> None:  # noqa: F811
    User.objects.create_superuser(username="root", password="admin-pass-123")
    page.goto(base_url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "admin-pass-123")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(base_url + "/admin/")


def _pwned(page: Any) -> Any:  # noqa: F811
    return page.evaluate("localStorage.getItem('pwned')")


@pytest.mark.parametrize(
    ("content", "kind", "mime_type"),
    [(HTML_ATTACK, "document", "text/html"), (SVG_ATTACK, "image", "image/svg+xml")],
    ids=["html-document", "svg-image"],
)
def test_staff_opening_a_hostile_attachment_runs_no_script_on_our_origin(
    live_server: Any,
    page: Any,  # noqa: F811
    meta_settings: Any,
    fake_graph: Any,
    content: bytes,
    kind: str,
    mime_type: str,
) -> None:
    message = receive_media(fake_graph, content, kind=kind, mime_type=mime_type)
    _log_in_admin(page, live_server.url)
    page.goto(f"{live_server.url}/admin/conversations/message/{message.pk}/change/")
    assert _pwned(page) is None
    assert page.locator(f'a[href*="{message.media_file.name}"]').count() == 0  # no path to the stored file
    href = page.locator("a[href^='/media/'], a[href^='/messages/']").first.get_attribute("href")
    downloads: list[Any] = []
    page.on("download", lambda download: downloads.append(download))

    # when: staff open the file the way the message page offers it
    try:
        page.goto(live_server.url + href)
    except PlaywrightError as exc:  # a download, not a page
        assert "Download is starting" in exc.message or "ERR_ABORTED" in exc.message

    # then: the file's script never ran with our origin, and the file itself is intact
    page.goto(f"{live_server.url}/admin/")
    assert _pwned(page) is None
    assert page.title() != "PWNED"
    [download] = downloads
    assert download.suggested_filename == f"message-{message.pk}.bin"
    with open(download.path(), "rb") as handle:
        assert handle.read() == content


def test_even_rendered_directly_the_file_is_sandboxed(
    live_server: Any,
    page: Any,  # noqa: F811
    meta_settings: Any,
    fake_graph: Any,
) -> None:
    """Belt and braces: a browser that rendered the response (no download) still gets an opaque origin."""
    message = receive_media(fake_graph, HTML_ATTACK, mime_type="text/html")
    _log_in_admin(page, live_server.url)
    response = page.request.get(f"{live_server.url}/messages/{message.pk}/media")
    assert response.status == 200
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    page.goto(f"{live_server.url}/admin/")
    assert _pwned(page) is None


def test_anonymous_visitors_and_other_teams_get_nothing(
    live_server: Any,
    page: Any,  # noqa: F811
    meta_settings: Any,
    fake_graph: Any,
) -> None:
    message = receive_media(fake_graph, HTML_ATTACK, mime_type="text/html")
    sales = Role.objects.create(name="Ventas", keyword="ventas")
    ChatRole.objects.create(conversation=message.conversation, role=sales)
    url = f"{live_server.url}/messages/{message.pk}/media"

    # anonymous: sent to the login page, no file
    page.goto(url)
    assert "/accounts/login/" in page.url
    assert "Factura" not in page.content()

    # an agent of another team: 404, like a message that does not exist
    support = Role.objects.create(name="Soporte", keyword="soporte")
    otto = User.objects.create_user(username="otto", password="pass-otto-123")
    otto.roles.add(support)
    page.fill("#id_username", "otto")
    page.fill("#id_password", "pass-otto-123")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_load_state()
    response = page.request.get(url)
    assert response.status == 404
    assert b"Factura" not in response.body()
