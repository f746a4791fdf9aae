"""A banned reviewer's reviews stop counting (spam QA, findings 1 and 2: a ring's "spam"
votes rejected 51 honest prompts and 45 honest answers, and the bans left them rejected for
good). ``reviews_of_banned_reconsider`` decides again, without those reviews, the work they
helped reject: back to review for the reviews it now lacks, or accepted at once by the
reviews left; work still in review gets a slot for the review that no longer counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import User
from apps.assignments.models import TaskType
from apps.collection import flow
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy, policy_update
from apps.feedback import services as feedback
from apps.feedback.models import Review
from apps.moderation import services as moderation
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, held_task

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/tasks/next/"
CLEAN = {"labels": [], "quality": 4}
SPAM = {"labels": ["spam"], "quality": 1}


def ban(user: User) -> User:
    """The ban as the test's own field update (``user_ban`` calls the function itself, as
    ``test_a_moderators_ban_reopens_what_the_banned_reviewer_helped_reject`` checks); returns
    the user as the ban left it."""
    User.objects.filter(pk=user.pk).update(banned_at=timezone.now(), ban_reason="spam ring")
    user.refresh_from_db()
    return user


def review_prompt(reviewer, prompt, payload):
    prompt.refresh_from_db()
    feedback.prompt_review_create(
        reviewer=reviewer, prompt=prompt, payload=payload, policy=current_policy()
    )
    prompt.refresh_from_db()


def review_answer(reviewer, answer, payload):
    answer.refresh_from_db()
    answer.prompt.refresh_from_db()
    feedback.response_review_create(
        reviewer=reviewer, response=answer, payload=payload, policy=current_policy()
    )
    answer.refresh_from_db()


def prompt_in_review(**kwargs):
    """A prompt in review with its author's own first answer waiting, as prompt_create makes
    them."""
    prompt = PromptFactory(state=PromptState.REVIEW, **kwargs)
    ResponseFactory(prompt=prompt, author=prompt.author, state=ResponseState.REVIEW, open_slots=0)
    return prompt


def rejected_prompt(spammer, honest, honest_payload=CLEAN):
    prompt = prompt_in_review()
    review_prompt(spammer, prompt, SPAM)
    review_prompt(honest, prompt, honest_payload)
    assert prompt.state == PromptState.REJECTED
    return prompt


def collecting_prompt_with_answer_in_review():
    """A collecting prompt (3 answers to collect): one accepted, one in review; one place
    open."""
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=1)
    ResponseFactory(prompt=prompt)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    return prompt, answer


def review_by_task(user, prompt, payload):
    """Review ``prompt`` as the task the dispatcher hands ``user``."""
    task = client_for(user).get(NEXT, {"type": "review"}).json()
    assert task["prompt"]["id"] == prompt.pk
    sent = client_for(user).post(f"/api/v1/tasks/{task['id']}/submit/", payload, format="json")
    assert sent.status_code == 200, sent.content
    prompt.refresh_from_db()


def test_a_prompt_rejected_by_a_banned_review_is_reviewed_again_by_one_more(make_volunteer):
    spammer, honest, other = (make_volunteer() for _ in range(3))
    prompt = prompt_in_review()
    review_by_task(spammer, prompt, SPAM)
    review_by_task(honest, prompt, CLEAN)
    assert (prompt.state, prompt.open_slots) == (PromptState.REJECTED, 0)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (1, 0)

    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)
    # The reviewer who accepted it is not handed it again; someone else is, and their review
    # decides it with the honest one.
    assert client_for(honest).get(NEXT, {"type": "review"}).status_code == 404
    review_by_task(other, prompt, CLEAN)
    assert prompt.state == PromptState.COLLECTING
    # Slots for the answers still to collect (its author's own counts), and its author's
    # answer becomes reviewable, as for any prompt accepted.
    assert prompt.open_slots == current_policy().responses_to_collect - 1
    assert prompt.responses.get().open_slots == current_policy().response_reviews_required


def test_two_banned_reviews_leave_it_two_reviews_to_get(make_volunteer):
    one, two = make_volunteer(), make_volunteer()
    prompt = prompt_in_review()
    review_prompt(one, prompt, SPAM)
    review_prompt(two, prompt, SPAM)
    assert prompt.state == PromptState.REJECTED

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(one)) == (1, 0)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)
    # The second ban: that one's review does not count either, and the prompt is already in
    # review: one slot more.
    assert feedback.reviews_of_banned_reconsider(reviewer=ban(two)) == (0, 0)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 2)


def test_two_banned_reviews_banned_before_the_check_reopen_with_two_slots(make_volunteer):
    one, two = make_volunteer(), make_volunteer()
    prompt = prompt_in_review()
    review_prompt(one, prompt, SPAM)
    review_prompt(two, prompt, SPAM)
    ban(two)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(one)) == (1, 0)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 2)


@pytest.mark.parametrize("banned_vote", [CLEAN, SPAM])
def test_one_honest_blocking_review_left_is_fewer_than_required(make_volunteer, banned_vote):
    spammer, honest = make_volunteer(), make_volunteer()
    prompt = prompt_in_review()
    review_prompt(spammer, prompt, banned_vote)
    review_prompt(honest, prompt, SPAM)
    assert prompt.state == PromptState.REJECTED

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (1, 0)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)


def _rejected_with_three_reviews(make_volunteer, honest_payload, banned_payload, target=None):
    """Rejected (or for an answer: ``target``) with three reviews: two honest, one by the
    returned spammer (a policy that asked for three then, say)."""
    spammer = make_volunteer()
    if target is None:
        target = PromptFactory(state=PromptState.REJECTED, open_slots=0)
    kind = "prompt" if target._meta.model_name == "prompt" else "response"
    for reviewer, payload in (
        (make_volunteer(), honest_payload),
        (make_volunteer(), honest_payload),
        (spammer, banned_payload),
    ):
        Review.objects.create(
            reviewer=reviewer,
            **{kind: target},
            **dict.fromkeys(payload["labels"], True),
            quality=payload["quality"],
        )
    return target, spammer


def test_enough_honest_blocking_reviews_left_keep_it_rejected(make_volunteer):
    prompt, spammer = _rejected_with_three_reviews(make_volunteer, SPAM, CLEAN)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 0)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REJECTED, 0)


def test_enough_honest_accepting_reviews_left_accept_it_now(make_volunteer):
    prompt, spammer = _rejected_with_three_reviews(make_volunteer, CLEAN, SPAM)
    ResponseFactory(prompt=prompt, author=prompt.author, state=ResponseState.REVIEW, open_slots=0)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (1, 0)
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COLLECTING
    assert prompt.open_slots == current_policy().responses_to_collect - 1
    assert prompt.responses.get().open_slots == current_policy().response_reviews_required


def test_an_answer_rejected_by_a_banned_review_is_reviewed_again_in_its_place(make_volunteer):
    spammer, honest, other = (make_volunteer() for _ in range(3))
    prompt, answer = collecting_prompt_with_answer_in_review()
    review_answer(spammer, answer, SPAM)
    review_answer(honest, answer, CLEAN)
    assert answer.state == ResponseState.REJECTED
    prompt.refresh_from_db()
    assert prompt.open_slots == 2  # the rejection gave its place back

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 1)
    answer.refresh_from_db()
    prompt.refresh_from_db()
    assert (answer.state, answer.open_slots) == (ResponseState.REVIEW, 1)
    assert prompt.open_slots == 1  # it took its place back
    assert flow.live_responses(prompt) == 2

    review_answer(other, answer, CLEAN)
    assert answer.state == ResponseState.ACCEPTED


def test_an_answer_whose_place_was_taken_stays_rejected(make_volunteer):
    spammer, honest = make_volunteer(), make_volunteer()
    prompt, answer = collecting_prompt_with_answer_in_review()
    review_answer(spammer, answer, SPAM)
    review_answer(honest, answer, CLEAN)
    # Two other answers took the places open since.
    ResponseFactory.create_batch(2, prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    prompt.open_slots = 0
    prompt.save(update_fields=["open_slots"])

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 0)
    answer.refresh_from_db()
    prompt.refresh_from_db()
    assert answer.state == ResponseState.REJECTED
    assert prompt.open_slots == 0


def test_two_answers_of_one_prompt_with_one_place_open_reopen_the_oldest(make_volunteer):
    spammer, honest = make_volunteer(), make_volunteer()
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=1)
    first, second = ResponseFactory.create_batch(
        2, prompt=prompt, state=ResponseState.REVIEW, open_slots=2
    )
    for answer in (first, second):
        review_answer(spammer, answer, SPAM)
        review_answer(honest, answer, CLEAN)
    # Both gave their places back (3), one was taken by a new answer and one by another.
    ResponseFactory.create_batch(2, prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    prompt.open_slots = 1
    prompt.save(update_fields=["open_slots"])

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    prompt.refresh_from_db()
    assert (first.state, second.state) == (ResponseState.REVIEW, ResponseState.REJECTED)
    assert prompt.open_slots == 0


def test_an_answer_on_a_prompt_gone_on_to_ranking_stays_rejected(make_volunteer):
    spammer, honest = make_volunteer(), make_volunteer()
    prompt, answer = collecting_prompt_with_answer_in_review()
    review_answer(spammer, answer, SPAM)
    review_answer(honest, answer, CLEAN)
    prompt.refresh_from_db()
    flow.prompt_transition(prompt=prompt, to=PromptState.RANKING, policy=current_policy())

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 0)
    answer.refresh_from_db()
    prompt.refresh_from_db()
    assert answer.state == ResponseState.REJECTED
    assert (prompt.state, prompt.open_slots) == (
        PromptState.RANKING,
        current_policy().rankings_required,
    )


def test_an_answer_accepted_now_by_the_reviews_left_moves_its_prompt_to_ranking(make_volunteer):
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=1)
    ResponseFactory.create_batch(2, prompt=prompt)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.REJECTED, open_slots=0)
    answer, spammer = _rejected_with_three_reviews(make_volunteer, CLEAN, SPAM, target=answer)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 1)
    answer.refresh_from_db()
    prompt.refresh_from_db()
    assert answer.state == ResponseState.ACCEPTED
    assert (prompt.state, prompt.open_slots) == (
        PromptState.RANKING,
        current_policy().rankings_required,
    )


def test_work_still_in_review_needs_one_more_review_and_the_banned_one_no_longer_counts(
    make_volunteer,
):
    spammer, honest, other = (make_volunteer() for _ in range(3))
    prompt = prompt_in_review(open_slots=1)  # the spammer's task took one slot
    review_prompt(spammer, prompt, SPAM)
    _prompt, answer = collecting_prompt_with_answer_in_review()
    Response.objects.filter(pk=answer.pk).update(open_slots=1)
    review_answer(spammer, answer, SPAM)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 0)
    prompt.refresh_from_db()
    answer.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 2)
    assert (answer.state, answer.open_slots) == (ResponseState.REVIEW, 2)

    # The next review is the first that counts: no decision yet (the spammer's vote would
    # have rejected both with it).
    review_prompt(honest, prompt, CLEAN)
    review_answer(honest, answer, CLEAN)
    assert prompt.state == PromptState.REVIEW
    assert answer.state == ResponseState.REVIEW
    review_prompt(other, prompt, CLEAN)
    review_answer(other, answer, CLEAN)
    assert prompt.state == PromptState.COLLECTING
    assert answer.state == ResponseState.ACCEPTED


def test_the_slot_for_a_review_that_stopped_counting_is_given_once(make_volunteer):
    """Worked out, not added: a second run (a ban made before this, repaired; a ban, unban
    and ban again) gives no slot more, and a review task out counts as a review to come."""
    spammer, holder = make_volunteer(), make_volunteer()
    prompt = prompt_in_review(open_slots=1)
    review_prompt(spammer, prompt, SPAM)
    held_task(holder, TaskType.REVIEW_PROMPT, prompt)
    Prompt.objects.filter(pk=prompt.pk).update(open_slots=0)  # the holder's task took it
    spammer = ban(spammer)

    feedback.reviews_of_banned_reconsider(reviewer=spammer)
    prompt.refresh_from_db()
    assert prompt.open_slots == 1  # 2 reviews due, none counting, one task out
    feedback.reviews_of_banned_reconsider(reviewer=spammer)
    prompt.refresh_from_db()
    assert prompt.open_slots == 1


def test_after_the_moderation_ban_and_an_unban_the_reopened_work_stays_reopened(
    make_volunteer, moderator
):
    spammer, honest = make_volunteer(), make_volunteer()
    prompt = rejected_prompt(spammer, honest)
    moderation.user_ban(moderator=moderator, user=spammer, reason="spam ring")
    spammer.refresh_from_db()

    # The ban reopened it (user_ban calls reviews_of_banned_reconsider); a second pass finds
    # nothing more to do.
    assert feedback.reviews_of_banned_reconsider(reviewer=spammer) == (0, 0)
    moderation.user_unban(moderator=moderator, user=spammer)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)


def test_withdrawn_hidden_and_banned_authors_work_is_left_rejected(make_volunteer):
    spammer, honest = make_volunteer(), make_volunteer()
    withdrawn, hidden, by_banned = (rejected_prompt(spammer, honest) for _ in range(3))
    type(withdrawn).objects.filter(pk=withdrawn.pk).update(withdrawn_at=timezone.now())
    type(hidden).objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    ban(by_banned.author)

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (0, 0)
    for prompt in (withdrawn, hidden, by_banned):
        prompt.refresh_from_db()
        assert prompt.state == PromptState.REJECTED


def test_a_reviewer_not_banned_is_refused(make_volunteer):
    with pytest.raises(ValueError, match="not banned"):
        feedback.reviews_of_banned_reconsider(reviewer=make_volunteer())


def test_a_policy_asking_for_three_reviews_reopens_for_the_two_missing(make_volunteer):
    policy_update(changes={"prompt_reviews_required": 3})
    spammer = make_volunteer()
    prompt = PromptFactory(state=PromptState.REJECTED, open_slots=0)
    for reviewer, payload in ((make_volunteer(), CLEAN), (spammer, SPAM)):
        Review.objects.create(
            reviewer=reviewer, prompt=prompt, spam=payload is SPAM, quality=payload["quality"]
        )

    assert feedback.reviews_of_banned_reconsider(reviewer=ban(spammer)) == (1, 0)
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 2)


def _spam_ring_work(make_volunteer, n):
    """A spammer who rejected ``n`` prompts and ``n`` answers with an honest reviewer, and
    reviewed ``n`` prompts still in review; each of the shapes the function changes."""
    spammer, honest = make_volunteer(), make_volunteer()
    for _ in range(n):
        rejected_prompt(spammer, honest)
        _prompt, answer = collecting_prompt_with_answer_in_review()
        review_answer(spammer, answer, SPAM)
        review_answer(honest, answer, CLEAN)
        review_prompt(spammer, prompt_in_review(open_slots=1), SPAM)
    return ban(spammer)


def test_the_statements_do_not_grow_with_the_reviews(make_volunteer):
    few, many = _spam_ring_work(make_volunteer, 2), _spam_ring_work(make_volunteer, 20)
    counts = []
    for spammer, n in ((few, 2), (many, 20)):
        with CaptureQueriesContext(connection) as captured:
            assert feedback.reviews_of_banned_reconsider(reviewer=spammer) == (n, n)
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


def test_a_moderators_ban_reopens_what_the_banned_reviewer_helped_reject(moderator, make_volunteer):
    """Wired into ``user_ban``: the ban itself sends the honest prompt back to review."""
    spammer, honest = make_volunteer(), make_volunteer()
    prompt = rejected_prompt(spammer, honest)

    moderation.user_ban(moderator=moderator, user=spammer, reason="spam ring")

    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)
    review_by_task(make_volunteer(), prompt, CLEAN)
    assert prompt.state == PromptState.COLLECTING


def test_the_upgrade_gives_work_in_review_the_slot_an_earlier_bans_review_no_longer_fills(
    make_volunteer,
):
    """Banned before this release, a reviewer's review counted among those a prompt needed:
    with it no longer counting, the prompt has no slot for the review it lacks. The data
    migration (feedback 0004) gives it that slot; a prompt without such a review is left."""
    import importlib

    from django.apps import apps as django_apps

    migration = importlib.import_module(
        "apps.feedback.migrations.0004_banned_reviews_stop_counting"
    )
    banned_before, honest = make_volunteer(), make_volunteer()
    waiting = prompt_in_review()
    review_prompt(banned_before, waiting, CLEAN)  # one of two; the other slot is held below
    Prompt.objects.filter(pk=waiting.pk).update(open_slots=0)
    other = prompt_in_review()
    review_prompt(honest, other, CLEAN)
    Prompt.objects.filter(pk=other.pk).update(open_slots=0)
    ban(banned_before)

    migration.forward(django_apps, None)

    assert Prompt.objects.get(pk=waiting.pk).open_slots == 2  # both reviews still to come
    assert Prompt.objects.get(pk=other.pk).open_slots == 0


def test_the_command_reopens_what_accounts_banned_before_this_release_rejected(make_volunteer):
    """Banned before the ban voided reviews: a moderator runs the command once."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    spammer, honest = make_volunteer(), make_volunteer()
    prompt = rejected_prompt(spammer, honest)
    ban(spammer)  # as an earlier release's ban left it: the rejection stands

    out = StringIO()
    call_command("reconsider_banned_reviews", stdout=out)

    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)
    assert "1 prompt(s) and 0 answer(s)" in out.getvalue()
    call_command("reconsider_banned_reviews", stdout=out)  # again: nothing more
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 1)
    with pytest.raises(CommandError, match="no banned account"):
        call_command("reconsider_banned_reviews", user=honest.pk)


