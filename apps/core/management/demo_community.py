"""The demo community that ``manage.py seed_demo`` makes: eight weeks of made-up volunteers'
sessions, replayed through Hearth's own services, then backdated.

The demo volunteers write the demo prompts with the Write page's service, answer them with the
prompt page's, and review and rank through the dispatcher (``task_next`` then ``task_submit``,
as the Contribute page does), so every state, slot, review, consensus and task row is one that
real use leaves behind. What is made up is the people and the times: the services stamp
everything "now", and once the replay is over each row gets the time its session had in the
replay, over the last ``DAYS`` days. Backdating is done here and nowhere else in Hearth.

The replay is deterministic: one seeded ``random.Random``, and habits counted in days back from
today (not weekdays), so the same demo comes out on every machine, database and date.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from apps.accounts.models import LicenceAcceptance, User
from apps.assignments import services as task_services
from apps.assignments.models import Assignment
from apps.collection import services as collection_services
from apps.collection.models import Prompt, PromptState, Response
from apps.core.sql import quote
from apps.core.text import dedupe_key
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.feedback.services import rankable_responses

# The replay's length: the Your impact chart's eight weeks. Day 0 is the oldest, DAYS - 1 today.
DAYS = 56
# Any number gives a fixed demo; tests/core/test_seed_demo.py checks that this one is a good one
# (every state, streaks, tasks waiting for each demo account).
SEED = 7
UTC = dt.UTC
# Below 1: the demo prompts are written faster as the weeks go by (see ``_Replay``).
WRITING_PACE = 0.8


@dataclass(frozen=True)
class Habit:
    """How one demo volunteer takes part: the replay day of their first session, whether they
    come on a day (``comes(back, rng)``, ``back`` counting the days before today), when (UTC
    hour), their share of the new prompts, and at most how many answers, reviews and
    rankings one session holds."""

    email: str
    joined: int
    comes: Callable[[int, random.Random], bool]
    hour: int
    writes: float
    answers: int
    reviews: int
    ranks: int


HABITS = (
    # Ada: many evenings, every day of the past week (her current streak: today is left to
    # whoever signs in as her) and a long run a month ago.
    Habit(
        "ada@hearth.local",
        joined=0,
        comes=lambda back, rng: back < 7 or 26 <= back < 38 or rng.random() < 0.3,
        hour=19,
        writes=3.0,
        answers=1,
        reviews=3,
        ranks=1,
    ),
    # Grace: one long session a week.
    Habit(
        "grace@hearth.local",
        joined=0,
        comes=lambda back, rng: back % 7 == 3 or rng.random() < 0.04,
        hour=9,
        writes=2.0,
        answers=2,
        reviews=6,
        ranks=2,
    ),
    # The moderator: every other day or so, mostly reviewing.
    Habit(
        "moderator@hearth.local",
        joined=0,
        comes=lambda back, rng: rng.random() < 0.4,
        hour=12,
        writes=1.0,
        answers=1,
        reviews=4,
        ranks=1,
    ),
    # The maintainer: a weekly round of reviews and rankings, none this week.
    Habit(
        "maintainer@hearth.local",
        joined=0,
        comes=lambda back, rng: back % 7 == 6 and back >= 7,
        hour=8,
        writes=0.0,
        answers=0,
        reviews=3,
        ranks=2,
    ),
    # The volunteers without a login, who joined along the way.
    Habit(
        "tomas@hearth.local",
        joined=10,
        comes=lambda back, rng: back % 7 in (1, 4) or rng.random() < 0.1,
        hour=21,
        writes=2.0,
        answers=2,
        reviews=3,
        ranks=1,
    ),
    Habit(
        "jonas@hearth.local",
        joined=6,
        comes=lambda back, rng: back % 7 in (2, 3) and rng.random() < 0.8,
        hour=15,
        writes=1.5,
        answers=1,
        reviews=3,
        ranks=1,
    ),
    Habit(
        "amara@hearth.local",
        joined=21,
        comes=lambda back, rng: rng.random() < 0.5,
        hour=7,
        writes=1.0,
        answers=1,
        reviews=2,
        ranks=3,
    ),
    Habit(
        "mei@hearth.local",
        joined=DAYS - 4,
        comes=lambda back, rng: True,
        hour=13,
        writes=0.5,
        answers=1,
        reviews=4,
        ranks=1,
    ),
)


@dataclass(frozen=True)
class DemoPrompt:
    """One line of the demo file: the prompt with its author's answer, and the answers other
    volunteers give it (``second_response``, ``third_response``), in that order."""

    instruction: str
    context: str
    category: str
    language: str
    response: str
    more_answers: tuple[str, ...]


def read_demo_prompts(path: Path) -> list[DemoPrompt]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        DemoPrompt(
            instruction=r["instruction"],
            context=r.get("context", ""),
            category=r["category"],
            language=r.get("language", "en"),
            response=r["response"],
            more_answers=tuple(
                r[key] for key in ("second_response", "third_response") if r.get(key)
            ),
        )
        for r in records
    ]


@dataclass
class ReplayReport:
    prompts: int = 0  # written in the replay
    already_there: int = 0  # demo prompts found in the database (then nothing is replayed)
    answers: int = 0  # beyond each author's own
    reviews: int = 0
    rankings: int = 0
    states: Counter[str] = field(default_factory=Counter)


def replay(
    *,
    users: Mapping[str, User],
    prompts: Sequence[DemoPrompt],
    now: dt.datetime | None = None,
    tasks_left_to: Collection[str] = (),
) -> ReplayReport:
    """Replay the demo community's ``DAYS`` days up to ``now``, unless a demo prompt is already
    in the database (withdrawn or not): then nothing is written, so seeding twice adds nothing.

    ``users`` holds every e-mail of ``HABITS``. Today, the people of ``tasks_left_to`` (the
    accounts one can sign in as) write but take no task, so that what is waiting today is
    still there for whoever signs in as them. Call inside a transaction: a failure must leave
    no half demo behind."""
    keys = [dedupe_key(p.instruction, p.context) for p in prompts]
    found = Prompt.objects.filter(instruction_key__in=keys).count()
    if found:
        return ReplayReport(already_there=found)
    return _Replay(users, prompts, now or timezone.now(), set(tasks_left_to)).run()


class _Replay:
    """One replay: day by day, the volunteers who come that day, one session after another."""

    def __init__(
        self,
        users: Mapping[str, User],
        prompts: Sequence[DemoPrompt],
        now: dt.datetime,
        tasks_left_to: set[str],
    ) -> None:
        self.users = users
        self.tasks_left_to = tasks_left_to
        self.prompts = prompts
        self.now = now.astimezone(UTC)
        self.today = self.now.date()
        self.rng = random.Random(SEED)
        self.report = ReplayReport()
        self.unwritten = list(range(len(prompts)))
        # The day each demo prompt is due to be written, in the file's order: a community that
        # grows, so prompts come a little faster each week, the last one today.
        self.write_day = {
            i: math.ceil(DAYS * ((i + 1) / len(prompts)) ** WRITING_PACE) - 1
            for i in range(len(prompts))
        }
        self.answers_left: dict[int, list[str]] = {}  # prompt id → answers still to give
        # What happened when, in replay time, applied to the rows at the end (``_backdate``).
        self.created: dict[type[Model], dict[int, dt.datetime]] = {
            Prompt: {},
            Response: {},
            Review: {},
            Ranking: {},
        }
        self.changed: dict[type[Model], dict[int, dt.datetime]] = {Prompt: {}, Response: {}}
        self.tasks: dict[int, tuple[dt.datetime, dt.datetime, dt.timedelta]] = {}
        self.completed: dict[int, dt.datetime] = {}  # prompt id → consensus time
        self.first_seen: dict[str, dt.datetime] = {}

    def run(self) -> ReplayReport:
        for day_index in range(DAYS):
            back = DAYS - 1 - day_index
            coming = [h for h in HABITS if h.joined <= day_index and h.comes(back, self.rng)]
            writes = self._share_writes(coming, day_index)
            self._day(self.today - dt.timedelta(days=back), coming, writes)
        self._backdate()
        self.report.states = Counter(
            Prompt.objects.filter(pk__in=self.created[Prompt]).values_list("state", flat=True)
        )
        return self.report

    def _share_writes(self, coming: list[Habit], day_index: int) -> dict[str, list[int]]:
        """Which of the day's volunteers write which of the prompts due by ``day_index`` (line
        indexes of the demo file): each goes to one of them who speaks its language, by their
        shares. A prompt nobody here speaks waits."""
        writes: dict[str, list[int]] = {}
        for line in [i for i in self.unwritten if self.write_day[i] <= day_index]:
            language = self.prompts[line].language
            able = [h for h in coming if h.writes > 0 and language in self.users[h.email].languages]
            if not able:
                continue
            writer = self.rng.choices(able, [h.writes for h in able])[0]
            self.unwritten.remove(line)
            writes.setdefault(writer.email, []).append(line)
        return writes

    def _day(self, day: dt.date, coming: list[Habit], writes: dict[str, list[int]]) -> None:
        clock = _Clock(day, now=self.now, rng=self.rng)
        sessions = sorted((h.hour * 3600 + self.rng.uniform(0, 5400), h.email, h) for h in coming)
        for start, email, habit in sessions:
            self.first_seen.setdefault(email, clock.start_session(start))
            user = self.users[email]
            for line in writes.get(email, []):
                self._write(user, self.prompts[line], clock.tick())
            if day == self.today and email in self.tasks_left_to:
                continue
            for _ in range(self.rng.randint(0, habit.answers)):
                if not self._answer(user, clock.tick()):
                    break
            for _ in range(self.rng.randint(habit.reviews // 2, habit.reviews)):
                if not self._task(user, "review", clock):
                    break
            for _ in range(self.rng.randint(0, habit.ranks)):
                if not self._task(user, "rank", clock):
                    break

    def _write(self, user: User, demo: DemoPrompt, when: dt.datetime) -> None:
        prompt = collection_services.prompt_create(
            author=user,
            instruction=demo.instruction,
            context=demo.context,
            category=demo.category,
            language=demo.language,
            response=demo.response,
        )
        self.created[Prompt][prompt.pk] = when
        self.answers_left[prompt.pk] = list(demo.more_answers)
        self.report.prompts += 1

    def _answer(self, user: User, when: dt.datetime) -> bool:
        """Answer, on its page, the oldest prompt collecting answers that ``user`` may answer
        and the demo file has an answer for; False when there is none."""
        waiting = [pk for pk, texts in self.answers_left.items() if texts]
        if not waiting:
            return False
        prompt = (
            Prompt.objects.filter(
                pk__in=waiting,
                state=PromptState.COLLECTING,
                open_slots__gt=0,
                language__in=user.languages,
            )
            .exclude(author=user)
            .exclude(responses__author=user)
            .order_by("created_at", "id")
            .first()
        )
        if prompt is None:
            return False
        text = self.answers_left[prompt.pk].pop(0)
        response = collection_services.response_create(prompt=prompt, author=user, text=text)
        self.created[Response][response.pk] = when
        self.report.answers += 1
        return True

    def _task(self, user: User, kind: str, clock: _Clock) -> bool:
        """Take the next task of ``kind`` from the dispatcher and do it; False when none is
        waiting for ``user``."""
        try:
            task = task_services.task_next(user=user, kind=kind, rng=self.rng)
        except task_services.NoTaskAvailable:
            return False
        taken = clock.tick()
        assert task.prompt is not None
        before = (task.prompt.state, task.response.state if task.response else None)
        if kind == "rank":
            payload: dict[str, Any] = {"order": self._order(task.prompt)}
        else:
            payload = {"labels": self._labels(), "quality": self.rng.choice((3, 4, 4, 4, 5, 5))}
        done = task_services.task_submit(user=user, assignment_id=task.pk, payload=payload)
        when = clock.tick()
        self.tasks[task.pk] = (taken, when, task.expires_at - task.created_at)
        assert done.prompt is not None and done.result is not None
        if kind == "rank":
            self.created[Ranking][done.result["ranking_id"]] = when
            self.report.rankings += 1
        else:
            self.created[Review][done.result["review_id"]] = when
            self.report.reviews += 1
        if done.prompt.state != before[0]:
            self.changed[Prompt][done.prompt.pk] = when
            if done.prompt.state == PromptState.COMPLETE:
                self.completed[done.prompt.pk] = when
        if done.response is not None and done.response.state != before[1]:
            self.changed[Response][done.response.pk] = when
        return True

    def _labels(self) -> list[str]:
        # Every demo text is fine to keep: now and then a reviewer thinks it was filed under
        # the wrong category, which does not block.
        return ["wrong_category"] if self.rng.random() < 0.03 else []

    def _order(self, prompt: Prompt) -> list[int]:
        """A ranker's order of the answers: by and large the author's own (the fullest) first,
        then the others in the order they came, each ranker with their own taste."""
        answers = rankable_responses(prompt)
        merit = {r.pk: -0.5 * place + self.rng.gauss(0, 0.5) for place, r in enumerate(answers)}
        return sorted(merit, key=lambda pk: -merit[pk])

    def _backdate(self) -> None:
        """Give every row of the replay the time its session had (see the module docstring)."""
        prompt_times = self.created[Prompt]
        responses = Response.objects.filter(prompt_id__in=prompt_times).values_list(
            "pk", "prompt_id"
        )
        for pk, prompt_id in responses:
            # The author's own answer was written with the prompt.
            self.created[Response].setdefault(pk, prompt_times[prompt_id])
        for written in (Prompt, Response):
            changed = self.changed[written]
            _set_times(
                written,
                ["created_at", "updated_at"],
                {pk: (when, changed.get(pk, when)) for pk, when in self.created[written].items()},
            )
        for submitted in (Review, Ranking):
            times = self.created[submitted]
            _set_times(submitted, ["created_at"], {pk: (when,) for pk, when in times.items()})
        _set_times(
            Assignment,
            ["created_at", "expires_at", "finished_at"],
            {pk: (taken, taken + life, done) for pk, (taken, done, life) in self.tasks.items()},
        )
        consensus = PromptConsensus.objects.filter(prompt_id__in=self.completed)
        _set_times(
            PromptConsensus,
            ["computed_at"],
            {pk: (self.completed[prompt],) for pk, prompt in consensus.values_list("pk", "prompt")},
        )
        joined = {
            self.users[email].pk: (first - dt.timedelta(minutes=10),)
            for email, first in self.first_seen.items()
        }
        _set_times(User, ["date_joined"], joined)
        for user_id, (when,) in joined.items():
            LicenceAcceptance.objects.filter(user_id=user_id).update(accepted_at=when)


def _set_times(model: type[Model], fields: list[str], rows: dict[int, tuple[Any, ...]]) -> None:
    """Set the datetime ``fields`` of each row of ``model`` (by primary key): one statement
    run for every row, which costs a fraction of a ``bulk_update`` of hundreds of rows."""
    table = quote(model._meta.db_table)
    columns = {f.name: f.column for f in model._meta.concrete_fields}
    assignments = ", ".join(f"{quote(columns[name])} = %s" for name in fields)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s",
            [[*(adapt(value) for value in values), pk] for pk, values in rows.items()],
        )


class _Clock:
    """Replay time through one day, in seconds since midnight (UTC), one session after
    another. Today's sessions are squeezed into the part of the day that has passed, so that
    nothing is dated in the future."""

    def __init__(self, day: dt.date, *, now: dt.datetime, rng: random.Random) -> None:
        self.midnight = dt.datetime.combine(day, dt.time.min, tzinfo=UTC)
        self.scale = min(1.0, (now - self.midnight) / dt.timedelta(days=1))
        self.rng = rng
        self.seconds = 0.0

    def _at(self) -> dt.datetime:
        return self.midnight + dt.timedelta(seconds=min(self.seconds, 86399.0) * self.scale)

    def start_session(self, start: float) -> dt.datetime:
        """Begin a session at ``start`` or, if the one before runs late, a little after it."""
        self.seconds = max(self.seconds + 300, start)
        return self._at()

    def tick(self) -> dt.datetime:
        """The time of the session's next step: one to four minutes on."""
        self.seconds += self.rng.uniform(60, 240)
        return self._at()
