"""The API as a careless or hostile client meets it: what test_api_fuzz.py's schema-driven
requests and test_request_bodies.py do not reach. Each answer is a 4xx with a JSON message a
person can act on, and nothing is stored."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.collection.models import Prompt
from apps.collection.policy import current_policy
from apps.moderation.models import Flag
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

NEW_PROMPT = {"instruction": "Name three uses of a hearth.", "category": "brainstorming"}


def _post_json(client, url, body: str):
    return client.post(url, data=body, content_type="application/json")


# --- JSON a strict reader refuses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"instruction": "First", "instruction": "Second", "category": "open_qa"}', "instruction"),
        ('{"language": "en", "x": {"a": 1, "a": 2}}', "a"),
        ('[{"k": 1, "k": 1}]', "k"),
    ],
)
def test_a_key_sent_twice_in_one_object_is_a_400(api, body, key):
    """Python's reader keeps the last of two equal keys, where another reader (a proxy that
    checked the request, a log) may keep the first: the request would mean two things."""
    r = _post_json(api, "/api/v1/prompts/", body)
    assert (r.status_code, r.json()) == (
        400,
        {
            "detail": "The request body could not be read: The key "
            f'"{key}" appears more than once in one JSON object; send each key once.'
        },
    )
    assert not Prompt.objects.exists()


def test_a_flag_naming_two_prompts_under_one_key_is_refused(api, volunteer2):
    first, second = PromptFactory(author=volunteer2), PromptFactory(author=volunteer2)
    body = f'{{"prompt_id": {first.pk}, "prompt_id": {second.pk}, "reason": "spam"}}'
    r = _post_json(api, "/api/v1/flags/", body)
    assert r.status_code == 400
    assert '"prompt_id" appears more than once' in r.json()["detail"]
    assert not Flag.objects.exists()


def test_the_same_key_in_different_objects_is_fine(api):
    body = json.dumps({**NEW_PROMPT, "language": "en"})
    r = _post_json(api, "/api/v1/prompts/", body)
    assert r.status_code == 201, r.json()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_named_as_not_json(api_maintainer, constant):
    """Python's reader takes them; JSON has no such numbers. DRF refused them in words of its
    own ("JSON parse error - Out of range float values are not JSON compliant")."""
    before = current_policy().acceptance_threshold
    r = api_maintainer.patch(
        "/api/v1/policy/",
        data=f'{{"acceptance_threshold": {constant}}}',
        content_type="application/json",
    )
    assert (r.status_code, r.json()) == (
        400,
        {
            "detail": f"The request body could not be read: Not valid JSON: {constant} is not "
            "a JSON number; send a number such as 0.5."
        },
    )
    assert current_policy().acceptance_threshold == before


@pytest.mark.parametrize(
    ("number", "detail"),
    [
        (
            "1e400",
            "A number in the JSON is too large to read (beyond about 1.8e308).",
        ),
        (
            "-" + "9" * 5000,
            "A number in the JSON is 5000 digits long; no field takes one that long.",
        ),
    ],
)
def test_a_number_json_cannot_carry_is_named(api_maintainer, number, detail):
    """Python reads 1e400 as infinity, which a number field called "not a number"; a whole
    number past 4,300 digits made DRF pass on Python's advice to the server's programmer
    ("use sys.set_int_max_str_digits() to increase the limit")."""
    before = current_policy().acceptance_threshold
    r = api_maintainer.patch(
        "/api/v1/policy/",
        data=f'{{"acceptance_threshold": {number}}}',
        content_type="application/json",
    )
    assert (r.status_code, r.json()) == (
        400,
        {"detail": f"The request body could not be read: {detail}"},
    )
    assert current_policy().acceptance_threshold == before


def test_whole_numbers_past_64_bits_still_reach_the_field(api_maintainer):
    """Only what no field could take is refused while reading: a large number gets the
    field's own message, which names its range."""
    r = api_maintainer.patch(
        "/api/v1/policy/",
        data='{"weight_rank": 18446744073709551616}',
        content_type="application/json",
    )
    assert (r.status_code, r.json()) == (400, {"weight_rank": ["From 0 to 1000."]})


