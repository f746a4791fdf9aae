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
from apps.accounts.limits import allauth_wait, limited_page
from apps.core.forms import add_validation_errors
from apps.core.languages import common_languages
from apps.core.streaming import json_chunks, json_pieces
from apps.core.throttling import throttled_message


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


# allauth's pages that answer 429 over one of its limits, and the limit each counts.
_ALLAUTH_LIMITS = {
    "account_login": "login",
    "account_signup": "signup",
    "account_reset_password": "reset_password",
    "account_reset_password_from_key": "reset_password_from_key",
    "account_change_password": "change_password",
    "account_set_password": "change_password",
    "account_email": "manage_email",
    "account_reauthenticate": "reauthenticate",
}


def rate_limited(request: HttpRequest) -> HttpResponse:
    """allauth's answer over one of its limits: allauth calls ``handler429`` of the root
    URLconf (``apps.urls``), else renders a bare 429 without Retry-After. This says when to
    try again, in words and in Retry-After, and leads back to the page."""
    match = request.resolver_match
    action = _ALLAUTH_LIMITS.get(match.url_name or "") if match else None
    wait = None
    if action is not None:
        # The password reset also counts per address asked for (allauth's key: lower case).
        email = request.POST.get("email", "").strip().lower()
        key = email if action == "reset_password" and email else None
        wait = allauth_wait(request, action=action, key=key)
    return limited_page(
        request,
        wait=wait,
        message=throttled_message(wait),
        what_now=_("Nothing was done: send it again then."),
        back_url=request.path,
        back_label=_("Back"),
    )
