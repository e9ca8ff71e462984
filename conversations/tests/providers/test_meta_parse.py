"""MetaProvider.parse and verify_signature: pure, no database, fixtures in -> events out."""

from __future__ import annotations

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
from conversations.providers import PROVIDERS, get_provider_class
from conversations.providers.base import (
    ChannelConfig,
    InboundMessage,
    MediaRef,
    ProviderNotice,
    StatusUpdate,
)
from conversations.providers.meta import MetaProvider, parse_timestamp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "meta"
PRIMARY = "106540352242922"
SECOND = "106540352242923"
LAURA = "573001112233"
BUSINESS_MSG = "wamid.HBgMNTczMDAxMTEyMjMzFQIAERgSMEIzRkE5QzY4RDFBNkMxRTk5AA=="


def wamid(tag: str) -> str:
    return f"wamid.HBgMNTczMDAxMTEyMjMzFQIAEhgUM0E{tag}QjdGRjI4NzU2MEMyRDg0AA=="


def only_message(name: str) -> InboundMessage:
    result = MetaProvider.parse(load_fixture("meta", name))
    assert result.problems == [], result.problems
    assert len(result.events) == 1
    (event,) = result.events
    assert isinstance(event, InboundMessage)
    return event


# ---------------------------------------------------------------------------- registry


def test_registry_knows_meta_and_fails_loudly_on_unknown_names() -> None:
    assert PROVIDERS["meta"] is MetaProvider
    assert get_provider_class("meta") is MetaProvider
    with pytest.raises(KeyError, match="unknown provider 'telegram'"):
        get_provider_class("telegram")


# ---------------------------------------------------------------------------- one message per fixture

