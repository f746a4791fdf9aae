"""OpenAPI declarations every API module shares, written once so that /api/schema/ says what
apps.core.api really sends: the page envelope of list endpoints and the error answers.

Use them inside ``@extend_schema``::

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(PromptOut), **errors(401, *PAGE_ERRORS)},
    )

An endpoint that documents 429 also lists ``RETRY_AFTER`` in its parameters (a test checks).
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.utils import translation
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_field,
    inline_serializer,
)
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core.api import Pagination


class ErrorOut(serializers.Serializer[Any]):
    """Every error but a validation error: a detail that says what went wrong."""

    detail = serializers.CharField()

    class Meta:
        ref_name = "Error"


class ValidationErrorOut(serializers.Serializer[Any]):
    """A 400's body; its shape is declared by the extension below, as no serializer field can
    say "any field name"."""


class _ValidationErrorSchema(OpenApiSerializerExtension):
    target_class = ValidationErrorOut

    def get_name(self, auto_schema: Any = None, direction: Any = None) -> str:
        return "ValidationError"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return _messages_by_field()


class PromptValidationErrorOut(serializers.Serializer[Any]):
    """The 400 of a request that writes a prompt's instruction: a ValidationError, and when
    the instruction is one already in Hearth that the caller may see, that prompt."""


def _messages_by_field() -> dict[str, Any]:
    messages = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "description": (
            "Messages by field name (non_field_errors for the request as a whole, "
            "Idempotency-Key for that header), or a detail when the body could not be read."
        ),
        "properties": {"detail": {"type": "string"}, "non_field_errors": messages},
        "additionalProperties": messages,
    }


class _PromptValidationErrorSchema(OpenApiSerializerExtension):
    target_class = PromptValidationErrorOut

    def get_name(self, auto_schema: Any = None, direction: Any = None) -> str:
        return "PromptValidationError"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        found = _messages_by_field()
        found["description"] += (
            " When the instruction (with its context) is already in Hearth as a prompt you "
            "may see, existing_prompt names it: its id and API URL (a retry without an "
            "Idempotency-Key of a request that made it, say). The message under instruction "
            "names the prompt's page for a person, in the request's language."
        )
        found["properties"]["existing_prompt"] = {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "url": {"type": "string", "format": "uri"},
            },
            "required": ["id", "url"],
        }
        return found


ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(ValidationErrorOut, "The request is invalid."),
    401: OpenApiResponse(ErrorOut, "No credentials, or an invalid or revoked API token."),
    403: OpenApiResponse(
        ErrorOut, "Not allowed: the role, the licence or a ban; detail says which."
    ),
    404: OpenApiResponse(ErrorOut, "Not found, or you may not see it."),
    409: OpenApiResponse(
        ErrorOut,
        "Refused in the current state (detail says why), or the Idempotency-Key is in use by "
        "a request still running.",
    ),
    413: OpenApiResponse(ErrorOut, "The request body is over the size limit."),
    415: OpenApiResponse(
        ErrorOut, "The body's Content-Type is missing or not one this endpoint reads."
    ),
    422: OpenApiResponse(ErrorOut, "The Idempotency-Key was used for a different request."),
    429: OpenApiResponse(ErrorOut, "Too many requests; Retry-After says when to try again."),
}


# The 400 of the requests that write a prompt's instruction (a new prompt, its edit, a write
# task's submission), with the prompt an instruction already in Hearth matches.
PROMPT_WRITE_INVALID = OpenApiResponse(
    PromptValidationErrorOut,
    "The request is invalid; existing_prompt names the prompt that already has this "
    "instruction, when you may see it.",
)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers for ``codes``, to merge into ``responses``."""
    return {code: ERROR_RESPONSES[code] for code in codes}


