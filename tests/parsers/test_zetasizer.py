"""Malvern Zetasizer export-template text: golden values from the synthetic files in
tests/data/instruments/zetasizer/ (German, US and two-table exports), layout variants, unit
conversion, dates, detection, and ParseError (what and where) for unreadable files."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime

import pytest

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.results import DLSRecord, DLSResult
from assays.parsers.zetasizer import ZetasizerParser, parse_datetime

from .synth import DATA_DIR

ZS_DIR = DATA_DIR / "zetasizer"
GERMAN = "records_de.txt"  # cp1252, CRLF, decimal comma, "Dienstag, 5. März 2024"
TWO_TABLES = "summary_and_detail.txt"  # UTF-8 BOM, LF, record summary + detail table
US_ZETA = "zeta_us.txt"  # cp1252, AM/PM dates, °F, µS/cm, no Type/Record column

parser = ZetasizerParser()


def _parse(name: str) -> DLSResult:
    return parser.parse((ZS_DIR / name).read_bytes(), name)


def _table(header: list[str], *rows: list[str], eol: str = "\r\n") -> bytes:
    return (eol.join("\t".join(r) for r in [header, *rows]) + eol).encode("cp1252")


def _rows(name: str, codec: str = "cp1252") -> list[list[str]]:
    text = (ZS_DIR / name).read_bytes().decode(codec)
    return [line.split("\t") for line in text.splitlines()]


@pytest.fixture(scope="module")
def german() -> DLSResult:
    return _parse(GERMAN)


@pytest.fixture(scope="module")
def two_tables() -> DLSResult:
    return _parse(TWO_TABLES)


@pytest.fixture(scope="module")
def us_zeta() -> DLSResult:
    return _parse(US_ZETA)


# -- golden values ---------------------------------------------------------------------------


def test_german_size_record(german):
    assert len(german.records) == 3
    first = german.records[0]
    assert first == DLSRecord(
        kind="size",
        sample_name="EXO-000201 SEC F3 1",
        record_number=1,
        measured_at=datetime(2024, 3, 5, 14, 22, 10),
        temperature_c=25.0,
        dispersant="Water",
        z_average_nm=112.4,
        pdi=0.183,
        intercept=0.921,
        count_rate_kcps=18450.3,
        attenuator=7,
        quality="Good",
        peaks=(
            {"mean_nm": 128.9, "area_pct": 94.2, "width": 41.35},
            {"mean_nm": 4820.0, "area_pct": 5.8, "width": 610.2},
        ),
        extra={"Mean Count Rate (kcps)": "612,7", "Pk 1 Mean Num (d.nm)": "88,71"},
    )


def test_german_zero_peak_is_no_peak(german):
    # Peak 2 is written as 0,000 / 0,0 / 0,000: the software found no second population.
    assert german.records[1].peaks == ({"mean_nm": 130.2, "area_pct": 100.0, "width": 43.1},)


def test_german_zeta_record_in_the_same_file(german):
    zeta = german.records[2]
    assert zeta.kind == "zeta"
    assert zeta.record_number == 3
    assert zeta.measured_at == datetime(2024, 3, 5, 14, 31, 55)
    assert zeta.zeta_potential_mv == -24.6
    assert zeta.zeta_deviation_mv == 6.12
    assert zeta.mobility_um_cm_per_v_s == -1.928
    assert zeta.conductivity_ms_cm == 0.0182
    assert zeta.count_rate_kcps == 1520.4
    assert zeta.attenuator == 9
    assert zeta.z_average_nm is None and zeta.pdi is None and zeta.peaks == ()
    assert zeta.extra == {"Mean Count Rate (kcps)": "101,3", "Quality Factor": "1,37"}
    assert german.software_version == "" and german.instrument_serial == ""


def test_two_tables_are_merged_per_record(two_tables):
    assert [r.sample_name for r in two_tables.records] == [
        "plasma EV 1",
        "plasma EV 2",
        "plasma EV 3",
    ]
    first = two_tables.records[0]
    # From the summary table …
    assert first.record_number == 11
    assert first.temperature_c == 25.0
    assert first.pdi == 0.214
    assert first.peaks == ({"mean_nm": 121.3, "area_pct": None, "width": 52.07, "pd_pct": 42.9},)
    # … and from the detail table.
    assert first.dispersant == "Water"
    assert first.count_rate_kcps == 3120.5
    assert first.sizes_nm == (10.10, 32.67, 105.7, 342.0, 1106.0)
    assert first.intensity_pct == (0.0, 12.5, 80.1, 7.4, 0.0)
    assert first.number_pct == (1.2, 60.3, 38.5, 0.0, 0.0)
    assert first.volume_pct == (0.0, 20.7, 70.0, 9.3, 0.0)
    assert first.extra == {"Dispersant RI": "1.330"}
    assert two_tables.software_version == "7.13"
    assert two_tables.instrument_serial == "MAL1212121"


def test_two_tables_second_peak_and_detail_only_record(two_tables):
    second = two_tables.records[1]
    assert second.peaks == (
        {"mean_nm": 119.8, "area_pct": None, "width": 49.33, "pd_pct": 41.2},
        {"mean_nm": 15.12, "area_pct": None, "width": 2.41, "pd_pct": 15.9},
    )
    third = two_tables.records[2]  # only in the detail table
    assert third.record_number is None
    assert third.measured_at == datetime(2024, 1, 12, 9, 8, 20)
    assert third.z_average_nm == 98.87
    assert third.intensity_pct == (0.0, 13.1, 79.9, 7.0, 0.0)


def test_us_zeta_units_and_dates(us_zeta):
    first, second = us_zeta.records
    assert first.kind == second.kind == "zeta"  # no Type column: zeta results only
    assert first.measured_at == datetime(2024, 3, 5, 14, 31, 55)  # 3/5/2024 2:31:55 PM
    assert first.temperature_c == pytest.approx(25.0)  # 77.0 °F
    assert first.conductivity_ms_cm == pytest.approx(0.182)  # 182 µS/cm
    assert first.mobility_um_cm_per_v_s == -1.928
    assert first.zeta_mv == (-60.0, -30.0, 0.0, 30.0, 60.0)
    assert first.zeta_counts == (0.0, 1200.0, 5400.0, 300.0, 0.0)
    assert first.peaks == ({"mean_mv": -24.1, "area_pct": 100.0, "width": 6.0},)
    assert second.peaks == (
        {"mean_mv": -23.5, "area_pct": 96.5, "width": 5.71},
        {"mean_mv": -51.2, "area_pct": 3.5, "width": 2.1},
    )
    assert first.sizes_nm == () and first.intensity_pct == ()
    assert us_zeta.software_version == "7.13"
    assert us_zeta.sample_name == "EV pellet PBS 1 EV pellet PBS 2"


# -- layout variants -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_column_order(german, seed):
    rows = _rows(GERMAN)
    order = list(range(len(rows[0])))
    random.Random(seed).shuffle(order)
    shuffled = [[row[i] for i in order] for row in rows]
    assert parser.parse(_table(*shuffled)) == german


def test_missing_columns(german):
    rows = _rows(GERMAN)
    keep = [i for i, h in enumerate(rows[0]) if h not in ("Type", "T (°C)", "Record", "PdI")]
    result = parser.parse(_table(*[[row[i] for i in keep] for row in rows]))
    # Without a Type column the kind comes from which results the row holds.
    assert [r.kind for r in result.records] == ["size", "size", "zeta"]
    for got, full in zip(result.records, german.records, strict=True):
        assert got == replace(full, temperature_c=None, record_number=None, pdi=None)


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode("utf-8"),
        lambda t: t.encode("utf-8-sig"),
        lambda t: t.encode("utf-16"),
        lambda t: t.encode("cp1252").replace(b"\r\n", b"\n"),
        lambda t: t.encode("cp1252").replace(b"\r\n", b"\r"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "lf", "cr"],
)
def test_encodings_and_line_endings(german, encode):
    text = (ZS_DIR / GERMAN).read_bytes().decode("cp1252")
    assert parser.parse(encode(text)) == german


def test_semicolon_csv_with_decimal_commas(german):
    text = (ZS_DIR / GERMAN).read_bytes().decode("cp1252").replace("\t", ";")
    assert parser.parse(text.encode("cp1252")) == german


def test_comma_csv_with_quoted_names():
    data = b'Type,Sample Name,Z-Ave (d.nm),PdI\r\nSize,"SD283 - F1, HBG6.4",108.0,0.112\r\n'
    record = parser.parse(data).records[0]
    assert (record.sample_name, record.z_average_nm, record.pdi) == (
        "SD283 - F1, HBG6.4",
        108.0,
        0.112,
    )


def test_duplicate_headers_first_filled_cell_wins():
    header = [
        "Type",
        "Sample Name",
        "Derived Count Rate (kcps)",
        "Sample Name",
        "Derived Count Rate (kcps)",
    ]
    record = parser.parse(_table(header, ["Size", "", "", "EV 1", "310.5"])).records[0]
    assert record.sample_name == "EV 1"
    assert record.count_rate_kcps == 310.5


def test_empty_and_missing_markers_are_none():
    header = ["Type", "Sample Name", "Z-Ave (d.nm)", "PdI", "Intercept", "Attenuator"]
    record = parser.parse(_table(header, ["Size", "EV", "NaN", "n/a", "-", ""])).records[0]
    assert (record.z_average_nm, record.pdi, record.intercept, record.attenuator) == (None,) * 4


def test_short_rows_are_padded_when_the_file_ends_cleanly():
    header = ["Type", "Sample Name", "Z-Ave (d.nm)", "PdI", "Measurement Status"]
    record = parser.parse(_table(header, ["Size", "EV", "101.5"])).records[0]
    assert (record.z_average_nm, record.pdi, record.extra) == (101.5, None, {})


def test_arrays_shorter_than_their_header_end_in_blanks():
    header = ["Type", "Sample Name"] + [f"Sizes[{i}] (d.nm)" for i in (1, 2, 3)]
    header += [f"Intensities[{i}] (Percent)" for i in (1, 2, 3)]
    record = parser.parse(_table(header, ["Size", "EV", "10", "100", "", "40", "60", ""])).records[
        0
    ]
    assert record.sizes_nm == (10.0, 100.0)
    assert record.intensity_pct == (40.0, 60.0)


def test_unused_arrays_go_to_extra_as_text():
    header = ["Type", "Sample Name", "Z-Ave (d.nm)"] + [
        f"Correlation Delay Times[{i}] (µs)" for i in (1, 2)
    ]
    record = parser.parse(_table(header, ["Size", "EV", "99", "0.500", "1.00"])).records[0]
    assert record.extra == {"Correlation Delay Times (µs)": ["0.500", "1.00"]}


def test_same_key_with_other_record_number_is_not_merged():
    header = ["Record", "Type", "Sample Name", "Measurement Date and Time", "Z-Ave (d.nm)"]
    data = _table(
        header,
        ["1", "Size", "EV", "06 March 2026 14:50:12", "100"],
        header,
        ["2", "Size", "EV", "06 March 2026 14:50:12", "200"],
    )
    assert [r.z_average_nm for r in parser.parse(data).records] == [100.0, 200.0]


def test_later_table_does_not_overwrite_values():
    header = ["Type", "Sample Name", "Measurement Date and Time", "Z-Ave (d.nm)", "PdI"]
    data = _table(
        header,
        ["Size", "EV", "06 March 2026 14:50:12", "100", ""],
        header,
        ["Size", "EV", "06 March 2026 14:50:12", "999", "0.2"],
    )
    (record,) = parser.parse(data).records
    assert (record.z_average_nm, record.pdi) == (100.0, 0.2)


def test_three_tables_complete_one_record_and_repeats_in_a_table_stay_apart():
    when = "06 March 2026 14:50:12"
    data = _table(
        ["Type", "Sample Name", "Measurement Date and Time", "Z-Ave (d.nm)"],
        ["Size", "EV", when, "100"],
        ["Size", "EV", when, "101"],  # the same key twice in one table: two records
        ["Type", "Sample Name", "Measurement Date and Time", "PdI"],
        ["Size", "EV", when, "0.1"],
        ["Size", "EV", when, "0.2"],
        ["Type", "Sample Name", "Measurement Date and Time", "Intercept"],
        ["Size", "EV", when, "0.9"],
    )
    first, second = parser.parse(data).records
    assert (first.z_average_nm, first.pdi, first.intercept) == (100.0, 0.1, 0.9)
    assert (second.z_average_nm, second.pdi, second.intercept) == (101.0, 0.2, None)


def test_protein_mobility_is_a_zeta_record():
    header = ["Type", "Sample Name", "Zeta Potential (mV)"]
    assert (
        parser.parse(_table(header, ["Protein Mobility", "BSA", "-5.1"])).records[0].kind == "zeta"
    )


# -- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("d.nm", 50.0), ("nm", 50.0), ("r.nm", 100.0), ("d.µm", 50000.0), ("µm", 50000.0)],
)
def test_size_units(unit, expected):
    header = ["Type", "Sample Name", f"Z-Ave ({unit})", f"Sizes[1] ({unit})"]
    record = parser.parse(_table(header, ["Size", "EV", "50", "50"])).records[0]
    assert record.z_average_nm == expected
    assert record.sizes_nm == (expected,)


@pytest.mark.parametrize(
    ("header", "value", "field", "expected"),
    [
        ("Temperature (°C)", "25.0", "temperature_c", 25.0),
        ("T (ºC)", "25.0", "temperature_c", 25.0),
        ("T (?C)", "25.0", "temperature_c", 25.0),
        ("Temperature (K)", "298.15", "temperature_c", 25.0),
        ("Derived Count Rate (cps)", "250000", "count_rate_kcps", 250.0),
        ("Derived Count Rate (Mcps)", "2.5", "count_rate_kcps", 2500.0),
        ("Conductivity (S/m)", "0.15", "conductivity_ms_cm", 1.5),
        ("Mobility (μm cm / V s)", "-1.2", "mobility_um_cm_per_v_s", -1.2),
        ("Mobility (\ufffdmcm/Vs)", "-1.2", "mobility_um_cm_per_v_s", -1.2),
    ],
)
def test_scalar_units(header, value, field, expected):
    data = ("Type\tSample Name\t" + header + "\r\nZeta\tEV\t" + value + "\r\n").encode("utf-8")
    assert getattr(parser.parse(data).records[0], field) == pytest.approx(expected)


def test_unknown_unit_is_an_error_not_a_wrong_number():
    with pytest.raises(ParseError) as info:
        parser.parse(_table(["Type", "Sample Name", "Z-Ave (furlong)"], ["Size", "EV", "1"]))
    assert info.value.line == 1
    assert info.value.column == "Z-Ave (furlong)"
    assert "unit" in info.value.message


# -- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wednesday, 25 February 2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("06 March 2026 14:50:12", datetime(2026, 3, 6, 14, 50, 12)),
        ("Wednesday, February 25, 2026 4:02:06 PM", datetime(2026, 2, 25, 16, 2, 6)),
        ("Mittwoch, 25. Februar 2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("mercredi 25 février 2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("miércoles, 25 de febrero de 2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("woensdag 25 februari 2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("25.02.2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("25/02/2026 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("02/03/2026 16:02:06", datetime(2026, 3, 2, 16, 2, 6)),  # 24-hour clock: day first
        ("02/03/2026 4:02:06 PM", datetime(2026, 2, 3, 16, 2, 6)),  # AM/PM: US month first
        ("12/25/2026 12:00:00 AM", datetime(2026, 12, 25, 0, 0, 0)),
        ("2026-02-25 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("2026-02-25T16:02:06.250", datetime(2026, 2, 25, 16, 2, 6, 250000)),
        ("2026年2月25日 16:02:06", datetime(2026, 2, 25, 16, 2, 6)),
        ("25-Feb-2026 16:02", datetime(2026, 2, 25, 16, 2)),
    ],
)
def test_parse_datetime(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text", ["", "not a date", "31 February 2026 10:00:00", "25 February 2026 13:00 PM", "14:00"]
)
def test_parse_datetime_rejects(text):
    assert parse_datetime(text) is None


def test_numeric_date_order_comes_from_the_whole_file():
    header = ["Type", "Sample Name", "Measurement Date and Time", "Z-Ave (d.nm)"]
    data = _table(
        header,
        ["Size", "A", "02/03/2026 16:02:06", "100"],
        ["Size", "B", "02/13/2026 16:02:06", "100"],  # only month/day fits
    )
    assert [r.measured_at for r in parser.parse(data).records] == [
        datetime(2026, 2, 3, 16, 2, 6),
        datetime(2026, 2, 13, 16, 2, 6),
    ]


def test_unreadable_date_is_kept_as_written():
    header = ["Type", "Sample Name", "Measurement Date and Time", "Z-Ave (d.nm)"]
    record = parser.parse(_table(header, ["Size", "A", "sometime in spring", "100"])).records[0]
    assert record.measured_at is None
    assert record.extra == {"Measurement Date and Time": "sometime in spring"}


# -- errors ----------------------------------------------------------------------------------


def _error(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        parser.parse(data, "bad.txt")
    assert "internal error" not in info.value.message
    return info.value


def test_not_a_number_says_where():
    rows = _rows(GERMAN)
    rows[2][rows[0].index("PdI")] = "0,1x6"
    error = _error(_table(*rows))
    assert (error.line, error.column) == (3, "PdI")
    assert "0,1x6" in error.message


def test_unsupported_record_type():
    error = _error(_table(["Type", "Sample Name", "Z-Ave (d.nm)"], ["Molecular Weight", "BSA", ""]))
    assert (error.line, error.column) == (2, "Type")
    assert "Molecular Weight" in error.message


def test_truncated_last_row():
    data = _table(*_rows(GERMAN))
    error = _error(data[: data.rindex(b"\t", 0, len(data) - 20)])
    assert error.line == 4
    assert "truncated" in error.message


def test_row_longer_than_its_header():
    error = _error(_table(["Type", "Sample Name", "PdI"], ["Size", "EV", "0.1", "stray"]))
    assert error.line == 2
    assert "4 values" in error.message


def test_array_with_a_gap():
    header = ["Type", "Sample Name"] + [f"Sizes[{i}] (d.nm)" for i in (1, 2, 3)]
    error = _error(_table(header, ["Size", "EV", "10", "", "1000"]))
    assert error.line == 2
    assert "[2]" in error.message


def test_array_missing_a_column_in_the_header():
    header = ["Type", "Sample Name", "Sizes[1] (d.nm)", "Sizes[3] (d.nm)"]
    error = _error(_table(header, ["Size", "EV", "10", "1000"]))
    assert (error.line, error.column) == (1, "Sizes[1] (d.nm)")
    assert "[2]" in error.message


def test_distribution_lengths_must_match():
    header = ["Type", "Sample Name", "Sizes[1] (d.nm)", "Sizes[2] (d.nm)", "Numbers[1] (Percent)"]
    error = _error(_table(header, ["Size", "EV", "10", "100", "100"]))
    assert error.line == 2
    assert "2 classes" in error.message


def test_header_without_records():
    error = _error(_table(["Type", "Sample Name", "Z-Ave (d.nm)"]))
    assert "no records" in error.message


def test_first_line_must_be_a_header():
    error = _error(b"Zetasizer export\r\nType\tSample Name\tZ-Ave (d.nm)\r\nSize\tEV\t100\r\n")
    assert error.line == 1


def test_kind_cannot_be_guessed():
    header = ["Sample Name", "Z-Ave (d.nm)", "Zeta Potential (mV)"]
    error = _error(_table(header, ["EV", "", ""]))
    assert error.line == 2
    assert "size or a zeta" in error.message


def test_attenuator_must_be_whole():
    error = _error(_table(["Type", "Sample Name", "Attenuator"], ["Size", "EV", "7.5"]))
    assert (error.line, error.column) == (2, "Attenuator")


@pytest.mark.parametrize("data", [b"", b"   \r\n", b"\x00\x01\x02\x03" * 100])
def test_empty_or_binary(data):
    _error(data)


# -- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [GERMAN, TWO_TABLES, US_ZETA])
def test_detects_own_fixtures(name):
    assert parser.detect(name, (ZS_DIR / name).read_bytes()[:DETECT_BYTES])


def test_detects_a_header_cut_by_the_detection_window():
    header = "Type\tSample Name\t" + "\t".join(f"Sizes[{i}] (d.nm)" for i in range(1, 500))
    assert parser.detect("x.txt", header.encode("latin-1")[:DETECT_BYTES])


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"Original File:\tx.avi\r\nSoftware:\tZetaView (version 8.05.16 SP3)\r\n",
        b"NTA Experiment Summary File,\r\nCreated with NTA 3.4 Build 3.4.003,\r\n",
        b"Use\tPosition\tMean Int.\tAv. No of Particles\tConc. (p./mL)\r\n",
        b"* Block Type = 96-Well Block (0.2mL)\r\n[Sample Setup]\r\n",
        b"Well\tWell Position\tOmit\tSample Name\tTarget Name\tTask\tReporter\tCT\r\n",
        b",Well,Fluor,Target,Content,Sample,Biological Set Name,Cq\r\n",
        "##BLOCKS= 4\r\nPlate:\tPlate1\r\n".encode("utf-16"),
        b" ,Label,Area,Mean,IntDen,RawIntDen\r\n1,blot.tif,10,2,20,20\r\n",
        b"Type\tSample Name\tOperator\r\nSize\tEV\tme\r\n",
        b"accession,volume_ml,concentration\r\n",
        b"FCS3.1         256    1545    1546  ",
    ],
)
def test_does_not_claim_other_files(head):
    assert not parser.detect("upload.txt", head)


def test_parser_identity():
    assert parser.format == "zetasizer"
    assert parser.version == "1.0"
    assert "Zetasizer" in parser.label
