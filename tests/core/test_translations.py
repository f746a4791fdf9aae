"""The Spanish locale: its catalogue is whole and compiled, pages speak the language the browser
asks for or the footer's switcher chose, English stays the default, and the API's messages
follow the same choice."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from apps.collection.models import PromptState
from tests.factories import PromptFactory, ResponseFactory
from tests.missing import missing

LOCALE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"
SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es"}


def msgfmt(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("msgfmt") is None:
        missing("no msgfmt (apt-get install gettext)")
    return subprocess.run(["msgfmt", *args], capture_output=True, text=True, check=False)


# --- the catalogue ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_committed_mo_is_the_po_compiled(tmp_path, language):
    folder = LOCALE.parent.parent / language / "LC_MESSAGES"
    compiled = tmp_path / "django.mo"
    result = msgfmt("--check", "-o", str(compiled), str(folder / "django.po"))
    assert result.returncode == 0, result.stderr
    assert compiled.read_bytes() == (folder / "django.mo").read_bytes(), (
        f"locale/{language}/LC_MESSAGES/django.mo is not django.po compiled: run `make messages`"
    )


@pytest.mark.parametrize(
    ("url", "heading"),
    [
        ("/accounts/login/", "Sign in"),
        ("/accounts/signup/", "Sign up"),
        ("/accounts/password/reset/", "Password reset"),
        ("/accounts/password/change/", "Change password"),
        ("/accounts/email/", "Email addresses"),
    ],
)
def test_the_account_pages_speak_in_sentence_case_as_the_rest_of_the_site(
    client, volunteer, url, heading
):
    """django-allauth says "Change Password"; every other heading and button of Hearth is in
    sentence case. QA noticed the two side by side."""
    if "change" in url or "email" in url:
        client.force_login(volunteer)
    html = client.get(url).content.decode()
    assert f"<h1>{heading}</h1>" in re.sub(r"<h1>\s*(.*?)\s*</h1>", r"<h1>\1</h1>", html)
    assert heading.title() not in html
    spanish = client.get(url, **SPANISH).content.decode()
    assert heading not in spanish and heading.title() not in spanish  # Spanish, untouched


def test_every_entry_of_the_po_is_translated_and_none_is_fuzzy():
    result = msgfmt("--statistics", "-o", "/dev/null", str(LOCALE / "django.po"))
    assert result.returncode == 0, result.stderr
    # msgfmt adds ", N fuzzy translations" and ", N untranslated messages" when there are any.
    assert re.fullmatch(r"\d+ translated messages?\.", result.stderr.strip()), result.stderr


def test_the_catalogue_is_spanish_with_spanish_plurals():
    with translation.override("es"):
        assert translation.gettext("Browse prompts") == "Explorar instrucciones"
        assert translation.ngettext("%(n)s prompt", "%(n)s prompts", 1) == "%(n)s instrucción"
        assert translation.ngettext("%(n)s prompt", "%(n)s prompts", 2) == "%(n)s instrucciones"
        assert translation.ngettext("%(n)s prompt", "%(n)s prompts", 0) == "%(n)s instrucciones"


def test_one_english_word_with_two_meanings_gets_one_spanish_word_each():
    with translation.override("es"):
        assert translation.pgettext("the item a moderation action was on", "On") == "Sobre"
        assert translation.pgettext("a schedule switched on", "On") == "Activada"
        assert translation.pgettext("what an import did, row by row", "Report") == "Informe"
        assert translation.pgettext("a link to take a task of this kind", "Rank") == "Clasificar"
        assert translation.pgettext("a position on a list", "Rank") == "Puesto"


def test_djangos_own_form_messages_speak_to_the_reader_as_the_site_does():
    """Django's Spanish says *usted* ("Introduzca un número."); the site says *tú*."""
    from django import forms

    class Form(forms.Form):
        whole = forms.IntegerField(max_value=5)
        short = forms.CharField(max_length=3)
        needed = forms.CharField()

    with translation.override("es"):
        errors = Form({"whole": "x", "short": "abcd"}).errors
        assert errors["whole"] == ["Introduce un número entero."]
        assert errors["short"] == [
            "Asegúrate de que este valor tenga como máximo 3 caracteres (tiene 4)."
        ]
        assert errors["needed"] == ["Este campo es obligatorio."]
        assert Form({"whole": "9", "short": "a", "needed": "y"}).errors["whole"] == [
            "Asegúrate de que este valor sea menor o igual que 5."
        ]


# --- pages asked for in Spanish -----------------------------------------------------------------


