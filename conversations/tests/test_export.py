"""/export/conversation/<number>[.csv] and the admin's export actions: formats, streaming, scoping, hostile text."""

from __future__ import annotations

import csv
import io
import json
import warnings
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from accounts.models import ChatRole, Role, User
from conversations.models import Channel, Contact, Conversation, Message
from conversations.services import export

pytestmark = pytest.mark.django_db

NUMBER = "573001112233"
HOSTILE = [
    '=HYPERLINK("http://evil.example","clic")',
    "+57 300 111",
    "-2+3",
    "@SUM(A1:A9)",
    'Dijo "hola", luego; adiós',
    "línea uno\nlínea dos\r\nlínea tres",
    "\tcon tabulador",
]


@pytest.fixture
def ventas() -> Role:
    return Role.objects.create(name="Ventas", keyword="ventas")


@pytest.fixture
def laura(ventas: Role) -> Conversation:
    """Laura on two channels (WhatsApp by Meta and by YCloud), the Meta chat routed to Ventas, with a bot's
    rule answer, an AI answer, an agent's reply, a voice note and a described image."""
    rule_model = Message.rule.field.related_model
    contact = Contact.objects.create(provider="meta", external_id=NUMBER, profile_name="Laura", alias="Laura Ñandú")
    meta = Channel.objects.create(name="Ventas", provider="meta", external_id="106540352242922")
    chat = Conversation.objects.create(contact=contact, channel=meta, step="cotizar")
    ChatRole.objects.create(conversation=chat, role=ventas)
    rule = rule_model.objects.create(step="inicio", input_text="hola", response_text="¡Hola! ¿Qué buscas?")
    agent = User.objects.create_user("ana", password="x", first_name="Ana", last_name="Ríos")
    rows = [
        {"direction": "in", "text": "hola"},
        {"direction": "out", "text": "¡Hola! ¿Qué buscas?", "rule": rule, "status": "read"},
        {"direction": "in", "kind": "audio", "transcription": "quiero cuarzo blanco", "media_mime": "audio/ogg"},
        {"direction": "out", "text": "El cuarzo blanco cuesta $1.200/m²", "data": {"origin": "ai", "ai_log": 42,
                                                                                   "ai_backend": "extractive"}},
        {"direction": "in", "kind": "image", "image_description": "Una cocina con cubierta gris", "caption": "así"},
        {"direction": "out", "text": "Te ayudo yo", "sent_by": agent, "status": "delivered"},
        *({"direction": "in", "text": text} for text in HOSTILE),
    ]  # fmt: skip
    for n, fields in enumerate(rows):
        Message.objects.create(conversation=chat, provider="meta", provider_message_id=f"wamid.{n}", **fields)
    ycloud = Channel.objects.create(name="Tienda", provider="ycloud", external_id="+576015550100")
    other = Contact.objects.create(provider="ycloud", external_id=NUMBER, profile_name="Laura")
    second = Conversation.objects.create(contact=other, channel=ycloud, step="inicio")
    Message.objects.create(conversation=second, direction="in", text="hola por YCloud", provider="ycloud")
    return chat


def _user(name: str, *, roles: list[Role] = (), staff: bool = False, **perms: bool) -> User:
    user = User.objects.create_user(name, password="x", is_staff=staff)
    user.roles.set(roles)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _csv_rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_json_holds_both_channels_every_message_and_what_is_behind_each_bot_message(
    laura: Conversation, ventas: Role
) -> None:
    client = _client(_user("vera", roles=[ventas], view_all_conversations=True))

    response = client.get(f"/export/conversation/{NUMBER}")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.getvalue())
    assert data["number"] == NUMBER
    assert [c["conversation"]["channel"]["name"] for c in data["conversations"]] == ["Ventas", "Tienda"]
    first = data["conversations"][0]
    assert first["conversation"]["contact"]["alias"] == "Laura Ñandú"
    assert first["conversation"]["step"] == "cotizar"
    assert [r["name"] for r in first["conversation"]["roles"]] == ["Ventas"]
    messages = first["messages"]
    assert len(messages) == 6 + len(HOSTILE)
    by_text = {m["text"]: m for m in messages}
    assert by_text["¡Hola! ¿Qué buscas?"]["origin"] == "rule"
    assert (by_text["¡Hola! ¿Qué buscas?"]["rule_step"], by_text["¡Hola! ¿Qué buscas?"]["status"]) == ("inicio", "read")
    assert by_text["¡Hola! ¿Qué buscas?"]["rule"]  # the rule's stable key
    ai = by_text["El cuarzo blanco cuesta $1.200/m²"]
    assert (ai["origin"], ai["ai_log"], ai["ai_backend"]) == ("ai", 42, "extractive")
    assert by_text["Te ayudo yo"]["sent_by"] == "Ana Ríos"
    assert [m["transcription"] for m in messages if m["kind"] == "audio"] == ["quiero cuarzo blanco"]
    assert [m["image_description"] for m in messages if m["kind"] == "image"] == ["Una cocina con cubierta gris"]
    assert {m["alias"] for m in messages} == {"Laura Ñandú"} and {m["roles"][0] for m in messages} == {"Ventas"}
    assert [m["text"] for m in data["conversations"][1]["messages"]] == ["hola por YCloud"]


