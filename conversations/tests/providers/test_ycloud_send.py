"""YCloudProvider's HTTP side against the local FakeYCloud server (real sockets, nothing patched),
and what the class answers for every YCloud channel."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conversations.fakes.server import FakeServer, Reply, json_reply
from conversations.fakes.ycloud import FakeYCloud
from conversations.providers.base import (
    NO_HANDSHAKE,
    ChannelConfig,
    ChannelDefaults,
    InboundMessage,
    MediaRef,
    OutboundMessage,
    OutboundValidationError,
    ProviderError,
    RateLimits,
    StatusUpdate,
    TemplateInfo,
)
from conversations.providers.meta import WINDOW_CLOSED, WINDOW_CLOSED_REASON, MetaProvider
from conversations.providers.ycloud import PAIR_RETRY_AFTER, YCloudProvider, is_transient, same_origin
from conversations.providers.ycloud.provider import TEMPLATES_MAX_PAGES, TEMPLATES_PAGE

BUSINESS = "+576015550100"
LAURA = "573001112233"
QUOTED = "wamid.HBgMNTczMDAxMTEyMjMzFQIAEhgUM0E01QjdGRjI4NzU2MEMyRDg0AA=="
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake_ycloud(settings: Any) -> Iterator[FakeYCloud]:
    """A running FakeYCloud (API key "TEST") with settings.YCLOUD_API_URL pointing at it."""
    with FakeYCloud(api_key="TEST") as server:
        settings.YCLOUD_API_URL = server.base_url
        yield server


@pytest.fixture
def config(fake_ycloud: FakeYCloud) -> ChannelConfig:
    return ChannelConfig(provider="ycloud", external_id=BUSINESS, access_token="TEST", base_url=fake_ycloud.base_url)


@pytest.fixture
def ycloud(config: ChannelConfig) -> YCloudProvider:
    return YCloudProvider(config)


def text(body: str = "Hola", *, to: str = LAURA, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(kind="text", to=to, text=body, **kwargs)


def media(kind: str, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(kind=kind, to=LAURA, **kwargs)


# ---------------------------------------------------------------------------- payloads on the wire

ENVELOPE = {"from": BUSINESS, "to": f"+{LAURA}"}

WIRE_CASES: list[tuple[str, OutboundMessage, dict[str, Any]]] = [
    (
        "text",
        text("Hola, ¿en qué te ayudo?"),
        {"type": "text", "text": {"preview_url": False, "body": "Hola, ¿en qué te ayudo?"}},
    ),
    (
        "text-reply-with-preview-and-callback",
        text(
            "Mirá https://acme.example.com", reply_to=QUOTED, preview_url=True, to="+573001112233", callback_data="m-7"
        ),
        {
            "type": "text",
            "text": {"preview_url": True, "body": "Mirá https://acme.example.com"},
            "context": {"message_id": QUOTED},
            "externalId": "m-7",
        },
    ),
    (
        "buttons",
        OutboundMessage(
            kind="buttons",
            to=LAURA,
            text="¿Confirmás el turno?",
            buttons=(("btn_yes", "Confirmar"), ("btn_no", "Cancelar")),
            footer="Acme Barbería",
        ),
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "¿Confirmás el turno?"},
                "footer": {"text": "Acme Barbería"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "btn_yes", "title": "Confirmar"}},
                        {"type": "reply", "reply": {"id": "btn_no", "title": "Cancelar"}},
                    ]
                },
            },
        },
    ),
    (
        "list",
        OutboundMessage(
            kind="list",
            to=LAURA,
            text="Elegí un servicio",
            list_button="Ver servicios",
            sections=(("", (("svc_45", "Corte de pelo", "45 min"),)),),
        ),
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Elegí un servicio"},
                "action": {
                    "button": "Ver servicios",
                    "sections": [{"rows": [{"id": "svc_45", "title": "Corte de pelo", "description": "45 min"}]}],
                },
            },
        },
    ),
    (
        "image-by-link",
        media("image", media_link="https://cdn.example.com/tarifas.png", caption="Tarifas"),
        {"type": "image", "image": {"link": "https://cdn.example.com/tarifas.png", "caption": "Tarifas"}},
    ),
    (
        "audio-voice-by-id",
        media("audio", media_id="1013859600285441", voice=True),
        {"type": "audio", "audio": {"id": "1013859600285441", "voice": True}},
    ),
    (
        "video-by-id",
        media("video", media_id="555", caption="Así quedó"),
        {"type": "video", "video": {"id": "555", "caption": "Así quedó"}},
    ),
    (
        "document-by-link",
        media("document", media_link="https://cdn.example.com/menu.pdf", filename="menu.pdf"),
        {"type": "document", "document": {"link": "https://cdn.example.com/menu.pdf", "filename": "menu.pdf"}},
    ),
    ("sticker-by-id", media("sticker", media_id="777"), {"type": "sticker", "sticker": {"id": "777"}}),
    (
        "template",
        OutboundMessage(
            kind="template",
            to=LAURA,
            template_name="recordatorio_turno",
            template_language="es_AR",
            template_components=({"type": "body", "parameters": [{"type": "text", "text": "Laura"}]},),
        ),
        {
            "type": "template",
            "template": {
                "name": "recordatorio_turno",
                "language": {"code": "es_AR"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Laura"}]}],
            },
        },
    ),
]


@pytest.mark.parametrize(("message", "expected"), [c[1:] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES])
def test_send_posts_ycloud_json_to_direct_send(
    ycloud: YCloudProvider, fake_ycloud: FakeYCloud, message: OutboundMessage, expected: dict[str, Any]
) -> None:
    result = ycloud.send(message)

    (request,) = fake_ycloud.sent
    assert request["json"] == {**ENVELOPE, **expected}
    assert request["path"] == "/whatsapp/messages/sendDirectly"
    assert request["headers"]["x-api-key"] == "TEST"
    assert "authorization" not in request["headers"]
    assert request["headers"]["content-type"] == "application/json"
    assert result.provider_message_id == request["wamid"]  # the wamid: what quotes and status webhooks name
    assert result.raw["wamid"] == request["wamid"]


def test_build_payload_is_metas_content_under_ycloud_envelope(ycloud: YCloudProvider) -> None:
    meta = MetaProvider(ChannelConfig(provider="meta", external_id="1")).build_payload(text("Hola"))
    ours = ycloud.build_payload(text("Hola"))
    assert ours == {"from": BUSINESS, "to": f"+{LAURA}", "type": "text", "text": meta["text"]}


def test_a_sender_number_without_plus_is_sent_in_e164(config: ChannelConfig, fake_ycloud: FakeYCloud) -> None:
    YCloudProvider(replace(config, external_id="576015550100")).send(text())
    assert fake_ycloud.sent[0]["json"]["from"] == BUSINESS


def test_base_url_defaults_to_settings_and_may_carry_v2(fake_ycloud: FakeYCloud, settings: Any) -> None:
    settings.YCLOUD_API_URL = f"{fake_ycloud.base_url}/v2/"
    YCloudProvider(ChannelConfig(provider="ycloud", external_id=BUSINESS, access_token="TEST")).send(text())
    assert fake_ycloud.sent[0]["path"] == "/v2/whatsapp/messages/sendDirectly"


def test_sends_reuse_one_keep_alive_connection(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    ids = {ycloud.send(text(f"Mensaje {n}")).provider_message_id for n in range(5)}
    assert len(ids) == 5
    assert fake_ycloud.connections_opened == 1


# ---------------------------------------------------------------------------- refused before any request


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (text("a" * 4097), "is 4097 characters; WhatsApp allows 4096"),
        (
            OutboundMessage(kind="buttons", to=LAURA, text="¿?", buttons=tuple((f"b{n}", f"O{n}") for n in range(4))),
            "buttons: 4 given; WhatsApp allows 1 to 3",
        ),
        (media("audio", media_id="1", caption="Escuchá"), "audio cannot have a caption"),
        (text(to="laura"), "recipient 'laura' must be 6 to 20 digits"),
        (OutboundMessage(kind="carousel", to=LAURA), "unknown outbound kind 'carousel'"),
        (text(callback_data="x" * 513), "is 513 characters; WhatsApp allows 512"),
    ],
    ids=["text-too-long", "four-buttons", "audio-caption", "bad-recipient", "unknown-kind", "callback-too-long"],
)
def test_whatsapps_limits_are_checked_before_sending(
    ycloud: YCloudProvider, fake_ycloud: FakeYCloud, message: OutboundMessage, words: str
) -> None:
    with pytest.raises(OutboundValidationError, match=words):
        ycloud.send(message)
    assert fake_ycloud.requests == []


@pytest.mark.parametrize("number", ["", "   "])
def test_no_sender_number_is_a_clear_permanent_error(
    config: ChannelConfig, fake_ycloud: FakeYCloud, number: str
) -> None:
    provider = YCloudProvider(replace(config, external_id=number))
    with pytest.raises(OutboundValidationError, match="YCLOUD_WHATSAPP_NUMBER"):
        provider.build_payload(text())
    with pytest.raises(ProviderError) as caught:
        provider.send(text())
    assert (caught.value.code, caught.value.transient) == ("no_sender_number", False)
    assert "YCLOUD_WHATSAPP_NUMBER" in caught.value.message
    with pytest.raises(ProviderError, match="YCLOUD_WHATSAPP_NUMBER"):
        provider.upload_media(content=b"x", mime_type="image/png", filename="a.png")
    assert fake_ycloud.requests == [] and fake_ycloud.uploads == []


def test_a_sender_that_is_not_a_number_is_refused_in_words(config: ChannelConfig) -> None:
    provider = YCloudProvider(replace(config, external_id="ventas-bogota"))
    with pytest.raises(OutboundValidationError, match=re.escape("'ventas-bogota' is not an E.164 number")):
        provider.build_payload(text())
    with pytest.raises(ProviderError) as caught:
        provider.send(text())
    assert caught.value.code == "no_sender_number"


def test_missing_api_key_fails_before_any_request(config: ChannelConfig, fake_ycloud: FakeYCloud) -> None:
    with pytest.raises(ProviderError) as caught:
        YCloudProvider(replace(config, access_token="")).send(text())
    assert (caught.value.code, caught.value.transient) == ("config", False)
    assert fake_ycloud.requests == []


def test_media_path_must_be_uploaded_first(ycloud: YCloudProvider) -> None:
    with pytest.raises(OutboundValidationError, match="media_path must be uploaded"):
        ycloud.send(media("image", media_path="outbound/tarifas.png"))


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "expected_code", "transient", "expected_retry"),
    [
        (429, "131056", None, "131056", True, PAIR_RETRY_AFTER),
        (429, "131056", 2.0, "131056", True, 2.0),
        (429, "TOO_MANY_REQUESTS", 3.0, "TOO_MANY_REQUESTS", True, 3.0),
        (400, "130429", None, "130429", True, None),
        (500, "INTERNAL_ERROR", None, "INTERNAL_ERROR", True, None),
        (502, "BAD_GATEWAY", None, "BAD_GATEWAY", True, None),
        (400, "131047", None, WINDOW_CLOSED, False, None),
        (400, "131026", None, "131026", False, None),
        (402, "BALANCE_INSUFFICIENT", None, "BALANCE_INSUFFICIENT", False, None),
        (400, "PARAM_INVALID", None, "PARAM_INVALID", False, None),
        (401, "UNAUTHORIZED", None, "UNAUTHORIZED", False, None),
        (403, "ACCOUNT_LIMITED", None, "ACCOUNT_LIMITED", False, None),
        (404, "NOT_FOUND", None, "NOT_FOUND", False, None),
        (409, "SOMETHING_NEW", None, "SOMETHING_NEW", False, None),
    ],
)
def test_send_errors_are_classified(
    ycloud: YCloudProvider,
    fake_ycloud: FakeYCloud,
    status: int,
    code: str,
    retry_after: float | None,
    expected_code: str,
    transient: bool,
    expected_retry: float | None,
) -> None:
    fake_ycloud.fail_next(status, code, retry_after=retry_after)
    with pytest.raises(ProviderError) as caught:
        ycloud.send(text())
    error = caught.value
    assert (error.code, error.transient, error.http_status, error.retry_after) == (
        expected_code,
        transient,
        status,
        expected_retry,
    )
    assert error.message.startswith("send failed: ")
    assert error.raw["error"]["status"] == status
    assert ycloud.send(text()).provider_message_id == fake_ycloud.sent[0]["wamid"]  # only the next one failed


def test_metas_refusal_is_reported_with_its_details(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    fake_ycloud.fail_next(400, "131047", details="More than 24 hours have passed since the customer last replied.")
    with pytest.raises(ProviderError) as caught:
        ycloud.send(text())
    assert caught.value.message == (
        "send failed: (#131047) Re-engagement message: More than 24 hours have passed since the customer last replied."
    )
    assert caught.value.raw["error"]["whatsappApiError"]["code"] == "131047"


def test_a_page_that_is_not_json_is_classified_by_status(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    fake_ycloud.fail_next(503, body=b"<html>Service Unavailable</html>", retry_after=7)
    with pytest.raises(ProviderError) as caught:
        ycloud.send(text())
    assert (caught.value.code, caught.value.transient, caught.value.retry_after) == ("http_503", True, 7.0)
    assert caught.value.raw == {"body": "<html>Service Unavailable</html>"}


def test_a_wrong_api_key_is_permanent(config: ChannelConfig, fake_ycloud: FakeYCloud) -> None:
    with pytest.raises(ProviderError) as caught:
        YCloudProvider(replace(config, access_token="WRONG")).send(text())
    assert (caught.value.code, caught.value.transient, caught.value.http_status) == ("UNAUTHORIZED", False, 401)


def test_an_answer_without_id_is_a_malformed_response(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    fake_ycloud.fail_next(200, body={"status": "accepted"})
    with pytest.raises(ProviderError) as caught:
        ycloud.send(text())
    assert (caught.value.code, caught.value.transient) == ("malformed_response", False)


def test_connection_refused_is_transient(config: ChannelConfig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        YCloudProvider(replace(config, base_url=f"http://127.0.0.1:{port}")).send(text())
    assert (caught.value.code, caught.value.transient) == ("network", True)


def test_a_timeout_is_transient(config: ChannelConfig, settings: Any) -> None:
    settings.PROVIDER_HTTP_TIMEOUT = 0.05
    with FakeYCloud(api_key="TEST", latency=0.5) as slow, pytest.raises(ProviderError) as caught:
        YCloudProvider(replace(config, base_url=slow.base_url)).send(text())
    assert (caught.value.code, caught.value.transient) == ("network", True)


def test_a_bad_base_url_is_the_channels_configuration(config: ChannelConfig) -> None:
    with pytest.raises(ProviderError) as caught:
        YCloudProvider(replace(config, base_url="api.ycloud.com/v2")).send(text())
    assert (caught.value.code, caught.value.transient) == ("config", False)


def test_transience_table_prefers_known_codes_then_the_status() -> None:
    assert is_transient("131056", 400) and not is_transient("131047", 429)
    assert is_transient("TOO_MANY_REQUESTS", None) and not is_transient("BALANCE_INSUFFICIENT", 500)
    assert is_transient("ANYTHING", 503) and not is_transient("ANYTHING", 400)


# ---------------------------------------------------------------------------- media


def test_upload_media_posts_the_file_for_the_number(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    media_id = ycloud.upload_media(content=b"%PDF-1.7 carta", mime_type="application/pdf", filename="carta.pdf")

    (upload,) = fake_ycloud.uploads
    assert (upload["media_id"], upload["number"], upload["filename"]) == (media_id, BUSINESS, "carta.pdf")
    assert (upload["mime_type"], upload["content"]) == ("application/pdf", b"%PDF-1.7 carta")
    fetched = ycloud.fetch_media(MediaRef(media_id=media_id), max_bytes=1000)  # the fake serves it back
    assert fetched.content == b"%PDF-1.7 carta"


def test_fetch_media_by_link_sends_the_key_to_the_api_and_checks_the_sha256(
    ycloud: YCloudProvider, fake_ycloud: FakeYCloud
) -> None:
    content = b"OggS voice note"
    fake_ycloud.add_media("1261298451478962", content, "audio/ogg")
    ref = MediaRef(
        media_id="1261298451478962",
        url=fake_ycloud.media_url("1261298451478962"),
        sha256=hashlib.sha256(content).hexdigest(),
        mime_type="audio/ogg; codecs=opus",
        filename="",
    )

    fetched = ycloud.fetch_media(ref, max_bytes=1000)

    assert (fetched.content, fetched.mime_type, fetched.checksum_error) == (content, "audio/ogg; codecs=opus", "")
    assert fetched.sha256 == hashlib.sha256(content).hexdigest()
    assert fetched.original_url == ref.url
    (download,) = fake_ycloud.downloads
    assert download["authorized"] and download["headers"]["x-api-key"] == "TEST"


def test_fetch_media_accepts_a_base64_sha256(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    import base64

    content = b"\xff\xd8\xff jpeg"
    fake_ycloud.add_media("1013859600285441", content, "image/jpeg")
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    ref = MediaRef(media_id="1013859600285441", url=fake_ycloud.media_url("1013859600285441"), sha256=digest)
    fetched = ycloud.fetch_media(ref, max_bytes=1000)
    assert (fetched.checksum_error, fetched.mime_type) == ("", "image/jpeg")


def test_fetch_media_keeps_a_file_whose_checksum_differs(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    fake_ycloud.add_media("55", b"real bytes", "image/png")
    ref = MediaRef(media_id="55", url=fake_ycloud.media_url("55"), sha256="0" * 64)
    fetched = ycloud.fetch_media(ref, max_bytes=1000)
    assert fetched.content == b"real bytes"
    assert fetched.checksum_error.startswith("media sha256 mismatch")


def test_fetch_media_without_link_downloads_by_id(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    fake_ycloud.add_media("908765432109876", b"mp4", "video/mp4")
    fetched = ycloud.fetch_media(MediaRef(media_id="908765432109876"), max_bytes=1000)
    assert (fetched.content, fetched.mime_type) == (b"mp4", "video/mp4")
    assert fetched.original_url == f"{fake_ycloud.base_url}/whatsapp/media/download/908765432109876"


class _PublicFiles(FakeServer):
    """Another host serving files to anyone, recording what each request carried."""

    thread_name = "fake-public-files"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, str]] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        self.seen.append(headers)
        return Reply(status=200, body=b"public bytes", content_type="image/jpeg")


def test_a_link_on_another_host_gets_no_api_key(ycloud: YCloudProvider) -> None:
    with _PublicFiles() as other:
        fetched = ycloud.fetch_media(MediaRef(url=f"{other.base_url}/ads/anuncio.jpg"), max_bytes=1000)
    assert fetched.content == b"public bytes"
    (headers,) = other.seen
    assert "x-api-key" not in headers and "authorization" not in headers


def test_same_origin_compares_scheme_host_and_port() -> None:
    base = "https://api.ycloud.com/v2"
    assert same_origin("https://api.ycloud.com/v2/whatsapp/media/download/1", base)
    assert same_origin("HTTPS://API.YCLOUD.COM/other", base)
    assert not same_origin("http://api.ycloud.com/v2/whatsapp/media/download/1", base)
    assert not same_origin("https://api.ycloud.com.evil.example/v2", base)
    assert not same_origin("https://api.ycloud.com:8443/v2", base)
    assert not same_origin("https://cdn.example.com/a.jpg", "")


@pytest.mark.parametrize(
    ("setup", "code", "transient"),
    [
        ("unknown", "NOT_FOUND", False),
        ("failing", "SERVICE_UNAVAILABLE", True),
        ("too-large", "media_too_large", False),
    ],
)
def test_fetch_media_failures_are_classified(
    ycloud: YCloudProvider, fake_ycloud: FakeYCloud, setup: str, code: str, transient: bool
) -> None:
    if setup == "failing":
        fake_ycloud.add_media("77", b"x", "image/png", failing_downloads=1)
    elif setup == "too-large":
        fake_ycloud.add_media("77", b"x" * 2000, "image/png")
    with pytest.raises(ProviderError) as caught:
        ycloud.fetch_media(MediaRef(media_id="77", url=fake_ycloud.media_url("77")), max_bytes=1000)
    assert (caught.value.code, caught.value.transient) == (code, transient)


def test_fetch_media_without_any_reference_is_permanent(ycloud: YCloudProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        ycloud.fetch_media(MediaRef(), max_bytes=1000)
    assert (caught.value.code, caught.value.transient) == ("no_media", False)


# ---------------------------------------------------------------------------- mark read and templates


def test_mark_read_names_the_message_in_the_path(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    ycloud.mark_read(QUOTED)
    assert fake_ycloud.read_marks == [QUOTED]


def test_mark_read_failures_raise(config: ChannelConfig, fake_ycloud: FakeYCloud) -> None:
    with pytest.raises(ProviderError) as caught:
        YCloudProvider(replace(config, access_token="WRONG")).mark_read(QUOTED)
    assert (caught.value.code, caught.value.transient) == ("UNAUTHORIZED", False)
    with pytest.raises(OutboundValidationError):
        YCloudProvider(config).mark_read(" ")


def template(n: int, waba: str = "102290129340398") -> dict[str, Any]:
    return {
        "wabaId": waba,
        "officialTemplateId": f"9{n:05d}",
        "name": f"plantilla_{n}",
        "language": "es_AR",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [{"type": "BODY", "text": f"Hola {{{{1}}}}, mensaje {n}"}],
    }


def test_list_templates_follows_the_pages_of_the_channels_account(
    config: ChannelConfig, fake_ycloud: FakeYCloud
) -> None:
    fake_ycloud.add_templates([template(n) for n in range(TEMPLATES_PAGE + 20)] + [template(999, waba="otra")])
    provider = YCloudProvider(replace(config, business_account_id="102290129340398"))

    templates = provider.list_templates()

    assert len(templates) == TEMPLATES_PAGE + 20
    assert fake_ycloud.template_pages_served == 2
    assert templates[0] == TemplateInfo(
        name="plantilla_0",
        language="es_AR",
        status="APPROVED",
        category="UTILITY",
        components=({"type": "BODY", "text": "Hola {{1}}, mensaje 0"},),
        provider_template_id="900000",
    )


def test_list_templates_without_a_waba_lists_the_whole_account(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    fake_ycloud.add_templates([template(1), template(2, waba="otra"), {"name": "sin_idioma"}])
    assert [t.name for t in ycloud.list_templates()] == ["plantilla_1", "plantilla_2"]


class _EndlessTemplates(FakeServer):
    """A server whose template list never ends (a paging bug on the other side)."""

    thread_name = "fake-endless-templates"

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        self.pages += 1
        items = [template(0)] * TEMPLATES_PAGE
        return json_reply(200, {"items": items, "offset": 0, "limit": TEMPLATES_PAGE, "length": TEMPLATES_PAGE})


def test_list_templates_stops_at_the_page_guard(config: ChannelConfig) -> None:
    with _EndlessTemplates() as endless:
        templates = YCloudProvider(replace(config, base_url=endless.base_url)).list_templates()
    assert endless.pages == TEMPLATES_MAX_PAGES
    assert len(templates) == TEMPLATES_MAX_PAGES * TEMPLATES_PAGE


# ---------------------------------------------------------------------------- webhooks from the fake


def test_the_fakes_signed_deliveries_verify_and_parse(ycloud: YCloudProvider, fake_ycloud: FakeYCloud) -> None:
    provider = YCloudProvider(replace(ycloud.config, app_secret=fake_ycloud.webhook_secret))
    result = provider.send(text(callback_data="msg-31"))
    send = fake_ycloud.wait_for_sent(1)[0]

    body, headers = fake_ycloud.signed_delivery(fake_ycloud.status_event(send, "delivered"))
    assert provider.verify_signature(body=body, headers=headers)
    (status,) = provider.parse(json.loads(body)).events
    assert isinstance(status, StatusUpdate)
    assert (status.provider_message_id, status.status, status.callback_data) == (
        result.provider_message_id,
        "delivered",
        "msg-31",
    )
    assert (status.channel_external_id, status.recipient_id) == (BUSINESS, LAURA)

    body, headers = fake_ycloud.signed_delivery(fake_ycloud.inbound_text_event("Gracias!", context_id=send["wamid"]))
    assert provider.verify_signature(body=body, headers=headers)
    (message,) = provider.parse(json.loads(body)).events
    assert isinstance(message, InboundMessage)
    assert (message.text, message.reply_to, message.contact_external_id) == ("Gracias!", send["wamid"], LAURA)

    body, headers = fake_ycloud.signed_delivery(fake_ycloud.inbound_text_event("viejo"), timestamp=1_000_000_000)
    assert not provider.verify_signature(body=body, headers=headers)


# ---------------------------------------------------------------------------- what the class answers


def test_defaults_are_the_ycloud_environment(settings: Any) -> None:
    settings.YCLOUD_WHATSAPP_NUMBER, settings.YCLOUD_API_KEY = "+576015550100", "env-key"
    settings.YCLOUD_WEBHOOK_SECRET, settings.YCLOUD_API_URL = "whsec_env", "https://api.ycloud.com/v2"
    assert YCloudProvider.channel_defaults() == ChannelDefaults(
        external_id="+576015550100",
        access_token="env-key",
        app_secret="whsec_env",
        base_url="https://api.ycloud.com/v2",
    )
    assert YCloudProvider.required_credentials == ("access_token",)


@pytest.mark.django_db
def test_the_environment_covers_its_ycloud_number(settings: Any) -> None:
    from conversations.services.channels import environment_covers

    settings.YCLOUD_API_KEY, settings.YCLOUD_WHATSAPP_NUMBER = "env-key", "+576015550100"
    assert environment_covers(provider="ycloud", external_id="+576015550100")
    assert not environment_covers(provider="ycloud", external_id="+576015550199")
    settings.YCLOUD_API_KEY = ""
    assert not environment_covers(provider="ycloud", external_id="+576015550100")


def test_rate_limits_are_ycloud_settings_and_metas_pair_limit(settings: Any) -> None:
    settings.YCLOUD_RATE_PER_SECOND, settings.YCLOUD_NUMBER_LIMIT_PER_SECOND = 40.0, 42
    settings.OUTBOUND_RATE_BURST = 2.0
    settings.OUTBOUND_PAIR_INTERVAL_SECONDS, settings.OUTBOUND_PAIR_BURST = 3.0, 4.0
    assert YCloudProvider.rate_limits() == RateLimits(
        number_rate=40.0, number_burst=2.0, number_limit=42, pair_interval=3.0, pair_burst=4.0
    )


def test_the_window_is_metas_and_templates_always_go() -> None:
    assert YCloudProvider.service_window() == timedelta(hours=24)
    closed = YCloudProvider.window_refusal(message=text(), last_inbound_at=NOW - timedelta(hours=24), now=NOW)
    assert closed is not None
    assert (closed.code, closed.message, closed.transient) == (WINDOW_CLOSED, WINDOW_CLOSED_REASON, False)
    assert YCloudProvider.window_refusal(message=text(), last_inbound_at=NOW - timedelta(hours=23), now=NOW) is None
    template_message = OutboundMessage(kind="template", to=LAURA, template_name="hola")
    assert YCloudProvider.window_refusal(message=template_message, last_inbound_at=None, now=NOW) is None


def test_there_is_no_webhook_handshake() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
    assert YCloudProvider.webhook_handshake(params=params, verify_tokens=("x",)) == NO_HANDSHAKE
