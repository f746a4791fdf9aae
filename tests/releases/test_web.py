"""/api/v1/releases/ and the Releases pages."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.releases import selectors
from apps.releases.models import Release, ReleaseState
from tests.conftest import client_for
from tests.marked_gettext import marked_gettext
from tests.releases.helpers import build


def test_maintainers_cut_a_release_through_the_api(
    api_maintainer, django_capture_on_commit_callbacks, an_answer, settings
):
    settings.DATA_DIR.mkdir(exist_ok=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = api_maintainer.post(
            "/api/v1/releases/", {"languages": ["en"], "test_share": 0.1}, format="json"
        )
    assert r.status_code == 201, r.json()
    assert r.json()["version"] == "v1"
    assert r.json()["state"] == "building"
    assert r.json()["filter"]["languages"] == ["en"]
    assert len(callbacks) == 1  # the build is queued once the row is committed


def test_volunteers_cannot_cut_releases(api, db):
    r = api.post("/api/v1/releases/", {}, format="json")
    assert r.status_code == 403
    assert not Release.objects.exists()


def test_a_bad_filter_is_400(api_maintainer, db):
    r = api_maintainer.post("/api/v1/releases/", {"categories": ["poetry"]}, format="json")
    assert r.status_code == 400
    assert not Release.objects.exists()


@pytest.mark.parametrize("field", ["min_agreement", "test_share"])
@pytest.mark.parametrize("value", [True, "0.1", "", [0.1], {"share": 0.1}])
def test_anything_but_a_json_number_for_a_number_is_400(api_maintainer, an_answer, field, value):
    """Values keep their JSON types (README): "0.1" was read as 0.1."""
    r = api_maintainer.post("/api/v1/releases/", {field: value}, format="json")
    assert r.status_code == 400
    assert r.json() == {field: ["Must be a number (a JSON number)."]}
    assert not Release.objects.exists()


@pytest.mark.parametrize("field", ["languages", "categories"])
def test_a_number_in_a_list_of_text_is_400_as_not_text(api_maintainer, an_answer, field):
    """[1] was read as ["1"], and refused as "'1' is not a valid BCP-47 language tag"."""
    r = api_maintainer.post("/api/v1/releases/", {field: ["en", 1]}, format="json")
    assert r.status_code == 400
    assert r.json() == {field: ["Item 2: Must be text (a JSON string)."]}
    assert not Release.objects.exists()


def test_a_form_body_sends_its_numbers_and_lists_as_text(
    api_maintainer, django_capture_on_commit_callbacks, an_answer
):
    """A form (or multipart) body has only text: its numbers are read from it."""
    with django_capture_on_commit_callbacks(execute=False):
        r = api_maintainer.post(
            "/api/v1/releases/",
            {"languages": [" en "], "categories": ["open_qa"], "test_share": "0.25"},
        )
    assert r.status_code == 201, r.json()
    assert r.json()["filter"]["languages"] == ["en"]
    assert r.json()["filter"]["test_share"] == 0.25


def test_a_blank_item_in_a_list_is_400_naming_the_item(api_maintainer, an_answer):
    """DRF nested a list's errors by index ({"1": [...]}), not the documented list of
    messages per field."""
    r = api_maintainer.post("/api/v1/releases/", {"languages": ["en", ""]}, format="json")
    assert r.status_code == 400
    assert r.json() == {"languages": ["Item 2: This field may not be blank."]}
    assert not Release.objects.exists()


@pytest.mark.parametrize("value", [1, "yes"])
def test_include_model_written_is_true_or_false_only(api_maintainer, an_answer, value):
    r = api_maintainer.post("/api/v1/releases/", {"include_model_written": value}, format="json")
    assert r.status_code == 400
    assert r.json() == {"include_model_written": ["Must be true or false."]}
    assert not Release.objects.exists()


def test_the_first_release_has_no_previous_as_the_schema_says(api_maintainer, an_answer):
    """previous was documented as a string and sent as null."""
    r = api_maintainer.post("/api/v1/releases/", {}, format="json")
    assert r.status_code == 201
    assert r.json()["previous"] is None
    schema = SchemaGenerator().get_schema(request=None, public=True)
    previous = schema["components"]["schemas"]["ReleaseOut"]["properties"]["previous"]
    assert previous == {"type": ["string", "null"]}  # OpenAPI 3.1's nullable


def test_a_filter_that_matches_no_answer_is_400_naming_why(api_maintainer, an_answer):
    r = api_maintainer.post("/api/v1/releases/", {"languages": ["sw"]}, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "non_field_errors": ["No accepted answer matches this filter (languages: sw)."]
    }
    assert not Release.objects.exists()


def test_anyone_lists_finished_releases_and_downloads_files(world, api_anon):
    release = build()
    Release.objects.create(number=99, version="v99", state=ReleaseState.BUILDING, filter={})
    body = api_anon.get("/api/v1/releases/").json()
    assert [r["version"] for r in body["results"]] == ["v1"]
    detail = api_anon.get("/api/v1/releases/v1/").json()
    assert detail["content_hash"] == release.content_hash
    assert api_anon.get("/api/v1/releases/v99/").status_code == 404
    assert api_anon.get("/api/v1/releases/v1%00/").status_code == 404
    assert Client().get("/releases/v1%00/").status_code == 404
    url = detail["downloads"]["data/sft/train-00000-of-00001.parquet"]
    assert url.startswith("http://testserver/releases/v1/files/")  # a link that works anywhere
    response = Client().get(url)
    assert response.status_code == 200
    whole = b"".join(response.streaming_content)
    assert whole[:4] == b"PAR1"
    # Saved under a name of its own: "train-00000-of-00001.parquet" was every release's sft
    # and preferences train split alike.
    saved = 'attachment; filename="hearth-v1-data-sft-train-00000-of-00001.parquet"'
    assert response["Content-Disposition"] == saved
    # A download cut off part-way resumes (see the run files' test).
    rest = Client().get(url, headers={"Range": "bytes=4-", "If-Range": response["ETag"]})
    assert rest.status_code == 206
    assert rest["Content-Disposition"] == saved
    assert whole[:4] + b"".join(rest.streaming_content) == whole
    # A copy the client holds already is not sent again (it was, whole, with a 200).
    for held in (
        {"If-None-Match": response["ETag"]},
        {"If-Modified-Since": response["Last-Modified"]},
    ):
        again = Client().get(url, headers=held)
        assert (again.status_code, again.content) == (304, b""), held
        assert again["ETag"] == response["ETag"]
    stale = Client().get(url, headers={"If-None-Match": '"0-0"'})
    assert stale.status_code == 200
    assert Client().get("/releases/v1/files/.hearth/keys/sft.txt").status_code == 404


def test_each_download_says_what_kind_of_file_it_is(world):
    """Data QA: README.md came as text/markdown with no charset, the JSONL and Parquet files as
    application/octet-stream."""
    release = build(test_share=0.5)
    by_suffix = {
        ".md": "text/markdown; charset=utf-8",
        ".jsonl": "application/jsonl; charset=utf-8",
        ".parquet": "application/vnd.apache.parquet",
    }
    # Every file the release lists (which splits have rows depends on the prompts' ids).
    kinds = {e["path"]: by_suffix[Path(e["path"]).suffix] for e in release.files}
    sizes = {e["path"]: e["bytes"] for e in release.files}
    assert {"README.md", "dolly/train.jsonl", "data/sft/train-00000-of-00001.parquet"} <= set(kinds)
    for path, kind in kinds.items():
        response = Client().get(f"/releases/{release.version}/files/{path}")
        assert response.status_code == 200, path
        assert response["Content-Type"] == kind, path
        part = Client().get(
            f"/releases/{release.version}/files/{path}", headers={"Range": "bytes=0-1"}
        )
        # A split with no rows is an empty file, with no byte to send: which splits have rows
        # depends on the prompts' ids (a run of the suite met an empty dolly/test.jsonl).
        if sizes[path] == 0:
            assert part.status_code == 416, path
        else:
            assert (part.status_code, part["Content-Type"]) == (206, kind), path


def test_the_release_page_shows_each_files_sha256_and_the_data_hash(world):
    """Data QA: the page showed a cut content hash and no file's sha256, so a browser user
    could not check a download."""
    release = build()
    html = Client().get(f"/releases/{release.version}/").content.decode()
    for entry in release.files:
        assert f'<code data-testid="file-sha256">{entry["sha256"]}</code>' in html
    assert len(release.data_hash) == 64
    assert f'<code title="{release.data_hash}" data-testid="data-hash">' in html
    body = APIClient().get(f"/api/v1/releases/{release.version}/").json()
    assert body["data_hash"] == release.data_hash


def test_the_release_pages_render(world, maintainer, settings):
    settings.HUB_NAMESPACE = "hearth-test"
    build()
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/").content.decode()
    assert "v1" in html and "Build release" in html
    html = web.get("/releases/v1/").content.decode()
    assert "data/sft/train-00000-of-00001.parquet" in html
    assert "Publish to the Hub" in html


def test_with_no_release_yet_the_list_says_so_above_the_form(maintainer, an_answer):
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/").content.decode()
    assert '<div class="empty"><p>No release yet.</p></div>' in html
    assert "Build release" in html


def test_without_a_hub_the_release_page_says_so_instead_of_a_publish_button(
    world, maintainer, settings
):
    settings.HUB_NAMESPACE = ""
    build()
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert "Publish to the Hub" not in html
    assert "/releases/v1/publish/" not in html
    assert "Hub publishing is off: set HUB_NAMESPACE" in html
    # Visitors see neither: publishing is not theirs to ask for.
    assert "Hub publishing is off" not in Client().get("/releases/v1/").content.decode()


def test_publishing_a_release_not_ready_says_its_state_translated(maintainer, db):
    Release.objects.create(number=1, version="v1", state=ReleaseState.BUILDING, filter={})
    with marked_gettext():
        r = client_for(maintainer).post("/api/v1/releases/v1/publish/")
    assert r.status_code == 409
    assert r.json() == {
        "detail": "«Release v1 is in state “«Building»”; only a ready release is published.»"
    }


def test_publishing_without_a_hub_is_a_clear_409(world, maintainer, settings):
    settings.HUB_NAMESPACE = ""
    build()
    r = client_for(maintainer).post("/api/v1/releases/v1/publish/")
    assert r.status_code == 409
    assert "HUB_NAMESPACE" in r.json()["detail"]


# --- the form on /releases/ ---------------------------------------------------------------


def test_a_refused_form_keeps_what_was_typed_with_each_error_by_its_field(maintainer, an_answer):
    web = Client()
    web.force_login(maintainer)
    r = web.post(
        "/releases/new/",
        {
            "languages": "en, de",
            "categories": ["brainstorming"],
            "min_agreement": "abc",
            "test_share": "0.2",
            "include_model_written": "on",
            "idempotency_key": "typed",
        },
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert 'value="en, de"' in html
    assert 'value="brainstorming" id="id_categories_4" checked' in html
    assert 'value="0.2"' in html
    assert 'name="include_model_written" id="id_include_model_written" checked' in html
    assert '<ul class="errorlist" id="id_min_agreement_error"><li>Give a number.</li></ul>' in html
    field = re.search(r'<input[^>]*name="min_agreement"[^>]*>', html).group(0)
    assert 'value="abc"' in field and 'aria-invalid="true"' in field
    assert 'aria-describedby="id_min_agreement_helptext id_min_agreement_error"' in field
    # No grey number that would read as a default: empty means no minimum, as its help says.
    assert "placeholder" not in field
    assert "Empty: every complete prompt&#x27;s pairs" in html
    assert 'class="messages"' not in html  # the errors are by their fields, not in a banner
    assert not Release.objects.exists()


def test_a_form_filter_that_matches_nothing_says_why_and_keeps_the_filter(maintainer, an_answer):
    web = Client()
    web.force_login(maintainer)
    r = web.post(
        "/releases/new/", {"languages": "sw", "test_share": "0.05", "idempotency_key": "sw"}
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert (
        '<div role="alert" id="release-form-errors"><ul class="errorlist"><li>No accepted answer '
        "matches this filter (languages: sw).</li></ul></div>"
    ) in html
    assert 'value="sw"' in html
    assert not Release.objects.exists()


def test_a_good_form_cuts_a_release_and_opens_its_page(
    maintainer, an_answer, django_capture_on_commit_callbacks
):
    web = Client()
    web.force_login(maintainer)
    with django_capture_on_commit_callbacks(execute=False):
        r = web.post(
            "/releases/new/",
            {
                "languages": "en",
                "categories": ["open_qa"],
                "min_agreement": "",
                "test_share": "",
                "idempotency_key": "good",
            },
        )
    assert r.status_code == 302 and r["Location"] == "/releases/v1/"
    assert Release.objects.get().filter == {
        "languages": ["en"],
        "categories": ["open_qa"],
        "min_agreement": None,
        "include_model_written": False,
        # Emptied, the share is the one the form suggests (as the API's without one): half,
        # for a lone accepted prompt never released.
        "test_share": 0.5,
    }


def test_a_double_click_cuts_one_release_and_both_answers_open_it(
    maintainer, an_answer, django_capture_on_commit_callbacks
):
    web = Client()
    web.force_login(maintainer)
    form = web.get("/releases/").content.decode()
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', form)
    assert key is not None
    data = {"languages": "en", "test_share": "0.1", "idempotency_key": key.group(1)}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = web.post("/releases/new/", data)
        second = web.post("/releases/new/", data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == "/releases/v1/"
    assert list(Release.objects.values_list("version", flat=True)) == ["v1"]
    assert len(callbacks) == 1  # one build queued
    # A fresh render carries a new key: the next click is a new release.
    assert key.group(1) not in web.get("/releases/").content.decode()


def test_the_form_sent_again_with_another_filter_cuts_that_release(
    maintainer, an_answer, django_capture_on_commit_callbacks
):
    web = Client()
    web.force_login(maintainer)
    data = {"languages": "en", "test_share": "0.1", "idempotency_key": "back"}
    with django_capture_on_commit_callbacks(execute=False):
        first = web.post("/releases/new/", data)
        second = web.post("/releases/new/", {**data, "test_share": "0.3"})
    assert (first["Location"], second["Location"]) == ("/releases/v1/", "/releases/v2/")
    shares = Release.objects.order_by("number").values_list("filter__test_share", flat=True)
    assert list(shares) == [0.1, 0.3]


def test_a_refused_form_keeps_its_key_so_the_corrected_one_cuts_one_release(
    maintainer, an_answer, django_capture_on_commit_callbacks
):
    web = Client()
    web.force_login(maintainer)
    refused = web.post("/releases/new/", {"languages": "sw", "idempotency_key": "retry"})
    assert refused.status_code == 400
    assert 'name="idempotency_key" value="retry"' in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        fixed = web.post("/releases/new/", {"languages": "en", "idempotency_key": "retry"})
        again = web.post("/releases/new/", {"languages": "en", "idempotency_key": "retry"})
    assert fixed["Location"] == again["Location"] == "/releases/v1/"
    assert Release.objects.count() == 1


def test_a_form_without_its_key_is_refused_and_comes_back_with_one(maintainer, an_answer):
    web = Client()
    web.force_login(maintainer)
    r = web.post("/releases/new/", {"languages": "en", "categories": ["open_qa", "brainstorming"]})
    assert r.status_code == 400
    html = r.content.decode()
    assert (
        '<div role="alert" id="release-form-errors"><ul class="errorlist"><li>This page was out of '
        "date. Check the filter and build again.</li></ul></div>"
    ) in html
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', html)
    assert 'value="en"' in html
    assert 'value="brainstorming" id="id_categories_4" checked' in html
    assert 'value="open_qa" id="id_categories_0" checked' in html
    assert not Release.objects.exists()


def test_the_api_replays_a_retried_cut_instead_of_cutting_another(
    api_maintainer, an_answer, django_capture_on_commit_callbacks
):
    body = {"languages": ["en"], "test_share": 0.1}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = api_maintainer.post(
            "/api/v1/releases/", body, format="json", HTTP_IDEMPOTENCY_KEY="cut-1"
        )
        second = api_maintainer.post(
            "/api/v1/releases/", body, format="json", HTTP_IDEMPOTENCY_KEY="cut-1"
        )
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.json()["version"] == "v1"
    assert second["Idempotent-Replayed"] == "true"
    assert len(callbacks) == 1
    other = api_maintainer.post(
        "/api/v1/releases/", {"languages": ["de"]}, format="json", HTTP_IDEMPOTENCY_KEY="cut-1"
    )
    assert other.status_code == 422
    assert Release.objects.count() == 1


def test_the_list_shows_a_release_still_building_before_it_has_counts(maintainer, db):
    Release.objects.create(number=1, version="v1", filter={})
    web = Client()
    web.force_login(maintainer)
    r = web.get("/releases/")
    assert r.status_code == 200
    assert '<td><a href="/releases/v1/">v1</a></td>' in r.content.decode()


# --- the release page ---------------------------------------------------------------------


def _finished(rows: dict[str, dict[str, int]], number: int = 1) -> Release:
    return Release.objects.create(
        number=number,
        version=f"v{number}",
        state=ReleaseState.READY,
        filter={},
        counts={"rows": rows, "contributors": 2},
        content_hash="a" * 64,
        finished_at="2026-01-01T00:00:00Z",
    )


EMPTY = {"train": 0, "test": 0}


def test_a_release_with_no_sft_test_rows_warns_and_offers_no_training_run(maintainer, db):
    _finished({"sft": {"train": 17, "test": 0}, "preferences": {"train": 4, "test": 0}})
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert (
        "No sft rows landed in the test split. An SFT run needs sft rows in train and test, so "
        "no SFT run can start on this release; a reward model does not read them. Prompts keep "
        "the split of the first release that included them; a larger test share on the next "
        "release puts more of the prompts released for the first time in test." in html
    )
    assert "No preferences rows landed in the test split" in html
    assert "Start a training run" not in html


def test_a_release_with_no_preferences_test_rows_says_only_reward_models_are_stopped(
    maintainer, db
):
    """It said "a training run needs both", while an SFT run trains on it: only a reward
    model, which reads the preference pairs, is refused."""
    _finished({"sft": {"train": 17, "test": 2}, "preferences": {"train": 4, "test": 0}})
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert (
        "No preferences rows landed in the test split. A reward model needs preferences rows in "
        "train and test, so no reward model can be trained on this release; an SFT run does not "
        "read them." in html
    )
    assert "a training run needs both" not in html
    assert 'href="/training/?release=v1#new-run"' in html  # an SFT run is still offered


def test_a_release_with_both_sft_splits_links_to_the_run_form_with_it(maintainer, volunteer, db):
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert 'href="/training/?release=v1#new-run"' in html
    assert 'data-testid="release-warning"' not in html  # no preference pairs: nothing to warn
    volunteer_web = Client()
    volunteer_web.force_login(volunteer)
    assert "Start a training run" not in volunteer_web.get("/releases/v1/").content.decode()


def announced(html: str) -> str:
    """The sentence a polled status gives its live region (data-announce)."""
    found = re.search(r"<span hidden data-announce>(.*?)</span>", html, re.S)
    assert found, html
    return found.group(1)


def test_a_building_release_page_polls_a_box_that_counts_rows_first(maintainer, db):
    """The polled box is not a live region (a11y QA: it was, and was read out at every poll):
    it announces into #release-announce a sentence that changes only with the state or a 10%
    step of the progress."""
    Release.objects.create(number=1, version="v1", filter={})
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert '<p class="visually-hidden" id="release-announce" role="status"></p>' in html
    assert (
        '<div id="release-status" class="release-status" data-announce-into="release-announce" '
        'hx-get="/releases/v1/" hx-trigger="every 2s" hx-swap="innerHTML">'
    ) in html
    assert "Counting rows…" in html and "0 / 0" not in html
    assert announced(html) == "Building: counting rows."
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"})
    assert polled.status_code == 200
    assert "Counting rows…" in polled.content.decode()
    assert "hx-swap-oob" not in polled.content.decode()
    Release.objects.filter(version="v1").update(progress_done=1234, progress_total=5000)
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"}).content.decode()
    assert "1,234 of 5,000 rows" in polled
    assert announced(polled) == "Building: 20% of the rows written."
    assert 'max="5000" value="1234"' in polled
    Release.objects.filter(version="v1").update(progress_done=1499)
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"}).content.decode()
    assert announced(polled) == "Building: 20% of the rows written."  # the same 10% step


@pytest.mark.parametrize(
    ("accepted", "share"), [(0, "0.05"), (40, "0.25"), (12, "0.5"), (400, "0.05")]
)
def test_the_form_suggests_a_test_share_that_gives_a_small_collection_test_rows(
    maintainer, db, accepted, share
):
    """At 0.05 the demo's few dozen prompts often gave no test rows, and such a release
    cannot be trained on: the form starts where about 10 prompts land in test."""
    from tests.factories import PromptFactory

    PromptFactory.create_batch(accepted, state="collecting")
    PromptFactory.create_batch(3, state="review")  # not in a release: not counted
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/").content.decode()
    assert re.search(rf'name="test_share" value="{share}"', html)


def test_the_suggested_share_counts_only_prompts_never_released(maintainer, db, monkeypatch):
    """Prompts released before keep their split, so the share applies to the others: with 8
    of 30 released prompts in test, 2 of 10 new ones make the 10 (0.2), not 10 of 40."""
    from apps.releases.models import PromptSplit
    from tests.factories import PromptFactory

    # Counted afresh at each visit (the page keeps it a minute otherwise).
    monkeypatch.setattr(selectors, "SUGGESTED_SHARE_CACHE_SECONDS", 0)

    released = PromptFactory.create_batch(30, state="collecting")
    PromptFactory.create_batch(10, state="collecting")
    PromptSplit.objects.bulk_create(
        PromptSplit(prompt=prompt, split="test" if index < 8 else "train")
        for index, prompt in enumerate(released)
    )
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/").content.decode()
    assert re.search(r'name="test_share" value="0.2"', html)
    PromptSplit.objects.filter(prompt__in=released[8:10]).update(split="test")
    html = web.get("/releases/").content.decode()
    assert re.search(r'name="test_share" value="0.05"', html)  # ten in test already


def test_the_suggested_share_puts_one_of_a_few_new_ranked_prompts_in_test(
    maintainer, db, monkeypatch
):
    """The demo's ten ranked prompts all landed in train about one time in ten (a failed CI
    run): no preferences test rows, so no reward model. The form then suggests the share
    that puts the lowest-hashing one in test, and leaves the others in train."""
    from apps.collection.models import Prompt
    from apps.releases.building.layout import hash_position, prompt_split
    from apps.releases.models import PromptSplit
    from tests.factories import PromptFactory

    # Counted afresh at each visit (the page keeps it a minute otherwise).
    monkeypatch.setattr(selectors, "SUGGESTED_SHARE_CACHE_SECONDS", 0)

    prompts = PromptFactory.create_batch(60, state="collecting")
    base = 0.17  # ten of the sixty new accepted prompts in test
    position = {prompt.pk: hash_position(prompt.pk) / 2**64 for prompt in prompts}
    lowest = next(pk for pk, at in position.items() if 0.3 <= at < 0.5)
    others = [pk for pk, at in position.items() if at >= 0.5][:9]
    assert len(others) == 9, "sixty hashes hold nine above a half"
    ranked = [lowest, *others]
    Prompt.objects.filter(pk__in=ranked).update(state="complete")
    assert all(prompt_split(pk, base) == "train" for pk in ranked)
    web = Client()
    web.force_login(maintainer)

    html = web.get("/releases/").content.decode()

    share = float(re.search(r'name="test_share" value="([0-9.]+)"', html).group(1))
    assert prompt_split(lowest, round(share - 0.01, 2)) == "train"  # the smallest that does
    assert [pk for pk in ranked if prompt_split(pk, share) == "test"] == [lowest]
    # Once a ranked prompt is in test, the share is the plain one again: 9 of the 59 new.
    PromptSplit.objects.create(prompt_id=lowest, split="test")
    html = web.get("/releases/").content.decode()
    assert re.search(r'name="test_share" value="0.16"', html)


def _suggested_share(web: Client) -> str:
    html = web.get("/releases/").content.decode()
    return re.search(r'name="test_share" value="([^"]*)"', html).group(1)


def _prompt_counts(captured) -> list[str]:
    return [q["sql"] for q in captured if "COUNT(" in q["sql"] and "collection_prompt" in q["sql"]]


def test_the_suggested_share_is_counted_at_most_once_a_minute(maintainer, db, monkeypatch):
    """Counting it reads every accepted prompt and its split, on each visit of a maintainer
    (0.17 to 0.3 s at 36,000 prompts): the page keeps it a minute."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import PromptFactory

    PromptFactory.create_batch(40, state="collecting")
    web = Client()
    web.force_login(maintainer)
    assert _suggested_share(web) == "0.25"
    PromptFactory.create_batch(360, state="collecting")
    with CaptureQueriesContext(connection) as captured:
        assert _suggested_share(web) == "0.25"  # as counted a moment ago
    assert _prompt_counts(captured) == []
    later = time.time() + selectors.SUGGESTED_SHARE_CACHE_SECONDS + 1
    monkeypatch.setattr("apps.core.caching.time.time", lambda: later)
    assert _suggested_share(web) == "0.05"


