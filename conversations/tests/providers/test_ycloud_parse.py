"""YCloudProvider.parse and verify_signature: pure, no database, fixtures in -> events out.

The fixtures (conversations/tests/fixtures/ycloud/) follow YCloud's documented event schemas
(WhatsappInboundMessage, WhatsappMessage). Besides checking each one, the tests hold YCloud's
events to Meta's: the same customer message through either provider gives the same kind, text
and data, so the rest of the product cannot tell them apart.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_fixture
from conversations.models import MessageKind
from conversations.providers import PROVIDERS, get_provider_class
from conversations.providers.base import ChannelConfig, InboundMessage, MediaRef, StatusUpdate
from conversations.providers.meta import MetaProvider
from conversations.providers.ycloud import (
    YCloudProvider,
    e164,
    parse_rfc3339,
    parse_signature_header,
    signature_header,
    wa_id,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ycloud"
BUSINESS = "+576015550100"
LAURA = "573001112233"
QUOTED = "wamid.HBgMNTczMDAxMTEyMjMzFQIAERgSMEIzRkE5QzY4RDFBNkMxRTk5AA=="
SENT_MESSAGE = "65f1a2b3c4d5e6f708192a3b"


def wamid(tag: str) -> str:
    return f"wamid.HBgMNTczMDAxMTEyMjMzFQIAEhgUM0E{tag}QjdGRjI4NzU2MEMyRDg0AA=="


def only_event(name: str) -> Any:
    result = YCloudProvider.parse(load_fixture("ycloud", name))
    assert result.problems == [], result.problems
    assert len(result.events) == 1
    return result.events[0]


def only_message(name: str) -> InboundMessage:
    event = only_event(name)
    assert isinstance(event, InboundMessage)
    return event


def media_link(media_id: str) -> str:
    return f"https://api.ycloud.com/v2/whatsapp/media/download/{media_id}"


# ---------------------------------------------------------------------------- registry


def test_registry_knows_ycloud() -> None:
    assert PROVIDERS["ycloud"] is YCloudProvider
    assert get_provider_class("ycloud") is YCloudProvider
    assert (YCloudProvider.name, YCloudProvider.platform) == ("ycloud", "whatsapp")


# ---------------------------------------------------------------------------- one message per fixture

MESSAGE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("message__text", {"kind": "text", "text": "Hola, ¿tienen turnos para mañana a la tarde?", "reply_to": ""}),
    (
        "message__text_with_context",
        {
            "kind": "text",
            "text": "Sí, el de las 10:00 me sirve",
            "reply_to": QUOTED,
            "data": {"context": {"from": "576015550100", "id": QUOTED}},
        },
    ),
    (
        "message__image_with_caption",
        {
            "kind": "image",
            "caption": "Así lo quiero",
            "media": MediaRef(
                media_id="1013859600285441",
                mime_type="image/jpeg",
                sha256="2pXWvF4RDSVVRcz1t8OuQwxMMaaVxTjbnmsO9Dmsb1A=",
                url=media_link("1013859600285441"),
            ),
        },
    ),
    (
        "message__audio_voice",
        {
            "kind": "audio",
            "media": MediaRef(
                media_id="1261298451478962",
                mime_type="audio/ogg; codecs=opus",
                sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                url=media_link("1261298451478962"),
                voice=True,
            ),
        },
    ),
    (
        "message__video",
        {
            "kind": "video",
            "caption": "Mirá cómo quedó",
            "media": MediaRef(
                media_id="908765432109876",
                mime_type="video/mp4",
                sha256="q0pUd8kFTfhYWv3J3m0n1a2b3c4d5e6f7g8h9i0j1k2=",
                url=media_link("908765432109876"),
            ),
        },
    ),
    (
        "message__document",
        {
            "kind": "document",
            "caption": "Comprobante de pago",
            "media": MediaRef(
                media_id="1187654321098765",
                mime_type="application/pdf",
                sha256="u5H5JYz5ap5y3ic+f2uB3C/6y8D4cC5E0Y9mMb1TkQ0=",
                filename="comprobante-marzo.pdf",
                url=media_link("1187654321098765"),
            ),
        },
    ),
    (
        "message__sticker",
        {
            "kind": "sticker",
            "media": MediaRef(
                media_id="778899001122334",
                mime_type="image/webp",
                sha256="Zl1pB0A2c6XrGnOeJm4m1c8sO7yH6eM0pTtQ2wY9uVk=",
                url=media_link("778899001122334"),
                animated=True,
            ),
        },
    ),
    (
        "message__location",
        {
            "kind": "location",
            "text": "📍 Peluquería Central, Cra. 11 #93-46, Bogotá (4.6486259, -74.0628451)",
            "data": {
                "latitude": 4.6486259,
                "longitude": -74.0628451,
                "name": "Peluquería Central",
                "address": "Cra. 11 #93-46, Bogotá",
                "url": None,
            },
        },
    ),
    ("message__contacts", {"kind": "contacts", "text": "Carlos Pérez (+57 310 555 1234, +57 601 555 7788)"}),
    ("message__reaction", {"kind": "reaction", "text": "👍", "data": {"message_id": QUOTED, "emoji": "👍"}}),
    (
        "message__interactive_button_reply",
        {
            "kind": "interactive",
            "text": "Confirmar",
            "interactive_id": "btn_confirm_booking",
            "reply_to": QUOTED,
            "data": {
                "interactive_type": "button_reply",
                "title": "Confirmar",
                "description": "",
                "context": {"from": "576015550100", "id": QUOTED},
            },
        },
    ),
    (
        "message__interactive_list_reply",
        {
            "kind": "interactive",
            "text": "Corte de pelo",
            "interactive_id": "svc_haircut_45",
            "data": {"interactive_type": "list_reply", "title": "Corte de pelo", "description": "45 min · $25"},
        },
    ),
    (
        "message__interactive_nfm_reply",
        {
            "kind": "interactive",
            "text": "Sent",
            "interactive_id": "",
            "data": {
                "interactive_type": "nfm_reply",
                "name": "flow",
                "response_json": '{"flow_token": "turno-4812", "fecha": "2026-03-03"}',
            },
        },
    ),
    (
        "message__button_template",
        {"kind": "button", "text": "Confirmo", "interactive_id": "CONFIRMAR_TURNO_4812", "reply_to": QUOTED},
    ),
    ("message__referral", {"kind": "text", "text": "Hola, vi el anuncio del corte + barba"}),
    (
        "message__unsupported_with_errors",
        {
            "kind": "unsupported",
            "unknown": False,
            "errors": (
                {
                    "code": "131051",
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "details": "Message type is currently not supported.",
                },
            ),
        },
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), MESSAGE_CASES, ids=[case[0] for case in MESSAGE_CASES])
def test_message_fixture_gives_one_normalized_message(fixture: str, expected: dict[str, Any]) -> None:
    event = only_message(fixture)
    raw = load_fixture("ycloud", fixture)
    message = raw["whatsappInboundMessage"]
    assert event.provider_message_id == message["wamid"]
    assert (event.channel_external_id, event.contact_external_id, event.contact_name) == (
        BUSINESS,
        LAURA,
        "Laura Martínez",
    )
    assert event.sent_at == parse_rfc3339(message["sendTime"])
    assert event.raw == message
    assert event.data["ycloud_message_id"] == message["id"]
    assert event.data["ycloud_event_id"] == raw["id"]
    for name, value in expected.items():
        actual = getattr(event, name)
        if name == "data":
            actual = {k: v for k, v in actual.items() if not k.startswith("ycloud_")}
        assert actual == value, name


def test_every_message_fixture_is_covered_by_a_case() -> None:
    covered = {case[0] for case in MESSAGE_CASES} | {"message__unknown_type"}
    assert {path.stem for path in FIXTURES.glob("message__*.json")} == covered


def test_every_kind_is_a_message_kind_the_models_know() -> None:
    kinds = {only_message(case[0]).kind for case in MESSAGE_CASES}
    assert kinds <= set(MessageKind.values)


def test_id_falls_back_to_ycloud_id_without_a_wamid() -> None:
    event = load_fixture("ycloud", "message__text")
    del event["whatsappInboundMessage"]["wamid"]
    (message,) = YCloudProvider.parse(event).events
    assert message.provider_message_id == "63f872f6741c165b434292c1"


def test_numbers_are_normalized_whatever_form_they_arrive_in() -> None:
    event = load_fixture("ycloud", "message__text")
    event["whatsappInboundMessage"].update({"from": "573001112233", "to": "576015550100"})
    (message,) = YCloudProvider.parse(event).events
    assert (message.channel_external_id, message.contact_external_id) == (BUSINESS, LAURA)


def test_referral_is_carried_by_a_text_message() -> None:
    event = only_message("message__referral")
    assert event.referral["source_type"] == "ad"
    assert event.referral["ctwa_clid"].startswith("ARAkLkA8")
    assert event.referral["video_url"] == ""  # every key present, as Meta's parse gives it


def test_unknown_type_is_kept_raw_marked_unknown_and_reported() -> None:
    result = YCloudProvider.parse(load_fixture("ycloud", "message__unknown_type"))
    (event,) = result.events
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.unknown) == ("unsupported", True)
    assert event.data["original_type"] == "order"
    assert event.raw["order"]["catalog_id"] == "1234567890"
    assert result.problems == [
        "event evt_eEVCy8eNqD9EvcG7.whatsappInboundMessage: unknown message type 'order'; kept as unsupported"
    ]


def test_unknown_interactive_subtype_is_unsupported_and_reported() -> None:
    event = load_fixture("ycloud", "message__interactive_list_reply")
    event["whatsappInboundMessage"]["interactive"] = {"type": "call_permission_reply", "call_permission_reply": {}}
    result = YCloudProvider.parse(event)
    (message,) = result.events
    assert (message.kind, message.unknown) == ("unsupported", True)
    assert "unknown interactive type 'call_permission_reply'" in result.problems[0]


def test_sent_at_is_aware_utc() -> None:
    assert only_message("message__text").sent_at == datetime(2026, 3, 1, 11, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T12:00:00.000Z", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("2026-03-01T09:00:00-03:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("ayer", None),
        ("", None),
        (1760000000, None),
        (None, None),
    ],
)
def test_parse_rfc3339(value: Any, expected: datetime | None) -> None:
    assert parse_rfc3339(value) == expected


@pytest.mark.parametrize(
    ("value", "as_e164", "as_wa_id"),
    [
        ("+573001112233", "+573001112233", "573001112233"),
        ("573001112233", "+573001112233", "573001112233"),
        ("", "", ""),
        (None, "", ""),
    ],
)
def test_number_helpers(value: Any, as_e164: str, as_wa_id: str) -> None:
    assert (e164(value), wa_id(value)) == (as_e164, as_wa_id)


def test_event_data_is_json_serializable_for_every_fixture() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        for event in YCloudProvider.parse(json.loads(path.read_text())).events:
            json.dumps(event.data if isinstance(event, InboundMessage) else event.raw)


# ---------------------------------------------------------------------------- the same as Meta's


def as_meta_webhook(ycloud_event: dict[str, Any]) -> dict[str, Any]:
    """The Meta webhook that carries the same customer message as a YCloud inbound event."""
    message = copy.deepcopy(ycloud_event["whatsappInboundMessage"])
    meta_message: dict[str, Any] = {
        "from": message["from"].removeprefix("+"),
        "id": message["wamid"],
        "timestamp": str(int(parse_rfc3339(message["sendTime"]).timestamp())),  # type: ignore[union-attr]
        "type": message["type"],
    }
    for key in ("context", "referral", "errors", message["type"]):
        if key in message:
            meta_message[key] = message[key]
    content = meta_message.get(message["type"])
    if isinstance(content, dict) and "link" in content:
        content["url"] = content.pop("link")
    if isinstance(content, dict) and content.get("metadata", {}).get("is_animated"):
        content["animated"] = True  # YCloud's sticker metadata; Meta's sticker says it at the top
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "576015550100", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": message["customerProfile"], "wa_id": meta_message["from"]}],
        "messages": [meta_message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }


SAME_FIELDS = (
    "provider_message_id",
    "contact_external_id",
    "contact_name",
    "kind",
    "sent_at",
    "text",
    "caption",
    "media",
    "reply_to",
    "interactive_id",
    "referral",
    "errors",
    "unknown",
)


@pytest.mark.parametrize("fixture", [case[0] for case in MESSAGE_CASES] + ["message__unknown_type"])
def test_a_message_through_ycloud_is_the_same_message_as_through_meta(fixture: str) -> None:
    ycloud_event = load_fixture("ycloud", fixture)
    (ours,) = YCloudProvider.parse(ycloud_event).events
    (metas,) = MetaProvider.parse(as_meta_webhook(ycloud_event)).events
    assert isinstance(ours, InboundMessage) and isinstance(metas, InboundMessage)
    for name in SAME_FIELDS:
        assert getattr(ours, name) == getattr(metas, name), name
    assert {k: v for k, v in ours.data.items() if not k.startswith("ycloud_")} == metas.data


# ---------------------------------------------------------------------------- statuses

STATUS_CASES: list[tuple[str, dict[str, Any]]] = [
    ("status__sent", {"status": "sent", "timestamp": datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)}),
    ("status__delivered", {"status": "delivered", "timestamp": datetime(2026, 3, 1, 12, 0, 3, tzinfo=UTC)}),
    ("status__read", {"status": "read", "timestamp": datetime(2026, 3, 1, 12, 1, 10, tzinfo=UTC)}),
    (
        "status__failed_balance",
        {
            "status": "failed",
            "timestamp": datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC),
            "error_code": "BALANCE_INSUFFICIENT",
            "error_title": "Your account balance is insufficient. Please top up.",
            "error_detail": "",
        },
    ),
    (
        "status__failed_131047",
        {
            "status": "failed",
            "error_code": "131047",
            "error_title": "(#131047) Re-engagement message",
            "error_detail": "Message failed to send because more than 24 hours have passed since the customer last "
            "replied to this number.",
        },
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), STATUS_CASES, ids=[case[0] for case in STATUS_CASES])
def test_status_fixture_gives_one_status_update(fixture: str, expected: dict[str, Any]) -> None:
    event = only_event(fixture)
    assert isinstance(event, StatusUpdate)
    message = load_fixture("ycloud", fixture)["whatsappMessage"]
    defaults = {
        "provider_message_id": message["wamid"],  # the wamid, as our send stored it
        "channel_external_id": BUSINESS,
        "recipient_id": LAURA,
        "callback_data": "msg-4812",
        "error_code": "",
        "error_title": "",
        "error_detail": "",
    }
    for name, value in {**defaults, **expected}.items():
        assert getattr(event, name) == value, name
    assert event.raw == message
    assert event.raw["wamid"] == message["wamid"]


def test_accepted_is_no_news() -> None:
    result = YCloudProvider.parse(load_fixture("ycloud", "status__accepted"))
    assert (result.events, result.problems) == ([], [])


def test_unknown_status_value_is_passed_on_and_reported() -> None:
    event = load_fixture("ycloud", "status__sent")
    event["whatsappMessage"]["status"] = "deleted"
    result = YCloudProvider.parse(event)
    (status,) = result.events
    sent_wamid = event["whatsappMessage"]["wamid"]
    assert isinstance(status, StatusUpdate) and status.status == "deleted"
    assert status.timestamp == datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)  # updateTime
    assert result.problems == [
        f"event evt_sT4tus0000000002.whatsappMessage: unknown status 'deleted' for {sent_wamid}; passed on as-is"
    ]


def test_status_error_falls_back_to_metas_error_and_its_string_error_data() -> None:
    event = load_fixture("ycloud", "status__failed_131047")
    message = event["whatsappMessage"]
    del message["errorCode"], message["errorMessage"]
    message["whatsappApiError"]["error_data"] = "Template parameter count mismatch"
    (status,) = YCloudProvider.parse(event).events
    assert (status.error_code, status.error_title, status.error_detail) == (
        "131047",
        "(#131047) Re-engagement message",
        "Template parameter count mismatch",
    )


def test_long_external_id_is_cut_to_metas_callback_length() -> None:
    event = load_fixture("ycloud", "status__sent")
    event["whatsappMessage"]["externalId"] = "x" * 600
    (status,) = YCloudProvider.parse(event).events
    assert status.callback_data == "x" * 512


# ---------------------------------------------------------------------------- other events and malformed ones


def test_known_events_without_messages_are_ignored_quietly() -> None:
    result = YCloudProvider.parse(load_fixture("ycloud", "event__template_reviewed"))
    assert (result.events, result.problems) == ([], [])


def test_unknown_event_types_are_ignored_and_reported() -> None:
    result = YCloudProvider.parse(load_fixture("ycloud", "event__unknown_type"))
    assert result.events == []
    assert result.problems == ["event evt_nEw0000000000001: ignored event type 'whatsapp.call.connected'"]


MALFORMED_CASES: list[tuple[str, list[str], int]] = [
    ("malformed__not_json_object", ["event: expected a JSON object, got a list"], 0),
    ("malformed__missing_type", ["event evt_mAlf000000000001: missing type"], 0),
    (
        "malformed__missing_payload",
        ["event evt_mAlf000000000002: missing whatsappInboundMessage; nothing parsed"],
        0,
    ),
    (
        "malformed__payload_not_object",
        ["event evt_mAlf000000000003: whatsappMessage is a string, expected an object; nothing parsed"],
        0,
    ),
    (
        "malformed__message_without_id",
        ["event evt_mAlf000000000004.whatsappInboundMessage: message without wamid or id"],
        0,
    ),
    (
        "malformed__message_without_to",
        [
            f"event evt_mAlf000000000005.whatsappInboundMessage: message {wamid('40')} has no to "
            "(the business number); skipped"
        ],
        0,
    ),
    (
        "malformed__wrong_types",
        ["event evt_mAlf000000000006.whatsappInboundMessage: text is a string, expected an object"],
        1,
    ),
    ("malformed__status_without_id", ["event evt_mAlf000000000007.whatsappMessage: status without id"], 0),
]


@pytest.mark.parametrize(("fixture", "problems", "count"), MALFORMED_CASES, ids=[c[0] for c in MALFORMED_CASES])
def test_malformed_fixture_reports_problems_never_raises(fixture: str, problems: list[str], count: int) -> None:
    result = YCloudProvider.parse(load_fixture("ycloud", fixture))
    assert result.problems == problems
    assert len(result.events) == count


def test_wrongly_typed_parts_keep_what_can_be_kept() -> None:
    (event,) = YCloudProvider.parse(load_fixture("ycloud", "malformed__wrong_types")).events
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.text, event.contact_name, event.sent_at) == ("text", "", "", None)
    assert event.provider_message_id == wamid("41")


@pytest.mark.parametrize(
    "content",
    [
        {"type": "image", "image": {"caption": "sin archivo"}},
        {"type": "location", "location": [4.6, -74.0]},
        {"type": "contacts", "contacts": {"name": "Carlos"}},
        {"type": "reaction", "reaction": "👍"},
        {"type": "interactive", "interactive": "button_reply"},
        {"type": "button", "button": None},
        {"type": 7},
    ],
)
def test_wrongly_typed_content_never_raises(content: dict[str, Any]) -> None:
    event = load_fixture("ycloud", "message__text")
    message = event["whatsappInboundMessage"]
    del message["text"]
    message.update(content)
    result = YCloudProvider.parse(event)
    assert len(result.events) == 1
    assert all(isinstance(problem, str) for problem in result.problems)


@pytest.mark.parametrize("payload", [None, 7, "hola", [], {}, {"type": 3}, {"type": "whatsapp.message.updated"}])
def test_garbage_never_raises_and_is_reported(payload: Any) -> None:
    result = YCloudProvider.parse(payload)
    assert result.events == []
    assert len(result.problems) == 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
ITEM_KEYS = st.sampled_from(
    [
        "id",
        "wamid",
        "from",
        "to",
        "type",
        "status",
        "text",
        "image",
        "interactive",
        "context",
        "errors",
        "customerProfile",
        "sendTime",
        "externalId",
        "whatsappApiError",
        "errorCode",
        "referral",
        "contacts",
    ]
)
ITEMS = st.dictionaries(ITEM_KEYS, JSON_VALUES | st.sampled_from(["text", "image", "interactive", "failed"]))
EVENTS = st.one_of(
    st.fixed_dictionaries(
        {
            "id": JSON_VALUES,
            "type": st.just("whatsapp.inbound_message.received"),
            "whatsappInboundMessage": ITEMS | JSON_VALUES,
        }
    ),
    st.fixed_dictionaries(
        {"id": JSON_VALUES, "type": st.just("whatsapp.message.updated"), "whatsappMessage": ITEMS | JSON_VALUES}
    ),
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES | EVENTS)
def test_parse_never_raises_on_arbitrary_json(payload: Any) -> None:
    result = YCloudProvider.parse(payload)
    for event in result.events:
        assert isinstance(event, InboundMessage | StatusUpdate)
    assert all(isinstance(problem, str) for problem in result.problems)


# ---------------------------------------------------------------------------- signatures

SECRET = "whsec_5f0e3c1d2b4a69788776655443322110"
BODY = json.dumps(load_fixture("ycloud", "message__text"), ensure_ascii=False).encode()
NOW = 1_772_366_400  # 2026-03-01 12:00 UTC


def signed(body: bytes = BODY, *, t: int = NOW, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},s={digest}"


def provider(secret: str = SECRET) -> YCloudProvider:
    return YCloudProvider(ChannelConfig(provider="ycloud", external_id=BUSINESS, app_secret=secret))


@pytest.mark.parametrize(
    ("headers", "secret", "now", "expected"),
    [
        ({"YCloud-Signature": signed()}, SECRET, NOW, True),
        ({"ycloud-signature": signed()}, SECRET, NOW, True),
        ({"HTTP_YCLOUD_SIGNATURE": signed()}, SECRET, NOW, True),
        ({"YCloud-Signature": signed().upper().replace("T=", "t=").replace(",S=", ",s=")}, SECRET, NOW, True),
        ({"YCloud-Signature": f" t={NOW} , s={signed().split('s=')[1]} "}, SECRET, NOW, True),
        ({"YCloud-Signature": signed(secret="whsec_otro")}, SECRET, NOW, False),
        ({"YCloud-Signature": signed(BODY + b" ")}, SECRET, NOW, False),
        ({"YCloud-Signature": f"t={NOW - 1}," + signed().split(",")[1]}, SECRET, NOW, False),
        ({"YCloud-Signature": signed(t=NOW - 300)}, SECRET, NOW, True),
        ({"YCloud-Signature": signed(t=NOW - 301)}, SECRET, NOW, False),
        ({"YCloud-Signature": signed(t=NOW + 300)}, SECRET, NOW, True),
        ({"YCloud-Signature": signed(t=NOW + 301)}, SECRET, NOW, False),
        ({}, SECRET, NOW, False),
        ({"YCloud-Signature": ""}, SECRET, NOW, False),
        ({"YCloud-Signature": signed().split(",")[1]}, SECRET, NOW, False),
        ({"YCloud-Signature": f"t={NOW}"}, SECRET, NOW, False),
        ({"YCloud-Signature": f"t=ayer,s={'0' * 64}"}, SECRET, NOW, False),
        ({"YCloud-Signature": f"t={NOW},s=zz"}, SECRET, NOW, False),
        ({"YCloud-Signature": f"t={NOW},t={NOW},s={signed().split('s=')[1]}"}, SECRET, NOW, False),
        (
            {"YCloud-Signature": "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()},
            SECRET,
            NOW,
            False,
        ),
        ({"X-YCloud-Signature": signed()}, SECRET, NOW, False),
        ({"YCloud-Signature": signed(secret="")}, "", NOW, False),
    ],
    ids=[
        "good",
        "lowercase-header",
        "django-meta-style",
        "uppercase-hex",
        "spaces",
        "wrong-secret",
        "body-changed",
        "timestamp-changed",
        "300-s-old",
        "stale",
        "300-s-ahead",
        "from-the-future",
        "missing",
        "empty-header",
        "no-timestamp",
        "no-signature",
        "timestamp-not-a-number",
        "signature-not-hex",
        "two-timestamps",
        "metas-format",
        "other-header-name",
        "empty-secret",
    ],
)
def test_verify_signature(headers: dict[str, str], secret: str, now: int, expected: bool) -> None:
    assert provider(secret).verify_signature(body=BODY, headers=headers, now=now) is expected


def test_a_rotated_secret_may_bring_several_signatures() -> None:
    header = signed(secret="whsec_viejo") + "," + signed().split(",")[1]
    assert provider().verify_signature(body=BODY, headers={"YCloud-Signature": header}, now=NOW) is True


def test_verify_signature_with_django_request_headers(rf: Any) -> None:
    request = rf.post("/webhooks/ycloud/", data=BODY, content_type="application/json", HTTP_YCLOUD_SIGNATURE=signed())
    assert provider().verify_signature(body=request.body, headers=request.headers, now=NOW) is True
    assert provider().verify_signature(body=request.body, headers=request.META, now=NOW) is True
    assert provider().verify_signature(body=request.body, headers=request.headers, now=NOW + 3600) is False


def test_verify_signature_defaults_to_the_clock() -> None:
    import time

    fresh = signature_header(SECRET, int(time.time()), BODY)
    stale = signature_header(SECRET, int(time.time()) - 3600, BODY)
    assert provider().verify_signature(body=BODY, headers={"YCloud-Signature": fresh}) is True
    assert provider().verify_signature(body=BODY, headers={"YCloud-Signature": stale}) is False


def test_verify_signature_uses_raw_bytes_not_reserialized_json() -> None:
    raw = b'{"type":"whatsapp.inbound_message.received","t":"ma\\u00f1ana"}'
    header = {"YCloud-Signature": signed(raw)}
    assert provider().verify_signature(body=raw, headers=header, now=NOW) is True
    assert provider().verify_signature(body=json.dumps(json.loads(raw)).encode(), headers=header, now=NOW) is False


def test_the_tolerance_is_the_class_setting() -> None:
    class Strict(YCloudProvider):
        signature_tolerance = 10

    strict = Strict(ChannelConfig(provider="ycloud", external_id=BUSINESS, app_secret=SECRET))
    assert strict.verify_signature(body=BODY, headers={"YCloud-Signature": signed(t=NOW - 10)}, now=NOW) is True
    assert strict.verify_signature(body=BODY, headers={"YCloud-Signature": signed(t=NOW - 11)}, now=NOW) is False


def test_signature_header_parsing() -> None:
    parsed = parse_signature_header(signed())
    assert parsed is not None and parsed.timestamp == NOW and len(parsed.signatures) == 1
    assert parse_signature_header("garbage") is None
    assert signature_header(SECRET, NOW, BODY) == signed()
