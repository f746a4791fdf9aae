from __future__ import annotations

from typing import Any

import factory
from django.conf import settings

from apps.accounts.models import LicenceAcceptance, User
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.core.text import dedupe_key


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    display_name = factory.Sequence(lambda n: f"User {n}")
    languages = factory.LazyFunction(lambda: ["en"])
    password = factory.django.Password("correct horse battery staple")


class LicenceAcceptanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LicenceAcceptance

    user = factory.SubFactory(UserFactory)
    version = factory.LazyFunction(lambda: settings.HEARTH_LICENCE_VERSION)


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    author = factory.SubFactory(UserFactory)
    instruction = factory.Sequence(lambda n: f"Explain idea number {n} in simple words.")
    context = ""
    category = "open_qa"
    language = "en"
    state = PromptState.COLLECTING
    licence = factory.LazyFunction(lambda: settings.HEARTH_LICENCE_NAME)
    instruction_key = factory.LazyAttribute(lambda o: dedupe_key(o.instruction, o.context))
    open_slots = factory.LazyAttribute(
        lambda o: {"review": 2, "collecting": 3, "ranking": 3}.get(str(o.state), 0)
    )


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    author = factory.SubFactory(UserFactory)
    text = factory.Sequence(lambda n: f"A helpful answer, number {n}.")
    state = ResponseState.ACCEPTED
    licence = factory.LazyFunction(lambda: settings.HEARTH_LICENCE_NAME)


def reporter(user: Any = None) -> Any:
    """A volunteer whose reports count towards hiding an item before a moderator looks: one
    with accepted work (a complete prompt, which asks for no task)."""
    user = user or UserFactory()
    PromptFactory(author=user, state=PromptState.COMPLETE)
    return user


def held_task(
    user: Any, task_type: str, prompt: Any, response: Any = None, *, minutes_left: float = 30
) -> Any:
    """An open task made directly, ``minutes_left`` before it expires (negative: overdue), for
    tests about tasks held, not about handing them out (the cap on open tasks does not
    apply)."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.assignments.models import Assignment

    return Assignment.objects.create(
        user=user,
        task_type=task_type,
        prompt=prompt,
        response=response,
        phase=response.state if response is not None else prompt.state,
        expires_at=timezone.now() + timedelta(minutes=minutes_left),
    )
