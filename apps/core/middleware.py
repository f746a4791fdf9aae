"""Refuse oversized request bodies, and forms that are not UTF-8 text, before anything parses
them (the API with JSON, pages with the site's 413 page or plain text); give the site's pages a
405 page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

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
