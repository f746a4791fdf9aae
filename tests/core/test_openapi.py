"""/api/schema/ against what the endpoints really send: the token DELETE, the page envelope of
every paginated list, and the error answers."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator

from apps.accounts.models import ApiToken
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

PAGINATED_LISTS = {
    "/api/v1/imports/",
    "/api/v1/community/leaderboard/",
    "/api/v1/prompts/",
    "/api/v1/prompts/{prompt_id}/responses/",
    "/api/v1/responses/",
    "/api/v1/moderation/log/",
    "/api/v1/moderation/queue/",
    "/api/v1/releases/",
    "/api/v1/training-runs/",
    "/api/v1/tasks/",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def response_schema(schema: dict[str, Any], path: str, method: str, code: str) -> dict[str, Any]:
    response = schema["paths"][path][method]["responses"][code]
    return resolve(schema, response["content"]["application/json"]["schema"])


def paginating_paths() -> set[str]:
    """The GET endpoints whose handler pages through Pagination, found from the code."""
    return {
        path
        for path, _regex, method, view in EndpointEnumerator().get_api_endpoints()
        if method == "GET" and "paginate_queryset" in inspect.getsource(view.cls.get)
    }


def test_revoking_a_token_is_documented_as_200_with_the_token(schema):
    responses = schema["paths"]["/api/v1/tokens/{token_id}/"]["delete"]["responses"]
    assert "204" not in responses
    token = response_schema(schema, "/api/v1/tokens/{token_id}/", "delete", "200")
    assert set(token["properties"]) == {
        "id", "name", "prefix", "created_at", "last_used_at", "revoked_at",
    }  # fmt: skip
    assert {"401", "404"} <= set(responses)


def test_revoking_a_token_twice_answers_200_with_the_same_revoked_token(api, schema):
    api.post("/api/v1/tokens/", {"name": "bot"}, format="json")
    token = ApiToken.objects.get()
    first = api.delete(f"/api/v1/tokens/{token.pk}/")
    again = api.delete(f"/api/v1/tokens/{token.pk}/")
    assert first.status_code == again.status_code == 200
    documented = response_schema(schema, "/api/v1/tokens/{token_id}/", "delete", "200")
    assert set(first.json()) == set(documented["properties"])
    assert first.json()["revoked_at"] is not None
    assert again.json() == first.json()


def test_the_paginated_lists_are_found_from_the_code():
    assert paginating_paths() == PAGINATED_LISTS


@pytest.mark.parametrize("path", sorted(PAGINATED_LISTS))
def test_each_paginated_list_documents_the_envelope_and_its_page_parameters(schema, path):
    operation = schema["paths"][path]["get"]
    envelope = response_schema(schema, path, "get", "200")
    assert envelope["type"] == "object"
    assert set(envelope["properties"]) == {"count", "next", "previous", "results"}
    assert envelope["properties"]["results"]["type"] == "array"
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert query["page"] == query["page_size"] == {"type": "integer", "minimum": 1}
    assert "404" in operation["responses"]  # a page past the last
    assert "400" in operation["responses"]  # a page_size that is not a whole number from 1


def test_task_submit_documents_its_refusals(schema):
    responses = schema["paths"]["/api/v1/tasks/{task_id}/submit/"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "413", "429"} <= set(responses)
    conflict = response_schema(schema, "/api/v1/tasks/{task_id}/submit/", "post", "409")
    assert set(conflict["properties"]) == {"detail"}


def test_every_endpoint_documents_401_and_every_write_413_and_415(schema):
    for path, method, operation in operations(schema):
        assert "401" in operation["responses"], (method, path)
        if method in ("post", "put", "patch"):
            assert "413" in operation["responses"], (method, path)
        if "requestBody" in operation:
            assert "415" in operation["responses"], (method, path)


def test_every_429_says_when_to_retry(schema):
    throttled = [
        (path, method)
        for path, method, operation in operations(schema)
        if "429" in operation["responses"]
    ]
    assert ("/api/v1/tasks/next/", "get") in throttled
    assert ("/api/v1/flags/", "post") in throttled
    for path, method in throttled:
        headers = schema["paths"][path][method]["responses"]["429"]["headers"]
        assert "Retry-After" in headers, (method, path)


def test_a_validation_error_is_documented_as_messages_by_field(schema):
    error = response_schema(schema, "/api/v1/prompts/", "post", "400")
    assert error["additionalProperties"] == {"type": "array", "items": {"type": "string"}}
    assert "detail" in error["properties"]


def test_two_lists_answer_with_exactly_the_documented_keys(api, volunteer, schema):
    prompt = PromptFactory()
    ResponseFactory(prompt=prompt)
    for path, url in (
        ("/api/v1/prompts/", "/api/v1/prompts/?page_size=1"),
        ("/api/v1/prompts/{prompt_id}/responses/", f"/api/v1/prompts/{prompt.pk}/responses/"),
    ):
        r = api.get(url)
        assert r.status_code == 200, r.json()
        envelope = response_schema(schema, path, "get", "200")
        assert set(r.json()) == set(envelope["properties"])
        item = resolve(schema, envelope["properties"]["results"]["items"])
        assert r.json()["results"], url
        assert set(r.json()["results"][0]) == set(item["properties"])


def test_the_leaderboard_and_my_stats_answer_with_exactly_the_documented_keys(
    api, volunteer, schema
):
    PromptFactory(author=volunteer)
    board = api.get("/api/v1/community/leaderboard/?period=all")
    assert board.status_code == 200, board.json()
    envelope = response_schema(schema, "/api/v1/community/leaderboard/", "get", "200")
    item = resolve(schema, envelope["properties"]["results"]["items"])
    assert set(board.json()["results"][0]) == set(item["properties"])
    operation = schema["paths"]["/api/v1/community/leaderboard/"]["get"]
    period = next(p for p in operation["parameters"] if p["name"] == "period")
    # Blank is listed: it means the default, as an absent period does.
    assert sorted(period["schema"]["enum"]) == ["", "all", "month", "week"]
    assert "400" in operation["responses"]

    stats = api.get("/api/v1/me/stats/")
    assert stats.status_code == 200
    documented = response_schema(schema, "/api/v1/me/stats/", "get", "200")
    assert set(stats.json()) == set(documented["properties"])
    for key, value in stats.json().items():
        nested = documented["properties"][key]
        # A nested serializer with a help text is documented as allOf: [its component].
        nested = resolve(schema, nested["allOf"][0] if "allOf" in nested else nested)
        if isinstance(value, dict):
            assert set(value) == set(nested["properties"]), key
    day = resolve(schema, documented["properties"]["days"]["items"])
    assert set(stats.json()["days"][0]) == set(day["properties"])


def test_every_post_documented_without_a_body_refuses_one():
    """Each POST the schema shows without a request body reads its body strictly all the
    same (apps.core.api.takes_no_body): found from the code, so a new action cannot skip it."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    bodiless = {
        path
        for path, method, operation in operations(schema)
        if method == "post" and "requestBody" not in operation
    }
    assert "/api/v1/prompts/{prompt_id}/withdraw/" in bodiless and len(bodiless) >= 8
    for path, _regex, method, view in EndpointEnumerator().get_api_endpoints():
        if method == "POST" and path in bodiless:
            assert getattr(view.cls.post, "takes_no_body", False), path


