from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts import services
from apps.accounts.models import ApiToken, LicenceAcceptance, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff", "is_active", "date_joined", "deleted_at"]
    list_filter = [*BaseUserAdmin.list_filter, "deleted_at"]
    readonly_fields = ["deleted_at"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name", "languages", "attribution", "on_leaderboard")}),
        (
            "Roles",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "deleted_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(LicenceAcceptance)
class LicenceAcceptanceAdmin(admin.ModelAdmin):
    list_display = ["user", "version", "accepted_at"]
    list_filter = ["version"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]


@admin.action(description="Revoke selected API tokens")
def revoke_tokens(
    modeladmin: admin.ModelAdmin[ApiToken], request: HttpRequest, queryset: QuerySet[ApiToken]
) -> None:
    """As the profile page and ``POST /api/v1/tokens/{id}/revoke/`` do, token by token: a
    revoked token stays listed (revoked_at set) and stops working at once."""
    revoked = 0
    for token in queryset.filter(revoked_at__isnull=True):
        services.api_token_revoke(token=token)
        revoked += 1
    modeladmin.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by their owner on the profile page or with ``POST /api/v1/tokens/``,
    the only places that show the secret (once): an admin-made row had no secret, an empty
    hash, and the second one failed the unique hash. Here staff read, rename and revoke."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "name", "prefix"]
    # Whose token it is, its hash and its history are not for editing: moving a token to
    # another account, or clearing revoked_at, would hand out or revive a secret.
    readonly_fields = ["user", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at"]
    actions = [revoke_tokens]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
