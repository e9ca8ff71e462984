"""Catalog PDFs are not public: the admin links to a staff-only download, not to /media/."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import Resolver404, resolve

from accounts.models import User
from catalog_ai.models import Catalog

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% a catalog\n"


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog(name="Cocinas 2025", sha256="a" * 64, status="ready")
    catalog.file.save("cocinas.pdf", ContentFile(PDF), save=True)
    return catalog


def test_the_admin_links_the_pdf_to_a_staff_only_download(client: Client, catalog: Catalog) -> None:
    client.force_login(User.objects.create_superuser(username="root", password="admin-pass-123"))
    page = client.get(f"/admin/catalog_ai/catalog/{catalog.pk}/change/").content.decode()
    download = f"/admin/catalog_ai/catalog/{catalog.pk}/pdf/"
    assert download in page and f"/media/{catalog.file.name}" not in page

    response = client.get(download)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF


def test_the_pdf_is_not_public(client: Client, catalog: Catalog) -> None:
    with pytest.raises(Resolver404):
        resolve(f"/media/{catalog.file.name}")
    response = client.get(f"/admin/catalog_ai/catalog/{catalog.pk}/pdf/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