def test_the_suggested_share_is_counted_again_once_a_release_is_cut_and_built(maintainer, db):
    """A build gives the prompts it releases their splits: the share suggested after it must
    not be the one that was right before (the form would offer 0.25 again with ten prompts
    in test already)."""
    from django.utils import timezone

    from apps.releases.models import PromptSplit
    from tests.factories import PromptFactory
    from tests.training.conftest import make_release

    prompts = PromptFactory.create_batch(40, state="collecting")
    web = Client()
    web.force_login(maintainer)
    assert _suggested_share(web) == "0.25"
    release = make_release(state=ReleaseState.BUILDING, finished_at=None)
    assert _suggested_share(web) == "0.25"  # no split assigned yet
    PromptSplit.objects.bulk_create(  # as the build does
        PromptSplit(prompt=prompt, release=release, split="test" if index < 10 else "train")
        for index, prompt in enumerate(prompts)
    )
    PromptFactory.create_batch(10, state="collecting")
    assert _suggested_share(web) == "0.25"  # kept while it builds, within the minute
    Release.objects.filter(pk=release.pk).update(
        state=ReleaseState.READY, finished_at=timezone.now()
    )
    assert _suggested_share(web) == "0.05"  # ten in test already


def test_a_build_no_worker_has_started_says_so_after_a_minute(maintainer, db):
    """It once said "Counting rows…" for ever when no Celery worker ran."""
    from datetime import timedelta

    from django.utils import timezone

    Release.objects.create(number=1, version="v1", filter={})
    web = Client()
    web.force_login(maintainer)
    assert "Counting rows…" in web.get("/releases/v1/").content.decode()  # just queued
    Release.objects.update(created_at=timezone.now() - timedelta(minutes=3))
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"}).content.decode()
    assert "Queued 3\xa0minutes ago; no worker has started the build yet." in polled
    assert "check that one is running (make run starts one)" in polled
    assert "Counting rows…" not in polled
    # Once a worker starts it, the page counts rows again.
    Release.objects.update(started_at=timezone.now())
    assert "Counting rows…" in web.get("/releases/v1/").content.decode()


