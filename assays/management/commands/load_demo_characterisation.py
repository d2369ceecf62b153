"""Demo characterisation of the demo EV preparation (development only): a protein result,
a western-blot marker panel, a TEM record with a wide-field and a close-up image, and a DLS
size result. Run after load_demo_protocols. Idempotent: nothing is added to a preparation
that already has marker results.

No particle count is added on purpose: the completeness card then shows what a lab sees
most often — everything but a single-particle measurement — and links to the upload page.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from PIL import Image, ImageDraw

from assays import characterisation_services as records
from assays.models import EVPreparation, MarkerResult

DEMO_USERNAME = "demo"
# (marker, detection, antibody clone, catalogue) — a typical plasma small-EV blot.
BLOT = [
    ("CD63", "detected", "H5C6", "556019"),
    ("CD9", "detected", "HI9a", "312102"),
    ("TSG101", "detected", "4A10", "ab83"),
    ("APOA1", "detected", "", "ab52945"),
    ("CANX", "not_detected", "", "ab22595"),
]


def vesicle_image(count: int, size: int = 512) -> SimpleUploadedFile:
    """A grey negative-stain-like picture with ``count`` cup-shaped discs (PNG)."""
    image = Image.new("L", (size, size), 170)
    draw = ImageDraw.Draw(image)
    step = size // (int(count**0.5) + 1)
    for index in range(count):
        x = step * (index % int(count**0.5 + 1) + 1)
        y = step * (index // int(count**0.5 + 1) + 1)
        radius = max(6, step // 4)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=60, width=3)
        draw.ellipse((x - radius // 2, y - radius // 2, x + radius // 2, y + radius // 2), fill=120)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(f"tem_{count}.png", buffer.getvalue(), content_type="image/png")


class Command(BaseCommand):
    help = "Add demo characterisation records to the demo EV preparation (DEBUG only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--if-debug", action="store_true")

    def handle(self, *args: Any, force: bool = False, if_debug: bool = False, **opts: Any):
        if not settings.DEBUG and not force:
            if if_debug:
                return
            raise CommandError("DEBUG is off: demo records are for development only (--force).")
        user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
        preparation = EVPreparation.objects.select_related("aliquot").order_by("id").first()
        if user is None or preparation is None:
            raise CommandError("Run load_demo_data and load_demo_protocols first.")
        tube = preparation.aliquot
        if MarkerResult.objects.filter(aliquot=tube).exists():
            self.stdout.write("Demo characterisation already there.")
            return
        when = timezone.now() - timedelta(days=1)
        records.record_protein_measurement(
            user=user,
            aliquot=tube,
            data={"method": "micro_bca", "concentration_ug_per_ml": 185.0, "measured_at": when},
        )
        for symbol, detection, clone, catalogue in BLOT:
            records.record_marker_result(
                user=user,
                aliquot=tube,
                data={
                    "marker": symbol,
                    "method": "western_blot",
                    "detection": detection,
                    "antibody_clone": clone,
                    "antibody_catalogue": catalogue,
                    "antibody_dilution": "1:1000",
                    "lysis_buffer": "RIPA + protease inhibitors",
                    "reducing": symbol not in ("CD63", "CD9"),  # tetraspanins: non-reducing
                    "loading_amount": 10.0,
                    "loading_unit": "ug_protein",
                    "measured_at": when,
                    "notes": "Demo data.",
                },
            )
        records.record_imaging(
            user=user,
            aliquot=tube,
            data={
                "method": "tem",
                "stain": "2% uranyl acetate",
                "n_vesicles_measured": 112,
                "size_mean_nm": 96.0,
                "size_median_nm": 88.0,
                "size_sd_nm": 31.0,
                "size_min_nm": 38.0,
                "size_max_nm": 210.0,
                "bilayer_observed": True,
                "measured_at": when,
            },
            images=[
                (vesicle_image(36), {"view": "wide_field", "scale_nm_per_px": 4.0}),
                (vesicle_image(4), {"view": "close_up", "scale_nm_per_px": 0.8}),
            ],
        )
        records.record_dls_measurement(
            user=user,
            aliquot=tube,
            data={"kind": "size", "z_average_nm": 124.0, "pdi": 0.21, "measured_at": when},
        )
        self.stdout.write(f"Demo characterisation added to {tube.accession}.")
