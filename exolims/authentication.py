"""``Authorization: Token <key>`` checked against the stored digest."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, token_digest

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keys are "exo_" + 43 url-safe characters; anything far longer is not a key of ours.
_MAX_KEY_LENGTH = 200
_TOKEN_FIELDS = {"id", "user_id", "expires_at", "revoked_at", "last_used_at"}


@cache
def _lookup_sql(alias: str) -> tuple[str, list[str], list[str]]:
    """``SELECT token…, user… FROM token JOIN user WHERE digest = %s``, built once from the
    models' metadata. It is the query ``select_related("user").only(…)`` would send; written
    out because the ORM spent more time building it than PostgreSQL spends answering it."""
    quote = connections[alias].ops.quote_name
    user_model = get_user_model()
    # Model.from_db() wants a partial row in the model's field order.
    token_fields = [f for f in ApiToken._meta.concrete_fields if f.attname in _TOKEN_FIELDS]
    token_columns = [f"t.{quote(field.column)}" for field in token_fields]
    user_fields = [field.attname for field in user_model._meta.concrete_fields]
    user_columns = [f"u.{quote(field.column)}" for field in user_model._meta.concrete_fields]
    sql = (
        f"SELECT {', '.join(token_columns + user_columns)} "
        f"FROM {quote(ApiToken._meta.db_table)} t "
        f"JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = "
        f"t.{quote(ApiToken._meta.get_field('user').column)} "
        f"WHERE t.{quote(ApiToken._meta.get_field('digest').column)} = %s"
    )
    return sql, [field.attname for field in token_fields], user_fields


def find_token(key: str) -> ApiToken | None:
    """The token with this key (its ``user`` loaded alongside) in one indexed query, or None."""
    alias = router.db_for_read(ApiToken)
    sql, token_fields, user_fields = _lookup_sql(alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [token_digest(key)])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(token_fields)
    token = ApiToken.from_db(alias, token_fields, row[:split])
    token.user = get_user_model().from_db(alias, user_fields, row[split:])
    return token


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """Looks a key up by its SHA-256 digest (the key itself is never stored).

    Every failure is a 401 that says what is wrong: unknown, revoked or expired key, or an
    inactive account. A malformed header is a 401 too (DRF handles the header shape). The
    token and its user are read fresh on every request (no cache), so a revocation or a
    deactivated account takes effect on the very next request in every process.
    """

    keyword = "Token"

    def authenticate_credentials(self, key: str):
        if len(key) > _MAX_KEY_LENGTH:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = find_token(key)
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