def test_once_built_the_poll_brings_the_whole_page_and_stops(world, maintainer):
    release = build()
    web = Client()
    web.force_login(maintainer)
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"})
    assert polled.status_code == 286  # htmx swaps it in, then stops polling
    html = polled.content.decode()
    assert '<div id="release-content" hx-swap-oob="innerHTML">' in html
    assert "data/sft/train-00000-of-00001.parquet" in html
    assert release.content_hash[:10] in html
    assert "Counting rows" not in html
    page = web.get("/releases/v1/").content.decode()
    assert "hx-get" not in page


def test_the_header_marks_releases_as_the_section_of_a_release_page(volunteer, db):
    """On the list, the Releases link is the current page; on a release's page it is the
    current section (``aria-current="true"``), since that page is not the one it points to."""
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    web = Client()
    web.force_login(volunteer)
    assert (
        '<a href="/releases/" aria-current="page">Releases</a>'
        in web.get("/releases/").content.decode()
    )
    html = web.get("/releases/v1/").content.decode()
    assert '<a href="/releases/" aria-current="true">Releases</a>' in html
    assert 'aria-current="page"' not in html
    assert '<a href="/browse/">Browse</a>' in html


# --- what the pages say (UX audit) ------------------------------------------------------------


def test_a_visit_to_the_forms_address_goes_to_the_form(maintainer, volunteer, db):
    """After a refused form the address bar shows /releases/new/; opening it again was the
    405 page."""
    for user in (maintainer, volunteer, None):
        web = Client()
        if user is not None:
            web.force_login(user)
        r = web.get("/releases/new/")
        assert r.status_code == 302 and r["Location"] == "/releases/#cut"
    assert not Release.objects.exists()


