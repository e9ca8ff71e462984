"""ChatwootProvider.parse and verify_signature: pure, no database, fixtures in -> events out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_fixture
from conversations.fakes.chatwoot import ChatwootWebhooks, chatwoot_signature
from conversations.providers import PROVIDERS, get_provider_class
from conversations.providers.base import (
    ECHO_AGENT,
    ECHO_API,
    ECHO_NOTE,
    ECHO_PLATFORM,
    ChannelConfig,
    InboundMessage,
    MediaRef,
    OutboundEcho,
    StatusUpdate,
    ThreadStatus,
)
from conversations.providers.chatwoot import (
    ChatwootProvider,
    attachment_kind,
    attachment_mime_type,
    compute_signature,
    parse_time,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chatwoot"
IGMID = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTg"
BASE = "https://chat.acme.example/rails/active_storage/blobs/redirect"
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parse(name: str) -> Any:
    return ChatwootProvider.parse(load_fixture("chatwoot", name))


def only(name: str, kind: type) -> Any:
    result = parse(name)
    assert result.problems == [], result.problems
    assert len(result.events) == 1, result.events
    (event,) = result.events
    assert isinstance(event, kind)
    return event


# ---------------------------------------------------------------------------- registry


def test_registry_knows_chatwoot() -> None:
    assert PROVIDERS["chatwoot"] is ChatwootProvider
    assert get_provider_class("chatwoot") is ChatwootProvider
    assert ChatwootProvider.platform == "instagram"
    assert ChatwootProvider.sends_files_inline is True


# ---------------------------------------------------------------------------- customer messages


def test_incoming_instagram_text() -> None:
    event = only("message_created__incoming_text_instagram", InboundMessage)
    assert event == InboundMessage(
        provider_message_id="7001",
        channel_external_id="12",
        contact_external_id="301",
        contact_name="Laura Pérez",
        kind="text",
        sent_at=NOON,
        text="Hola, ¿tienen turnos para mañana a la tarde?",
        data={
            "source_id": IGMID,
            "platform": "instagram",
            "account_id": "7",
            "contact_source_id": "17841400000000001",
        },
        thread_id="42",
        platform="instagram",
        raw=load_fixture("chatwoot", "message_created__incoming_text_instagram"),
    )


def test_incoming_facebook_text_with_integer_created_at() -> None:
    event = only("message_created__incoming_text_facebook", InboundMessage)
    assert (event.platform, event.channel_external_id, event.contact_external_id, event.thread_id) == (
        "facebook",
        "13",
        "302",
        "43",
    )
    assert event.sent_at == datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
    assert event.data["contact_source_id"] == "6783452298765432"
    assert event.data["source_id"].startswith("m_")


def test_instagram_connected_through_a_facebook_page_is_instagram() -> None:
    event = only("message_created__incoming_instagram_via_page", InboundMessage)
    assert event.platform == "instagram"


def test_incoming_image_carries_the_text_as_caption() -> None:
    event = only("message_created__incoming_image", InboundMessage)
    assert (event.kind, event.text, event.caption) == ("image", "", "¿Así puede quedar?")
    assert event.media == MediaRef(
        media_id="901",
        mime_type="image/jpeg",
        filename="corte.jpg",
        url=f"{BASE}/eyJfcmFpbHMiOnsiZGF0YSI6OTAxfX0--a1b2c3/corte.jpg",
    )
    assert event.data["file_size"] == 184233
    assert event.data["file_type"] == "image"


def test_incoming_audio_by_file_type() -> None:
    event = only("message_created__incoming_audio", InboundMessage)
    assert event.kind == "audio"
    assert event.media is not None
    assert (event.media.mime_type, event.media.voice, event.media.media_id) == ("audio/mp4", False, "902")


def test_a_file_whose_type_is_audio_is_forced_to_audio_and_ogg_is_a_voice_note() -> None:
    event = only("message_created__incoming_file_with_audio_mime", InboundMessage)
    assert event.kind == "audio"
    assert event.media is not None
    assert (event.media.mime_type, event.media.voice, event.media.filename) == (
        "audio/ogg",
        True,
        "voice-message.ogg",
    )


def test_incoming_video_on_instagrams_cdn_without_size_or_file_name() -> None:
    event = only("message_created__incoming_video", InboundMessage)
    assert event.kind == "video"
    assert event.media is not None
    assert event.media.url.startswith("https://lookaside.fbsbx.com/")
    assert (event.media.filename, event.media.mime_type, event.caption) == ("", "video/mp4", "")
    assert "file_size" not in event.data


def test_multiple_attachments_give_one_event_each_and_the_first_keeps_the_id_and_text() -> None:
    result = parse("message_created__incoming_multiple_attachments")
    assert result.problems == []
    assert [(e.provider_message_id, e.kind, e.caption) for e in result.events] == [
        ("7014", "image", "Te mando fotos del local"),
        ("7014:906", "image", ""),
        ("7014:907", "document", ""),
    ]
    assert [e.media.mime_type for e in result.events] == ["image/jpeg", "image/png", "application/pdf"]
    assert {e.thread_id for e in result.events} == {"42"}


def test_location_has_metas_data_shape() -> None:
    event = only("message_created__incoming_location", InboundMessage)
    assert event.kind == "location"
    assert event.text == "📍 Obelisco (-34.6037, -58.3816)"
    assert {k: event.data[k] for k in ("latitude", "longitude", "name", "address")} == {
        "latitude": -34.6037,
        "longitude": -58.3816,
        "name": "Obelisco",
        "address": "",
    }
    assert event.data["url"].startswith("https://www.bing.com/maps")


@pytest.mark.parametrize(
    ("attachment", "kind", "mime"),
    [
        ({"file_type": "file", "extension": "mp3"}, "audio", "audio/mpeg"),
        ({"file_type": "file", "extension": "m4a"}, "audio", "audio/mp4"),
        ({"file_type": "file", "content_type": "audio/ogg; codecs=opus"}, "audio", "audio/ogg"),
        ({"file_type": "file", "data_url": "https://x.example/a/nota.opus?x=1"}, "audio", "audio/ogg"),
        ({"file_type": "file", "extension": "pdf"}, "document", "application/pdf"),
        ({"file_type": "image", "extension": None}, "image", ""),
        ({"file_type": "video", "extension": "webm"}, "video", "video/webm"),
    ],
)
def test_attachment_kind_and_mime_type(attachment: dict[str, Any], kind: str, mime: str) -> None:
    assert attachment_mime_type(attachment) == mime
    assert attachment_kind(attachment["file_type"], mime) == kind


def test_instagram_share_and_fallback_and_unknown_file_types() -> None:
    hooks = ChatwootWebhooks()
    payload = hooks.incoming_attachments(
        [
            hooks.attachment("ig_reel", "https://lookaside.fbsbx.com/reel/1", attachment_id=1),
            {**hooks.attachment("fallback", "https://acme.example/promo", attachment_id=2), "fallback_title": "Promo"},
            hooks.attachment("hologram", "https://chat.acme.example/x.bin", attachment_id=3),
        ],
        message_id=80,
    )
    result = ChatwootProvider.parse(payload)
    assert [(e.provider_message_id, e.kind, e.unknown) for e in result.events] == [
        ("80", "unsupported", False),
        ("80:2", "text", False),
        ("80:3", "document", True),
    ]
    assert result.events[0].data["original_type"] == "ig_reel"
    assert result.events[1].text == "Promo https://acme.example/promo"
    assert result.problems == [
        "message_created: message 80 attachment 2: unknown file_type 'hologram'; read as document"
    ]


def test_reaction_and_reply_to() -> None:
    hooks = ChatwootWebhooks()
    reaction = hooks.incoming_text("❤️", message_id=81)
    reaction["content_attributes"] = {"is_reaction": True, "in_reply_to": 5001}
    (event,) = ChatwootProvider.parse(reaction).events
    assert (event.kind, event.text, event.reply_to, event.data["message_id"]) == ("reaction", "❤️", "5001", "5001")
    quoted = hooks.incoming_text("Sí, ese", message_id=82)
    quoted["content_attributes"] = {"in_reply_to": 5001, "in_reply_to_external_id": "aWdf..."}
    assert ChatwootProvider.parse(quoted).events[0].reply_to == "5001"


def test_incoming_without_sender_falls_back_to_the_conversations_contact() -> None:
    payload = ChatwootWebhooks().incoming_text("Hola", message_id=83)
    payload["sender"] = None
    (event,) = ChatwootProvider.parse(payload).events
    assert (event.contact_external_id, event.contact_name) == ("301", "")
    payload["conversation"]["contact_inbox"] = {}
    (event,) = ChatwootProvider.parse(payload).events
    assert event.contact_external_id == "301"  # meta.sender.id


def test_an_unsupported_or_empty_message_is_kept_as_unsupported() -> None:
    payload = ChatwootWebhooks().incoming_text("", message_id=84)
    payload["content"] = None
    payload["content_attributes"] = {"is_unsupported": True}
    result = ChatwootProvider.parse(payload)
    assert (result.events[0].kind, result.problems) == ("unsupported", [])
    payload["content_attributes"] = {}
    result = ChatwootProvider.parse(payload)
    assert (result.events[0].kind, result.events[0].unknown) == ("unsupported", True)
    assert result.problems == ["message_created: message 84 has no content and no attachments"]


def test_other_channels_keep_going_with_an_empty_platform() -> None:
    payload = ChatwootWebhooks(channel="Channel::Api").incoming_text("Hola", message_id=85)
    result = ChatwootProvider.parse(payload)
    assert (result.events[0].platform, result.problems) == ("", [])


# ---------------------------------------------------------------------------- business side


@pytest.mark.parametrize(
    ("name", "origin", "sender_type", "sender_name"),
    [
        ("message_created__outgoing_agent_bot_echo", ECHO_API, "agent_bot", "Asistente Acme"),
        ("message_created__outgoing_agent", ECHO_AGENT, "user", "Marta Gómez"),
        ("message_created__external_echo", ECHO_PLATFORM, "", ""),
        ("message_created__private_note", ECHO_NOTE, "user", "Marta Gómez"),
        ("message_created__template_greeting", ECHO_API, "", ""),
    ],
)
def test_business_side_messages_are_echoes_never_customer_messages(
    name: str, origin: str, sender_type: str, sender_name: str
) -> None:
    event = only(name, OutboundEcho)
    payload = load_fixture("chatwoot", name)
    assert event.provider_message_id == str(payload["id"])
    assert (event.origin, event.sender_type, event.sender_name) == (origin, sender_type, sender_name)
    assert (event.channel_external_id, event.contact_external_id, event.thread_id) == ("12", "301", "42")
    assert event.text == payload["content"]


def test_the_echo_of_our_own_post_carries_the_id_the_reply_api_returned() -> None:
    sent = {"conversation_id": "42", "response": {"id": 5077, "content": "Hola", "sender_type": "AgentBot"}}
    event = only_payload(ChatwootWebhooks().echo(sent))
    assert isinstance(event, OutboundEcho)
    assert (event.provider_message_id, event.origin) == ("5077", ECHO_API)


def only_payload(payload: dict[str, Any]) -> Any:
    result = ChatwootProvider.parse(payload)
    assert result.problems == []
    (event,) = result.events
    return event


def test_an_outgoing_message_without_sender_is_from_the_platform_app() -> None:
    payload = ChatwootWebhooks().agent_reply("hola", message_id=86)
    payload["sender"] = None
    assert only_payload(payload).origin == ECHO_PLATFORM


def test_activity_messages_yield_nothing() -> None:
    result = parse("message_created__activity")
    assert (result.events, result.problems) == ([], [])


def test_failed_delivery_becomes_a_status_update() -> None:
    event = only("message_updated__outgoing_failed", StatusUpdate)
    assert (event.provider_message_id, event.status, event.channel_external_id, event.recipient_id) == (
        "5001",
        "failed",
        "12",
        "301",
    )
    assert event.error_title == "10 - (#10) This message is sent outside of allowed window."
    assert event.error_code == "10"


def test_a_status_field_is_used_when_chatwoot_sends_one() -> None:
    payload = ChatwootWebhooks().message_failed(5001)
    payload["content_attributes"] = {}
    payload["status"] = "delivered"
    event = only_payload(payload)
    assert isinstance(event, StatusUpdate)
    assert (event.status, event.error_title) == ("delivered", "")


def test_an_outgoing_update_without_delivery_news_is_an_echo_and_a_private_one_a_note() -> None:
    payload = ChatwootWebhooks().agent_reply("editado", message_id=87)
    payload["event"] = "message_updated"
    assert isinstance(only_payload(payload), OutboundEcho)
    payload["private"] = True
    payload["content_attributes"] = {"external_error": "never delivered: it is a note"}
    assert only_payload(payload).origin == ECHO_NOTE


def test_an_incoming_message_updated_yields_nothing() -> None:
    result = parse("message_updated__incoming")
    assert (result.events, result.problems) == ([], [])


# ---------------------------------------------------------------------------- conversations


@pytest.mark.parametrize(
    ("name", "status", "previous"), [("resolved", "resolved", "open"), ("open", "open", "resolved")]
)
def test_conversation_status_changed(name: str, status: str, previous: str) -> None:
    event = only(f"conversation_status_changed__{name}", ThreadStatus)
    assert (event.thread_id, event.status, event.previous) == ("42", status, previous)
    assert (event.channel_external_id, event.contact_external_id) == ("12", "301")
    assert event.timestamp is not None


def test_an_unknown_conversation_status_is_a_problem() -> None:
    payload = ChatwootWebhooks().status_changed("archived")
    result = ChatwootProvider.parse(payload)
    assert result.events == []
    assert result.problems == ["conversation_status_changed: conversation 42 has unknown status 'archived'; skipped"]


@pytest.mark.parametrize(
    "event",
    [
        "conversation_created",
        "conversation_updated",
        "contact_created",
        "conversation_typing_on",
        "webwidget_triggered",
    ],
)
def test_known_events_without_news_for_the_bot_yield_nothing(event: str) -> None:
    payload = load_fixture("chatwoot", "conversation_created")
    payload["event"] = event
    result = ChatwootProvider.parse(payload)
    assert (result.events, result.problems) == ([], [])


# ---------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("malformed__not_json_object", "payload: expected a JSON object, got a list"),
        ("malformed__no_event", "payload: no event name; nothing parsed"),
        ("malformed__no_inbox", "message_created: message 7031 without inbox.id; skipped"),
        ("malformed__message_without_id", "message_created: message without id; skipped"),
        ("malformed__wrong_types", "message_created: message 7032 without a conversation object; skipped"),
        ("malformed__unknown_event", "payload: unknown event 'message_exploded'; nothing parsed"),
    ],
)
def test_malformed_payloads_are_problems_not_exceptions(name: str, problem: str) -> None:
    result = parse(name)
    assert result.events == []
    assert result.problems == [problem]


def test_attachments_of_the_wrong_type_are_a_problem_but_the_text_still_counts() -> None:
    payload = ChatwootWebhooks().incoming_text("Hola", message_id=88)
    payload["attachments"] = {"id": 1}
    result = ChatwootProvider.parse(payload)
    assert [e.text for e in result.events] == ["Hola"]
    assert result.problems == ["message_created: message 88 attachments is a object; ignored"]


@pytest.mark.parametrize("garbage", [None, 3, "message_created", {"event": 5}, {"event": "message_created"}])
def test_garbage_never_raises(garbage: Any) -> None:
    result = ChatwootProvider.parse(garbage)
    assert result.events == []
    assert result.problems


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=20,
    )
)
def test_parse_is_total_on_any_json(value: Any) -> None:
    ChatwootProvider.parse(value)
    for name in ("message_created__incoming_multiple_attachments", "conversation_status_changed__resolved"):
        payload = load_fixture("chatwoot", name)
        payload["conversation" if "message" in name else "changed_attributes"] = value
        result = ChatwootProvider.parse(payload)
        assert isinstance(result.problems, list)


def test_every_fixture_parses_without_raising() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        result = ChatwootProvider.parse(json.loads(path.read_text()))
        assert result.events or result.problems or path.stem in _SILENT, path.stem


_SILENT = {"message_created__activity", "message_updated__incoming", "conversation_created"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T12:00:00.000Z", NOON),
        ("2026-03-01T12:00:00+00:00", NOON),
        (1772366400, NOON),
        ("1772366400", NOON),
        (1772366400.5, datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


# ---------------------------------------------------------------------------- authenticity

SECRET = "s3cret-webhook"
TOKEN = "url-token-42"
NOW = 1_772_366_400.0
BODY = json.dumps({"event": "message_created", "id": 1}).encode()


def provider(app_secret: str = SECRET, verify_token: str = TOKEN) -> ChatwootProvider:
    return ChatwootProvider(
        ChannelConfig(provider="chatwoot", external_id="12", app_secret=app_secret, verify_token=verify_token)
    )


def signed(body: bytes = BODY, *, secret: str = SECRET, at: float = NOW) -> dict[str, str]:
    stamp = str(int(at))
    return {"X-Chatwoot-Timestamp": stamp, "X-Chatwoot-Signature": chatwoot_signature(secret, stamp, body)}


def test_fake_and_provider_sign_alike() -> None:
    assert compute_signature(SECRET, "1", b"{}") == chatwoot_signature(SECRET, "1", b"{}")


@pytest.mark.parametrize(
    ("params", "headers", "ok"),
    [
        ({"token": TOKEN}, {}, True),  # old Chatwoot: unsigned, token in the URL
        ({}, {"X-Chatwoot-Webhook-Token": TOKEN}, True),
        ({}, {"x_chatwoot_webhook_token": TOKEN}, True),
        ({"token": "wrong"}, {}, False),
        ({"token": ""}, {}, False),
        ({}, {}, False),  # no token, no signature
        ({}, signed(), True),  # newer Chatwoot: a fresh valid signature alone
        ({"token": TOKEN}, signed(), True),
        ({"token": "wrong"}, signed(), False),
        ({"token": TOKEN}, signed(secret="other"), False),  # the right token does not excuse a bad signature
        ({}, signed(at=NOW - 301), False),  # stale
        ({}, signed(at=NOW + 301), False),  # from the future
        ({}, signed(at=NOW - 300), True),
        ({"token": TOKEN}, signed(at=NOW - 3600), False),
        ({}, {"X-Chatwoot-Signature": signed()["X-Chatwoot-Signature"]}, False),  # no timestamp
        ({}, {**signed(), "X-Chatwoot-Signature": "sha1=abc"}, False),
        ({}, {**signed(), "X-Chatwoot-Timestamp": "soon"}, False),
    ],
)
def test_verify_signature(params: dict[str, str], headers: dict[str, str], ok: bool) -> None:
    assert provider().verify_signature(body=BODY, headers=headers, params=params, now=NOW) is ok


def test_a_signature_over_another_body_is_refused() -> None:
    assert not provider().verify_signature(body=BODY + b" ", headers=signed(), params={}, now=NOW)


def test_the_token_is_the_app_secret_when_no_separate_token_is_set() -> None:
    only_secret = provider(verify_token="")
    assert only_secret.verify_signature(body=BODY, headers={}, params={"token": SECRET}, now=NOW)
    assert not only_secret.verify_signature(body=BODY, headers={}, params={"token": TOKEN}, now=NOW)


def test_empty_secrets_authenticate_nothing() -> None:
    bare = provider(app_secret="", verify_token="")
    assert not bare.verify_signature(body=BODY, headers={}, params={"token": ""}, now=NOW)
    assert not bare.verify_signature(body=BODY, headers=signed(secret=""), params={}, now=NOW)
    assert not bare.verify_signature(body=BODY, headers=signed(), params={"token": "x"}, now=NOW)


def test_signature_headers_without_our_secret_leave_the_token_to_decide() -> None:
    token_only = provider(app_secret="", verify_token=TOKEN)
    assert token_only.verify_signature(body=BODY, headers=signed(), params={"token": TOKEN}, now=NOW)
    assert not token_only.verify_signature(body=BODY, headers=signed(), params={}, now=NOW)


def test_no_params_and_the_default_clock_do_not_crash() -> None:
    assert provider().verify_signature(body=BODY, headers={}) is False
    assert provider().verify_signature(body=BODY, headers=signed(at=NOW)) is False  # the real clock: stale


def test_the_fake_builds_deliveries_the_provider_accepts() -> None:
    hooks = ChatwootWebhooks(now=NOW)
    body, headers = hooks.deliver(hooks.incoming_text("Hola"), secret=SECRET)
    assert provider().verify_signature(body=body, headers=headers, params={}, now=NOW)
    assert isinstance(only_payload(json.loads(body)), InboundMessage)
    body, headers = hooks.deliver(hooks.incoming_text("Hola"))
    assert "X-Chatwoot-Signature" not in headers
    assert provider().verify_signature(body=body, headers=headers, params={"token": TOKEN}, now=NOW)
