"""Refuse oversized request bodies, and forms that are not UTF-8 text, before anything parses
them (the API with JSON, pages with the site's 413 page or plain text); give the site's pages a
405 page; answer a request that found the database busy with a 503."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)
R = TypeVar("R", bound=HttpResponse)

# Paths that take file uploads get the larger import limit.
_LARGE_BODY_PREFIXES = ("/api/v1/imports/", "/imports/")


def _limit_for(path: str) -> int:
    if path.startswith(_LARGE_BODY_PREFIXES):
        return int(settings.HEARTH_IMPORT_MAX_BYTES)
    return int(settings.HEARTH_MAX_BODY_BYTES)


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = _limit_for(request.path)
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            return JsonResponse(
                {"detail": _("The Content-Length header is not a number.")}, status=400
            )
        if length > limit:
            if not request.path.startswith("/api/"):
                return _too_large_page(request, size=length, limit=limit)
            message = _("The request body is %(size)s bytes; the limit is %(limit)s bytes.") % {
                "size": length,
                "limit": limit,
            }
            return JsonResponse({"detail": message}, status=413)
        return self.get_response(request)


class FormEncodingMiddleware:
    """A URL-encoded form whose text is not in its charset (UTF-8 unless the Content-Type
    names another), raw or percent-escaped (``%FF``), is refused with 400. Django's form
    parsing puts U+FFFD in place of such bytes, so the mangled text was stored as sent (a
    JSON body is refused by its parser, apps.core.parsers). Browsers always send valid
    forms: this meets only hand-made requests. Runs before anything reads ``request.POST``
    (the CSRF check does), on a body BodySizeLimitMiddleware has already bounded."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method in ("POST", "PUT", "PATCH", "DELETE")
            and request.content_type == "application/x-www-form-urlencoded"
        ):
            encoding = request.encoding or settings.DEFAULT_CHARSET
            try:
                text = request.body.decode(encoding)
                parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="strict")
            except (UnicodeDecodeError, LookupError):
                message = _(
                    "The form is not %(charset)s text: some of its bytes are not characters. "
                    "Send it as %(charset)s."
                ) % {"charset": encoding.upper() if encoding.lower() == "utf-8" else encoding}
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": message}, status=400)
                return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
            except RequestDataTooBig:
                pass  # Django's own limit answers it, where the form is read
        return self.get_response(request)


def _too_large_page(request: HttpRequest, *, size: int, limit: int) -> HttpResponse:
    """A page's form over the limit: say so in the site's layout, with a way back to the form
    (its page keeps the typed text as a draft in the browser; static/js/hearth.js)."""
    referer = request.META.get("HTTP_REFERER", "")
    back = (
        referer
        if referer
        and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        else ""
    )
    context = {
        "size": size,
        "limit": limit,
        "back_url": back,
        "upload": request.path.startswith(_LARGE_BODY_PREFIXES),
    }
    return render(request, "413.html", context, status=413)


class MethodNotAllowedPageMiddleware:
    """Django's ``require_POST`` answers a GET with an empty 405: a blank page to a person who
    arrives at an action's address by a link, a reload or a sign-in that returns there (a
    session that expired before "Withdraw" sends the form to the login page, which comes back
    with a GET). Pages get the site's 405 page instead; the API keeps its JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or request.path.startswith("/api/")
            or getattr(response, "streaming", False)
            or response.content
        ):
            return response
        page = render(request, "405.html", status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page


# The Retry-After of a 503 for a busy database: the write that waited for the lock has already
# waited the whole busy timeout, but the writer ahead of it is usually done within seconds.
DATABASE_BUSY_RETRY_SECONDS = 5


def is_database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (SQLITE_BUSY), raw or as Django's
    OperationalError: a write that waited the whole busy timeout (settings' ``timeout``) for
    the database's write lock while other writers held it. Trying again later may succeed."""
    for error in (exc, exc.__cause__):
        if isinstance(error, sqlite3.OperationalError):
            name = getattr(error, "sqlite_errorname", "")
            return name.startswith("SQLITE_BUSY") if name else "database is locked" in str(error)
    return False


def database_busy_message() -> str:
    return _("The site is busy; try again in a few seconds. Nothing was saved.")


def database_busy_answered(request: HttpRequest, response: R) -> R:
    """``response`` (a 503 for a busy database) with its Retry-After, logged as one WARNING
    line instead of Django's ERROR with a traceback.

    Nothing the request was saving is saved: the error is raised where a transaction begins
    (SQLite refuses ``BEGIN IMMEDIATE`` itself, so none began) or, for a write outside one,
    by that statement alone; and on its way out of any ``atomic`` block it rolled that block
    back. Hearth's writes are each one transaction (its services)."""
    response["Retry-After"] = str(DATABASE_BUSY_RETRY_SECONDS)
    logger.warning(
        "%s %s: the database stayed locked by other writers for the whole busy timeout; "
        "answered 503",
        request.method,
        # As Django's own request log: a path may hold any character, a newline too.
        request.path.encode("unicode_escape").decode("ascii"),
    )
    response._has_been_logged = True  # type: ignore[attr-defined]  # by Django's log_response
    return response


class DatabaseBusyMiddleware:
    """A view that raised SQLite's "database is locked" (``is_database_busy``) answers 503 with
    Retry-After and a message a person understands, as JSON under /api/ (DRF's views answer
    it in apps.core.api.exception_handler) and as the site's 503 page elsewhere, instead of
    a 500 with a traceback. The page reads no database (``_standalone.html``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_busy(exception):
            return None
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": database_busy_message()}, status=503)
        else:
            response = render(request, "503.html", status=503)
        return database_busy_answered(request, response)
