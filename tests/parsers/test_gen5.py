"""Gen5 text export: golden values from the synthetic fixtures in tests/data/instruments/gen5/,
variants built inline, and ParseError (what and where) for broken files."""

from __future__ import annotations

from datetime import datetime

import pytest

from assays.parsers.base import ParseError
from assays.parsers.gen5 import Gen5Parser, _when
from assays.parsers.results import PlateResult
from assays.parsers.softmax import SoftMaxParser

from .synth import DATA_DIR, NTA_GOLDEN, ZV_COMMA

GEN5_DIR = DATA_DIR / "gen5"
BCA = "bca_results.txt"
BRADFORD = "bradford_384_two_plates.txt"
parser = Gen5Parser()
ROWS = "ABCDEFGHIJKLMNOP"


@pytest.fixture(scope="module")
def bca_bytes() -> bytes:
    return (GEN5_DIR / BCA).read_bytes()


@pytest.fixture(scope="module")
def bca(bca_bytes) -> PlateResult:
    return parser.parse(bca_bytes, BCA)


@pytest.fixture(scope="module")
def bradford() -> PlateResult:
    return parser.parse((GEN5_DIR / BRADFORD).read_bytes(), BRADFORD)


# --- builders for inline variants -----------------------------------------------------------


def header(
    *,
    plate: str = "Plate 1",
    date: str = "2/8/2006",
    time: str = "5:27:40 AM",
    plate_type: str = "96 WELL PLATE",
    read: str = "Absorbance Endpoint",
    wavelengths: str = "660",
    serial: str = "n/a",
) -> str:
    return "\n".join(
        [
            "",
            "",
            "Software Version\t3.12.08",
            "",
            "Experiment File Path:\t\\\\Mac\\Home\\Lowry.xpt",
            "Protocol File Path:\t",
            "",
            f"Plate Number\t{plate}",
            f"Date\t{date}",
            f"Time\t{time}",
            "Reader Type:\tn/a",
            f"Reader Serial Number:\t{serial}",
            "Reading Type\tFile",
            "",
            "Procedure Details",
            "",
            f"Plate Type\t{plate_type}",
            f"Read\t{read}",
            "\tFull Plate",
            f"\tWavelengths:  {wavelengths}",
            "",
        ]
    )


def matrix(
    title: str,
    *labels: str,
    rows: int = 8,
    columns: int = 12,
    value=lambda label, r, c: f"{r / 10 + c / 1000:.3f}",
) -> str:
    lines = [title, "\t".join(["", *(str(c) for c in range(1, columns + 1))])]
    for r in range(rows):
        for k, label in enumerate(labels):
            cells = [value(label, r, c) for c in range(1, columns + 1)]
            lines.append("\t".join([ROWS[r] if k == 0 else "", *cells, label]))
    return "\n".join(lines) + "\n"


def layout(*rows: tuple[list[str], list[str]]) -> str:
    lines = ["Layout", "\t".join(["", *(str(c) for c in range(1, 13))])]
    for r, (ids, amounts) in enumerate(rows):
        lines.append("\t".join([ROWS[r], *ids, *[""] * (12 - len(ids)), "Well ID"]))
        lines.append("\t".join(["", *amounts, *[""] * (12 - len(amounts)), "Conc/Dil"]))
    return "\n".join(lines) + "\n"


def gen5(*parts: str, eol: str = "\r\n") -> bytes:
    return "\n".join(parts).replace("\n", eol).encode("cp1252")


PLAIN = gen5(header(), matrix("660", "660"))


# --- detection ------------------------------------------------------------------------------


def test_detects_gen5_exports(bca_bytes):
    assert parser.detect(BCA, bca_bytes[:4096])
    assert parser.detect(BRADFORD, (GEN5_DIR / BRADFORD).read_bytes()[:4096])
    assert parser.detect("renamed.csv", PLAIN[:4096])


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"Software Version\t3.12.08\r\n",  # nothing else that says Gen5
        b"Software Version,NTA 3.4\r\nPlate Number,1\r\n",
        b"##BLOCKS= 2\r\nPlate:\tPlate1\r\n",
        b"Original File:\tx.avi\r\nSoftware Version\t8.05\r\nReader Type:\tx\r\n",
        b"x\r\n" * 20 + b"Software Version\t3.12.08\r\nPlate Number\tPlate 1\r\n",
    ],
)
def test_other_heads_are_not_claimed(head):
    assert not parser.detect("x.txt", head)


