"""Every bad input gets a 400 with a per-field message a person understands; nothing is saved."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.collection.models import Prompt, PromptState
from apps.collection.services import check_prompt_fields

pytestmark = pytest.mark.django_db

URL = "/api/v1/prompts/"
GOOD = {"instruction": "Name three rivers in Europe.", "category": "open_qa", "language": "en"}


def post(api, **changes):
    return api.post(URL, {**GOOD, **changes}, format="json")


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"instruction": "Hi"}, "instruction", "too short: at least 4 characters"),
        ({"instruction": "x" * 4001}, "instruction", "too long: at most 4,000 characters"),
        ({"instruction": "   \n\t  "}, "instruction", "cannot be only whitespace"),
        ({"instruction": ""}, "instruction", "is required"),
        ({"instruction": "\u200b\u200b\u200b\u200b\u200b"}, "instruction", "only whitespace"),
        ({"instruction": "\ufeff\u200d \u2060\u200e\u202e"}, "instruction", "only whitespace"),
        ({"instruction": "Bell\x07 character"}, "instruction", "control character (U+0007)"),
        # UX QA: "test \u202eevil.exe" was saved, and shown everywhere as "test exe.live".
        ({"instruction": "Open \u202eevil.exe now"}, "instruction", "direction text is shown"),
        ({"response": "Fine \u2067isolated\u2069."}, "response", "(U+2067)"),
        ({"context": "A \u202aembedded\u202c one"}, "context", "(U+202A)"),
        # One message for a NUL, the pages' and the other control characters' (QA).
        ({"instruction": "Null\x00 byte here"}, "instruction", "control character (U+0000)"),
        ({"context": "A NUL\x00 here"}, "context", "The context contains a control character"),
        ({"response": "A NUL\x00 here"}, "response", "The answer contains a control character"),
        ({"context": "c" * 20_001}, "context", "too long: at most 20,000 characters"),
        ({"response": "r" * 20_001}, "response", "too long: at most 20,000 characters"),
        ({"response": "   "}, "response", "cannot be only whitespace"),
        ({"response": "\u200b\u200b\u200b\u200b"}, "response", "cannot be only whitespace"),
        ({"response": "Name three rivers in  europe."}, "response", "only repeats the instruction"),
        ({"category": "poetry"}, "category", "Choose one of the categories"),
        ({"language": "klingon-xx-yy-zz"}, "language", "not a valid BCP-47"),
        ({"language": ""}, "language", "BCP-47"),
        ({"category": "closed_qa"}, "context", "needs a context"),
        ({"category": "summarization", "context": "  "}, "context", "needs a context"),
        ({"instruction": 42}, "instruction", "Must be text"),
        ({"instruction": None}, "instruction", "null"),
        ({"language": ["en"]}, "language", "Must be text"),
    ],
)
def test_it_rejects_bad_fields(api, changes, field, fragment):
    r = post(api, **changes)
    assert r.status_code == 400, r.json()
    messages = " ".join(r.json()[field])
    assert fragment.lower() in messages.lower(), messages
    assert Prompt.objects.count() == 0


def test_it_names_every_bad_field_at_once(api):
    r = post(api, instruction="Hi", category="poetry", language="??")
    assert r.status_code == 400
    assert set(r.json()) == {"instruction", "category", "language"}


def test_it_refuses_a_duplicate_instruction_with_a_link(api, api2):
    first = post(api).json()
    Prompt.objects.filter(pk=first["id"]).update(state=PromptState.COLLECTING)  # public now
    r = post(api2, instruction="  name THREE rivers   in europe.  ")
    assert r.status_code == 400
    message = r.json()["instruction"][0]
    assert f"/prompts/{first['id']}/" in message
    assert api2.get(f"/prompts/{first['id']}/").status_code == 200
    assert Prompt.objects.count() == 1


def test_a_duplicate_of_someone_elses_prompt_in_review_names_no_link_that_is_a_404(api, api2):
    """The link once led the second writer to "not found": a prompt in review is its author's
    and the moderators' alone."""
    first = post(api).json()
    r = post(api2, instruction="  name THREE rivers   in europe.  ")
    assert r.status_code == 400
    assert r.json()["instruction"] == [
        "Someone else has already written this instruction. It is not public, so it cannot be "
        "shown: write a different one."
    ]  # nor its number: API QA saw the private prompt's id in this message
    assert api2.get(f"/prompts/{first['id']}/").status_code == 404
    assert Prompt.objects.count() == 1


