"""Messages for a number nobody configured are stored, and the admin warns until someone configures it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from accounts.models import User
from conftest import load_fixture
from conversations.models import Channel, DeliveryState, Message
from conversations.services.ingest import delivery_process, delivery_record
from conversations.tests.conftest import PHONE_NUMBER_ID

pytestmark = pytest.mark.django_db

STRANGER = "999000111222"


def _receive(phone_number_id: str, wamid: str) -> Message:
    payload = load_fixture("meta", "message__text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["messages"][0]["id"] = wamid
    delivery = delivery_record(provider="meta", body=json.dumps(payload).encode(), headers={}, signature_ok=True)
    assert delivery_process(delivery_id=delivery.pk).state == DeliveryState.PROCESSED
    return Message.objects.get(provider_message_id=wamid)


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    return client


def test_a_message_for_an_unconfigured_number_is_stored_on_a_channel_that_needs_setup(meta_settings: Any) -> None:
    message = _receive(STRANGER, "wamid.stranger-1")
    channel = message.conversation.channel
    assert (channel.external_id, channel.needs_setup) == (STRANGER, True)
    assert message.text  # kept, as any other message

    own = _receive(PHONE_NUMBER_ID, "wamid.own-1").conversation.channel
    assert own.needs_setup is False  # PHONE_NUMBER_ID + META_TOKEN configure it


def test_without_a_meta_token_even_the_environments_number_needs_setup(meta_settings: Any) -> None:
    meta_settings.META_TOKEN = ""
    assert _receive(PHONE_NUMBER_ID, "wamid.own-2").conversation.channel.needs_setup is True


def test_every_admin_page_warns_until_the_channel_gets_credentials(meta_settings: Any, admin_client: Client) -> None:
    channel = _receive(STRANGER, "wamid.stranger-2").conversation.channel
    change_url = f"/admin/conversations/channel/{channel.pk}/change/"

    for page in ("/admin/", "/admin/conversations/message/", change_url):
        body = admin_client.get(page).content.decode()
        assert "Están llegando mensajes para un número que nadie configuró" in body, page
        assert f'<a href="{change_url}">Meta {STRANGER}</a>' in body, page
    assert "Este canal se creó automáticamente" in admin_client.get(change_url).content.decode()

    admin_client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "Messages are arriving for a number nobody configured" in admin_client.get("/admin/").content.decode()

    # An admin adds the token: the warning goes away.
    form = {
        "name": "Sucursal norte",
        "provider": "meta",
        "external_id": STRANGER,
        "display_phone_number": "",
        "is_active": "on",
        "needs_setup": "on",
        "business_account_id": "",
        "base_url": "",
        "account_id": "",
        # The credentials are write-only fields (whatsapp_ia/admin_secrets.py): "<name>_0" replaces the value.
        "access_token_0": "EAAG-token",
        "app_secret_0": "",
        "verify_token_0": "",
    }
    assert admin_client.post(change_url, form).status_code == 302
    channel.refresh_from_db()
    assert channel.needs_setup is False
    assert "Messages are arriving for a number nobody configured" not in admin_client.get("/admin/").content.decode()


def test_the_warning_is_for_staff_only(meta_settings: Any, client: Client) -> None:
    _receive(STRANGER, "wamid.stranger-3")
    body = client.get("/admin/login/").content.decode()
    assert STRANGER not in body


def test_the_warning_escapes_a_hostile_channel_name(meta_settings: Any, admin_client: Client) -> None:
    Channel.objects.create(name="<script>x</script>", provider="ycloud", external_id="+1555", needs_setup=True)
    body = admin_client.get("/admin/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in body and "<script>x</script>" not in body
