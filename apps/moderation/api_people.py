"""One account's activity for moderators: what the account page shows, for scripts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.core.api import refuses_unknown_query
from apps.core.schema import errors
from apps.feedback.models import LABELS, Ranking, Review
from apps.moderation import selectors
from apps.moderation.api import IsModerator
from apps.moderation.models import Flag, FlagReason

ROLES = ("administrator", "maintainer", "moderator", "volunteer")
TARGET_KINDS = ("prompt", "response")
# A prompt's or an answer's state, as a review's or a report's target_state gives it.
TARGET_STATES = list(dict.fromkeys([*PromptState.values, *ResponseState.values]))


def _kind(obj: Review | Flag) -> str:
    return "prompt" if obj.prompt_id is not None else "response"


def _prompt_of(target: Prompt | Response) -> int:
    return target.pk if isinstance(target, Prompt) else target.prompt_id


class PersonCountsOut(serializers.Serializer[Any]):
    prompts = serializers.IntegerField(help_text="Prompts written, in every state.")
    answers = serializers.IntegerField(help_text="Answers written, in every state.")
    reviews = serializers.IntegerField(help_text="Reviews written.")
    rankings = serializers.IntegerField(help_text="Rankings made, retired ones too.")
    flags_raised = serializers.IntegerField(help_text="Reports (flags) sent, open or resolved.")
    flags_against = serializers.IntegerField(
        help_text="Reports (flags) by anyone on this account's prompts and answers."
    )


class PersonPromptOut(serializers.Serializer[Prompt]):
    id = serializers.IntegerField()
    instruction = serializers.CharField()
    language = serializers.CharField()
    state = serializers.ChoiceField(choices=PromptState.choices)
    hidden = serializers.SerializerMethodField()
    withdrawn = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_hidden(self, prompt: Prompt) -> bool:
        return prompt.hidden_at is not None

    def get_withdrawn(self, prompt: Prompt) -> bool:
        return prompt.withdrawn_at is not None


class PersonAnswerOut(serializers.Serializer[Response]):
    id = serializers.IntegerField()
    prompt = serializers.IntegerField(source="prompt_id", help_text="The prompt it answers.")
    text = serializers.CharField()
    state = serializers.ChoiceField(choices=ResponseState.choices)
    hidden = serializers.SerializerMethodField()
    withdrawn = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_hidden(self, response: Response) -> bool:
        return response.hidden_at is not None

    def get_withdrawn(self, response: Response) -> bool:
        return response.withdrawn_at is not None


class _TargetOut(serializers.Serializer[Any]):
    """What a review or a report is about: a prompt or an answer, and what became of it."""

    kind = serializers.SerializerMethodField(help_text="prompt or response.")
    target = serializers.SerializerMethodField(help_text="The prompt's or the response's id.")
    prompt = serializers.SerializerMethodField(
        help_text="The prompt: the target itself, or the prompt the response answers."
    )
    target_state = serializers.SerializerMethodField(
        help_text="The target's state now (a prompt's or a response's)."
    )
    target_hidden = serializers.SerializerMethodField()
    target_withdrawn = serializers.SerializerMethodField()
    target_author = serializers.SerializerMethodField(help_text="The target's author's user id.")

    def _target(self, obj: Review | Flag) -> Prompt | Response:
        if isinstance(obj, Review):
            return selectors.review_target(obj)
        return selectors.flag_target_of(obj)

    @extend_schema_field(serializers.ChoiceField(choices=TARGET_KINDS))
    def get_kind(self, obj: Review | Flag) -> str:
        return _kind(obj)

    def get_target(self, obj: Review | Flag) -> int:
        return self._target(obj).pk

    def get_prompt(self, obj: Review | Flag) -> int:
        return _prompt_of(self._target(obj))

    @extend_schema_field(serializers.ChoiceField(choices=TARGET_STATES))
    def get_target_state(self, obj: Review | Flag) -> str:
        return self._target(obj).state

    def get_target_hidden(self, obj: Review | Flag) -> bool:
        return self._target(obj).hidden_at is not None

    def get_target_withdrawn(self, obj: Review | Flag) -> bool:
        return self._target(obj).withdrawn_at is not None

    def get_target_author(self, obj: Review | Flag) -> int:
        return self._target(obj).author_id


class PersonReviewOut(_TargetOut):
    id = serializers.IntegerField()
    labels = serializers.SerializerMethodField()
    quality = serializers.IntegerField(help_text="1 to 5.")
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=LABELS)))
    def get_labels(self, review: Review) -> list[str]:
        return selectors.review_labels(review)


class PersonRankingOut(serializers.Serializer[Ranking]):
    id = serializers.IntegerField()
    prompt = serializers.IntegerField(source="prompt_id")
    order = serializers.ListField(
        child=serializers.IntegerField(), help_text="Response ids, best first."
    )
    unusable = serializers.BooleanField()
    retired = serializers.SerializerMethodField(
        help_text="Retired: it ordered an answer set that is gone (the prompt collected again)."
    )
    counted = serializers.SerializerMethodField(
        help_text="Counted in the prompt's consensus now: not retired, its ranker not banned."
    )
    created_at = serializers.DateTimeField()

    def get_retired(self, ranking: Ranking) -> bool:
        return ranking.retired_at is not None

    def get_counted(self, ranking: Ranking) -> bool:
        return selectors.ranking_counted(ranking, self.context["person"])


class PersonFlagRaisedOut(_TargetOut):
    id = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=FlagReason.choices)
    note = serializers.CharField()
    open = serializers.SerializerMethodField(help_text="False once a moderator resolved it.")
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)

    def get_open(self, flag: Flag) -> bool:
        return flag.resolved_at is None


class PersonFlagAgainstOut(PersonFlagRaisedOut):
    reporter = serializers.IntegerField(source="reporter_id", help_text="The reporter's user id.")
    reporter_banned = serializers.SerializerMethodField()

    def get_reporter_banned(self, flag: Flag) -> bool:
        return flag.reporter.banned_at is not None


class PersonOut(serializers.Serializer[selectors.PersonActivity]):
    id = serializers.IntegerField(source="person.pk")
    name = serializers.CharField(source="person.public_name")
    email = serializers.EmailField(source="person.email")
    joined_at = serializers.DateTimeField(source="person.date_joined")
    role = serializers.ChoiceField(choices=[(r, r) for r in ROLES])
    banned = serializers.SerializerMethodField()
    banned_at = serializers.DateTimeField(source="person.banned_at", allow_null=True)
    ban_reason = serializers.CharField(source="person.ban_reason")
    counts = PersonCountsOut()
    shown = serializers.IntegerField(
        help_text="The most each list holds: the most recent items of each kind, newest first."
    )
    prompts = PersonPromptOut(many=True)
    answers = PersonAnswerOut(many=True)
    reviews = PersonReviewOut(many=True)
    rankings = PersonRankingOut(many=True)
    flags_raised = PersonFlagRaisedOut(many=True)
    flags_against = PersonFlagAgainstOut(many=True)

    def get_banned(self, activity: selectors.PersonActivity) -> bool:
        return activity.person.banned_at is not None


class PersonActivityApi(APIView):
    """One account as a moderator weighs it: its status, how many prompts, answers, reviews,
    rankings and reports (flags) it made and received, and the most recent ``shown`` of each,
    newest first, in every state (withdrawn and hidden work too) with what became of them.
    The counts say how many each list leaves out. Accounts the People page lists: a deleted
    account or the one model-written answers are filed under is a 404."""

    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(
        responses={200: PersonOut, **errors(400, 401, 403, 404)},
        operation_id="moderation_person",
    )
    @refuses_unknown_query
    def get(self, request: Request, user_id: int) -> ApiResponse:
        activity = selectors.person_activity(user_id)
        if activity is None:
            raise exceptions.NotFound()
        return ApiResponse(PersonOut(activity, context={"person": activity.person}).data)
