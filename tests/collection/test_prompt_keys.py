"""Duplicate keys (apps.core.text.dedupe_key): a prompt is its instruction with its context,
folded to its confusables skeleton; collection 0012 re-keys the prompts written before."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from apps.collection.models import Prompt
from apps.core.text import dedupe_key
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

rekey = importlib.import_module("apps.collection.migrations.0012_prompt_key_with_context")

GOOD = {
    "instruction": "Summarise the passage in one line.",
    "category": "open_qa",
    "language": "en",
}


def test_a_copy_with_a_look_alike_letter_is_a_duplicate(api):
    """Security QA: one Cyrillic "а" let a copy of a public prompt in as new."""
    existing = PromptFactory(instruction=GOOD["instruction"])
    copy = {**GOOD, "instruction": "Summаrise the passage in one line."}  # Cyrillic а
    assert copy["instruction"] != existing.instruction
    r = api.post("/api/v1/prompts/", copy, format="json")
    assert r.status_code == 400, r.json()
    assert f"prompt #{existing.pk}" in " ".join(r.json()["instruction"])
    assert Prompt.objects.count() == 1


def test_the_same_instruction_over_another_context_is_another_prompt(api):
    PromptFactory(instruction="Summarize the following passage.", context="Rivers flow.")
    r = api.post(
        "/api/v1/prompts/",
        {**GOOD, "instruction": "Summarize the following passage.", "context": "Cats sleep."},
        format="json",
    )
    assert r.status_code == 201, r.json()


def _old_key(prompt: Prompt, key: str) -> Prompt:
    Prompt.objects.filter(pk=prompt.pk).update(instruction_key=key)
    return prompt


def test_the_migration_rekeys_and_keeps_look_alikes_written_before_apart():
    """A look-alike copy that got in before keeps a key of its own (the older prompt takes
    the new one), even when its old key is the new key the older one needs; withdrawn
    prompts and prompts with a context get their new keys."""
    now = timezone.now()
    older = PromptFactory(
        instruction="Grаce notes", created_at=now, instruction_key="old-older"
    )  # Cyrillic а, written first
    newer = PromptFactory(
        instruction="Grace notes", created_at=now + timezone.timedelta(1), instruction_key="x"
    )
    # Before folding, each had its own key; the newer one's old key is the older one's new key.
    _old_key(newer, dedupe_key("Grace notes"))
    gone = PromptFactory(instruction="Gone", withdrawn_at=now)
    _old_key(gone, "old-gone")
    with_context = PromptFactory(instruction="Summarize.", context="Rivers flow.")
    _old_key(with_context, dedupe_key("Summarize."))

    rekey.forwards(apps, None)
    rekey.forwards(apps, None)  # again: nothing changes

    keys = dict(Prompt.objects.values_list("pk", "instruction_key"))
    assert keys[older.pk] == dedupe_key("Grace notes")
    assert keys[newer.pk] == f"legacy-{newer.pk}"
    assert keys[gone.pk] == dedupe_key("Gone")
    assert keys[with_context.pk] == dedupe_key("Summarize.", "Rivers flow.")
