"""SoftMax Pro text export: golden values from the synthetic UTF-16LE fixtures in
tests/data/instruments/softmax/, variants built inline, and ParseError for broken files."""

from __future__ import annotations

import pytest

from assays.parsers.base import ParseError
from assays.parsers.gen5 import Gen5Parser
from assays.parsers.results import PlateResult
from assays.parsers.softmax import SoftMaxParser, convert_to_ug_per_ml, row_index, row_letters

from .synth import DATA_DIR, NTA_GOLDEN, ZV_COMMA

SOFTMAX_DIR = DATA_DIR / "softmax"
BCA = "bca_two_plates.txt"
MICRO = "microbca_384_comma.txt"
parser = SoftMaxParser()


@pytest.fixture(scope="module")
def bca_bytes() -> bytes:
    return (SOFTMAX_DIR / BCA).read_bytes()


@pytest.fixture(scope="module")
def bca(bca_bytes) -> PlateResult:
    return parser.parse(bca_bytes, BCA)


@pytest.fixture(scope="module")
def micro() -> PlateResult:
    return parser.parse((SOFTMAX_DIR / MICRO).read_bytes(), MICRO)


# --- builders for inline variants -----------------------------------------------------------


def plate_header(
    name: str = "P1",
    *,
    fmt: str = "PlateFormat",
    read: str = "Endpoint",
    mode: str = "Absorbance",
    data_type: str = "Raw",
    wavelengths: str = "562 ",
    count: str = "1",
    columns: str = "12",
    wells: str = "96",
    rows: str = "8",
) -> str:
    fields = ["Plate:", name, "1.3", fmt, read, mode, data_type, "FALSE", "1", "", "", "", "", ""]
    return "\t".join([*fields, count, wavelengths, "1", columns, wells, "1", rows, "", ""])


def plate_body(rows: int = 8, columns: int = 12, value=lambda r, c: f"{r + c / 100:.2f}") -> str:
    numbers = [str(c) for c in range(1, columns + 1)]
    lines = ["\t".join(["", "Temperature(¡C)", *numbers, ""])]
    for r in range(rows):
        cells = [value(r, c) for c in range(1, columns + 1)]
        lines.append("\t".join(["", "22.0" if r == 0 else "", *cells, ""]))
    return "\n".join(lines)


def softmax(*blocks: str, declared: int | None = None, codec: str = "utf-16-le", eol="\r\n"):
    count = len(blocks) if declared is None else declared
    text = "\n".join([f"##BLOCKS= {count}", *[b + "\n~End" for b in blocks]]) + "\n"
    text = text.replace("\n", eol)
    bom = {"utf-16-le": b"\xff\xfe", "utf-8-sig": b""}.get(codec, b"")
    return bom + text.encode(codec)


def group(name: str, header: list[str], *rows: list[str]) -> str:
    return "\n".join([f"Group: {name}", "\t".join(header), *("\t".join(r) for r in rows)])


SIMPLE_PLATE = plate_header() + "\n" + plate_body()


# --- detection ------------------------------------------------------------------------------


def test_detects_utf16_and_utf8_exports(bca_bytes):
    assert parser.detect(BCA, bca_bytes[:4096])
    assert parser.detect("x.txt", softmax(SIMPLE_PLATE, codec="utf-8")[:4096])
    assert parser.detect("x.txt", b"\r\n\r\n" + softmax(SIMPLE_PLATE, codec="utf-8"))
    # The detection cut may split a UTF-16 code unit.
    assert parser.detect(BCA, bca_bytes[:33])


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"Software Version\t3.12.08\r\n",
        b"#BLOCKS= 4\r\n",
        b"Plate:\tPlate1\t1.3\r\n",
        "NTA Experiment Summary File,\r\n".encode("utf-16"),
        b"FCS3.1         256    1545",
    ],
)
def test_other_heads_are_not_claimed(head):
    assert not parser.detect("x.txt", head)


def test_nta_and_zetaview_fixtures_are_not_claimed():
    for name in (NTA_GOLDEN, ZV_COMMA):
        assert not parser.detect(name, (DATA_DIR / name).read_bytes()[:4096])


def test_gen5_does_not_claim_softmax(bca_bytes):
    assert not Gen5Parser().detect(BCA, bca_bytes[:4096])


# --- golden fixture 1: BCA, PlateFormat × 2 wavelengths + TimeFormat ---------------------------


def test_reads_in_file_order(bca):
    assert [(r.plate_name, r.wavelength_nm) for r in bca.reads] == [
        ("BCA1", 562.0),
        ("BCA1", 650.0),
        ("BCA2", 562.0),
    ]
    for read in bca.reads:
        assert (read.rows, read.columns, read.read_type, read.reduced) == (
            8,
            12,
            "absorbance",
            False,
        )
        assert list(read.values)[:3] == ["A1", "A2", "A3"]
        assert len(read.values) == 96 and list(read.values)[-1] == "H12"


