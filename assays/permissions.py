"""Instrument accounts: the login of an instrument PC, good for uploading and nothing else.

An instrument account is a user with no usable password that an ``Instrument`` points at
(``Instrument.account``; ``manage.py create_instrument_account`` makes one). It signs in
with API tokens only. It may call the actions a view lists in
``instrument_account_actions`` (the instrument-file upload, list, detail and status) and
gets 403 everywhere else.

The rule is enforced twice, from one function:

* ``InstrumentAwareTokenAuthentication`` (the site's token authentication) refuses an
  instrument token on any other view while authenticating, so it holds on every API view,
  including views with their own ``permission_classes``;
* ``InstrumentAccountPermission`` (in ``DEFAULT_PERMISSION_CLASSES``) does the same for
  any other way of signing in.

Recognising an account costs no query for people: a user with a real password is a person
(instrument accounts never get one). Only password-less users are looked up, once per
request. Setting a password on an instrument account would turn it into an ordinary
account, so don't; issue it a new token instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from exolims.authentication import HashedTokenAuthentication
from samples.choices import Role
from samples.models import StudyMembership

DENIED_MESSAGE = "Instrument accounts may only upload instrument files and read their own uploads."
# Memo on the (per-request) user object: the account's Instrument, or None.
_MEMO = "_exolims_instrument"


def instrument_of(user: Any):
    """The Instrument whose account ``user`` is, or None (people, anonymous)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cache = user.__dict__
    if _MEMO in cache:
        return cache[_MEMO]
    password = user.password or ""
    if password and not password.startswith(UNUSABLE_PASSWORD_PREFIX):
        found = None  # signs in with a password: a person
    else:
        from .models import Instrument

        found = Instrument.objects.filter(account_id=user.pk).first()
    cache[_MEMO] = found
    return found


def is_instrument_account(user: Any) -> bool:
    return instrument_of(user) is not None


def instrument_may_use(user: Any, view: Any) -> bool:
    """False when ``user`` is an instrument account and ``view``'s current action is not
    one it lists in ``instrument_account_actions``; True otherwise."""
    if not is_instrument_account(user):
        return True
    allowed = getattr(view, "instrument_account_actions", ()) if view is not None else ()
    return getattr(view, "action", None) in allowed


class InstrumentAccountPermission(BasePermission):
    """Instrument accounts: only the actions a view opts in to (see module docstring)."""

    message = DENIED_MESSAGE

    def has_permission(self, request, view) -> bool:
        return instrument_may_use(request.user, view)


class InstrumentAwareTokenAuthentication(HashedTokenAuthentication):
    """Token authentication that refuses an instrument token (403) on views it may not use,
    before any permission class runs."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            view = (getattr(request, "parser_context", None) or {}).get("view")
            if not instrument_may_use(result[0], view):
                raise exceptions.PermissionDenied(DENIED_MESSAGE)
        return result


def may_upload(user: Any) -> bool:
    """Editors and managers of some study (and superusers, instrument accounts); a viewer
    could upload but never pick a tube to file the results on."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or instrument_of(user) is not None:
        return True
    return StudyMembership.objects.filter(user=user, role__in=[Role.EDITOR, Role.MANAGER]).exists()
