"""django-allauth's pages, messages and emails in Spanish speak to the reader as *tú*, as the rest
of the site does. allauth's own Spanish says *usted* ("¿Ya tiene una cuenta?", "Introduzca su
contraseña"); apps/accounts/allauth_messages.py puts the strings it shows in Hearth's catalogue,
which comes first."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import allauth
import pytest
from django.core import mail
from django.test import Client
from django.utils import translation

from apps.accounts.allauth_messages import MESSAGES
from tests.accounts.hugging_face import hugging_face_providers
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es"}
ALLAUTH_SPANISH = Path(allauth.__file__).parent / "locale" / "es" / "LC_MESSAGES" / "django.mo"

# What allauth's Spanish writes where Hearth's says tú: "su contraseña", "Introduzca",
# "¿Ha olvidado…?", "¿Seguro que desea…?", "por favor inicie sesión", "Le hemos enviado"…
USTED = re.compile(
    r"\b(su|sus|usted|introduzca|ingrese|olvidó|ha olvidado|desea|tiene una cuenta|haga clic"
    r"|compruebe|póngase|inicie sesión|regístrese|escriba|debe escribir|le hemos|verifique"
    r"|confirme|siga el enlace|ha iniciado sesión|ha cerrado sesión|ha confirmado)\b",
    re.IGNORECASE,
)


def main_of(response) -> str:
    """The page's own content: what allauth's template and the messages above it say."""
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="es">' in html
    return re.search(r"<main\b.*?</main>", html, re.DOTALL).group(0)


def usted_in(text: str) -> list[str]:
    return USTED.findall(re.sub(r"<[^>]+>", " ", text))


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


def test_every_marked_string_is_still_one_that_allauth_translates():
    """An allauth upgrade that rewords a string leaves its old msgid here matching nothing, and
    allauth's usted back on the page: reword it here too and translate it again."""
    with ALLAUTH_SPANISH.open("rb") as f:
        allauths = gettext.GNUTranslations(f)
    stale = [message for message in MESSAGES if allauths.gettext(message) == message]
    assert stale == []


def test_no_marked_string_says_usted_in_spanish():
    with translation.override("es"):
        spanish = {message: translation.gettext(message) for message in MESSAGES}
    assert {m: s for m, s in spanish.items() if s == m} == {}, "untranslated"
    assert {m: s for m, s in spanish.items() if usted_in(s)} == {}


@pytest.mark.parametrize(
    ("path", "signed_in", "phrases"),
    [
        (
            "/accounts/login/",
            False,
            ["Si todavía no tienes una cuenta, primero", "¿Olvidaste tu contraseña?", "Recordarme"],
        ),
        ("/accounts/signup/", False, ["¿Ya tienes una cuenta? Entonces", "Contraseña (otra vez)"]),
        (
            "/accounts/password/reset/",
            False,
            ["¿Olvidaste tu contraseña? Escribe tu dirección", "Restablecer mi contraseña"],
        ),
        ("/accounts/confirm-email/", False, ["Verifica tu dirección de correo electrónico"]),
        ("/accounts/password/change/", True, ["Contraseña actual", "Contraseña nueva (otra vez)"]),
        (
            "/accounts/email/",
            True,
            ["Estas son las direcciones de correo electrónico de tu cuenta:", "Quitar"],
        ),
        ("/accounts/logout/", True, ["¿Seguro que quieres cerrar sesión?"]),
        ("/accounts/reauthenticate/", True, ["Escribe tu contraseña:"]),
    ],
)
def test_the_account_pages_in_spanish_say_tu(client, web, path, signed_in, phrases):
    page = main_of((web if signed_in else client).get(path, **SPANISH))
    assert usted_in(page) == []
    for phrase in phrases:
        assert phrase in page, phrase


def test_a_wrong_password_and_signing_out_are_answered_with_tu(client, volunteer):
    page = main_of(
        client.post("/accounts/login/", {"login": volunteer.email, "password": "wrong"}, **SPANISH)
    )
    assert "La dirección de correo electrónico o la contraseña que escribiste" in page
    assert usted_in(page) == []

    client.force_login(volunteer)
    page = main_of(client.post("/accounts/logout/", follow=True, **SPANISH))
    assert "Has cerrado sesión." in page


def test_the_password_change_says_which_field_is_wrong_with_tu(web):
    page = main_of(
        web.post(
            "/accounts/password/change/",
            {"oldpassword": "wrong", "password1": "a long new password", "password2": "another"},
            **SPANISH,
        )
    )
    assert "Escribe tu contraseña actual." in page
    assert "Escribe la misma contraseña las dos veces." in page
    assert usted_in(page) == []


def test_an_account_without_a_password_is_offered_one_with_tu(client):
    user = UserFactory()  # as one made through Hugging Face sign-in
    user.set_unusable_password()
    user.save(update_fields=["password"])
    client.force_login(user)
    page = main_of(client.get("/accounts/password/set/", **SPANISH))
    assert "Crear una contraseña" in page
    assert usted_in(page) == []


def test_the_emails_sent_from_a_spanish_page_say_tu(client, volunteer):
    password = "correct horse battery staple"
    for email in ("newcomer@example.com", volunteer.email):  # new, then already signed up
        page = main_of(
            client.post(
                "/accounts/signup/",
                {"email": email, "password1": password, "password2": password},
                follow=True,
                **SPANISH,
            )
        )
        assert "Te hemos enviado un correo electrónico de verificación." in page
        client.logout()
    for email in (volunteer.email, "nobody@example.com"):
        client.post("/accounts/password/reset/", {"email": email}, **SPANISH)

    subjects = [message.subject for message in mail.outbox]
    assert subjects == [
        "[Hearth] Confirma tu dirección de correo electrónico",
        "[Hearth] La cuenta ya existe",
        "[Hearth] Restablece tu contraseña",
        "[Hearth] Cuenta desconocida",
    ]
    for message in mail.outbox:
        assert message.body.startswith("¡Hola desde Hearth!"), message.subject
        assert usted_in(message.body) == [], message.subject
    assert "restablece la contraseña para recuperar tu cuenta" in mail.outbox[1].body
    assert "Haz clic en el enlace de abajo" in mail.outbox[2].body


def test_hugging_face_sign_in_says_tu(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = hugging_face_providers("https://huggingface.co")
    page = main_of(client.get("/accounts/login/", **SPANISH))
    assert "O usa una cuenta externa" in page
    assert "Continuar con Hugging Face" in page

    page = main_of(client.get("/accounts/oidc/huggingface/login/", **SPANISH))
    assert "Vas a iniciar sesión con tu cuenta de Hugging Face." in page
    assert usted_in(page) == []
