"""The standard-curve SVG: well-formed, self-contained, every point where the numbers say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from assays.curve_plot import standard_curve_svg
from assays.protein import quantify_plate

from . import BCA_LEVELS, bca_plate

SVG = "{http://www.w3.org/2000/svg}"


def circles(root: ET.Element, kind: str) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if kind in (c.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


@pytest.fixture
def linear():
    values, plate_map = bca_plate()
    return quantify_plate(values, plate_map, "linear")


def test_svg_parses_and_holds_every_standard_and_sample_well(linear):
    svg = standard_curve_svg(linear, title="BCA <plate 1> & co", element_id="bca-1")
    root = ET.fromstring(svg)

    assert root.tag == f"{SVG}svg"
    assert root.get("aria-labelledby") == "bca-1-title bca-1-desc"
    assert root.find(f"{SVG}title").text == "BCA <plate 1> & co"
    assert len(circles(root, "standard")) == 2 * len(BCA_LEVELS)
    # 13 sample wells, one without a reading.
    sample_wells = {c.get("data-well") for c in circles(root, "sample")}
    assert sample_wells == {
        "D1", "D2", "D3", "D4", "D5", "E1", "E2", "E3", "E4", "F1", "F2", "F3"
    }  # fmt: skip
    flagged = {c.get("data-well") for c in circles(root, "flagged")}
    assert flagged == {"E1", "E2", "E3", "E4"}
    [fit] = [p for p in root.iter(f"{SVG}path") if p.get("class") == "fit"]
    assert fit.get("d").startswith("M")


def test_points_sit_where_the_numbers_put_them(linear):
    root = ET.fromstring(standard_curve_svg(linear))
    by_well = {c.get("data-well"): c for c in circles(root, "standard") + circles(root, "sample")}

    # D1 is 250 µg/mL at 0.25, the A4/B4 standard is 250 µg/mL too: same x.
    assert by_well["D1"].get("cx") == by_well["A4"].get("cx")
    # Higher concentration, further right; higher response, further up (smaller y).
    assert float(by_well["D2"].get("cx")) > float(by_well["D1"].get("cx"))
    assert float(by_well["D2"].get("cy")) < float(by_well["D1"].get("cy"))
    title = by_well["D1"].find(f"{SVG}title").text
    assert title == "EXO-1 (D1): 0.2500 → 250.0 µg/mL in the well"


def test_caption_axis_labels_and_formula(linear):
    root = ET.fromstring(standard_curve_svg(linear))
    labels = texts(root)

    assert "Protein (µg/mL)" in labels
    assert "Absorbance (blank-subtracted)" in labels
    assert any(t.startswith("Linear fit, R² = 0.9999") for t in labels)
    assert linear.curve.describe() in labels
    assert linear.curve.describe().startswith("y = 0.001000·x")


def test_no_script_no_external_assets(linear):
    svg = standard_curve_svg(linear)

    assert "<script" not in svg
    assert "href" not in svg
    assert "url(" not in svg


def test_sample_keys_are_escaped():
    values, plate_map = bca_plate()
    plate_map["D1"]["sample"] = plate_map["D2"]["sample"] = '<EXO&"1">'

    svg = standard_curve_svg(quantify_plate(values, plate_map, "linear"))
    root = ET.fromstring(svg)

    [d1] = [c for c in circles(root, "sample") if c.get("data-well") == "D1"]
    assert d1.find(f"{SVG}title").text.startswith('<EXO&"1"> (D1)')
    assert '<EXO&"1">' not in svg


def test_far_extrapolations_are_pinned_to_the_edge_and_marked():
    values, plate_map = bca_plate()
    values["G1"] = 9.0  # 8900 µg/mL on the line, far past the 2000 µg/mL standard
    plate_map["G1"] = {"role": "sample", "sample": "EXO-FAR"}

    root = ET.fromstring(standard_curve_svg(quantify_plate(values, plate_map, "linear")))

    [far] = [c for c in circles(root, "sample") if c.get("data-well") == "G1"]
    assert "off-scale" in far.get("class").split()
    right_edge = max(float(c.get("cx")) for c in circles(root, "sample"))
    assert float(far.get("cx")) == right_edge
    assert "(off the plotted scale)" in far.find(f"{SVG}title").text


def test_four_pl_plot_leaves_out_wells_it_cannot_place_and_says_so():
    values, plate_map = bca_plate()
    for column, level in enumerate(BCA_LEVELS, start=1):
        for row in "AB":
            values[f"{row}{column}"] = 0.1 + 3.0 - 3.0 / (1 + (level / 800) ** 1.2)
    values.update({"E3": 3.5, "E4": 3.6})  # beyond the plateau

    quantification = quantify_plate(values, plate_map, "4pl")
    root = ET.fromstring(standard_curve_svg(quantification, response_label="Fluorescence (RFU)"))

    placed = {c.get("data-well") for c in circles(root, "sample")}
    assert "E3" not in placed and "E4" not in placed
    assert "2 sample wells outside the curve are not shown" in root.find(f"{SVG}desc").text
    labels = texts(root)
    assert "Fluorescence (RFU) (blank-subtracted)" in labels
    assert any(t.startswith("4PL fit, R² = 1.0000") for t in labels)
    assert "y = d + (a − d) / (1 + (x/c)^b)" in labels
    assert any(t.startswith("a = ") and ", d = 3.000" in t for t in labels)
