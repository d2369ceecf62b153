"""Protein pages: a result typed in, a plate pasted by hand, the plate-map editor (save,
refusals listed by well with nothing saved), a plate's page and curve, and scoping."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from assays import protein_services
from assays.choices import ProteinAssayStatus
from assays.forms.characterisation import parse_plate_grid
from assays.models import ProteinAssay, ProteinMeasurement

from .conftest import standards_map

pytestmark = pytest.mark.django_db


# --- A result typed in ---------------------------------------------------------------------


def test_the_form_starts_from_the_tube(page_client, tube):
    response = page_client("editor").get(reverse("assays:protein-create"), {"aliquot": tube.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{tube.accession}"' in html
    assert 'name="concentration_ug_per_ml"' in html and 'name="controls-TOTAL_FORMS"' in html


def test_recording_a_result_computes_the_total(page_client, tube):
    response = page_client("editor").post(
        reverse("assays:protein-create"),
        {
            "tube": tube.accession.lower(),
            "method": "qubit",
            "concentration_ug_per_ml": "412,5",
            "dilution_factor": "10",
            "volume_ml": "0,2",
            "measured_at": "2026-03-02T10:15",
            "sop": "Qubit protein BR",
            "controls-TOTAL_FORMS": "2",
            "controls-INITIAL_FORMS": "0",
            "controls-0-kind": "buffer_only",
            "controls-0-description": "PBS",
            "controls-0-result": "below detection",
            "controls-1-kind": "",
        },
    )
    m = ProteinMeasurement.objects.get()
    assert response.status_code == 302 and response["Location"] == m.get_absolute_url()
    assert (m.aliquot, m.method, m.concentration_ug_per_ml) == (tube, "qubit", 412.5)
    assert m.volume_ml == Decimal("0.2") and m.total_ug == pytest.approx(82.5)
    assert m.controls == [
        {"kind": "buffer_only", "description": "PBS", "result": "below detection"}
    ]

    html = page_client("viewer").get(m.get_absolute_url()).content.decode()
    assert "412.5" in html and "82.5" in html and "Buffer only" in html


def test_without_a_volume_the_tube_volume_is_used(page_client, tube):
    page_client("editor").post(
        reverse("assays:protein-create"),
        {
            "tube": tube.accession,
            "method": "bca",
            "concentration_ug_per_ml": "100",
            "controls-TOTAL_FORMS": "0",
            "controls-INITIAL_FORMS": "0",
        },
    )
    m = ProteinMeasurement.objects.get()
    assert m.volume_ml == Decimal("0.5") and m.total_ug == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("concentration_ug_per_ml", "lots", "is not a number"),
        ("concentration_ug_per_ml", "-3", "at least 0"),
        ("dilution_factor", "0.5", "at least 1"),
        ("tube", "EXO-999999", "No tube EXO-999999 in your studies"),
    ],
)
def test_bad_input_saves_nothing(page_client, tube, field, value, message):
    data = {
        "tube": tube.accession,
        "method": "bca",
        "concentration_ug_per_ml": "100",
        "controls-TOTAL_FORMS": "0",
        "controls-INITIAL_FORMS": "0",
    }
    data[field] = value
    response = page_client("editor").post(reverse("assays:protein-create"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ProteinMeasurement.objects.exists()


def test_a_tube_of_another_study_cannot_be_used(page_client, foreign_tube):
    client = page_client("editor")
    assert (
        client.get(reverse("assays:protein-create"), {"aliquot": foreign_tube.pk}).status_code
        == 404
    )
    response = client.post(
        reverse("assays:protein-create"),
        {
            "tube": foreign_tube.accession,
            "method": "bca",
            "concentration_ug_per_ml": "5",
            "controls-TOTAL_FORMS": "0",
            "controls-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 400 and not ProteinMeasurement.objects.exists()


def test_viewers_may_not_add_results(page_client, tube):
    client = page_client("viewer")
    assert client.get(reverse("assays:protein-create"), {"aliquot": tube.pk}).status_code == 403
    response = client.post(
        reverse("assays:protein-create"),
        {"tube": tube.accession, "method": "bca", "concentration_ug_per_ml": "5"},
    )
    assert response.status_code == 403 and not ProteinMeasurement.objects.exists()


def test_another_studys_result_is_not_found(page_client, foreign_tube, foreign_editor):
    m = ProteinMeasurement.objects.create(
        aliquot=foreign_tube,
        study=foreign_tube.study,
        method="bca",
        concentration_ug_per_ml=50,
        created_by=foreign_editor,
    )
    assert page_client("manager").get(m.get_absolute_url()).status_code == 404
    assert page_client("superuser").get(m.get_absolute_url()).status_code == 200


# --- Pasting a plate ----------------------------------------------------------------------


EXCEL_GRID = "\n".join(
    "\t".join([row] + [f"0,{(ord(row) - 64) * 100 + column:03d}" for column in range(1, 13)])
    for row in "ABCDEFGH"
)


def test_a_plate_pasted_from_excel_is_saved_and_opens_the_map(page_client):
    response = page_client("editor").post(
        reverse("assays:protein-assay-create"),
        {
            "name": "BCA 2 March",
            "method": "bca",
            "plate_size": "96",
            "grid": "\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\n" + EXCEL_GRID,
            "wavelength_nm": "562",
        },
    )
    assay = ProteinAssay.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("assays:protein-assay-map", args=[assay.pk])
    assert (assay.name, assay.rows, assay.columns, assay.status) == (
        "BCA 2 March",
        8,
        12,
        ProteinAssayStatus.AWAITING_MAP,
    )
    assert assay.values["A1"] == pytest.approx(0.101) and assay.values["H12"] == pytest.approx(
        0.812
    )
    assert assay.reads[0]["wavelength_nm"] == 562


def test_a_384_well_plate_is_pasted_and_mapped_on_its_own_grid(page_client):
    grid = "\n".join(";".join(["0,1"] * 24) for _row in range(16))
    client = page_client("editor")
    response = client.post(
        reverse("assays:protein-assay-create"),
        {"method": "micro_bca", "plate_size": "384", "grid": grid},
    )
    assay = ProteinAssay.objects.get()
    assert response.status_code == 302
    assert (assay.rows, assay.columns, len(assay.values)) == (16, 24, 384)
    html = client.get(reverse("assays:protein-assay-map", args=[assay.pk])).content.decode()
    assert 'data-well="P24"' in html and 'data-row="P"' in html


def test_a_bad_paste_saves_nothing(page_client):
    response = page_client("editor").post(
        reverse("assays:protein-assay-create"),
        {"method": "bca", "plate_size": "96", "grid": "0.1\t0.2\tabc\n0.3\t0.4\t0.5"},
    )
    assert response.status_code == 400
    assert "A3: “abc” is not a number" in response.content.decode()
    assert not ProteinAssay.objects.exists()


def test_viewers_may_not_enter_plates(page_client):
    client = page_client("viewer")
    assert client.get(reverse("assays:protein-assay-create")).status_code == 403
    response = client.post(
        reverse("assays:protein-assay-create"),
        {"method": "bca", "plate_size": "96", "grid": "0.1"},
    )
    assert response.status_code == 403 and not ProteinAssay.objects.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,1;0,2\n0,3;0,4", {"A1": 0.1, "A2": 0.2, "B1": 0.3, "B2": 0.4}),
        ("A\t1.5\t\t2\nB\tOVRFLW\t3", {"A1": 1.5, "A2": None, "A3": 2.0, "B1": None, "B2": 3.0}),
        ("A1 0.5\nb12\t1,25\n", {"A1": 0.5, "B12": 1.25}),
        ("0.5,0.25\n1.5,2\n", {"A1": 0.5, "A2": 0.25, "B1": 1.5, "B2": 2.0}),
    ],
)
def test_grids_are_read_as_spreadsheets_write_them(text, expected):
    values = parse_plate_grid(text, rows=8, columns=12)
    assert len(values) == 96  # every well, those not given without a reading
    assert {well: values[well] for well in expected} == expected
    assert all(value is None for well, value in values.items() if well not in expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Paste the plate's values."),
        ("\n".join(["1"] * 9), "The grid has 9 rows"),
        ("\t".join(["1"] * 13), "Row A has 13 values"),
        ("I1 0.4", "I1: not a well of a 8×12 plate"),
        ("-\t*", "No well has a number."),
    ],
)
def test_grids_that_do_not_fit_say_why(text, message):
    with pytest.raises(ValidationError) as caught:
        parse_plate_grid(text, rows=8, columns=12)
    assert any(message in m for m in caught.value.messages)


# --- The plate-map editor -------------------------------------------------------------------


def map_post(plate_map: dict | str, **settings) -> dict:
    data = {
        "plate_map": plate_map if isinstance(plate_map, str) else json.dumps(plate_map),
        "method": "bca",
        "curve_model": "linear",
        "subtract_blank": "on",
        "read_index": "0",
    }
    data.update(settings)
    return data


def test_the_editor_shows_the_plate(page_client, make_plate):
    assay = make_plate(samples={"C4": 300})
    response = page_client("editor").get(reverse("assays:protein-assay-map", args=[assay.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-plate-editor" in html and 'data-well="H12"' in html
    assert "0.35" in html  # C4's reading
    assert 'id="plate-map-config"' in html


def test_saving_a_map_computes_the_tubes_results(page_client, make_plate, tubes):
    first, second = tubes[0], tubes[1]
    # first: 300 µg/mL in the well, undiluted; second: 200 in the well at 1:5 → 1000.
    assay = make_plate(samples={"C4": 300, "D4": 300, "E4": 200, "F4": 200})
    plate_map = standards_map()
    plate_map["C4"] = plate_map["D4"] = {"role": "sample", "accession": first.accession}
    plate_map["E4"] = plate_map["F4"] = {
        "role": "sample",
        "accession": second.accession.lower(),
        "dilution": 5,
    }
    response = page_client("editor").post(
        reverse("assays:protein-assay-map", args=[assay.pk]), map_post(plate_map)
    )
    assert response.status_code == 302 and response["Location"] == assay.get_absolute_url()
    assay.refresh_from_db()
    assert assay.status == ProteinAssayStatus.COMPUTED
    assert assay.plate_map["C4"] == {"role": "sample", "sample": str(first.pk), "dilution": 1.0}
    results = {m.aliquot_id: m for m in assay.measurements.all()}
    assert results[first.pk].concentration_ug_per_ml == pytest.approx(300, rel=1e-6)
    assert results[second.pk].concentration_ug_per_ml == pytest.approx(1000, rel=1e-6)
    assert results[second.pk].total_ug == pytest.approx(500, rel=1e-6)  # 0.5 mL tube

    page = page_client("viewer").get(assay.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert "Plate map saved" not in html  # the message went to the editor's session
    assert "1.0000" in html  # R²
    assert first.accession in html and second.accession in html
    assert reverse("assays:protein-assay-curve", args=[assay.pk]) in html
    assert "Edit plate map" not in html  # viewers see no edit button


def test_unknown_accessions_are_listed_by_well_and_nothing_is_saved(page_client, make_plate, tube):
    assay = make_plate(samples={"C4": 300})
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "accession": tube.accession}
    plate_map["D4"] = {"role": "sample", "accession": "EXO-999999"}
    response = page_client("editor").post(
        reverse("assays:protein-assay-map", args=[assay.pk]), map_post(plate_map)
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "D4: no tube EXO-999999 that you can record results on" in html
    assert '"errorWells": ["D4"]' in html
    assay.refresh_from_db()
    assert assay.plate_map == {} and not assay.measurements.exists()


def test_map_mistakes_come_back_by_well(page_client, make_plate, tube):
    assay = make_plate()
    plate_map = standards_map()
    plate_map["A1"] = {"role": "standard"}
    plate_map["C4"] = {"role": "sample", "accession": tube.accession, "dilution": 0.5}
    plate_map["Z9"] = {"role": "blank"}
    response = page_client("editor").post(
        reverse("assays:protein-assay-map", args=[assay.pk]), map_post(plate_map)
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "A1: a standard needs its concentration" in html
    assert "C4: dilution must be a factor ≥ 1" in html
    assert "Z9: not a well of a 8×12 plate" in html
    assay.refresh_from_db()
    assert assay.plate_map == {}


def test_json_that_does_not_parse_is_refused(page_client, make_plate):
    assay = make_plate()
    response = page_client("editor").post(
        reverse("assays:protein-assay-map", args=[assay.pk]),
        map_post('{"A1": {"role": "standard",'),
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.content.decode()


def test_a_curve_that_fails_is_explained(page_client, make_plate, tube):
    assay = make_plate(samples={"C4": 300})
    assay.reads[0]["values"].update({f"{r}{c}": 0.5 for r in "ABCDEFGH" for c in (1, 2)})
    assay.save()
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "accession": tube.accession}
    response = page_client("editor").post(
        reverse("assays:protein-assay-map", args=[assay.pk]), map_post(plate_map), follow=True
    )
    assay.refresh_from_db()
    assert assay.status == ProteinAssayStatus.FIT_FAILED
    html = response.content.decode()
    assert "The curve could not be fitted" in html and assay.fit_error in html
    assert (
        page_client("editor")
        .get(reverse("assays:protein-assay-curve", args=[assay.pk]))
        .status_code
        == 404
    )


def test_flags_are_explained_in_words(page_client, make_plate, tube, members):
    assay = make_plate(samples={"C4": 3000, "D4": 3100})
    plate_map = standards_map()
    plate_map["C4"] = plate_map["D4"] = {"role": "sample", "sample": str(tube.pk)}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    html = page_client("viewer").get(assay.get_absolute_url()).content.decode()
    assert "above the standards" in html
    assert "Dilute the sample further" in html


def test_the_curve_is_an_svg_with_accessions(page_client, make_plate, tube, members):
    assay = make_plate(samples={"C4": 300})
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "sample": str(tube.pk)}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    response = page_client("viewer").get(reverse("assays:protein-assay-curve", args=[assay.pk]))
    body = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert "<svg" in body and 'class="fit"' in body and tube.accession in body


def test_only_editors_open_the_map_editor(page_client, make_plate, tube, members):
    assay = make_plate(samples={"C4": 300})
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "sample": str(tube.pk)}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    url = reverse("assays:protein-assay-map", args=[assay.pk])
    viewer = page_client("viewer")
    assert viewer.get(assay.get_absolute_url()).status_code == 200
    assert viewer.get(url).status_code == 403
    assert viewer.post(url, map_post({})).status_code == 403
    assert assay.measurements.count() == 1  # the refused POST changed nothing
    assert page_client("outsider").get(assay.get_absolute_url()).status_code == 404
    assert page_client("outsider").get(url).status_code == 404


def test_a_plate_of_another_study_is_not_found(
    page_client, make_plate, foreign_tube, foreign_editor
):
    assay = make_plate(samples={"C4": 300}, created_by=foreign_editor)
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "sample": str(foreign_tube.pk)}
    protein_services.save_plate_map(assay, user=foreign_editor, plate_map=plate_map)
    client = page_client("manager")
    for name in (
        "assays:protein-assay-detail",
        "assays:protein-assay-map",
        "assays:protein-assay-curve",
    ):
        assert client.get(reverse(name, args=[assay.pk])).status_code == 404
    html = client.get(reverse("assays:protein-assay-list")).content.decode()
    assert "BCA test plate" not in html


def test_the_plate_list_shows_status_and_results(page_client, make_plate, tube, members):
    waiting = make_plate(name="Plate waiting")
    done = make_plate(name="Plate done", samples={"C4": 300})
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "sample": str(tube.pk)}
    protein_services.save_plate_map(done, user=members["editor"], plate_map=plate_map)
    html = page_client("editor").get(reverse("assays:protein-assay-list")).content.decode()
    assert "Plate waiting" in html and "Plate done" in html
    assert "Awaiting plate map" in html and "Computed" in html
    filtered = page_client("editor").get(
        reverse("assays:protein-assay-list"), {"status": "computed"}
    )
    assert "Plate waiting" not in filtered.content.decode()
    assert waiting.pk != done.pk


def test_the_map_editor_round_trips_accessions(page_client, make_plate, tube, members):
    assay = make_plate(samples={"C4": 300})
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "sample": str(tube.pk), "dilution": 2}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    html = (
        page_client("editor")
        .get(reverse("assays:protein-assay-map", args=[assay.pk]))
        .content.decode()
    )
    assert f"&quot;accession&quot;: &quot;{tube.accession}&quot;" in html


# --- Walkthrough fixes: untubed sample wells, mixed dilutions --------------------------------


def test_sample_wells_without_a_tube_are_listed_as_samples_not_controls(
    page_client, make_plate, tube, members
):
    assay = make_plate(samples={"C4": 300, "D4": 300, "E4": 150, "F4": 150, "G4": 50})
    plate_map = standards_map()
    plate_map["C4"] = plate_map["D4"] = {"role": "sample", "sample": str(tube.pk)}
    plate_map["E4"] = plate_map["F4"] = {"role": "sample", "name": "Patient 7"}
    plate_map["G4"] = {"role": "control", "name": "PBS only"}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    assert ProteinAssay.objects.get(pk=assay.pk).status == ProteinAssayStatus.COMPUTED

    html = page_client("viewer").get(assay.get_absolute_url()).content.decode()
    untubed = html.split("<h2>Samples without a tube</h2>")[1].split("<h2>")[0]
    controls = html.split("<h2>Controls</h2>")[1].split("<h2>")[0]
    assert "Patient 7" in untubed and "E4, F4" in untubed and "PBS only" not in untubed
    assert "PBS only" in controls and "Patient 7" not in controls


def test_a_tube_at_two_dilutions_says_mixed(page_client, make_plate, tube, members):
    assay = make_plate(samples={"C4": 300, "D4": 150})
    plate_map = standards_map()
    plate_map["C4"] = {"role": "sample", "sample": str(tube.pk), "dilution": 1}
    plate_map["D4"] = {"role": "sample", "sample": str(tube.pk), "dilution": 2}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)

    html = page_client("viewer").get(assay.get_absolute_url()).content.decode()
    row = html.split("<h2>Tube results</h2>")[1].split("</tr>")[1]
    assert tube.accession in row and "mixed (1, 2)" in row


def test_the_map_editor_clears_a_stale_error_and_counts_no_tube_for_untubed_samples(
    page_client, make_plate, members
):
    from tests.file_pages.offline_browser import offline_page

    assay = make_plate(samples={"C4": 300})
    plate_map = standards_map()
    for well in ("C4", "D4", "E4"):
        plate_map[well] = {"role": "sample", "name": "Patient 7"}
    protein_services.save_plate_map(assay, user=members["editor"], plate_map=plate_map)
    html = page_client("editor").get(reverse("assays:protein-assay-map", args=[assay.pk]))
    assert html.status_code == 200

    with offline_page(html.content.decode()) as page:
        summary = page.locator("[data-map-summary]").inner_text()
        # "Set selected wells" as standards without a concentration: refused, with a message.
        page.fill("#pm-range", "A1:H2")
        page.press("#pm-range", "Enter")
        page.check("input[name=pm-role][value=standard]")
        page.click("[data-apply]")
        refused = page.locator("[data-apply-error]").inner_text()
        # A serial fill then gives the standards their concentrations.
        page.fill("#pm-top", "2000")
        page.fill("#pm-factor", "2")
        page.click("[data-serial]")
        filled = page.locator("td[data-well='B1'] .pw-label").inner_text()
        stale_hidden = page.locator("[data-apply-error]").is_hidden()

    assert "3 sample wells (0 tubes)" in summary
    assert refused.startswith("Give the standard's concentration")
    assert filled == "1000"
    assert stale_hidden
