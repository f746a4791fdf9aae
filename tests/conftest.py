"""Shared fixtures: three standing users (a volunteer, a second volunteer, an outsider who has
not accepted the licence), a maintainer, and API clients for each."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group
from django.utils import translation
from rest_framework.test import APIClient

from apps.accounts import roles
from tests import gguf_cache
from tests.factories import LicenceAcceptanceFactory, UserFactory


def pytest_configure(config: pytest.Config) -> None:
    gguf_cache.configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    gguf_cache.unconfigure(config)


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Each test gets its own key prefix in the shared Redis cache, so rate limits and cached
    values never leak between tests, xdist workers or runs (and nothing is flushed); and a
    fast password hasher, since hashing is not what these tests are about."""
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    for conf in caches.values():
        conf["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: LocaleMiddleware leaves the language of a
    test client's last request active in the thread, so a Spanish request would otherwise
    carry over into whatever test runs next there."""
    translation.deactivate()
    yield
    translation.deactivate()


def _volunteer(**kwargs):
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get(name=roles.VOLUNTEER))
    LicenceAcceptanceFactory(user=user)
    return user


@pytest.fixture
def make_volunteer(db):
    """Build licensed volunteers on demand: ``make_volunteer(languages=["de"])``."""
    return _volunteer


@pytest.fixture
def volunteer(db):
    return _volunteer(display_name="Ada")


@pytest.fixture
def volunteer2(db):
    return _volunteer(display_name="Grace")


@pytest.fixture
def outsider(db):
    """Signed up, but has not accepted the data licence."""
    return UserFactory(display_name="Outsider")


@pytest.fixture
def maintainer(db):
    user = _volunteer(display_name="Maintainer")
    user.groups.add(Group.objects.get(name=roles.MAINTAINER))
    return user


@pytest.fixture
def moderator(db):
    user = _volunteer(display_name="Moderator")
    user.groups.add(Group.objects.get(name=roles.MODERATOR))
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api(volunteer) -> APIClient:
    return client_for(volunteer)


@pytest.fixture
def api2(volunteer2) -> APIClient:
    return client_for(volunteer2)


@pytest.fixture
def api_outsider(outsider) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def api_anon() -> APIClient:
    return APIClient()


@pytest.fixture
def api_maintainer(maintainer) -> APIClient:
    return client_for(maintainer)


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("slow")
    return 0.0 if marker is None else float(marker.kwargs.get("seconds", 5))


def pytest_collection_modifyitems(config, items):
    """Start both xdist workers on the slow tests, longest first. ``make test`` runs ``-n 2
    --dist worksteal``, which hands each worker one half of the collection and lets an idle
    worker take the back of the other's queue. In file order the longest end-to-end tests
    (training, worker) sat at the back of one half, and the run waited on them at its end. So
    the slow tests' modules (whole, to keep their module fixtures set up once) are dealt to
    the half with less slow work so far, by their ``slow(seconds=…)`` estimates, longest
    first; each half opens with its share, and the quick tests fill in behind."""
    slow_modules: dict[str, list[pytest.Item]] = {}
    fast: list[pytest.Item] = []
    for item in items:
        if _seconds(item):
            slow_modules.setdefault(item.nodeid.split("::")[0], []).append(item)
        else:
            fast.append(item)
    halves: tuple[list[pytest.Item], list[pytest.Item]] = ([], [])
    for module in sorted(slow_modules.values(), key=lambda m: -max(map(_seconds, m))):
        module.sort(key=_seconds, reverse=True)
        min(halves, key=lambda half: sum(map(_seconds, half))).extend(module)
    first_fast = max(0, len(items) // 2 - len(halves[0]))
    items[:] = halves[0] + fast[:first_fast] + halves[1] + fast[first_fast:]


@pytest.fixture
def limits():
    """Set the rates of some throttle scopes for one test (each test has its own cache key
    prefix, so counts start at zero): ``limits(tasks_next="2/min")``."""
    from django.conf import settings

    from apps.core.throttling import ScopedThrottle

    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])

    def set_rates(**changed: str) -> None:
        ScopedThrottle.THROTTLE_RATES = {**rates, **changed}

    yield set_rates
    ScopedThrottle.THROTTLE_RATES = rates


def assert_429_says_when(r) -> str:
    """A page's 429: it says how long to wait, in words that agree with Retry-After. Its HTML."""
    from apps.core.throttling import wait_in_words

    assert r.status_code == 429
    html = r.content.decode()
    assert f"Too many requests. Try again {wait_in_words(int(r['Retry-After']))}." in html, html
    return html