def test_nta_zetaview_and_softmax_fixtures_are_not_claimed():
    for path in (
        DATA_DIR / NTA_GOLDEN,
        DATA_DIR / ZV_COMMA,
        DATA_DIR / "softmax" / "bca_two_plates.txt",
    ):
        assert not parser.detect(path.name, path.read_bytes()[:4096])


def test_softmax_does_not_claim_gen5(bca_bytes):
    assert not SoftMaxParser().detect(BCA, bca_bytes[:4096])


# --- golden fixture 1: BCA, one plate, combined Results block ---------------------------------


def test_header_fields(bca):
    assert bca.software_version == "Gen5 3.12.08"
    assert bca.instrument_serial == "21031715"
    assert bca.measured_at == datetime(2024, 3, 14, 14, 5, 9)
    assert bca.description == "2024_03_14 BCA EV lysates.xpt"
    assert bca.sample_name == ""


def test_only_the_raw_read_is_returned(bca):
    assert len(bca.reads) == 1
    read = bca.reads[0]
    assert (read.plate_name, read.wavelength_nm, read.read_type) == ("Plate 1", 562.0, "absorbance")
    assert (read.rows, read.columns, read.reduced) == (8, 12, False)
    assert len(read.values) == 96
    # Raw OD = 2.0 − row × 0.25 + column / 1000; not "Blank BCA:562" (−0.05).
    assert read.values["A1"] == 2.001
    assert read.values["D4"] == 1.254
    assert read.values["H12"] == 0.262


def test_gen5_markers_are_none_and_warned(bca):
    values = bca.reads[0].values
    assert values["A5"] is None and values["B6"] is None and values["C7"] is None
    assert sum(v is None for v in values.values()) == 3
    assert "Plate 1, BCA:562: no value for 1 well saturated (OVRFLW) (A5)" in bca.warnings
    assert "Plate 1, BCA:562: no value for 1 well masked in Gen5 as *1.756* (B6)" in bca.warnings
    assert "Plate 1, BCA:562: no value for 1 well empty (C7)" in bca.warnings
    # Markers in the [Concentration] set (?????, <0.000) are not read, so not warned.
    assert not any("?????" in w or "<0.000" in w for w in bca.warnings)


def test_layout_roles_concentrations_and_dilutions(bca):
    layout = bca.layout
    assert layout["A1"] == {"role": "standard", "concentration": 2000.0, "name": "STD1"}
    assert layout["G3"] == {"role": "standard", "concentration": 125.0, "name": "STD7"}
    assert layout["H2"] == {"role": "blank", "concentration": None, "name": "BLK"}
    # SPL1:k — one sample at four dilution steps; Gen5's fractions become factors.
    assert layout["A4"] == {
        "role": "sample",
        "concentration": None,
        "name": "SPL1",
        "dilution": 1.0,
    }
    assert [layout[f"{row}5"]["dilution"] for row in "ABCD"] == [1.0, 2.0, 4.0, 8.0]
    assert layout["E6"] == {
        "role": "sample",
        "concentration": None,
        "name": "SPL2",
        "dilution": 1.0,
    }
    assert layout["B12"]["dilution"] == 3.0  # 0.333 is 1:3
    assert layout["A12"] == {"role": "control", "concentration": 500.0, "name": "CTL1"}
    assert "A7" not in layout  # an empty Well ID is an unused well
    assert len(layout) == 24 + 24 + 2
    assert (
        "Gen5 does not state the standards' unit: their concentrations are kept as written"
        " (check that they are µg/mL)"
    ) in bca.warnings


# --- golden fixture 2: Bradford, 384 wells, two plates, two wavelengths, decimal commas -------


def test_two_plates_two_wavelengths(bradford):
    assert [(r.plate_name, r.wavelength_nm) for r in bradford.reads] == [
        ("Plate 1", 595.0),
        ("Plate 1", 450.0),
        ("Plate 2", 595.0),
        ("Plate 2", 450.0),
    ]
    for read in bradford.reads:
        assert (read.rows, read.columns, len(read.values)) == (16, 24, 384)
        assert None not in read.values.values()


