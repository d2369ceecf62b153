"""Issue an API token for a user and print its key (the only time the key is shown)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from exolims.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME and print the key. Only its SHA-256 digest is "
        "stored, so copy the key now. Use it as: Authorization: Token <key>"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name",
            default="Created with manage.py create_token",
            help="What the token is for, shown in the token list.",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Days until it expires (default: API_TOKEN_DEFAULT_DAYS; 0: never expires).",
        )

    def handle(self, *args: Any, username: str, name: str, days: int | None, **options: Any):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; activate the account first.")
        name = name.strip()
        if not name:
            raise CommandError("--name must not be empty.")
        max_name = ApiToken._meta.get_field("name").max_length
        if len(name) > max_name:
            raise CommandError(f"--name is at most {max_name} characters.")
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (never expires) or more.")
        token, key = ApiToken.issue(user=user, name=name, days=days)
        expiry = (
            f"expires {timezone.localtime(token.expires_at):%Y-%m-%d %H:%M} {settings.TIME_ZONE}"
            if token.expires_at
            else "never expires"
        )
        self.stderr.write(f"Token {token.prefix}… for {username} ({expiry}). Copy it now:")
        # The key alone on stdout, so scripts can capture it: KEY=$(manage.py create_token …)
        self.stdout.write(key)