MESSAGE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("message__text", {"kind": "text", "text": "Hola, ¿tienen turnos para mañana a la tarde?", "reply_to": ""}),
    (
        "message__text_with_context",
        {
            "kind": "text",
            "text": "Sí, el de las 10:00 me sirve",
            "reply_to": BUSINESS_MSG,
            "data": {"context": {"from": "576015550100", "id": BUSINESS_MSG}},
        },
    ),
    (
        "message__interactive_button_reply",
        {
            "kind": "interactive",
            "text": "Confirmar",
            "interactive_id": "btn_confirm_booking",
            "reply_to": BUSINESS_MSG,
            "data": {
                "interactive_type": "button_reply",
                "title": "Confirmar",
                "description": "",
                "context": {"from": "576015550100", "id": BUSINESS_MSG},
            },
        },
    ),
    (
        "message__interactive_list_reply",
        {
            "kind": "interactive",
            "text": "Corte de pelo",
            "interactive_id": "svc_haircut_45",
            "data": {
                "interactive_type": "list_reply",
                "title": "Corte de pelo",
                "description": "45 min · $25",
                "context": {"from": "576015550100", "id": BUSINESS_MSG},
            },
        },
    ),
    (
        "message__button_template_quick_reply",
        {
            "kind": "button",
            "text": "Confirmar turno",
            "interactive_id": "CONFIRMAR_TURNO",
            "reply_to": "wamid.HBgMNTczMDAxMTEyMjMzFQIAERgSNUY4QTg2RTJFRjNBOUQ3MEIwAA==",
        },
    ),
    (
        "message__image_with_caption",
        {
            "kind": "image",
            "text": "",
            "caption": "Así me quedó el corte 💈",
            "media": MediaRef(
                media_id="1013859600285441",
                mime_type="image/jpeg",
                sha256="m8xGz5y8Ud0cOsaqgXyBv7LzYmF4kWQzWS1iE3ADx4A=",
                url="https://lookaside.fbsbx.com/whatsapp_business/attachments/"
                "?mid=1013859600285441&ext=1760000600&hash=ATtN3pQ",
            ),
        },
    ),
    (
        "message__audio_voice_note",
        {
            "kind": "audio",
            "caption": "",
            "media": MediaRef(
                media_id="2291837460915532",
                mime_type="audio/ogg; codecs=opus",
                sha256="9DUxV8yLmO3YqZ0h3j1pZl0m2sxsQbx9rHvnCw0cN7E=",
                voice=True,
            ),
        },
    ),
    (
        "message__video",
        {
            "kind": "video",
            "caption": "Mirá cómo quedó el local",
            "reply_to": "",
            "data": {"context": {"forwarded": True}},
            "media": MediaRef(
                media_id="1848291038475610",
                mime_type="video/mp4",
                sha256="Jz1o3Fq8Wb2cK7nXl0Yw9PuTq4sR5vA6bC7dE8fG9hI=",
            ),
        },
    ),
    (
        "message__document",
        {
            "kind": "document",
            "caption": "Factura de octubre",
            "media": MediaRef(
                media_id="774019283746551",
                mime_type="application/pdf",
                sha256="Tq9wXoB3cN5mP7rS1uV3xZ5aC7eG9iK1mO3qS5uW7yA=",
                filename="factura-octubre.pdf",
            ),
        },
    ),
    (
        "message__sticker",
        {
            "kind": "sticker",
            "media": MediaRef(
                media_id="927364518203948",
                mime_type="image/webp",
                sha256="Xr0aB9cD8eF7gH6iJ5kL4mN3oP2qR1sT0uV9wX8yZ7A=",
                animated=False,
            ),
        },
    ),
    (
        "message__location",
        {
            "kind": "location",
            "text": "📍 Barbería Acme, Calle 85 #11-53, Bogotá (4.6097102, -74.081749)",
            "data": {
                "latitude": 4.6097102,
                "longitude": -74.081749,
                "name": "Barbería Acme",
                "address": "Calle 85 #11-53, Bogotá",
                "url": "https://acme.example.com",
            },
        },
    ),
    (
        "message__contacts",
        {
            "kind": "contacts",
            "text": "Carlos Pérez (+57 310 555 1234, +57 601 555 7788); Marta Ruiz (+57 315 555 9090)",
        },
    ),
    ("message__reaction", {"kind": "reaction", "text": "👍", "data": {"message_id": BUSINESS_MSG, "emoji": "👍"}}),
    (
        "message__system",
        {
            "kind": "system",
            "text": "Laura Martínez cambió de 573001112233 a 573009998877",
            "contact_name": "",  # system messages carry no contacts array
        },
    ),
    (
        "message__unsupported",
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
    (
        "message__bsuid_no_wa_id",
        {
            "kind": "text",
            "contact_external_id": "CO.13491208655302741918",
            "contact_name": "Sofía",
            "text": "Hola, quiero info de precios",
        },
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), MESSAGE_CASES, ids=[case[0] for case in MESSAGE_CASES])
def test_message_fixture_gives_one_normalized_message(fixture: str, expected: dict[str, Any]) -> None:
    event = only_message(fixture)
    defaults = {"channel_external_id": PRIMARY, "contact_external_id": LAURA, "contact_name": "Laura Martínez"}
    for attribute, value in {**defaults, **expected}.items():
        assert getattr(event, attribute) == value, attribute
    assert event.raw == load_fixture("meta", fixture)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert event.provider_message_id.startswith("wamid.")
    assert event.sent_at is not None and event.sent_at.tzinfo is not None


def test_every_message_fixture_is_covered_by_a_case() -> None:
    message_fixtures = {path.stem for path in FIXTURES.glob("message__*.json")}
    covered = {name for name, _ in MESSAGE_CASES} | {"message__unknown_type", "message__referral_ctwa"}
    assert message_fixtures == covered


def test_contacts_keep_the_full_cards() -> None:
    event = only_message("message__contacts")
    cards = event.data["contacts"]
    assert [card["name"]["formatted_name"] for card in cards] == ["Carlos Pérez", "Marta Ruiz"]
    assert cards[0]["org"]["company"] == "Peluquería Central"


