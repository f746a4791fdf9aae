"""manage.py seed_demo: demo accounts and a demo community, idempotent, passwords never in the
repo, the data as Hearth's services leave it, backdated over eight weeks."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import stat
from collections import Counter

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from apps.accounts import roles, selectors
from apps.accounts.models import LicenceAcceptance, User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.assignments.services import REQUESTABLE, task_next
from apps.collection.models import (
    Category,
    Prompt,
    PromptState,
    Response,
    ResponseState,
)
from apps.collection.policy import current_policy
from apps.community.selectors import impact_for_user, leaderboard
from apps.core.management import demo_community
from apps.core.management.commands.seed_demo import (
    DEMO_PROMPTS_FILE,
    DEMO_USERS,
    DEMO_VOLUNTEERS,
)
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.releases.models import Release, ReleaseState
from apps.releases.selectors import release_is_trainable, release_split_warnings
from tests.factories import PromptFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAILS = ["maintainer@hearth.local", "moderator@hearth.local", "ada@hearth.local",
          "grace@hearth.local"]  # fmt: skip
NO_LOGIN = ["tomas@hearth.local", "jonas@hearth.local", "amara@hearth.local", "mei@hearth.local"]
UTC = dt.UTC
SUMMARY = re.compile(
    r"Demo data: 8 accounts created; 8 weeks of made-up, backdated activity: 50 prompts "
    r"written, (\d+) more answers, (\d+) reviews and (\d+) rankings\. Prompts: (\d+) in "
    r"review, (\d+) collecting answers, (\d+) ranking, (\d+) complete\."
)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", force=True, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            User,
            EmailAddress,
            LicenceAcceptance,
            Prompt,
            Response,
            Review,
            Ranking,
            PromptConsensus,
            Assignment,
            Release,
        )
    }


def demo_records() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEMO_PROMPTS_FILE.read_text().splitlines() if line]


def users() -> dict[str, User]:
    return {u.email: u for u in User.objects.all()}


class TestTheSeededDemo:
    """The tests that only read the demo share one seed, made for the class and rolled back
    after it (each test's own writes roll back after the test, as usual): seeding replays
    eight weeks through the services, a second or so on PostgreSQL."""

    @pytest.fixture(scope="class")
    @classmethod
    def demo(cls, django_db_setup, django_db_blocker, tmp_path_factory):
        """The output of seed_demo on an empty database (its data directory: ``demo_dir``)."""
        cls.demo_dir = tmp_path_factory.mktemp("demo")
        settings = {
            "DATA_DIR": cls.demo_dir,
            "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        }
        with django_db_blocker.unblock(), override_settings(**settings), transaction.atomic():
            output = seed()
            yield output
            transaction.set_rollback(True)

    def test_seeding_twice_creates_nothing_new(self, demo: str):
        after_first = counts()

        second_output = seed()

        assert counts() == after_first
        assert after_first["User"] == 8
        assert after_first["Prompt"] == len(demo_records()) == 50
        summary = SUMMARY.search(demo)
        assert summary, demo
        answers, reviews, rankings, *states = (int(n) for n in summary.groups())
        assert answers == Response.objects.count() - 50
        assert (reviews, rankings) == (Review.objects.count(), Ranking.objects.count())
        assert states == [
            Prompt.objects.filter(state=state).count()
            for state in ("review", "collecting", "ranking", "complete")
        ]
        assert (
            "Demo data: 0 accounts created; the demo prompts are already there (50 of 50): "
            "nothing added." in second_output
        )
        assert "Demo release" not in second_output

    def test_the_demo_has_a_first_release_to_read_download_and_train_on(self, demo: str):
        """Built from the demo data by the real builder, with a test share that gives the
        demo's few dozen prompts a test split: the Releases and Training pages start full."""
        (release,) = Release.objects.all()
        assert (release.version, release.state) == ("v1", ReleaseState.READY)
        assert release_is_trainable(release=release)
        # Trainable both ways; only the honest note that a demo's few test prompts make
        # noisy figures, and the advice that goes with it.
        warnings = release_split_warnings(release=release, with_advice=True)
        assert warnings and all("no SFT run" not in w and "no reward" not in w for w in warnings)
        assert any("will be noisy" in w for w in warnings)
        sft = release.counts["rows"]["sft"]
        accepted = Response.objects.filter(state=ResponseState.ACCEPTED).count()
        assert sft["train"] + sft["test"] == accepted
        assert f"Demo release: v1, built from it ({sft['train']} sft rows in train, " in demo
        folder = self.demo_dir / "releases" / "v1"
        assert {f["path"] for f in release.files} <= {
            str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()
        }

    def test_the_demo_users_have_their_roles_verified_emails_licence_and_languages(self, demo: str):
        by_email = users()
        assert sorted(by_email) == sorted(EMAILS + NO_LOGIN)
        maintainer = by_email["maintainer@hearth.local"]
        assert roles.is_maintainer(maintainer)
        assert maintainer.is_staff and maintainer.is_superuser
        moderator = by_email["moderator@hearth.local"]
        assert roles.is_moderator(moderator) and not roles.is_maintainer(moderator)
        assert not moderator.is_staff
        for email in ["ada@hearth.local", "grace@hearth.local", *NO_LOGIN]:
            assert not roles.is_moderator(by_email[email])
            assert not by_email[email].is_staff
        for user in by_email.values():
            assert roles.VOLUNTEER in user.groups.values_list("name", flat=True)
            assert selectors.licence_accepted(user=user)
            assert user.languages and user.display_name
        for email in EMAILS:
            address = EmailAddress.objects.get(user=by_email[email])
            assert (address.email, address.verified, address.primary) == (email, True, True)
        # The volunteers who only make up the community cannot sign in.
        for email in NO_LOGIN:
            assert not by_email[email].has_usable_password()
            assert not EmailAddress.objects.filter(user=by_email[email]).exists()
        assert by_email["ada@hearth.local"].display_name == "Ada"
        assert by_email["tomas@hearth.local"].display_name == "Tomás"
        assert by_email["grace@hearth.local"].languages == ["en", "de", "fr"]

    def test_the_demo_prompts_are_written_on_hearth_by_demo_volunteers_who_speak_them(
        self, demo: str
    ):

        records = {r["instruction"]: r for r in demo_records()}
        prompts = Prompt.objects.select_related("author")
        assert sorted(p.instruction for p in prompts) == sorted(records)
        # Written here, not imported: they count on the leaderboard.
        assert set(prompts.values_list("origin", flat=True)) == {"hearth"}
        assert set(Response.objects.values_list("origin", flat=True)) == {"hearth"}
        assert set(prompts.values_list("category", flat=True)) == set(Category.values)
        assert {"de", "es", "fr"} <= set(prompts.values_list("language", flat=True))
        authors = Counter(p.author.email for p in prompts)
        assert "maintainer@hearth.local" not in authors
        assert authors.most_common(1)[0][0] == "ada@hearth.local"
        assert len(authors) >= 5
        for prompt in prompts:
            record = records[prompt.instruction]
            assert prompt.language == record.get("language", "en")
            assert prompt.language in prompt.author.languages
            assert prompt.context == record.get("context", "")
            answers = list(prompt.responses.select_related("author").order_by("created_at", "id"))
            # The author's own answer first, then the file's other answers by other people who
            # speak the prompt's language.
            assert answers[0].author == prompt.author
            assert answers[0].text == record["response"]
            others = [record[k] for k in ("second_response", "third_response") if k in record]
            assert [a.text for a in answers[1:]] == others[: len(answers) - 1]
            assert len({a.author_id for a in answers}) == len(answers)
            for answer in answers:
                assert prompt.language in answer.author.languages

    def test_the_prompts_are_in_a_mix_of_states_exactly_as_the_services_leave_them(self, demo: str):
        policy = current_policy()

        states = Counter(Prompt.objects.values_list("state", flat=True))
        assert set(states) == {"review", "collecting", "ranking", "complete"}
        assert states["collecting"] > states["complete"] > 0
        assert states["review"] >= 3 and states["ranking"] >= 2
        # Every review and ranking came from a task the dispatcher handed out, now submitted.
        assert not Assignment.objects.exclude(state=AssignmentState.SUBMITTED).exists()
        results = Counter(
            (a.task_type, next(iter(a.result.values()))) for a in Assignment.objects.all()
        )
        for review in Review.objects.all():
            kind = TaskType.REVIEW_PROMPT if review.prompt_id else TaskType.REVIEW_RESPONSE
            assert results[(kind, review.pk)] == 1
            assert review.quality in range(3, 6) and not review.blocking_labels
        for ranking in Ranking.objects.all():
            assert results[(TaskType.RANK, ranking.pk)] == 1
            assert not ranking.unusable
        assert Assignment.objects.count() == Review.objects.count() + Ranking.objects.count()

        for prompt in Prompt.objects.prefetch_related("reviews", "responses__reviews", "rankings"):
            reviews = len(prompt.reviews.all())
            assert all(r.reviewer_id != prompt.author_id for r in prompt.reviews.all())
            answers = list(prompt.responses.all())
            accepted = [a for a in answers if a.state == ResponseState.ACCEPTED]
            for answer in answers:
                answer_reviews = len(answer.reviews.all())
                assert all(r.reviewer_id != answer.author_id for r in answer.reviews.all())
                if answer.state == ResponseState.ACCEPTED:
                    assert answer_reviews == policy.response_reviews_required
                else:
                    assert answer.state == ResponseState.REVIEW
                    assert answer_reviews < policy.response_reviews_required
                    waiting = prompt.state == PromptState.COLLECTING
                    expected = policy.response_reviews_required - answer_reviews if waiting else 0
                    assert answer.open_slots == expected
            rankings = list(prompt.rankings.all())
            if prompt.state == PromptState.REVIEW:
                assert reviews < policy.prompt_reviews_required
                assert prompt.open_slots == policy.prompt_reviews_required - reviews
                assert [a.state for a in answers] == [ResponseState.REVIEW]
                continue
            assert reviews == policy.prompt_reviews_required
            if prompt.state == PromptState.COLLECTING:
                assert len(accepted) < policy.responses_to_collect
                assert prompt.open_slots == policy.responses_to_collect - len(answers)
                assert not rankings
            elif prompt.state == PromptState.RANKING:
                assert len(accepted) == len(answers) == policy.responses_to_collect
                assert len(rankings) < policy.rankings_required
                assert prompt.open_slots == policy.rankings_required - len(rankings)
            else:
                assert prompt.state == PromptState.COMPLETE
                assert len(rankings) == policy.rankings_required
                consensus = PromptConsensus.objects.get(prompt=prompt)
                assert sorted(consensus.order) == sorted(a.pk for a in accepted)
                assert consensus.rankers == policy.rankings_required
                assert {a.consensus_rank for a in accepted} == {1, 2, 3}
            involved = {prompt.author_id, *(a.author_id for a in answers)}
            for ranking in rankings:
                assert ranking.ranker_id not in involved
                assert sorted(ranking.order) == sorted(a.pk for a in accepted)

    def test_the_activity_is_spread_over_eight_weeks_and_nothing_is_in_the_future(self, demo: str):
        now = timezone.now()
        start = dt.datetime.combine(
            now.astimezone(UTC).date() - dt.timedelta(days=55), dt.time.min, tzinfo=UTC
        )

        for model in (Prompt, Response, Review, Ranking, Assignment):
            for created in model.objects.values_list("created_at", flat=True):
                assert start <= created <= now
        for model in (Prompt, Response):
            for created, updated in model.objects.values_list("created_at", "updated_at"):
                assert created <= updated <= now
        for review in Review.objects.select_related("prompt", "response"):
            target = review.prompt or review.response
            assert target is not None and target.created_at < review.created_at
        for ranking in Ranking.objects.select_related("prompt"):
            last_answer = max(r.created_at for r in ranking.prompt.responses.all())
            assert last_answer < ranking.created_at
        for task in Assignment.objects.all():
            assert task.finished_at is not None
            assert start <= task.created_at < task.finished_at <= now
            assert task.expires_at > task.created_at
        for consensus in PromptConsensus.objects.select_related("prompt"):
            assert consensus.computed_at == consensus.prompt.updated_at
        for user in User.objects.all():
            first = Review.objects.filter(reviewer=user).order_by("created_at").first()
            assert first is None or user.date_joined < first.created_at
        weeks = {(now - c).days // 7 for c in Prompt.objects.values_list("created_at", flat=True)}
        assert weeks == set(range(8))

    def test_ada_has_a_streak_grace_comes_weekly_and_the_maintainer_left_this_week_open(
        self, demo: str
    ):
        by_email = users()

        ada = impact_for_user(user=by_email["ada@hearth.local"])
        assert 5 <= ada.current_streak < ada.longest_streak
        # Today is left to whoever signs in as Ada: her streak, which ended yesterday, is still
        # current.
        assert ada.days[-1].count == 0 and ada.days[-2].count > 0
        assert ada.prompts and ada.answers and ada.reviews and ada.rankings
        assert ada.in_review > 0
        weekly = [sum(d.count for d in ada.days[week * 7 : week * 7 + 7]) for week in range(8)]
        assert sum(1 for n in weekly if n) >= 7
        grace = impact_for_user(user=by_email["grace@hearth.local"])
        assert grace.longest_streak <= 2
        grace_weeks = [
            any(d.count for d in grace.days[week * 7 : week * 7 + 7]) for week in range(8)
        ]
        assert all(grace_weeks)
        mei = impact_for_user(user=by_email["mei@hearth.local"])
        assert 0 < mei.chart_active_days == mei.current_streak <= 4  # she joined this week
        # The maintainer has not worked this week, so every kind of task is open to them.
        maintainer = impact_for_user(user=by_email["maintainer@hearth.local"])
        assert maintainer.reviews and not any(d.count for d in maintainer.days[-7:])

    def test_every_demo_account_finds_a_review_and_a_ranking_waiting(self, demo: str):
        for email in EMAILS:
            user = User.objects.get(email=email)
            # Each account on its own (a task one takes is not there for the next).
            with transaction.atomic():
                for kind in ("review", "rank"):
                    task = task_next(user=user, kind=kind)
                    assert task.task_type in REQUESTABLE[kind]
                transaction.set_rollback(True)

    def test_the_demo_fills_the_community_leaderboard(self, demo: str):
        seed()  # a second run adds nothing to count
        cache.clear()

        board = list(leaderboard(period="all"))
        assert board[0].name == "Ada"
        assert sorted(s.name for s in board) == sorted(
            spec.display_name for spec in (*DEMO_USERS, *DEMO_VOLUNTEERS)
        )
        # All four columns have something, for most of the community.
        full = [s for s in board if s.prompts and s.answers and s.reviews and s.rankings]
        assert len(full) >= 5
        assert sum(s.prompts for s in board) == Prompt.objects.exclude(state="review").count()
        assert sum(s.reviews for s in board) == Review.objects.count()
        assert sum(s.rankings for s in board) == Ranking.objects.count()
        assert len(leaderboard(period="month")) >= 7

    def test_passwords_are_kept_privately_and_printed_on_every_run(self, demo, data_dir):
        path = data_dir / "demo-credentials.txt"
        shutil.copy2(self.demo_dir / path.name, path)

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        stored = {
            line.split("\t")[0]: line.split("\t")[1]
            for line in path.read_text().splitlines()
            if not line.startswith("#")
        }
        assert sorted(stored) == sorted(EMAILS)
        assert len(set(stored.values())) == 4
        for email, password in stored.items():
            assert len(password) >= 16
            assert User.objects.get(email=email).check_password(password)
            assert f"{email}  " in demo and password in demo

        path.chmod(0o644)
        second_output = seed()

        for password in stored.values():
            assert password in second_output
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_a_lost_credentials_file_gets_new_passwords_that_work(self, demo, data_dir):
        old = (self.demo_dir / "demo-credentials.txt").read_text()
        path = data_dir / "demo-credentials.txt"
        assert not path.exists()

        output = seed()

        assert path.exists() and path.read_text() != old
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                email, password, _ = line.split("\t")
                assert User.objects.get(email=email).check_password(password)
                assert password in output


def snapshot() -> list[object]:
    """The demo by people, texts, states and days ago (ids and times differ between runs)."""
    today = timezone.now().astimezone(UTC).date()
    reviews = Review.objects.select_related("reviewer", "prompt", "response__prompt")
    return [
        sorted(
            (p.instruction_key, p.author.email, p.state, (today - p.created_at.date()).days)
            for p in Prompt.objects.select_related("author")
        ),
        sorted(
            (r.reviewer.email, (r.prompt or r.response.prompt).instruction_key, r.quality)
            for r in reviews
        ),
        sorted(Ranking.objects.values_list("ranker__email", "prompt__instruction_key")),
        counts(),
    ]


def test_it_is_the_same_demo_every_time_and_just_after_midnight_none_of_it_is_in_the_future():
    people = {
        spec.email: UserFactory(
            email=spec.email, display_name=spec.display_name, languages=list(spec.languages)
        )
        for spec in (*DEMO_USERS, *DEMO_VOLUNTEERS)
    }
    prompts = demo_community.read_demo_prompts(DEMO_PROMPTS_FILE)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        demo_community.replay(users=people, prompts=prompts)
        first = snapshot()
        raise Rollback
    assert not Prompt.objects.exists()
    midnight = dt.datetime.combine(timezone.now().astimezone(UTC).date(), dt.time.min, tzinfo=UTC)
    now = midnight + dt.timedelta(minutes=1)

    report = demo_community.replay(users=people, prompts=prompts, now=now)

    assert report.prompts == 50
    assert snapshot() == first
    # Today's sessions are squeezed into the minute that has passed.
    for model in (Prompt, Response, Review, Ranking):
        assert max(model.objects.values_list("created_at", flat=True)) <= now
    assert Prompt.objects.filter(created_at__gte=midnight).exists()
    assert Review.objects.filter(created_at__gte=midnight).exists()


def test_demo_prompts_imported_by_an_older_seed_are_left_alone_with_a_hint():
    old = demo_records()[0]
    PromptFactory(instruction=old["instruction"], origin="hearth-demo", state=PromptState.REVIEW)

    output = seed()

    assert (
        "Demo data: 8 accounts created; the demo prompts are already there (1 of 50): "
        "nothing added." in output
    )
    assert "imported by an earlier seed_demo" in output
    assert Prompt.objects.count() == 1
    assert not Review.objects.exists() and not Assignment.objects.exists()


def test_it_refuses_to_run_without_debug_unless_forced(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="runs only with DEBUG=true"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not User.objects.exists()


def test_the_demo_file_is_written_for_hearth_and_valid():
    records = demo_records()

    assert len(records) == 50
    assert len({r["instruction"].casefold() for r in records}) == 50
    for r in records:
        assert set(r) <= {"instruction", "context", "response", "category", "language",
                          "second_response", "third_response"}  # fmt: skip
        assert r["response"].strip() and r["instruction"].strip()
        if r["category"] in ("closed_qa", "information_extraction", "summarization"):
            assert len(r["context"]) > 100
        if "third_response" in r:
            assert "second_response" in r
            assert len({r["response"], r["second_response"], r["third_response"]}) == 3
    # Enough prompts with three answers (the policy's default) to reach ranking.
    assert sum(1 for r in records if "third_response" in r) == 14