def test_decimal_commas_and_the_label_decides_the_wavelength(bradford):
    p1_595, p1_450, p2_595, _ = (r.values for r in bradford.reads)
    # 0.3 + row × 0.05 + column / 1000 + plate × 0.1, 450 nm 0.2 lower.
    assert p1_595["A1"] == 0.301
    assert p1_450["A1"] == 0.101
    assert p1_595["P24"] == 1.074
    assert p2_595["A1"] == 0.401
    # Row B lists 450 before 595: the label, not the line order, says which is which.
    assert p1_595["B1"] == 0.351
    assert p1_450["B1"] == 0.151


def test_day_first_date_24_hour_time_and_no_serial(bradford):
    assert bradford.measured_at == datetime(2024, 3, 25, 14, 5, 9)  # 25/03/2024
    assert bradford.instrument_serial == ""  # "n/a"
    assert bradford.software_version == "Gen5 3.16.10"


def test_identical_layouts_on_two_plates_are_merged(bradford):
    assert bradford.layout["A1"] == {"role": "standard", "concentration": 1.5, "name": "STD1"}
    assert bradford.layout["F2"]["concentration"] == 0.125
    assert bradford.layout["G1"]["role"] == "blank"
    assert bradford.layout["P2"] == {"role": "sample", "concentration": None, "name": "SPL9"}
    assert not any("different layout" in w for w in bradford.warnings)


# --- variants --------------------------------------------------------------------------------


def test_lowry_style_separate_blocks():
    data = gen5(header(), matrix("660", "660"), matrix("Conc", "Conc"))
    result = parser.parse(data)
    assert len(result.reads) == 1
    assert result.reads[0].wavelength_nm == 660.0
    assert result.reads[0].values["H12"] == 0.712
    assert result.measured_at == datetime(2006, 2, 8, 5, 27, 40)


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_line_endings(eol):
    result = parser.parse(gen5(header(), matrix("660", "660"), eol=eol))
    assert result.reads[0].values["B3"] == 0.103


def test_only_blank_subtracted_data_is_returned_as_reduced():
    result = parser.parse(gen5(header(), matrix("Results", "Blank Read 1:660", "Conc")))
    read = result.reads[0]
    assert (read.reduced, read.wavelength_nm, read.read_type) == (True, 660.0, "absorbance")


def test_fluorescence_filters_and_luminescence():
    fluor = gen5(header(read="Fluorescence Endpoint"), matrix("Results", "DAPI:360/40,460/40"))
    read = parser.parse(fluor).reads[0]
    assert (read.read_type, read.wavelength_nm) == ("fluorescence", 460.0)
    lum = gen5(header(read="Luminescence Endpoint", plate_type="384 WELL PLATE"))
    read = parser.parse(lum + gen5(matrix("Lum", "Lum", rows=16, columns=24))).reads[0]
    assert (read.read_type, read.wavelength_nm, read.rows, read.columns) == (
        "luminescence",
        None,
        16,
        24,
    )


def test_named_read_step_with_one_wavelength():
    data = gen5(
        header(read="BCA read").replace("Read\tBCA read", "Read\tBCA read\n\tAbsorbance Endpoint")
    )
    result = parser.parse(data + gen5(matrix("Results", "BCA read")))
    assert (result.reads[0].read_type, result.reads[0].wavelength_nm) == ("absorbance", 660.0)


def test_plate_size_from_the_matrix_without_plate_type():
    text = header().replace("Plate Type\t96 WELL PLATE\n", "")
    result = parser.parse(gen5(text, matrix("660", "660")))
    assert (result.reads[0].rows, result.reads[0].columns) == (8, 12)


def test_differing_layouts_on_two_plates_keep_the_first():
    plate1 = gen5(header(), layout((["STD1"], ["10"])), matrix("660", "660"))
    plate2 = gen5(header(plate="Plate 2"), layout((["SPL1"], ["1"])), matrix("660", "660"))
    result = parser.parse(plate1 + plate2)
    assert [r.plate_name for r in result.reads] == ["Plate 1", "Plate 2"]
    assert result.layout["A1"]["role"] == "standard"
    assert (
        "well A1 has a different layout on Plate 2 than on Plate 1; the layout keeps Plate 1"
        in (result.warnings)
    )


