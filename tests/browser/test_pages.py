"""Every main page, at desktop and phone width: it renders, fits the screen without
sideways scrolling, and every form control has a label. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from apps.accounts import services as account_services
from tests.browser.conftest import DESKTOP, PHONE, horizontal_overflow
from tests.factories import PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.browser

UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll('input, textarea, select')]
  .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)
"""


@pytest.fixture
def site(volunteer, volunteer2):
    """A small populated site: public prompts with answers, and the volunteer's own work."""
    public = PromptFactory(
        author=volunteer2,
        category="closed_qa",
        instruction="According to the text, when did the **bridge** open to traffic?",
        context="The Øresund Bridge, linking Copenhagen and Malmö, opened on 1 July 2000.",
    )
    ResponseFactory(prompt=public, author=volunteer2, text="On *1 July 2000*.")
    ResponseFactory(prompt=public, author=UserFactory(), text="It opened in July 2000.")
    for n in range(3):
        PromptFactory(author=volunteer2, instruction=f"Name three uses of baking soda, take {n}.")
    own = PromptFactory(
        author=volunteer, state="review", instruction="Why is the sky blue during the day?"
    )
    ResponseFactory(prompt=own, author=volunteer, state="review", text="Rayleigh scattering.")
    ResponseFactory(prompt=public, author=volunteer, state="review", text="1 July 2000.")
    account_services.api_token_create(user=volunteer, name="laptop script")
    return {"public": public, "own": own}


PAGES = [
    # (name, path or callable, who is signed in)
    ("home", "/", None),
    ("signup", "/accounts/signup/", None),
    ("login", "/accounts/login/", None),
    ("licence", "/licence/?next=/write/", "outsider"),
    ("write", "/write/", "volunteer"),
    ("mine", "/mine/", "volunteer"),
    ("browse", "/browse/", None),
    ("prompt", "public", None),
    ("profile", "/profile/", "volunteer"),
    ("answer", "answer", "volunteer"),
    ("mine-empty", "/mine/", "volunteer2-empty"),
    ("browse-empty", "/browse/?category=summarization", None),
    ("email", "/accounts/email/", "volunteer"),
    ("password-change", "/accounts/password/change/", "volunteer"),
]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize(("name", "target", "who"), PAGES, ids=[p[0] for p in PAGES])
def test_page_fits_and_labels_every_control(
    page, login, shot, site, volunteer, outsider, name, target, who, viewport
):
    users = {"volunteer": volunteer, "outsider": outsider, "volunteer2-empty": UserFactory()}
    if who:
        login(page, users[who])
    paths = {"public": f"/prompts/{site['public'].pk}/", "answer": f"/prompts/{site['public'].pk}/answer/"}
    page.set_viewport_size(viewport)
    response = page.goto(paths.get(target, target))
    assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
    shot(page, f"{name}-{viewport['width']}")
    assert horizontal_overflow(page) == 0
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert page.locator("h1").count() == 1
