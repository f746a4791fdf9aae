from __future__ import annotations

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import resolve
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from apps.accounts.permissions import maintainer_required
from apps.collection import selectors
from apps.core import workers
from apps.core.api import not_found_detail
from apps.training import selectors as training_selectors


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/home.html",
        {"counts": selectors.site_counts(), "models": training_selectors.models_latest()},
    )


@never_cache
@maintainer_required
def system(request: HttpRequest) -> HttpResponse:
    """Maintainers: are the parts up? (``workers.overview``)"""
    return render(request, "core/system.html", workers.overview())


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up; checks nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, and Redis too when it is configured."""
    checks = workers.service_checks()
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 page (404.html), except under /api/: there the API's JSON error, since a URL no
    route matches (a negative or non-numeric id) never reaches DRF's exception handler."""
    if request.path_info.startswith("/api/"):
        return _api_404()
    return defaults.page_not_found(request, exception)


def _api_404() -> JsonResponse:
    return JsonResponse({"detail": not_found_detail()}, status=404)


@csrf_exempt  # as DRF's views are: it changes nothing, and its 403 would be an HTML page
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any /api/ path no route takes: the API's JSON 404, also under DEBUG (Django's debug
    page is HTML). A path that only lacks its trailing slash is sent on with a 308, which,
    unlike CommonMiddleware's 301 (or its DEBUG-time 500 for a POST), a client follows with
    the same method and body."""
    path = request.path_info
    if not path.endswith("/"):
        try:
            match = resolve(path + "/")
        except Http404:
            match = None
        if match is not None and match.url_name != "api-not-found":
            query = request.META.get("QUERY_STRING", "")
            target = request.path + "/" + (f"?{query}" if query else "")
            return HttpResponsePermanentRedirect(target, preserve_request=True)  # 308
    return _api_404()


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page (500.html, which reads no database), except under /api/: there JSON like
    every other API error, so a client that parses the body still can."""
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            {"detail": _("Something went wrong on our side. It has been logged; try again.")},
            status=500,
        )
    return defaults.server_error(request)
