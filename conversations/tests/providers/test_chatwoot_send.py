"""ChatwootProvider's HTTP side against the local FakeChatwoot server (real sockets, nothing patched)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conversations.fakes.chatwoot import FakeChatwoot
from conversations.fakes.server import FakeServer, Reply
from conversations.providers.base import (
    ECHO_AGENT,
    ECHO_API,
    ChannelConfig,
    MediaRef,
    OutboundEcho,
    OutboundMessage,
    OutboundValidationError,
    ProviderError,
    RateLimits,
)
from conversations.providers.chatwoot import (
    NO_TEMPLATES,
    WINDOW_CLOSED,
    WINDOW_CLOSED_REASON,
    ChatwootProvider,
    build_message_payload,
)

ACCOUNT = "7"
TOKEN = "cw-bot-token"


@pytest.fixture
def chatwoot() -> Iterator[FakeChatwoot]:
    with FakeChatwoot(token=TOKEN, account_id=ACCOUNT) as fake:
        yield fake


def config(fake: FakeChatwoot, **overrides: Any) -> ChannelConfig:
    fields = {
        "provider": "chatwoot",
        "external_id": "12",
        "access_token": TOKEN,
        "base_url": fake.base_url,
        "account_id": ACCOUNT,
        **overrides,
    }
    return ChannelConfig(**fields)


@pytest.fixture
def cw(chatwoot: FakeChatwoot) -> ChatwootProvider:
    return ChatwootProvider(config(chatwoot))


def text(body: str = "Hola", **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(kind="text", to="301", text=body, thread_id=kwargs.pop("thread_id", "42"), **kwargs)


def buttons(*pairs: tuple[str, str], **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(
        kind="buttons", to="301", text="¿Confirmás el turno?", buttons=pairs, thread_id="42", **kwargs
    )


# ---------------------------------------------------------------------------- text


def test_text_is_posted_as_json_in_the_conversation(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    first = cw.send(text("Hola, ¿en qué te ayudo?"))
    second = cw.send(text("¿Algo más?"))
    sent = chatwoot.wait_for_sent(2)
    assert sent[0]["path"] == f"/api/v1/accounts/{ACCOUNT}/conversations/42/messages"
    assert sent[0]["headers"]["api_access_token"] == TOKEN
    assert sent[0]["headers"]["content-type"] == "application/json"
    assert sent[0]["json"] == {
        "content": "Hola, ¿en qué te ayudo?",
        "message_type": "outgoing",
        "private": False,
        "content_type": "text",
    }
    assert (first.provider_message_id, second.provider_message_id) == (str(sent[0]["id"]), str(sent[1]["id"]))
    assert int(second.provider_message_id) > int(first.provider_message_id)
    assert first.raw["message_type"] == 1


def test_our_post_comes_back_as_an_api_echo_with_the_same_id(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    result = cw.send(text("Tenemos turno a las 15:00"))
    (sent,) = chatwoot.wait_for_sent(1)
    event = ChatwootProvider.parse(chatwoot.webhooks.echo(sent)).events[0]
    assert isinstance(event, OutboundEcho)
    assert (event.provider_message_id, event.origin, event.thread_id) == (result.provider_message_id, ECHO_API, "42")
    as_agent = ChatwootProvider.parse(chatwoot.webhooks.echo(sent, sender_type="user")).events[0]
    assert as_agent.origin == ECHO_AGENT


def test_a_reply_quotes_the_chatwoot_message(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    cw.send(text("Sí", reply_to="7014:906"))
    assert chatwoot.wait_for_sent(1)[0]["json"]["content_attributes"] == {"in_reply_to": 7014}


def test_a_message_without_conversation_is_refused_before_any_call(
    chatwoot: FakeChatwoot, cw: ChatwootProvider
) -> None:
    with pytest.raises(ProviderError) as caught:
        cw.send(text(thread_id=""))
    assert (caught.value.code, caught.value.transient) == ("no_conversation", False)
    assert "conversation" in caught.value.message
    assert chatwoot.requests == []


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001])
def test_text_limits(body: str) -> None:
    with pytest.raises(OutboundValidationError):
        build_message_payload(text(body))


# ---------------------------------------------------------------------------- options


def test_buttons_become_input_select_with_the_options_numbered_in_the_text(
    chatwoot: FakeChatwoot, cw: ChatwootProvider
) -> None:
    cw.send(buttons(("btn_yes", "Confirmar"), ("btn_move", "Cambiar horario"), header="Reserva", footer="Acme"))
    payload = chatwoot.wait_for_sent(1)[0]["json"]
    assert payload["content_type"] == "input_select"
    assert payload["content_attributes"] == {
        "items": [{"title": "Confirmar", "value": "btn_yes"}, {"title": "Cambiar horario", "value": "btn_move"}]
    }
    assert payload["content"] == "Reserva\n\n¿Confirmás el turno?\n\n1. Confirmar\n2. Cambiar horario\n\nAcme"
    assert (payload["message_type"], payload["private"]) == ("outgoing", False)


def test_a_list_flattens_its_sections_into_numbered_options() -> None:
    message = OutboundMessage(
        kind="list",
        to="301",
        text="Elegí un servicio",
        list_button="Ver servicios",
        sections=(
            ("Cortes", (("svc_cut", "Corte de pelo", "45 min · $25"), ("svc_kids", "Corte niños", ""))),
            ("Barba", (("svc_beard", "Perfilado", "30 min"),)),
        ),
        thread_id="42",
    )
    payload = build_message_payload(message)
    assert [item["value"] for item in payload["content_attributes"]["items"]] == ["svc_cut", "svc_kids", "svc_beard"]
    assert payload["content"].endswith("1. Corte de pelo — 45 min · $25\n2. Corte niños\n3. Perfilado — 30 min")


@pytest.mark.parametrize(
    ("pairs", "words"),
    [
        (tuple((f"b{n}", f"Opción {n}") for n in range(14)), "14 options given"),
        ((("b1", "Un título de veintiún"),), "21 characters"),
        ((("b1", "Sí"), ("b2", "Sí")), "repeats"),
        ((("", "Sí"),), "needs an id and a title"),
        ((), "without options"),
    ],
)
def test_quick_reply_limits(pairs: tuple[tuple[str, str], ...], words: str) -> None:
    with pytest.raises(OutboundValidationError, match=words):
        build_message_payload(buttons(*pairs))


def test_thirteen_options_of_twenty_characters_are_fine() -> None:
    pairs = tuple((f"b{n}", f"{n:02d}" + "x" * 18) for n in range(13))
    assert len(build_message_payload(buttons(*pairs))["content_attributes"]["items"]) == 13


# ---------------------------------------------------------------------------- files


def test_a_local_file_goes_inline_as_multipart(chatwoot: FakeChatwoot, cw: ChatwootProvider, tmp_path: Path) -> None:
    voice = tmp_path / "respuesta.ogg"
    voice.write_bytes(b"OggS\x00fake-opus")
    result = cw.send(
        OutboundMessage(kind="audio", to="301", media_path=str(voice), caption="Te explico", thread_id="42")
    )
    (sent,) = chatwoot.wait_for_sent(1)
    assert sent["headers"]["content-type"].startswith("multipart/form-data")
    assert sent["form"] == {"content": "Te explico", "message_type": "outgoing", "private": "false"}
    assert sent["files"] == [("respuesta.ogg", b"OggS\x00fake-opus", "audio/ogg")]
    assert result.provider_message_id == str(sent["id"])
    assert result.raw["attachments"][0]["file_type"] == "audio"


def test_a_file_without_caption_sends_no_content_and_keeps_its_given_name(
    chatwoot: FakeChatwoot, cw: ChatwootProvider, tmp_path: Path
) -> None:
    path = tmp_path / "a1b2.bin"
    path.write_bytes(b"%PDF-1.7")
    cw.send(OutboundMessage(kind="document", to="301", media_path=str(path), filename="presupuesto.pdf", thread_id="9"))
    (sent,) = chatwoot.wait_for_sent(1)
    assert "content" not in sent["form"]
    assert sent["files"] == [("presupuesto.pdf", b"%PDF-1.7", "application/pdf")]
    assert sent["conversation_id"] == "9"


def test_a_missing_file_is_a_permanent_error(chatwoot: FakeChatwoot, cw: ChatwootProvider, tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as caught:
        cw.send(OutboundMessage(kind="image", to="301", media_path=str(tmp_path / "gone.jpg"), thread_id="42"))
    assert (caught.value.code, caught.value.transient) == ("no_media", False)
    assert chatwoot.requests == []


def test_a_media_link_is_sent_as_text_with_its_caption(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    cw.send(
        OutboundMessage(
            kind="image", to="301", media_link="https://acme.example/promo.jpg", caption="Promo", thread_id="42"
        )
    )
    assert chatwoot.wait_for_sent(1)[0]["json"]["content"] == "Promo\nhttps://acme.example/promo.jpg"


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (OutboundMessage(kind="image", to="301", media_id="123", thread_id="42"), "inline"),
        (OutboundMessage(kind="video", to="301", thread_id="42"), "without media_path or media_link"),
        (OutboundMessage(kind="image", to="301", media_path="relative/x.jpg", thread_id="42"), "absolute"),
        (OutboundMessage(kind="template", to="301", template_name="seguimiento", thread_id="42"), NO_TEMPLATES),
        (OutboundMessage(kind="carousel", to="301", thread_id="42"), "unknown message kind"),
    ],
)
def test_what_cannot_go_out_is_refused_before_any_call(
    chatwoot: FakeChatwoot, cw: ChatwootProvider, message: OutboundMessage, words: str
) -> None:
    with pytest.raises(OutboundValidationError, match=re.escape(words)):
        cw.send(message)
    assert chatwoot.requests == []


# ---------------------------------------------------------------------------- errors


def test_a_wrong_token_is_a_permanent_error_with_chatwoots_words(chatwoot: FakeChatwoot) -> None:
    with pytest.raises(ProviderError) as caught:
        ChatwootProvider(config(chatwoot, access_token="wrong")).send(text())
    error = caught.value
    assert (error.code, error.transient, error.http_status) == ("http_401", False, 401)
    assert "You need to sign in or sign up before continuing." in error.message


def test_an_unknown_account_is_a_permanent_404(chatwoot: FakeChatwoot) -> None:
    with pytest.raises(ProviderError) as caught:
        ChatwootProvider(config(chatwoot, account_id="99")).send(text())
    assert (caught.value.code, caught.value.transient) == ("http_404", False)
    assert "Resource could not be found" in caught.value.message


@pytest.mark.parametrize(
    ("status", "body", "transient", "words"),
    [
        (422, {"message": "Validation failed: Content can't be blank", "attributes": ["content"]}, False, "Content"),
        (422, {"errors": ["Conversation is resolved", {"field": "inbox", "message": "is inactive"}]}, False, "inbox"),
        (403, {"error": "Access to this endpoint is not authorized for bots"}, False, "not authorized"),
        (404, {"error": "Resource could not be found"}, False, "could not be found"),
        (500, b"<html>We're sorry, but something went wrong.</html>", True, "HTTP 500"),
        (503, {"error": "maintenance"}, True, "maintenance"),
    ],
)
def test_chatwoot_error_answers(
    chatwoot: FakeChatwoot, cw: ChatwootProvider, status: int, body: Any, transient: bool, words: str
) -> None:
    chatwoot.fail_next(status, body)
    with pytest.raises(ProviderError) as caught:
        cw.send(text())
    assert (caught.value.code, caught.value.transient, caught.value.http_status) == (
        f"http_{status}",
        transient,
        status,
    )
    assert words in caught.value.message
    assert chatwoot.sent == []


def test_rate_limit_is_transient_with_retry_after(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    chatwoot.fail_next(429, {"error": "Too many requests"}, retry_after=12)
    with pytest.raises(ProviderError) as caught:
        cw.send(text())
    assert (caught.value.transient, caught.value.retry_after) == (True, 12.0)
    assert cw.send(text()).provider_message_id  # the next one goes


def test_a_malformed_success_answer_is_permanent(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    chatwoot.fail_next(200, {"ok": True})
    with pytest.raises(ProviderError) as caught:
        cw.send(text())
    assert (caught.value.code, caught.value.transient) == ("malformed_response", False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_server_is_a_transient_network_error(chatwoot: FakeChatwoot) -> None:
    provider = ChatwootProvider(config(chatwoot, base_url=f"http://127.0.0.1:{_closed_port()}"))
    with pytest.raises(ProviderError) as caught:
        provider.send(text())
    assert (caught.value.code, caught.value.transient) == ("network", True)


@pytest.mark.parametrize("missing", ["access_token", "base_url", "account_id"])
def test_missing_configuration_is_permanent(chatwoot: FakeChatwoot, settings: Any, missing: str) -> None:
    settings.CHATWOOT_URL = ""
    with pytest.raises(ProviderError) as caught:
        ChatwootProvider(config(chatwoot, **{missing: ""})).send(text())
    assert (caught.value.code, caught.value.transient) == ("config", False)


# ---------------------------------------------------------------------------- media download


def test_fetch_media_follows_activestorage_and_keeps_the_token_on_chatwoots_host(settings: Any) -> None:
    with FakeChatwoot(token=TOKEN, account_id=ACCOUNT, storage_host="localhost") as chatwoot:
        url = chatwoot.add_attachment(b"\xff\xd8jpeg-bytes", "image/jpeg", "corte.jpg")
        media = MediaRef(media_id="901", url=url, filename="corte.jpg")
        got = ChatwootProvider(config(chatwoot)).fetch_media(media, max_bytes=1000)
        assert (got.content, got.mime_type, got.original_url, got.filename) == (
            b"\xff\xd8jpeg-bytes",
            "image/jpeg",
            url,
            "corte.jpg",
        )
        blob, storage = chatwoot.downloads
        assert blob["path"].startswith("/rails/active_storage/blobs/redirect/")
        assert blob["headers"]["api_access_token"] == TOKEN
        assert storage["path"].startswith("/storage/")
        assert storage["headers"]["host"].startswith("localhost")
        assert "api_access_token" not in storage["headers"]


def test_media_on_another_host_gets_no_token(chatwoot: FakeChatwoot) -> None:
    with FakeChatwoot(token="other") as cdn:
        url = cdn.add_attachment(b"video", "video/mp4", "clip.mp4")
        got = ChatwootProvider(config(chatwoot)).fetch_media(MediaRef(url=url, mime_type="video/mp4"), max_bytes=100)
        assert got.content == b"video"
        assert all("api_access_token" not in request["headers"] for request in cdn.downloads)


def test_a_relative_data_url_is_read_from_the_chatwoot_server(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    url = chatwoot.add_attachment(b"OggS", "audio/ogg", "nota.ogg")
    relative = url.removeprefix(chatwoot.base_url)
    assert cw.fetch_media(MediaRef(url=relative), max_bytes=100).content == b"OggS"


def test_media_over_the_limit_is_refused(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    url = chatwoot.add_attachment(b"x" * 2048, "video/mp4", "big.mp4")
    with pytest.raises(ProviderError) as caught:
        cw.fetch_media(MediaRef(url=url), max_bytes=1024)
    assert (caught.value.code, caught.value.transient) == ("media_too_large", False)


def test_missing_media_is_permanent(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        cw.fetch_media(MediaRef(url=f"{chatwoot.base_url}/rails/active_storage/blobs/redirect/nope/x.jpg"), max_bytes=9)
    assert (caught.value.code, caught.value.transient) == ("http_404", False)
    with pytest.raises(ProviderError) as caught:
        cw.fetch_media(MediaRef(media_id="1"), max_bytes=9)
    assert caught.value.code == "no_media"


class _Broken(FakeServer):
    """A storage that fails (503) or redirects forever."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if self.mode == "loop":
            return Reply(status=302, body=b"", headers=(("Location", path),))
        return Reply(status=503, body=b"<html>busy</html>", content_type="text/html", headers=(("Retry-After", "3"),))


