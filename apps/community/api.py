"""/api/v1/community/leaderboard/ and /api/v1/community/progress/ (public, like the page), and
/api/v1/me/stats/ (your own)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.collection.models import Category
from apps.community import selectors
from apps.community.selectors.progress import HELP_KINDS, Progress, progress
from apps.core.api import Pagination, refuses_unknown_query
from apps.core.fields import ListedChoiceField
from apps.core.languages import language_label
from apps.core.schema import PAGE_PARAMETERS, errors, paginated

PERIOD_PARAMETER = OpenApiParameter(
    "period",
    str,
    # Blank means the default, as absent does (a form's empty choice), so it is listed.
    enum=[*selectors.PERIODS, ""],
    default=selectors.DEFAULT_PERIOD,
    description=(
        "week: since Monday 00:00 UTC; month: since the 1st, 00:00 UTC; all: all time; "
        "blank: week. Another value: 400."
    ),
)


class LeaderboardRowOut(serializers.Serializer[Any]):
    rank = serializers.IntegerField(help_text="1 for the highest total; equal totals share one.")
    name = serializers.CharField(help_text="The display name, or 'Volunteer #<id>' without one.")
    prompts = serializers.IntegerField(help_text="Accepted prompts written on Hearth.")
    answers = serializers.IntegerField(help_text="Accepted answers written on Hearth.")
    reviews = serializers.IntegerField(help_text="Reviews submitted.")
    rankings = serializers.IntegerField(help_text="Rankings submitted.")
    total = serializers.IntegerField(help_text="The sum of the four: what ranks.")
    you = serializers.BooleanField(help_text="Whether this row is the caller's.")


class LeaderboardApi(APIView):
    """Public: the same board as the Community page, paged, best first (ties by user id)."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[PERIOD_PARAMETER, *PAGE_PARAMETERS],
        responses={200: paginated(LeaderboardRowOut), **errors(400, 401, 404)},
        operation_id="community_leaderboard",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        period = selectors.check_period(request.query_params.get("period"))
        board = selectors.leaderboard(period=period)
        paginator = Pagination()
        # A Leaderboard pages like a list (len and slices); DRF's stubs ask for a QuerySet.
        page: list[selectors.Standing] | None = paginator.paginate_queryset(
            board,  # type: ignore[arg-type]
            request,
            view=self,
        )
        caller = request.user.pk if request.user.is_authenticated else None
        rows = [
            {
                "rank": row.rank,
                "name": row.name,
                "prompts": row.prompts,
                "answers": row.answers,
                "reviews": row.reviews,
                "rankings": row.rankings,
                "total": row.total,
                "you": row.user_id == caller,
            }
            for row in page or []
        ]
        return paginator.get_paginated_response(LeaderboardRowOut(rows, many=True).data)


class StatsCountsOut(serializers.Serializer[Any]):
    prompts = serializers.IntegerField()
    answers = serializers.IntegerField()
    reviews = serializers.IntegerField()
    rankings = serializers.IntegerField()
    total = serializers.IntegerField()


class StatsInReviewOut(serializers.Serializer[Any]):
    prompts = serializers.IntegerField()
    answers = serializers.IntegerField()


class AcceptanceOut(serializers.Serializer[Any]):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rate = serializers.FloatField(
        allow_null=True, help_text="accepted / (accepted + rejected); null before any decision."
    )


class AcceptancesOut(serializers.Serializer[Any]):
    prompts = AcceptanceOut()
    answers = AcceptanceOut()


class RanksOut(serializers.Serializer[Any]):
    week = serializers.IntegerField(allow_null=True)
    month = serializers.IntegerField(allow_null=True)
    all = serializers.IntegerField(allow_null=True)


class StreakOut(serializers.Serializer[Any]):
    current = serializers.IntegerField(
        help_text="Consecutive UTC days with a contribution, ending today or yesterday."
    )
    longest = serializers.IntegerField()
    last_day = serializers.DateField(allow_null=True)