def test_plate_format_side_by_side_wavelengths(bca):
    at562, at650 = bca.reads[0].values, bca.reads[1].values
    # 562 nm: (row + 1) / 10 + column / 1000; 650 nm: 0.04 + column / 1000.
    assert at562["A1"] == 0.101
    assert at562["H12"] == 0.812
    assert at562["E9"] == 0.509
    assert at650["A1"] == 0.041
    assert at650["H12"] == 0.052
    # The reduced matrix (562 − 650) after the raw data is not read.
    assert at562["A1"] != 0.06


def test_markers_and_empty_cells_are_none_with_warnings(bca):
    values = bca.reads[0].values
    assert values["B5"] is None and values["C6"] is None and values["D7"] is None
    assert sum(v is None for v in values.values()) == 3
    assert 'BCA1 at 562 nm: no value for 1 well marked "Range?" (B5)' in bca.warnings
    assert 'BCA1 at 562 nm: no value for 1 well marked "Masked" (C6)' in bca.warnings
    assert "BCA1 at 562 nm: no value for 1 well empty (D7)" in bca.warnings


def test_time_format_list_export(bca):
    values = bca.reads[2].values
    assert values["A1"] == 0.21
    assert values["A12"] == 0.32
    assert values["B1"] == 0.33
    assert values["H12"] == 1.16
    assert values["E8"] is None
    assert 'BCA2 at 562 nm: no value for 1 well marked "Range?" (E8)' in bca.warnings


def test_standards_layout(bca):
    assert bca.layout["A1"] == {
        "role": "standard",
        "concentration": 2000.0,
        "name": "01",
        "group": "Standards",
    }
    # Replicate rows leave Sample and the concentration blank: they inherit them.
    assert bca.layout["A3"]["concentration"] == 2000.0
    assert bca.layout["G2"] == {
        "role": "standard",
        "concentration": 125.0,
        "name": "07",
        "group": "Standards",
    }


def test_blank_sample_and_control_layout(bca):
    assert bca.layout["H2"] == {
        "role": "blank",
        "concentration": None,
        "name": "BLK",
        "group": "Blanks",
    }
    assert bca.layout["A4"] == {
        "role": "sample",
        "concentration": None,
        "name": "EXO-000124",
        "group": "Unknowns",
        "dilution": 10.0,
    }
    assert bca.layout["B6"]["name"] == "EXO-000125"
    # "Concentration mg/mL" 0.500 → 500 µg/mL.
    assert bca.layout["H12"] == {
        "role": "control",
        "concentration": 500.0,
        "name": "BSA QC",
        "group": "BSA Control",
    }
    assert 'group "BSA Control": concentrations converted from mg/mL to µg/mL' in bca.warnings
    assert len(bca.layout) == 21 + 3 + 6 + 2
    assert "A7" not in bca.layout


def test_result_header_fields(bca):
    assert bca.description == "2024-03-14 BCA EV lysates"
    assert bca.measured_at is None  # "Date Last Saved" is not when the plate was read
    assert bca.software_version == ""
    assert bca.instrument_serial == ""
    assert len(bca.warnings) == 5


# --- golden fixture 2: 384 wells, decimal commas, reduced TimeFormat --------------------------


def test_384_well_plate_with_decimal_commas(micro):
    read = micro.reads[0]
    assert (read.plate_name, read.rows, read.columns, read.wavelength_nm) == ("Micro1", 16, 24, 562)
    assert len(read.values) == 384
    assert read.values["A1"] == 0.052
    assert read.values["A24"] == 0.098
    assert read.values["P1"] == 1.552
    assert read.values["P24"] == -0.00075  # "-7,5E-04"
    assert None not in read.values.values()


def test_reduced_time_format_of_two_wavelengths(micro):
    read = micro.reads[1]
    assert read.reduced is True
    assert read.wavelength_nm is None  # one value per well from 562 and 650 nm
    assert read.values["A1"] == 0.31
    assert read.values["A24"] == 0.54
    assert read.values["B1"] is None  # not read: a row-A-only export
    assert sum(v is not None for v in read.values.values()) == 24


def test_standards_in_ng_per_ml_become_ug_per_ml(micro):
    # "40,000" ng/mL in a decimal-comma file is 40 ng/mL = 0.04 µg/mL; "B02" is B2.
    assert micro.layout["A1"]["concentration"] == 0.04
    assert micro.layout["B2"] == {
        "role": "standard",
        "concentration": 0.02,
        "name": "S2",
        "group": "Standards",
    }
    assert micro.layout["F1"]["concentration"] == 0.0005
    assert 'group "Standards": concentrations converted from ng/mL to µg/mL' in micro.warnings


