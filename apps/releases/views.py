"""Pages: the releases list (and the create form for maintainers), one release, downloads."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts import roles
from apps.accounts.selectors import request_user
from apps.collection.models import Category
from apps.releases import selectors, services
from apps.releases.models import Release
from apps.training import selectors as training_selectors


def release_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "releases/list.html",
        {
            "releases": selectors.release_list(user=request.user)[:100],
            "can_create": roles.is_maintainer(request.user),
            "categories": Category.choices,
        },
    )


@require_POST
def release_create(request: HttpRequest) -> HttpResponse:
    if not roles.is_maintainer(request.user):
        raise PermissionDenied(_("Only maintainers may cut releases."))
    try:
        release = services.release_create(
            user=request_user(request),
            languages=request.POST.get("languages", ""),
            categories=request.POST.getlist("categories"),
            min_agreement=request.POST.get("min_agreement") or None,
            include_model_written=request.POST.get("include_model_written") == "on",
            test_share=request.POST.get("test_share") or 0.05,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("releases:list")
    messages.success(request, _("Building %(version)s…") % {"version": release.version})
    return redirect("releases:detail", version=release.version)


def _get(request: HttpRequest, version: str) -> Release:
    try:
        return selectors.release_get_for_user(user=request.user, version=version)
    except Release.DoesNotExist:
        raise Http404 from None


def release_detail(request: HttpRequest, version: str) -> HttpResponse:
    release = _get(request, version)
    template = (
        "releases/_progress.html" if request.headers.get("HX-Request") else "releases/detail.html"
    )
    context = {
        "release": release,
        "can_publish": roles.is_maintainer(request.user),
        # Publishing needs HUB_NAMESPACE (release_publish_enqueue refuses without it).
        "hub_publishing": bool(settings.HUB_NAMESPACE),
    }
    if template == "releases/detail.html" and release.is_finished:
        context["models"] = training_selectors.models_for_release(release=release)
    return render(request, template, context)


@require_POST
def release_publish(request: HttpRequest, version: str) -> HttpResponse:
    if not roles.is_maintainer(request.user):
        raise PermissionDenied(_("Only maintainers may publish releases."))
    release = _get(request, version)
    try:
        services.release_publish_enqueue(release=release)
    except services.PublishingUnavailable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Publishing %(version)s to the Hub…") % {"version": version})
    return redirect("releases:detail", version=version)


def release_file(request: HttpRequest, version: str, path: str) -> FileResponse:
    release = _get(request, version)
    try:
        full = selectors.release_file_path(release=release, path=path)
    except FileNotFoundError:
        raise Http404 from None
    return FileResponse(full.open("rb"), as_attachment=True, filename=full.name)
