"""Create an instrument with its own login and print an API token for its PC.

    python manage.py create_instrument_account NTA-1 --kind nta --model "NanoSight NS300"

The account has no usable password (it cannot sign in to the pages) and may only upload
instrument files and read its own uploads (assays.permissions). Put the token on the
instrument PC, e.g. for ``watch_instrument_folder --api-url … --token …``.

Running it again for an instrument that already has an account refuses, unless
``--new-token`` asks for another token (e.g. the old one leaked: revoke it at
/api/v1/tokens/ or in the admin).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from exolims.models import ApiToken

from ...choices import InstrumentKind
from ...models import Instrument

USERNAME_PREFIX = "instrument-"


class Command(BaseCommand):
    help = "Create an instrument with its own upload-only account and print its API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Instrument name, e.g. NTA-1 (unique).")
        parser.add_argument(
            "--kind", choices=InstrumentKind.values, help="Kind of instrument (new ones)."
        )
        parser.add_argument("--model", default="", help="e.g. 'NanoSight NS300'.")
        parser.add_argument("--serial", default="", help="Serial number.")
        parser.add_argument("--location", default="", help="Room or lab.")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Days until the token expires; 0 for never. "
            f"Default: API_TOKEN_DEFAULT_DAYS ({settings.API_TOKEN_DEFAULT_DAYS}).",
        )
        parser.add_argument(
            "--new-token",
            action="store_true",
            help="The instrument has an account already: issue it another token.",
        )
        parser.add_argument(
            "--quiet", action="store_true", help="Print only the token (for scripts)."
        )

    def handle(self, *args, **options) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("Give the instrument a name.")
        days = options["days"]
        if days is not None and not 0 <= days <= 3650:
            raise CommandError("--days must be between 0 (never expires) and 3650.")
        with transaction.atomic():
            instrument = Instrument.objects.select_for_update().filter(name__iexact=name).first()
            if instrument is not None and instrument.account_id is not None:
                if not options["new_token"]:
                    raise CommandError(
                        f"{instrument.name} already has the account "
                        f"{instrument.account.username}; use --new-token for another token."
                    )
                account = instrument.account
                created = False
            else:
                if instrument is None:
                    instrument = self._new_instrument(name, options)
                account = self._new_account(instrument)
                instrument.account = account
                instrument.save(update_fields=["account"])
                created = True
            _token, key = ApiToken.issue(
                user=account, name=f"instrument {instrument.name}", days=days
            )

        if options["quiet"]:
            self.stdout.write(key)
            return
        verb = "Created" if created else "New token for"
        self.stdout.write(
            f"{verb} instrument {instrument.name} ({instrument.get_kind_display()}) "
            f"with the upload-only account {account.username}."
        )
        self.stdout.write("API token (shown only now; store it on the instrument PC):")
        self.stdout.write(key)

    @staticmethod
    def _new_instrument(name: str, options: dict) -> Instrument:
        if not options["kind"]:
            raise CommandError(
                f"There is no instrument {name!r} yet; say what it is with --kind "
                f"({', '.join(InstrumentKind.values)})."
            )
        instrument = Instrument(
            name=name,
            kind=options["kind"],
            model=options["model"],
            serial_number=options["serial"],
            location=options["location"],
        )
        try:
            instrument.full_clean(exclude=["account"])
        except Exception as exc:
            raise CommandError(f"Cannot create instrument {name!r}: {exc}") from None
        instrument.save()
        return instrument

    @staticmethod
    def _new_account(instrument: Instrument):
        user_model = get_user_model()
        username = f"{USERNAME_PREFIX}{slugify(instrument.name) or instrument.pk}"[:150]
        if user_model.objects.filter(username=username).exists():
            raise CommandError(
                f"A user named {username} exists already; it is not made an instrument "
                "account automatically. Rename or remove it first."
            )
        user = user_model(username=username, first_name=instrument.name[:150], is_active=True)
        user.set_unusable_password()  # tokens only: assays.permissions relies on this
        user.save()
        return user