def test_csv_is_excel_utf8_with_hostile_text_kept_as_text(laura: Conversation) -> None:
    client = _client(_user("root", staff=True, view_all_conversations=True))

    response = client.get(f"/export/conversation/{NUMBER}.csv?channel={laura.channel_id}")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv_rows(response.getvalue())
    assert list(rows[0]) == list(export.CSV_COLUMNS)
    assert {r["channel"] for r in rows} == {"Ventas"}  # ?channel= keeps one channel's chat
    assert rows[0]["alias"] == "Laura Ñandú" and rows[0]["roles"] == "Ventas"
    texts = [r["text"] for r in rows][-len(HOSTILE) :]
    assert texts == [
        '\'=HYPERLINK("http://evil.example","clic")',
        "'+57 300 111",
        "'-2+3",
        "'@SUM(A1:A9)",
        'Dijo "hola", luego; adiós',  # quotes and separators survive the round trip
        "línea uno\nlínea dos\r\nlínea tres",  # newlines stay inside their cell
        "'\tcon tabulador",
    ]
    assert "El cuarzo blanco cuesta $1.200/m²" in [r["text"] for r in rows]


def test_a_user_who_may_not_see_the_chat_gets_the_same_404_as_for_an_unknown_number(
    laura: Conversation, ventas: Role
) -> None:
    outsider = _client(_user("otro", roles=[Role.objects.create(name="Soporte", keyword="soporte")]))
    seller = _client(_user("vera", roles=[ventas]))

    hidden = outsider.get(f"/export/conversation/{NUMBER}.csv")
    unknown = outsider.get("/export/conversation/579999999999.csv")
    mine = seller.get(f"/export/conversation/{NUMBER}")
    anonymous = Client().get(f"/export/conversation/{NUMBER}")

    assert hidden.status_code == unknown.status_code == 404
    assert hidden.content == unknown.content
    # Ventas sees the routed Meta chat only; the YCloud chat has no role (unrouted) and is not theirs.
    assert [c["conversation"]["channel"]["name"] for c in json.loads(mine.getvalue())["conversations"]] == ["Ventas"]
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert outsider.get(f"/export/conversation/{NUMBER}?channel=x").status_code == 400


def test_the_number_is_found_with_a_plus_or_spaces_and_by_a_contact_id(laura: Conversation) -> None:
    client = _client(_user("root", view_all_conversations=True))

    assert client.get("/export/conversation/+573001112233.json").status_code == 200
    assert client.get("/export/conversation/57 300 111 2233.csv").status_code == 200


