"""Collection API: one view per operation, nested input/output serializers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.permissions import HasAcceptedLicence
from apps.accounts.selectors import request_user
from apps.accounts.services import check_language
from apps.collection import selectors, services
from apps.collection.models import Category, Prompt, Response
from apps.core.api import (
    Conflict,
    Pagination,
    SelfUrl,
    ValidationErrorWith,
    idempotent,
    refuses_unknown_query,
    takes_no_body,
    validation_error_detail,
)
from apps.core.fields import ListedChoiceField, RefusesUnknownFields, StrictCharField
from apps.core.paging import IdsFirst
from apps.core.schema import (
    IDEMPOTENT_ERRORS,
    LOCATION,
    PAGE_ERRORS,
    PAGE_PARAMETERS,
    PROMPT_WRITE_INVALID,
    RETRY_AFTER,
    WRITE_ERRORS,
    errors,
    paginated,
)
from apps.core.throttling import ThrottledWrites


def _call(fn: Any, **kwargs: Any) -> Any:
    """Call a service, mapping its refusals to HTTP answers (403, 409)."""
    try:
        return fn(**kwargs)
    except services.NotEditable as exc:
        raise Conflict(str(exc)) from None
    except PermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc) or None) from None


def _call_on_text(fn: Any, **kwargs: Any) -> Any:
    """``_call`` for the answer endpoints, whose field is ``text``: the services file an
    answer's errors under ``response`` (the Write form's field), as the task API renames them."""
    try:
        return _call(fn, **kwargs)
    except DjangoValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        renamed = {"text" if k == "response" else k: v for k, v in exc.error_dict.items()}
        raise DjangoValidationError(renamed) from None


def _duplicate_of(exc: DjangoValidationError) -> int | None:
    """The id of the prompt whose instruction ``exc`` refuses as already in Hearth, when the
    service named it (``_duplicate_error`` does only to a writer who may see that prompt)."""
    for error in getattr(exc, "error_dict", {}).get("instruction", []):
        params = error.params or {}
        if error.code == "duplicate" and isinstance(params.get("prompt_id"), int):
            return int(params["prompt_id"])
    return None


@contextlib.contextmanager
def existing_prompt_named(request: Request) -> Iterator[None]:
    """Around a service that writes a prompt's instruction: its refusal of one already in
    Hearth also names that prompt as ``existing_prompt``, ``{"id", "url"}`` with its API URL,
    beside the instruction's message (which names the site's page, in the request's
    language, for a person). A client that retried a POST that timed out, without an
    Idempotency-Key, learns which prompt it made without reading the words."""
    try:
        yield
    except DjangoValidationError as exc:
        existing = _duplicate_of(exc)
        if existing is None:
            raise
        url = request.build_absolute_uri(reverse("api:prompt-detail", args=[existing]))
        raise ValidationErrorWith(
            validation_error_detail(exc), {"existing_prompt": {"id": existing, "url": url}}
        ) from None


class ResponseOut(serializers.ModelSerializer[Response]):
    """An answer."""

    # Give it context={"request": …} for its url.

    url = SelfUrl("response-detail", "response_id")
    author_name = serializers.CharField(source="author.public_name", read_only=True)
    prompt_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Response
        fields = [
            "id", "url", "prompt_id", "text", "state", "source", "origin", "licence", "author_name",
            "withdrawn_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class PromptOut(serializers.ModelSerializer[Prompt]):
    """A prompt."""

    # Give it context={"request": …} for its url.

    url = SelfUrl("prompt-detail", "prompt_id")
    author_name = serializers.CharField(source="author.public_name", read_only=True)

    class Meta:
        model = Prompt
        fields = [
            "id", "url", "instruction", "context", "category", "language", "state", "origin",
            "licence", "author_name", "withdrawn_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class PromptsApi(ThrottledWrites, APIView):
    """GET lists prompts (public ones, or with author=me your own); POST creates one."""

    permission_classes = [IsAuthenticatedOrReadOnly, HasAcceptedLicence]
    throttle_scope = "writing"

    class FilterIn(serializers.Serializer[Any]):
        q = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text=(
                "Words that must each appear, in any case, in the instruction, the context or an "
                f"accepted answer. At most {selectors.SEARCH_MAX_CHARS} characters and "
                f"{selectors.SEARCH_MAX_WORDS} words."
            ),
        )
        # Blank is no filter, as a search form sends it.
        category = ListedChoiceField(choices=Category.choices, required=False, allow_blank=True)
        language = serializers.CharField(
            required=False, allow_blank=True, help_text="A BCP-47 tag, e.g. en or pt-BR (any case)."
        )
        author = ListedChoiceField(
            choices=[("me", "me")],
            required=False,
            allow_blank=True,
            help_text="'me': your own prompts, any state",
        )

        def validate_q(self, value: str) -> str:
            try:
                selectors.search_terms(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
            return value

        def validate_language(self, value: str) -> str:
            if not value:
                return ""
            try:
                return check_language(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict["language"]) from None

    # Sent with every list; "true" when a search has more matches than it lists.
    CAPPED_HEADER = "Hearth-Search-Capped"

    @extend_schema(
        parameters=[
            FilterIn,
            *PAGE_PARAMETERS,
            OpenApiParameter(
                CAPPED_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200],
                enum=["true", "false"],
                description=(
                    f"true when more public prompts match q than the newest "
                    f"{selectors.SEARCH_RESULTS_LIMIT} that a search lists (count is then "
                    f"{selectors.SEARCH_RESULTS_LIMIT} and the pages end there): add a word or "
                    "a filter to narrow it. false otherwise."
                ),
            ),
        ],
        responses={200: paginated(PromptOut), **errors(401, *PAGE_ERRORS)},
        operation_id="prompts_list",
        description=(
            "Public prompts, newest first, or with author=me your own in every state. A search "
            f"lists its newest {selectors.SEARCH_RESULTS_LIMIT} matches at most (see the "
            f"{CAPPED_HEADER} header), as they were up to "
            f"{selectors.SEARCH_CACHE_SECONDS} s ago. An unknown category, a malformed "
            "language or a search too long is 400 with the field's error."
        ),
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        filters = self.FilterIn(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        category = data.get("category") or None
        language = data.get("language") or None
        search = data.get("q", "")
        prompts: Any
        if data.get("author") == "me":
            if not request.user.is_authenticated:
                raise exceptions.NotAuthenticated()
            prompts = IdsFirst(
                selectors.prompt_list_for_author(
                    user=request.user, category=category, language=language, search=search
                )
            )
            capped = False
        else:
            prompts = selectors.prompt_browse_public(
                category=category, language=language, search=search
            )
            capped = prompts.capped
        paginator = Pagination()
        page: list[Prompt] | None = paginator.paginate_queryset(prompts, request, view=self)
        response = paginator.get_paginated_response(
            PromptOut(page, many=True, context={"request": request}).data
        )
        response[self.CAPPED_HEADER] = "true" if capped else "false"
        return response

    class PromptCreateIn(RefusesUnknownFields):
        instruction = StrictCharField(text_label=_("The instruction"))
        context = StrictCharField(required=False, text_label=_("The context"))  # type: ignore[assignment]
        category = StrictCharField()
        language = StrictCharField()
        response = StrictCharField(
            required=False,
            text_label=_("The answer"),
            help_text=_("Optional: the author's own first answer, Dolly-style."),
        )

    class PromptCreatedOut(PromptOut):
        response = serializers.SerializerMethodField()

        class Meta(PromptOut.Meta):
            fields = [*PromptOut.Meta.fields, "response"]
            read_only_fields = fields

        def get_response(self, prompt: Prompt) -> dict[str, Any] | None:
            first = (
                prompt.responses.select_related("author").filter(author=prompt.author_id).first()
            )
            return dict(ResponseOut(first, context=self.context).data) if first else None

    @extend_schema(
        request=PromptCreateIn,
        parameters=[RETRY_AFTER, LOCATION],
        responses={
            201: PromptCreatedOut,
            **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 429),
            400: PROMPT_WRITE_INVALID,
        },
        operation_id="prompts_create",
    )
    @idempotent
    def post(self, request: Request) -> ApiResponse:
        payload = self.PromptCreateIn(data=request.data)
        payload.is_valid(raise_exception=True)
        with existing_prompt_named(request):
            prompt = services.prompt_create(author=request_user(request), **payload.validated_data)
        return ApiResponse(
            self.PromptCreatedOut(prompt, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class PromptDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly, HasAcceptedLicence]

    class PromptUpdateIn(RefusesUnknownFields):
        read_back = tuple(PromptOut.Meta.fields)
        instruction = StrictCharField(required=False, text_label=_("The instruction"))
        context = StrictCharField(required=False, text_label=_("The context"))  # type: ignore[assignment]
        category = StrictCharField(required=False)
        language = StrictCharField(required=False)

    @extend_schema(responses={200: PromptOut, **errors(401, 404)}, operation_id="prompts_retrieve")
    @refuses_unknown_query
    def get(self, request: Request, prompt_id: int) -> ApiResponse:
        prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
        return ApiResponse(PromptOut(prompt, context={"request": request}).data)

    @extend_schema(
        request=PromptUpdateIn,
        responses={200: PromptOut, **errors(*WRITE_ERRORS, 404, 409), 400: PROMPT_WRITE_INVALID},
        operation_id="prompts_partial_update",
    )
    def patch(self, request: Request, prompt_id: int) -> ApiResponse:
        prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
        read = PromptOut(prompt, context={"request": request}).data
        payload = self.PromptUpdateIn(data=request.data, context={"read": read})
        payload.is_valid(raise_exception=True)
        with existing_prompt_named(request):
            prompt = _call(
                services.prompt_update,
                prompt=prompt,
                user=request_user(request),
                **payload.validated_data,
            )
        return ApiResponse(PromptOut(prompt, context={"request": request}).data)


class PromptWithdrawApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: PromptOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404)},
        operation_id="prompts_withdraw",
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, prompt_id: int) -> ApiResponse:
        prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
        prompt = _call(services.prompt_withdraw, prompt=prompt, user=request_user(request))
        return ApiResponse(PromptOut(prompt, context={"request": request}).data)


class PromptResponsesApi(ThrottledWrites, APIView):
    permission_classes = [IsAuthenticatedOrReadOnly, HasAcceptedLicence]
    throttle_scope = "writing"

    class ResponseCreateIn(RefusesUnknownFields):
        text = StrictCharField(text_label=_("The answer"))

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ResponseOut), **errors(401, *PAGE_ERRORS)},
        operation_id="prompts_responses_list",
    )
    @refuses_unknown_query
    def get(self, request: Request, prompt_id: int) -> ApiResponse:
        prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
        queryset = selectors.responses_visible_on_prompt(prompt=prompt, user=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            ResponseOut(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=ResponseCreateIn,
        parameters=[RETRY_AFTER, LOCATION],
        responses={201: ResponseOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 429)},
        operation_id="prompts_responses_create",
    )
    @idempotent
    def post(self, request: Request, prompt_id: int) -> ApiResponse:
        prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
        payload = self.ResponseCreateIn(data=request.data)
        payload.is_valid(raise_exception=True)
        response = _call_on_text(
            services.response_create,
            prompt=prompt,
            author=request.user,
            text=payload.validated_data["text"],
        )
        return ApiResponse(
            ResponseOut(response, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class MyResponsesApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ResponseOut), **errors(401, *PAGE_ERRORS)},
        operation_id="responses_list_mine",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        # Paged as Paginator pages any sequence (DRF's stubs name QuerySets and Sequences).
        answers: Any = IdsFirst(selectors.response_list_for_author(user=request.user))
        paginator = Pagination()
        page: list[Response] | None = paginator.paginate_queryset(answers, request, view=self)
        return paginator.get_paginated_response(
            ResponseOut(page, many=True, context={"request": request}).data
        )


class ResponseDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly, HasAcceptedLicence]

    class ResponseUpdateIn(RefusesUnknownFields):
        read_back = tuple(ResponseOut.Meta.fields)
        text = StrictCharField(text_label=_("The answer"))

    @extend_schema(
        responses={200: ResponseOut, **errors(401, 404)}, operation_id="responses_retrieve"
    )
    @refuses_unknown_query
    def get(self, request: Request, response_id: int) -> ApiResponse:
        response = selectors.response_get_for_user(user=request.user, response_id=response_id)
        return ApiResponse(ResponseOut(response, context={"request": request}).data)

    @extend_schema(
        request=ResponseUpdateIn,
        responses={200: ResponseOut, **errors(*WRITE_ERRORS, 404, 409)},
        operation_id="responses_partial_update",
    )
    def patch(self, request: Request, response_id: int) -> ApiResponse:
        response = selectors.response_get_for_user(user=request.user, response_id=response_id)
        read = ResponseOut(response, context={"request": request}).data
        payload = self.ResponseUpdateIn(data=request.data, context={"read": read})
        payload.is_valid(raise_exception=True)
        response = _call_on_text(
            services.response_update,
            response=response,
            user=request.user,
            text=payload.validated_data["text"],
        )
        return ApiResponse(ResponseOut(response, context={"request": request}).data)


class ResponseWithdrawApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: ResponseOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404)},
        operation_id="responses_withdraw",
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, response_id: int) -> ApiResponse:
        response = selectors.response_get_for_user(user=request.user, response_id=response_id)
        response = _call(services.response_withdraw, response=response, user=request.user)
        return ApiResponse(ResponseOut(response, context={"request": request}).data)
