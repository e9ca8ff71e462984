"""The console API's behaviour: sends reach the local Graph server through the real delivery task,
the 24-hour window answers 409, actions change the chat's state, filters, pages, export, templates."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from accounts.models import ChatRole, Role, User
from conftest import load_fixture
from conversations.models import Channel, Contact, Conversation, Message, MessageTemplate
from conversations.tasks import conversation_flush_outbound_task
from conversations.tests.conftest import PHONE_NUMBER_ID
from conversations.tests.media_support import HTML_ATTACK, JPEG

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_TEXT = "<script>alert('x')</script> & \"quotes\""


@pytest.fixture
def agent(meta_settings: Any) -> User:
    user = User.objects.create_user("ana", password="x", first_name="Ana", last_name="Ríos")
    user.user_permissions.add(Permission.objects.get(codename="take_unrouted_conversations"))
    return user


@pytest.fixture
def api(agent: User) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def chat(open_conversation: Conversation) -> Conversation:
    """Laura's unrouted chat, window open, one unread message from her."""
    Message.objects.create(
        conversation=open_conversation,
        direction="in",
        kind="text",
        text="Hola, ¿tienen cuarzo?",
        provider="meta",
        provider_message_id="wamid.LAURA1",
    )
    Conversation.objects.filter(pk=open_conversation.pk).update(unread_count=1, last_activity_at=timezone.now())
    open_conversation.refresh_from_db()
    return open_conversation


def deliver(conversation: Conversation) -> None:
    """Run the pipeline's delivery task for the chat (eagerly, in this process)."""
    conversation_flush_outbound_task.apply(args=[conversation.pk])


def post(api: Client, conversation: Conversation, body: dict) -> Any:
    return api.post(f"/api/conversations/{conversation.pk}/messages/", data=body, content_type="application/json")


# --------------------------------------------------------------------------- sending


def test_a_text_reaches_graph_and_the_agent_takes_the_chat_over(
    api: Client, agent: User, chat: Conversation, fake_graph: Any
) -> None:
    response = post(api, chat, {"kind": "text", "text": "Hola Laura, sí tenemos.\nTe paso precios."})

    assert response.status_code == 201
    data = response.json()
    assert (data["direction"], data["kind"], data["status"], data["origin"]) == ("out", "text", "queued", "agent")
    assert data["sent_by"] == {"id": agent.pk, "name": "Ana Ríos"}
    chat.refresh_from_db()
    assert (chat.status, chat.bot_paused, chat.assigned_to_id) == ("human", True, agent.pk)

    deliver(chat)

    [sent] = fake_graph.sent
    assert sent["json"]["to"] == "573001112233"
    assert sent["json"]["text"]["body"] == "Hola Laura, sí tenemos.\nTe paso precios."
    assert Message.objects.get(pk=data["id"]).status == "sent"


def test_sending_to_a_chat_another_agent_has_keeps_its_assignee(api: Client, chat: Conversation) -> None:
    other = User.objects.create_user("beto", password="x")
    Conversation.objects.filter(pk=chat.pk).update(status="human", bot_paused=True, assigned_to=other)

    assert post(api, chat, {"kind": "text", "text": "Te ayudo yo también"}).status_code == 201

    chat.refresh_from_db()
    assert (chat.status, chat.assigned_to_id) == ("human", other.pk)