def test_a_duplicate_of_ones_own_prompt_in_review_links_it(api):
    first = post(api).json()
    r = post(api, instruction="Name three rivers in Europe!")
    assert r.status_code == 400
    assert f"/prompts/{first['id']}/" in r.json()["instruction"][0]


def test_it_rejects_malformed_json(api):
    r = api.post(URL, data='{"instruction": "x",', content_type="application/json")
    assert r.status_code == 400
    assert "could not be read" in r.json()["detail"]


def test_it_rejects_a_json_list_body(api):
    r = api.post(URL, data="[1, 2]", content_type="application/json")
    assert r.status_code == 400
    assert "dictionary" in r.json()["non_field_errors"][0]


def test_it_rejects_invalid_utf8(api):
    r = api.post(URL, data=b'{"instruction": "\xff\xfe bad"}', content_type="application/json")
    assert r.status_code == 400


def test_it_refuses_an_oversized_body_with_413(api, settings):
    body = '{"instruction": "' + "x" * (settings.HEARTH_MAX_BODY_BYTES + 10) + '"}'
    r = api.post(URL, data=body, content_type="application/json")
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]
    assert Prompt.objects.count() == 0


def test_crlf_is_folded_and_tabs_are_kept(api):
    r = post(api, instruction="Line one\r\nline two\tend")
    assert r.status_code == 201
    assert Prompt.objects.get().instruction == "Line one\nline two\tend"


def test_it_keeps_format_characters_inside_real_text(api):
    # A zero-width non-joiner is part of Persian spelling: only text of nothing else is blank.
    instruction = "Translate \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 into English."
    r = post(api, instruction=instruction)
    assert r.status_code == 201, r.json()
    assert Prompt.objects.get().instruction == instruction


@pytest.mark.parametrize("category", [[], ["closed_qa"], {"a": 1}, None, 3])
def test_a_category_that_is_not_text_is_refused_with_the_choices(category):
    # A write task's answer reaches this check without a serializer typing its fields.
    with pytest.raises(ValidationError) as caught:
        check_prompt_fields(
            instruction="Name three rivers in Europe.",
            context="",
            category=category,
            language="en",
        )
    assert caught.value.message_dict == {
        "category": [
            "Choose one of the categories: open_qa, general_qa, closed_qa, classification, "
            "brainstorming, information_extraction, summarization, creative_writing."
        ]
    }


def test_right_to_left_text_and_its_marks_are_kept(api):
    """What is refused is the override, not right-to-left writing: Arabic and Hebrew need no
    override, and the marks U+200E/U+200F stay allowed."""
    r = post(
        api,
        instruction="ما هي عاصمة مصر؟ \u200fوما هو أطول نهر فيها؟",
        language="ar",
        response="القاهرة، ونهر النيل.",
    )
    assert r.status_code == 201, r.json()


def test_length_limits_are_written_as_the_language_writes_numbers():
    """UX QA: "at most 4000 characters" beside "1,544 prompts" on the same pages."""
    from django.utils import translation

    from apps.core.text import check_text

    for language, expected in [("en", "at most 4,000 characters, got 4,001"),
                               ("es", "4\xa0000")]:  # fmt: skip
        with translation.override(language), pytest.raises(ValidationError) as caught:
            check_text("x" * 4001, label="The instruction", min_chars=1, max_chars=4000)
        assert expected in caught.value.messages[0]
