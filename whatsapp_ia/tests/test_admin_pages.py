"""Every model registered in the admin: its list, add and change pages load for a superuser."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import User
from whatsapp_ia.demo import demo_load

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.fixture
def admin_client_with_data(client: Client) -> Client:
    demo_load(with_ai=False)  # the catalog ingestion has tests of its own (whatsapp_ia/tests/test_demo_flow.py)
    user = User.objects.create_superuser(username="root", password="admin-pass-123")
    client.force_login(user)
    return client


def test_every_app_model_is_registered() -> None:
    labels = {m._meta.label for m in MODELS}
    for label in [
        "accounts.Role",
        "accounts.User",
        "accounts.ChatRole",
        "conversations.Channel",
        "conversations.Contact",
        "conversations.Conversation",
        "conversations.Message",
        "conversations.WebhookDelivery",
        "flows.Rule",
        "flows.QuickReply",
        "flows.GlobalCommand",
        "catalog_ai.Catalog",
        "catalog_ai.CatalogPage",
        "catalog_ai.CatalogChunk",
        "catalog_ai.AISettings",
        "catalog_ai.AILog",
    ]:
        assert label in labels, label


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_admin_pages_load(admin_client_with_data: Client, model: type) -> None:
    opts = model._meta
    changelist = admin_client_with_data.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    search = admin_client_with_data.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "hola"})
    assert search.status_code == 200
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(type("R", (), {"user": User.objects.get(username="root")})()):
        add = admin_client_with_data.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert add.status_code == 200
    obj = model.objects.first()
    if obj is not None:
        change = admin_client_with_data.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200


def test_admin_warns_while_signature_checks_are_off(admin_client_with_data: Client, settings) -> None:
    settings.WEBHOOK_VERIFY_SIGNATURES = False
    assert "WEBHOOK_VERIFY_SIGNATURES" in admin_client_with_data.get("/admin/").content.decode()
    settings.WEBHOOK_VERIFY_SIGNATURES = True
    assert "WEBHOOK_VERIFY_SIGNATURES" not in admin_client_with_data.get("/admin/").content.decode()