def test_system_message_keeps_the_new_number() -> None:
    event = only_message("message__system")
    assert event.data["system"]["new_wa_id"] == "573009998877"
    assert event.data["system"]["type"] == "user_changed_number"


def test_referral_is_carried_by_a_text_message() -> None:
    event = only_message("message__referral_ctwa")
    assert event.kind == "text"
    assert event.text == "Hola, vi el anuncio del 20% de descuento"
    assert event.referral == {
        "source_url": "https://fb.me/3cr4Wqqkv",
        "source_id": "120210457896530123",
        "source_type": "ad",
        "headline": "Corte + barba con 20% off",
        "body": "Reservá tu turno por WhatsApp",
        "media_type": "image",
        "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/anuncio-barberia.jpg",
        "video_url": "",
        "thumbnail_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/anuncio-barberia-thumb.jpg",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-ZABCDEF",
    }


def test_unknown_type_is_kept_raw_marked_unknown_and_reported() -> None:
    payload = load_fixture("meta", "message__unknown_type")
    result = MetaProvider.parse(payload)
    (event,) = result.events
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.unknown) == ("unsupported", True)
    assert event.raw["hologram"] == {"intensity": 3, "color": "violeta"}
    assert event.data == {"original_type": "hologram"}
    assert result.problems == [
        "entry[0].changes[0].value.messages[0]: unknown message type 'hologram'; kept as unsupported"
    ]