def test_a_form_filter_that_matches_nothing_names_categories_by_their_labels(maintainer, an_answer):
    web = Client()
    web.force_login(maintainer)
    r = web.post(
        "/releases/new/",
        {"languages": "fr", "categories": ["closed_qa"], "idempotency_key": "fr"},
    )
    assert r.status_code == 400
    assert (
        "No accepted answer matches this filter (languages: fr; categories: Closed Q&amp;A)."
        in r.content.decode()
    )


def test_only_maintainers_are_told_what_the_next_release_can_change(maintainer, volunteer, db):
    _finished({"sft": {"train": 17, "test": 0}, "preferences": {"train": 0, "test": 3}})
    sft_stops = (
        "An SFT run needs sft rows in train and test, so no SFT run can start on this release; "
        "a reward model does not read them."
    )
    reward_stops = (
        "A reward model needs preferences rows in train and test, so no reward model can be "
        "trained on this release; an SFT run does not read them."
    )
    advice = [
        f"No sft rows landed in the test split. {sft_stops} Prompts keep the split of the first "
        "release that included them; a larger test share on the next release puts more of the "
        "prompts released for the first time in test.",
        f"No preferences rows landed in the train split. {reward_stops} Prompts keep the split "
        "of the first release that included them; a smaller test share on the next release "
        "puts more of the prompts released for the first time in train.",
    ]
    neutral = [
        f"This release has no sft test rows. {sft_stops}",
        f"This release has no preferences train rows. {reward_stops}",
    ]
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert all(text in html for text in advice)
    assert not any(text in html for text in neutral)
    for user in (volunteer, None):
        web = Client()
        if user is not None:
            web.force_login(user)
        html = web.get("/releases/v1/").content.decode()
        assert "Prompts keep the split" not in html
        assert all(
            f'<div class="message warning" data-testid="release-warning"><p>{text}</p></div>'
            in html
            for text in neutral
        )