def test_outside_the_window_free_form_is_refused_with_409_and_templates_go(
    api: Client, chat: Conversation, fake_graph: Any
) -> None:
    Conversation.objects.filter(pk=chat.pk).update(last_inbound_at=timezone.now() - timedelta(hours=25))
    template = MessageTemplate.objects.create(
        channel=chat.channel,
        name="pedido_listo",
        language="es",
        status="APPROVED",
        synced_at=timezone.now(),
        components=load_fixture("meta", "templates__list")["data"][1]["components"],
    )

    refused = post(api, chat, {"kind": "text", "text": "¿Sigues ahí?"})
    refused_buttons = post(api, chat, {"kind": "buttons", "text": "¿Sigues?", "buttons": [{"id": "si", "title": "Sí"}]})
    missing_variable = post(api, chat, {"kind": "template", "template": template.pk, "variables": {"body.1": "Laura"}})
    sent = post(
        api, chat, {"kind": "template", "template": template.pk, "variables": {"body.1": "Laura", "body.2": "A-1043"}}
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "window_closed"
    assert "24 horas" in refused.json()["detail"]  # in the business's language (Spanish by default)
    assert refused_buttons.status_code == 409
    assert missing_variable.status_code == 400 and "body.2" in missing_variable.json()["variables"][0]
    assert sent.status_code == 201
    assert sent.json()["template"] == {"name": "pedido_listo", "language": "es"}
    assert sent.json()["text"] == "Hola Laura, tu pedido A-1043 está listo para recoger. ¿Te esperamos hoy?"
    assert Message.objects.filter(direction="out").count() == 1
    deliver(chat)
    [graph] = fake_graph.sent
    assert graph["json"]["template"] == {
        "name": "pedido_listo",
        "language": {"code": "es"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Laura"}, {"type": "text", "text": "A-1043"}]}
        ],
    }


def test_an_image_is_checked_by_content_stored_privately_and_uploaded(
    api: Client, chat: Conversation, fake_graph: Any
) -> None:
    upload = io.BytesIO(JPEG)
    upload.name = "foto cocina.jpg"

    response = api.post(
        f"/api/conversations/{chat.pk}/messages/", data={"kind": "attachment", "file": upload, "caption": "Así queda"}
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["kind"], data["caption"], data["media_mime"]) == ("image", "Así queda", "image/jpeg")
    assert data["media_url"] == f"/messages/{data['id']}/media"
    stored = Message.objects.get(pk=data["id"]).media_file.name
    assert stored.startswith(f"outbound/{chat.channel_id}/") and not stored.startswith("public/")
    assert api.get(data["media_url"]).status_code == 200  # the agent sees their own file through the media view
    deliver(chat)
    [uploaded] = fake_graph.uploads
    assert uploaded["content"] == JPEG and uploaded["type"] == "image/jpeg"
    assert fake_graph.sent[-1]["json"]["image"] == {"id": uploaded["media_id"], "caption": "Así queda"}


def test_a_document_keeps_its_name_and_goes_as_a_document(api: Client, chat: Conversation, fake_graph: Any) -> None:
    upload = io.BytesIO(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    upload.name = "../../cotización 12.pdf"

    response = api.post(f"/api/conversations/{chat.pk}/messages/", data={"kind": "attachment", "file": upload})

    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["media_name"]) == ("document", "cotización 12.pdf")
    deliver(chat)
    assert fake_graph.sent[-1]["json"]["document"]["filename"] == "cotización 12.pdf"


def test_a_file_that_lies_about_its_type_or_is_too_large_is_refused(
    api: Client, chat: Conversation, settings: Any
) -> None:
    html = io.BytesIO(HTML_ATTACK)
    html.name = "foto.jpg"
    lying = api.post(f"/api/conversations/{chat.pk}/messages/", data={"kind": "attachment", "file": html})
    settings.CONSOLE_UPLOAD_MAX_MB = {**settings.CONSOLE_UPLOAD_MAX_MB, "image": 0.001}
    big = io.BytesIO(JPEG + b"\x00" * 2048)
    big.name = "big.jpg"
    too_large = api.post(f"/api/conversations/{chat.pk}/messages/", data={"kind": "attachment", "file": big})
    missing = api.post(f"/api/conversations/{chat.pk}/messages/", data={"kind": "attachment"})

    assert lying.status_code == 400 and "file" in lying.json()
    assert too_large.status_code == 400 and "0.001 MB" in too_large.json()["file"][0]
    assert missing.status_code == 400 and "file" in missing.json()
    assert not Message.objects.filter(direction="out").exists()


def test_buttons_and_lists_reach_graph(api: Client, chat: Conversation, fake_graph: Any) -> None:
    buttons = post(
        api,
        chat,
        {
            "kind": "buttons",
            "text": "¿Qué color?",
            "buttons": [{"id": "b", "title": "Blanco"}, {"id": "n", "title": "Negro"}],
        },
    )
    listed = post(
        api,
        chat,
        {
            "kind": "list",
            "text": "Elige una sede",
            "button": "Sedes",
            "sections": [{"title": "Bogotá", "rows": [{"id": "ch", "title": "Chapinero", "description": "Cra 13"}]}],
        },
    )
    too_many = post(
        api, chat, {"kind": "buttons", "text": "x", "buttons": [{"id": str(i), "title": str(i)} for i in range(4)]}
    )
    empty = post(api, chat, {"kind": "text", "text": "   "})
    unknown = post(api, chat, {"kind": "sticker"})

    assert buttons.status_code == 201
    assert buttons.json()["interactive"] == {
        "type": "buttons",
        "body": "¿Qué color?",
        "buttons": [{"id": "b", "title": "Blanco"}, {"id": "n", "title": "Negro"}],
    }
    assert listed.status_code == 201
    assert listed.json()["interactive"]["sections"][0]["rows"][0]["title"] == "Chapinero"
    assert too_many.status_code == 400 and "buttons" in too_many.json()
    assert empty.status_code == 400 and "text" in empty.json()
    assert unknown.status_code == 400 and "kind" in unknown.json()
    deliver(chat)
    kinds = [s["json"]["interactive"]["type"] for s in fake_graph.sent]
    assert kinds == ["button", "list"]


def test_a_quick_reply_sends_its_text_then_its_media(api: Client, chat: Conversation, fake_graph: Any) -> None:
    from flows.models import QuickReply, QuickReplyMedia

    reply = QuickReply.objects.create(title="Precios", text="Estos son nuestros precios:")
    path = Path(django_settings.MEDIA_ROOT) / "public/quick_replies/2026/01/precios.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(JPEG)
    QuickReplyMedia.objects.create(
        quick_reply=reply, media_type="image", file="public/quick_replies/2026/01/precios.jpg", caption="Lista"
    )
    other_team = QuickReply.objects.create(title="Interno", text="Solo soporte")
    other_team.roles.add(Role.objects.create(name="Soporte", keyword="soporte"))

    listed = api.get("/api/quick-replies/?q=preci").json()["results"]
    response = post(api, chat, {"kind": "quick_reply", "quick_reply": reply.pk})
    refused = post(api, chat, {"kind": "quick_reply", "quick_reply": other_team.pk})

    assert [item["title"] for item in listed] == ["Precios"]
    assert listed[0]["media"] == [{"kind": "image", "caption": "Lista"}]
    assert response.status_code == 201
    assert [m["kind"] for m in response.json()["messages"]] == ["text", "image"]
    assert refused.status_code == 400 and "quick_reply" in refused.json()
    deliver(chat)
    assert fake_graph.sent[0]["json"]["text"]["body"] == "Estos son nuestros precios:"
    assert fake_graph.sent[1]["json"]["image"]["caption"] == "Lista"


def test_the_agent_sees_the_image_a_quick_reply_sent(api: Client, chat: Conversation, meta_settings: Any) -> None:
    """A quick reply's (or a rule's) file is not copied into the message: the console still shows it,
    through the same authenticated media view, and only to those who may see the chat."""
    from flows.models import QuickReply, QuickReplyMedia

    reply = QuickReply.objects.create(title="Local", text="")
    path = Path(django_settings.MEDIA_ROOT) / "public/quick_replies/2026/01/local.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(JPEG)
    QuickReplyMedia.objects.create(quick_reply=reply, media_type="image", file="public/quick_replies/2026/01/local.jpg")

    sent = post(api, chat, {"kind": "quick_reply", "quick_reply": reply.pk}).json()["messages"][0]
    listed = api.get(f"/api/conversations/{chat.pk}/messages/").json()["results"][-1]
    outsider = Client()
    outsider.force_login(User.objects.create_user("otto", password="x"))

    assert sent["media_url"] == listed["media_url"] == f"/messages/{sent['id']}/media"
    served = api.get(sent["media_url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert b"".join(served.streaming_content) == JPEG
    assert outsider.get(sent["media_url"]).status_code == 404


# --------------------------------------------------------------------------- actions


def test_take_over_release_close_reopen_restart(api: Client, agent: User, chat: Conversation) -> None:
    base = f"/api/conversations/{chat.pk}"
    Conversation.objects.filter(pk=chat.pk).update(step="cotizar")

    taken = api.post(f"{base}/takeover/").json()
    released = api.post(f"{base}/release/").json()
    closed = api.post(f"{base}/close/").json()
    reopened = api.post(f"{base}/reopen/").json()
    api.post(f"{base}/takeover/")
    restarted = api.post(f"{base}/restart/").json()

    assert (taken["status"], taken["bot_paused"], taken["assigned_to"]) == (
        "human",
        True,
        {"id": agent.pk, "name": "Ana Ríos"},
    )
    assert (released["status"], released["bot_paused"]) == ("bot", False)
    assert closed["status"] == "closed"
    assert reopened["status"] == "bot"
    assert (restarted["status"], restarted["step"], restarted["bot_paused"]) == ("bot", "inicio", False)


def test_read_marks_the_latest_customer_message_at_the_provider_and_unread_comes_back(
    api: Client, chat: Conversation, fake_graph: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        read = api.post(f"/api/conversations/{chat.pk}/read/").json()
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/conversations/{chat.pk}/read/")  # nothing unread: no second call
    unread = api.post(f"/api/conversations/{chat.pk}/unread/").json()

    assert read["unread_count"] == 0
    assert [mark["json"]["message_id"] for mark in fake_graph.read_marks] == ["wamid.LAURA1"]
    assert unread["unread_count"] == 1


def test_read_does_not_tell_the_provider_when_switched_off(
    api: Client, chat: Conversation, fake_graph: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CONSOLE_MARK_READ = False
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/conversations/{chat.pk}/read/").json()["unread_count"] == 0
    assert fake_graph.read_marks == []


def test_alias_and_roles_are_set_with_patch(api: Client, agent: User, chat: Conversation) -> None:
    sales, support = (
        Role.objects.create(name="Ventas", keyword="ventas"),
        Role.objects.create(name="Soporte", keyword="soporte"),
    )
    agent.roles.add(sales)
    url = f"/api/conversations/{chat.pk}/"

    patched = api.patch(url, data={"alias": "Laura (cocina)", "roles": [sales.pk]}, content_type="application/json")
    unknown = api.patch(url, data={"roles": [sales.pk, 9999]}, content_type="application/json")
    cleared = api.patch(url, data={"alias": ""}, content_type="application/json")

    assert patched.status_code == 200
    assert patched.json()["contact"]["name"] == "Laura (cocina)"
    assert patched.json()["roles"] == [{"id": sales.pk, "name": "Ventas"}]
    assert unknown.status_code == 400 and "9999" in unknown.json()["roles"][0]
    assert cleared.json()["contact"]["name"] == "Laura"
    assert list(ChatRole.objects.filter(conversation=chat).values_list("role_id", "assigned_by")) == [(sales.pk, "ana")]
    # Routed to another team, the chat leaves this agent's sight (they took unrouted chats, not support's).
    assert api.patch(url, data={"roles": [support.pk]}, content_type="application/json").status_code == 200
    assert api.get(url).status_code == 404


# --------------------------------------------------------------------------- lists, filters, pages


def _chat(channel: Channel, number: str, **fields: Any) -> Conversation:
    contact = Contact.objects.create(provider="meta", external_id=number, profile_name=fields.pop("name", ""))
    return Conversation.objects.create(contact=contact, channel=channel, **fields)


@pytest.mark.django_db(transaction=True)  # MariaDB's FULLTEXT index sees committed rows only
def test_filters_and_search(api: Client, chat: Conversation) -> None:
    now = timezone.now()
    sales = Role.objects.create(name="Ventas", keyword="ventas")
    pedro = _chat(
        chat.channel, "573009998877", name="Pedro", status="human", last_activity_at=now, needs_attention=True
    )
    ChatRole.objects.create(conversation=pedro, role=sales)
    User.objects.get(username="ana").roles.add(sales)
    Message.objects.create(
        conversation=pedro, direction="in", kind="text", text="Quiero una cotización", provider="meta"
    )
    Contact.objects.filter(pk=chat.contact_id).update(alias="Laurita")

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/conversations/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [pedro.pk, chat.pk]
    assert ids("status=human") == [pedro.pk]
    assert ids("status=bot") == [chat.pk]
    assert ids(f"role={sales.pk}") == [pedro.pk]
    assert ids("role=none") == [chat.pk]
    assert ids("unread=1") == [chat.pk]
    assert ids("attention=1") == [pedro.pk]
    assert ids("q=laurita") == [chat.pk]
    assert ids("q=pedro") == [pedro.pk]
    assert ids("q=9998877") == [pedro.pk]
    assert ids("q=cotizaci") == [pedro.pk]
    assert ids("q=cuarzo") == [chat.pk]
    assert ids("q=nadie") == []
    assert api.get("/api/conversations/?status=asleep").status_code == 400
    assert api.get("/api/conversations/?role=ventas").status_code == 400
    assert api.get("/api/conversations/?cursor=garbage").status_code == 400
    huge = "WyJiIiwiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsOTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5XQ"  # an id past any row
    assert api.get(f"/api/conversations/?cursor={huge}").status_code == 400
    assert api.get("/api/conversations/?role=99999999999999999999999").status_code == 400
    assert api.get(f"/api/conversations/{chat.pk}/messages/?cursor={huge}").status_code == 400


def test_the_chat_list_pages_by_cursor_without_gaps_or_repeats(api: Client, chat: Conversation) -> None:
    now = timezone.now()
    for n in range(120):  # some share a timestamp: the id breaks ties
        _chat(chat.channel, f"5730100{n:05d}", last_activity_at=now - timedelta(minutes=n // 3))
    _chat(chat.channel, "573019999999", last_activity_at=None)

    seen: list[int] = []
    url: str | None = "/api/conversations/"
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert len(seen) == len(set(seen)) == Conversation.objects.count() == 122
    expected = list(Conversation.objects.order_by("-last_activity_at", "id").values_list("id", flat=True))
    assert seen == expected


def test_messages_page_newest_last_and_previous_goes_to_older(api: Client, chat: Conversation) -> None:
    Message.objects.all().delete()
    base = timezone.now() - timedelta(hours=1)
    created = []
    for n in range(120):
        message = Message.objects.create(conversation=chat, direction="in", kind="text", text=f"m{n}", provider="meta")
        created.append(message.pk)
    for index, pk in enumerate(created):  # two share each second: ties broken by id
        Message.objects.filter(pk=pk).update(created_at=base + timedelta(seconds=index // 2))

    first = api.get(f"/api/conversations/{chat.pk}/messages/").json()
    older = api.get(first["previous"]).json()
    oldest = api.get(older["previous"]).json()
    back = api.get(oldest["next"]).json()

    texts = [[m["text"] for m in page["results"]] for page in (first, older, oldest)]
    assert texts[0] == [f"m{n}" for n in range(70, 120)]
    assert texts[1] == [f"m{n}" for n in range(20, 70)]
    assert texts[2] == [f"m{n}" for n in range(0, 20)]
    assert first["next"] is None and oldest["previous"] is None
    assert [m["text"] for m in back["results"]] == texts[1]


def test_message_shapes_carry_reactions_quotes_locations_and_contacts(api: Client, chat: Conversation) -> None:
    Message.objects.all().delete()

    def inbound(n: int, kind: str, **fields: Any) -> Message:
        return Message.objects.create(
            conversation=chat, direction="in", kind=kind, provider="meta", provider_message_id=f"wamid.S{n}", **fields
        )

    original = inbound(1, "text", text="¿Tienen granito?")
    inbound(2, "reaction", text="👍", data={"message_id": "wamid.S1", "emoji": "👍"})
    inbound(3, "text", text="¿Y en negro?", reply_to_provider_id="wamid.S1")
    location = {"latitude": 4.65, "longitude": -74.05, "name": "Casa", "address": "Cra 7 # 72", "url": ""}
    inbound(4, "location", text="Casa", data=location)
    card = [{"name": {"formatted_name": "Beto"}, "phones": [{"phone": "+57 300 000 0000"}]}]
    inbound(5, "contacts", text="Beto", data={"contacts": card})

    results = api.get(f"/api/conversations/{chat.pk}/messages/").json()["results"]
    by_text = {m["kind"] + ":" + m["text"]: m for m in results}

    assert by_text["text:¿Tienen granito?"]["reactions"] == [{"emoji": "👍", "from": "customer"}]
    assert by_text["reaction:👍"]["reacts_to"] == "wamid.S1"
    assert by_text["text:¿Y en negro?"]["reply_to"] == {"id": original.pk, "text": "¿Tienen granito?", "kind": "text"}
    assert by_text["location:Casa"]["location"] == {
        k: location[k] for k in ("latitude", "longitude", "name", "address")
    }
    assert by_text["contacts:Beto"]["contacts"] == card
    assert all(m["origin"] == "customer" and m["created_at"].endswith("+00:00") for m in results)


def test_hostile_text_stays_text_in_json(api: Client, chat: Conversation) -> None:
    Contact.objects.filter(pk=chat.contact_id).update(profile_name=HOSTILE_NAME)
    Message.objects.create(conversation=chat, direction="in", kind="text", text=HOSTILE_TEXT, provider="meta")

    listed = api.get("/api/conversations/")
    messages = api.get(f"/api/conversations/{chat.pk}/messages/")

    assert listed["Content-Type"] == "application/json"
    assert listed.json()["results"][0]["contact"]["name"] == HOSTILE_NAME
    assert messages.json()["results"][-1]["text"] == HOSTILE_TEXT


# --------------------------------------------------------------------------- export


def test_export_json_and_csv_hold_every_message_and_csv_is_excel_and_formula_safe(
    api: Client, chat: Conversation
) -> None:
    Message.objects.create(
        conversation=chat, direction="in", kind="text", text='=HYPERLINK("http://x")', provider="meta"
    )
    Message.objects.create(conversation=chat, direction="in", kind="text", text="@SUM(A1)", provider="meta")
    Message.objects.create(conversation=chat, direction="in", kind="text", text="Ñandú, café ☕", provider="meta")

    as_json = api.get(f"/api/conversations/{chat.pk}/export/?format=json")
    as_csv = api.get(f"/api/conversations/{chat.pk}/export/?format=csv")
    bad = api.get(f"/api/conversations/{chat.pk}/export/?format=xml")

    assert as_json.status_code == 200 and as_json["Content-Disposition"].startswith("attachment;")
    exported = json.loads(as_json.getvalue())  # streamed
    assert exported["conversation"]["id"] == chat.pk
    assert [m["text"] for m in exported["messages"]][-3:] == ['=HYPERLINK("http://x")', "@SUM(A1)", "Ñandú, café ☕"]
    assert len(exported["messages"]) == 4
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_json.streaming and as_csv.streaming
    csv_body = as_csv.getvalue()
    assert csv_body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(csv_body.decode("utf-8-sig"))))
    assert [r["text"] for r in rows] == [
        "Hola, ¿tienen cuarzo?",
        '\'=HYPERLINK("http://x")',
        "'@SUM(A1)",
        "Ñandú, café ☕",
    ]
    assert bad.status_code == 400


def test_exports_give_times_in_the_business_time_zone(api: Client, chat: Conversation, settings: Any) -> None:
    """Owners read exports in Excel: 14:30 UTC is 08:30 in Mexico City, said so with its offset."""
    from datetime import UTC, datetime

    settings.TIME_ZONE = "America/Mexico_City"
    Message.objects.filter(conversation=chat).update(created_at=datetime(2026, 3, 2, 14, 30, tzinfo=UTC))

    rows = list(
        csv.DictReader(
            io.StringIO(api.get(f"/api/conversations/{chat.pk}/export/?format=csv").getvalue().decode("utf-8-sig"))
        )
    )
    exported = json.loads(api.get(f"/api/conversations/{chat.pk}/export/?format=json").getvalue())

    assert rows[0]["created_at"] == "2026-03-02T08:30:00-06:00"
    assert exported["messages"][0]["created_at"] == "2026-03-02T08:30:00-06:00"


# --------------------------------------------------------------------------- templates


def test_templates_sync_every_page_and_list_approved_ones_with_their_variables(
    meta_settings: Any, fake_graph: Any
) -> None:
    admin = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(admin)
    channel = Channel.objects.create(
        name="Ventas", provider="meta", external_id=PHONE_NUMBER_ID, business_account_id=WABA_ID
    )
    fake_graph.add_templates(WABA_ID, load_fixture("meta", "templates__list")["data"])
    fake_graph.template_page_size = 2

    synced = client.post(f"/api/templates/sync/?channel={channel.pk}")
    listed = client.get(f"/api/templates/?channel={channel.pk}").json()["results"]

    assert synced.status_code == 200, synced.content
    assert (synced.json()["created"], synced.json()["updated"], synced.json()["removed"]) == (6, 0, 0)
    assert fake_graph.template_pages_served == 3
    assert MessageTemplate.objects.filter(channel=channel).count() == 6
    assert [t["name"] for t in listed] == ["hello_world", "pedido_listo", "promo_cubiertas", "recordatorio_cita"]
    promo = next(t for t in listed if t["name"] == "promo_cubiertas")
    assert [v["key"] for v in promo["variables"]] == ["header.media", "body.1", "body.2", "button.0.1"]
    assert promo["variables"][1]["example"] == "Laura"
    named = next(t for t in listed if t["name"] == "recordatorio_cita")
    assert [v["key"] for v in named["variables"]] == ["header.nombre", "body.fecha", "body.sede"]

    fake_graph.template_page_size = None
    fake_graph._templates[WABA_ID] = fake_graph._templates[WABA_ID][:2]
    again = client.post(f"/api/templates/sync/?channel={channel.pk}").json()
    assert (again["created"], again["updated"], again["removed"]) == (0, 2, 4)


def test_a_named_template_and_its_url_button_are_sent_with_their_parameters(
    api: Client, chat: Conversation, fake_graph: Any
) -> None:
    from conversations.services.templates import template_variables

    data = load_fixture("meta", "templates__list")["data"]
    promo, named = data[2], data[3]
    templates = {
        t["name"]: MessageTemplate.objects.create(
            channel=chat.channel,
            name=t["name"],
            language=t["language"],
            status="APPROVED",
            synced_at=timezone.now(),
            components=t["components"],
            variables=template_variables(t["components"]),
        )
        for t in (promo, named)
    }
    variables = {
        "header.media": "https://tienda.example.com/p.jpg",
        "body.1": "Laura",
        "body.2": "15%",
        "button.0.1": "cuarzo",
    }

    first = post(api, chat, {"kind": "template", "template": templates["promo_cubiertas"].pk, "variables": variables})
    second = post(
        api,
        chat,
        {
            "kind": "template",
            "template": templates["recordatorio_cita"].pk,
            "variables": {"header.nombre": "Laura", "body.fecha": "lunes 3", "body.sede": "Chapinero"},
        },
    )
    newline = post(
        api,
        chat,
        {"kind": "template", "template": templates["promo_cubiertas"].pk, "variables": {**variables, "body.1": "a\nb"}},
    )

    assert first.status_code == 201 and second.status_code == 201
    assert newline.status_code == 400
    deliver(chat)
    promo_sent, named_sent = (s["json"]["template"]["components"] for s in fake_graph.sent)
    assert promo_sent[0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": "https://tienda.example.com/p.jpg"}}],
    }
    assert promo_sent[2] == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "cuarzo"}],
    }
    assert named_sent[1]["parameters"][0] == {"type": "text", "text": "lunes 3", "parameter_name": "fecha"}


def test_a_template_sync_the_provider_refuses_says_why(meta_settings: Any, fake_graph: Any) -> None:
    admin = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(admin)
    without_waba = Channel.objects.create(name="Ventas", provider="meta", external_id=PHONE_NUMBER_ID)
    unknown_waba = Channel.objects.create(name="Otra", provider="meta", external_id="2", business_account_id="404404")

    first = client.post(f"/api/templates/sync/?channel={without_waba.pk}")
    second = client.post(f"/api/templates/sync/?channel={unknown_waba.pk}")
    missing = client.post("/api/templates/sync/?channel=9999")

    assert first.status_code == 502 and "WABA" in first.json()["detail"]
    assert second.status_code == 502
    assert missing.status_code == 404


# --------------------------------------------------------------------------- schema and docs


def test_the_openapi_schema_lists_the_console_api_and_the_docs_page_is_served_offline(api: Client) -> None:
    schema = api.get("/api/schema/?format=json")
    docs = api.get("/api/docs/")

    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for path in (
        "/api/conversations/",
        "/api/conversations/{conversation_id}/messages/",
        "/api/templates/sync/",
        "/api/me/",
    ):
        assert path in paths
    html = docs.content.decode()
    assert docs.status_code == 200
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn" not in html.lower()


def test_the_channel_admin_action_syncs_templates(meta_settings: Any, fake_graph: Any) -> None:
    admin = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(admin)
    channel = Channel.objects.create(
        name="Ventas", provider="meta", external_id=PHONE_NUMBER_ID, business_account_id=WABA_ID
    )
    fake_graph.add_templates(WABA_ID, load_fixture("meta", "templates__list")["data"])

    response = client.post(
        "/admin/conversations/channel/",
        {"action": "channels_sync_templates", "_selected_action": [channel.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert MessageTemplate.objects.filter(channel=channel).count() == 6
    assert "6" in response.content.decode()
    listed = client.get("/admin/conversations/messagetemplate/")
    assert listed.status_code == 200 and "promo_cubiertas" in listed.content.decode()


def test_a_search_that_runs_past_its_time_limit_is_refused_with_a_request_to_narrow_it(
    api: Client, chat: Conversation, settings: Any
) -> None:
    """A word common in chats the user may not see would walk the whole list: each statement of a
    search has CONSOLE_SEARCH_TIME_LIMIT seconds, then the API asks for a narrower search (never a 500)."""
    # Enough text that the scan surely outlasts MariaDB's statement timer (it fires a little after the limit:
    # with 400 rows the statement sometimes finished first and the search answered 200).
    Message.objects.bulk_create(
        (
            Message(conversation=chat, direction="in", kind="text", text=f"mensaje número {n}", provider="meta")
            for n in range(20_000)
        ),
        batch_size=2000,
    )
    settings.CONSOLE_SEARCH_TIME_LIMIT = 0.000001  # past at once: any statement long enough to be looked at
    response = api.get("/api/conversations/?q=zzzz", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 400
    assert response.json() == {"detail": "Esta búsqueda tarda demasiado. Añade una palabra o un filtro para acotarla."}
    assert api.get("/api/conversations/").status_code == 200  # the list itself has no limit; the connection works
    settings.CONSOLE_SEARCH_TIME_LIMIT = 0
    assert api.get("/api/conversations/?q=zzzz").json()["results"] == []
