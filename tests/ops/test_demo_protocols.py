"""Demo protocols for `make run`: idempotent, published, and a run that made an EV preparation."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from assays.models import EVPreparation, IsolationProtocol, IsolationRun, Rotor


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_demo_protocols_load_once_and_record_a_run():
    call_command("load_demo_data")
    call_command("load_demo_protocols")
    call_command("load_demo_protocols")
    assert Rotor.objects.count() == 2
    assert IsolationProtocol.objects.count() == 2
    assert all(p.versions.get().status == "published" for p in IsolationProtocol.objects.all())
    assert IsolationRun.objects.count() == 1
    preparation = EVPreparation.objects.get()
    assert preparation.aliquot.kind == "ev_preparation"
    assert preparation.aliquot.parent_id == preparation.source.aliquot_id