def _rejected_answer_on_a_prompt_now_full(spammer, make_volunteer):
    """A collecting prompt (3 to collect) whose honest answer was rejected with ``spammer``'s
    vote, its place since taken by another answer: nothing open for it to come back to."""
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    ResponseFactory(prompt=prompt, state=ResponseState.ACCEPTED)
    ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.REVIEW, open_slots=2)
    review_answer(spammer, answer, SPAM)
    review_answer(make_volunteer(), answer, CLEAN)
    assert answer.state == ResponseState.REJECTED
    assert Prompt.objects.get(pk=prompt.pk).open_slots == 1
    return prompt, answer


def test_an_answer_an_earlier_ban_left_rejected_comes_back_when_a_later_ban_frees_a_place(
    moderator, make_volunteer
):
    """Spam QA: banned first, a reviewer's vote no longer rejected the answer, but its place
    was held by another spammer's answer; banned next, that spammer gave the place back and
    the answer stayed rejected."""
    voter, squatter = make_volunteer(), make_volunteer()
    prompt, answer = _rejected_answer_on_a_prompt_now_full(voter, make_volunteer)
    ResponseFactory(prompt=prompt, author=squatter, state=ResponseState.REVIEW, open_slots=2)
    Prompt.objects.filter(pk=prompt.pk).update(open_slots=0)  # the squatter took the place

    moderation.user_ban(moderator=moderator, user=voter, reason="spam ring")
    answer.refresh_from_db()
    assert answer.state == ResponseState.REJECTED  # nowhere to come back to yet

    moderation.user_ban(moderator=moderator, user=squatter, reason="spam ring")
    answer.refresh_from_db()
    assert (answer.state, answer.open_slots) == (ResponseState.REVIEW, 1)
    assert Prompt.objects.get(pk=prompt.pk).open_slots == 0  # the place is the answer's again


def test_an_answer_an_earlier_ban_left_rejected_comes_back_when_a_later_ban_shows_its_prompt(
    moderator, make_volunteer
):
    """Spam QA: the prompt was hidden by a ring's reports when the voter was banned; the ban
    of a reporter shows it again, and its answer is decided again then."""
    from tests.factories import reporter

    voter = make_volunteer()
    prompt, answer = _rejected_answer_on_a_prompt_now_full(voter, make_volunteer)
    reporters = [reporter(make_volunteer()) for _ in range(3)]
    for person in reporters:
        moderation.flag_create(reporter=person, target=prompt, reason="spam")
    prompt.refresh_from_db()
    assert prompt.hidden_at is not None

    moderation.user_ban(moderator=moderator, user=voter, reason="spam ring")
    answer.refresh_from_db()
    assert answer.state == ResponseState.REJECTED  # its prompt is hidden

    moderation.user_ban(moderator=moderator, user=reporters[0], reason="spam ring")
    prompt.refresh_from_db()
    answer.refresh_from_db()
    assert prompt.hidden_at is None
    assert (answer.state, answer.open_slots) == (ResponseState.REVIEW, 1)
    assert prompt.open_slots == 0