def test_the_list_marks_a_release_with_an_empty_sft_split(maintainer, volunteer, db):
    _finished({"sft": {"train": 17, "test": 0}, "preferences": EMPTY}, number=1)
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY}, number=2)
    _finished({"sft": {"train": 0, "test": 2}, "preferences": EMPTY}, number=3)
    Release.objects.create(number=4, version="v4", filter={})  # building: no counts yet
    for user in (maintainer, volunteer):
        web = Client()
        web.force_login(user)
        html = web.get("/releases/").content.decode()
        notes = re.findall(
            r'<a href="/releases/(v\d)/">.*?</td>\s*<td>(.*?)</td>', html, flags=re.DOTALL
        )
        by_version = {version: cell for version, cell in notes}
        assert by_version["v1"].endswith(
            '<span class="split-note" data-testid="empty-split">No test rows</span>'
        )
        assert "split-note" not in by_version["v2"]
        assert by_version["v3"].endswith(
            '<span class="split-note" data-testid="empty-split">No train rows</span>'
        )
        if user is maintainer:
            assert "split-note" not in by_version["v4"]


def test_the_first_release_shows_a_dash_for_changes_since_the_previous(db, volunteer):
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    web = Client()
    web.force_login(volunteer)
    html = web.get("/releases/v1/").content.decode()
    assert '<th scope="row">sft</th><td>17</td><td>2</td>\n    <td>—</td></tr>' in html
    Release.objects.filter(version="v1").update(
        changes={"sft": {"added": 3, "removed": 1}, "preferences": {"added": 0, "removed": 0}}
    )
    html = web.get("/releases/v1/").content.decode()
    assert '<th scope="row">sft</th><td>17</td><td>2</td>\n    <td>+3 / −1</td></tr>' in html


