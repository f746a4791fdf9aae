"""Spam QA: a maintainer 'un-rejected' a prompt in the admin by setting its state to
collecting; the admin saved it with 0 open slots, so it was never handed out again and its
Answer page said it had all the answers it needed. Where a prompt or answer stands in the flow
(state, open slots, withdrawn, hidden; an answer's source) is read-only there: the site's
services move it, with its slots and consensus."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.collection.models import Prompt, PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _inputs(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', html))


def test_a_prompts_flow_fields_are_shown_not_edited(staff):
    prompt = PromptFactory(state=PromptState.REJECTED, open_slots=0)
    ResponseFactory(prompt=prompt, state=ResponseState.REJECTED)

    page = staff.get(f"/admin/collection/prompt/{prompt.pk}/change/")

    assert page.status_code == 200
    names = _inputs(page.content.decode())
    assert "instruction" in names  # the text is still edited here
    assert not names & {"state", "open_slots", "withdrawn_at_0", "hidden_at_0"}
    answer_fields = {name.rsplit("-", 1)[-1] for name in names if name.startswith("responses-")}
    assert not answer_fields & {"state", "source", "withdrawn_at_0", "hidden_at_0"}
    # No empty form to write an answer in: one is written on the site, under its checks.
    assert 'name="responses-MAX_NUM_FORMS" value="0"' in page.content.decode()


def test_posting_a_state_to_the_admin_changes_nothing_of_the_flow(staff):
    prompt = PromptFactory(state=PromptState.REJECTED, open_slots=0)
    page = staff.get(f"/admin/collection/prompt/{prompt.pk}/change/")
    form = {name: "" for name in _inputs(page.content.decode())}
    form |= {
        "instruction": prompt.instruction,
        "context": prompt.context,
        "category": prompt.category,
        "language": prompt.language,
        "author": str(prompt.author_id),
        "origin": prompt.origin,
        "licence": prompt.licence,
        "responses-TOTAL_FORMS": "0",
        "responses-INITIAL_FORMS": "0",
        "state": PromptState.COLLECTING,
        "open_slots": "0",
    }

    staff.post(f"/admin/collection/prompt/{prompt.pk}/change/", form)

    assert Prompt.objects.get(pk=prompt.pk).state == PromptState.REJECTED
