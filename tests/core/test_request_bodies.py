"""Bodies a person can legitimately send fit the size limit, whatever their script and however
the browser or client escapes them; bodies no parser can take get a 400, never a 500."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from apps.collection.models import Prompt

pytestmark = pytest.mark.django_db

# Summarization needs a context: every text field at its longest.
CJK = "中文摘要"
EMOJI = "😀"


def longest(text: str, chars: int) -> str:
    return (text * chars)[:chars]


def fields(script: str) -> dict[str, str]:
    return {
        "category": "summarization",
        "instruction": longest(script, settings.HEARTH_INSTRUCTION_MAX_CHARS),
        "context": longest(script[::-1], settings.HEARTH_CONTEXT_MAX_CHARS),
        "response": longest(script + "🎉答", settings.HEARTH_RESPONSE_MAX_CHARS),
        "language": "zh",
    }


@pytest.mark.parametrize("script", [CJK, EMOJI])
def test_the_write_form_takes_the_longest_texts_percent_encoded(volunteer, script):
    """A browser posts a form as application/x-www-form-urlencoded: a CJK character becomes
    9 bytes, an emoji 12. At the default limit of 256 KiB such a prompt got a bare 413."""
    client = Client()
    client.force_login(volunteer)
    body = urlencode({**fields(script), "idempotency_key": "k" * 32})
    assert len(body.encode()) > 256 * 1024  # what the old limit refused
    r = client.post("/write/", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 302, r.content[:500]
    prompt = Prompt.objects.get()
    assert len(prompt.instruction) == settings.HEARTH_INSTRUCTION_MAX_CHARS
    assert len(prompt.context) == settings.HEARTH_CONTEXT_MAX_CHARS


def test_the_api_takes_the_longest_texts_as_escaped_json(api):
    """Python's json.dumps (and many clients) escape non-ASCII: 12 bytes for an emoji."""
    body = json.dumps(fields(EMOJI))
    assert body.isascii() and len(body) > 256 * 1024
    r = api.post("/api/v1/prompts/", data=body, content_type="application/json")
    assert r.status_code == 201, r.content[:500]
    assert len(Prompt.objects.get().context) == settings.HEARTH_CONTEXT_MAX_CHARS


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/prompts/", "[" * 5000 + "]" * 5000),
        ("/api/v1/prompts/", '{"a":' * 5000 + "1" + "}" * 5000),
        ("/api/v1/flags/", "[" * 5000 + "]" * 5000),
    ],
)
def test_json_nested_too_deeply_is_a_400(api, url, body):
    assert len(body) < settings.HEARTH_MAX_BODY_BYTES
    r = api.post(url, data=body, content_type="application/json")
    assert r.status_code == 400
    assert "nested too deeply" in r.json()["detail"]
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/prompts/", {"instruction": "Half a pair \ud800 here.", "category": "open_qa"}),
        ("/api/v1/prompts/", {"instruction": "Fine text", "\udc00": 1}),
        # Task answers reach services that quote a bad value back in their message.
        ("/api/v1/tasks/1/submit/", {"labels": ["\ud800"], "quality": 3}),
        ("/api/v1/flags/", {"prompt_id": 1, "reason": "spam", "note": ["x", {"y": "\udfff"}]}),
    ],
)
def test_json_with_half_a_surrogate_pair_is_a_400(api, url, body):
    r = api.post(url, data=json.dumps(body), content_type="application/json")
    assert r.status_code == 400
    assert r.json() == {
        "detail": "The request body could not be read: JSON text holds half of a UTF-16 "
        "surrogate pair (such as \\ud800 alone), which is not a character; remove it."
    }
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b'{"instruction": "caf\xe9"}',
            "The request body could not be read: The body is not UTF-8 text: it holds the "
            "byte 0xe9. Send UTF-8.",
        ),
        (
            b'{"instruction": "x",',
            "The request body could not be read: Not valid JSON: a field name in double quotes "
            "was expected at line 1, column 21.",
        ),
    ],
)
def test_a_body_that_is_not_utf8_or_not_json_says_which(api, body, detail):
    """Both once read "JSON parse error - <Python's message>"."""
    r = api.post("/api/v1/prompts/", data=body, content_type="application/json")
    assert (r.status_code, r.json()) == (400, {"detail": detail})
    assert Prompt.objects.count() == 0


