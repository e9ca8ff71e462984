"""Outbound files go to WhatsApp by upload (Graph /media, id cached per file hash) unless published and linked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from conversations.models import Conversation, MediaUpload, Message
from conversations.providers.base import OutboundMessage, OutboundValidationError
from conversations.services.channels import provider_for
from conversations.services.outbound import conversation_flush_outbound, message_queue_outbound
from conversations.services.outbound_media import outbound_media_prepare
from conversations.tests.conftest import PHONE_NUMBER_ID

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"menu-image" * 40


@pytest.fixture
def conversation(open_conversation: Conversation) -> Conversation:
    return open_conversation


def media_file(name: str, content: bytes = PNG) -> str:
    path = Path(django_settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return name


def send_image(conversation: Conversation, path: str) -> Message:
    message = message_queue_outbound(
        conversation=conversation, outbound=OutboundMessage(kind="image", to="", media_path=path, caption="Menú")
    )
    conversation_flush_outbound(conversation_id=conversation.pk)
    message.refresh_from_db()
    return message


def test_a_file_is_uploaded_to_graph_and_sent_by_its_media_id(conversation: Conversation, fake_graph: Any) -> None:
    path = media_file("public/rules/2026/01/menu.png")

    message = send_image(conversation, path)

    assert message.status == "sent", message.error_message
    [upload] = fake_graph.uploads
    assert upload["phone_number_id"] == PHONE_NUMBER_ID
    assert (upload["messaging_product"], upload["type"], upload["content"]) == ("whatsapp", "image/png", PNG)
    assert upload["filename"] == "menu.png"
    assert fake_graph.sent[-1]["json"]["image"] == {"id": upload["media_id"], "caption": "Menú"}


def test_the_same_file_is_sent_again_by_the_cached_id_until_it_expires(
    conversation: Conversation, fake_graph: Any
) -> None:
    path = media_file("public/rules/2026/01/menu.png")
    send_image(conversation, path)
    send_image(conversation, media_file("public/rules/2026/02/same-bytes.png"))  # same content, other name

    assert len(fake_graph.uploads) == 1
    first_id = fake_graph.uploads[0]["media_id"]
    assert [s["json"]["image"]["id"] for s in fake_graph.sent] == [first_id, first_id]

    # when: the cached id is older than MEDIA_UPLOAD_REUSE_DAYS (Meta keeps uploads 30 days)
    later = timezone.now() + timedelta(days=django_settings.MEDIA_UPLOAD_REUSE_DAYS, seconds=1)
    prepared = outbound_media_prepare(
        channel=conversation.channel,
        provider=provider_for(conversation.channel),
        outbound=OutboundMessage(kind="image", to="573001112233", media_path=path),
        now=later,
    )

    assert len(fake_graph.uploads) == 2
    assert prepared.media_id == fake_graph.uploads[1]["media_id"] != first_id
    assert prepared.media_path == ""
    assert MediaUpload.objects.get().media_id == prepared.media_id


def test_link_mode_links_published_files_and_still_uploads_private_ones(
    conversation: Conversation, fake_graph: Any, settings: Any
) -> None:
    settings.OUTBOUND_MEDIA_MODE = "link"
    settings.MEDIA_PUBLIC_BASE_URL = "https://chat.example.com/media/"
    published = media_file("public/catalogs/pages/abc/page_0001.jpg", b"\xff\xd8\xff\xe0" + b"page" * 50)
    private = media_file(f"{conversation.channel_id}/2026/01/0123456789abcdef0123456789abcdef.png")

    send_image(conversation, published)
    send_image(conversation, private)

    first, second = (s["json"]["image"] for s in fake_graph.sent)
    assert first == {"link": "https://chat.example.com/media/" + published, "caption": "Menú"}
    assert second == {"id": fake_graph.uploads[0]["media_id"], "caption": "Menú"}  # never a public link


def test_a_missing_file_fails_the_message_with_a_clear_reason(conversation: Conversation, fake_graph: Any) -> None:
    message = send_image(conversation, "public/rules/2026/01/deleted.png")

    assert message.status == "failed"
    assert message.error_code == "media_missing"
    assert "deleted.png" in message.error_message
    assert fake_graph.uploads == [] and fake_graph.sent == []


@pytest.mark.parametrize("path", ["../secrets.env", "/etc/passwd", "public/../../x.png", "public//x.png"])
def test_a_path_outside_media_root_is_refused_before_anything_is_stored(conversation: Conversation, path: str) -> None:
    with pytest.raises(OutboundValidationError, match="media_path"):
        message_queue_outbound(
            conversation=conversation, outbound=OutboundMessage(kind="image", to="", media_path=path)
        )
    assert not Message.objects.exists()
