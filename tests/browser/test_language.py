"""The footer's language switcher on a phone: a volunteer changes the site to Spanish with it,
without any script's help, finds the following pages in Spanish and still fitting the screen,
and changes back to English the same way."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import horizontal_overflow
from tests.browser.test_pages import accessibility_violations
from tests.factories import PromptFactory

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}


def change_language(tab: Page, label: str, button: str, language: str) -> None:
    switcher = tab.get_by_test_id("language-switcher")
    switcher.get_by_label(label, exact=True).select_option(language)
    with tab.expect_navigation():
        switcher.get_by_role("button", name=button, exact=True).click()


def test_a_volunteer_switches_the_site_to_spanish_on_a_phone_and_back(page, login, shot, volunteer):
    PromptFactory(instruction="What is the tallest mountain on Earth?")
    page.set_viewport_size(PHONE_390)
    login(page, volunteer)
    page.goto("/browse/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    change_language(page, "Show the site in", "Change", "es")
    # Back on the same page, now in Spanish, the choice kept for the pages after it.
    assert page.url.endswith("/browse/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Explorar instrucciones")
    expect(page.get_by_role("button", name="Buscar", exact=True)).to_be_visible()
    expect(page.get_by_text("What is the tallest mountain on Earth?")).to_be_visible()
    expect(page.get_by_label("Mostrar el sitio en")).to_have_value("es")
    shot(page, "browse-es")

    problems: list[str] = []
    pages = {
        # path: (its heading, a line of its text)
        "/browse/": ("Explorar instrucciones", "1 instrucción"),
        "/write/": ("Escribe una instrucción y respóndela", "Se permite Markdown."),
        "/community/": ("Comunidad", "Cómo se cuenta"),
        "/profile/": ("Perfil", "Tokens de API"),
    }
    for path, (heading, text) in pages.items():
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_text(text).first).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "es")
        if overflow := horizontal_overflow(page):
            problems.append(f"{path}: {overflow}px wider than the screen")
        problems += [f"{path}: {violation}" for violation in accessibility_violations(page)]
        shot(page, path.strip("/") + "-es")
    # The menu, opened on the phone, in Spanish too.
    page.locator("label[for=nav-toggle]").click()
    expect(page.get_by_role("link", name="Mis contribuciones")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    assert problems == []

    change_language(page, "Mostrar el sitio en", "Cambiar", "en")
    assert page.url.endswith("/profile/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    page.goto("/community/")
    expect(page.get_by_text("How it counts")).to_be_visible()
