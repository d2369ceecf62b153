"""Bio-Rad CFX / CFX Maestro Cq results CSV: own fixtures in tests/data/instruments/qpcr/
(a CFX Maestro export with standards and controls; a German-locale CFX Manager export with
semicolons, decimal commas and "C(t)"), variants and ParseError cases."""

from __future__ import annotations

import pytest

from assays.parsers.base import ParseError
from assays.parsers.cfx import CFXParser

from .synth import DATA_DIR

QPCR = DATA_DIR / "qpcr"
MAESTRO = "cfx_maestro_cq.csv"
SEMICOLON = "cfx_manager_semicolon.csv"
parser = CFXParser()
HEADER = ",Well,Fluor,Target,Content,Sample,Cq,Starting Quantity (SQ)\n"


def _bytes(name: str) -> bytes:
    return (QPCR / name).read_bytes()


@pytest.fixture(scope="module")
def maestro():
    return parser.parse(_bytes(MAESTRO), MAESTRO)


def _error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parser.parse(text.encode("utf-8"), "x.csv")
    assert "internal error" not in info.value.message
    return info.value


def test_maestro_rows(maestro):
    # A09 is an unloaded well (no content, sample, target or Cq) and is skipped.
    assert [r.well for r in maestro.rows] == [
        "A1",
        "A2",
        "A3",
        "A4",
        "A5",
        "A6",
        "A7",
        "A8",
        "H12",
    ]
    assert [r.task for r in maestro.rows] == [
        "standard",
        "standard",
        "unknown",
        "unknown",
        "ntc",
        "positive",
        "negative",
        "nrt",
        "unknown",
    ]
    assert [r.cq for r in maestro.rows] == [
        15.2035,
        18.5533,
        24.9812,
        25.0402,
        None,
        20.1,
        None,
        38.771,
        29.5,
    ]
    assert [r.undetermined for r in maestro.rows] == [False] * 4 + [True, False, True] + [False] * 2


def test_maestro_quantity_reporter_sample_target(maestro):
    # Starting Quantity for standards only; the unknowns' SQ is CFX's own calculation.
    assert [r.quantity for r in maestro.rows][:4] == [1e6, 1e5, None, None]
    assert all(r.quantity is None for r in maestro.rows[4:])
    assert [r.reporter for r in maestro.rows][6:8] == ["FAM", "HEX"]
    assert maestro.rows[7].target == "CD9, exon 2"  # quoted comma
    assert maestro.rows[2].sample_name == "EXO-000123"
    assert maestro.rows[0].sample_name == ""
    assert all(r.flags == () for r in maestro.rows)


def test_maestro_has_no_run_metadata(maestro):
    assert (maestro.run_name, maestro.instrument, maestro.software_version) == ("", "", "")
    assert maestro.measured_at is None
    assert maestro.warnings == ()


def test_semicolon_decimal_comma_export():
    result = parser.parse(_bytes(SEMICOLON), SEMICOLON)
    assert [(r.well, r.task, r.cq, r.undetermined) for r in result.rows] == [
        ("B1", "standard", 16.25, False),
        ("B2", "unknown", 27.5, False),
        ("B3", "ntc", None, True),  # "N/A"
    ]
    assert result.rows[0].quantity == 10000.0
    assert result.rows[1].quantity is None


def test_utf16_and_lf_variants():
    text = _bytes(MAESTRO).decode("utf-8-sig")
    for data in (text.encode("utf-16"), text.replace("\r\n", "\n").encode("utf-8")):
        assert [r.cq for r in parser.parse(data, MAESTRO).rows][:2] == [15.2035, 18.5533]


def test_tab_separated_and_negative_cq():
    text = HEADER.replace(",", "\t") + "\tA1\tFAM\tT\tUnkn\tS\t-1\t\n"
    row = parser.parse(text.encode(), "x.txt").rows[0]
    assert (row.cq, row.undetermined) == (None, True)


def test_detection():
    assert parser.detect(MAESTRO, _bytes(MAESTRO)[:4096])
    assert parser.detect(SEMICOLON, _bytes(SEMICOLON)[:4096])
    assert parser.detect("x.csv", HEADER.encode())
    assert not parser.detect("x.csv", b"Well,Fluor,Target,Content,Sample,Cq\n")  # no blank cell
    assert not parser.detect("x.csv", b",Well,Fluor,Target,Content,Sample\n")  # no Cq
    assert not parser.detect("x.csv", b",Well,Cq,a,b\n")  # neither Fluor nor Content
    assert not parser.detect("x.txt", b"* Block Type = 96-Well Block\n[Results]\n")
    assert not parser.detect("x.csv", b"NTA Experiment Summary File,\r\n")
    assert not parser.detect("x.csv", b"")


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("", "empty", None),
        ("Well,Cq\nA1,20\n", "not a CFX Cq results export", 1),
        ("\n\n,Well,Fluor,Content,Sample\n,A1,FAM,Unkn,S\n", "no Cq column", 3),
        (HEADER, "no wells", 1),
        (HEADER + ",A01,FAM,T,Unkn,S,abc,\n", "abc", 2),
        (HEADER + ",,FAM,T,Unkn,S,20,\n", "without a well", 2),
        (HEADER + ",A01,FAM,T,Std-01,S,20,lots\n", "lots", 2),
    ],
    ids=["empty", "no-blank-cell", "no-cq", "no-rows", "bad-cq", "no-well", "bad-sq"],
)
def test_errors(text, expected, line):
    error = _error(text)
    assert expected in error.message
    assert error.line == line


def test_bad_cq_names_its_column():
    assert _error(HEADER + ",A01,FAM,T,Unkn,S,x,\n").column == "Cq"


def test_an_empty_target_takes_the_dye_name():
    # A multiplex plate set up with dyes only: each dye is its own target, not one
    # "(no target)" column averaging FAM and HEX together.
    text = HEADER + (
        ",A01,FAM,,Unkn,S1,21.5,\n"
        ",A01,HEX,,Unkn,S1,27.25,\n"
        ",A02,FAM,CD63,Unkn,S2,22.0,\n"
        ",A03,,,,,NaN,\n"  # still an unloaded well
    )
    result = parser.parse(text.encode(), "x.csv")
    assert [(r.well, r.target, r.reporter, r.cq) for r in result.rows] == [
        ("A1", "FAM", "FAM", 21.5),
        ("A1", "HEX", "HEX", 27.25),
        ("A2", "CD63", "FAM", 22.0),
    ]
    assert len(result.warnings) == 1
    assert "taken from the dye names" in result.warnings[0]
    assert "FAM, HEX" in result.warnings[0]


def test_named_targets_give_no_dye_warning(maestro):
    assert maestro.warnings == ()
