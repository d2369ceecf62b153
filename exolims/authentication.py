"""``Authorization: Token <key>`` checked against the stored digest.

Lookups are reused for a moment within one process (``API_TOKEN_CACHE_SECONDS``, default
2 s; 0 turns it off). Bound on staleness: revoking or deleting a token, or saving or
deleting its user (e.g. deactivating the account), drops the cached lookup at once in the
process that made the change (model signals); every other process sees the change within
``API_TOKEN_CACHE_SECONDS``, and so does this one for changes that send no signal
(``QuerySet.update()``). Expiry is checked on every request. Study roles are never cached:
scoping reads memberships inside each query.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, token_digest

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keys are "exo_" + 43 url-safe characters; anything far longer is not a key of ours.
_MAX_KEY_LENGTH = 200
_TOKEN_FIELDS = {"id", "user_id", "expires_at", "revoked_at", "last_used_at"}
_DEFAULT_CACHE_SECONDS = 2.0
_MAX_CACHED_TOKENS = 1000

# digest -> (monotonic deadline, row). Rows are plain tuples: each request builds its own
# model instances from them, so nothing mutable is shared between requests or threads.
_cached_rows: dict[str, tuple[float, tuple]] = {}
_clock = time.monotonic


@cache
def _lookup_sql(alias: str) -> tuple[str, list[str], list[str]]:
    """``SELECT token…, user… FROM token JOIN user WHERE digest = %s``, built once from the
    models' metadata. It is the query ``select_related("user").only(…)`` would send; written
    out because the ORM spent longer building it than PostgreSQL spends answering it."""
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


def _cache_seconds() -> float:
    return float(getattr(settings, "API_TOKEN_CACHE_SECONDS", _DEFAULT_CACHE_SECONDS))


def _read_row(alias: str, digest: str) -> tuple | None:
    seconds = _cache_seconds()
    now = _clock()
    if seconds > 0:
        cached = _cached_rows.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
    sql, _token_fields, _user_fields = _lookup_sql(alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if seconds > 0 and row is not None:
        if len(_cached_rows) >= _MAX_CACHED_TOKENS:
            _cached_rows.clear()  # rare: more active tokens than that within seconds
        _cached_rows[digest] = (now + seconds, tuple(row))
    return row


def find_token(key: str) -> ApiToken | None:
    """The token with this key, its ``user`` loaded alongside, or None. One indexed query,
    or none while the lookup is cached (see the module docstring for the bound)."""
    alias = router.db_for_read(ApiToken)
    digest = token_digest(key)
    row = _read_row(alias, digest)
    if row is None:
        return None
    _sql, token_fields, user_fields = _lookup_sql(alias)
    split = len(token_fields)
    token = ApiToken.from_db(alias, token_fields, row[:split])
    token.user = get_user_model().from_db(alias, user_fields, row[split:])
    return token


def forget_cached_tokens(*, token_id: int | None = None, user_id: Any = None) -> None:
    """Drop cached lookups of one token, or of every token of one user."""
    if token_id is None and user_id is None:
        return
    token_index = user_index = None
    for digest, (_deadline, row) in list(_cached_rows.items()):
        if token_index is None:
            _sql, token_fields, _user_fields = _lookup_sql(router.db_for_read(ApiToken))
            token_index = token_fields.index("id")
            user_index = token_fields.index("user_id")
        if (token_id is not None and row[token_index] == token_id) or (
            user_id is not None and row[user_index] == user_id
        ):
            _cached_rows.pop(digest, None)


def _token_changed(sender, instance: ApiToken, **kwargs: Any) -> None:
    forget_cached_tokens(token_id=instance.pk)


def _user_changed(sender, instance, **kwargs: Any) -> None:
    forget_cached_tokens(user_id=instance.pk)


post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="token-cache-token-saved")
post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="token-cache-token-deleted")
post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="token-cache-user-saved")
post_delete.connect(_user_changed, sender=get_user_model(), dispatch_uid="token-cache-user-deleted")


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """Looks a key up by its SHA-256 digest (the key itself is never stored).

    Every failure is a 401 that says what is wrong: unknown, revoked or expired key, or an
    inactive account. A malformed header is a 401 too (DRF handles the header shape).
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
            # The cached row still has the old time; re-read it rather than write it again.
            forget_cached_tokens(token_id=token.pk)
        return token.user, token