def _loading_code(html: str) -> str:
    found = re.search(r'<code data-testid="loading-code">(.*?)</code>', html, flags=re.DOTALL)
    assert found
    return found.group(1).replace("&quot;", '"')


def test_load_it_reads_this_sites_downloads_until_published(world, volunteer):
    release = build(test_share=0.5)
    rows = release.counts["rows"]["sft"]
    web = Client()
    web.force_login(volunteer)
    code = _loading_code(web.get("/releases/v1/").content.decode())
    assert "path/to" not in code
    splits = [split for split in ("train", "test") if rows[split]]
    expected = [
        "from datasets import load_dataset",
        'sft = load_dataset("parquet", data_files={',
        *(
            f'    "{split}": "http://testserver/releases/v1/files/data/sft/'
            f'{split}-00000-of-00001.parquet",'
            for split in splits
        ),
        "})",
    ]
    assert code.splitlines() == expected
    # Each address downloads its split's rows, for anyone.
    import pyarrow.parquet as pq

    for split, url in zip(splits, re.findall(r'"(http://testserver/[^"]+)"', code), strict=True):
        response = Client().get(url.removeprefix("http://testserver"))
        assert response.status_code == 200
        table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
        assert table.num_rows == rows[split]


def test_load_it_reads_the_hub_repo_at_its_tag_once_published(db, volunteer):
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    Release.objects.filter(version="v1").update(
        state=ReleaseState.PUBLISHED, hub_repo="hearth-org/hearth-sft", hub_revision="abc123"
    )
    web = Client()
    web.force_login(volunteer)
    html = web.get("/releases/v1/").content.decode()
    assert _loading_code(html).splitlines() == [
        "from datasets import load_dataset",
        'sft = load_dataset("hearth-org/hearth-sft", "sft", revision="v1")',
    ]
    assert "Its sft rows, from the Hub at this version's tag:" in html


def test_a_missing_release_gets_the_general_not_found_page(client, settings, db):
    settings.DEBUG = False
    for path in ("/releases/v404/", "/releases/v1/files/data/sft/train-00000-of-00001.parquet"):
        r = client.get(path)
        assert r.status_code == 404
        assert "404.html" in [t.name for t in r.templates]
        html = r.content.decode()
        assert (
            "There is nothing at this address. The page may have been removed, the address may "
            "be mistyped, or what it points to is not public."
        ) in html
        assert "prompts and answers appear here" not in html
        assert '<a class="button" href="/">Go to the home page</a>' in html
        assert '<a class="button secondary" href="/browse/">Browse prompts</a>' in html


def test_load_it_lists_every_shard_of_a_split_and_no_empty_split(db, volunteer):
    _finished({"sft": {"train": 40_000, "test": 0}, "preferences": EMPTY})
    shards = [f"data/sft/train-0000{i}-of-00002.parquet" for i in (1, 0)]
    Release.objects.filter(version="v1").update(
        files=[
            {"path": path, "bytes": 1, "sha256": "0" * 64}
            for path in [*shards, "data/sft/test-00000-of-00001.parquet", "dolly/sft.jsonl"]
        ]
    )
    web = Client()
    web.force_login(volunteer)
    code = _loading_code(web.get("/releases/v1/").content.decode())
    assert code.splitlines() == [
        "from datasets import load_dataset",
        'sft = load_dataset("parquet", data_files={',
        '    "train": [',
        '        "http://testserver/releases/v1/files/data/sft/train-00000-of-00002.parquet",',
        '        "http://testserver/releases/v1/files/data/sft/train-00001-of-00002.parquet",',
        "    ],",
        "})",
    ]


