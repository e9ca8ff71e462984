"""A rule's role keyword is never dropped: saving, importing or running such a rule creates the role and says so."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import translation

from accounts.models import ChatRole, Role, User
from accounts.services import roles_ensure
from conversations.models import Channel, Contact, Conversation, Message
from flows.engine import Decision
from flows.excel import rules_import
from flows.models import Rule
from flows.services import decision_apply
from flows.tests import factories

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/flows/rule/add/"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    client.cookies["django_language"] = "en"
    return client


def workbook(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["step", "input_text", "response_text", "role_keyword"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_saving_a_rule_with_an_unknown_role_creates_it_and_says_so(admin_client: Client) -> None:
    Role.objects.create(keyword="soporte", name="Soporte")

    response = admin_client.post(
        ADD_URL,
        factories.rule_form(role_keyword="ventas, soporte"),
    )

    assert response.status_code == 302
    role = Role.objects.get(keyword="ventas")
    assert role.name == "Ventas"
    assert Role.objects.count() == 2
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("No role had the keyword 'ventas', so the role 'Ventas' was created" in m for m in shown)


def test_a_role_keyword_that_cannot_be_a_role_is_a_form_error(admin_client: Client) -> None:
    response = admin_client.post(
        ADD_URL,
        factories.rule_form(
            input_text="cotizar", response_text="Escribe las medidas.", role_keyword="ventas mayoristas"
        ),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["role_keyword"] == [
        "'ventas mayoristas' cannot be a role keyword: use letters, digits, '-' or '_' "
        "(no spaces or accents), at most 50 characters."
    ]
    assert not Rule.objects.exists() and not Role.objects.exists()


def test_an_existing_role_is_matched_ignoring_case(admin_client: Client) -> None:
    Role.objects.create(keyword="ventas", name="Equipo de ventas")

    response = admin_client.post(ADD_URL, factories.rule_form(role_keyword="Ventas"))

    assert response.status_code == 302
    assert list(Role.objects.values_list("keyword", flat=True)) == ["ventas"]


def test_importing_rules_with_an_unknown_role_creates_it_and_reports_it() -> None:
    data = workbook([["menu", "cotizar", "Medidas", "ventas"], ["menu", "asesor", "Ya te atienden", "ventas"]])

    preview = rules_import(file=data, dry_run=True)

    assert preview.errors == []
    assert [w for w in preview.warnings if "'ventas'" in w] == [
        "row 2, column role_keyword: No role had the keyword 'ventas', so the role 'Ventas' was created for it. "
        "Add agents to that role so they see the chats it receives."
    ]
    assert not Role.objects.exists()  # a dry run writes nothing

    report = rules_import(file=data)

    assert report.saved and report.created == 2
    assert Role.objects.get(keyword="ventas").name == "Ventas"
    assert any("'ventas'" in w for w in report.warnings)


def test_importing_a_role_keyword_that_cannot_be_a_role_names_the_row_and_column() -> None:
    report = rules_import(file=workbook([["menu", "cotizar", "Medidas", "ventas, área sur"]]))

    assert not report.saved
    assert [str(e) for e in report.errors] == [
        "row 2, column role_keyword: 'área sur' cannot be a role keyword: use letters, digits, '-' or '_' "
        "(no spaces or accents), at most 50 characters."
    ]
    assert not Rule.objects.exists() and not Role.objects.exists()


def test_a_rule_whose_role_is_missing_at_run_time_still_assigns_it() -> None:
    channel = Channel.objects.create(name="Ventas", provider="meta", external_id="1065")
    contact = Contact.objects.create(provider="meta", external_id="573001112233")
    conversation = Conversation.objects.create(contact=contact, channel=channel, step="menu")
    message = Message.objects.create(
        conversation=conversation, direction="in", kind="text", text="cotizar", provider="meta", provider_message_id="m"
    )

    decision_apply(
        conversation=conversation, message=message, decision=Decision(next_step="medidas", assign_roles=("ventas",))
    )

    role = Role.objects.get(keyword="ventas")
    assert ChatRole.objects.filter(conversation=conversation, role=role).exists()
    message.refresh_from_db()
    assert message.data["created_roles"] == ["ventas"]


def test_roles_ensure_names_a_new_role_after_its_keyword_even_when_that_name_is_taken() -> None:
    Role.objects.create(keyword="sales", name="Ventas")

    ensured = roles_ensure(keywords=["ventas", " ventas ", "sales", "no valid"])

    assert [r.name for r in ensured.created] == ["Ventas (2)"]
    assert set(ensured.roles) == {"ventas", "sales"}
    assert ensured.invalid == ("no valid",)


def test_the_admin_import_preview_says_which_roles_it_creates(admin_client: Client) -> None:
    from django.contrib import admin
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse
    from import_export.formats.base_formats import XLSX

    formats = [f.__name__ for f in admin.site._registry[Rule].get_import_formats()]
    preview = admin_client.post(
        reverse("admin:flows_rule_import"),
        {
            "resource": "0",
            "format": str(formats.index(XLSX.__name__)),
            "import_file": SimpleUploadedFile("rules.xlsx", workbook([["menu", "cotizar", "Medidas", "ventas"]])),
        },
    )

    assert preview.status_code == 200
    assert "No role had the keyword &#x27;ventas&#x27;, so the role &#x27;Ventas&#x27; was created" in (
        preview.content.decode()
    )
    assert not Role.objects.exists()  # the preview is a dry run

    admin_client.post(reverse("admin:flows_rule_process_import"), preview.context["confirm_form"].initial)
    assert Role.objects.get(keyword="ventas").name == "Ventas"
