"""GET /api/v1/community/progress/: public, the same numbers as the Progress view."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.community.selectors import progress as progress_selectors
from tests.community.progress_data import TODAY

pytestmark = pytest.mark.django_db

URL = "/api/v1/community/progress/"


def day(date, prompts=0, answers=0, reviews=0, rankings=0):
    return {
        "date": date,
        "prompts": prompts,
        "answers": answers,
        "reviews": reviews,
        "rankings": rankings,
    }


def test_anyone_reads_the_progress(api_anon, data_set, monkeypatch):
    monkeypatch.setattr(progress_selectors, "today_utc", lambda: TODAY)
    monkeypatch.setattr(progress_selectors, "TOP_LANGUAGES", 2)
    r = api_anon.get(URL)
    assert r.status_code == 200
    body = r.json()
    days = body.pop("days")
    assert len(days) == 30
    assert [d for d in days if d != day(d["date"])] == [
        day("2026-02-10", prompts=1),
        day("2026-03-09", reviews=1),
        day("2026-03-10", prompts=1, answers=1),
        day("2026-03-11", prompts=1, answers=1, reviews=2, rankings=1),
    ]
    assert (days[0]["date"], days[-1]["date"]) == ("2026-02-10", "2026-03-11")
    assert body == {
        "prompts": {
            "review": 2,
            "collecting": 2,
            "ranking": 1,
            "complete": 3,
            "rejected": 1,
            "halted": 1,
            "withdrawn": 1,
            "hidden": 2,
        },
        "answers": {
            "review": 3,
            "accepted": 2,
            "rejected": 1,
            "withdrawn": 1,
            "hidden": 1,
            "model_written": 1,
        },
        "rankings": 1,  # the banned ranker's is not counted
        "prompts_with_consensus": 3,
        "help_needed": {
            "prompts_to_review": {"items": 1, "tasks": 2, "type": "review"},
            "answers_to_review": {"items": 1, "tasks": 2, "type": "review"},
            "prompts_to_answer": {"items": 1, "tasks": 3, "type": "respond"},
            "prompts_to_rank": {"items": 1, "tasks": 3, "type": "rank"},
        },
        "categories": [
            {"category": "open_qa", "name": "Open Q&A", "prompts": 4},
            {"category": "general_qa", "name": "General Q&A", "prompts": 0},
            {"category": "closed_qa", "name": "Closed Q&A", "prompts": 1},
            {"category": "classification", "name": "Classification", "prompts": 0},
            {"category": "brainstorming", "name": "Brainstorming", "prompts": 1},
            {"category": "information_extraction", "name": "Information extraction", "prompts": 0},
            {"category": "summarization", "name": "Summarization", "prompts": 0},
            {"category": "creative_writing", "name": "Creative writing", "prompts": 0},
        ],
        "languages": {
            "top": [
                {"language": "en", "name": "English", "prompts": 4},
                {"language": "de", "name": "German", "prompts": 1},
            ],
            "other_languages": 1,
            "other_prompts": 1,
        },
        "quality": {
            "agreement": pytest.approx(0.6),
            "agreement_prompts": 2,
            "reviews": 3,
            "blocking_reviews": 1,
            "blocking_share": pytest.approx(1 / 3),
        },
    }


def test_an_empty_site_answers_zeros_and_nulls(api_anon):
    body = api_anon.get(URL).json()
    assert body["prompts"] == dict.fromkeys(
        [
            "review",
            "collecting",
            "ranking",
            "complete",
            "rejected",
            "halted",
            "withdrawn",
            "hidden",
        ],
        0,
    )
    assert body["languages"] == {"top": [], "other_languages": 0, "other_prompts": 0}
    assert body["quality"] == {
        "agreement": None,
        "agreement_prompts": 0,
        "reviews": 0,
        "blocking_reviews": 0,
        "blocking_share": None,
    }
    assert [d["prompts"] for d in body["days"]] == [0] * 30


def test_signed_in_callers_get_the_same_answer(api, api_anon, data_set):
    assert api.get(URL).json() == api_anon.get(URL).json()


def test_the_schema_documents_exactly_the_keys_it_sends(api_anon, data_set):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def resolve(node):
        node = node["allOf"][0] if "allOf" in node else node
        return components[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node

    def check(value, documented, where):
        if isinstance(value, dict):
            assert set(value) == set(documented["properties"]), where
            for key, inner in value.items():
                check(inner, resolve(documented["properties"][key]), f"{where}.{key}")
        elif isinstance(value, list) and value:
            check(value[0], resolve(documented["items"]), f"{where}[0]")

    operation = schema["paths"][URL]["get"]
    assert {"200", "401"} <= set(operation["responses"])
    assert "security" not in operation or {} in operation["security"]  # anonymous allowed
    documented = resolve(operation["responses"]["200"]["content"]["application/json"]["schema"])
    check(api_anon.get(URL).json(), documented, "progress")
