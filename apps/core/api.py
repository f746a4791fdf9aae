"""Shared API pieces: pagination, error format, a number field, the idempotent-POST
decorator, the 409 of a refusal in the current state, the check of a GET's query
parameters."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.plumbing import force_instance, is_basic_serializer
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core import idempotency
from apps.core.fields import FormText, RefusesUnknownFields, form_text
from apps.core.text import shown_number
from apps.core.throttling import throttled_message


def not_found_detail() -> str:
    """The API's 404 message, for a missing object and for a URL no route matches alike."""
    return _("Not found, or you may not see it.")


def absolute_url(context: Mapping[str, Any], path: str) -> str:
    """``path`` as a full URL on the host a serializer's request came in on (as DRF's
    hyperlinked fields give them), so a download link works outside the site; the path alone
    when there is no request."""
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        """DRF pages by the default when it cannot read page_size, so a client that sent
        page_size=ten, 0 or nothing got 20 items and never learnt why: that is a 400 here.
        More than the maximum is cut to it, as documented."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Must be a whole number from 1 (more than %(max)s is cut to %(max)s).")
                        % {"max": shown_number(self.max_page_size)}
                    ]
                }
            )
        # Compared by length first: int() refuses a number thousands of digits long.
        if len(raw.lstrip("0")) > len(str(self.max_page_size)):
            return self.max_page_size
        return min(int(raw), self.max_page_size)

    # DRF also reads page=last as the last page: not a number, so a 404 as documented.
    last_page_strings = ()

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        """DRF reads a blank page as page 1, and int() reads digits of any script ("２") as
        a number: neither is a page number of ASCII digits, so they get the 404 that page=abc
        gets."""
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit()):
            raise exceptions.NotFound(_("Invalid page."))
        return super().get_page_number(request, paginator)


class NumberField(serializers.FloatField):
    """A FloatField that takes JSON numbers only, whole or not. DRF reads true and false as
    1.0 and 0.0, so a boolean sent by mistake set a threshold to one of its extremes; and it
    reads "0.5" as 0.5, where the API keeps JSON's types. A form still sends its numbers as
    text, which is read as DRF reads it."""

    default_error_messages = {
        "invalid": gettext_lazy("Must be a number (a JSON number)."),
        # DRF's words for an integer past a float's range ("Integer value too large to
        # convert to float") are about Python, not the request.
        "overflow": gettext_lazy("The number is too large."),
    }

    def get_value(self, dictionary: Any) -> Any:
        return form_text(dictionary, super().get_value(dictionary))

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, FormText):
            return super().to_internal_value(str(data))
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


def validation_error_detail(error: DjangoValidationError) -> Any:
    if hasattr(error, "error_dict"):
        # A model's clean() files errors about no one field under "__all__"; the API calls
        # those non_field_errors, as DRF's serializers do.
        return {
            "non_field_errors" if field == NON_FIELD_ERRORS else field: [str(m) for m in msgs]
            for field, msgs in error.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in error.messages]}


def _item_label(key: object) -> str:
    if isinstance(key, int):  # a list's item, by DRF's index from 0
        return _("Item %(number)d") % {"number": key + 1}
    return str(key)


def _flat_messages(detail: Any) -> list[str]:
    """One field's messages as text. DRF nests those about a list's items ({index: messages})
    or an object's keys; each becomes one line that names the item, such as
    ``Item 2: Must be text (a JSON string).``"""
    if isinstance(detail, dict):
        return [
            f"{_item_label(key)}: {message}"
            for key, inner in detail.items()
            for message in _flat_messages(inner)
        ]
    if isinstance(detail, list):
        if any(isinstance(item, dict) for item in detail):  # a list of objects
            return _flat_messages({i: item for i, item in enumerate(detail) if item})
        return [message for item in detail for message in _flat_messages(item)]
    return [str(detail)]


def messages_by_field(detail: Any) -> dict[str, Any]:
    """A DRF ValidationError's detail in the shape the schema documents for every 400: a
    list of texts per field, the request as a whole under non_field_errors."""
    if not isinstance(detail, dict):
        return {"non_field_errors": _flat_messages(detail)}
    return {field: _flat_messages(messages) for field, messages in detail.items()}


def _suspicious_request(exc: SuspiciousOperation) -> Response:
    """Django's refusal of a request past its field or file count (or another it finds
    suspicious) as the API's JSON 400; Django's own answer is its HTML 400 page, with no
    words. Logged where Django logs it."""
    logging.getLogger(f"django.security.{exc.__class__.__name__}").error(str(exc))
    if isinstance(exc, TooManyFieldsSent):
        detail = _("The request has too many fields or query parameters: at most %(max)s.") % {
            "max": shown_number(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
        }
    elif isinstance(exc, TooManyFilesSent):
        detail = _("The request has too many files: at most %(max)s.") % {
            "max": shown_number(settings.DATA_UPLOAD_MAX_NUMBER_FILES)
        }
    else:
        detail = _("The request was refused as malformed.")
    return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)


class Conflict(exceptions.APIException):
    """409: refused in the current state of what the request acts on; ``detail`` says why."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


