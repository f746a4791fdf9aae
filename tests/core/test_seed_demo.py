"""manage.py seed_demo: demo accounts and prompts, idempotent, passwords never in the repo."""

from __future__ import annotations

import io
import json
import stat

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from apps.accounts import roles, selectors
from apps.accounts.models import User
from apps.collection.models import Category, Prompt, PromptState, Response, ResponseState
from apps.community.selectors import leaderboard
from apps.core.management.commands.seed_demo import DEMO_PROMPTS_FILE

pytestmark = pytest.mark.django_db

EMAILS = ["maintainer@hearth.local", "moderator@hearth.local", "ada@hearth.local",
          "grace@hearth.local"]  # fmt: skip


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
        "users": User.objects.count(),
        "emails": EmailAddress.objects.count(),
        "prompts": Prompt.objects.count(),
        "responses": Response.objects.count(),
    }


def demo_records() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEMO_PROMPTS_FILE.read_text().splitlines() if line]


def test_seeding_twice_creates_nothing_new():
    first_output = seed()
    after_first = counts()

    second_output = seed()

    assert counts() == after_first
    assert after_first["users"] == 4
    assert after_first["prompts"] == len(demo_records()) == 50
    assert "Demo data: 4 accounts created, 50 prompts imported (0 already there)" in first_output
    assert (
        "Demo data: 0 accounts created, 0 prompts imported (50 already there), 0 second answers "
        "added, 0 prompts opened for ranking." in second_output
    )


def test_the_demo_users_have_their_roles_verified_emails_licence_and_languages():
    seed()

    users = {u.email: u for u in User.objects.all()}
    assert sorted(users) == sorted(EMAILS)
    maintainer = users["maintainer@hearth.local"]
    assert roles.is_maintainer(maintainer)
    assert maintainer.is_staff and maintainer.is_superuser
    moderator = users["moderator@hearth.local"]
    assert roles.is_moderator(moderator) and not roles.is_maintainer(moderator)
    assert not moderator.is_staff
    for email in ("ada@hearth.local", "grace@hearth.local"):
        assert not roles.is_moderator(users[email])
        assert not users[email].is_staff
    for user in users.values():
        assert roles.VOLUNTEER in user.groups.values_list("name", flat=True)
        assert selectors.licence_accepted(user=user)
        assert user.languages and user.languages[0] == "en"
        address = EmailAddress.objects.get(user=user)
        assert (address.email, address.verified, address.primary) == (user.email, True, True)
    assert users["ada@hearth.local"].display_name == "Ada"
    assert users["grace@hearth.local"].languages == ["en", "de", "fr"]


def test_passwords_are_kept_privately_and_printed_on_every_run(data_dir):
    first_output = seed()
    path = data_dir / "demo-credentials.txt"

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
        assert f"{email}  " in first_output and password in first_output

    path.chmod(0o644)
    second_output = seed()

    for password in stored.values():
        assert password in second_output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_lost_credentials_file_gets_new_passwords_that_work(data_dir):
    seed()
    path = data_dir / "demo-credentials.txt"
    old = path.read_text()
    path.unlink()

    output = seed()

    assert path.exists() and path.read_text() != old
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            email, password, _ = line.split("\t")
            assert User.objects.get(email=email).check_password(password)
            assert password in output


def test_every_category_is_present_most_prompts_accepted_and_authors_are_volunteers():
    seed()

    prompts = Prompt.objects.all()
    assert set(prompts.values_list("category", flat=True)) == set(Category.values)
    assert set(prompts.values_list("origin", flat=True)) == {"hearth-demo"}
    assert {"de", "es", "fr"} <= set(prompts.values_list("language", flat=True))
    accepted = prompts.filter(state=PromptState.COLLECTING).count()
    in_review = prompts.filter(state=PromptState.REVIEW).count()
    ranking = prompts.filter(state=PromptState.RANKING).count()
    assert ranking == 4
    assert accepted + in_review + ranking == 50
    assert 0 < in_review < accepted
    authors = set(prompts.values_list("author__email", flat=True))
    assert authors == {"ada@hearth.local", "grace@hearth.local"}
    # Each volunteer has prompts in review to review (the other's).
    assert (
        set(prompts.filter(state=PromptState.REVIEW).values_list("author__email", flat=True))
        == authors
    )
    for prompt in prompts.filter(category__in=["closed_qa", "summarization"]):
        assert prompt.context
    # The author's own answer follows the prompt's state.
    for prompt in prompts.filter(state=PromptState.REVIEW):
        assert prompt.responses.get(author=prompt.author).state == ResponseState.REVIEW


def test_some_accepted_prompts_get_a_second_answer_from_the_other_volunteer():
    seed()

    second_answers = Response.objects.exclude(author=F("prompt__author")).filter(
        author__email__in={"ada@hearth.local", "grace@hearth.local"}
    )
    assert second_answers.count() >= 10
    for answer in second_answers.select_related("prompt"):
        assert answer.state == ResponseState.ACCEPTED
        prompt = answer.prompt
        if prompt.state == PromptState.COLLECTING:
            assert prompt.responses.filter(state=ResponseState.ACCEPTED).count() == 2
        else:
            # Four of them got a brief third answer from the moderator and wait for ranking.
            assert prompt.state == PromptState.RANKING
            assert prompt.responses.filter(state=ResponseState.ACCEPTED).count() == 3
            assert prompt.responses.filter(author__email="moderator@hearth.local").exists()
            assert prompt.open_slots == 3


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
                          "second_response"}  # fmt: skip
        assert r["response"].strip() and r["instruction"].strip()
        if r["category"] in ("closed_qa", "information_extraction", "summarization"):
            assert len(r["context"]) > 100


def test_the_demo_fills_the_community_leaderboard():
    seed()
    seed()  # a second run adds nothing to count

    # The demo prompts are imported (origin hearth-demo), so they do not count; the answers
    # the volunteers and the moderator wrote on Hearth on top of them do.
    board = [(s.rank, s.name, s.prompts, s.answers, s.total) for s in leaderboard(period="all")]
    assert board == [(1, "Ada", 0, 8, 8), (2, "Moderator", 0, 4, 4), (2, "Grace", 0, 4, 4)]
