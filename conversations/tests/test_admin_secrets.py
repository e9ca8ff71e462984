"""A channel's credentials are write-only in the admin: never sent to the browser, replaced or cleared on purpose."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from accounts.models import User
from conversations.models import Channel

pytestmark = pytest.mark.django_db

TOKEN = "EAAG-plain-access-token-0123456789"
SECRET = "plain-app-secret-abcdef"
VERIFY = "plain-verify-token-42"


@pytest.fixture
def channel() -> Channel:
    return Channel.objects.create(
        name="Tienda", provider="meta", external_id="1055", access_token=TOKEN, app_secret=SECRET, verify_token=VERIFY
    )


def _stored(channel: Channel) -> dict[str, str]:
    """The columns as stored (ciphertext)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, app_secret, verify_token FROM conversations_channel WHERE id = %s", [channel.pk]
        )
        row = cursor.fetchone()
    return dict(zip(("access_token", "app_secret", "verify_token"), row, strict=True))


def _staff(client: Client, *codenames: str) -> Client:
    user = User.objects.create_user(username="staff", password="clave-staff-123", is_staff=True)
    permissions = Permission.objects.filter(content_type__app_label="conversations", codename__in=codenames)
    user.user_permissions.set(permissions)
    client.force_login(user)
    return client


def _assert_no_secret(html: str, channel: Channel) -> None:
    for value in (TOKEN, SECRET, VERIFY, *_stored(channel).values()):
        assert value not in html
    for ciphertext in _stored(channel).values():
        assert ciphertext.startswith("fernet:")
        assert ciphertext[len("fernet:") :][:20] not in html


def test_view_only_staff_never_receive_the_secrets(client: Client, channel: Channel) -> None:
    _staff(client, "view_channel")
    response = client.get(f"/admin/conversations/channel/{channel.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    _assert_no_secret(html, channel)
    assert html.count(">set<") + html.count(">definido<") >= 3  # "set" for each of the three


def test_the_change_page_shows_set_and_an_empty_replace_input(client: Client, channel: Channel) -> None:
    _staff(client, "view_channel", "change_channel")
    html = client.get(f"/admin/conversations/channel/{channel.pk}/change/").content.decode()
    _assert_no_secret(html, channel)
    assert 'type="password" name="access_token_0"' in html
    assert 'name="access_token_1"' in html  # the "clear" checkbox


def _post(client: Client, channel: Channel, **secrets: str) -> object:
    data = {"name": "Tienda", "provider": "meta", "external_id": "1055", "is_active": "on"}
    data.update(secrets)
    return client.post(f"/admin/conversations/channel/{channel.pk}/change/", data)


def test_leaving_the_inputs_empty_keeps_the_secrets(client: Client, channel: Channel) -> None:
    _staff(client, "view_channel", "change_channel")
    response = _post(client, channel, access_token_0="", app_secret_0="", verify_token_0="")
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.access_token, channel.app_secret, channel.verify_token) == (TOKEN, SECRET, VERIFY)


def test_a_new_value_replaces_and_clear_removes(client: Client, channel: Channel) -> None:
    _staff(client, "view_channel", "change_channel")
    response = _post(client, channel, access_token_0="EAAG-new-token", app_secret_1="on")
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.access_token, channel.app_secret, channel.verify_token) == ("EAAG-new-token", "", VERIFY)


def test_replace_and_clear_together_is_a_form_error_that_echoes_nothing(client: Client, channel: Channel) -> None:
    _staff(client, "view_channel", "change_channel")
    response = _post(client, channel, access_token_0="EAAG-typed-token", access_token_1="on")
    assert response.status_code == 200
    html = response.content.decode()
    assert "EAAG-typed-token" not in html
    _assert_no_secret(html, channel)
    channel.refresh_from_db()
    assert channel.access_token == TOKEN


def test_a_channel_added_with_secrets_stores_them(client: Client) -> None:
    _staff(client, "view_channel", "add_channel", "change_channel")
    data = {"name": "Nueva", "provider": "meta", "external_id": "2077", "is_active": "on", "access_token_0": "EAAG-x"}
    assert client.post("/admin/conversations/channel/add/", data).status_code == 302
    channel = Channel.objects.get(external_id="2077")
    assert (channel.access_token, channel.app_secret) == ("EAAG-x", "")