# The errors every endpoint taking a body can give besides its own: a bad or missing token,
# a permission or CSRF refusal, an unreadable or invalid body, one over the size limit, one
# in a media type the endpoint does not read or with no Content-Type (415; the few writes
# that read no body never answer it, though they list it).
WRITE_ERRORS = (400, 401, 403, 413, 415)
# What the @idempotent decorator adds: a malformed key (400), a key in use (409), reused (422).
IDEMPOTENT_ERRORS = (400, 409, 422)

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before trying again.",
)

# A 201 or 202 whose body has a ``url`` (what it created or queued) sends it as Location too.
LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[201, 202],
    description="The URL of what was created or queued: its body's url.",
)

# What every paged list can answer besides its own: a page_size it cannot read (400), a page
# past the last or not a page number (404).
PAGE_ERRORS = (400, 404)

PAGE_PARAMETERS = [
    OpenApiParameter(
        Pagination.page_query_param,
        {"type": "integer", "minimum": 1},
        description="Which page, from 1. Past the last: 404.",
    ),
    OpenApiParameter(
        Pagination.page_size_query_param,
        {"type": "integer", "minimum": 1},
        description=(
            f"Items per page: {Pagination.page_size} unless given, at most "
            f"{Pagination.max_page_size}."
        ),
    ),
]


def documented_json(name: str, schema: dict[str, Any]) -> type[serializers.JSONField]:
    """A JSONField class (its value sent as it is stored) that the schema documents as
    ``schema``: a model's JSONField is otherwise any value, which a generated client types as
    ``Any``. ``name`` names the class; the schema stays inline."""
    field_class = type(name, (serializers.JSONField,), {"__doc__": schema.get("description")})
    return extend_schema_field(schema)(field_class)


@functools.cache
def paginated(item: type[serializers.Serializer[Any]]) -> serializers.Serializer[Any]:
    """The page envelope Pagination sends, around ``item``. Cached so that endpoints listing
    the same thing share one component, as drf-spectacular refuses two of one name."""
    name = item.__name__
    return inline_serializer(
        f"Paginated{name}List",
        {
            "count": serializers.IntegerField(help_text="Items on all pages."),
            "next": serializers.URLField(allow_null=True, help_text="The next page's URL."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page's URL."),
            "results": item(many=True),
        },
    )


class SchemaView(SpectacularAPIView):
    """/api/schema/, generated once per language and version and kept for
    ``SCHEMA_CACHE_SECONDS`` in this process. (Scale QA: generating it took 0.5 s of CPU on
    every anonymous request, a cheap way for anyone to load the server.) The schema is the
    code's, so it changes only with a deploy, which starts new processes."""

    content_negotiation_class = DefaultContentNegotiation  # YAML or JSON, as Accept asks

    def perform_content_negotiation(self, request: Any, force: bool = False) -> Any:
        """An error's answer is JSON, as every other error of the API: when the Accept header
        matches no renderer (``text/html``), DRF renders its 406 with the first one, and the
        client got YAML, with DRF's ErrorDetail dumped as ``{string, code}``."""
        if force:
            return (JSONRenderer(), JSONRenderer.media_type)
        return super().perform_content_negotiation(request, force)

    def _get_schema_response(self, request: Any) -> Any:
        if not self.serve_public:  # then it is each reader's own
            return super()._get_schema_response(request)
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (translation.get_language(), version)
        found = _schemas.get(key)
        if found is None or time.monotonic() - found[0] > SCHEMA_CACHE_SECONDS:
            generator = self.generator_class(
                urlconf=self.urlconf, api_version=version, patterns=self.patterns
            )
            found = (time.monotonic(), generator.get_schema(request=request, public=True))
            _schemas[key] = found
        filename = self._get_filename(request, version)
        return Response(
            data=found[1], headers={"Content-Disposition": f'inline; filename="{filename}"'}
        )


SCHEMA_CACHE_SECONDS = 300
_schemas: dict[tuple[str | None, str | None], tuple[float, dict[str, Any]]] = {}
