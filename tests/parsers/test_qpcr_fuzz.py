"""Property-based fuzzing of the qPCR parsers: whatever bytes arrive, RDML, QuantStudio and
CFX return a well-formed QPCRResult or raise their own ParseError, never anything else and
never the "internal error" safety net. RDML is fuzzed both as bare XML and zipped, so the
XML reader sees mutated content inside a valid container."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers.base import ParseError
from assays.parsers.cfx import CFXParser
from assays.parsers.quantstudio import QuantStudioParser
from assays.parsers.rdml import RDMLParser
from assays.parsers.results import QPCRResult

from .mutations import mutated
from .synth import DATA_DIR
from .test_rdml import rdml_10, rdml_13, zipped

QPCR = DATA_DIR / "qpcr"
PARSERS = {"rdml": RDMLParser(), "quantstudio": QuantStudioParser(), "cfx": CFXParser()}
GOLDEN = {
    "rdml": [rdml_10().encode(), rdml_13().encode()],
    "quantstudio": [
        (QPCR / n).read_bytes()
        for n in ("qs5_standard_curve.txt", "7500_results_only_cp1252.txt", "viia7_setup_only.txt")
    ],
    "cfx": [(QPCR / n).read_bytes() for n in ("cfx_maestro_cq.csv", "cfx_manager_semicolon.csv")],
}
SIGNATURES = {
    "rdml": '<rdml xmlns="http://www.rdml.org" version="1.3">',
    "quantstudio": "* Block Type = 96-Well Block\r\n[Results]\r\n",
    "cfx": ",Well,Fluor,Target,Content,Sample,Cq\r\n",
}
SPLICES = [
    b",",
    b";",
    b"\t",
    b'"',
    b"\r",
    b"\n",
    b"\x00",
    b"-1",
    b"nan",
    b"NaN",
    b"1e999",
    b"9.9E+307",
    b"Undetermined",
    b"1,000,000.000",
    b"[Results]",
    b"[Sample Setup]",
    b"Well\tWell Position\tCT\n",
    b"\xd1\x82",  # UTF-8 т
    b"<",
    b">",
    b"</react>",
    b"<cq>",
    b"<react id='1'>",
    b"<!DOCTYPE rdml [<!ENTITY a 'b'>]>",
    b"&amp;",
    b"&x;",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xb5",
]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(key: str, data: bytes, name: str = "fuzz.txt") -> None:
    try:
        result = PARSERS[key].parse(data, name)
    except ParseError as exc:
        assert exc.message
        assert "internal error" not in exc.message, exc.message
        assert exc.line is None or exc.line >= 1
        return
    assert isinstance(result, QPCRResult)
    assert result.rows
    for row in result.rows:
        assert isinstance(row.well, str) and isinstance(row.task, str) and row.task
        if row.cq is not None:
            assert math.isfinite(row.cq) and row.cq >= 0 and not row.undetermined
        if row.quantity is not None:
            assert math.isfinite(row.quantity)
        assert all(isinstance(flag, str) for flag in row.flags)


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(key, data):
    _check(key, data)


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_golden_files(key, data):
    _check(key, data.draw(mutated(GOLDEN[key], SPLICES)))


@FUZZ
@given(data=st.data())
def test_mutated_rdml_inside_a_valid_zip(data):
    xml = data.draw(mutated(GOLDEN["rdml"], SPLICES))
    _check("rdml", zipped({"rdml_data.xml": xml}), "run.rdml")


@FUZZ
@given(data=st.data())
def test_mutated_zip_archives(data):
    archive = bytearray(zipped({"rdml_data.xml": data.draw(st.sampled_from(GOLDEN["rdml"]))}))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(archive) - 1))
        archive[pos] = data.draw(st.integers(0, 255))
    _check("rdml", bytes(archive), "run.rdml")


@pytest.mark.parametrize("key", ["quantstudio", "cfx"])
@FUZZ
@given(
    data=st.data(),
    codec=st.sampled_from(
        ["utf-8", "utf-16-le", "utf-16-be", "utf-16", "utf-32", "cp1252", "latin-1", "cp437"]
    ),
)
def test_golden_files_in_random_encodings(key, data, codec):
    original = data.draw(st.sampled_from(GOLDEN[key]))
    try:
        text = original.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = original.decode("cp1252")
    _check(key, text.encode(codec, "replace"))


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_prefix_truncations(key, data):
    original = data.draw(st.sampled_from(GOLDEN[key]))
    cut = data.draw(st.integers(0, len(original)))
    _check(key, original[:cut])


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(text=st.text(max_size=2000))
def test_random_text_behind_a_valid_signature(key, text):
    _check(key, (SIGNATURES[key] + text).encode("utf-8"))