def test_a_long_chat_is_read_in_chunks_not_at_once(laura: Conversation, settings: Any) -> None:
    settings.EXPORT_CHUNK_ROWS = 50
    Message.objects.bulk_create(
        Message(conversation=laura, direction="in", kind="text", text=f"mensaje {n}", provider="meta")
        for n in range(1000)
    )
    total = Message.objects.filter(conversation=laura).count()
    client = _client(_user("root", view_all_conversations=True))

    response = client.get(f"/export/conversation/{NUMBER}.csv?channel={laura.channel_id}")
    with CaptureQueriesContext(connection) as queries:
        chunks = list(response.streaming_content)

    table = f"FROM {connection.ops.quote_name(Message._meta.db_table)}"
    message_reads = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert len(message_reads) == -(-total // 50)  # one statement per chunk of 50 rows ...
    assert all("LIMIT 50" in sql for sql in message_reads)  # ... each reading at most 50
    assert len(chunks) == 1 + len(message_reads)  # the header, then one chunk of bytes per statement
    assert len(queries) <= len(message_reads) + 2  # plus the chat's columns once (chat + roles)
    assert len(_csv_rows(b"".join(chunks))) == total


def test_the_same_instant_on_a_chunk_boundary_loses_and_repeats_nothing(laura: Conversation, settings: Any) -> None:
    settings.EXPORT_CHUNK_ROWS = 4
    instant = Message.objects.filter(conversation=laura).first().created_at
    Message.objects.filter(conversation=laura).update(created_at=instant)

    batches = list(export.message_batches(Message.objects.filter(conversation=laura)))

    ids = [row["id"] for batch in batches for row in batch]
    assert ids == sorted(Message.objects.filter(conversation=laura).values_list("id", flat=True))


def test_the_console_export_uses_the_same_rows(laura: Conversation) -> None:
    client = _client(_user("root", view_all_conversations=True))

    console = client.get(f"/api/conversations/{laura.pk}/export/?format=csv")
    by_number = client.get(f"/export/conversation/{NUMBER}.csv?channel={laura.channel_id}")

    assert console.streaming
    assert _csv_rows(console.getvalue()) == _csv_rows(by_number.getvalue())


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_file_is_streamed_by_an_async_iterator(laura: Conversation) -> None:
    """Django would read a synchronous iterator whole into a list under ASGI; ours hands over chunk by chunk."""
    from asgiref.sync import sync_to_async

    user = await sync_to_async(_user)("root", view_all_conversations=True)
    client = AsyncClient()
    await client.aforce_login(user)

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")  # Django's "read whole"
        response = await client.get(f"/export/conversation/{NUMBER}.csv")
        chunks = [chunk async for chunk in response.streaming_content]

    assert response.status_code == 200 and response.is_async
    assert "hola por YCloud" in [r["text"] for r in _csv_rows(b"".join(chunks))]


# --------------------------------------------------------------------------- admin actions


def _admin_action(client: Client, model: str, action: str, ids: list[int]) -> Any:
    return client.post(
        f"/admin/conversations/{model}/", {"action": action, "_selected_action": [str(pk) for pk in ids]}
    )


def test_admin_exports_selected_conversations_as_csv_and_excel(laura: Conversation) -> None:
    client = _client(User.objects.create_superuser("root", password="x"))
    ids = list(Conversation.objects.values_list("pk", flat=True))

    as_csv = _admin_action(client, "conversation", "conversations_export_csv", ids)
    as_xlsx = _admin_action(client, "conversation", "conversations_export_xlsx", ids)

    assert as_csv.status_code == 200 and as_csv.streaming
    rows = _csv_rows(as_csv.getvalue())
    assert len(rows) == Message.objects.count() == 6 + len(HOSTILE) + 1
    assert as_xlsx.status_code == 200 and as_xlsx.streaming
    assert as_xlsx["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = as_xlsx.getvalue()
    sheet = load_workbook(io.BytesIO(workbook), read_only=True).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0] == export.EXPORT_COLUMNS
    assert len(table) == 1 + len(rows)
    texts = [row[export.EXPORT_COLUMNS.index("text")] for row in table[1:]]
    assert '=HYPERLINK("http://evil.example","clic")' in texts  # as text, not a formula
    assert "línea uno\nlínea dos\nlínea tres" in texts  # XML reads a CR LF as one line break
    hyperlink = next(
        c for row in load_workbook(io.BytesIO(workbook)).active.iter_rows() for c in row
        if c.value == '=HYPERLINK("http://evil.example","clic")'
    )  # fmt: skip
    assert hyperlink.data_type == "s"


def test_admin_exports_selected_messages(laura: Conversation) -> None:
    client = _client(User.objects.create_superuser("root", password="x"))
    chosen = list(Message.objects.filter(direction="out").values_list("pk", flat=True))

    as_csv = _admin_action(client, "message", "messages_export_csv", chosen)
    as_xlsx = _admin_action(client, "message", "messages_export_xlsx", chosen)

    assert [int(r["id"]) for r in _csv_rows(as_csv.getvalue())] == sorted(chosen)
    table = list(load_workbook(io.BytesIO(as_xlsx.getvalue()), read_only=True).active.iter_rows(values_only=True))
    assert sorted(row[0] for row in table[1:]) == sorted(chosen)
    assert {row[export.EXPORT_COLUMNS.index("direction")] for row in table[1:]} == {"out"}