class DayCountOut(serializers.Serializer[Any]):
    date = serializers.DateField()
    count = serializers.IntegerField()


class StatsOut(serializers.Serializer[Any]):
    counts = StatsCountsOut(help_text="What the leaderboard counts, all time.")
    in_review = StatsInReviewOut(
        help_text="Prompts and answers waiting for reviewers: not counted yet."
    )
    acceptance = AcceptancesOut()
    imported = serializers.IntegerField(help_text="Prompts and answers imported: not counted.")
    ranks = RanksOut(
        help_text=(
            "Your rank in each period: null with nothing counted in it or while banned; when "
            "you opted out, where you would be."
        )
    )
    on_leaderboard = serializers.BooleanField()
    streak = StreakOut(help_text="Days with work in review count too.")
    days = DayCountOut(
        many=True, help_text="Contributions per UTC day, the last 56 days, oldest first."
    )


def _stats(impact: selectors.Impact) -> dict[str, Any]:
    def acceptance(of: selectors.Acceptance) -> dict[str, Any]:
        return {"accepted": of.accepted, "rejected": of.rejected, "rate": of.rate}

    return {
        "counts": {
            "prompts": impact.prompts,
            "answers": impact.answers,
            "reviews": impact.reviews,
            "rankings": impact.rankings,
            "total": impact.total,
        },
        "in_review": {"prompts": impact.prompts_in_review, "answers": impact.answers_in_review},
        "acceptance": {
            "prompts": acceptance(impact.prompt_acceptance),
            "answers": acceptance(impact.answer_acceptance),
        },
        "imported": impact.imported,
        "ranks": impact.ranks,
        "on_leaderboard": impact.on_leaderboard,
        "streak": {
            "current": impact.current_streak,
            "longest": impact.longest_streak,
            "last_day": impact.last_day,
        },
        "days": [{"date": day.date, "count": day.count} for day in impact.days],
    }


class MyStatsApi(APIView):
    """Your own impact, as My contributions shows it."""

    @extend_schema(responses={200: StatsOut, **errors(401)}, operation_id="me_stats")
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        impact = selectors.impact_for_user(user=request.user)
        return Response(StatsOut(_stats(impact)).data)


# --- progress ---------------------------------------------------------------------------------


class PromptPipelineOut(serializers.Serializer[Any]):
    review = serializers.IntegerField()
    collecting = serializers.IntegerField()
    ranking = serializers.IntegerField()
    complete = serializers.IntegerField()
    rejected = serializers.IntegerField()
    halted = serializers.IntegerField()
    withdrawn = serializers.IntegerField(help_text="Withdrawn by their author, in any state.")
    hidden = serializers.IntegerField(
        help_text="Hidden by moderators, or by a banned author; not in a state above."
    )


class AnswerPipelineOut(serializers.Serializer[Any]):
    review = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    withdrawn = serializers.IntegerField()
    hidden = serializers.IntegerField()
    model_written = serializers.IntegerField(
        help_text="Of the accepted, the answers a Hearth model wrote (training runs that "
        "answer collecting prompts)."
    )


class OpenWorkOut(serializers.Serializer[Any]):
    items = serializers.IntegerField(help_text="Prompts (or answers) waiting for this task.")
    tasks = serializers.IntegerField(help_text="Tasks they still hand out (open slots).")
    type = serializers.CharField(
        help_text="The task type to ask for: GET /api/v1/tasks/next/?type=…, /contribute/?type=…"
    )


class HelpNeededOut(serializers.Serializer[Any]):
    prompts_to_review = OpenWorkOut()
    answers_to_review = OpenWorkOut()
    prompts_to_answer = OpenWorkOut()
    prompts_to_rank = OpenWorkOut()


class ProgressDayOut(serializers.Serializer[Any]):
    date = serializers.DateField()
    prompts = serializers.IntegerField()
    answers = serializers.IntegerField()
    reviews = serializers.IntegerField()
    rankings = serializers.IntegerField()


