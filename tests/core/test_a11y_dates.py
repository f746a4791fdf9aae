"""Short dates in the page's language (QA): Spanish pages said "27 Nov 2026" and "se unió el
6 Oct 2026", Django's "M" giving the month a capital that Spanish does not write. The
``date_abbr`` filter writes "27 nov 2026" there, and English keeps "27 Nov 2026"."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import translation

from apps.collection.models import Prompt
from tests.factories import PromptFactory

WHEN = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)


def render(fmt: str, language: str) -> str:
    with translation.override(language):
        return Template("{% load hearth %}{{ when|date_abbr:fmt }}").render(
            Context({"when": WHEN, "fmt": fmt})
        )


@pytest.mark.parametrize(
    ("fmt", "english", "spanish"),
    [
        ("j M Y", "27 Nov 2026", "27 nov 2026"),
        ("j M", "27 Nov", "27 nov"),
        ("D j M", "Fri 27 Nov", "vie 27 nov"),
        ("j M Y, H:i", "27 Nov 2026, 12:30", "27 nov 2026, 12:30"),
        (r"j \M", "27 M", "27 M"),  # an escaped M is a letter, not the month
    ],
)
def test_the_month_is_written_as_the_language_writes_it(fmt, english, spanish):
    assert render(fmt, "en") == english
    assert render(fmt, "es") == spanish


@pytest.mark.django_db
def test_my_contributions_in_spanish_writes_the_month_in_lower_case(volunteer):
    prompt = PromptFactory(author=volunteer)
    Prompt.objects.filter(pk=prompt.pk).update(created_at=WHEN)
    client = Client()
    client.force_login(volunteer)

    spanish = client.get("/mine/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    english = client.get("/mine/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    when = r'<time datetime="2026-11-27T12:30:00\+00:00">([^<]*)</time>'
    assert re.findall(when, spanish) == ["27 nov 2026"]
    assert re.findall(when, english) == ["27 Nov 2026"]
