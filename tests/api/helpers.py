"""Plain helpers shared by the API tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from samples.models import Donor, Study

API = "/api/v1"


def sample_payload(in_study: Study, of_donor: Donor | None, **overrides: Any) -> dict[str, Any]:
    """A valid plasma sample as a script would POST it (overrides may replace study/donor)."""
    values: dict[str, Any] = {
        "study": in_study.pk,
        "donor": of_donor.pk if of_donor else None,
        "fluid_type": "plasma",
        "collected_at": (timezone.now() - timedelta(hours=3)).isoformat(),
        "tube_type": "k2_edta",
        "volume_ml": 4.5,
        "time_to_processing_min": 30,
        "processing_temp_c": 20,
        "centrifugation_steps": [
            {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
            {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
        ],
        "storage_container": "cryotube",
        "storage_temp_c": -80,
        "notes": "registered through the API",
    }
    values.update(overrides)
    return values


def streamed(response) -> str:
    """The body of a (possibly streaming) response as text."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()
