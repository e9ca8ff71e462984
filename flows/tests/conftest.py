"""Flows tests compare the operator messages in English (the msgids); the UI's Spanish is tested elsewhere."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Iterator[None]:
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def client(client: Any) -> Any:
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def admin_client(admin_client: Any) -> Any:
    admin_client.cookies["django_language"] = "en"
    return admin_client
