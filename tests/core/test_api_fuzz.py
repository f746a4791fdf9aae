"""The whole REST API, fuzzed from its own OpenAPI schema with Schemathesis: for every
operation in /api/schema/, requests made from the schema (valid ones, and ones with wrong
types, sizes, encodings and missing fields) as an anonymous client, a volunteer with a token
and a maintainer (who also moderates) with a token, each against a few prompts, answers, a
held task, a flag, a release and a training run. Every answer must be no 5xx, a documented
status, in a documented content type, with a body and headers as documented, and a request
that breaks the schema must be refused with a 4xx.

The app is called in-process (WSGI) inside the test's transaction: no server, no network.
The seed is fixed so a failure replays; HEARTH_API_FUZZ_SEED and HEARTH_API_FUZZ_EXAMPLES
explore further, e.g. ``HEARTH_API_FUZZ_EXAMPLES=100 HEARTH_API_FUZZ_SEED=$RANDOM``."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks as sc
from schemathesis.core import media_types
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.specs.openapi import checks as oc

from apps.accounts.services import api_token_create
from apps.assignments import services as task_services
from apps.collection.models import PromptState, ResponseState
from apps.moderation.services import flag_create
from apps.releases.models import Release, ReleaseState
from apps.training.services import run_create
from apps.wsgi import application
from tests.factories import PromptFactory, ResponseFactory

ROLES = ("anonymous", "volunteer", "maintainer")

# Only the fuzzing phase draws max_examples; the coverage phase adds a fixed set of boundary
# and negative cases per operation (most of the run's time), the examples phase none (the
# schema has no examples).
EXAMPLES = int(os.environ.get("HEARTH_API_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("HEARTH_API_FUZZ_SEED", "20261127"))

CHECKS = [
    sc.not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_schema_conformance,
    oc.response_headers_conformance,  # e.g. Retry-After on a 429
    oc.negative_data_rejection,
    oc.unsupported_method,  # a method the path does not have: 405 with an Allow header
    # Not positive_data_acceptance: a request the schema allows is still refused for the
    # role, the data's state or a rate limit (403, 404, 409, 429), all documented and checked
    # by status_code_conformance; the endpoints' own tests check what succeeds. Not
    # ignored_auth: it takes the token set below for one the generator made up and expects a
    # 401; tests/accounts/test_api_me.py checks bad and revoked tokens.
]

schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    application,
    config=schemathesis.Config.from_dict({"seed": SEED, "generation": {"mode": "all"}}),
)

# The ids of the rows the running test made, for the hook below. The hook belongs to the
# schema, made once at import; the rows are made per test.
_known_ids: dict[str, list[Any]] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """In the fuzzing phase each path id is one of the rows made for the test, so requests
    act on real prompts, answers and tasks; the coverage phase (which this hook does not
    touch) still sends ids of no row (404) and of the wrong type. A value of another type
    than the rows' (an id that is not an integer) is kept, so a negative case stays one."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {name: _known_or(name, value) for name, value in path_parameters.items()}
    )


def _known_or(name: str, value: Any) -> st.SearchStrategy[Any]:
    known = [row_id for row_id in _known_ids.get(name, ()) if type(row_id) is type(value)]
    return st.sampled_from(known) if known else st.just(value)


@schema.hook
def filter_failure(context, failure, case, response):
    """Drop 'schema-violating request accepted' for form bodies, and only those. A form
    sends every field as text, which DRF reads as the field's type as Django's forms do
    ("0" and "off" as false, "5" as 5); the generator counts such text as a wrong type.
    JSON bodies, where a type is a type, are still held to the schema."""
    form = case.media_type is not None and (
        media_types.is_form_urlencoded(case.media_type)
        or media_types.parse(case.media_type) == ("multipart", "form-data")
    )
    return not (isinstance(failure, AcceptedNegativeData) and form)


@pytest.fixture
def in_process_db():
    """Django's WSGI handler closes the database connection after each request, as a server
    should; here that connection holds the test's transaction, so it stays open, as it does
    under Django's test client."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(request, in_process_db, settings, tmp_path, volunteer, volunteer2, maintainer):
    """A few rows for each endpoint to act on; the role's Authorization header."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.HEARTH_MODELS_DIR = settings.DATA_DIR / "models"
    own = PromptFactory(author=volunteer, state=PromptState.REVIEW)
    collecting = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    ranking = PromptFactory(author=volunteer2, state=PromptState.RANKING)
    ranked = [ResponseFactory(prompt=ranking, author=maintainer), ResponseFactory(prompt=ranking)]
    own_answer = ResponseFactory(prompt=collecting, author=volunteer, state=ResponseState.REVIEW)
    flag_create(reporter=volunteer, target=collecting, reason="spam")
    release = Release.objects.create(
        number=1,
        version="v1",
        state=ReleaseState.READY,
        finished_at=timezone.now(),
        content_hash="a" * 64,
        counts={"rows": {"sft": {"train": 40, "test": 4}, "preferences": {"train": 30, "test": 3}}},
    )
    run = run_create(user=maintainer, release=release, kind="sft")
    ids: dict[str, list[Any]] = {
        "prompt_id": [own.pk, collecting.pk, ranking.pk],
        "response_id": [own_answer.pk, *(answer.pk for answer in ranked)],
        "target_id": [own.pk, collecting.pk, own_answer.pk],
        "user_id": [volunteer2.pk],
        "version": [release.version],
        "run_id": [run.pk],
    }
    headers: dict[str, str] = {}
    user = {"volunteer": volunteer, "maintainer": maintainer}.get(request.param)
    if user is not None:
        ids["task_id"] = [task_services.task_next(user=user).pk]
        # A token of theirs to revoke that is not the one the requests use.
        ids["token_id"] = [api_token_create(user=user, name="spare")[0].pk]
        headers["Authorization"] = f"Bearer {api_token_create(user=user, name='fuzz')[1]}"
    _known_ids.update(ids)
    yield headers
    _known_ids.clear()


# The whole file takes about 45 s on a quiet 2-core machine; the marker's estimate is per
# test (conftest.py adds them up to share the slow tests between xdist workers), and each
# operation and role is one test.
TESTS = len(ROLES) * sum(1 for _ in schema.get_all_operations())


@pytest.mark.slow(seconds=round(45 / TESTS, 2))
@pytest.mark.parametrize("world", ROLES, indirect=True)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The world is made once per operation and role, not per example, on purpose: the
    # examples act on what the earlier ones left, as API clients do.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api(case, world):
    if world:
        # The role's token replaces any Authorization the generator made up. Set as a new
        # container, it makes Schemathesis check the case again, so a case whose only
        # invalid part was that header is no longer expected to be refused.
        case.headers = {**case.headers, **world}
    case.call_and_validate(checks=CHECKS)