def test_a_json_body_in_a_charset_that_is_no_text_encoding_is_a_400(api):
    r = api.post(
        "/api/v1/prompts/",
        data=b"x",
        content_type="application/json; charset=bz2_codec",
    )
    assert (r.status_code, r.json()) == (
        400,
        {
            "detail": "The request body could not be read: The charset “bz2_codec” in the "
            "Content-Type header is not a text encoding."
        },
    )
    assert not Prompt.objects.exists()


def test_a_number_too_large_for_a_fraction_says_so(api_maintainer):
    before = current_policy().acceptance_threshold
    r = api_maintainer.patch(
        "/api/v1/policy/",
        data='{"acceptance_threshold": 1' + "0" * 400 + "}",
        content_type="application/json",
    )
    assert (r.status_code, r.json()) == (
        400,
        {"acceptance_threshold": ["The number is too large."]},
    )
    assert current_policy().acceptance_threshold == before


# --- requests over Django's field and file counts -------------------------------------------


def test_too_many_query_parameters_is_a_json_400(api_anon):
    many = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    r = api_anon.get(f"/api/v1/prompts/?{many}")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert r.json() == {
        "detail": "The request has too many fields or query parameters: at most "
        f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,}."
    }


def test_a_form_body_with_too_many_fields_is_a_json_400(api):
    many = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    r = api.post("/api/v1/prompts/", data=many, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert "too many fields" in r.json()["detail"]
    assert not Prompt.objects.exists()


def test_an_upload_with_too_many_files_is_a_json_400(api_maintainer):
    files = {
        f"file{i}": SimpleUploadedFile(f"{i}.jsonl", b"{}")
        for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
    }
    r = api_maintainer.post("/api/v1/imports/", data=files, format="multipart")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert r.json() == {
        "detail": "The request has too many files: at most "
        f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES:,}."
    }
    assert not Prompt.objects.exists()


# --- forms that are not UTF-8 ---------------------------------------------------------------


@pytest.mark.parametrize("body", [b"instruction=caf%FF&category=open_qa", b"instruction=caf\xff"])
def test_a_form_that_is_not_utf8_is_refused_not_stored_with_replacement_characters(
    api, volunteer, body
):
    """Django's form parsing puts U+FFFD in place of bytes that are not UTF-8 (escaped as %FF
    or raw), so the prompt was stored mangled with a 201; a JSON body was refused."""
    r = api.post("/api/v1/prompts/", data=body, content_type="application/x-www-form-urlencoded")

    assert r.status_code == 400
    assert r.json()["detail"] == (
        "The form is not UTF-8 text: some of its bytes are not characters. Send it as UTF-8."
    )
    assert not Prompt.objects.exists()
    # The pages' forms too (a browser never sends one; a hand-made request may).
    from django.test import Client

    web = Client()
    web.force_login(volunteer)
    page = web.post("/write/", data=body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 400
    assert "not UTF-8 text" in page.content.decode()
    assert not Prompt.objects.exists()


def test_a_utf8_form_with_escaped_and_raw_characters_is_read(api):
    body = "instruction=Qu%C3%A9 es un hogar, café?&category=open_qa&language=es".encode()
    r = api.post("/api/v1/prompts/", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 201, r.content
    assert Prompt.objects.get().instruction == "Qué es un hogar, café?"


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/html,*/*;q=0.8"])
def test_every_endpoint_answers_json_whatever_accept_asks(api, accept):
    """API QA: Accept: text/html (a browser's) was a 406 on most endpoints but not on the task
    ones; now JSON everywhere, the schema excepted (it speaks YAML and JSON)."""
    for path in ("/api/v1/prompts/", "/api/v1/me/", "/api/v1/tasks/", "/api/v1/releases/"):
        r = api.get(path, HTTP_ACCEPT=accept)
        assert r.status_code == 200, path
        assert r["Content-Type"] == "application/json", path
    r = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert r["Content-Type"].startswith("application/vnd.oai.openapi")
    assert r.content.startswith(b"openapi:")
    r = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.json()["openapi"].startswith("3.")
