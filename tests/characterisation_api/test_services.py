"""assays.characterisation_services: each writer's happy path, who may call it, and bad input
that leaves nothing behind (no row, no file)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from PIL import Image

from assays import characterisation_services as services
from assays import protein_services
from assays.choices import ProteinAssayStatus
from assays.models import (
    DLSMeasurement,
    ImagingImage,
    ImagingRecord,
    Marker,
    MarkerResult,
    ProteinAssay,
    ProteinMeasurement,
    QPCRResult,
    QPCRRun,
)

from .conftest import (
    IMAGEJ_ONE_BAND,
    IMAGEJ_THREE_BANDS,
    png_bytes,
    tiff16_bytes,
    upload,
)
from .plates import bca_plate, flat_plate

pytestmark = pytest.mark.django_db


def stored_files(media: Path) -> list[Path]:
    return [path for path in Path(media).rglob("*") if path.is_file()] if media.exists() else []


def western_blot(**extra) -> dict:
    return {"marker": "CD63", "method": "western_blot", "detection": "detected", **extra}


# --- Markers --------------------------------------------------------------------------------


def test_marker_for_finds_symbols_and_aliases_in_any_case():
    assert services.marker_for("cd63").symbol == "CD63"
    alix = services.marker_for("ALIX")
    assert (alix.symbol, alix.category) == ("PDCD6IP", "2a")


def test_a_family_member_gets_its_own_row_with_the_familys_category():
    assert not Marker.objects.filter(symbol="ITGB1").exists()
    member = services.marker_for("itgb1")
    assert (member.symbol, member.category, member.source) == ("ITGB1", "1a", "family ITGB*")
    assert services.marker_for("ITGB1").pk == member.pk
    assert Marker.objects.filter(symbol="ITGB1").count() == 1


def test_an_unknown_marker_names_the_fix():
    with pytest.raises(ValidationError) as caught:
        services.marker_for("NOPE1")
    assert caught.value.message_dict == {
        "marker": [
            "Unknown marker 'NOPE1'. Add it to the marker vocabulary with its MISEV category first."
        ]
    }


def test_managers_extend_the_vocabulary_and_aliases_must_be_unique(members):
    marker = services.save_marker(
        user=members["manager"],
        data={"symbol": "cd47", "name": "CD47 molecule", "aliases": ["iap"], "category": "1a"},
    )
    assert (marker.symbol, marker.aliases, marker.created_by) == (
        "CD47",
        ["IAP"],
        members["manager"],
    )
    with pytest.raises(ValidationError) as caught:
        services.save_marker(
            user=members["manager"], data={"symbol": "CD46", "aliases": ["ALIX"], "category": "1a"}
        )
    assert "ALIX" in caught.value.message_dict["aliases"][0]
    assert not Marker.objects.filter(symbol="CD46").exists()
    with pytest.raises(PermissionDenied):
        services.save_marker(user=members["editor"], data={"symbol": "CD46", "category": "1a"})


def test_used_and_builtin_markers_cannot_be_deleted(members, tube):
    custom = services.save_marker(
        user=members["manager"], data={"symbol": "CD47", "category": "1a"}
    )
    services.record_marker_result(
        user=members["editor"], aliquot=tube, data=western_blot(marker="CD47")
    )
    with pytest.raises(services.StateConflict, match="used by 1 marker result"):
        services.delete_marker(user=members["manager"], marker=custom)
    with pytest.raises(services.StateConflict, match="built-in"):
        services.delete_marker(user=members["manager"], marker=Marker.objects.get(symbol="CD9"))
    unused = services.save_marker(
        user=members["manager"], data={"symbol": "CD46", "category": "1a"}
    )
    services.delete_marker(user=members["manager"], marker=unused)
    assert not Marker.objects.filter(symbol="CD46").exists()


# --- Protein --------------------------------------------------------------------------------


def test_an_entered_protein_result_takes_the_tube_volume_for_its_total(members, tube):
    measured = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    result = services.record_protein_measurement(
        user=members["editor"],
        aliquot=tube,
        data={
            "method": "qubit",
            "concentration_ug_per_ml": "250.5",
            "measured_at": measured,
            "controls": [{"kind": "blank", "description": "PBS"}],
        },
    )
    result.refresh_from_db()
    assert (result.study_id, result.created_by, result.operator) == (
        tube.study_id,
        members["editor"],
        members["editor"],
    )
    assert result.concentration_ug_per_ml == 250.5
    assert float(result.volume_ml) == 1.0 and result.total_ug == pytest.approx(250.5)
    assert result.measured_at == measured and result.assay_id is None


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_only_editors_record_protein(members, tube, role):
    with pytest.raises(PermissionDenied):
        services.record_protein_measurement(
            user=members[role],
            aliquot=tube,
            data={"method": "bca", "concentration_ug_per_ml": 10},
        )
    assert not ProteinMeasurement.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"dilution_factor": 0.5}, "dilution_factor", "Dilution factor must be at least 1."),
        (
            {"concentration_ug_per_ml": -3},
            "concentration_ug_per_ml",
            "Protein concentration cannot be negative.",
        ),
        (
            {"concentration_ug_per_ml": float("nan")},
            "concentration_ug_per_ml",
            "Must be a finite number.",
        ),
        ({"method": "guess"}, "method", "Value 'guess' is not a valid choice."),
        ({"colour": "blue"}, "colour", "Not a field you can set on this record."),
        (
            {"concentration_ug_per_ml": None},
            "concentration_ug_per_ml",
            "Give the protein concentration in µg/mL.",
        ),
        ({"controls": [{"kind": "magic"}]}, "controls", None),
    ],
)
def test_bad_protein_input_names_the_field_and_saves_nothing(members, tube, data, field, message):
    with pytest.raises(ValidationError) as caught:
        services.record_protein_measurement(
            user=members["editor"],
            aliquot=tube,
            data={"method": "bca", "concentration_ug_per_ml": 10, **data},
        )
    assert field in caught.value.message_dict
    if message:
        assert message in caught.value.message_dict[field]
    assert not ProteinMeasurement.objects.exists()


def test_a_hand_typed_plate_is_quantified_by_its_map(members, tubes):
    values, plate_map = bca_plate({tubes[0].pk: (600.0, 1.0), tubes[1].pk: (1300.0, 10.0)})
    assay = services.create_plate(
        user=members["editor"], method="bca", name="BCA 1", values=values, wavelength_nm=562
    )
    assert assay.status == ProteinAssayStatus.AWAITING_MAP
    assert assay.reads[0]["wavelength_nm"] == 562.0 and len(assay.values) == len(values)
    assay = protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    assert assay.status == ProteinAssayStatus.COMPUTED and assay.study_id == tubes[0].study_id
    results = {m.aliquot_id: m for m in assay.measurements.all()}
    assert results[tubes[0].pk].concentration_ug_per_ml == pytest.approx(600.0)
    assert results[tubes[1].pk].concentration_ug_per_ml == pytest.approx(1300.0)
    assert results[tubes[1].pk].dilution_factor == 10.0

    derived = results[tubes[0].pk]
    with pytest.raises(services.StateConflict):
        services.update_protein_measurement(
            user=members["editor"], measurement=derived, data={"notes": "x"}
        )
    with pytest.raises(services.StateConflict):
        services.delete_record(user=members["editor"], record=derived)


def test_a_flat_plate_is_stored_as_failed_with_the_reason(members, tube):
    values, plate_map = flat_plate(tube.pk)
    assay = services.create_plate(user=members["editor"], method="bca", name="", values=values)
    assay = protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    assert assay.status == ProteinAssayStatus.FIT_FAILED
    assert "same response" in assay.fit_error
    assert not assay.measurements.exists()


def test_plates_need_an_editor_and_readable_values(members):
    with pytest.raises(PermissionDenied):
        services.create_plate(user=members["viewer"], method="bca", name="x", values={"A1": 1})
    with pytest.raises(ValidationError) as caught:
        services.create_plate(
            user=members["editor"],
            method="bca",
            name="x",
            values={"A1": 0.1, "Z9": 0.2, "A13": 0.3, "B2": "abc"},
        )
    assert caught.value.message_dict["values"] == [
        "Z9: not a well of a 8×12 plate",
        "A13: not a well of a 8×12 plate",
        "B2: 'abc' is not a number",
    ]
    with pytest.raises(ValidationError) as caught:
        services.create_plate(user=members["editor"], method="nope", name="x", values={"A1": 1})
    assert set(caught.value.message_dict) == {"method"}
    assert not ProteinAssay.objects.exists()


# --- Marker results -------------------------------------------------------------------------


def test_a_marker_result_keeps_its_blot_and_densitometry(members, tube, media):
    result = services.record_marker_result(
        user=members["editor"],
        aliquot=tube,
        data=western_blot(marker="alix", antibody_rrid="AB_2138153"),
        blot_image=upload("blot.png", png_bytes()),
        densitometry_file=upload("Results.csv", IMAGEJ_ONE_BAND),
    )
    result.refresh_from_db()
    assert result.marker.symbol == "PDCD6IP" and result.study_id == tube.study_id
    assert result.blot_image.name.endswith(".png")
    assert Path(result.blot_image.path).read_bytes() == png_bytes()
    assert result.densitometry["value_column"] == "IntDen"
    assert result.densitometry["columns"] == ["#", "Label", "Area", "Mean", "IntDen", "RawIntDen"]
    assert result.densitometry["rows"][0]["Label"] == "blot.tif:CD63"
    assert result.band_intensity == 180600.0


def test_several_bands_are_stored_without_picking_one(members, tube):
    result = services.record_marker_result(
        user=members["editor"],
        aliquot=tube,
        data=western_blot(),
        densitometry_file=upload("Results.xls", IMAGEJ_THREE_BANDS),
    )
    assert len(result.densitometry["rows"]) == 3 and result.band_intensity is None
    assert [band["value"] for band in result.densitometry["bands"]] == [100000, 120000, 80000]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"data": western_blot(marker="NOPE1")}, "marker"),
        ({"data": western_blot(marker="ITGB*")}, "marker"),
        ({"data": western_blot(antibody_rrid="12345")}, "antibody_rrid"),
        ({"data": western_blot(loading_amount=10)}, "loading_unit"),
        ({"data": western_blot(), "blot_image": upload("blot.png", b"not an image")}, "blot_image"),
        (
            {"data": western_blot(), "densitometry_file": upload("r.csv", b"a,b\n1,2\n")},
            "densitometry_file",
        ),
    ],
)
def test_bad_marker_results_save_nothing(members, tube, media, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        services.record_marker_result(
            user=members["editor"],
            aliquot=tube,
            blot_image=kwargs.get("blot_image"),
            densitometry_file=kwargs.get("densitometry_file"),
            data=kwargs["data"],
        )
    assert field in caught.value.message_dict, caught.value.message_dict
    assert not MarkerResult.objects.exists()
    assert stored_files(media) == []


def test_a_bad_file_fails_after_a_good_one_leaves_no_file(members, tube, media):
    with pytest.raises(ValidationError):
        services.record_marker_result(
            user=members["editor"],
            aliquot=tube,
            data=western_blot(),
            blot_image=upload("blot.png", png_bytes()),
            densitometry_file=upload("r.csv", b"not,imagej\n1,2\n"),
        )
    assert stored_files(media) == [] and not MarkerResult.objects.exists()


def test_a_viewer_cannot_record_a_marker(members, tube):
    with pytest.raises(PermissionDenied):
        services.record_marker_result(user=members["viewer"], aliquot=tube, data=western_blot())


def test_deleting_a_marker_result_removes_its_blot_after_commit(
    members, tube, media, django_capture_on_commit_callbacks
):
    result = services.record_marker_result(
        user=members["editor"],
        aliquot=tube,
        data=western_blot(),
        blot_image=upload("blot.png", png_bytes()),
    )
    path = Path(result.blot_image.path)
    with pytest.raises(PermissionDenied):
        services.delete_record(user=members["viewer"], record=result)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_record(user=members["editor"], record=result)
    assert not MarkerResult.objects.exists() and not path.exists()


# --- Imaging --------------------------------------------------------------------------------


def test_imaging_stores_images_with_thumbnails_including_16_bit_tiff(members, tube):
    record = services.record_imaging(
        user=members["editor"],
        aliquot=tube,
        data={"method": "tem", "stain": "2% uranyl acetate", "bilayer_observed": True},
        images=[
            (
                upload("wide.png", png_bytes((640, 480))),
                {"view": "wide_field", "scale_nm_per_px": 2.5},
            ),
            (
                upload("close.tif", tiff16_bytes((800, 600))),
                {"view": "close_up", "scale_bar_nm": 100},
            ),
        ],
    )
    images = {image.original_name: image for image in record.images.all()}
    assert set(images) == {"wide.png", "close.tif"}
    tiff = images["close.tif"]
    assert (tiff.width_px, tiff.height_px, len(tiff.sha256)) == (800, 600, 64)
    with Image.open(tiff.thumbnail.path) as thumb:
        assert thumb.format == "PNG" and max(thumb.size) == 320
        low, high = thumb.convert("L").getextrema()
    assert high - low > 200  # the narrow 16-bit band was stretched, not cut to black
    with Image.open(images["wide.png"].thumbnail.path) as thumb:
        assert thumb.size == (320, 240)


@pytest.mark.parametrize(
    ("image", "fields", "message"),
    [
        (
            upload("broken.tif", b"II*\x00garbage"),
            {"view": "close_up", "scale_bar_nm": 100},
            "broken.tif",
        ),
        (upload("wide.png", png_bytes()), {"view": "close_up"}, "wide.png"),
        (upload("wide.png", png_bytes()), {"view": "sideways", "scale_bar_nm": 5}, "wide.png"),
        (upload("empty.png", b""), {"view": "close_up", "scale_bar_nm": 100}, "empty.png"),
    ],
)
def test_a_bad_image_names_the_file_and_saves_nothing(members, tube, media, image, fields, message):
    with pytest.raises(ValidationError) as caught:
        services.record_imaging(
            user=members["editor"],
            aliquot=tube,
            data={"method": "tem"},
            images=[
                (upload("good.png", png_bytes()), {"view": "wide_field", "scale_bar_nm": 200}),
                (image, fields),
            ],
        )
    assert any(message in line for line in caught.value.message_dict["images"])
    assert not ImagingRecord.objects.exists() and not ImagingImage.objects.exists()
    assert stored_files(media) == []


def test_images_are_added_by_editors_only(members, tube):
    record = services.record_imaging(
        user=members["editor"], aliquot=tube, data={"method": "cryo_em"}, images=[]
    )
    image = services.add_image(
        user=members["editor"],
        record=record,
        upload=upload("more.png", png_bytes()),
        view="close_up",
        scale_nm_per_px=0.8,
        caption="bilayer visible",
    )
    assert image.record_id == record.pk and image.thumbnail
    with pytest.raises(PermissionDenied):
        services.add_image(
            user=members["viewer"],
            record=record,
            upload=upload("x.png", png_bytes()),
            view="close_up",
            scale_nm_per_px=1,
        )
    assert record.images.count() == 1


# --- DLS and flow ---------------------------------------------------------------------------


def test_dls_results_are_entered_with_their_kind(members, tube):
    size = services.record_dls_measurement(
        user=members["editor"],
        aliquot=tube,
        data={"kind": "size", "z_average_nm": 112.4, "pdi": 0.18, "temperature_c": 25},
    )
    zeta = services.record_dls_measurement(
        user=members["editor"], aliquot=tube, data={"kind": "zeta", "zeta_potential_mv": -21.5}
    )
    assert {size.kind, zeta.kind} == {"size", "zeta"} and size.operator == members["editor"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "size", "z_average_nm": 100, "pdi": 1.5}, "pdi"),
        ({"kind": "size", "z_average_nm": -1}, "z_average_nm"),
        ({"kind": "size"}, "z_average_nm"),
        ({"kind": "zeta"}, "zeta_potential_mv"),
        ({"kind": "mass"}, "kind"),
    ],
)
def test_bad_dls_input_saves_nothing(members, tube, data, field):
    with pytest.raises(ValidationError) as caught:
        services.record_dls_measurement(user=members["editor"], aliquot=tube, data=data)
    assert field in caught.value.message_dict
    assert not DLSMeasurement.objects.exists()


def test_flow_reporting_fields_recompute_the_event_concentration(members, flow_measurement):
    # 20 000 events in 40 µL of the file: 5e5 /mL; the analysed 20 µL and a 1:2 dilution: 2e6.
    assert flow_measurement.event_concentration_per_ml == pytest.approx(5e5)
    updated = services.update_flow_reporting(
        user=members["editor"],
        measurement=flow_measurement,
        data={
            "analysed_volume_ul": 20,
            "dilution_factor": 2,
            "calibration_beads": "Rosetta",
            "refractive_index_assumed": 1.4,
            "scatter_unit": "nm",
            "fluorescence_unit": "MESF",
            "controls": [{"kind": "buffer_only", "result": "12 events"}],
        },
    )
    updated.refresh_from_db()
    assert updated.event_concentration_per_ml == pytest.approx(2e6)
    assert (updated.scatter_unit, updated.event_count) == ("nm", 20000)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"event_count": 5}, "event_count"),
        ({"refractive_index_assumed": 0.5}, "refractive_index_assumed"),
        ({"dilution_factor": 0.1}, "dilution_factor"),
        ({"analysed_volume_ul": 0}, "analysed_volume_ul"),
        ({"scatter_unit": "furlongs"}, "scatter_unit"),
    ],
)
def test_flow_refuses_parsed_fields_and_bad_values(members, flow_measurement, data, field):
    with pytest.raises(ValidationError) as caught:
        services.update_flow_reporting(
            user=members["editor"], measurement=flow_measurement, data=data
        )
    assert field in caught.value.message_dict
    flow_measurement.refresh_from_db()
    assert flow_measurement.event_count == 20000 and flow_measurement.dilution_factor == 1.0


def test_a_viewer_cannot_change_flow_reporting(members, flow_measurement):
    with pytest.raises(PermissionDenied):
        services.update_flow_reporting(
            user=members["viewer"], measurement=flow_measurement, data={"gating": "x"}
        )


# --- qPCR -----------------------------------------------------------------------------------


def test_entered_cq_values_make_a_run_on_the_tube(members, tube):
    run = services.record_qpcr_results(
        user=members["editor"],
        aliquot=tube,
        run_name="manual",
        rows=[
            {"target": "miR-21", "cq": 24.5, "well": "a01"},
            {"target": "miR-16", "cq": None},
        ],
    )
    rows = list(run.results.order_by("target"))
    assert run.study_id == tube.study_id and run.instrument_file_id is None
    assert [(r.target, r.cq, r.undetermined) for r in rows] == [
        ("miR-16", None, True),
        ("miR-21", 24.5, False),
    ]
    assert {r.aliquot_id for r in rows} == {tube.pk} and rows[1].well == "A1"
    assert rows[0].sample_name == tube.accession


def test_bad_cq_rows_save_no_run(members, tube):
    with pytest.raises(ValidationError) as caught:
        services.record_qpcr_results(
            user=members["editor"],
            aliquot=tube,
            rows=[{"target": "miR-21", "cq": 24}, {"target": "", "cq": 140}, "x"],
        )
    lines = caught.value.message_dict["rows"]
    assert any(line.startswith("Row 2: cq:") for line in lines)
    assert any(line.startswith("Row 2: target:") for line in lines)
    assert any(line.startswith("Row 3:") for line in lines)
    assert not QPCRRun.objects.exists()
    with pytest.raises(ValidationError):
        services.record_qpcr_results(user=members["editor"], aliquot=tube, rows=[])
    with pytest.raises(PermissionDenied):
        services.record_qpcr_results(
            user=members["viewer"], aliquot=tube, rows=[{"target": "x", "cq": 20}]
        )


def test_a_sample_map_puts_rows_on_their_tubes(members, tubes, qpcr_run):
    run = services.map_qpcr_samples(
        user=members["editor"],
        run=qpcr_run,
        sample_map={"Plasma A": tubes[0].pk, "Plasma B": tubes[1].pk},
    )
    assert run.sample_map == {"Plasma A": tubes[0].pk, "Plasma B": tubes[1].pk}
    assert run.study_id == tubes[0].study_id
    by_well = {row.well: row for row in QPCRResult.objects.filter(run=run)}
    assert by_well["A1"].aliquot_id == by_well["A2"].aliquot_id == tubes[0].pk
    assert by_well["B1"].aliquot_id == tubes[1].pk and by_well["C1"].aliquot_id is None
    assert by_well["A1"].study_id == tubes[0].study_id

    run = services.map_qpcr_samples(user=members["editor"], run=run, sample_map={"Plasma B": None})
    assert run.sample_map == {"Plasma A": tubes[0].pk}
    assert QPCRResult.objects.get(run=run, well="B1").aliquot_id is None


def test_a_sample_map_refuses_unknown_names_foreign_tubes_and_viewers(
    members, qpcr_run, foreign_tube, tube
):
    with pytest.raises(ValidationError) as caught:
        services.map_qpcr_samples(
            user=members["editor"],
            run=qpcr_run,
            sample_map={"Plasma Z": tube.pk, "Plasma A": foreign_tube.pk},
        )
    assert caught.value.message_dict["sample_map"] == [
        "'Plasma Z': no well of this run has that sample name",
        f"'Plasma A': no tube you can record results on has id {foreign_tube.pk}",
    ]
    qpcr_run.refresh_from_db()
    assert qpcr_run.sample_map == {}
    with pytest.raises(PermissionDenied):
        services.map_qpcr_samples(
            user=members["viewer"], run=qpcr_run, sample_map={"Plasma A": tube.pk}
        )


def test_an_image_claiming_too_many_pixels_is_refused(members, tube, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValidationError) as caught:
        services.record_imaging(
            user=members["editor"],
            aliquot=tube,
            data={"method": "tem"},
            images=[
                (upload("big.png", png_bytes((64, 64))), {"view": "close_up", "scale_bar_nm": 1})
            ],
        )
    assert caught.value.message_dict["images"] == [
        "big.png: the image has more than 0 million pixels."
    ]
    assert not ImagingRecord.objects.exists()