def test_the_page_shows_what_the_release_holds_by_category_and_language(db, volunteer):
    release = _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    Release.objects.filter(pk=release.pk).update(
        counts={
            "rows": {"sft": {"train": 1200, "test": 34}},
            "categories": {
                "open_qa": {"prompts": 3, "sft": 9},
                "summarization": {"prompts": 400, "sft": 1225},
            },
            "languages": {"en": {"prompts": 400, "sft": 1230}, "fr": {"prompts": 3, "sft": 4}},
            "contributors": 2,
        },
        filter={
            "languages": ["en", "fr"],
            "categories": ["open_qa", "summarization"],
            "min_agreement": 0.5,
            "include_model_written": True,
            "test_share": 0.05,
        },
    )
    web = client_for(volunteer)
    html = web.get("/releases/v1/").content.decode()
    composition = re.search(r'data-testid="composition">(.*?)</section>', html, re.S).group(1)  # type: ignore[union-attr]
    bars = re.findall(
        r'<span class="count-bar-label">([^<]+)</span> <span class="count-bar-n">([^<]+)</span>'
        r'.*?<rect width="([\d.]+)"',
        composition,
        re.S,
    )
    # Most rows first, the largest at full width, thousands grouped.
    assert bars == [
        ("Summarization", "1,225", "100.00"),
        ("Open Q&amp;A", "9", "0.73"),
        ("English", "1,230", "100.00"),
        ("French", "4", "0.33"),
    ]
    assert (
        "Languages: English, French · Categories: Open Q&amp;A, Summarization · "
        "Minimum agreement (Kendall&#x27;s W) for preference pairs: 0.5 · Model-written answers: included · "
        "test share 5% for prompts released for the first time</p>" in composition
    )
    spanish = web.get("/releases/v1/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '"count-bar-label">Resumen<' in spanish and '"count-bar-label">Inglés<' in spanish


def test_a_spanish_page_writes_the_filters_numbers_and_languages_as_its_chart_does(db, volunteer):
    """On a Spanish page the filter said "0.5" beside the chart's decimal commas, and
    "inglés" (as in running text) beside the chart's "Inglés"."""
    release = _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    Release.objects.filter(pk=release.pk).update(
        counts={
            "rows": {"sft": {"train": 17, "test": 2}},
            "categories": {"open_qa": {"prompts": 12, "sft": 19}},
            "languages": {"en": {"prompts": 12, "sft": 19}},
            "contributors": 2,
        },
        filter={"languages": ["en"], "min_agreement": 0.5, "test_share": 0.125},
    )
    html = client_for(volunteer).get("/releases/v1/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    summary = re.search(r'data-testid="release-filter">(.*?)</p>', html, re.S).group(1)  # type: ignore[union-attr]
    assert summary.startswith("Idiomas: Inglés · ")
    assert "Kendall) para los pares de preferencia: 0,5 · " in summary
    assert "12,5" in summary and "0.5" not in summary and "12.5" not in summary
    assert '"count-bar-label">Inglés<' in html


def test_a_language_or_category_with_prompts_but_no_sft_row_is_not_drawn(db, volunteer):
    """The sft chart drew "French 0": French prompts were in the release, none of their
    answers was."""
    release = _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    Release.objects.filter(pk=release.pk).update(
        counts={
            "rows": {"sft": {"train": 17, "test": 2}},
            "categories": {
                "open_qa": {"prompts": 12, "sft": 19},
                "brainstorming": {"prompts": 2, "sft": 0},
            },
            "languages": {"en": {"prompts": 12, "sft": 19}, "fr": {"prompts": 2, "sft": 0}},
            "contributors": 2,
        }
    )
    html = client_for(volunteer).get("/releases/v1/").content.decode()
    composition = re.search(r'data-testid="composition">(.*?)</section>', html, re.S).group(1)  # type: ignore[union-attr]
    labels = re.findall(r'<span class="count-bar-label">([^<]+)</span>', composition)
    assert labels == ["Open Q&amp;A", "English"]
    assert "French" not in composition and "Brainstorming" not in composition


def test_a_release_cut_from_everything_says_so(db, volunteer):
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    html = client_for(volunteer).get("/releases/v1/").content.decode()
    assert (
        'data-testid="release-filter">All accepted work, in every language and category</p>' in html
    )
    assert 'data-testid="release-categories"' not in html  # no counts: no empty charts


# --- where a release stands with the Hub -----------------------------------------------------


def test_a_failed_publish_is_on_the_page_with_its_reason_and_a_way_to_try_again(
    maintainer, volunteer, db, settings
):
    """It was invisible: the release stayed ready with no error and the page offered Publish
    to the Hub as if nothing had happened."""
    settings.HUB_NAMESPACE = "hearth-org"
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    Release.objects.filter(version="v1").update(
        publish_state="failed", publish_error="HF_TOKEN is not set in the publishing process."
    )
    html = client_for_page(maintainer).get("/releases/v1/").content.decode()
    assert (
        '<div class="message error" data-testid="hub-failed"><p>Publishing to the Hub failed: '
        "HF_TOKEN is not set in the publishing process.</p></div>"
    ) in html
    assert ">Try publishing again</button>" in html
    assert "hx-get" not in html  # nothing in progress: no polling
    listed = client_for_page(maintainer).get("/releases/").content.decode()
    assert '<span class="error">Publishing failed</span>' in listed
    # Visitors and volunteers get neither the reason nor the button.
    for web in (Client(), client_for_page(volunteer)):
        html = web.get("/releases/v1/").content.decode()
        assert "HF_TOKEN" not in html and "Publishing to the Hub failed" not in html
        assert "Publishing failed" not in web.get("/releases/").content.decode()


def test_a_publish_in_progress_is_on_the_page_which_polls_until_it_ends(maintainer, db, settings):
    from django.utils import timezone

    settings.HUB_NAMESPACE = "hearth-org"
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    Release.objects.filter(version="v1").update(
        publish_state="publishing",
        publish_requested_at=timezone.now(),
        publish_error="Try 1 failed and will be repeated: ConnectionError: reset",
    )
    web = client_for_page(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert 'data-testid="hub-publishing"' in html
    assert "Publishing to the Hub (asked just now)…" in html
    assert "Try 1 failed and will be repeated: ConnectionError: reset" in html
    assert "Publish to the Hub</button>" not in html  # asked for already
    assert 'hx-get="/releases/v1/" hx-trigger="every 2s"' in html
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and 'data-testid="hub-publishing"' in polled.content.decode()
    assert "Publishing…" in web.get("/releases/").content.decode()
    Release.objects.filter(version="v1").update(
        state="published", publish_state="published", publish_error="",
        hub_repo="hearth-org/hearth-data", hub_revision="abc123",
    )  # fmt: skip
    polled = web.get("/releases/v1/", headers={"HX-Request": "true"})
    assert polled.status_code == 286  # done: htmx stops asking
    assert "On the Hub" in polled.content.decode()


def test_the_publish_button_asks_once_however_often_it_is_pressed(
    maintainer, db, settings, django_capture_on_commit_callbacks
):
    settings.HUB_NAMESPACE = "hearth-org"
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    web = client_for_page(maintainer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        web.post("/releases/v1/publish/")
        again = web.post("/releases/v1/publish/", follow=True)
    assert len(callbacks) == 1
    assert (
        "v1 is being published already (asked just now), so nothing was queued. If it is still "
        "not published 30 minutes after it was asked for, Publish asks again."
        in again.content.decode()
    )
    assert Release.objects.get().publish_state == "publishing"


def test_the_api_says_where_a_release_stands_with_the_hub(
    maintainer, volunteer, db, settings, django_capture_on_commit_callbacks
):
    settings.HUB_NAMESPACE = "hearth-org"
    _finished({"sft": {"train": 17, "test": 2}, "preferences": EMPTY})
    api = client_for(maintainer)
    assert api.get("/api/v1/releases/v1/").json()["publish_state"] == "unpublished"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = api.post("/api/v1/releases/v1/publish/")
        second = api.post("/api/v1/releases/v1/publish/")
    # Data QA: the second answered 202 Accepted while queuing nothing.
    assert (first.status_code, second.status_code) == (202, 409)
    assert first.json()["publish_state"] == "publishing"
    assert second.json() == {
        "detail": "v1 is being published already (asked just now), so nothing was queued. If "
        "it is still not published 30 minutes after it was asked for, Publish asks again."
    }
    assert first.json()["publish_requested_at"] is not None
    assert len(callbacks) == 1
    Release.objects.filter(version="v1").update(state="published", publish_state="published")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        done = api.post("/api/v1/releases/v1/publish/")
    # Published already: what was asked for is done, and nothing is queued.
    assert done.status_code == 200 and done.json()["publish_state"] == "published"
    assert callbacks == [] and not done.has_header("Location")
    Release.objects.filter(version="v1").update(state="ready")
    Release.objects.filter(version="v1").update(
        publish_state="failed", publish_error="The Hub refused the token (HTTP 401)."
    )
    body = api.get("/api/v1/releases/v1/").json()
    assert (body["publish_state"], body["publish_error"]) == (
        "failed",
        "The Hub refused the token (HTTP 401).",
    )
    # The reason names the deployment's settings: for maintainers only.
    for other in (client_for(volunteer), APIClient()):
        body = other.get("/api/v1/releases/v1/").json()
        assert (body["publish_state"], body["publish_error"]) == ("failed", "")
        listed = other.get("/api/v1/releases/").json()["results"][0]
        assert listed["publish_error"] == ""
    assert api.get("/api/v1/releases/").json()["results"][0]["publish_error"] != ""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    state = schema["components"]["schemas"]["ReleaseOut"]["properties"]["publish_state"]
    enum = schema["components"]["schemas"][state["allOf"][0]["$ref"].rsplit("/", 1)[-1]]
    assert enum["enum"] == ["unpublished", "publishing", "published", "failed"]


def client_for_page(user) -> Client:
    web = Client()
    web.force_login(user)
    return web


def test_a_spanish_page_takes_its_numbers_with_a_decimal_comma(
    maintainer, an_answer, django_capture_on_commit_callbacks
):
    """A Spanish maintainer writes 0,5: it was refused with "Indica un número"."""
    web = Client(HTTP_ACCEPT_LANGUAGE="es")
    web.force_login(maintainer)
    with django_capture_on_commit_callbacks(execute=False):
        r = web.post(
            "/releases/new/",
            {"min_agreement": "0,5", "test_share": "0,2", "idempotency_key": "coma"},
        )
    assert r.status_code == 302, r.content.decode()
    release = Release.objects.get()
    assert (release.filter["min_agreement"], release.filter["test_share"]) == (0.5, 0.2)


def test_a_spanish_page_suggests_its_test_share_with_a_decimal_comma(
    maintainer, an_answer, django_capture_on_commit_callbacks
):
    """It showed "0.25" on a page that writes 0,25; sent back as shown, it cuts at 0.25."""
    from tests.factories import PromptFactory

    PromptFactory.create_batch(39, state="collecting")  # and an_answer's: 40 new prompts
    web = Client(HTTP_ACCEPT_LANGUAGE="es")
    web.force_login(maintainer)
    html = web.get("/releases/").content.decode()
    shown = re.search(r'name="test_share" value="([^"]*)"', html)
    assert shown is not None and shown.group(1) == "0,25"
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key is not None
    with django_capture_on_commit_callbacks(execute=False):
        r = web.post(
            "/releases/new/", {"test_share": shown.group(1), "idempotency_key": key.group(1)}
        )
    assert r.status_code == 302, r.content.decode()
    assert Release.objects.get().filter["test_share"] == 0.25


def _help(html: str, field: str) -> str:
    found = re.search(rf'<div class="help" id="id_{field}_helptext">(.*?)</div>', html, re.S)
    assert found is not None, field
    return found.group(1)


def test_the_test_share_field_says_its_range_before_anything_is_sent(maintainer, db):
    """The cap (at most 0.5) showed only in the error after sending a larger share."""
    web = client_for_page(maintainer)
    assert _help(web.get("/releases/").content.decode(), "test_share").startswith(
        "Above 0 and at most 0.5. The share of prompts released for the first time"
    )
    spanish = web.get("/releases/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "0,5." in _help(spanish, "test_share")  # as the Spanish page writes it
    with marked_gettext():
        html = web.get("/releases/").content.decode()
    assert _help(html, "test_share").startswith("«Above 0 and at most 0.5.» ")


def test_an_english_page_does_not_read_a_comma_as_a_decimal_point(maintainer, an_answer):
    web = Client()
    web.force_login(maintainer)
    r = web.post("/releases/new/", {"test_share": "0,2", "idempotency_key": "comma"})
    assert r.status_code == 400
    assert '<ul class="errorlist" id="id_test_share_error"><li>Give a number.</li></ul>' in (
        r.content.decode()
    )
    assert not Release.objects.exists()


def test_a_spanish_refusal_writes_the_largest_share_with_a_decimal_comma(api_maintainer, an_answer):
    """It said "como máximo 0.5" on a page that reads 0,5."""
    r = api_maintainer.post(
        "/api/v1/releases/", {"test_share": 0.9}, format="json", HTTP_ACCEPT_LANGUAGE="es"
    )
    assert r.status_code == 400
    assert r.json() == {"test_share": ["Indica una proporción mayor que 0 y como máximo 0,5."]}


def test_a_build_no_worker_took_names_the_queue_it_waits_on(maintainer, db):
    """Builds go to the exports queue (a worker started with -Q exports, as make run does);
    the page told the maintainer to check for a worker of the default queue, which a worker
    that never takes builds satisfies."""
    from datetime import timedelta

    from django.utils import timezone

    release = Release.objects.create(number=1, version="v1", state=ReleaseState.BUILDING, filter={})
    Release.objects.filter(pk=release.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    web = Client()
    web.force_login(maintainer)
    html = web.get("/releases/v1/").content.decode()
    assert "no worker has started the build yet." in html
    assert (
        "Builds run on a Celery worker of the exports queue (-Q exports): check that one is "
        "running (make run starts one)." in html
    )
    assert "default queue" not in html