def test_every_201_or_202_with_a_url_documents_its_location(schema):
    """API QA: the README promised Location on what a POST creates or queues, and the schema
    declared it on no operation."""
    located = []
    for path, method, operation in operations(schema):
        for code in ("201", "202"):
            response = operation["responses"].get(code)
            if response is None:
                continue
            body = response_schema(schema, path, method, code)
            if "url" in body.get("properties", {}):
                assert "Location" in response.get("headers", {}), (method, path, code)
                located.append(operation["operationId"])
    assert {"prompts_create", "releases_create", "training_runs_retry", "imports_create"} <= set(
        located
    )


def test_the_served_schema_is_generated_once_per_language_and_is_the_generators(
    client, monkeypatch
):
    """Scale QA: /api/schema/ was generated afresh on every anonymous request (0.5 s of CPU)."""
    from apps.core import schema as schema_module

    made: list[str | None] = []

    class Counted(SchemaGenerator):
        def get_schema(self, request: Any = None, public: bool = False) -> Any:
            from django.utils import translation

            made.append(translation.get_language())
            return super().get_schema(request=request, public=public)

    monkeypatch.setattr(schema_module.SchemaView, "generator_class", Counted)
    monkeypatch.setattr(schema_module, "_schemas", {})
    accept = {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}
    first = client.get("/api/schema/", **accept)
    second = client.get("/api/schema/", **accept)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["paths"] == SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert made == ["en"]
    client.get("/api/schema/?lang=es", **accept)
    client.get("/api/schema/?lang=es", **accept)
    assert made == ["en", "es"]
    monkeypatch.setattr(schema_module, "SCHEMA_CACHE_SECONDS", -1)  # kept no longer
    client.get("/api/schema/", **accept)
    assert made == ["en", "es", "en"]


def test_operations_are_grouped_by_resource_and_every_group_is_described(
    schema: dict[str, Any],
) -> None:
    described = [tag["name"] for tag in schema["tags"]]
    assert len(described) == len(set(described)) and all(
        tag["description"] for tag in schema["tags"]
    )
    for path, method, operation in operations(schema):
        resource = path.removeprefix("/api/v1/").split("/")[0]
        assert operation["tags"] == [resource], (method, path)
    used = {operation["tags"][0] for _path, _method, operation in operations(schema)}
    assert used == set(described)