def test_why_a_body_is_not_json_is_said_in_the_readers_language(api):
    """Spanish QA: the reason was Python's English ("Expecting ',' delimiter") in a Spanish
    sentence."""
    r = api.post(
        "/api/v1/prompts/",
        data=b'{"instruction": "x" "y"}',
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert r.status_code == 400
    assert "Expecting" not in r.json()["detail"]
    assert "se esperaba una coma" in r.json()["detail"]


def test_json_with_a_whole_surrogate_pair_is_an_emoji_and_fine(api):
    body = json.dumps(
        {"instruction": "Explain \ud83d\ude00 please.", "category": "open_qa", "language": "en"}
    )
    assert "\\ud83d\\ude00" in body
    r = api.post("/api/v1/prompts/", data=body, content_type="application/json")
    assert r.status_code == 201, r.json()
    assert Prompt.objects.get().instruction == "Explain 😀 please."


def _oversized_write(limit: int) -> str:
    body = urlencode({**fields(CJK), "idempotency_key": "k" * 32})
    assert len(body.encode()) > limit
    return body


def test_a_form_over_the_limit_gets_a_413_page_in_the_site_layout(volunteer, settings):
    settings.HEARTH_MAX_BODY_BYTES = 4096
    client = Client()
    client.force_login(volunteer)
    body = _oversized_write(4096)
    r = client.post(
        "/write/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_REFERER="http://testserver/write/",
    )
    assert r.status_code == 413
    assert r["Content-Type"] == "text/html; charset=utf-8"
    assert "413.html" in [t.name for t in r.templates]
    html = r.content.decode()
    assert '<header class="site-header">' in html
    assert "My contributions" in html  # shown signed in, as on every page
    assert "<h1>What you sent was too large</h1>" in html
    assert "this site takes at most 4.0\xa0KB at once. Nothing was saved." in html
    assert "What you typed is not lost: the Write, Answer and edit pages and a task" in html
    assert "keep your text as a draft in this browser" in html
    assert f"The request body was {len(body.encode())} bytes; the limit is 4096 bytes." in html
    assert '<a class="button" href="http://testserver/write/">Go back to the form</a>' in html
    assert not Prompt.objects.exists()


def test_the_413_page_links_back_only_to_this_site(volunteer, settings):
    settings.HEARTH_MAX_BODY_BYTES = 4096
    client = Client()
    client.force_login(volunteer)
    r = client.post(
        "/write/",
        data=_oversized_write(4096),
        content_type="application/x-www-form-urlencoded",
        HTTP_REFERER="https://elsewhere.example/write/",
    )
    assert r.status_code == 413
    html = r.content.decode()
    assert "elsewhere.example" not in html and "Go back to the form" not in html
    assert '<a class="button" href="/">Go to the home page</a>' in html


def test_the_apis_413_stays_json(api, settings):
    settings.HEARTH_MAX_BODY_BYTES = 4096
    body = json.dumps(fields(EMOJI))
    r = api.post("/api/v1/prompts/", data=body, content_type="application/json")
    assert r.status_code == 413
    assert r["Content-Type"] == "application/json"
    assert r.json() == {
        "detail": f"The request body is {len(body.encode())} bytes; the limit is 4096 bytes."
    }
    assert not Prompt.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        ('{"foo": 1, garbage', "application/json", 400, None),
        ("<xml/>", "application/xml", 415, None),
        ('{"foo": 1}', "application/json", 400, "This request takes no fields"),
        ("[]", "application/json", 400, None),
    ],
)
def test_an_action_that_takes_no_body_refuses_one_and_does_nothing(
    api, volunteer, body, content_type, status, detail
):
    """Withdraw, cancel, retry, publish… read no body; a malformed one used to be ignored, so
    a client's broken request did what a correct one does (a 200, the prompt withdrawn)."""
    from tests.factories import PromptFactory

    prompt = PromptFactory(author=volunteer)
    url = f"/api/v1/prompts/{prompt.pk}/withdraw/"
    r = api.generic("POST", url, body, content_type=content_type)
    assert r.status_code == status, r.content
    if detail:
        assert detail in json.dumps(r.json())
    prompt.refresh_from_db()
    assert prompt.withdrawn_at is None
    for empty in ("", "{}"):  # what it expects: nothing, or an empty object
        fresh = PromptFactory(author=volunteer)
        ok = api.generic("POST", f"/api/v1/prompts/{fresh.pk}/withdraw/", empty, "application/json")
        assert ok.status_code == 200, ok.content
