"""A banned reviewer's reviews no longer count toward a decision (``feedback.services._reviews``
skips them since this release; a ban calls ``reviews_of_banned_reconsider``). A prompt or
answer in review that holds a review by someone banned before this release counted it among
the reviews it needed, so it has no slot for the one it now lacks and would wait for good:
each gets the open slots it is due, as the ban now gives them (the policy's count, less the
reviews that count and the review tasks out on it, never less than it has). What those bans
helped reject stays as it is: reopening past decisions is for the moderators.

Written with the historical models; a database with nobody banned changes nothing."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Count, Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest


def _due(apps: Any, column: str, task_type: str, required: int) -> Greatest:
    review = apps.get_model("feedback", "Review")
    assignment = apps.get_model("assignments", "Assignment")
    counted = (
        review.objects.filter(**{column: OuterRef("pk")}, reviewer__banned_at__isnull=True)
        .order_by()
        .values(column)
        .annotate(n=Count("pk"))
        .values("n")
    )
    out = (
        assignment.objects.filter(**{column: OuterRef("pk")}, task_type=task_type, state="active")
        .order_by()
        .values(column)
        .annotate(n=Count("pk"))
        .values("n")
    )
    zero = Value(0)
    return Greatest(
        F("open_slots"),
        Value(required) - Coalesce(Subquery(counted), zero) - Coalesce(Subquery(out), zero),
    )


def forward(apps: Any, schema_editor: Any) -> None:
    user = apps.get_model("accounts", "User")
    if not user.objects.filter(banned_at__isnull=False).exists():
        return
    review = apps.get_model("feedback", "Review")
    prompt = apps.get_model("collection", "Prompt")
    response = apps.get_model("collection", "Response")
    policy_model = apps.get_model("collection", "CollectionPolicy")
    policy = policy_model.objects.filter(pk=1).first() or policy_model(pk=1)
    banned_review = review.objects.filter(reviewer__banned_at__isnull=False)
    prompt.objects.filter(
        Exists(banned_review.filter(prompt_id=OuterRef("pk"))), state="review"
    ).update(
        open_slots=_due(apps, "prompt_id", "review_prompt", policy.prompt_reviews_required)
    )
    # An answer's review slots open once its prompt collects.
    response.objects.filter(
        Exists(banned_review.filter(response_id=OuterRef("pk"))),
        state="review",
        prompt__state="collecting",
    ).update(
        open_slots=_due(apps, "response_id", "review_response", policy.response_reviews_required)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0003_ranking_retired_at"),
        ("collection", "0013_imported_answers_coexist"),
        ("assignments", "0003_dispatch_indexes_without_open_slots"),
        ("accounts", "0007_user_display_name_key"),
    ]

    # Backwards: the slots given stay (a review may have taken one meanwhile).
    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=True)]
