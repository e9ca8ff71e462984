"""The bot simulator: `manage.py simulate_chat`, flows.simulator and the admin page, on the demo flow."""

from __future__ import annotations

import json
import shutil
import tempfile
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
import urllib3
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from conversations.models import Channel, Contact, Conversation, Message
from conversations.providers import PROVIDERS, get_provider_class
from conversations.providers.base import (
    ChannelConfig,
    MediaRef,
    OutboundMessage,
    OutboundValidationError,
    ProviderError,
)
from conversations.providers.simulator import SimulatorProvider
from flows.models import Rule
from flows.simulator import (
    DEFAULT_NUMBER,
    SimulatorError,
    normalize_number,
    reply_from_outbound,
    simulate,
    simulator_conversation,
    simulator_state,
)
from flows.tests import factories
from whatsapp_ia.demo import demo_flow_load

pytestmark = pytest.mark.django_db

NUMBER = "573001112233"
URL = "/admin/flows/rule/simulator/"
WELCOME = "¡Hola! 👋 Bienvenido a Mesones del Valle. ¿En qué te ayudamos?"
MENU = ["Cotizar mesón", "Ver catálogo", "Hablar con asesor"]


@pytest.fixture
def flow() -> None:
    demo_flow_load()
    factories.default_commands()


def run(*args: str) -> str:
    out = StringIO()
    call_command("simulate_chat", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_json(*args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run("--json", *args).splitlines()]


# --------------------------------------------------------------------------- the command


def test_the_demo_flow_from_greeting_to_quote(flow: None) -> None:
    out = run("--number", NUMBER, "hola", "1", "2,4 x 0,6 m")

    assert f"> hola\n< [buttons] {WELCOME}\n    (1) Cotizar mesón  (2) Ver catálogo  (3) Hablar con asesor\n" in out
    assert "  step: menu · roles: -\n" in out
    assert "> 1\n< [text] Escríbeme las medidas del mesón" in out
    assert "  step: medidas · roles: ventas\n" in out
    assert "> 2,4 x 0,6 m\n< [text] " in out
    assert "1,44 m²" in out and "$604.800" in out
    assert "    ¿Deseas agendar una visita de medición? Responde *si* o *no*." in out  # continuation line
    assert out.endswith("  step: visita · roles: ventas\n")


def test_json_prints_one_object_per_input_in_the_exact_shape(flow: None) -> None:
    lines = run("--json", "--number", NUMBER, "hola", "Cotizar mesón", "2,4 x 0,6 m").splitlines()
    turns = [json.loads(line) for line in lines]

    assert len(turns) == 3
    for turn in turns:
        assert set(turn) == {"input", "replies", "step", "roles"}
        for reply in turn["replies"]:
            assert set(reply) == {"type", "text", "options", "media"}
    assert turns[0] == {
        "input": "hola",
        "replies": [{"type": "buttons", "text": WELCOME, "options": MENU, "media": []}],
        "step": "menu",
        "roles": [],
    }
    assert turns[1]["input"] == "Cotizar mesón"
    assert turns[1]["replies"][0]["text"].startswith("Escríbeme las medidas")
    assert (turns[1]["step"], turns[1]["roles"]) == ("medidas", ["ventas"])
    quote = turns[2]["replies"][0]
    assert quote["type"] == "text" and "1,44 m²" in quote["text"] and "$604.800" in quote["text"]
    assert (turns[2]["step"], turns[2]["roles"]) == ("visita", ["ventas"])
    assert "👋" in lines[0]  # ensure_ascii=False


def test_a_tap_is_sent_as_an_interactive_reply(flow: None) -> None:
    run("--number", NUMBER, "hola", "cotizar meson")

    tapped = Message.objects.filter(direction="in").order_by("id").last()
    assert tapped.kind == "interactive"
    assert tapped.text == "Cotizar mesón"
    assert tapped.data["interactive_id"] == "cotizar_meson"
    assert tapped.data["interactive_type"] == "button_reply"
    assert simulator_conversation(number=NUMBER).step == "medidas"


def test_a_list_reply_and_its_rows(flow: None) -> None:
    turns = run_json("--number", NUMBER, "hola", "2", "3")

    catalog = turns[1]["replies"][0]
    assert catalog["type"] == "list"
    assert catalog["options"] == [
        "Granito — Negro San Gabriel · $420.000/m²",
        "Cuarzo — Blanco Polar · $610.000/m²",
        "Mármol — Crema Marfil · $560.000/m²",
        "Preguntar al asistente — Dudas de productos, precios y medidas",
        "Menú principal — Volver a las opciones",
    ]
    row = Message.objects.filter(direction="in").order_by("id").last()
    assert (row.kind, row.text, row.data["interactive_id"], row.data["interactive_type"]) == (
        "interactive",
        "Mármol",
        "marmol",
        "list_reply",
    )
    assert turns[2]["step"] == "producto_marmol"  # the tapped row leads to its product, not to "No entendí"


def test_a_backslash_sends_a_digit_as_typed_text(flow: None) -> None:
    run("--number", NUMBER, "hola", "\\1")

    typed = Message.objects.filter(direction="in").order_by("id").last()
    assert (typed.kind, typed.text) == ("text", "1")
    assert simulator_conversation(number=NUMBER).step == "medidas"  # "1" is also a keyword of the rule


def test_state_persists_between_runs_of_the_same_number(flow: None) -> None:
    first = run_json("--number", NUMBER, "hola")
    second = run_json("--number", NUMBER, "1")
    other = run_json("--number", "573009998877", "1")

    assert first[0]["step"] == "menu"
    assert (second[0]["step"], second[0]["roles"]) == ("medidas", ["ventas"])
    assert other[0]["step"] == "menu"  # a new chat: the "1" meets the welcome rule
    assert Conversation.objects.filter(channel__provider="simulator").count() == 2


def test_reset_starts_the_chat_over(flow: None) -> None:
    run("--number", NUMBER, "hola", "1")
    assert run("--number", NUMBER, "--reset") == f"Test chat of {NUMBER} started over.\n"
    assert simulator_conversation(number=NUMBER) is None

    turns = run_json("--number", NUMBER, "--reset", "hola")
    assert (turns[0]["step"], turns[0]["roles"]) == ("menu", [])
    assert Message.objects.filter(conversation__contact__external_id=NUMBER).count() == 2


def test_a_global_command_pauses_the_bot_and_later_messages_get_no_reply(flow: None) -> None:
    out = run("--number", NUMBER, "hola", "asesor", "1", "hola")

    handed_off = "> asesor\n< [text] Un asesor te atenderá en breve.\n  step: menu · roles: - · bot paused"
    assert handed_off in out
    assert out.count("< (no reply: the bot is paused, a human agent has the chat)") == 2
    conversation = simulator_conversation(number=NUMBER)
    assert (conversation.status, conversation.bot_paused) == ("human", True)

    turns = run_json("--number", NUMBER, "menu", "hola")  # a global command still answers and resumes the bot
    assert (turns[0]["replies"][0]["text"], turns[0]["step"]) == (WELCOME, "menu")  # as a new chat would
    assert simulator_conversation(number=NUMBER).status == "bot"
    assert turns[1]["replies"] and turns[1]["step"] == "menu"  # the bot answers again


def test_without_rules_the_fallback_answers(settings: Any) -> None:
    Rule.objects.all().delete()
    turns = run_json("--number", NUMBER, "hola")

    assert turns == [
        {
            "input": "hola",
            "replies": [{"type": "text", "text": settings.FLOW_FALLBACK_MESSAGE, "options": [], "media": []}],
            "step": settings.INITIAL_STEP,
            "roles": [],
        }
    ]


def test_media_replies_list_their_links(flow: None) -> None:
    rule = Rule.objects.get(step="inicio", input_text="*")
    rule.media.create(media_type="image", url="https://cdn.example.com/meson.jpg", caption="Nuestro trabajo")
    replies = run_json("--number", NUMBER, "hola")[0]["replies"]

    assert [r["type"] for r in replies] == ["buttons", "image"]
    assert replies[1] == {
        "type": "image",
        "text": "Nuestro trabajo",
        "options": [],
        "media": ["https://cdn.example.com/meson.jpg"],
    }
    human = run("--number", "5730011", "hola")
    assert "< [image] Nuestro trabajo\n    media: https://cdn.example.com/meson.jpg" in human


def test_nothing_goes_over_http_or_to_a_broker(flow: None, settings: Any, django_capture_on_commit_callbacks) -> None:
    settings.META_GRAPH_URL = "http://127.0.0.1:9"  # nothing listens there
    Channel.objects.create(provider="meta", external_id="123456", name="Real number", access_token="tok")
    with (
        mock.patch.object(requests.Session, "request", side_effect=AssertionError("HTTP")) as http,
        mock.patch.object(urllib3.PoolManager, "urlopen", side_effect=AssertionError("HTTP")) as json_http,
        mock.patch("celery.app.task.Task.apply_async", side_effect=AssertionError("publish")) as publish,
        django_capture_on_commit_callbacks(execute=True) as hooks,
    ):
        turns = run_json("--number", NUMBER, "hola", "1", "2,4 x 0,6 m")

    assert http.call_count == 0 and json_http.call_count == 0 and publish.call_count == 0
    assert hooks and all(hook.__module__ == "conversations.events" for hook in hooks)  # console broadcasts only
    assert [t["step"] for t in turns] == ["menu", "medidas", "visita"]
    outbound = Message.objects.filter(direction="out")
    assert outbound.count() == 3
    assert {m.status for m in outbound} == {"sent"}
    assert all(m.provider == "simulator" and m.provider_message_id.startswith("sim.") for m in outbound)
    assert not Contact.objects.filter(provider="meta").exists()
    assert not Conversation.objects.filter(channel__provider="meta").exists()
    contact = Contact.objects.get(external_id=NUMBER)
    assert contact.provider == "simulator"
    channel = Channel.objects.get(provider="simulator")
    assert (channel.external_id, channel.name) == ("simulator", "Simulador")


def test_a_rule_breaking_a_whatsapp_limit_is_refused_like_on_a_real_channel(flow: None) -> None:
    Rule.objects.filter(step="inicio", input_text="*").update(options="Uno|Dos|Tres|Cuatro")
    turns = run_json("--number", NUMBER, "hola")

    assert turns[0]["replies"] == []  # 4 buttons: WhatsApp allows 3
    state = simulator_state(number=NUMBER)
    assert any("buttons: 4 given" in p for p in state.entries[0].problems)


# --------------------------------------------------------------------------- errors


def test_command_errors_are_clear() -> None:
    with pytest.raises(CommandError, match="at least one message"):
        run("--number", NUMBER)
    with pytest.raises(CommandError, match="not a phone number"):
        run("--number", "abc", "hola")
    with pytest.raises(CommandError, match="Type a message"):
        run("--number", NUMBER, "   ")


def test_redis_down_says_how_to_start_it(settings: Any) -> None:
    from whatsapp_ia.settings.parsing import RedisUrls

    settings.REDIS_URL = "redis://:secret@127.0.0.1:1/0"
    settings.REDIS = RedisUrls(client=settings.REDIS_URL, celery=settings.REDIS_URL, socket_path=None)
    with pytest.raises(CommandError) as excinfo:
        run("--number", NUMBER, "hola")
    message = str(excinfo.value)
    assert "Redis" in message and "bin/run" in message and "REDIS_URL" in message
    assert "redis://127.0.0.1:1/0" in message and "secret" not in message
    with pytest.raises(SimulatorError, match="bin/run"):
        simulate(number=NUMBER, texts=["hola"])


def test_the_command_starts_the_embedded_redis_when_none_answers(settings: Any) -> None:
    from flows.management.commands.simulate_chat import Command
    from flows.simulator import redis_problem
    from whatsapp_ia import embedded_redis
    from whatsapp_ia.settings.parsing import RedisUrls

    directory = tempfile.mkdtemp(prefix="sim", dir="/tmp")  # short: unix socket paths are limited to ~100 chars
    socket_path = str(Path(directory) / "r.sock")
    settings.REDIS_URL = f"unix://{socket_path}"
    celery_url = f"redis+socket://{socket_path}"
    settings.REDIS = RedisUrls(client=settings.REDIS_URL, celery=celery_url, socket_path=socket_path)
    assert redis_problem()
    try:
        with Command(stdout=StringIO(), stderr=StringIO())._redis_running():
            assert redis_problem() == ""
        assert not embedded_redis.is_up(socket_path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_numbers_are_normalized() -> None:
    assert normalize_number("+57 300-111 2233") == NUMBER
    for bad in ("", "12345", "57300111223344556677889", "\uff15\uff17\uff13\uff10\uff10\uff10"):
        with pytest.raises(SimulatorError):
            normalize_number(bad)


# --------------------------------------------------------------------------- the provider


def test_the_simulator_provider_captures_and_validates_like_meta() -> None:
    assert PROVIDERS["simulator"] is SimulatorProvider and get_provider_class("simulator") is SimulatorProvider
    provider = SimulatorProvider(ChannelConfig(provider="simulator", external_id="simulator"))

    sent = provider.send(OutboundMessage(kind="buttons", to=NUMBER, text="¿Sí?", buttons=(("si", "Sí"), ("no", "No"))))
    assert sent.provider_message_id.startswith("sim.") and len(sent.provider_message_id) > 10
    assert sent.raw["captured"]["interactive"]["action"]["buttons"][0]["reply"] == {"id": "si", "title": "Sí"}
    assert provider.send(OutboundMessage(kind="text", to=NUMBER, text="a")).provider_message_id != (
        sent.provider_message_id
    )
    with pytest.raises(OutboundValidationError, match="20"):
        provider.build_payload(OutboundMessage(kind="buttons", to=NUMBER, text="x", buttons=(("a", "x" * 21),)))
    with pytest.raises(OutboundValidationError, match="4096"):
        provider.send(OutboundMessage(kind="text", to=NUMBER, text="x" * 4097))

    assert provider.verify_signature(body=b"{}", headers={"X-Hub-Signature-256": "sha256=00"}) is False
    parsed = SimulatorProvider.parse({"object": "whatsapp_business_account", "entry": []})
    assert parsed.events == [] and "no webhooks" in parsed.problems[0]
    with pytest.raises(ProviderError) as excinfo:
        provider.fetch_media(MediaRef(media_id="1"), max_bytes=10)
    assert excinfo.value.transient is False
    assert provider.mark_read("wamid.x") is None


def test_reply_from_outbound_renders_every_shape() -> None:
    listing = reply_from_outbound(
        {
            "kind": "list",
            "text": "Elige",
            "list_button": "Ver",
            "sections": [["", [["a", "A", "desc"], ["b", "B", ""]]]],
        }
    )
    assert (listing.type, listing.options, listing.list_button) == ("list", ["A — desc", "B"], "Ver")
    assert [c.id for c in listing.choices] == ["a", "b"]
    document = reply_from_outbound({"kind": "document", "caption": "PDF", "media_id": "77"})
    assert document.as_dict() == {"type": "document", "text": "PDF", "options": [], "media": ["media:77"]}


# --------------------------------------------------------------------------- the admin page


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    return client


def test_admin_page_chat_round_trip(flow: None, admin_client: Client) -> None:
    page = admin_client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("admin:flows_rule_changelist") in html and 'name="csrfmiddlewaretoken"' in html
    assert f'value="{DEFAULT_NUMBER}"' in html

    sent = admin_client.post(URL, {"number": NUMBER, "text": "hola"})
    assert sent.status_code == 302 and sent["Location"] == f"{URL}?number={NUMBER}"
    html = admin_client.get(sent["Location"]).content.decode()
    assert "Mesones del Valle" in html
    for title, option_id in [("Cotizar mesón", "cotizar_meson"), ("Ver catálogo", "ver_catalogo")]:
        assert f'name="option" value="{option_id}"' in html and title in html
    assert "<code>menu</code>" in html

    admin_client.post(URL, {"number": NUMBER, "option": "cotizar_meson"})
    html = admin_client.get(f"{URL}?number={NUMBER}").content.decode()
    assert "Escríbeme las medidas" in html and "<code>medidas</code>" in html
    assert '<span class="sim-role">ventas</span>' in html
    assert 'name="option"' not in html  # the menu's buttons are no longer tappable

    reset = admin_client.post(URL, {"number": NUMBER, "action": "reset"}, follow=True)
    assert simulator_conversation(number=NUMBER) is None
    assert "started over" in reset.content.decode() or "empezó de nuevo" in reset.content.decode()


def test_admin_page_escapes_everything(flow: None, admin_client: Client) -> None:
    Rule.objects.filter(step="inicio", input_text="*").update(
        response_type="text", response_text="<script>alert('rule')</script>"
    )
    admin_client.post(URL, {"number": NUMBER, "text": "<img src=x onerror=alert(1)>"})
    html = admin_client.get(f"{URL}?number={NUMBER}").content.decode()

    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_admin_page_reports_errors_and_bad_numbers(flow: None, admin_client: Client) -> None:
    response = admin_client.post(URL, {"number": NUMBER, "text": "  "}, follow=True)
    assert response.status_code == 200
    assert not Message.objects.exists()
    assert len(list(response.context["messages"])) == 1

    page = admin_client.get(URL, {"number": "<b>nope</b>"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;nope&lt;/b&gt;" in html and "<b>nope</b>" not in html
    assert admin_client.post(URL, {"number": "nope", "text": "hola"})["Location"] == URL
    assert admin_client.put(URL).status_code == 405


def test_admin_page_needs_the_rule_permissions(flow: None, client: Client) -> None:
    staff = User.objects.create_user(username="staff", password="staff-pass-123", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"number": NUMBER, "text": "hola"}).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="view_rule", content_type__app_label="flows"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    page = client.get(URL)
    assert page.status_code == 200 and 'name="text"' not in page.content.decode()
    assert client.post(URL, {"number": NUMBER, "text": "hola"}).status_code == 403
    assert not Message.objects.exists()

    staff.user_permissions.add(Permission.objects.get(codename="change_rule", content_type__app_label="flows"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert client.post(URL, {"number": NUMBER, "text": "hola"}).status_code == 302
    assert Message.objects.filter(direction="out").count() == 1


def test_the_admin_page_requires_staff(client: Client) -> None:
    client.force_login(User.objects.create_user(username="agent", password="agent-pass-123"))
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]
