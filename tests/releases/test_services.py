"""Creating releases: the filter's validation, version numbers, who may, and the build
enqueued on commit."""

from __future__ import annotations

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.utils import translation

from apps.collection.models import ResponseState, Source
from apps.releases import tasks
from apps.releases.models import Release, ReleaseState
from apps.releases.services import check_release_filter, release_create, release_rebuild
from tests.factories import ResponseFactory


def test_a_filter_is_canonicalised():
    flt = check_release_filter(
        languages="pt-br, en en", categories=["open_qa", "open_qa"], min_agreement="0.5"
    )
    assert flt.languages == ("pt-BR", "en")
    assert flt.categories == ("open_qa",)
    assert flt.min_agreement == 0.5
    assert flt.test_share == 0.05 and flt.include_model_written is False


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"languages": ["xx-notatag-!"]}, "languages"),
        ({"categories": ["poetry"]}, "categories"),
        ({"min_agreement": 1.5}, "min_agreement"),
        ({"min_agreement": "nan"}, "min_agreement"),
        ({"min_agreement": True}, "min_agreement"),
        ({"test_share": 0}, "test_share"),
        ({"test_share": 0.6}, "test_share"),
        ({"test_share": "a lot"}, "test_share"),
        ({"include_model_written": "yes"}, "include_model_written"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_field(fields, bad):
    with pytest.raises(ValidationError) as caught:
        check_release_filter(**fields)
    assert list(caught.value.message_dict) == [bad]


def test_every_bad_field_is_named_at_once():
    with pytest.raises(ValidationError) as caught:
        check_release_filter(categories=["poetry"], test_share=2)
    assert set(caught.value.message_dict) == {"categories", "test_share"}


def test_versions_are_numbered_in_order(maintainer, an_answer):
    first = release_create(user=maintainer, enqueue=False)
    second = release_create(user=maintainer, enqueue=False, languages=["en"])
    assert (first.version, second.version) == ("v1", "v2")
    assert second.state == ReleaseState.BUILDING
    assert second.created_by == maintainer
    assert second.filter == {
        "languages": ["en"],
        "categories": [],
        "min_agreement": None,
        "include_model_written": False,
        "test_share": 0.05,
    }


def test_only_maintainers_cut_releases(volunteer):
    with pytest.raises(PermissionDenied):
        release_create(user=volunteer)
    assert not Release.objects.exists()


def test_a_bad_filter_creates_nothing(maintainer):
    with pytest.raises(ValidationError):
        release_create(user=maintainer, categories=["poetry"])
    assert not Release.objects.exists()


def test_the_build_is_enqueued_on_the_exports_queue_once_committed(
    maintainer, an_answer, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.build_release, "apply_async", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        release = release_create(user=maintainer)
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert sent == [{"args": (release.pk,), "queue": "exports"}]


def test_a_failed_release_can_be_built_again_but_a_finished_one_cannot(
    maintainer, an_answer, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.build_release, "apply_async", lambda **kwargs: sent.append(kwargs))
    release = release_create(user=maintainer, enqueue=False)
    Release.objects.filter(pk=release.pk).update(state=ReleaseState.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        again = release_rebuild(user=maintainer, release=release)
    assert again.state == ReleaseState.BUILDING and again.error == ""
    assert sent == [{"args": (release.pk,), "queue": "exports"}]
    Release.objects.filter(pk=release.pk).update(
        state=ReleaseState.READY, content_hash="0" * 64, finished_at="2026-01-01T00:00:00Z"
    )
    with pytest.raises(ValidationError):
        release_rebuild(user=maintainer, release=release)


def test_the_task_is_routed_to_exports_and_acknowledged_late():
    task = tasks.build_release
    assert task.name == "releases.build"
    assert task.queue == "exports"
    assert task.acks_late is True


def test_a_filter_that_matches_no_answer_is_refused_before_taking_a_version(maintainer, an_answer):
    with pytest.raises(ValidationError) as caught:
        release_create(user=maintainer, enqueue=False, languages=["sw"])
    assert caught.value.message_dict == {
        NON_FIELD_ERRORS: ["No accepted answer matches this filter (languages: sw)."]
    }
    with pytest.raises(ValidationError) as caught:
        release_create(user=maintainer, enqueue=False, languages="en", categories=["brainstorming"])
    assert caught.value.messages == [
        "No accepted answer matches this filter (languages: en; categories: Brainstorming)."
    ]
    assert not Release.objects.exists()
    # The refused filters used no number: the next release is still v1.
    assert release_create(user=maintainer, enqueue=False, languages=["en"]).version == "v1"


def test_a_filter_that_matches_nothing_names_categories_as_the_form_does(maintainer, an_answer):
    with pytest.raises(ValidationError) as caught:
        release_create(
            user=maintainer, enqueue=False, languages="fr", categories=["closed_qa", "open_qa"]
        )
    assert caught.value.messages == [
        "No accepted answer matches this filter (languages: fr; categories: Closed Q&A, Open Q&A)."
    ]
    # Translated, as on the form.
    with translation.override("es"), pytest.raises(ValidationError) as caught:
        release_create(user=maintainer, enqueue=False, languages="fr", categories=["closed_qa"])
    assert "Preguntas cerradas" in caught.value.messages[0]
    assert "closed_qa" not in caught.value.messages[0]


def test_a_filter_that_only_model_written_answers_match_says_they_are_left_out(maintainer):
    ResponseFactory(source=Source.MODEL)
    with pytest.raises(ValidationError) as caught:
        release_create(user=maintainer, enqueue=False)
    assert caught.value.messages == [
        "No accepted answer matches this filter (model-written answers left out)."
    ]
    assert release_create(user=maintainer, enqueue=False, include_model_written=True).number == 1


def test_with_no_accepted_answer_at_all_nothing_is_released(maintainer):
    ResponseFactory(state=ResponseState.REVIEW)
    with pytest.raises(ValidationError) as caught:
        release_create(user=maintainer, enqueue=False)
    assert caught.value.messages == ["There is no accepted answer to release yet."]
    assert not Release.objects.exists()
