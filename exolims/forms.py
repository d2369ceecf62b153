"""Account forms: login with slow-down of repeated failures, and API-token creation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from .throttle import clear_login_failures, client_ip, login_wait_seconds, record_login_failure


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing attempts while recent failures impose a wait.

    A refused attempt never reaches the password check, so guessing during the wait is
    pointless, and it is not recorded, so a person retrying does not lengthen their own wait.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed attempts; try again in %(seconds)s seconds.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        ip_address = client_ip(self.request) if self.request else None
        self._refuse_if_waiting(username, ip_address)
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            if username and getattr(exc, "code", None) == "invalid_login":
                record_login_failure(username=username, ip_address=ip_address)
                self._refuse_if_waiting(username, ip_address)
            raise
        clear_login_failures(username=username)
        return cleaned

    def _refuse_if_waiting(self, username: str, ip_address: str | None) -> None:
        seconds = login_wait_seconds(username=username, ip_address=ip_address)
        if seconds:
            raise forms.ValidationError(
                self.error_messages["throttled"], code="throttled", params={"seconds": seconds}
            )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. “NTA export script”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a token that never expires.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if settings.API_TOKEN_DEFAULT_DAYS:
            self.fields["expires_in_days"].initial = settings.API_TOKEN_DEFAULT_DAYS
