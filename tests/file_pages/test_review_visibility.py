"""Files from instrument accounts whose tube is unknown must reach the lab's editors."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from assays.models import Instrument, InstrumentFile

pytestmark = pytest.mark.django_db


def test_unassigned_instrument_file_visible_to_editors_not_viewers(members):
    account = get_user_model().objects.create_user("ns300-pc")
    Instrument.objects.create(name="NS300", kind="nta", account=account)
    pending = InstrumentFile.objects.create(
        file=ContentFile(b"x", name="a.csv"),
        original_name="a.csv",
        size_bytes=1,
        sha256="0" * 64,
        uploaded_by=account,
        status="needs_review",
    )
    assert pending in InstrumentFile.objects.visible_to(members["editor"])
    assert pending in InstrumentFile.objects.visible_to(members["manager"])
    assert pending not in InstrumentFile.objects.visible_to(members["viewer"])
    assert pending not in InstrumentFile.objects.visible_to(members["outsider"])
    assert pending in InstrumentFile.objects.visible_to(account)
