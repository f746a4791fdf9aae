"""accounts 0005 gives the volunteer role to those whom Hugging Face auto-signup left without
one, and to nobody else."""

from __future__ import annotations

import importlib

import pytest
from allauth.socialaccount.models import SocialAccount
from django.apps import apps
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.accounts import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

backfill = importlib.import_module(
    "apps.accounts.migrations.0005_volunteer_role_for_hugging_face_sign_ups"
)


def role_names(user) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def test_only_live_hugging_face_accounts_without_a_role_become_volunteers(maintainer):
    left_out = UserFactory()
    SocialAccount.objects.create(user=left_out, provider="huggingface", uid="hf-1")
    SocialAccount.objects.create(user=maintainer, provider="huggingface", uid="hf-2")
    demoted = UserFactory()  # a maintainer took their roles away; they have no social account
    deleted = UserFactory(deleted_at=timezone.now())
    SocialAccount.objects.create(user=deleted, provider="huggingface", uid="hf-3")

    backfill.give_volunteer_role(apps, None)
    backfill.give_volunteer_role(apps, None)  # run again: nothing more

    assert role_names(left_out) == [roles.VOLUNTEER]
    assert role_names(maintainer) == [roles.MAINTAINER, roles.VOLUNTEER]
    assert role_names(demoted) == []
    assert role_names(deleted) == []
    assert Group.objects.filter(name=roles.VOLUNTEER).count() == 1
