"""QuantStudio / ViiA 7 / 7500 text exports: own fixtures in tests/data/instruments/qpcr/
(QS5 standard curve with Cт columns and QC flags, a cp1252 7500 results-only file with well
numbers, a ViiA 7 setup-only file), variants built here, and ParseError cases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from assays.parsers.base import ParseError
from assays.parsers.quantstudio import QuantStudioParser, _timestamp

from .synth import DATA_DIR

QPCR = DATA_DIR / "qpcr"
QS5 = "qs5_standard_curve.txt"
QS7500 = "7500_results_only_cp1252.txt"
SETUP = "viia7_setup_only.txt"
parser = QuantStudioParser()


def _tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


CET, EST = _tz(1), _tz(-5)


def _bytes(name: str) -> bytes:
    return (QPCR / name).read_bytes()


@pytest.fixture(scope="module")
def qs5():
    return parser.parse(_bytes(QS5), QS5)


def _error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parser.parse(text.encode("utf-8"), "x.txt")
    assert "internal error" not in info.value.message
    return info.value


def test_qs5_run(qs5):
    assert qs5.run_name == "2024-03-07 EXO miR-21"
    assert qs5.description == "EV miRNA panel, SEC fractions"
    assert qs5.instrument == "QuantStudio™ 5 System, serial 272510123"
    assert qs5.software_version == "QuantStudio Design & Analysis Software v1.5.2"
    # "04:41:09 PM CET" is the run end; "Date Created" is not the run.
    assert qs5.measured_at == datetime(2024, 3, 7, 16, 41, 9, tzinfo=CET)
    assert qs5.warnings == ()


def test_qs5_rows_from_results_with_cyrillic_ct(qs5):
    assert [r.well for r in qs5.rows] == ["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2"]
    assert [r.cq for r in qs5.rows] == [17.241, 20.587, 24.002, 26.118, 26.941, None, None, 31.5]
    assert [r.undetermined for r in qs5.rows] == [False] * 5 + [True, True, False]
    assert [r.task for r in qs5.rows] == ["standard"] * 3 + ["unknown"] * 3 + ["ntc", "unknown"]
    assert [r.target for r in qs5.rows] == ["miR-21"] * 7 + ["U6"]
    assert [r.reporter for r in qs5.rows] == ["FAM"] * 7 + ["VIC"]
    assert qs5.rows[3].sample_name == "EXO-000123 F3"


def test_qs5_quantities_only_for_standards(qs5):
    # "1,000,000.000": thousands separators; unknowns' calculated quantities are not kept.
    assert [r.quantity for r in qs5.rows] == [1e6, 1e5, 1e4, None, None, None, None, None]


def test_qs5_flags(qs5):
    assert [r.flags for r in qs5.rows] == [
        (),
        (),
        ("excluded",),  # Omit = true
        ("HIGHSD",),
        ("HIGHSD",),
        ("NOAMP", "AMP_STATUS_NO_AMP"),
        ("NOAMP", "AMP_STATUS_NO_AMP"),
        ("AMP_STATUS_INCONCLUSIVE",),
    ]


def test_7500_results_only_with_well_numbers_in_cp1252():
    result = parser.parse(_bytes(QS7500), QS7500)
    # No Well Position: numbers on the 96-well block, counted row-wise.
    assert [r.well for r in result.rows] == ["A1", "A12", "B1", "H12"]
    assert [r.sample_name for r in result.rows][:2] == ["EV-Überstand 1", "EV-Überstand 2"]
    assert [r.cq for r in result.rows] == [22.5, 23.125, 18.0, None]
    assert result.rows[3].undetermined and result.rows[3].task == "ntc"
    assert [r.quantity for r in result.rows] == [None, None, 2000.0, None]
    assert result.run_name == "Zellkultur µ-EV CD63"
    assert result.instrument == "7500 Fast"
    assert result.measured_at == datetime(2023, 11, 22, 10, 5, 41, tzinfo=EST)


def test_setup_only_export_gives_the_plate_without_cq():
    result = parser.parse(_bytes(SETUP), SETUP)
    assert [r.well for r in result.rows] == ["A1", "A2", "P24"]  # B1 is an empty well
    assert all(r.cq is None and not r.undetermined for r in result.rows)
    assert [r.task for r in result.rows] == ["standard", "unknown", "ntc"]
    assert result.rows[0].quantity == 5000.0
    assert result.warnings == (
        "the export has no [Results] section: the plate setup is read without Cq values",
    )


def test_results_without_task_take_it_from_the_setup():
    text = (
        "* Instrument Type = QuantStudio 3\n\n"
        "[Sample Setup]\n"
        "Well\tWell Position\tSample Name\tTarget Name\tTask\tReporter\tQuantity\n"
        "1\tA1\tStd\tCD9\tSTANDARD\tFAM\t250\n"
        "2\tA2\tS\tCD9\tUNKNOWN\tFAM\t\n"
        "[Results]\n"
        "Well\tWell Position\tSample Name\tTarget Name\tCq\n"
        "1\tA01\tStd\tCD9\t20.0\n"
        "2\tA02\tS\tCD9\t25.5\n"
    )
    result = parser.parse(text.encode(), "x.txt")
    assert [(r.well, r.task, r.reporter, r.quantity, r.cq) for r in result.rows] == [
        ("A1", "standard", "FAM", 250.0, 20.0),
        ("A2", "unknown", "FAM", None, 25.5),
    ]


def test_variants_utf16_bom_crlf_and_trailing_sections():
    text = _bytes(QS5).decode("utf-8")
    for data in (text.encode("utf-16"), b"\xef\xbb\xbf" + text.replace("\r\n", "\n").encode()):
        result = parser.parse(data, QS5)
        assert [r.cq for r in result.rows][:2] == [17.241, 20.587]


def test_mojibake_free_column_match_for_capital_cyrillic_te():
    text = "* Block Type = 96-Well Block\n[Results]\nWell\tWell Position\tCТ\n1\tA1\t12.5\n"
    assert parser.parse(text.encode(), "x.txt").rows[0].cq == 12.5


def test_detection():
    assert parser.detect(QS5, _bytes(QS5)[:4096])
    assert parser.detect(QS7500, _bytes(QS7500)[:4096])
    assert parser.detect(SETUP, _bytes(SETUP)[:4096])
    assert parser.detect("x.txt", b"[Results]\r\nWell\tWell Position\tSample Name\tCT\r\n")
    assert not parser.detect("x.txt", b"[Results]\r\nSample\tValue\r\n")
    assert not parser.detect("x.txt", b"* a bullet point = not an export\n")
    assert not parser.detect("x.txt", b"NTA Experiment Summary File,\r\n")
    assert not parser.detect("x.txt", b"Original File:\tx.avi\r\n")
    assert not parser.detect("x.csv", b",Well,Fluor,Target,Content,Sample,Cq\n")
    assert not parser.detect("x.txt", b"")


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("", "empty", None),
        ("hello\nworld\n", "not a QuantStudio export", 1),
        ("* Instrument Type = ViiA 7\n[Raw Data]\nWell\tCycle\n1\t1\n", "neither", 4),
        ("* Block Type = 96\n[Results]\nWell\tWell Position\tSample Name\n1\tA1\tS\n", "CT", 3),
        ("* Block Type = 96\n[Results]\nSample Name\tCT\nS\t20\n", '"Well"', 3),
        ("* Block Type = 96\n[Results]\nWell\tWell Position\tCT\n", "no wells", 3),
        ("* Block Type = 96\n[Results]\nWell\tWell Position\tCT\n1\tA1\t2o.5\n", "2o.5", 4),
        ("* Block Type = 96\n[Results]\nWell\tCT\nX\t20\n", "neither a position", 4),
        ("* Block Type = 96\n[Results]\nWell\tCT\n1.5\t20\n", "whole number", 4),
    ],
    ids=[
        "empty",
        "text",
        "no-results",
        "no-ct",
        "no-well",
        "no-rows",
        "bad-ct",
        "bad-well",
        "fractional-well",
    ],
)
def test_errors(text, expected, line):
    error = _error(text)
    assert expected in error.message
    assert error.line == line


def test_bad_ct_names_its_column():
    error = _error("* Block Type = 96\n[Results]\nWell\tWell Position\tCт\n1\tA1\tx\n")
    assert error.column == "Cт"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2001-12-31 09:09:19 PM EST", datetime(2001, 12, 31, 21, 9, 19, tzinfo=EST)),
        ("2014-09-21 22:05:31 PM EDT", datetime(2014, 9, 21, 22, 5, 31, tzinfo=_tz(-4))),
        ("2024-06-04 00:31:01 AM PDT", datetime(2024, 6, 4, 0, 31, 1, tzinfo=_tz(-7))),
        ("2024-06-04 12:10:00 AM", datetime(2024, 6, 4, 0, 10)),
        ("06-04-2024 10:00:00 XYZ", datetime(2024, 6, 4, 10, 0)),
        ("04.06.2024 10:00", datetime(2024, 6, 4, 10, 0)),
        ("2024-06-04", datetime(2024, 6, 4)),
        ("NA", None),
        ("2024-13-40 10:00", None),
    ],
)
def test_timestamps(text, expected):
    assert _timestamp(text) == expected
