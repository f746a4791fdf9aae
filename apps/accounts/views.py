from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import AccountDeleteForm, LicenceForm, ProfileForm, TokenForm
from apps.core.forms import add_validation_errors
from apps.core.languages import common_languages
from apps.core.streaming import json_chunks, json_pieces


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/write/"


@login_required
def licence(request: HttpRequest) -> HttpResponse:
    accepted = selectors.licence_accepted(user=request.user)
    form = LicenceForm(request.POST or None, initial={"next": request.GET.get("next", "")})
    if request.method == "POST" and form.is_valid():
        services.licence_accept(user=selectors.request_user(request))
        messages.success(request, _("Thank you. You can contribute now."))
        return redirect(_safe_next(request, form.cleaned_data.get("next")))
    return render(
        request,
        "accounts/licence.html",
        {
            "form": form,
            "accepted": accepted,
            "licence_text": selectors.licence_text(),
            "licence_version": settings.HEARTH_LICENCE_VERSION,
        },
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = selectors.request_user(request)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.profile_update(
                    user=user,
                    display_name=form.cleaned_data["display_name"],
                    languages=form.cleaned_data["languages"],
                    attribution=form.cleaned_data["attribution"],
                    on_leaderboard=form.cleaned_data["on_leaderboard"],
                )
            except ValidationError as exc:
                add_validation_errors(form, exc)
            else:
                messages.success(request, _("Profile saved."))
                return redirect("accounts:profile")
    else:
        form = ProfileForm(
            initial={
                "display_name": user.display_name,
                "languages": ", ".join(user.languages),
                "attribution": user.attribution,
                "on_leaderboard": user.on_leaderboard,
            }
        )
    tokens, older_revoked_tokens = selectors.api_tokens_for_profile(user=user)
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "token_form": TokenForm(),
            "tokens": tokens,
            "older_revoked_tokens": older_revoked_tokens,
            "new_key": request.session.pop("new_token_key", None),
            "languages": common_languages(),
            "licence_accepted": selectors.licence_accepted(user=user),
        },
    )


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            _token, key = services.api_token_create(
                user=selectors.request_user(request), name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            # Shown once on the next page load, then gone from the session.
            request.session["new_token_key"] = key
    else:
        messages.error(request, _("Name the token, e.g. 'laptop script'."))
    return redirect("accounts:profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.api_token_get_for_user(user=request.user, token_id=token_id)
    services.api_token_revoke(token=token)
    messages.success(request, _("Token revoked."))
    return redirect("accounts:profile")


@login_required
def data_export(request: HttpRequest) -> StreamingHttpResponse:
    """Everything the person wrote or chose, as a JSON download, sent as the rows are read
    (the text is JsonResponse's, indented by one space)."""
    data = selectors.account_export(user=selectors.request_user(request))
    encoder = DjangoJSONEncoder(ensure_ascii=False, indent=1)
    response = StreamingHttpResponse(
        json_chunks(json_pieces(data, encoder)), content_type="application/json"
    )
    name = f"hearth-data-{timezone.now():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    """Explain what deleting keeps and erases; delete on a confirmed POST, then sign out."""
    user = selectors.request_user(request)
    form = AccountDeleteForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        services.account_delete(user=user)
        logout(request)
        messages.success(
            request,
            _(
                "Your account is deleted and your prompts and answers are withdrawn. Thank you "
                "for what you gave."
            ),
        )
        return redirect("/")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/delete.html", {"form": form}, status=status)
