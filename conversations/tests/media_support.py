"""Inbound media through the real pipeline (webhook delivery -> processing -> download from the fake Graph)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from conftest import load_fixture
from conversations.models import Conversation, Message
from conversations.services.ingest import delivery_process, delivery_record
from conversations.services.processing import conversation_process

HTML_ATTACK = (
    b"<!doctype html><html><body><h1>Factura</h1>"
    b"<script>document.title='PWNED';try{localStorage.setItem('pwned','1')}catch(e){}"
    b"fetch('/accounts/login/').then(()=>{document.title='PWNED-FETCH'})</script></body></html>"
)
SVG_ATTACK = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>document.title='PWNED';try{localStorage.setItem('pwned','1')}catch(e){}</script></svg>"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"fake-jpeg-bytes" * 100


def media_payload(
    content: bytes,
    *,
    kind: str = "document",
    mime_type: str = "application/pdf",
    media_id: str = "774019283746551",
    n: int = 1,
    wa_id: str = "573001112233",
    sha256: str | None = None,
    filename: str = "factura.html",
) -> dict[str, Any]:
    """A real Meta document webhook carrying `content` as `kind` with the claimed `mime_type`."""
    payload = load_fixture("meta", "message__document")
    value = payload["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    message["id"] = f"wamid.MEDIA{n:04d}"
    message["from"] = wa_id
    value["contacts"][0]["wa_id"] = wa_id
    digest = sha256 if sha256 is not None else base64.b64encode(hashlib.sha256(content).digest()).decode()
    body = {"mime_type": mime_type, "sha256": digest, "id": media_id}
    if kind == "document":
        body["filename"] = filename
    message.pop("document")
    message["type"] = kind
    message[kind] = body
    return payload


def receive_media(fake_graph: Any, content: bytes, *, graph_media: dict | None = None, **kwargs: Any) -> Message:
    """Register `content` on the fake Graph (with `graph_media` options), deliver the webhook,
    process the chat; the stored Message."""
    payload = media_payload(content, **kwargs)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    media = message[message["type"]]
    fake_graph.add_media(media["id"], content, media["mime_type"], **(graph_media or {}))
    delivery = delivery_record(provider="meta", body=json.dumps(payload).encode(), headers={}, signature_ok=True)
    delivery_process(delivery_id=delivery.pk)
    conversation = Conversation.objects.get(contact__external_id=message["from"])
    conversation_process(conversation_id=conversation.pk)
    return Message.objects.get(provider_message_id=message["id"])
