"""A rule's uploaded file is published under MEDIA_ROOT/public/ and reaches WhatsApp by upload, not by a link."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.base import ContentFile

from conversations.models import Conversation
from conversations.services.ingest import delivery_process, delivery_record
from conversations.services.outbound import conversation_flush_outbound
from conversations.services.processing import conversation_process
from conversations.tests import conftest as conversations_fixtures
from conversations.tests.test_processing import text_payload
from flows.models import RuleMedia
from flows.tests import factories

pytestmark = pytest.mark.django_db

fake_graph = conversations_fixtures.fake_graph
meta_settings = conversations_fixtures.meta_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"carta" * 40


def test_a_rule_image_file_is_uploaded_and_sent_by_media_id(meta_settings: Any, fake_graph: Any) -> None:
    # given: a rule whose answer is an image uploaded in the admin
    rule = factories.rule(
        step="inicio", input_text="carta", response_type="image", response_text="", next_step="inicio"
    )
    media = RuleMedia(rule=rule, media_type="image", caption="Nuestra carta")
    media.file.save("carta.png", ContentFile(PNG), save=True)
    assert media.file.name.startswith("public/rules/")

    # when: the customer asks for it
    delivery = delivery_record(
        provider="meta", body=json.dumps(text_payload("carta", n=1)).encode(), headers={}, signature_ok=True
    )
    delivery_process(delivery_id=delivery.pk)
    conversation = Conversation.objects.get()
    conversation_process(conversation_id=conversation.pk)
    conversation_flush_outbound(conversation_id=conversation.pk)

    # then
    [upload] = fake_graph.uploads
    assert upload["content"] == PNG and upload["type"] == "image/png"
    [sent] = [s["json"] for s in fake_graph.sent if s["json"]["type"] == "image"]
    assert sent["image"] == {"id": upload["media_id"], "caption": "Nuestra carta"}