@pytest.fixture
def web(volunteer) -> Client:
    client = Client()
    client.force_login(volunteer)
    return client


def html_of(response) -> str:
    return response.content.decode()


@pytest.mark.django_db
def test_english_is_the_default_when_the_browser_asks_for_nothing_or_for_another_language(
    client,
):
    for headers in ({}, {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9"}):
        html = html_of(client.get("/", **headers))
        assert '<html lang="en">' in html
        assert "How it works" in html and "Cómo funciona" not in html


@pytest.mark.django_db
def test_pages_asked_for_in_spanish_speak_spanish(client, web):
    PromptFactory(instruction="What is the tallest mountain?")
    pages = [
        (client, "/", ["Cómo funciona", "Escribe los datos que enseñan a los modelos abiertos."]),
        (client, "/browse/", ["Buscar y filtrar instrucciones", "1 instrucción"]),
        (client, "/community/", ["Tabla de posiciones: Esta semana", "Cómo se cuenta"]),
        (client, "/guidelines/", ["Guía para contribuir", "Qué pasa con tu trabajo"]),
        (web, "/write/", ["Escribe una instrucción y respóndela", "Enviar a revisión"]),
        (web, "/profile/", ["Tokens de API", "Guardar perfil", "Mis contribuciones"]),
        (web, "/mine/", ["Todavía no has escrito nada.", "Cerrar sesión"]),
    ]
    for who, path, phrases in pages:
        response = who.get(path, **SPANISH)
        assert response.status_code == 200, path
        html = html_of(response)
        assert '<html lang="es">' in html, path
        for phrase in phrases:
            assert phrase in html, f"{path}: {phrase!r}"
        # The navigation and the footer too, not only the page's own text.
        assert ">Explorar</a>" in html and ">Comunidad</a>" in html, path
        assert "Las contribuciones se publican bajo" in html, path


@pytest.mark.django_db
def test_a_missing_page_in_spanish(client):
    response = client.get("/no-such-page/", **SPANISH)
    assert response.status_code == 404
    html = html_of(response)
    assert "<h1>Página no encontrada</h1>" in html
    assert "Explorar instrucciones" in html


@pytest.mark.django_db
def test_what_people_wrote_is_shown_as_written(client):
    prompt = PromptFactory(instruction="Why is the sky blue?", category="open_qa")
    ResponseFactory(prompt=prompt, text="Rayleigh scattering.")
    html = html_of(client.get(f"/prompts/{prompt.pk}/", **SPANISH))
    assert "Why is the sky blue?" in html and "Rayleigh scattering." in html
    # The category's label is translated; its value (a data value, as in a release) is not.
    assert "Preguntas abiertas" in html
    browse = html_of(client.get("/browse/", **SPANISH))
    assert '<option value="open_qa"' in browse


@pytest.mark.django_db
def test_responses_vary_on_the_language_asked_for(client):
    # A cache in front of the site must not hand the Spanish page to an English reader.
    vary = client.get("/").headers["Vary"]
    assert "Accept-Language" in vary and "Cookie" in vary


# --- the footer's switcher ----------------------------------------------------------------------


class FormReader(HTMLParser):
    """The footer's language form: its action, hidden fields, and the select's options."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.options: list[tuple[str, str, bool]] = []
        self.label_for = ""
        self.select_id = ""
        self.buttons: list[str] = []
        self._in_label = self._in_button = False
        self.label = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("data-testid") == "language-switcher":
            self.inside, self.action = True, a["action"]
        elif self.inside and tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a["value"]
        elif self.inside and tag == "select":
            self.select_id = a["id"]
            assert a["name"] == "language"
        elif self.inside and tag == "option":
            self.options.append((a["value"], a.get("lang", ""), "selected" in a))
        elif self.inside and tag == "label":
            self.label_for, self._in_label = a["for"], True
        elif self.inside and tag == "button":
            assert a["type"] == "submit"
            self._in_button = True
            self.buttons.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        self._in_label = self._in_label and tag != "label"
        self._in_button = self._in_button and tag != "button"

    def handle_data(self, data: str) -> None:
        if self._in_label:
            self.label += data
        if self._in_button:
            self.buttons[-1] += data


def switcher(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    assert reader.action, "no language switcher on the page"
    return reader


@pytest.mark.django_db
def test_the_footer_offers_every_language_by_its_own_name(client):
    form = switcher(html_of(client.get("/browse/?q=bridge")))
    assert form.action == "/i18n/setlang/"
    assert form.hidden["next"] == "/browse/?q=bridge"
    assert "csrfmiddlewaretoken" in form.hidden
    assert form.options == [("en", "en", True), ("es", "es", False)]
    assert form.label_for == form.select_id and form.label == "Show the site in"
    assert form.buttons == ["Change"]

    spanish = switcher(html_of(client.get("/", **SPANISH)))
    assert spanish.options == [("en", "en", False), ("es", "es", True)]
    assert spanish.label == "Mostrar el sitio en" and spanish.buttons == ["Cambiar"]


def choose(client: Client, page: str, language: str, **headers: str):
    """Send the footer's form as it stands on ``page``, with ``language`` chosen."""
    form = switcher(html_of(client.get(page, **headers)))
    return client.post(form.action, {**form.hidden, "language": language}, **headers)


@pytest.mark.django_db
def test_the_switcher_keeps_the_choice_and_going_back_to_english_works(volunteer):
    web = Client(enforce_csrf_checks=True)  # the form must carry its own CSRF token
    web.force_login(volunteer)
    response = choose(web, "/browse/", "es")
    assert response.status_code == 302 and response.headers["Location"] == "/browse/"
    assert web.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"

    # Later pages, with no Accept-Language at all, are Spanish: the cookie decides.
    for path in ("/browse/", "/write/", "/profile/"):
        assert '<html lang="es">' in html_of(web.get(path)), path
    assert "Buscar y filtrar instrucciones" in html_of(web.get("/browse/"))

    # The cookie wins over the browser's own language, and English comes back the same way.
    assert '<html lang="es">' in html_of(web.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    response = choose(web, "/community/", "en")
    assert response.headers["Location"] == "/community/"
    assert web.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    html = html_of(web.get("/community/", **SPANISH))
    assert '<html lang="en">' in html and "How it counts" in html


@pytest.mark.django_db
def test_a_language_the_site_does_not_offer_changes_nothing(client):
    # set_language keeps any language Django itself has a catalogue for, but the site only
    # speaks those in LANGUAGES: the page stays in the default, or in what the browser asks.
    assert choose(client, "/", "fr").status_code == 302
    assert '<html lang="en">' in html_of(client.get("/"))
    assert '<html lang="es">' in html_of(client.get("/", HTTP_ACCEPT_LANGUAGE="fr, es;q=0.5"))


@pytest.mark.django_db
def test_a_page_shown_after_a_post_does_not_send_the_switcher_back_to_the_action(web):
    # The Write form sent back with its errors: its address only takes a POST's worth of data,
    # so the switcher leaves next out and set_language returns to the referring page.
    html = html_of(web.post("/write/", {"instruction": ""}))
    assert "Write your own answer too: every prompt comes with one." in html
    form = switcher(html)
    assert "next" not in form.hidden
    response = web.post(form.action, {"language": "es"}, HTTP_REFERER="http://testserver/write/")
    assert response.headers["Location"] == "http://testserver/write/"


# --- the API --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_messages_follow_the_language_asked_for(api_anon, api):
    # DRF's own messages come from its Spanish catalogue, Hearth's from locale/es.
    with translation.override("es"):
        not_signed_in = translation.gettext("Authentication credentials were not provided.")
    assert not_signed_in != "Authentication credentials were not provided."

    english = api_anon.get("/api/v1/me/")
    spanish = api_anon.get("/api/v1/me/", **SPANISH)
    assert english.status_code == spanish.status_code == 401
    assert english.json() == {"detail": "Authentication credentials were not provided."}
    assert spanish.json() == {"detail": not_signed_in}

    assert api.get("/api/v1/prompts/999999/").json() == {
        "detail": "Not found, or you may not see it."
    }
    assert api.get("/api/v1/prompts/999999/", **SPANISH).json() == {
        "detail": "No encontrado, o no tienes permiso para verlo."
    }
    # The JSON's keys and values stay as they are: only the sentences are translated.
    accepted = PromptFactory(state=PromptState.COLLECTING, category="open_qa")
    body = api.get(f"/api/v1/prompts/{accepted.pk}/", **SPANISH).json()
    assert body["category"] == "open_qa" and body["state"] == "collecting"


def test_language_names_are_given_in_the_language_of_the_page():
    from apps.core.languages import common_languages, language_label, language_name

    assert language_name("es") == "Spanish"
    assert language_name("not a tag!") == "not a tag!"
    with translation.override("es"):
        assert language_name("en") == "inglés"  # in running text, as Spanish writes it
        assert language_label("en") == "Inglés"  # on its own: a menu, a table cell
        assert ("fr", "Francés") in common_languages()
        assert language_label("x-unknown!") == "x-unknown!"