def test_sent_at_is_aware_utc_from_unix_seconds() -> None:
    assert only_message("message__text").sent_at == datetime(2025, 10, 9, 8, 53, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1760000000", datetime(2025, 10, 9, 8, 53, 20, tzinfo=UTC)),
        (1760000000, datetime(2025, 10, 9, 8, 53, 20, tzinfo=UTC)),
        ("", None),
        ("ayer", None),
        ("1.5", None),
        (None, None),
        (True, None),
        ([], None),
        ("9" * 40, None),
    ],
)
def test_parse_timestamp(value: Any, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


def test_event_data_is_json_serializable_for_every_fixture() -> None:
    """What is stored in JSON columns survives a round trip through JSON unchanged, for every event of every fixture."""
    checked = 0
    for path in sorted(FIXTURES.glob("*.json")):
        for event in MetaProvider.parse(load_fixture("meta", path.stem)).events:
            stored = [event.raw]
            if isinstance(event, InboundMessage):
                stored += [event.data, event.referral, list(event.errors)]
            assert json.loads(json.dumps(stored)) == stored, path.stem
            checked += 1
    assert checked >= len(list(FIXTURES.glob("message__*.json")))  # the fixtures did give events to check


# ---------------------------------------------------------------------------- statuses and notices

STATUS_CASES: list[tuple[str, dict[str, Any]]] = [
    ("status__sent", {"status": "sent", "provider_message_id": wamid("S1"), "error_code": ""}),
    ("status__delivered", {"status": "delivered", "provider_message_id": wamid("S2")}),
    ("status__read", {"status": "read", "provider_message_id": wamid("S3")}),
    (
        "status__failed_131047",
        {
            "status": "failed",
            "error_code": "131047",
            "error_title": "Re-engagement message",
            "error_detail": "Message failed to send because more than 24 hours have passed since the customer "
            "last replied to this number.",
        },
    ),
    (
        "status__failed_131026",
        {
            "status": "failed",
            "recipient_id": "573009990000",
            "error_code": "131026",
            "error_title": "Message undeliverable",
            "error_detail": "Message Undeliverable.",
        },
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), STATUS_CASES, ids=[case[0] for case in STATUS_CASES])
def test_status_fixture_gives_one_status_update(fixture: str, expected: dict[str, Any]) -> None:
    result = MetaProvider.parse(load_fixture("meta", fixture))
    assert result.problems == []
    (event,) = result.events
    assert isinstance(event, StatusUpdate)
    defaults = {"channel_external_id": PRIMARY, "recipient_id": LAURA}
    for attribute, value in {**defaults, **expected}.items():
        assert getattr(event, attribute) == value, attribute
    assert event.timestamp is not None and event.timestamp.tzinfo is UTC


def test_status_recipient_falls_back_to_bsuid() -> None:
    payload = load_fixture("meta", "status__read")
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    del status["recipient_id"]
    status["recipient_user_id"] = "CO.13491208655302741918"
    (event,) = MetaProvider.parse(payload).events
    assert isinstance(event, StatusUpdate)
    assert event.recipient_id == "CO.13491208655302741918"


def test_unknown_status_value_is_passed_on_and_reported() -> None:
    payload = load_fixture("meta", "status__read")
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    result = MetaProvider.parse(payload)
    assert [event.status for event in result.events if isinstance(event, StatusUpdate)] == ["deleted"]
    assert "unknown status 'deleted'" in result.problems[0]


def test_system_level_errors_become_notices() -> None:
    result = MetaProvider.parse(load_fixture("meta", "errors__system_level"))
    assert result.problems == []
    assert [(type(e), e.channel_external_id, e.code, e.title, e.detail) for e in result.events] == [
        (
            ProviderNotice,
            PRIMARY,
            "131000",
            "Something went wrong",
            "Message failed to send due to an unknown error.",
        ),
        (
            ProviderNotice,
            PRIMARY,
            "368",
            "Temporarily blocked for policies violations",
            "The phone number is temporarily blocked from sending messages.",
        ),
    ]


def test_batch_gives_every_event_of_both_numbers_in_order() -> None:
    result = MetaProvider.parse(load_fixture("meta", "batch__two_entries_two_numbers"))
    assert result.problems == []
    summary = [
        (type(e).__name__, e.channel_external_id, e.provider_message_id, getattr(e, "contact_name", None))
        for e in result.events
        if isinstance(e, InboundMessage | StatusUpdate)
    ]
    assert summary == [
        ("InboundMessage", PRIMARY, wamid("B1"), "Laura Martínez"),
        ("InboundMessage", PRIMARY, wamid("B2"), "Andrés Gómez"),
        ("InboundMessage", SECOND, wamid("B3"), "Valentina Ríos"),
        ("StatusUpdate", SECOND, wamid("B4"), None),
    ]
    assert result.events[1].kind == "image"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- malformed input

MALFORMED_CASES: list[tuple[str, list[str], list[str]]] = [
    ("malformed__not_json_object", ["payload: expected a JSON object, got a list"], []),
    ("malformed__missing_entry", ["payload: missing entry"], []),
    (
        "malformed__wrong_object",
        ["payload: object is 'page', expected 'whatsapp_business_account'; nothing parsed"],
        [],
    ),
    (
        "malformed__no_changes",
        [
            "entry[0]: missing changes",
            "entry[1]: no changes",
            "entry[2].changes[0]: missing value",
            "entry[3]: expected an object, got a string",
        ],
        [wamid("M1")],
    ),
    (
        "malformed__message_without_id",
        [
            "entry[0].changes[0].value.messages[0]: message without id",
            "entry[0].changes[0].value.messages[1]: expected a message object, got a string",
            "entry[0].changes[0].value.statuses[0]: status without id",
        ],
        [wamid("M2")],
    ),
]


@pytest.mark.parametrize(("fixture", "problems", "ids"), MALFORMED_CASES, ids=[case[0] for case in MALFORMED_CASES])
def test_malformed_fixture_reports_problems_and_keeps_valid_parts(
    fixture: str, problems: list[str], ids: list[str]
) -> None:
    result = MetaProvider.parse(load_fixture("meta", fixture))
    assert result.problems == problems
    assert [event.provider_message_id for event in result.events if isinstance(event, InboundMessage)] == ids


def test_other_change_fields_are_reported_and_ignored() -> None:
    payload = load_fixture("meta", "message__text")
    payload["entry"][0]["changes"].insert(
        0, {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1}}
    )
    result = MetaProvider.parse(payload)
    assert result.problems == ["entry[0].changes[0]: ignored field 'message_template_status_update'"]
    assert [event.provider_message_id for event in result.events] == [wamid("01")]


