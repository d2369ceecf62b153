"""Admin for API tokens and failed logins: tokens can be inspected and revoked, never read."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import ApiToken, LoginFailure


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "expires_at", "revoked_at", "active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at", "created_at"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user"]
    # The key exists only once, when issued; the admin shows its digest and prefix read-only.
    readonly_fields = ["user", "prefix", "digest", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "name", "prefix", "digest", "expires_at", "created_at", "last_used_at"]
    actions = ["revoke_tokens"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key can only be shown at creation: use the tokens page or `manage.py create_token`.
        return False

    @admin.display(boolean=True, description="active")
    def active(self, token: ApiToken) -> bool:
        return token.is_active

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ["username", "ip_address", "at"]
    search_fields = ["username", "ip_address"]
    list_filter = ["at"]
    date_hierarchy = "at"
    readonly_fields = ["username", "ip_address", "at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
