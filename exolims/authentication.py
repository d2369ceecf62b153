"""``Authorization: Token <key>`` checked against the stored digest."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, token_digest

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keys are "exo_" + 43 url-safe characters; anything far longer is not a key of ours.
_MAX_KEY_LENGTH = 200


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """Looks a key up by its SHA-256 digest (the key itself is never stored).

    Every failure is a 401 that says what is wrong: unknown, revoked or expired key, or an
    inactive account. A malformed header is a 401 too (DRF handles the header shape).
    """

    keyword = "Token"

    def authenticate_credentials(self, key: str):
        if len(key) > _MAX_KEY_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = (
            ApiToken.objects.select_related("user")
            .filter(digest=token_digest(key))
            .only("id", "expires_at", "revoked_at", "last_used_at", "user")
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Token revoked; create a new one.")
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                f"Token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; create a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