# --- variants --------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-8-sig", "utf-8"])
@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_encodings_and_line_endings_give_the_same_result(bca, bca_bytes, codec, eol):
    text = bca_bytes[2:].decode("utf-16-le").replace("\r\n", eol)
    bom = b"\xef\xbb\xbf" if codec == "utf-8-sig" else b"\xff\xfe" if codec == "utf-16-le" else b""
    data = bom + text.encode("utf-8" if codec.startswith("utf-8") else codec)
    assert parser.parse(data, BCA) == bca


def test_fluorescence_header_has_one_more_field():
    # The scan-position field (FALSE) after "Fluorescence" shifts the rest by one.
    head = ["Plate:", "F1", "1.3", "TimeFormat", "Endpoint", "Fluorescence", "FALSE", "Raw"]
    waves = ["FALSE", "1", "", "", "", "", "", "2", "460 528 ", "1", "12", "96", "360 485 "]
    header = "\t".join([*head, *waves, "Manual", "", "", "", "6", "", "", "", "1", "1", "360 485"])
    wells = [f"A{c}" for c in range(1, 13)]
    body = "\n".join(
        [
            "\t".join(["", "Temperature(¡C)", *wells]),
            "\t".join(["", "0", *[str(1000 + c) for c in range(1, 13)]]),
            "",
            "\t".join(["", "0", *[str(2000 + c) for c in range(1, 13)]]),
            "",
            "\t".join(["", "", *wells]),
            "\t".join(["", "", *["0.5"] * 12]),
        ]
    )
    result = parser.parse(softmax(header + "\n" + body))
    assert [(r.wavelength_nm, r.read_type) for r in result.reads] == [
        (460.0, "fluorescence"),
        (528.0, "fluorescence"),
    ]
    assert result.reads[0].values["A12"] == 1012.0
    assert result.reads[1].values["A1"] == 2001.0
    assert result.reads[1].values["B1"] is None


def test_kinetic_plate_is_skipped_with_a_warning():
    kinetic = plate_header("K1", read="Kinetic") + "\n" + plate_body()
    result = parser.parse(softmax(kinetic, SIMPLE_PLATE))
    assert [r.plate_name for r in result.reads] == ["P1"]
    assert 'skipped plate "K1": Kinetic reads are not supported, only endpoint reads' in (
        result.warnings
    )


def test_only_kinetic_plates_is_an_error():
    kinetic = plate_header("K1", read="Kinetic") + "\n" + plate_body()
    with pytest.raises(
        ParseError, match=r'no endpoint plate data \(plate "K1" is a Kinetic read\)'
    ):
        parser.parse(softmax(kinetic))


def test_more_blocks_than_declared_are_all_read():
    result = parser.parse(softmax(SIMPLE_PLATE, "Note:\nhello", declared=1))
    assert "##BLOCKS= says 1 blocks but the file has 2; all were read" in result.warnings


def test_note_and_unknown_blocks():
    result = parser.parse(softmax("Note:\nSummary\t1.0", "Cuvette:\tC1", SIMPLE_PLATE))
    assert result.reads[0].values["A1"] == 0.01
    assert any('skipped a "Cuvette:' in w for w in result.warnings)


def test_units_it_cannot_convert_are_kept_with_the_unit():
    standards = group(
        "Standards",
        ["Sample", "Concentration Units/mL", "Wells"],
        ["01", "530000000.000", "A1"],
        [" ", " ", "A2"],
    )
    result = parser.parse(softmax(SIMPLE_PLATE, standards))
    assert result.layout["A2"] == {
        "role": "standard",
        "concentration": 530000000.0,
        "name": "01",
        "group": "Standards",
        "unit": "Units/mL",
    }


def test_standard_without_concentration_is_warned():
    standards = group("Standards", ["Sample", "Wells"], ["01", "A1"], ["02", "B1"])
    result = parser.parse(softmax(SIMPLE_PLATE, standards))
    assert result.layout["A1"]["concentration"] is None
    assert 'group "Standards": no concentration for standard(s) 01, 02' in result.warnings


def test_a_well_in_two_groups_keeps_the_first():
    blanks = group("Blanks", ["Sample", "Wells"], ["B", "A1"])
    samples = group("Unknowns", ["Sample", "Wells"], ["S", "A1"], ["S", "A2"])
    result = parser.parse(softmax(SIMPLE_PLATE, blanks, samples))
    assert result.layout["A1"]["role"] == "blank"
    assert result.layout["A2"]["role"] == "sample"
    assert 'well A1 is in group "Blanks" and in "Unknowns"; the layout keeps "Blanks"' in (
        result.warnings
    )