def test_dilution_written_as_a_factor_and_a_bad_dilution():
    data = gen5(header(), layout((["SPL1", "SPL2", "SPL3"], ["4", "0", ""])), matrix("660", "660"))
    result = parser.parse(data)
    assert result.layout["A1"]["dilution"] == 4.0
    assert "dilution" not in result.layout["A2"] and "dilution" not in result.layout["A3"]
    assert "Plate 1 A2: dilution 0 is not positive; ignored" in result.warnings


def test_unreadable_date_is_warned():
    result = parser.parse(gen5(header(date="sometime"), matrix("660", "660")))
    assert result.measured_at is None
    assert 'the date and time "sometime 5:27:40 AM" could not be read' in result.warnings


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("10/10/2022", "9:00:04 PM", datetime(2022, 10, 10, 21, 0, 4)),
        ("2/8/2006", "12:15:00 AM", datetime(2006, 2, 8, 0, 15)),
        ("2/8/2006", "12:15:00 PM", datetime(2006, 2, 8, 12, 15)),
        ("01/02/2025", "12:30:25", datetime(2025, 1, 2, 12, 30, 25)),
        ("25/03/2024", "14:05", datetime(2024, 3, 25, 14, 5)),
        ("25.03.2024", "14:05:09", datetime(2024, 3, 25, 14, 5, 9)),
        ("2024-03-25", "", datetime(2024, 3, 25)),
        ("2/30/2024", "1:00:00 PM", None),
        ("2/8/2006", "13:00 PM", None),
        ("2/8", "1:00", None),
    ],
)
def test_dates(date, time, expected):
    assert _when(date, time) == expected


# --- errors ---------------------------------------------------------------------------------


def _error(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        parser.parse(data, "x.txt")
    assert "internal error" not in info.value.message
    return info.value


def test_not_gen5():
    error = _error(b"##BLOCKS= 1\r\nPlate:\tx\r\n~End\r\n")
    assert error.message == 'not a Gen5 export: there is no "Software Version" line'


def test_no_matrix():
    error = _error(gen5(header()))
    assert error.message.startswith("no plate matrix")


def test_only_calculated_data():
    error = _error(gen5(header(), matrix("Results", "[Concentration]", "Ratio 260/280")))
    assert error.message == (
        "no raw read in the export, only calculated data ([Concentration], Ratio 260/280)"
    )


def test_short_row_is_truncation():
    text = header() + matrix("660", "660")
    cut = text[: text.rindex("\t", 0, text.rindex("\t"))]  # H row loses its last cells
    error = _error(gen5(cut))
    assert error.message == (
        'row H of the "660" block has 11 of 12 values (the file is truncated or edited)'
    )
    assert error.line == cut.count("\n") + 1


def test_full_plate_read_missing_rows():
    error = _error(gen5(header(), matrix("660", "660", rows=6)))
    assert error.message == (
        'Plate 1: the full-plate read "660" has 6 of 8 rows (the file is truncated or edited)'
    )


def test_row_beyond_the_plate():
    error = _error(gen5(header(), matrix("660", "660", rows=9)))
    assert error.message == '"660" of Plate 1 has row I, beyond the 8 rows of the plate'


def test_matrix_wider_than_the_plate():
    error = _error(gen5(header(), matrix("660", "660", columns=24)))
    assert error.message == 'the "660" block of Plate 1 has 24 columns, more than a 96-well plate'


def test_repeated_row_for_one_label():
    text = matrix("660", "660")
    doubled = text.replace("\nB\t", "\nA\t", 1)
    error = _error(gen5(header(), doubled))
    assert error.message == 'row A appears twice for "660" in the "660" block'


def test_values_before_the_first_row_letter():
    text = matrix("660", "660").replace("\nA\t", "\n\t", 1)
    error = _error(gen5(header(), text))
    assert error.message == 'the "660" block has values before its first row letter'
