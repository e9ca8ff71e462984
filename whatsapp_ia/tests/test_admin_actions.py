"""Admin actions change data: each declares the permission it needs, and view-only staff cannot run them."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from flows.tests import factories

REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=[m._meta.label for m, _a in REGISTRY])
def test_every_admin_action_declares_its_permissions(model: type, model_admin: admin.ModelAdmin) -> None:
    # _get_base_actions: the site-wide actions (delete_selected) and the ModelAdmin's own, before any filtering.
    for func, name, _description in model_admin._get_base_actions():
        permissions = getattr(func, "allowed_permissions", ())
        assert permissions, f"{model._meta.label}: admin action {name!r} declares no permissions=[...]"
        for permission in permissions:
            assert hasattr(model_admin, f"has_{permission}_permission"), (model._meta.label, name, permission)


def _view_only(client: Client) -> Client:
    user = User.objects.create_user(username="lector", password="clave-lector-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="flows", codename="view_rule"))
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_view_only_user_cannot_deactivate_a_rule(client: Client) -> None:
    rule = factories.rule(step="inicio", input_text="hola", response_text="¡Hola!", active=True)
    _view_only(client)
    changelist = client.get("/admin/flows/rule/")
    assert changelist.status_code == 200
    assert 'value="deactivate"' not in changelist.content.decode()  # not offered
    # A forged POST of the action changes nothing.
    response = client.post("/admin/flows/rule/", {"action": "deactivate", ACTION_CHECKBOX_NAME: [rule.pk], "index": 0})
    assert response.status_code in (200, 302, 403)
    rule.refresh_from_db()
    assert rule.active is True


@pytest.mark.django_db
def test_a_view_only_user_cannot_import_rules(client: Client) -> None:
    _view_only(client)
    assert client.get("/admin/flows/rule/import/").status_code == 403
    assert client.get("/admin/flows/rule/export/").status_code == 200
