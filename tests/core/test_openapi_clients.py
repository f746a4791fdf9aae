"""/api/schema/ as a client generated from it reads it (API QA, session 26): one media type a body,
the Idempotency-Key header on every POST that takes one, nullable objects that a strict
validator reads as nullable, anonymous reads marked as such, and no developer notes as
descriptions."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from jsonschema import Draft202012Validator

from apps.core.fields import RefusesUnknownFields
from apps.core.throttling import ThrottledWrites
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_every_body_is_documented_in_the_one_media_type_it_is_read_in(schema):
    """Every body was offered as JSON, form and multipart alike; openapi-python-client then
    wrote modules that did not import and sent every body as multipart."""
    media = {
        operation["operationId"]: list(operation["requestBody"]["content"])
        for _path, _method, operation in operations(schema)
        if "requestBody" in operation
    }
    assert media.pop("imports_create") == ["multipart/form-data"]
    assert len(media) >= 14
    assert all(types == ["application/json"] for types in media.values()), media


def test_the_endpoints_still_read_the_forms_the_schema_leaves_out(api):
    """Only the schema changed: a form, as curl -d sends one, is read as before."""
    r = api.post(
        "/api/v1/prompts/",
        "instruction=Name+three+rivers+in+Spain.&category=open_qa&language=en",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 201, r.content
    assert r.json()["instruction"] == "Name three rivers in Spain."


def test_every_post_made_safe_to_retry_documents_its_key_and_the_replay_header(schema):
    """Found from the code (apps.core.api.idempotent), as the README promises the header on
    every creating POST and the schema declared it on none."""
    retry_safe = {
        path
        for path, _regex, method, view in EndpointEnumerator().get_api_endpoints()
        if method == "POST" and getattr(view.cls.post, "idempotent", False)
    }
    assert {"/api/v1/prompts/", "/api/v1/tasks/{task_id}/submit/", "/api/v1/releases/"} <= (
        retry_safe
    )
    assert len(retry_safe) >= 15
    for path in retry_safe:
        operation = schema["paths"][path]["post"]
        key = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert len(key) == 1 and key[0]["in"] == "header" and not key[0].get("required"), path
        successes = [code for code in operation["responses"] if code.startswith("2")]
        assert successes, path
        for code in successes:
            assert "Idempotent-Replayed" in operation["responses"][code]["headers"], (path, code)
    keyed = {
        path
        for path, method, operation in operations(schema)
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    assert keyed == retry_safe


def _validator(schema: dict[str, Any], component: str) -> Draft202012Validator:
    document = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
    return Draft202012Validator(document)


def test_a_respond_task_with_no_answer_to_review_is_valid_against_the_schema(
    api, volunteer2, schema
):
    """In OpenAPI 3.0.3 the null ``response`` of every write, respond and rank task was
    allOf [TaskResponseOut] with "nullable", which 3.0.3 does not make nullable: strict
    validators refused it. The schema is 3.1, where it is oneOf [it, null]."""
    assert schema["openapi"].startswith("3.1")
    PromptFactory(author=volunteer2)
    r = api.get("/api/v1/tasks/next/", {"type": "respond"})
    assert r.status_code == 200, r.json()
    assert r.json()["response"] is None
    validator = _validator(schema, "TaskOut")
    assert list(validator.iter_errors(r.json())) == []
    # The check can fail: an answer that is not an object or null is refused.
    assert list(validator.iter_errors({**r.json(), "response": "no"}))


def test_the_reads_documented_as_open_to_anyone_answer_anyone_and_the_rest_401(api_anon, schema):
    """GET /api/v1/releases/ answered anonymous callers while the schema said it needed a
    token. Every GET without path parameters is tried without credentials."""
    tried = {}
    for path, method, operation in operations(schema):
        if method != "get" or "{" in path:
            continue
        open_to_anyone = {} in operation.get("security", [])
        status = api_anon.get(path).status_code
        tried[path] = open_to_anyone
        if open_to_anyone:
            assert status not in (401, 403), (path, status)
        else:
            assert status == 401, (path, status)
    assert tried["/api/v1/releases/"] and tried["/api/v1/prompts/"]
    assert not tried["/api/v1/tasks/"] and not tried["/api/v1/policy/"]
    assert {} in schema["paths"]["/api/v1/releases/{version}/"]["get"]["security"]


def test_no_description_is_a_mixins_note_for_developers(schema):
    """Views and serializers without a docstring of their own took their mixin's ("Mixed into
    an API view…") as what the API docs said of them."""
    notes = [
        inspect.cleandoc(RefusesUnknownFields.__doc__ or "")[:60],
        inspect.cleandoc(ThrottledWrites.__doc__ or "")[:60],
        "context={",
    ]
    descriptions = [
        (name, component.get("description", ""))
        for name, component in schema["components"]["schemas"].items()
    ] + [
        (operation["operationId"], operation.get("description", ""))
        for *_, operation in operations(schema)
    ]
    leaks = [(name, text[:80]) for name, text in descriptions for note in notes if note in text]
    assert leaks == []


def test_the_schema_refuses_an_accept_it_cannot_meet_in_json_as_every_error(client):
    """It was a 406 in YAML, with DRF's ErrorDetail dumped as {string, code}."""
    r = client.get("/api/schema/", HTTP_ACCEPT="text/html")
    assert r.status_code == 406
    assert r["Content-Type"] == "application/json"
    assert set(r.json()) == {"detail"} and isinstance(r.json()["detail"], str)
    assert client.get("/api/schema/", HTTP_ACCEPT="application/yaml").status_code == 200
