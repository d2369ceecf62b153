"""Processing with the real registry: NanoSight exports end as stored, flagged results."""

from __future__ import annotations

import importlib.util

import pytest

from assays import processing
from assays.choices import FileStatus
from assays.models import InstrumentFile, ParticleMeasurement

from .nta import nta_summary

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("assays.parsers.nanosight") is None,
    reason="the NanoSight parser (assays/parsers/nanosight.py) is not there yet",
)


def test_an_nta_export_naming_a_tube_is_filed_on_it(make_file, tube):
    upload = make_file(
        nta_summary(sample=f"{tube.accession} 1:1000", concentration=3.0e9, spread=0.1),
        name="EXO run-ExperimentSummary.csv",
    )
    processing.process_file(upload.pk)

    upload = InstrumentFile.objects.get(pk=upload.pk)
    assert (upload.status, upload.format, upload.aliquot_id) == (
        FileStatus.PARSED,
        "nta_nanosight",
        tube.pk,
    )
    measurement = ParticleMeasurement.objects.get(instrument_file=upload)
    assert measurement.method == "NTA"
    assert measurement.concentration_per_ml == pytest.approx(3.0e9, rel=0.01)
    assert measurement.replicates == 5
    assert measurement.replicate_cv_pct == pytest.approx(15.8, abs=0.2)
    assert measurement.mode_nm == 110.0
    assert measurement.dilution_factor is None
    distribution = measurement.distribution
    # 1000 one-nm bins in the file; only the populated range (plus one empty bin) is kept.
    assert 50 < len(distribution["bin_centres_nm"]) < 1000
    assert len(distribution["replicates"]) == 5
    assert sum(distribution["mean"]) == pytest.approx(3.0e9, rel=0.01)
    assert measurement.flags == []


def test_instrument_warnings_and_few_videos_are_flagged(make_file, tube):
    upload = make_file(
        nta_summary(sample="unlabelled", videos=2, warning="Unreliable", dilution="1.00e+03"),
        aliquot=tube,
    )
    processing.process_file(upload.pk)
    measurement = ParticleMeasurement.objects.get(instrument_file__pk=upload.pk)
    assert measurement.dilution_factor == 1000.0
    assert [flag["code"] for flag in measurement.flags] == ["instrument_warnings", "few_videos"]
    assert "Unreliable" in measurement.flags[0]["message"]