@contextlib.contextmanager
def refused_in_state(*request_fields: str) -> Iterator[None]:
    """Around a service call that acts on one item (a run, a release, an import, a user): the
    ValidationError it raises because of what that item is or is in now (a run that has
    ended, a release that did not fail, an import that is done, a user already banned) is
    answered 409 ``{"detail": …}`` with its words, as a prompt's edit and a task's second
    submission are, so that a client needs one "wrong state: read it again and decide"
    handler. (As 400s these came keyed ``non_field_errors``, ``version`` or ``status``, which a
    form-error mapper took for a field of the request.) A refusal of one of
    ``request_fields``, the fields of the request's body (a ban without its reason), stays the
    400 by field that a malformed request gets."""
    try:
        yield
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict") and set(exc.error_dict) & set(request_fields):
            raise
        raise Conflict(" ".join(exc.messages)) from None


class ValidationErrorWith(exceptions.ValidationError):
    """A 400 by field, as ValidationError, with ``data``: keys that are not a field's messages
    but facts a client acts on (the prompt a duplicate instruction matches), sent beside
    them as they are."""

    def __init__(self, detail: Any, data: Mapping[str, Any]) -> None:
        super().__init__(detail)
        self.data = dict(data)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django ValidationErrors as 400, friendlier parse errors and
    validation errors flat by field."""
    from rest_framework.views import set_rollback

    from apps.core import middleware

    if middleware.is_database_busy(exc):  # SQLite's "database is locked": try again, not a 500
        set_rollback()
        busy = Response({"detail": middleware.database_busy_message()}, status=503)
        return middleware.database_busy_answered(context["request"], busy)
    if isinstance(exc, DjangoValidationError):
        return Response(validation_error_detail(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SuspiciousOperation):
        return _suspicious_request(exc)
    if isinstance(exc, exceptions.ParseError):
        exc = exceptions.ParseError(
            _("The request body could not be read: %(reason)s") % {"reason": exc.detail}
        )
    if isinstance(exc, Http404) or (
        # DRF's bare NotFound() says "Not found."; every 404 says the same thing.
        isinstance(exc, exceptions.NotFound)
        and str(exc.detail) == str(exceptions.NotFound.default_detail)
    ):
        exc = exceptions.NotFound(not_found_detail())
    if isinstance(exc, exceptions.Throttled):
        wait = getattr(exc, "wait", None)
        throttled = exceptions.Throttled(wait=wait)  # the wait also goes out as Retry-After
        # Replaces DRF's detail, which appends "Expected available in N seconds." to any
        # message given: ours names the wait already.
        throttled.detail = exceptions.ErrorDetail(throttled_message(wait), code="throttled")
        exc = throttled
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = messages_by_field(response.data)
        if isinstance(exc, ValidationErrorWith):
            response.data.update(exc.data)
    return response


ApiHandler = Callable[..., Response]


def _body_digest(request: Request) -> bytes:
    """What a retry must repeat. Multipart bodies are hashed field by field and file by file in
    chunks: their boundary changes on every retry, and uploads may exceed the body limit."""
    if not (request.content_type or "").startswith("multipart/"):
        return request.body
    data: Any = request.data
    return idempotency.fields_digest(data.lists())


class _NoFields(RefusesUnknownFields):
    """What an action that takes no body accepts: nothing, or an empty object."""


def takes_no_body(handler: ApiHandler) -> ApiHandler:
    """Hold an action that takes no body (withdraw, cancel, retry, publish…) to the strict
    reading every other request gets: a body that is not JSON is a 400, another media type a
    415, and any field a 400 naming it. An empty body, or ``{}``, is what it expects. Without
    this a malformed request did what a correct one does and answered 200."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        if request.body:
            _NoFields(data=request.data).is_valid(raise_exception=True)
        return handler(view, request, *args, **kwargs)

    wrapper.takes_no_body = True  # type: ignore[attr-defined]  # tests/core/test_openapi.py
    return wrapper


