"""ImageJ / Fiji Results tables (western-blot densitometry): the layouts ImageJ writes (.csv,
tab-text .xls, Gel Analyzer), locale variants, band values, ParseError for anything else,
and a small hypothesis fuzz. The fixtures are written here, after ImageJ's ResultsTable
layout (INSTRUMENT-FORMATS.md §8); no lab export has been seen yet."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers import imagej
from assays.parsers.base import ParseError
from assays.parsers.imagej import DensitometryTable, band_values, parse_results_table

# Analyze > Measure with "Display label", "Integrated density" on; saved as Results.csv.
MEASURE_CSV = (
    b" ,Label,Area,Mean,Min,Max,IntDen,RawIntDen\n"
    b"1,CD63 blot.tif:lane1,1520,112.531,41,203,171047.12,171047\n"
    b'2,"CD63 blot.tif:lane2, diluted",1520,98.25,39,188,149340,149340\n'
    b"3,CD63 blot.tif:lane3,1520,NaN,0,0,NaN,0\n"
)
# The same saved as Results.xls by ImageJ: tab text, CRLF.
MEASURE_XLS = (
    MEASURE_CSV.replace(b'"CD63 blot.tif:lane2, diluted"', b"CD63 lane2")
    .replace(b",", b"\t")
    .replace(b"\n", b"\r\n")
)
# Gel Analyzer: the wand tool on each lane's peak; "label with percentages" on.
GEL_XLS = b" \tArea\tPercent\r\n1\t4211.903\t38.652\r\n2\t6684.154\t61.348\r\n"
# Default measurements only (Area, Mean, Min, Max).
DEFAULT_CSV = b" ,Area,Mean,Min,Max\n1,900,120.5,10,250\n2,900,80.25,12,240\n"


@pytest.fixture(scope="module")
def measure() -> DensitometryTable:
    return parse_results_table(MEASURE_CSV, "Results.csv")


def test_measure_csv_columns_and_rows(measure):
    assert measure.columns == ("#", "Label", "Area", "Mean", "Min", "Max", "IntDen", "RawIntDen")
    assert measure.rows[0] == {
        "#": 1.0,
        "Label": "CD63 blot.tif:lane1",
        "Area": 1520.0,
        "Mean": 112.531,
        "Min": 41.0,
        "Max": 203.0,
        "IntDen": 171047.12,
        "RawIntDen": 171047.0,
    }
    assert measure.rows[1]["Label"] == "CD63 blot.tif:lane2, diluted"  # quoted comma
    assert measure.rows[2]["Mean"] is None  # NaN
    assert measure.rows[2]["IntDen"] is None


def test_band_values_prefer_intden_and_skip_missing(measure):
    values = band_values(measure)
    assert values == [
        ("CD63 blot.tif:lane1", 171047.12),
        ("CD63 blot.tif:lane2, diluted", 149340.0),
    ]
    assert values.value_column == "IntDen"
    assert measure.value_column == "IntDen"


def test_xls_is_tab_text(measure):
    table = parse_results_table(MEASURE_XLS, "Results.xls")
    assert table.columns == measure.columns
    assert table.rows[0] == measure.rows[0]
    assert table.rows[1]["Label"] == "CD63 lane2"


def test_raw_intden_when_no_intden():
    data = b" ,Label,Area,RawIntDen\n1,a,10,5000\n2,b,10,7000\n"
    values = band_values(parse_results_table(data))
    assert (values, values.value_column) == ([("a", 5000.0), ("b", 7000.0)], "RawIntDen")


def test_gel_analyzer_peak_areas():
    table = parse_results_table(GEL_XLS, "Results.xls")
    assert table.columns == ("#", "Area", "Percent")
    values = band_values(table)
    # No Label column: the band is named by ImageJ's row index.
    assert values == [("1", 4211.903), ("2", 6684.154)]
    assert values.value_column == "Area"


def test_roi_area_beside_mean_is_not_a_band_value():
    # With Area and Mean but no IntDen, Area is the size of the measuring box.
    values = band_values(parse_results_table(DEFAULT_CSV))
    assert values.value_column == "Mean"
    assert values == [("1", 120.5), ("2", 80.25)]


def test_decimal_commas_bom_and_semicolons():
    tsv = "\ufeff \tLabel\tArea\tIntDen\r\n1\tCD9\t1520\t171047,12\r\n2\tCD81\t1520,5\t9,5E+4\r\n"
    table = parse_results_table(tsv.encode("utf-8"), "Results.xls")
    assert [row["IntDen"] for row in table.rows] == [171047.12, 95000.0]
    assert table.rows[1]["Area"] == 1520.5
    semicolons = tsv.lstrip("\ufeff").replace("\t", ";").encode("cp1252")
    assert parse_results_table(semicolons).rows == table.rows
    assert parse_results_table(tsv.encode("utf-16")).rows == table.rows


def test_summarize_rows_are_not_bands():
    data = (
        b" ,Label,IntDen\n1,lane1,100\n2,lane2,300\n"
        b"3,Mean,200\n4,SD,141.421\n5,Min,100\n6,Max,300\n"
    )
    assert band_values(parse_results_table(data)) == [("lane1", 100.0), ("lane2", 300.0)]


def test_summarize_rows_labelled_in_the_index_column():
    data = b" ,IntDen\n1,100\n2,300\nMean,200\nSD,141.421\nMin,100\nMax,300\n"
    table = parse_results_table(data)
    assert table.rows[2]["#"] == "Mean"
    assert band_values(table) == [("1", 100.0), ("2", 300.0)]


def test_a_band_called_max_is_still_a_band():
    data = b" ,Label,IntDen\n1,Min,100\n2,Max,300\n"
    assert band_values(parse_results_table(data)) == [("Min", 100.0), ("Max", 300.0)]


def test_without_index_column_bands_are_numbered():
    table = parse_results_table(b"Area,Mean,IntDen\n10,2,20\n10,3,30\n")
    assert table.columns == ("Area", "Mean", "IntDen")
    assert band_values(table) == [("1", 20.0), ("2", 30.0)]


def test_unknown_columns_stay_text_and_blank_lines_are_skipped():
    data = b" ,Label,IntDen,Antibody\n1,lane1,100,anti-CD63 1:1000\n\n2,lane2,300,\n"
    table = parse_results_table(data)
    assert table.rows[0]["Antibody"] == "anti-CD63 1:1000"
    assert table.rows[1]["Antibody"] is None
    assert len(table.rows) == 2


def test_trailing_delimiter_and_short_rows():
    table = parse_results_table(b" ,Area,Mean,\n1,10,2,\n2,10\n")
    assert table.columns == ("#", "Area", "Mean")
    assert table.rows[1] == {"#": 2.0, "Area": 10.0, "Mean": None}


def test_band_values_needs_a_value_column():
    table = parse_results_table(b" ,Min,Max\n1,2,3\n")
    assert table.value_column is None
    with pytest.raises(ParseError, match="IntDen"):
        band_values(table)


# -- errors ----------------------------------------------------------------------------------


def _error(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_results_table(data, "Results.csv")
    assert "internal error" not in info.value.message
    return info.value


def test_not_a_number_in_a_measurement_column():
    error = _error(b" ,Label,Area,IntDen\n1,a,10,100\n2,b,ten,200\n")
    assert (error.line, error.column) == (3, "Area")


def test_not_an_imagej_table():
    error = _error(b"accession,volume_ml,concentration\nEXO-1,1.5,2e9\n")
    assert error.line == 1
    assert "ImageJ" in error.message


def test_header_without_rows():
    assert "no measurements" in _error(b" ,Area,Mean\n").message


def test_duplicate_and_unnamed_columns():
    assert "twice" in _error(b" ,Area,Area\n1,2,3\n").message
    assert "no header" in _error(b" ,Area,,Mean\n1,2,3,4\n").message


def test_row_longer_than_header():
    error = _error(b" ,Area,Mean\n1,2,3\n2,2,3,4\n")
    assert error.line == 3


@pytest.mark.parametrize("data", [b"", b"\r\n \r\n", b"\x00\x01\x02\x03\x04" * 200, b"%PDF-1.7\n"])
def test_empty_binary_or_other(data):
    _error(data)


def test_size_limit():
    data = b" ,Area\n" + b"1,1\n" * (imagej.MAX_BYTES // 4 + 1)
    assert "10 MB" in _error(data).message


def test_row_limit():
    data = b" ,Area\n" + b"".join(b"%d,1\n" % i for i in range(imagej.MAX_ROWS + 1))
    assert str(imagej.MAX_ROWS) in _error(data).message
    ok = b" ,Area\n" + b"".join(b"%d,1\n" % i for i in range(imagej.MAX_ROWS))
    assert len(parse_results_table(ok).rows) == imagej.MAX_ROWS


# -- fuzz ------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(data: bytes) -> None:
    try:
        table = parse_results_table(data, "fuzz.csv")
    except ParseError as exc:
        assert exc.message and "internal error" not in exc.message, exc.message
        assert exc.line is None or exc.line >= 1
        return
    assert table.rows
    for row in table.rows:
        assert tuple(row) == table.columns
        for value in row.values():
            assert value is None or isinstance(value, str) or math.isfinite(value)
    try:
        values = band_values(table)
    except ParseError:
        assert table.value_column is None
        return
    assert all(isinstance(label, str) and math.isfinite(v) for label, v in values)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(data):
    _check(data)


@FUZZ
@given(
    original=st.sampled_from([MEASURE_CSV, MEASURE_XLS, GEL_XLS, DEFAULT_CSV]),
    edits=st.lists(
        st.tuples(
            st.integers(0, 400),
            st.sampled_from([b",", b"\t", b'"', b"\n", b"x", b"1e999", b"\xff", b""]),
        ),
        max_size=6,
    ),
)
def test_fuzz_mutated_tables(original, edits):
    data = bytearray(original)
    for position, insert in edits:
        position = min(position, len(data))
        if insert:
            data[position:position] = insert
        else:
            del data[position : position + 3]
    _check(bytes(data))


@FUZZ
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=30
    )
)
def test_fuzz_values_round_trip(values):
    lines = [" ,Label,IntDen"] + [f"{i},band {i},{v!r}" for i, v in enumerate(values, 1)]
    result = band_values(parse_results_table("\n".join(lines).encode()))
    assert result == [(f"band {i}", v) for i, v in enumerate(values, 1)]
