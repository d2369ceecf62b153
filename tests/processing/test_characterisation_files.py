"""Characterisation files through the real pipeline: each format ends as its records, what a
person added survives re-processing, and every real export in ../shared is filed or waits
for review — never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assays import processing
from assays.choices import FileStatus, ProteinAssayStatus
from assays.filing import guess_protein_method
from assays.models import (
    DLSMeasurement,
    FlowMeasurement,
    InstrumentFile,
    ProteinAssay,
    QPCRResult,
    QPCRRun,
)
from assays.models.measurements import FLOW_DATA_MISSING
from assays.protein_services import save_plate_map
from tests.parsers.fcs_synth import build_fcs

DATA = Path(__file__).resolve().parents[1] / "data" / "instruments"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "instrument-samples"


def reload(instrument_file: InstrumentFile) -> InstrumentFile:
    return InstrumentFile.objects.get(pk=instrument_file.pk)


def fcs_for(accession: str, *, events: int = 2000, volume_nl: str = "50000") -> bytes:
    rng = np.random.default_rng(7)
    data = rng.lognormal(3, 0.5, size=(events, 3)).astype("<f4")
    return build_fcs(
        data,
        ["FSC-A", "SSC-A", "FITC-A"],
        extra={"$SMNO": f"{accession} CD9-FITC", "$VOL": volume_nl, "$CYT": "CytoFLEX nano"},
    )


def test_an_fcs_file_becomes_a_flow_measurement_with_events_per_ml(make_file, tube):
    upload = make_file(fcs_for(tube.accession), name="acq_001.fcs")
    processing.process_file(upload.pk)

    upload = reload(upload)
    assert (upload.status, upload.format, upload.aliquot_id) == ("parsed", "fcs", tube.pk)
    flow = FlowMeasurement.objects.get(instrument_file=upload)
    assert flow.event_count == 2000 and flow.cytometer == "CytoFLEX nano"
    assert flow.file_volume_ul == pytest.approx(50.0)  # $VOL is in nL
    assert flow.event_concentration_per_ml == pytest.approx(2000 / 0.05)
    assert [channel["name"] for channel in flow.channels] == ["FSC-A", "SSC-A", "FITC-A"]
    assert flow.channels[0]["median"] > 0


def test_reprocessing_an_fcs_file_keeps_the_miflowcyt_fields_people_entered(
    make_file, tube, members
):
    upload = make_file(fcs_for(tube.accession), name="acq_002.fcs")
    processing.process_file(upload.pk)
    FlowMeasurement.objects.filter(instrument_file=upload).update(
        calibration_beads="Rosetta Calibration", refractive_index_assumed=1.40
    )
    processing.reprocess_file(instrument_file=reload(upload), user=members["editor"])
    processing.process_file(upload.pk)

    flow = FlowMeasurement.objects.get(instrument_file=upload)
    assert reload(upload).status == FileStatus.PARSED
    assert flow.event_count == 2000
    assert (flow.calibration_beads, flow.refractive_index_assumed) == (
        "Rosetta Calibration",
        1.40,
    ), "MIFlowCyt-EV fields entered by a person were lost on re-processing"


def test_a_zetasizer_export_becomes_dls_records_on_the_named_tube(make_file, tube):
    text = (DATA / "zetasizer" / "zeta_us.txt").read_bytes()
    content = text.replace(b"EV pellet PBS", tube.accession.encode() + b" PBS")
    upload = make_file(content, name="zeta.txt")
    processing.process_file(upload.pk)

    assert reload(upload).status == FileStatus.PARSED, reload(upload).error
    records = DLSMeasurement.objects.filter(instrument_file=upload)
    assert records.count() >= 2
    assert all(record.kind == "zeta" and record.aliquot_id == tube.pk for record in records)
    assert records.order_by("id").first().zeta_potential_mv == pytest.approx(-24.6)


def test_a_gen5_plate_waits_for_its_map_then_gives_protein_results(make_file, tube, members):
    upload = make_file((DATA / "gen5" / "bca_results.txt").read_bytes(), name="bca.txt")
    processing.process_file(upload.pk)

    assert reload(upload).status == FileStatus.PARSED, reload(upload).error
    assay = ProteinAssay.objects.get(instrument_file=upload)
    assert assay.status == ProteinAssayStatus.AWAITING_MAP
    assert assay.method == "bca"  # from "BCA 562.prt" / the experiment name
    standards = {w: e for w, e in assay.plate_map.items() if e["role"] == "standard"}
    assert standards["A1"]["concentration"] == 2000
    # The user puts the first sample's wells on the tube and saves the map.
    plate_map = dict(assay.plate_map)
    for well in ("A4", "A5", "A6"):
        plate_map[well] = {"role": "sample", "sample": str(tube.pk), "dilution": 1}
    assay = save_plate_map(assay, user=members["editor"], plate_map=plate_map, curve_model="4pl")

    assert assay.status == ProteinAssayStatus.COMPUTED, assay.fit_error
    assert 0.9 < assay.r_squared <= 1
    result = assay.measurements.get(aliquot=tube)
    assert result.concentration_ug_per_ml is not None and result.concentration_ug_per_ml > 0
    assert result.total_ug == pytest.approx(result.concentration_ug_per_ml * float(tube.volume_ml))
    assert [w["well"] for w in result.wells] == ["A4", "A5", "A6"]

    # The map survives re-processing the file, and the results come back.
    processing.reprocess_file(instrument_file=reload(upload), user=members["editor"])
    processing.process_file(upload.pk)
    assay = ProteinAssay.objects.get(pk=assay.pk)
    assert assay.status == ProteinAssayStatus.COMPUTED
    assert assay.measurements.filter(aliquot=tube).exists()


def test_a_cfx_export_puts_cq_values_on_the_tubes_its_sample_names_give(make_file, tube):
    content = (
        (DATA / "qpcr" / "cfx_maestro_cq.csv")
        .read_bytes()
        .replace(b"EXO-000123", tube.accession.encode())
    )
    upload = make_file(content, name="cq.csv")
    processing.process_file(upload.pk)

    assert reload(upload).status == FileStatus.PARSED, reload(upload).error
    run = QPCRRun.objects.get(instrument_file=upload)
    on_tube = QPCRResult.objects.filter(run=run, aliquot=tube)
    assert on_tube.count() >= 2
    assert {row.study_id for row in on_tube} == {tube.study_id}
    assert on_tube.filter(well="A3").get().cq == pytest.approx(24.9812)
    # Standards carry no tube.
    assert not QPCRResult.objects.filter(run=run, task="standard", aliquot__isnull=False).exists()


def test_protein_method_is_guessed_from_the_export_text():
    assert guess_protein_method("2024 micro-BCA plate") == "micro_bca"
    assert guess_protein_method("Bradford 595") == "bradford"
    assert guess_protein_method("plate 7") == "other"


def _real_files() -> list[Path]:
    if not SHARED.is_dir():
        return []
    return sorted(
        p
        for p in SHARED.rglob("*")
        if p.is_file() and p.name != "SOURCES.md" and p.parent.name != "nta-nanosight"
    )


@pytest.mark.skipif(not _real_files(), reason=f"{SHARED} is absent")
@pytest.mark.parametrize("path", _real_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_characterisation_export_is_filed_or_waits_for_review(path, make_file):
    upload = make_file(path.read_bytes(), name=path.name)
    processing.process_file(upload.pk)
    upload = reload(upload)
    assert upload.status in (FileStatus.PARSED, FileStatus.NEEDS_REVIEW), upload.error
    if upload.status == FileStatus.NEEDS_REVIEW:
        assert "Pick the measured tube" in upload.review_reason


def test_an_fcs_file_cut_off_in_its_data_claims_no_event_concentration(make_file, tube):
    whole = fcs_for(tube.accession, events=2000)
    upload = make_file(whole[: len(whole) // 2], name="acq_cut.fcs")
    processing.process_file(upload.pk)

    flow = FlowMeasurement.objects.get(instrument_file=reload(upload))
    assert flow.event_count == 2000, "the file's $TOT is still the acquisition's event count"
    assert flow.event_concentration_per_ml is None, "events that were not read gave a count/mL"
    assert flow.warnings[0] == FLOW_DATA_MISSING
    assert flow.data_missing and flow.compute_concentration() is None
    assert all(channel["median"] is None for channel in flow.channels)


def test_a_whole_fcs_file_has_no_data_missing_flag(make_file, tube):
    upload = make_file(fcs_for(tube.accession), name="acq_whole.fcs")
    processing.process_file(upload.pk)
    flow = FlowMeasurement.objects.get(instrument_file=reload(upload))
    assert not flow.data_missing and FLOW_DATA_MISSING not in flow.warnings


@pytest.mark.skipif(
    not (SHARED / "fcs" / "eyurtsev__fcsparser__sample_header.fcs").is_file(),
    reason=f"{SHARED} is absent",
)
def test_the_real_header_only_fcs_file_gives_no_event_concentration(make_file, tube):
    path = SHARED / "fcs" / "eyurtsev__fcsparser__sample_header.fcs"
    upload = make_file(path.read_bytes(), name=path.name, aliquot=tube)
    processing.process_file(upload.pk)

    flow = FlowMeasurement.objects.get(instrument_file=reload(upload))
    assert flow.event_count == 20000 and flow.file_volume_ul
    assert flow.event_concentration_per_ml is None
    assert flow.warnings[0] == FLOW_DATA_MISSING