def located(response: Response) -> Response:
    """A 201 or 202 points at what it created or queued: its body's ``url`` as Location."""
    data = response.data
    if (
        response.status_code in (201, 202)
        and isinstance(data, dict)
        and isinstance(data.get("url"), str)
    ):
        # As a plain str: DRF's Hyperlink (a str subclass) is refused by wsgiref, whose
        # server runs `make run` (a 500 after the write was saved).
        response["Location"] = str(data["url"])
    return response


class SelfUrl(serializers.HyperlinkedIdentityField):
    """A resource's own API URL, as ``url``: the Location of the 201 that created it. Give
    the serializer ``context={"request": …}``: DRF's field refuses to guess the host."""

    def __init__(self, view_name: str, lookup_url_kwarg: str, lookup_field: str = "pk") -> None:
        super().__init__(
            view_name=f"api:{view_name}",
            lookup_field=lookup_field,
            lookup_url_kwarg=lookup_url_kwarg,
        )


def idempotent(handler: ApiHandler) -> ApiHandler:
    """Make a DRF POST handler safe to retry with an ``Idempotency-Key`` header.

    The first successful response for (user, key) is stored and returned again for every
    retry; nothing new is created. Without the header the handler runs as usual.
    """

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return located(handler(view, request, *args, **kwargs))
        idempotency.check_key(key)
        fingerprint = idempotency.fingerprint(
            request.method or "POST", request.path, _body_digest(request)
        )

        def run() -> tuple[int, Any]:
            response = handler(view, request, *args, **kwargs)
            return response.status_code, response.data

        status_code, data, replayed = idempotency.run_once(
            user=request.user, key=key, fingerprint=fingerprint, action=run
        )
        # Only the status and body are kept: a created or queued resource's Location is its
        # body's url, first time and replay alike.
        response = located(Response(data, status=status_code))
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    # apps.core.autoschema.AutoSchema documents the header (and the replay's) from this.
    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def _query_parameters(view: Any) -> list[str]:
    """The query parameters ``view``'s GET documents, in their order: those its
    ``@extend_schema(parameters=…)`` lists, a serializer there standing for its fields (as
    drf-spectacular writes them into the schema). Read from the schema class extend_schema
    leaves on the handler, so what is accepted is what is documented."""
    handler = type(view).get
    schema_class = getattr(handler, "kwargs", {}).get("schema")
    if schema_class is None:
        return []
    schema = schema_class()
    schema.view = view
    schema.method = "GET"
    names: list[str] = []
    for parameter in schema.get_override_parameters():
        if isinstance(parameter, OpenApiParameter):
            if (
                parameter.location == OpenApiParameter.QUERY
                and not parameter.response
                and not parameter.exclude
            ):
                names.append(parameter.name)
        elif is_basic_serializer(parameter):
            fields = force_instance(parameter).fields
            names.extend(name for name, field in fields.items() if not field.read_only)
    return list(dict.fromkeys(names))


_documented_queries: dict[type, list[str]] = {}


Handler = TypeVar("Handler", bound=Callable[..., Any])


def refuses_unknown_query(handler: Handler) -> Handler:
    """Hold a GET (and the HEAD answered with it) to the query parameters it documents, as
    bodies are held to their fields: any other is a 400 naming those it takes. Unknown
    parameters were dropped without a word, so ``/api/v1/prompts/?state=complete`` listed
    every prompt, to a client that believed it had filtered."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        takes = _documented_queries.get(type(view))
        if takes is None:
            takes = _documented_queries[type(view)] = _query_parameters(view)
        refused = sorted(name for name in request.query_params if name not in takes)
        if refused:
            message: Any = _("This request takes no query parameters.")
            if takes:
                message = _("Not a parameter of this request; it takes: %(names)s.") % {
                    "names": ", ".join(takes)
                }
            raise exceptions.ValidationError({name: [message] for name in refused})
        return handler(view, request, *args, **kwargs)

    wrapper.refuses_unknown_query = True  # type: ignore[attr-defined]  # tests/core/test_api_consistency.py
    return cast(Handler, wrapper)