def test_value_without_phone_number_id_is_skipped() -> None:
    payload = load_fixture("meta", "message__text")
    del payload["entry"][0]["changes"][0]["value"]["metadata"]
    result = MetaProvider.parse(payload)
    assert result.events == []
    assert result.problems == ["entry[0].changes[0].value: missing metadata.phone_number_id; value skipped"]


@pytest.mark.parametrize(
    "message",
    [
        {"id": "wamid.X", "from": LAURA, "type": "text", "text": "not an object"},
        {"id": "wamid.X", "from": LAURA, "type": "image", "image": None},
        {"id": "wamid.X", "from": LAURA, "type": "interactive", "interactive": {"type": "button_reply"}},
        {"id": "wamid.X", "from": LAURA, "type": "location", "location": []},
        {"id": "wamid.X", "from": LAURA, "type": "contacts", "contacts": "Carlos"},
        {"id": "wamid.X", "from": LAURA, "type": "reaction", "reaction": {"emoji": None}},
        {"id": "wamid.X", "from": LAURA, "type": ["text"], "timestamp": {"t": 1}},
        {"id": "wamid.X", "from": LAURA, "type": "text", "context": "x", "referral": 5, "errors": "boom"},
    ],
)
def test_wrongly_typed_message_parts_never_raise(message: dict[str, Any]) -> None:
    payload = load_fixture("meta", "message__text")
    payload["entry"][0]["changes"][0]["value"]["messages"] = [message]
    result = MetaProvider.parse(payload)
    assert len(result.events) == 1
    assert result.events[0].provider_message_id == "wamid.X"


def test_interactive_reply_of_unknown_subtype_is_unsupported() -> None:
    payload = load_fixture("meta", "message__interactive_button_reply")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"] = {"type": "carousel_reply"}
    result = MetaProvider.parse(payload)
    (event,) = result.events
    assert isinstance(event, InboundMessage)
    assert (event.kind, event.unknown) == ("unsupported", True)
    assert "unknown interactive type 'carousel_reply'" in result.problems[0]


def test_removed_reaction_has_empty_emoji() -> None:
    payload = load_fixture("meta", "message__reaction")
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["emoji"]
    (event,) = MetaProvider.parse(payload).events
    assert isinstance(event, InboundMessage)
    assert event.data == {"message_id": BUSINESS_MSG, "emoji": ""}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        1,
        "x",
        [],
        {},
        {"entry": "x"},
        {"object": "whatsapp_business_account", "entry": "x"},
        {"object": "whatsapp_business_account", "entry": []},
        {"object": "whatsapp_business_account", "entry": [None, 3, []]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [None, {"field": "messages", "value": []}]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"metadata": {}}}]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"metadata": {"phone_number_id": PRIMARY}, "messages": {}}}]}],
        },
    ],
)
def test_garbage_never_raises_and_is_reported(payload: Any) -> None:
    result = MetaProvider.parse(payload)
    assert result.events == []
    assert result.problems


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)
MESSAGE_KEYS = st.sampled_from(
    [
        "id",
        "from",
        "from_user_id",
        "type",
        "timestamp",
        "text",
        "interactive",
        "button",
        "image",
        "audio",
        "document",
        "location",
        "contacts",
        "reaction",
        "system",
        "context",
        "referral",
        "errors",
    ]
)
MESSAGES = st.dictionaries(MESSAGE_KEYS, JSON_VALUES | st.sampled_from(["text", "image", "interactive"]))
VALUES = st.fixed_dictionaries(
    {"metadata": st.just({"phone_number_id": PRIMARY})},
    optional={
        "contacts": JSON_VALUES,
        "messages": st.lists(MESSAGES, max_size=3) | JSON_VALUES,
        "statuses": st.lists(st.dictionaries(st.sampled_from(["id", "status", "errors"]), JSON_VALUES)),
        "errors": JSON_VALUES,
    },
)
ENVELOPES = st.fixed_dictionaries(
    {
        "object": st.just("whatsapp_business_account"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {"changes": st.lists(st.fixed_dictionaries({"field": st.just("messages"), "value": VALUES}))}
            )
            | JSON_VALUES,
            max_size=3,
        ),
    }
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES | ENVELOPES)
def test_parse_never_raises_on_arbitrary_json(payload: Any) -> None:
    result = MetaProvider.parse(payload)
    for event in result.events:
        assert isinstance(event, InboundMessage | StatusUpdate | ProviderNotice)
    assert all(isinstance(problem, str) for problem in result.problems)


