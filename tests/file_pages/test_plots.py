"""The server-side SVG size-distribution plot: well-formed, one path per curve, accessible."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from assays.plots import COMPACT, nice_step, scientific, size_distribution_svg, ticks

from .conftest import distribution

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def paths(root: ET.Element, kind: str | None = None) -> list[ET.Element]:
    found = root.iter(f"{SVG}path")
    return [p for p in found if kind is None or p.get("class") == kind]


@pytest.mark.parametrize("replicates", [1, 3, 5])
def test_one_thin_path_per_replicate_and_one_bold_mean(replicates):
    root = parse(size_distribution_svg(distribution(replicates), title="Plot"))

    assert root.tag == f"{SVG}svg"
    assert len(paths(root)) == replicates + 1
    assert len(paths(root, "replicate")) == replicates
    [mean] = paths(root, "mean")
    widths = {float(p.get("stroke-width")) for p in paths(root, "replicate")}
    assert float(mean.get("stroke-width")) > max(widths)
    # The mean is drawn last, on top of the replicates.
    assert paths(root)[-1] is mean


def test_title_description_and_axes_are_there_for_readers():
    root = parse(
        size_distribution_svg(
            distribution(2), title="Size of EXO-000001 <NTA> & co", element_id="p1"
        )
    )

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "p1-title p1-desc"
    assert root.find(f"{SVG}title").text == "Size of EXO-000001 <NTA> & co"
    assert root.find(f"{SVG}title").get("id") == "p1-title"
    desc = root.find(f"{SVG}desc").text
    assert "2 videos as thin lines" in desc and "mean as a bold line" in desc
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Size (nm)" in texts
    assert any(t.startswith("Concentration (") and "particles/mL" in t for t in texts)
    # Tick labels on both axes, starting at zero.
    assert texts.count("0") >= 2
    assert "100" in texts


def test_y_axis_shares_one_power_of_ten():
    root = parse(size_distribution_svg(distribution(1), title="t"))
    label = next(t.text for t in root.iter(f"{SVG}text") if t.text.startswith("Concentration"))
    assert "× 10⁶ particles/mL" in label


def test_x_axis_ends_after_the_particles_not_at_the_last_bin():
    root = parse(size_distribution_svg(distribution(1, bins=1000), title="t"))
    numbers = [float(t.text) for t in root.iter(f"{SVG}text") if t.text.replace(".", "").isdigit()]
    # Particles sit around 100 nm: the axis ends at a round tick well before 1000 nm.
    assert 150 <= max(numbers) <= 400


def test_nothing_to_draw_gives_an_empty_string():
    assert size_distribution_svg(None, title="t") == ""
    assert size_distribution_svg({}, title="t") == ""
    assert size_distribution_svg({"bin_centres_nm": [1.0, 2.0], "mean": ["x", 1]}, title="t") == ""


def test_a_malformed_replicate_is_left_out():
    data = distribution(2)
    data["replicates"].append([1.0, 2.0])  # wrong length
    data["mean"][3] = None
    root = parse(size_distribution_svg(data, title="t"))
    assert len(paths(root, "replicate")) == 2 and len(paths(root, "mean")) == 1


def test_the_compact_plot_thins_long_curves():
    root = parse(size_distribution_svg(distribution(1, bins=1000), title="t", compact=True))
    [mean] = paths(root, "mean")
    points = mean.get("d").count("L") + 1
    assert points <= COMPACT.max_points
    assert "compact" in root.get("class")


def test_scientific_notation_and_ticks():
    assert scientific(2.34e9) == "2.34 × 10⁹"
    assert scientific(9.996e8) == "1.00 × 10⁹"
    assert scientific(4.5e-3) == "4.50 × 10⁻³"
    assert scientific(None) == "" and scientific(0.0) == "0"
    assert nice_step(1000, 5) == 200
    assert ticks(2.3e7, 5) == [0, 5e6, 1e7, 1.5e7, 2e7, 2.5e7]
