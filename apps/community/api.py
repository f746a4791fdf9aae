"""/api/v1/community/leaderboard/ (public, like the page) and /api/v1/me/stats/ (your own)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.community import selectors
from apps.core.api import Pagination
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
    def get(self, request: Request) -> Response:
        impact = selectors.impact_for_user(user=request.user)
        return Response(StatsOut(_stats(impact)).data)