# ---------------------------------------------------------------------------- signatures

SECRET = "app-secret-de-prueba"
BODY = json.dumps(load_fixture("meta", "message__text")).encode()


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def provider(secret: str = SECRET) -> MetaProvider:
    return MetaProvider(ChannelConfig(provider="meta", external_id=PRIMARY, app_secret=secret))


@pytest.mark.parametrize(
    ("headers", "secret", "expected"),
    [
        ({"X-Hub-Signature-256": signed(BODY)}, SECRET, True),
        ({"x-hub-signature-256": signed(BODY)}, SECRET, True),
        ({"X-HUB-SIGNATURE-256": signed(BODY).upper().replace("SHA256=", "sha256=")}, SECRET, True),
        ({"HTTP_X_HUB_SIGNATURE_256": signed(BODY)}, SECRET, True),
        ({"X-Hub-Signature-256": signed(BODY, "otro-secreto")}, SECRET, False),
        ({"X-Hub-Signature-256": signed(BODY + b" ")}, SECRET, False),
        ({}, SECRET, False),
        ({"X-Hub-Signature": "sha1=" + hashlib.sha1(BODY).hexdigest()}, SECRET, False),  # noqa: S324
        ({"X-Hub-Signature-256": signed(BODY).replace("sha256=", "sha1=")}, SECRET, False),
        ({"X-Hub-Signature-256": signed(BODY).removeprefix("sha256=")}, SECRET, False),
        ({"X-Hub-Signature-256": "sha256=zz"}, SECRET, False),
        ({"X-Hub-Signature-256": ""}, SECRET, False),
        ({"X-Hub-Signature-256": signed(BODY, "")}, "", False),
    ],
    ids=[
        "good",
        "lowercase-header",
        "uppercase-header-and-hex",
        "django-meta-style",
        "wrong-secret",
        "body-changed",
        "missing",
        "only-sha1-header",
        "wrong-prefix",
        "no-prefix",
        "not-hex",
        "empty-header",
        "empty-secret",
    ],
)
def test_verify_signature(headers: dict[str, str], secret: str, expected: bool) -> None:
    assert provider(secret).verify_signature(body=BODY, headers=headers) is expected


def test_verify_signature_with_django_request_headers(rf: Any) -> None:
    request = rf.post(
        "/webhooks/meta", data=BODY, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signed(BODY)
    )
    assert provider().verify_signature(body=request.body, headers=request.headers) is True
    assert provider().verify_signature(body=request.body, headers=request.META) is True


def test_verify_signature_uses_raw_bytes_not_reserialized_json() -> None:
    raw = b'{"object":"whatsapp_business_account","entry":[{"t":"ma\\u00f1ana"}]}'
    header = {"X-Hub-Signature-256": signed(raw)}
    assert provider().verify_signature(body=raw, headers=header) is True
    assert provider().verify_signature(body=json.dumps(json.loads(raw)).encode(), headers=header) is False
