"""The seed's legacy password hashes: accepted once, upgraded on login, migrated by rehash_passwords."""

import base64
import hashlib
from io import StringIO

import pytest
from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.management import call_command
from django.test import RequestFactory

from accounts.models import User
from accounts.passwords import normalize_legacy_hash

pytestmark = pytest.mark.django_db


def authenticate(**credentials: str) -> User | None:
    """Log in as the login form does (django-axes needs the request)."""
    return django_authenticate(request=RequestFactory().post("/accounts/login/"), **credentials)


def _legacy(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def _werkzeug(password: str, salt: str = "Qx81bd", iterations: int = 600000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2:sha256:{iterations}${salt}${digest}"


def test_legacy_hash_logs_in_once_and_is_upgraded() -> None:
    user = User.objects.create(username="ana")
    User.objects.filter(pk=user.pk).update(password=normalize_legacy_hash(_legacy("clave-vieja")))

    assert authenticate(username="ana", password="otra") is None
    assert authenticate(username="ana", password="clave-vieja") is not None

    user.refresh_from_db()
    assert not user.password.startswith("legacy_sha256$")
    assert identify_hasher(user.password).algorithm != "legacy_sha256"
    assert user.check_password("clave-vieja")


def test_login_through_the_form_upgrades_the_hash(client) -> None:
    User.objects.create(username="beto", password=normalize_legacy_hash(_legacy("s3creta-larga")))
    response = client.post("/accounts/login/", {"username": "beto", "password": "s3creta-larga"})
    assert response.status_code == 302
    assert not User.objects.get(username="beto").password.startswith("legacy_sha256$")


def test_werkzeug_pbkdf2_converts_losslessly() -> None:
    converted = normalize_legacy_hash(_werkzeug("mi-clave"))
    assert converted is not None and converted.startswith("pbkdf2_sha256$600000$Qx81bd$")
    assert check_password("mi-clave", converted)
    assert not check_password("otra-clave", converted)
    expected = base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"mi-clave", b"Qx81bd", 600000)).decode()
    assert converted.endswith(expected)


@pytest.mark.parametrize("value", ["", "pbkdf2_sha256$1$a$b", "abc", "G" * 64, "!"])
def test_non_legacy_values_are_left_alone(value: str) -> None:
    assert normalize_legacy_hash(value) is None


def test_rehash_passwords_reports_and_prepares_legacy_hashes() -> None:
    User.objects.create(username="raw1", password=_legacy("uno"))  # raw seed value, as imported
    User.objects.create(username="raw2", password=_legacy("dos"))
    User.objects.create(username="wz", password=_werkzeug("tres"))
    modern = User.objects.create_user(username="modern", password="moderna-123")

    out = StringIO()
    call_command("rehash_passwords", stdout=out)
    text = out.getvalue()
    assert "prepared for upgrade on next login: 2" in text
    assert "Werkzeug PBKDF2 hashes converted to Django PBKDF2: 1" in text
    assert "Legacy hashes remaining: 2" in text
    assert "raw1" in text and "raw2" in text

    assert authenticate(username="raw1", password="uno") is not None
    assert authenticate(username="wz", password="tres") is not None
    modern.refresh_from_db()
    assert modern.check_password("moderna-123")

    out = StringIO()
    call_command("rehash_passwords", stdout=out)
    assert "Legacy hashes remaining: 1" in out.getvalue()  # raw1 was upgraded by logging in


def test_rehash_passwords_force_reset_makes_legacy_unusable() -> None:
    User.objects.create(username="old", password=_legacy("vieja"))
    out = StringIO()
    call_command("rehash_passwords", "--force-reset", stdout=out)
    assert "Passwords reset (users must set a new one): 1" in out.getvalue()
    assert "Legacy hashes remaining: 0" in out.getvalue()
    assert not User.objects.get(username="old").has_usable_password()
