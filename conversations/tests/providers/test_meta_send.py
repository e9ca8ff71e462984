"""MetaProvider's HTTP side against the local FakeGraph server (real sockets, nothing patched)."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
from dataclasses import replace
from typing import Any

import pytest

from conversations.fakes.graph import FakeGraph
from conversations.providers import http as provider_http
from conversations.providers.base import (
    ChannelConfig,
    MediaRef,
    OutboundMessage,
    OutboundValidationError,
    ProviderError,
)
from conversations.providers.meta import (
    MetaProvider,
    build_message_payload,
    environ_proxies,
    is_transient,
    parse_retry_after,
)

PRIMARY = "106540352242922"
LAURA = "573001112233"
QUOTED = "wamid.HBgMNTczMDAxMTEyMjMzFQIAEhgUM0E01QjdGRjI4NzU2MEMyRDg0AA=="


@pytest.fixture
def config(fake_graph: FakeGraph) -> ChannelConfig:
    return ChannelConfig(
        provider="meta", external_id=PRIMARY, access_token="TEST", base_url=fake_graph.base_url, api_version="v25.0"
    )


@pytest.fixture
def meta(config: ChannelConfig) -> MetaProvider:
    return MetaProvider(config)


def text(body: str = "Hola", *, to: str = LAURA, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(kind="text", to=to, text=body, **kwargs)


def buttons(*pairs: tuple[str, str], body: str = "¿Confirmás el turno?", **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(kind="buttons", to=LAURA, text=body, buttons=pairs, **kwargs)


SERVICES = (
    (
        "Cortes",
        (("svc_haircut_45", "Corte de pelo", "45 min · $25"), ("svc_kids_30", "Corte niños", "30 min · $18")),
    ),
    ("Barba", (("svc_beard_30", "Perfilado de barba", "30 min · $15"),)),
)


def menu(sections: Any = SERVICES, *, label: str = "Ver servicios", **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(
        kind="list", to=LAURA, text="Elegí un servicio", list_button=label, sections=sections, **kwargs
    )


def rows(count: int, prefix: str = "r") -> tuple[tuple[str, str, str], ...]:
    return tuple((f"{prefix}{n}", f"Opción {n}", "") for n in range(count))


def media(kind: str, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(kind=kind, to=LAURA, **kwargs)


# ---------------------------------------------------------------------------- payloads on the wire

ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": LAURA}

WIRE_CASES: list[tuple[str, OutboundMessage, dict[str, Any]]] = [
    (
        "text",
        text("Hola, ¿en qué te ayudo?"),
        {"type": "text", "text": {"preview_url": False, "body": "Hola, ¿en qué te ayudo?"}},
    ),
    (
        "text-reply-with-preview",
        text("Mirá https://acme.example.com", reply_to=QUOTED, preview_url=True, to="+573001112233"),
        {
            "type": "text",
            "text": {"preview_url": True, "body": "Mirá https://acme.example.com"},
            "context": {"message_id": QUOTED},
        },
    ),
    (
        "buttons",
        buttons(
            ("btn_confirm_booking", "Confirmar"),
            ("btn_reschedule", "Cambiar horario"),
            ("btn_cancel", "Cancelar"),
            body="¿Confirmás el turno del martes 10:00?",
            header="Reserva",
            footer="Acme Barbería",
        ),
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "text", "text": "Reserva"},
                "body": {"text": "¿Confirmás el turno del martes 10:00?"},
                "footer": {"text": "Acme Barbería"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "btn_confirm_booking", "title": "Confirmar"}},
                        {"type": "reply", "reply": {"id": "btn_reschedule", "title": "Cambiar horario"}},
                        {"type": "reply", "reply": {"id": "btn_cancel", "title": "Cancelar"}},
                    ]
                },
            },
        },
    ),
    (
        "list",
        menu(header="Servicios", footer="Precios con IVA"),
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Servicios"},
                "body": {"text": "Elegí un servicio"},
                "footer": {"text": "Precios con IVA"},
                "action": {
                    "button": "Ver servicios",
                    "sections": [
                        {
                            "title": "Cortes",
                            "rows": [
                                {"id": "svc_haircut_45", "title": "Corte de pelo", "description": "45 min · $25"},
                                {"id": "svc_kids_30", "title": "Corte niños", "description": "30 min · $18"},
                            ],
                        },
                        {
                            "title": "Barba",
                            "rows": [
                                {"id": "svc_beard_30", "title": "Perfilado de barba", "description": "30 min · $15"}
                            ],
                        },
                    ],
                },
            },
        },
    ),
    (
        "list-one-untitled-section",
        menu(((("", (("a", "Sí", ""), ("b", "No", "")))),)),
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Elegí un servicio"},
                "action": {
                    "button": "Ver servicios",
                    "sections": [{"rows": [{"id": "a", "title": "Sí"}, {"id": "b", "title": "No"}]}],
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
        "audio-by-id",
        media("audio", media_id="1013859600285441"),
        {"type": "audio", "audio": {"id": "1013859600285441"}},
    ),
    (
        "document-by-link",
        media("document", media_link="https://cdn.example.com/menu.pdf", filename="menu.pdf", caption="Nuestra carta"),
        {
            "type": "document",
            "document": {
                "link": "https://cdn.example.com/menu.pdf",
                "caption": "Nuestra carta",
                "filename": "menu.pdf",
            },
        },
    ),
    (
        "video-by-id",
        media("video", media_id="555", caption="Así quedó"),
        {"type": "video", "video": {"id": "555", "caption": "Así quedó"}},
    ),
    ("sticker-by-id", media("sticker", media_id="777"), {"type": "sticker", "sticker": {"id": "777"}}),
    (
        "template",
        OutboundMessage(
            kind="template",
            to=LAURA,
            template_name="recordatorio_turno",
            template_language="es_AR",
            template_components=(
                {"type": "body", "parameters": [{"type": "text", "text": "Laura"}, {"type": "text", "text": "10:00"}]},
            ),
        ),
        {
            "type": "template",
            "template": {
                "name": "recordatorio_turno",
                "language": {"code": "es_AR"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Laura"}, {"type": "text", "text": "10:00"}],
                    }
                ],
            },
        },
    ),
    (
        "template-without-components",
        OutboundMessage(kind="template", to=LAURA, template_name="hello_world"),
        {"type": "template", "template": {"name": "hello_world", "language": {"code": "es"}}},
    ),
]


@pytest.mark.parametrize(("message", "expected"), [c[1:] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES])
def test_send_posts_metas_exact_json(
    meta: MetaProvider, fake_graph: FakeGraph, message: OutboundMessage, expected: dict[str, Any]
) -> None:
    result = meta.send(message)

    (request,) = fake_graph.sent
    assert request["json"] == {**ENVELOPE, **expected}
    assert request["path"] == f"/v25.0/{PRIMARY}/messages"
    assert request["headers"]["authorization"] == "Bearer TEST"
    assert request["headers"]["content-type"] == "application/json"
    assert result.provider_message_id == request["wamid"]
    assert result.raw["messages"][0]["id"] == request["wamid"]


def test_base_url_and_version_default_to_settings(fake_graph: FakeGraph, settings: Any) -> None:
    settings.META_API_VERSION = "v99.0"
    provider = MetaProvider(ChannelConfig(provider="meta", external_id=PRIMARY, access_token="TEST"))

    provider.send(text())

    assert fake_graph.sent[0]["path"] == f"/v99.0/{PRIMARY}/messages"


def test_sends_reuse_one_keep_alive_connection(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    ids = {meta.send(text(f"Mensaje {n}")).provider_message_id for n in range(5)}
    assert len(ids) == 5
    assert fake_graph.connections_opened == 1


def test_concurrent_sends_from_many_threads(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            message_id = meta.send(text(f"hilo {n} mensaje {i}")).provider_message_id
            with lock:
                results.append(message_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(set(results)) == 40
    assert sorted(entry["wamid"] for entry in fake_graph.sent) == sorted(results)


def test_missing_token_fails_before_any_request(config: ChannelConfig, fake_graph: FakeGraph) -> None:
    with pytest.raises(ProviderError) as caught:
        MetaProvider(replace(config, access_token="")).send(text())
    assert (caught.value.code, caught.value.transient) == ("config", False)
    assert fake_graph.requests == []


# ---------------------------------------------------------------------------- validation

LONG = "x" * 30
VALIDATION_CASES: list[tuple[str, OutboundMessage, str]] = [
    ("text-empty", text(""), "text body is empty; WhatsApp requires 1 to 4096 characters"),
    ("text-blank", text("   "), "text body is empty"),
    ("text-too-long", text("a" * 4097), "is 4097 characters; WhatsApp allows 4096"),
    ("buttons-none", buttons(), "buttons: 0 given; WhatsApp allows 1 to 3"),
    (
        "buttons-four",
        buttons(*[(f"b{n}", f"Opción {n}") for n in range(4)]),
        "buttons: 4 given; WhatsApp allows 1 to 3",
    ),
    (
        "button-title-too-long",
        buttons(("a", "Confirmar"), ("b", "Cambiar horario largo")),
        "button 2 title 'Cambiar horario largo' is 21 characters; WhatsApp allows 20",
    ),
    ("button-title-empty", buttons(("a", "")), "button 1 title is empty; WhatsApp requires 1 to 20 characters"),
    (
        "button-title-repeated",
        buttons(("a", "Sí"), ("b", "Sí")),
        "button 2 title 'Sí' repeats button 1 title; WhatsApp requires unique values",
    ),
    ("button-id-repeated", buttons(("a", "Sí"), ("a", "No")), "button 2 id 'a' repeats button 1 id"),
    ("button-id-empty", buttons(("", "Sí")), "button 1 id is empty"),
    ("button-id-too-long", buttons(("i" * 257, "Sí")), "button 1 id 'iiii"),
    ("button-id-spaces", buttons((" a", "Sí")), "button 1 id ' a' has leading or trailing spaces"),
    ("button-not-a-pair", buttons(("a",)), "button 1 must be a tuple of 2 strings"),  # type: ignore[arg-type]
    ("buttons-body-missing", buttons(("a", "Sí"), body=""), "body text is empty; WhatsApp requires 1 to 1024"),
    ("buttons-body-too-long", buttons(("a", "Sí"), body="b" * 1025), "is 1025 characters; WhatsApp allows 1024"),
    ("buttons-header-too-long", buttons(("a", "Sí"), header="h" * 61), "header 'hhh"),
    ("buttons-footer-too-long", buttons(("a", "Sí"), footer="f" * 61), "is 61 characters; WhatsApp allows 60"),
    ("list-label-empty", menu(label=""), "list button label is empty; WhatsApp requires 1 to 20"),
    ("list-label-too-long", menu(label="Ver todos los servicios"), "list button label 'Ver todos los servicios' is 23"),
    ("list-no-sections", menu(()), "sections: 0 given; WhatsApp allows 1 to 10"),
    (
        "list-eleven-sections",
        menu(tuple((f"S{n}", rows(1, f"s{n}-")) for n in range(11))),
        "sections: 11 given; WhatsApp allows 1 to 10",
    ),
    (
        "list-eleven-rows",
        menu((("A", rows(6, "a")), ("B", rows(5, "b")))),
        "rows across all sections: 11 given; WhatsApp allows 1 to 10",
    ),
    ("list-section-title-too-long", menu((("T" * 25, rows(1)),)), "section 1 title 'TTT"),
    (
        "list-section-title-missing",
        menu((("A", rows(1, "a")), ("", rows(1, "b")))),
        "section 2 title is empty; WhatsApp requires 1 to 24",
    ),
    ("list-section-without-rows", menu((("A", rows(1)), ("B", ()))), "section 2 has no rows"),
    ("list-row-id-too-long", menu((("A", (("i" * 201, "Uno", ""),)),)), "section 1 row 1 id 'iiii"),
    ("list-row-title-empty", menu((("A", (("a", "", ""),)),)), "section 1 row 1 title is empty"),
    (
        "list-row-title-too-long",
        menu((("A", (("a", "Corte de pelo y barba completo", ""),)),)),
        "section 1 row 1 title 'Corte de pelo y barba completo' is 30 characters; WhatsApp allows 24",
    ),
    (
        "list-row-description-too-long",
        menu((("A", (("a", "Uno", "d" * 73),)),)),
        "is 73 characters; WhatsApp allows 72",
    ),
    (
        "list-row-ids-repeated-across-sections",
        menu((("A", (("x", "Uno", ""),)), ("B", (("x", "Dos", ""),)))),
        "section 2 row 1 id 'x' repeats section 1 row 1 id",
    ),
    ("list-body-missing", replace(menu(), text=""), "body text is empty"),
    ("media-neither", media("image"), "image needs exactly one of media_id, media_link or media_path; got none"),
    (
        "media-both",
        media("video", media_id="1", media_link="https://cdn.example.com/v.mp4"),
        "video needs exactly one of media_id, media_link or media_path; got several",
    ),
    ("media-ftp-link", media("document", media_link="ftp://cdn.example.com/a.pdf"), "must be an http(s) URL"),
    ("media-relative-link", media("image", media_link="/static/a.png"), "must be an http(s) URL"),
    (
        "audio-caption",
        media("audio", media_id="1", caption="Escuchá"),
        "audio cannot have a caption; only image, video and document can",
    ),
    ("sticker-caption", media("sticker", media_id="1", caption="Hola"), "sticker cannot have a caption"),
    ("caption-too-long", media("image", media_id="1", caption="c" * 1025), "is 1025 characters; WhatsApp allows 1024"),
    ("to-letters", text(to="laura"), "recipient 'laura' must be 6 to 20 digits"),
    ("to-too-short", text(to="12345"), "recipient '12345' must be 6 to 20 digits"),
    ("to-too-long", text(to="1" * 21), "must be 6 to 20 digits"),
    ("to-spaces", text(to="+57 300 111 2233"), "must be 6 to 20 digits"),
    ("to-empty", text(to=""), "recipient '' must be 6 to 20 digits"),
    ("to-two-plus", text(to="++573001112233"), "must be 6 to 20 digits"),
    ("unknown-kind", OutboundMessage(kind="carousel", to=LAURA), "unknown outbound kind 'carousel'"),
    (
        "template-bad-name",
        OutboundMessage(kind="template", to=LAURA, template_name="Recordatorio Turno"),
        "template name 'Recordatorio Turno' must be 1 to 512 lowercase letters",
    ),
    (
        "template-no-language",
        OutboundMessage(kind="template", to=LAURA, template_name="hola", template_language=""),
        "template language is empty",
    ),
    (
        "template-bad-component",
        OutboundMessage(kind="template", to=LAURA, template_name="hola", template_components=("body",)),  # type: ignore[arg-type]
        "template component 1 must be an object",
    ),
]


@pytest.mark.parametrize(("message", "error"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES])
def test_limits_are_checked_before_anything_is_sent(
    meta: MetaProvider, fake_graph: FakeGraph, message: OutboundMessage, error: str
) -> None:
    with pytest.raises(OutboundValidationError, match=re.escape(error)):
        build_message_payload(message)
    with pytest.raises(OutboundValidationError, match=re.escape(error)):
        meta.send(message)
    assert fake_graph.requests == []


def test_limits_at_their_edges_are_accepted(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    edge_cases = [
        text("a" * 4096),
        buttons(("i" * 256, "t" * 20), ("b", "Dos"), ("c", "Tres"), body="b" * 1024, header="h" * 60, footer="f" * 60),
        menu((("T" * 24, (("i" * 200, "t" * 24, "d" * 72), *rows(9))),), label="l" * 20),
        menu(tuple((f"S{n}", rows(1, f"s{n}-")) for n in range(10))),
        media("image", media_id="1", caption="c" * 1024),
        text(to="123456"),
        text(to="1" * 20),
    ]
    for message in edge_cases:
        meta.send(message)
    assert len(fake_graph.sent) == len(edge_cases)


# ---------------------------------------------------------------------------- errors

ERROR_CASES: list[tuple[str, dict[str, Any], str, bool]] = [
    ("http-500", {"http_status": 500, "code": 1}, "1", True),
    ("http-503-code-2", {"http_status": 503, "code": 2}, "2", True),
    ("http-429", {"http_status": 429, "code": 80007}, "80007", True),
    ("http-429-unknown-code", {"http_status": 429, "code": 613}, "613", True),
    ("throughput-130429", {"http_status": 400, "code": 130429}, "130429", True),
    ("pair-limit-131056", {"http_status": 400, "code": 131056}, "131056", True),
    ("generic-131000", {"http_status": 500, "code": 131000}, "131000", True),
    ("app-limit-4", {"http_status": 400, "code": 4}, "4", True),
    ("window-closed-131047", {"http_status": 400, "code": 131047}, "131047", False),
    ("undeliverable-131026", {"http_status": 400, "code": 131026}, "131026", False),
    ("spam-131048", {"http_status": 400, "code": 131048}, "131048", False),
    ("invalid-param-131009", {"http_status": 400, "code": 131009}, "131009", False),
    ("invalid-param-100", {"http_status": 400, "code": 100}, "100", False),
    ("blocked-368", {"http_status": 400, "code": 368}, "368", False),
    ("locked-131031", {"http_status": 400, "code": 131031}, "131031", False),
    ("other-4xx", {"http_status": 400, "code": 99999}, "99999", False),
    ("permanent-code-wins-over-5xx", {"http_status": 500, "code": 131047}, "131047", False),
]


@pytest.mark.parametrize(
    ("failure", "code", "transient"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_graph_errors_are_classified(
    meta: MetaProvider, fake_graph: FakeGraph, failure: dict[str, Any], code: str, transient: bool
) -> None:
    fake_graph.fail_next(**failure, details="detalle del error")

    with pytest.raises(ProviderError) as caught:
        meta.send(text())

    error = caught.value
    assert (error.code, error.transient, error.http_status) == (code, transient, failure["http_status"])
    assert error.message.startswith(f"send failed: (#{code}) ")
    assert error.message.endswith(": detalle del error")
    assert error.raw["error"]["code"] == int(code)
    assert fake_graph.sent == []


def test_window_closed_message_reads_like_metas(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.fail_for(LAURA, details="Message failed to send because more than 24 hours have passed.")
    with pytest.raises(ProviderError) as caught:
        meta.send(text())
    assert str(caught.value) == (
        "[131047] send failed: (#131047) Re-engagement message: "
        "Message failed to send because more than 24 hours have passed."
    )


def test_expired_token_is_permanent_190(config: ChannelConfig, fake_graph: FakeGraph) -> None:
    with pytest.raises(ProviderError) as caught:
        MetaProvider(replace(config, access_token="caducado")).send(text())
    assert (caught.value.code, caught.value.transient, caught.value.http_status) == ("190", False, 401)
    assert fake_graph.requests[0]["status"] == 401


def test_transient_failure_then_success(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.fail_next(2, http_status=400, code=130429)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(meta.send(text()).provider_message_id)
        except ProviderError as error:
            outcomes.append(f"transient={error.transient}")
    assert outcomes[:2] == ["transient=True", "transient=True"]
    assert outcomes[2] == fake_graph.sent[0]["wamid"]


def test_failure_for_one_recipient_leaves_others_alone(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.fail_for("573009990000", code=131026)
    with pytest.raises(ProviderError, match="131026"):
        meta.send(text(to="573009990000"))
    meta.send(text())
    assert [entry["json"]["to"] for entry in fake_graph.sent] == [LAURA]


def test_retry_after_header_is_passed_on(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.fail_next(http_status=429, code=80007, retry_after=12)
    with pytest.raises(ProviderError) as caught:
        meta.send(text())
    assert caught.value.retry_after == 12.0


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("mañana", None)]
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_non_json_gateway_error_is_transient(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.fail_next(http_status=502, body=b"<html><body>Bad Gateway</body></html>")
    with pytest.raises(ProviderError) as caught:
        meta.send(text())
    assert (caught.value.code, caught.value.transient, caught.value.http_status) == ("http_502", True, 502)
    assert "Bad Gateway" in caught.value.raw["body"]


@pytest.mark.parametrize(
    "body", [{"messaging_product": "whatsapp"}, {"messages": []}, {"messages": [{"id": ""}]}, b"ok"], ids=repr
)
def test_200_without_message_id_is_a_permanent_malformed_response(
    meta: MetaProvider, fake_graph: FakeGraph, body: Any
) -> None:
    fake_graph.fail_next(http_status=200, body=body)
    with pytest.raises(ProviderError, match="malformed send response") as caught:
        meta.send(text())
    assert (caught.value.code, caught.value.transient) == ("malformed_response", False)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connection_refused_is_a_transient_network_error(config: ChannelConfig) -> None:
    with pytest.raises(ProviderError) as caught:
        MetaProvider(replace(config, base_url=closed_port_url())).send(text())
    assert (caught.value.code, caught.value.transient, caught.value.http_status) == ("network", True, None)


def test_timeout_is_a_transient_network_error(meta: MetaProvider, fake_graph: FakeGraph, settings: Any) -> None:
    settings.PROVIDER_HTTP_TIMEOUT = 0.2
    fake_graph.latency = 1.0
    with pytest.raises(ProviderError, match="Timeout") as caught:
        meta.send(text())
    assert (caught.value.code, caught.value.transient) == ("network", True)


def test_unusable_base_url_is_a_permanent_config_error(config: ChannelConfig) -> None:
    with pytest.raises(ProviderError) as caught:
        MetaProvider(replace(config, base_url="graph.facebook.com")).send(text())
    assert (caught.value.code, caught.value.transient) == ("config", False)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [("131047", 500, False), ("130429", 400, True), ("http_404", 404, False), ("x", 500, True), ("x", None, False)],
)
def test_is_transient_table_then_http_status(code: str, status: int | None, expected: bool) -> None:
    assert is_transient(code, status) is expected


# ---------------------------------------------------------------------------- mark_read


def test_mark_read_posts_the_read_status(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    meta.mark_read(QUOTED)

    (mark,) = fake_graph.read_marks
    assert mark["json"] == {"messaging_product": "whatsapp", "status": "read", "message_id": QUOTED}
    assert mark["path"] == f"/v25.0/{PRIMARY}/messages"
    assert mark["headers"]["authorization"] == "Bearer TEST"
    assert fake_graph.sent == []


def test_mark_read_with_a_bad_token_raises_190(config: ChannelConfig, fake_graph: FakeGraph) -> None:
    with pytest.raises(ProviderError) as caught:
        MetaProvider(replace(config, access_token="otro")).mark_read(QUOTED)
    assert (caught.value.code, caught.value.transient) == ("190", False)
    assert fake_graph.read_marks == []


# ---------------------------------------------------------------------------- fetch_media

AUDIO = b"OggS" + bytes(range(256)) * 40  # 10 KiB of "voice note"
AUDIO_HEX = hashlib.sha256(AUDIO).hexdigest()
AUDIO_B64 = base64.b64encode(hashlib.sha256(AUDIO).digest()).decode()


def test_fetch_media_by_id(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("2291837460915532", AUDIO, "audio/ogg")
    ref = MediaRef(media_id="2291837460915532", mime_type="audio/ogg; codecs=opus", sha256=AUDIO_B64, voice=True)

    file = meta.fetch_media(ref, max_bytes=1_000_000)

    assert file.content == AUDIO
    assert (file.mime_type, file.sha256, file.size) == ("audio/ogg", AUDIO_HEX, len(AUDIO))
    assert file.original_url.startswith(f"{fake_graph.base_url}/lookaside/")
    assert fake_graph.media_lookups == ["2291837460915532"]
    assert fake_graph.downloads == ["2291837460915532"]


def test_fetch_media_keeps_the_webhook_filename(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("774019283746551", b"%PDF-1.7 factura", "application/pdf")
    ref = MediaRef(media_id="774019283746551", filename="factura-octubre.pdf")
    assert meta.fetch_media(ref, max_bytes=1000).filename == "factura-octubre.pdf"


def test_fetch_media_announced_too_large_is_not_downloaded(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg")
    with pytest.raises(ProviderError, match="media too large") as caught:
        meta.fetch_media(MediaRef(media_id="1"), max_bytes=1024)
    assert (caught.value.code, caught.value.transient) == ("media_too_large", False)
    assert fake_graph.downloads == []


def test_fetch_media_too_large_while_downloading(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg", file_size="100")  # the lookup understates the size
    with pytest.raises(ProviderError, match="media too large") as caught:
        meta.fetch_media(MediaRef(media_id="1"), max_bytes=1024)
    assert (caught.value.code, caught.value.transient) == ("media_too_large", False)
    assert fake_graph.downloads == ["1"]


@pytest.mark.parametrize(
    ("announced", "in_webhook"),
    [("0" * 64, ""), ("", "0" * 64), ("", base64.b64encode(b"\0" * 32).decode())],
    ids=["lookup-hex", "webhook-hex", "webhook-base64"],
)
def test_fetch_media_sha256_mismatch_returns_the_file_marked(
    meta: MetaProvider, fake_graph: FakeGraph, announced: str, in_webhook: str
) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg", sha256=announced)
    file = meta.fetch_media(MediaRef(media_id="1", sha256=in_webhook), max_bytes=1_000_000)
    assert file.content == AUDIO  # kept: the caller decides (download again, then keep it marked)
    assert "sha256 mismatch" in file.checksum_error


def test_fetch_media_refetches_an_expired_url_once(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg", expire_downloads=1)

    file = meta.fetch_media(MediaRef(media_id="1"), max_bytes=1_000_000)

    assert file.content == AUDIO
    assert fake_graph.media_lookups == ["1", "1"]
    assert fake_graph.downloads == ["1", "1"]


def test_fetch_media_gives_up_after_the_second_expired_url(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg", expire_downloads=2)
    with pytest.raises(ProviderError) as caught:
        meta.fetch_media(MediaRef(media_id="1"), max_bytes=1_000_000)
    assert (caught.value.http_status, caught.value.transient) == (404, False)
    assert fake_graph.media_lookups == ["1", "1"]


def test_fetch_media_unknown_id_is_permanent(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    with pytest.raises(ProviderError, match="media lookup failed") as caught:
        meta.fetch_media(MediaRef(media_id="999"), max_bytes=1000)
    assert (caught.value.code, caught.value.transient, caught.value.http_status) == ("100", False, 400)


def test_fetch_media_by_direct_url(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg")
    url = fake_graph.media_url("1")

    file = meta.fetch_media(MediaRef(url=url, sha256=AUDIO_HEX, filename="nota.ogg"), max_bytes=1_000_000)

    assert (file.content, file.mime_type, file.original_url, file.filename) == (AUDIO, "audio/ogg", url, "nota.ogg")
    assert fake_graph.media_lookups == []


def test_fetch_media_direct_url_expired_is_an_error(meta: MetaProvider, fake_graph: FakeGraph) -> None:
    with pytest.raises(ProviderError) as caught:
        meta.fetch_media(MediaRef(url=f"{fake_graph.base_url}/lookaside/gone"), max_bytes=1000)
    assert (caught.value.http_status, caught.value.transient) == (404, False)


def test_fetch_media_needs_an_id_or_url(meta: MetaProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        meta.fetch_media(MediaRef(), max_bytes=1000)
    assert (caught.value.code, caught.value.transient) == ("no_media", False)


def test_fetch_media_with_a_bad_token_is_permanent(config: ChannelConfig, fake_graph: FakeGraph) -> None:
    fake_graph.add_media("1", AUDIO, "audio/ogg")
    with pytest.raises(ProviderError) as caught:
        MetaProvider(replace(config, access_token="otro")).fetch_media(MediaRef(media_id="1"), max_bytes=10**6)
    assert (caught.value.code, caught.value.transient) == ("190", False)


def test_the_proxy_environment_is_read_once_per_origin_and_no_proxy_is_honoured(monkeypatch: Any) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1,.corp.example")
    provider_http._origin_proxies.cache_clear()
    try:
        assert environ_proxies("https://graph.facebook.com/v25.0/1/messages")["https"] == "http://proxy.internal:3128"
        assert environ_proxies("https://graph.facebook.com/v25.0/2/messages") is environ_proxies(
            "https://graph.facebook.com/"
        )  # one lookup per origin
        assert environ_proxies("http://127.0.0.1:8080/v25.0/1/messages") == {}
        assert environ_proxies("https://api.corp.example/x") == {}
    finally:
        provider_http._origin_proxies.cache_clear()


def test_a_proxy_for_other_hosts_does_not_stop_sends_to_a_no_proxy_host(
    config: ChannelConfig, fake_graph: FakeGraph, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    provider_http._origin_proxies.cache_clear()
    try:
        assert MetaProvider(config).send(text("Hola")).provider_message_id
    finally:
        provider_http._origin_proxies.cache_clear()


def test_a_netrc_entry_never_replaces_the_bearer_token(
    config: ChannelConfig, fake_graph: FakeGraph, monkeypatch: Any, tmp_path: Any
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    # A new thread gets a new session, built while NETRC is set.
    thread = threading.Thread(target=lambda: MetaProvider(config).send(text("Hola")))
    thread.start()
    thread.join()
    assert fake_graph.sent[0]["headers"]["authorization"] == "Bearer TEST"
