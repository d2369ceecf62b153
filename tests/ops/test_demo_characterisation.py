"""Demo characterisation for `make run`: idempotent records of every entered kind on the demo
preparation, so the tube page and the completeness card have something to show."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from assays.models import (
    DLSMeasurement,
    EVPreparation,
    ImagingRecord,
    MarkerResult,
    ProteinMeasurement,
)


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_demo_characterisation_loads_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call_command("load_demo_data")
    call_command("load_demo_protocols")
    call_command("load_demo_characterisation")
    call_command("load_demo_characterisation")

    tube = EVPreparation.objects.get().aliquot
    markers = MarkerResult.objects.filter(aliquot=tube).select_related("marker")
    assert {m.marker.symbol: m.marker.category for m in markers} == {
        "CD63": "1a",
        "CD9": "1a",
        "TSG101": "2a",
        "APOA1": "3",
        "CANX": "4",
    }
    assert ProteinMeasurement.objects.get(aliquot=tube).total_ug == pytest.approx(18.5)
    imaging = ImagingRecord.objects.get(aliquot=tube)
    assert sorted(imaging.images.values_list("view", flat=True)) == ["close_up", "wide_field"]
    assert all(image.thumbnail for image in imaging.images.all())
    assert DLSMeasurement.objects.filter(aliquot=tube).count() == 1


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_demo_characterisation_refuses_without_debug():
    with pytest.raises(Exception, match="DEBUG is off"):
        call_command("load_demo_characterisation")