def test_storage_errors_are_transient_and_redirect_loops_stop(cw: ChatwootProvider) -> None:
    with _Broken("busy") as busy:
        with pytest.raises(ProviderError) as caught:
            cw.fetch_media(MediaRef(url=f"{busy.base_url}/f"), max_bytes=9)
        assert (caught.value.transient, caught.value.retry_after) == (True, 3.0)
    with _Broken("loop") as loop:
        with pytest.raises(ProviderError) as caught:
            cw.fetch_media(MediaRef(url=f"{loop.base_url}/f"), max_bytes=9)
        assert (caught.value.code, caught.value.transient) == ("redirect_loop", False)


# ---------------------------------------------------------------------------- the rest of the interface


def test_upload_is_not_supported_and_mark_read_calls_nothing(chatwoot: FakeChatwoot, cw: ChatwootProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        cw.upload_media(content=b"x", mime_type="image/jpeg", filename="x.jpg")
    assert (caught.value.code, caught.value.transient) == ("not_supported", False)
    cw.mark_read("7001")
    assert (chatwoot.requests, chatwoot.downloads) == ([], [])


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["text", "buttons", "template"])
def test_the_window_closes_24_hours_after_the_customers_last_message(kind: str) -> None:
    message = OutboundMessage(kind=kind, to="301", text="Hola", thread_id="42")
    assert ChatwootProvider.window_refusal(message=message, last_inbound_at=NOW - timedelta(hours=23), now=NOW) is None
    for last in (NOW - timedelta(hours=24), None):
        refusal = ChatwootProvider.window_refusal(message=message, last_inbound_at=last, now=NOW)
        assert refusal is not None
        assert (refusal.code, refusal.transient, refusal.message) == (WINDOW_CLOSED, False, WINDOW_CLOSED_REASON)
    assert "Instagram and Messenger" in WINDOW_CLOSED_REASON
    assert ChatwootProvider.service_window() == timedelta(hours=24)


def test_class_answers_come_from_the_environment(settings: Any) -> None:
    settings.CHATWOOT_URL, settings.CHATWOOT_ACCOUNT_ID = "https://chat.acme.example", "7"
    settings.CHATWOOT_API_TOKEN, settings.CHATWOOT_WEBHOOK_SECRET = "env-token", "env-secret"
    settings.CHATWOOT_INBOX_ID, settings.CHATWOOT_RATE_PER_SECOND = "12", 5.0
    defaults = ChatwootProvider.channel_defaults()
    assert (defaults.external_id, defaults.access_token, defaults.base_url, defaults.account_id) == (
        "12",
        "env-token",
        "https://chat.acme.example",
        "7",
    )
    assert defaults.app_secret == defaults.verify_token == "env-secret"
    assert ChatwootProvider.rate_limits() == RateLimits(number_rate=5.0, number_burst=3.0)
    assert ChatwootProvider.required_credentials == ("access_token", "base_url", "account_id")
    assert ChatwootProvider.webhook_handshake(params={"hub.mode": "subscribe"}, verify_tokens=("x",)).status == 405
