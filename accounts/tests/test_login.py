"""Login/logout pages, the language switch, the home page's login guard, and failed-login throttling."""

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent() -> User:
    return User.objects.create_user(username="agente", password="clave-segura-123")


def test_login_page_speaks_spanish_by_default(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="es">' in body
    assert "Iniciar sesión" in body
    assert "Contraseña" in body


def test_spanish_even_when_the_browser_prefers_english(client: Client) -> None:
    body = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="es">' in body


def test_browser_language_is_followed_when_configured(client: Client, settings) -> None:
    settings.LANGUAGE_FOLLOWS_BROWSER = True
    body = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="en">' in body


def test_login_page_in_english_when_chosen(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    body = client.get("/accounts/login/").content.decode()
    assert '<html lang="en">' in body
    assert "Log in" in body and "Password" in body


def test_home_requires_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_login_then_home_then_logout(client: Client, agent: User) -> None:
    response = client.post("/accounts/login/", {"username": "agente", "password": "clave-segura-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "data-console" in home.content.decode()  # the agent console
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_shows_a_clear_error(client: Client, agent: User) -> None:
    response = client.post("/accounts/login/", {"username": "agente", "password": "mala"})
    assert response.status_code == 200
    assert "Por favor, introduzca un nombre de usuario y clave correctos" in response.content.decode()


def test_repeated_failures_lock_the_login(client: Client, agent: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "agente", "password": "mala"})
    # Even the right password is refused while locked out.
    response = client.post("/accounts/login/", {"username": "agente", "password": "clave-segura-123"})
    assert response.status_code == 429
    assert "Demasiados intentos fallidos" in response.content.decode()
    assert client.get("/").status_code == 302


def test_admin_login_is_throttled_too(client: Client, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_superuser(username="jefe", password="clave-jefe-123")
    for _ in range(3):
        client.post("/admin/login/", {"username": "jefe", "password": "x"})
    response = client.post("/admin/login/", {"username": "jefe", "password": "clave-jefe-123"})
    assert response.status_code == 429


def test_a_username_is_locked_on_its_own_after_failures_from_many_addresses(
    client: Client, agent: User, settings
) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
    # Fewer failures per address than the pair limit, from six addresses: the username's own limit.
    for n in range(6):
        response = client.post(
            "/accounts/login/", {"username": "agente", "password": "mala"}, REMOTE_ADDR=f"198.51.100.{n}"
        )
        assert response.status_code in (200, 429)
    response = client.post(
        "/accounts/login/", {"username": "agente", "password": "clave-segura-123"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 429
    # Another username is not affected.
    User.objects.create_user(username="otra", password="clave-de-otra-123")
    response = client.post(
        "/accounts/login/", {"username": "otra", "password": "clave-de-otra-123"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 302


def test_below_the_username_limit_other_addresses_still_log_in(client: Client, agent: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
    for _ in range(3):  # this address is locked for this username...
        client.post("/accounts/login/", {"username": "agente", "password": "mala"}, REMOTE_ADDR="198.51.100.1")
    locked = client.post(
        "/accounts/login/", {"username": "agente", "password": "clave-segura-123"}, REMOTE_ADDR="198.51.100.1"
    )
    assert locked.status_code == 429
    # ...the user at another address is not (4 failures in all, under the username's limit of 6).
    response = client.post(
        "/accounts/login/", {"username": "agente", "password": "clave-segura-123"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("counts", "limits", "locked"),
    [
        ((2, 2), (3, 6), False),
        ((3, 3), (3, 6), True),  # the pair reached its limit
        ((1, 6), (3, 6), True),  # the username reached its own
        ((2, 5), (3, 6), False),
        ((0, 0), (3, 6), False),
    ],
)
def test_scaled_failures_reach_the_base_limit_exactly_when_a_combination_reaches_its_own(
    counts: tuple[int, int], limits: tuple[int, int], locked: bool
) -> None:
    from accounts.lockout import scaled_failures

    assert (scaled_failures(counts=counts, limits=limits, base_limit=3) >= 3) is locked
