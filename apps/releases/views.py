"""Pages: the releases list (and the create form for maintainers), one release (publish and
rebuild for maintainers), downloads."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HTMX_STOP_POLLING  # htmx stops polling, and still swaps

from apps.accounts import roles
from apps.accounts.selectors import request_user
from apps.core import idempotency
from apps.core.downloads import download, saved_name
from apps.core.forms import add_validation_errors
from apps.core.hub import hub_page
from apps.releases import selectors, services
from apps.releases.forms import ReleaseCreateForm
from apps.releases.models import PublishState, Release
from apps.training import selectors as training_selectors


def _list_page(
    request: HttpRequest, *, form: ReleaseCreateForm | None = None, status: int = 200
) -> HttpResponse:
    releases = selectors.release_list(user=request.user)[:100]
    can_create = roles.is_maintainer(request.user)
    if form is None and can_create:
        # As the page's language writes numbers (0,05 on a Spanish page): the form reads both.
        form = ReleaseCreateForm(
            initial={"test_share": formats.localize(selectors.suggested_test_share_shown())}
        )
    return render(
        request,
        "releases/list.html",
        {
            # Each release with the sft split it has no rows in, if any (it cannot be trained).
            "releases": [
                (release, selectors.release_empty_split(release=release)) for release in releases
            ],
            "can_create": can_create,
            "form": form,
        },
        status=status,
    )


def release_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request)


def release_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # The address a refused form came back at, opened again: the form is on /releases/.
        return redirect(reverse("releases:list") + "#cut")
    if not roles.is_maintainer(request.user):
        raise PermissionDenied(_("Only maintainers may cut releases."))
    form = ReleaseCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data

        def create() -> tuple[int, Any]:
            release = services.release_create(
                user=request_user(request),
                languages=data["languages"],
                categories=data["categories"],
                min_agreement=data["min_agreement"] or None,
                include_model_written=data["include_model_written"],
                # Left empty: the share the form suggests, as the API does without one.
                test_share=data["test_share"] or selectors.suggested_test_share_shown(),
            )
            return 201, {"version": release.version}

        try:
            # A second post of the same rendered form (double click, resent page) leads to
            # the release the first one cut.
            _status, created, _replayed = idempotency.form_once(
                request, data["idempotency_key"], create
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            # No banner: the release page says it is building, and shows it when it is done.
            return redirect("releases:detail", version=created["version"])
    # The form again, as typed, each error next to its field (the page focuses the first).
    return _list_page(request, form=form, status=400)


def _get(request: HttpRequest, version: str) -> Release:
    try:
        return selectors.release_get_for_user(user=request.user, version=version)
    except Release.DoesNotExist:
        raise Http404 from None


def release_detail(request: HttpRequest, version: str) -> HttpResponse:
    """The release page. While it builds or is being published, htmx asks for it every two
    seconds (HX-Request) and gets the status line, and once the build has ended the page's
    content too (out of band); once neither is in progress, with 286 so it stops asking."""
    release = _get(request, version)
    polled = bool(request.headers.get("HX-Request"))
    context: dict[str, Any] = {
        "release": release,
        "can_publish": roles.is_maintainer(request.user),
        # Publishing needs HUB_NAMESPACE (release_publish_enqueue refuses without it).
        "hub_publishing": bool(settings.HUB_NAMESPACE),
        "warnings": selectors.release_split_warnings(
            release=release, with_advice=roles.is_maintainer(request.user)
        ),
        "trainable": selectors.release_is_trainable(release=release),
    }
    if release.is_finished:
        context["hub_url"] = _hub_url(release)
        context["models"] = training_selectors.models_for_release(release=release)
        context["loading_code"] = _loading_code(request, release)
        context["composition"] = selectors.release_composition(release=release)
    if not polled:
        return render(request, "releases/detail.html", context)
    return render(
        request,
        "releases/_poll.html",
        context,
        status=200 if release.in_progress else HTMX_STOP_POLLING,
    )


def _hub_url(release: Release) -> str:
    """The release's files on the Hub at its tag ('' when it is not there), as a run's model
    is linked: on HF_ENDPOINT's Hub when set."""
    if not (release.hub_repo and release.hub_revision):
        return ""
    return hub_page(f"datasets/{release.hub_repo}/tree/{release.version}")


def _loading_code(request: HttpRequest, release: Release) -> str:
    """Python that loads the release's sft rows as it stands: from its Hub repo at its tag
    once published, else from this site's downloads of its Parquet files (public for a
    finished release). Splits with no rows are left out: ``datasets`` refuses an empty one."""
    lines = ["from datasets import load_dataset"]
    if release.hub_repo:
        lines.append(
            f'sft = load_dataset({json.dumps(release.hub_repo)}, "sft", '
            f"revision={json.dumps(release.version)})"
        )
        return "\n".join(lines)
    rows = (release.counts or {}).get("rows", {}).get("sft", {})
    data_files: dict[str, list[str]] = {}
    for split in ("train", "test"):
        urls = [
            request.build_absolute_uri(reverse("releases:file", args=[release.version, path]))
            for path in sorted(entry["path"] for entry in release.files)
            if path.startswith(f"data/sft/{split}-") and path.endswith(".parquet")
        ]
        if rows.get(split) and urls:
            data_files[split] = urls
    if not data_files:
        lines.append("# This release has no sft rows to load.")
        return "\n".join(lines)
    lines.append('sft = load_dataset("parquet", data_files={')
    for split, urls in data_files.items():
        if len(urls) == 1:
            lines.append(f"    {json.dumps(split)}: {json.dumps(urls[0])},")
        else:
            lines.append(f"    {json.dumps(split)}: [")
            lines += [f"        {json.dumps(url)}," for url in urls]
            lines.append("    ],")
    lines.append("})")
    return "\n".join(lines)


@require_POST
def release_publish(request: HttpRequest, version: str) -> HttpResponse:
    if not roles.is_maintainer(request.user):
        raise PermissionDenied(_("Only maintainers may publish releases."))
    release = _get(request, version)
    if not release.is_finished:
        messages.error(request, _("Only a ready release is published."))
        return redirect("releases:detail", version=version)
    try:
        queued = services.release_publish_enqueue(release=release)
    except services.PublishingUnavailable as exc:
        messages.error(request, str(exc))
    else:
        if queued:
            messages.success(
                request, _("Publishing %(version)s to the Hub…") % {"version": version}
            )
        elif release.publish_state == PublishState.PUBLISHED:
            messages.info(request, _("%(version)s is published already.") % {"version": version})
        else:
            messages.info(request, services.release_publish_refusal(release=release))
    return redirect("releases:detail", version=version)


@require_POST
def release_rebuild(request: HttpRequest, version: str) -> HttpResponse:
    """Build a failed release again; a second click while it builds queues nothing."""
    if not roles.is_maintainer(request.user):
        raise PermissionDenied(_("Only maintainers may rebuild releases."))
    release = _get(request, version)
    try:
        locked, queued = services.release_rebuild_failed(
            user=request_user(request), release=release
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        # Queued: the page says it is building. Not: say why nothing changed, and when it will.
        if not queued:
            messages.info(request, services.release_rebuild_refusal(release=locked))
    return redirect("releases:detail", version=version)


def release_file(request: HttpRequest, version: str, path: str) -> HttpResponseBase:
    release = _get(request, version)
    try:
        full = selectors.release_file_path(release=release, path=path)
    except FileNotFoundError:
        raise Http404 from None
    return download(request, full, saved_name(f"hearth-{release.version}", path))
