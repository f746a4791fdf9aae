"""The API alike across endpoints, as API QA (session 26) found it was not: a refusal because
of an item's state is a 409 with a detail everywhere (F13); a query parameter a GET does not
document is a 400, as an unknown body field is (F7); the training runs' filters are in the
schema (F8); and the fields a client dispatches on or checks are typed there, as real answers
are (F6)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from jsonschema import Draft202012Validator
from rest_framework import status

from apps.collection import importing
from apps.collection.models import Import, ImportStatus, PromptState
from apps.core.api import Conflict, refused_in_state
from apps.releases.models import Release, ReleaseState
from apps.training import services as training
from apps.training.models import RunKind, RunState, TrainingRun
from tests.conftest import client_for
from tests.factories import PromptFactory, UserFactory
from tests.marked_gettext import marked_gettext

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.HEARTH_MODELS_DIR = settings.DATA_DIR / "models"


def _operation(schema: dict[str, Any], operation_id: str) -> dict[str, Any]:
    found = [
        operation
        for item in schema["paths"].values()
        for operation in item.values()
        if operation["operationId"] == operation_id
    ]
    assert len(found) == 1, operation_id
    return found[0]


def _validator(schema: dict[str, Any], component: str) -> Draft202012Validator:
    document = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
    return Draft202012Validator(document)


def _release(number: int, state: str = ReleaseState.READY) -> Release:
    finished = state in (ReleaseState.READY, ReleaseState.PUBLISHED)
    return Release.objects.create(
        number=number,
        version=f"v{number}",
        state=state,
        filter={},
        finished_at=timezone.now() if finished else None,
        content_hash="a" * 64 if finished else "",
        # What a run checks its release for: rows to train on.
        counts={"rows": {"sft": {"train": 40, "test": 4}, "preferences": {"train": 30, "test": 3}}},
    )


# --- F13: a refusal because of the item's state is a 409 with a detail ------------------------


def _conflict(response: Any) -> str:
    assert response.status_code == status.HTTP_409_CONFLICT, response.content
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]


def test_a_run_that_has_ended_is_a_409_to_cancel_and_to_retry(api_maintainer):
    run = training.run_create(user=None, release=_release(1), kind="sft", dispatch=False)
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    url = f"/api/v1/training-runs/{run.pk}/"
    assert _conflict(api_maintainer.post(f"{url}cancel/")) == (
        f"Run {run.pk} has already ended: Succeeded."
    )
    assert _conflict(api_maintainer.post(f"{url}retry/")) == (
        f"Run {run.pk} is in state “Succeeded”; only failed, cancelled or stalled runs are sent "
        "again."
    )


def test_a_release_that_did_not_fail_or_is_not_ready_is_a_409(api_maintainer):
    _release(1)
    _release(2, ReleaseState.BUILDING)
    rebuilt = _conflict(api_maintainer.post("/api/v1/releases/v1/rebuild/"))
    assert rebuilt.startswith("Release v1 is in state “Ready”; only a failed release is rebuilt.")
    assert _conflict(api_maintainer.post("/api/v1/releases/v2/publish/")) == (
        "Release v2 is in state “Building”; only a ready release is published."
    )


def test_an_import_that_is_done_is_a_409_to_resume_and_to_discard(api_maintainer, maintainer):
    job = Import.objects.create(
        created_by=maintainer,
        file_name="dolly.jsonl",
        file_size=10,
        status=ImportStatus.DONE,
        options={"source": "x", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
    )
    url = f"/api/v1/imports/{job.pk}/"
    assert _conflict(api_maintainer.post(f"{url}resume/")) == (
        "This import is done; there is nothing left to import."
    )
    assert _conflict(api_maintainer.post(f"{url}discard/")) == (
        "This import is done; there is nothing to discard."
    )


def test_a_moderators_action_on_a_user_or_item_not_in_its_state_is_a_409(moderator, volunteer):
    api = client_for(moderator)
    users = f"/api/v1/moderation/users/{volunteer.pk}/"
    assert _conflict(api.post(f"{users}unban/", {}, format="json")) == "Ada is not banned."
    assert api.post(f"{users}ban/", {"reason": "spam"}, format="json").status_code == 200
    assert _conflict(api.post(f"{users}ban/", {"reason": "again"}, format="json")) == (
        "Ada is already banned."
    )
    prompt = PromptFactory(state=PromptState.HALTED)
    prompts = f"/api/v1/moderation/prompts/{prompt.pk}/"
    assert _conflict(api.post(f"{prompts}restore/", {}, format="json")) == (
        f"Prompt #{prompt.pk} is not hidden."
    )
    assert _conflict(api.post(f"{prompts}halt/", {"reason": "x"}, format="json")) == (
        f"Prompt #{prompt.pk} is already halted."
    )


def test_a_malformed_request_to_the_same_actions_is_still_a_400(moderator, volunteer2):
    """A ban without its reason is the request's fault, not the user's state."""
    api = client_for(moderator)
    r = api.post(f"/api/v1/moderation/users/{volunteer2.pk}/ban/", {}, format="json")
    assert r.status_code == 400
    assert r.json() == {"reason": ["Say why, in a few words: it goes to the audit log."]}
    r = api.post(f"/api/v1/moderation/users/{volunteer2.pk}/ban/", {"reason": 3}, format="json")
    assert r.status_code == 400 and set(r.json()) == {"reason"}


def test_refused_in_state_keeps_a_refusal_of_the_requests_own_fields_a_400():
    with pytest.raises(ValidationError), refused_in_state("reason"):
        raise ValidationError({"reason": ["Say why."]})
    with pytest.raises(Conflict, match=r"^Already done\. Really\.$"), refused_in_state("reason"):
        raise ValidationError({"status": ["Already done.", "Really."]})
    with pytest.raises(Conflict, match=r"^Not hidden\.$"), refused_in_state():
        raise ValidationError("Not hidden.")


STATE_REFUSALS = (
    "training_runs_cancel",
    "training_runs_retry",
    "releases_rebuild",
    "releases_publish",
    "imports_resume",
    "imports_discard",
    "moderation_user_action",
    "moderation_content_action",
)


@pytest.mark.parametrize("operation_id", STATE_REFUSALS)
def test_the_schema_documents_each_state_refusal_as_a_409_with_a_detail(schema, operation_id):
    responses = _operation(schema, operation_id)["responses"]
    body = responses["409"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Error"}
    assert "current state" in responses["409"]["description"]
    description = _operation(schema, operation_id).get("description", "")
    assert "is 400" not in description and "is a 400" not in description


# --- F7: a query parameter a GET does not document is a 400 ----------------------------------


def _gets() -> list[tuple[str, Any]]:
    return [
        (path, view)
        for path, _regex, method, view in EndpointEnumerator().get_api_endpoints()
        if method == "GET" and path.startswith("/api/v1/")
    ]


def test_every_get_is_held_to_the_query_parameters_it_documents():
    """Found from the code, so a new endpoint cannot leave the check out."""
    unchecked = {
        path for path, view in _gets() if not getattr(view.cls.get, "refuses_unknown_query", False)
    }
    assert unchecked == set()
    assert len(_gets()) >= 25


def test_every_get_refuses_a_parameter_it_does_not_document_naming_those_it_does(
    api_maintainer, schema
):
    """Each GET of the schema, asked with a parameter it does not have, names exactly the
    parameters the schema gives it: what is accepted is what is documented."""
    tried = 0
    for path, item in schema["paths"].items():
        if "get" not in item:
            continue
        documented = {p["name"] for p in item["get"].get("parameters", []) if p["in"] == "query"}
        url = re.sub(r"\{version\}", "v1", re.sub(r"\{\w+_id\}", "1", path))
        r = api_maintainer.get(url, {"zz_unknown": "1"})
        assert r.status_code == 400, (path, r.status_code, r.content)
        (message,) = r.json()["zz_unknown"]
        assert set(r.json()) == {"zz_unknown"}
        if documented:
            named = re.fullmatch(r"Not a parameter of this request; it takes: (.*)\.", message)
            assert named is not None, message
            assert set(named.group(1).split(", ")) == documented, path
        else:
            assert message == "This request takes no query parameters.", path
        tried += 1
    assert tried >= 20


def test_a_filter_a_list_does_not_have_is_refused_not_ignored(api, volunteer):
    """API QA: ?state=complete listed every public prompt, to a client that believed it had
    filtered them; its next link even carried the ignored parameter along."""
    PromptFactory(author=volunteer)
    r = api.get("/api/v1/prompts/", {"state": "complete", "ordering": "created_at"})
    assert r.status_code == 400
    takes = (
        "Not a parameter of this request; it takes: q, category, language, author, page, page_size."
    )
    assert r.json() == {"ordering": [takes], "state": [takes]}
    # The documented ones, and the same request without the unknown one, answer as before.
    assert api.get("/api/v1/prompts/", {"author": "me", "page_size": 5}).json()["count"] == 1
    assert api.get("/api/v1/prompts/", {"q": "", "category": ""}).status_code == 200
    # HEAD is answered as GET is.
    assert api.head("/api/v1/prompts/", {"state": "complete"}).status_code == 400
    # A detail takes none.
    assert api.get(f"/api/v1/prompts/{PromptFactory().pk}/", {"fields": "id"}).json() == {
        "fields": ["This request takes no query parameters."]
    }


def test_the_refusals_of_unknown_parameters_are_translatable(api):
    with marked_gettext():
        none = api.get("/api/v1/me/", {"x": "1"}).json()
        some = api.get("/api/v1/tasks/", {"x": "1"}).json()
    assert none == {"x": ["«This request takes no query parameters.»"]}
    assert some == {"x": ["«Not a parameter of this request; it takes: page, page_size.»"]}


# --- F8: the training runs' filters are in the schema -----------------------------------------


def test_the_training_runs_list_documents_its_kind_and_state_filters(schema, api_maintainer):
    parameters = {p["name"]: p for p in _operation(schema, "training_runs_list")["parameters"]}
    assert set(parameters) == {"kind", "state", "page", "page_size"}
    assert set(parameters["kind"]["schema"]["enum"]) == {*RunKind.values, ""}
    assert set(parameters["state"]["schema"]["enum"]) == {*RunState.values, ""}
    sft = training.run_create(user=None, release=_release(1), kind="sft", dispatch=False)
    listed = api_maintainer.get("/api/v1/training-runs/", {"kind": "sft", "state": "queued"})
    assert [run["id"] for run in listed.json()["results"]] == [sft.pk]
    assert api_maintainer.get("/api/v1/training-runs/", {"kind": "reward"}).json()["count"] == 0
    assert api_maintainer.get("/api/v1/training-runs/", {"kind": ""}).json()["count"] == 1
    assert api_maintainer.get("/api/v1/training-runs/", {"kind": "rm"}).status_code == 400


# --- F6: the fields a client switches on or checks are typed, as they are sent ----------------

TYPED = {
    "TaskOut": ("type", "state", "result"),
    "MeOut": ("languages",),
    "ReleaseOut": ("files", "counts", "changes", "filter"),
    "TrainingRunOut": (
        "loss_history", "eval_history", "latest_eval", "metrics", "timings", "artefact_files",
        "hyperparameters",
    ),
    "TrainingRunSummaryOut": ("hyperparameters", "metrics", "latest_eval"),
}  # fmt: skip


def test_the_fields_clients_act_on_have_a_type_in_the_schema(schema):
    components = schema["components"]["schemas"]
    for component, names in TYPED.items():
        for name in names:
            field = components[component]["properties"][name]
            assert {"type", "$ref", "allOf", "oneOf"} & set(field), (component, name, field)
    task = components["TaskOut"]["properties"]
    assert components["TaskTypeEnum"]["enum"] == [
        "write", "review_prompt", "review_response", "respond", "rank",
    ]  # fmt: skip
    assert task["type"] == {"$ref": "#/components/schemas/TaskTypeEnum"}
    assert set(components["TaskStateEnum"]["enum"]) == {
        "active", "submitted", "skipped", "expired", "released",
    }  # fmt: skip


def _valid(validator: Draft202012Validator, body: Any) -> None:
    assert [error.message for error in validator.iter_errors(body)] == []


def test_tasks_and_my_profile_are_sent_as_the_schema_types_them(api, volunteer, schema):
    volunteer.languages = ["en", "pt-BR"]
    volunteer.save(update_fields=["languages"])
    me = api.get("/api/v1/me/").json()
    _valid(_validator(schema, "MeOut"), me)
    assert list(_validator(schema, "MeOut").iter_errors({**me, "languages": "en"}))

    tasks = _validator(schema, "TaskOut")
    held = api.get("/api/v1/tasks/next/", {"type": "write"}).json()
    _valid(tasks, held)
    submitted = api.post(
        f"/api/v1/tasks/{held['id']}/submit/",
        {"instruction": "Name three uses of a hearth.", "category": "brainstorming",
         "language": "en"},
        format="json",
    ).json()  # fmt: skip
    assert submitted["state"] == "submitted" and set(submitted["result"]) == {"prompt_id"}
    _valid(tasks, submitted)
    # The checks can fail: a type that is not a task's, a result id that is not a number.
    assert list(tasks.iter_errors({**submitted, "type": "review"}))
    assert list(tasks.iter_errors({**submitted, "state": "done"}))
    assert list(tasks.iter_errors({**submitted, "result": {"prompt_id": "7"}}))


def test_a_training_run_is_sent_as_the_schema_types_it(api_maintainer, schema):
    """Reported as the GPU worker reports (worker/runs.py), through run_report."""
    run = training.run_dispatch(
        training.run_create(
            user=None,
            release=_release(1),
            kind="sft",
            hyperparameters={"max_steps": 4, "learning_rate": 1e-4},
            dispatch=False,
        )
    )
    training.run_report(
        run_id=run.pk,
        attempt=1,
        payload={
            "seq": 1, "state": "running", "phase": "train", "host": "gpu-1", "step": 2,
            "total": 4, "tokens_per_s": 900.0,
            "train_log": [
                {"step": 1, "loss": 2.1, "lr": 1e-4, "tokens_per_s": 880.0, "seconds": 0.5},
                {"step": 2, "loss": 1.9, "lr": 1e-4, "tokens_per_s": 900.0, "seconds": 0.5},
            ],
            "eval_log": [{"step": 2, "eval_loss": 1.95, "perplexity": 7.0}],
            "logs_tail": "step 2/4\n",
        },
    )  # fmt: skip
    detail_schema = _validator(schema, "TrainingRunOut")
    running = api_maintainer.get(f"/api/v1/training-runs/{run.pk}/").json()
    _valid(detail_schema, running)
    training.run_report(
        run_id=run.pk,
        attempt=1,
        payload={
            "seq": 2, "state": "succeeded", "phase": "done", "step": 4, "total": 4,
            "train_log": [{"step": 4, "loss": 1.5, "lr": None, "tokens_per_s": None,
                           "seconds": None}],
            "eval_log": [{"step": 4, "eval_loss": 1.7, "perplexity": 5.5}],
            "result": {
                "metrics": {"eval_loss": 1.7, "perplexity": 5.5,
                            "train_loss_last_10_steps": 1.83},
                "output_dir": "/models/run", "steps": 4, "resumed_from_step": None,
                "files": [{"path": "model.safetensors", "bytes": 1024},
                          {"path": "config.json", "bytes": 512}],
                "tokens_per_s": 900.0,
                "timings": {"load": 1.2, "train": 8.5, "eval": 0.7, "save": 0.4, "total": 11.0},
                "hub_repo": None, "hub_revision": None,
            },
        },
    )  # fmt: skip
    detail = api_maintainer.get(f"/api/v1/training-runs/{run.pk}/").json()
    assert detail["state"] == "succeeded" and len(detail["artefact_files"]) == 2
    assert detail["latest_eval"] == {"step": 4, "eval_loss": 1.7, "perplexity": 5.5}
    _valid(detail_schema, detail)
    listed = api_maintainer.get("/api/v1/training-runs/").json()["results"]
    _valid(_validator(schema, "TrainingRunSummaryOut"), listed[0])
    # The checks can fail.
    for wrong in (
        {"loss_history": [{"loss": 1.0}]},  # no step
        {"artefact_files": [{"path": "model.safetensors"}]},  # no size
        {"timings": {"train": "8.5 s"}},
        {"metrics": {"eval_loss": "low"}},
        {"hyperparameters": [["max_steps", 4]]},
        {"latest_eval": {"eval_loss": 1.7}},
    ):
        assert list(detail_schema.iter_errors({**detail, **wrong})), wrong


@pytest.mark.slow(seconds=8)
def test_a_built_release_is_sent_as_the_schema_types_it(transactional_db, schema):
    """Built in-process twice from a few ranked prompts, so that the second has changes."""
    from tests.releases.helpers import World, build, ranked_prompt

    world = World()
    people = [UserFactory() for _ in range(6)]
    for name in ("p1", "p2"):
        ranked_prompt(world, name, author=people[0], answerers=people[1:3], rankers=people[3:])
    first = build()
    ranked_prompt(world, "p3", author=people[0], answerers=people[1:3], rankers=people[3:])
    second = build()
    assert (first.state, second.state) == (ReleaseState.READY, ReleaseState.READY)
    api = client_for(None)
    releases = _validator(schema, "ReleaseOut")
    for release in (first, second):
        body = api.get(f"/api/v1/releases/{release.version}/").json()
        _valid(releases, body)
    assert body["files"] and set(body["files"][0]) == {"path", "bytes", "sha256"}
    assert body["changes"] and all("added" in entry for entry in body["changes"].values())
    assert set(body["filter"]) >= {"languages", "categories", "min_agreement"}
    # The checks can fail.
    for wrong in (
        {"files": [{"path": "dolly/train.jsonl", "bytes": 10}]},  # no sha256
        {"files": [{**body["files"][0], "bytes": "10"}]},
        {"changes": {"sft": {"added": 1}}},
        {"filter": {"languages": "en"}},
        {"counts": {"rows": {"sft": {"train": "40"}}}},
    ):
        assert list(releases.iter_errors({**body, **wrong})), wrong