def test_group_without_wells_column_is_warned():
    result = parser.parse(softmax(SIMPLE_PLATE, group("Unknowns", ["Sample", "Value"], ["S", "1"])))
    assert result.layout == {}
    assert any("has no Wells column" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Standards", "standard"),
        ("STD curve", "standard"),
        ("Blank", "blank"),
        ("Buffer blanks", "blank"),
        ("PositiveControl", "control"),
        ("Control.", "control"),
        ("QC high", "control"),
        ("Unknowns", "sample"),
        ("UENDO004-SF09", "sample"),
    ],
)
def test_group_roles_from_names(name, role):
    result = parser.parse(softmax(SIMPLE_PLATE, group(name, ["Sample", "Wells"], ["x", "C3"])))
    assert result.layout["C3"]["role"] == role


def test_unit_conversion_helper():
    assert convert_to_ug_per_ml(320.0, "ng/mL") == (0.32, True)
    assert convert_to_ug_per_ml(2.0, "(μg/mL)") == (2.0, True)  # Greek mu, parentheses
    assert convert_to_ug_per_ml(1.5, "mg/mL") == (1500.0, True)
    assert convert_to_ug_per_ml(7.0, "Capsid/mL") == (7.0, False)


def test_row_letters_round_trip():
    assert [row_letters(i) for i in (0, 7, 15, 25, 26, 31)] == ["A", "H", "P", "Z", "AA", "AF"]
    assert all(row_index(row_letters(i)) == i for i in range(32))
    assert row_index("Conc") == -1 and row_index("") == -1


# --- errors ---------------------------------------------------------------------------------


def _error(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        parser.parse(data, "x.txt")
    assert "internal error" not in info.value.message
    return info.value


def test_not_softmax():
    error = _error(b"Software Version\t3.12.08\r\n")
    assert error.message == 'not a SoftMax Pro export: it should start with "##BLOCKS="'
    assert error.line == 1


def test_block_without_end_is_truncation(bca_bytes):
    text = bca_bytes[2:].decode("utf-16-le")
    cut = text[: text.index("Group: Blanks") + 40]
    error = _error(cut.encode("utf-8"))
    assert 'the block "Group: Blanks" that starts on line' in error.message
    assert "has no ~End" in error.message


def test_fewer_blocks_than_declared():
    error = _error(softmax(SIMPLE_PLATE, declared=3))
    assert error.message == "the file is truncated: ##BLOCKS= says 3 blocks but it has 1"


def test_plate_format_missing_rows():
    error = _error(softmax(plate_header() + "\n" + plate_body(rows=6)))
    assert error.message == 'plate "P1" has 6 of its 8 rows (the file is truncated or edited)'


def test_wavelength_count_mismatch():
    error = _error(softmax(plate_header(wavelengths="562 650 ", count="1") + "\n" + plate_body()))
    assert error.message == 'plate "P1": the header says 1 wavelengths but lists 2'
    assert error.line == 2


def test_two_wavelengths_but_one_matrix():
    error = _error(softmax(plate_header(wavelengths="562 650 ", count="2") + "\n" + plate_body()))
    assert error.message == 'plate "P1" lists 2 wavelengths but has data for 1'


def test_non_standard_plate_size():
    error = _error(softmax(plate_header(wells="97") + "\n" + plate_body()))
    assert error.message == 'plate "P1": 97 wells is not a standard plate'


def test_column_beyond_the_plate():
    error = _error(softmax(plate_header() + "\n" + plate_body(columns=13)))
    assert error.message == 'plate "P1": "13" is not a column of a 12-column plate'
    assert error.line == 3


def test_endpoint_time_format_with_two_time_points():
    wells = "\t".join(f"A{c}" for c in range(1, 13))
    body = f"\tTemperature(¡C)\t{wells}\n\t22\t" + "\t".join(["1"] * 12)
    body += "\n\t22\t" + "\t".join(["2"] * 12)
    error = _error(softmax(plate_header(fmt="TimeFormat") + "\n" + body))
    assert error.message == 'plate "P1": 2 time points for one wavelength in an endpoint read'
    assert error.line == 5


def test_unknown_export_format():
    error = _error(softmax(plate_header(fmt="ColumnFormat") + "\n" + plate_body()))
    assert "unknown export format" in error.message


def test_group_well_that_is_not_a_well():
    bad = group("Unknowns", ["Sample", "Wells", "WellPlateName"], ["S", "Z99", "P1"])
    error = _error(softmax(SIMPLE_PLATE, bad))
    assert error.message == 'group "Unknowns": "Z99" is not a well of the plate'
    assert error.column == "Wells"


def test_duplicate_plate_names():
    error = _error(softmax(SIMPLE_PLATE, SIMPLE_PLATE))
    assert error.message == 'the plate name "P1" is used twice'


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"##BLOCKS= 0\r\n"])
def test_empty_exports(data):
    _error(data)