class CategoryCountOut(serializers.Serializer[Any]):
    category = ListedChoiceField(choices=Category.choices)
    name = serializers.CharField(help_text="The category's name, in the request's language.")
    prompts = serializers.IntegerField()


class LanguageCountOut(serializers.Serializer[Any]):
    language = serializers.CharField(help_text="A BCP-47 tag.")
    name = serializers.CharField()
    prompts = serializers.IntegerField()


class LanguagesOut(serializers.Serializer[Any]):
    top = LanguageCountOut(many=True, help_text="The ten languages with most, most first.")
    other_languages = serializers.IntegerField(help_text="How many languages are not in top.")
    other_prompts = serializers.IntegerField(help_text="Accepted prompts in those.")


class QualityOut(serializers.Serializer[Any]):
    agreement = serializers.FloatField(
        allow_null=True,
        help_text="Mean ranker agreement (Kendall's W, 0–1) over prompts with a consensus.",
    )
    agreement_prompts = serializers.IntegerField()
    reviews = serializers.IntegerField(help_text="Reviews sent in the last 30 days (UTC).")
    blocking_reviews = serializers.IntegerField(
        help_text="Of those, how many ticked a blocking label (spam, harmful, …)."
    )
    blocking_share = serializers.FloatField(
        allow_null=True, help_text="blocking_reviews / reviews; null without reviews."
    )


class ProgressOut(serializers.Serializer[Any]):
    prompts = PromptPipelineOut(help_text="Prompts by state, imported ones included.")
    answers = AnswerPipelineOut(help_text="Answers by state, imported and model-written included.")
    rankings = serializers.IntegerField(help_text="Rankings sent.")
    prompts_with_consensus = serializers.IntegerField()
    help_needed = HelpNeededOut(help_text="The open tasks the dispatcher hands out now.")
    days = ProgressDayOut(
        many=True,
        help_text=(
            "Per UTC day, the last 30 days, oldest first: prompts and answers written here "
            "(accepted or in review), reviews and rankings sent."
        ),
    )
    categories = CategoryCountOut(many=True, help_text="Accepted prompts per category.")
    languages = LanguagesOut(help_text="Accepted prompts per language.")
    quality = QualityOut()


def _progress(found: Progress) -> dict[str, Any]:
    return {
        "prompts": {
            **found.prompt_states,
            "withdrawn": found.prompts_withdrawn,
            "hidden": found.prompts_hidden,
        },
        "answers": {
            **found.answer_states,
            "withdrawn": found.answers_withdrawn,
            "hidden": found.answers_hidden,
            "model_written": found.answers_model_written,
        },
        "rankings": found.rankings,
        "prompts_with_consensus": found.prompts_with_consensus,
        "help_needed": {
            kind: {"items": work.items, "tasks": work.tasks, "type": HELP_KINDS[kind]}
            for kind, work in found.help_needed.items()
        },
        "days": found.days,  # ProgressDayOut reads the dataclasses' fields
        "categories": [
            {"category": code, "name": Category(code).label, "prompts": n}
            for code, n in found.categories
        ],
        "languages": {
            "top": [
                {"language": tag, "name": language_label(tag), "prompts": n}
                for tag, n in found.languages
            ],
            "other_languages": found.other_languages,
            "other_prompts": found.other_language_prompts,
        },
        "quality": {
            "agreement": found.agreement,
            "agreement_prompts": found.agreement_prompts,
            "reviews": found.reviews_recent,
            "blocking_reviews": found.blocking_reviews_recent,
            "blocking_share": found.blocking_share,
        },
    }


class ProgressApi(APIView):
    """Public: the data set's progress, as the Community page's Progress view shows it
    (computed at most once a minute)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProgressOut, **errors(401)}, operation_id="community_progress")
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(ProgressOut(_progress(progress())).data)
