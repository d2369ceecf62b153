"""The same measurement written the way other PCs write it (encodings, line endings, decimal
commas, spreadsheet re-saves) must give the same result as the golden file."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import pytest

from assays.parsers.base import ParticleResult
from assays.parsers.nanosight import NanoSightParser
from assays.parsers.zetaview import ZetaViewParser

from .synth import DATA_DIR, NTA_GOLDEN, ZV_COMMA, ZV_POINT

nta = NanoSightParser()
zetaview = ZetaViewParser()


def _comparable(result: ParticleResult) -> ParticleResult:
    settings = {k: v for k, v in result.settings.items() if k != "encoding"}
    return dataclasses.replace(result, settings=settings)


def _encode(text: str, codec: str) -> bytes:
    boms = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-8-sig": b""}
    return boms.get(codec, b"") + text.encode(codec)


ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16-le", "utf-16-be", "utf-16"]
NEWLINES = ["\r\n", "\n", "\r"]


@pytest.fixture(scope="module")
def nta_text() -> str:
    return (DATA_DIR / NTA_GOLDEN).read_bytes().decode("cp1252")


@pytest.fixture(scope="module")
def nta_golden():
    return _comparable(nta.parse((DATA_DIR / NTA_GOLDEN).read_bytes(), NTA_GOLDEN))


@pytest.mark.parametrize("codec", ENCODINGS)
@pytest.mark.parametrize("newline", NEWLINES)
def test_nta_encodings_and_line_endings(nta_text, nta_golden, codec, newline):
    data = _encode(nta_text.replace("\r\n", newline), codec)
    assert nta.detect(NTA_GOLDEN, data[:4096])
    assert _comparable(nta.parse(data, NTA_GOLDEN)) == nta_golden


def test_nta_utf16_without_bom(nta_text, nta_golden):
    data = nta_text.encode("utf-16-le")
    assert nta.detect("x.csv", data[:4096])
    assert _comparable(nta.parse(data, NTA_GOLDEN)) == nta_golden


def _relocale(text: str, delimiter: str) -> str:
    """An EU-locale save: ';' (or tab) separated, decimal commas."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    number = re.compile(r"^-?\d+\.\d+(e[+-]\d+)?$")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([c.replace(".", ",") if number.match(c) else c for c in row])
    return out.getvalue()


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_nta_decimal_comma_locale(nta_text, nta_golden, delimiter):
    data = _relocale(nta_text, delimiter).encode("cp1252")
    assert nta.detect(NTA_GOLDEN, data[:4096])
    assert _comparable(nta.parse(data, NTA_GOLDEN)) == nta_golden


def test_nta_spreadsheet_resave(nta_text, nta_golden):
    """Excel: every row padded to one width, thousands separators in quoted cells."""
    rows = list(csv.reader(io.StringIO(nta_text, newline="")))
    width = max(map(len, rows)) + 2
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        row = [{"2.34e+08": "234,000,000", "2.35e+08": "235,000,000"}.get(c, c) for c in row]
        writer.writerow(row + [""] * (width - len(row)))
    result = nta.parse(out.getvalue().encode("utf-8-sig"), NTA_GOLDEN)
    assert result.concentration_per_ml == 2.35e8
    assert result.replicate_concentrations_per_ml[0] == 2.34e8
    assert _comparable(result) == nta_golden


def test_nta_extra_unknown_rows_and_sections_are_kept(nta_text, nta_golden):
    text = nta_text.replace("Remarks,,", "Remarks,,\r\nInstrument Serial,NS300-1234,").replace(
        "[Concentration Warnings]",
        "[Future Section],\r\nSomething New,1,2,3,\r\n\r\n[Concentration Warnings]",
    )
    result = nta.parse(text.encode("cp1252"))
    assert result.settings["experiment_extra"] == {"instrument serial": "NS300-1234"}
    assert result.settings["sections"] == {"future section": {"Something New": ["1", "2", "3"]}}
    assert result.concentration_per_ml == nta_golden.concentration_per_ml


def test_nta_without_optional_sections(nta_text, nta_golden):
    """No Processed row, no warnings/information sections, no volume block."""
    text = re.sub(r"Processed,[^\r]*\r\n", "", nta_text)
    start, end = text.index("[Concentration Warnings]"), text.index("[Data Included]")
    text = text[:start] + text[end:]
    text = text.replace("Size distribution - Volume weighting,\r\n", "")
    text = text[: text.index("Analysis Method,FTLA,\r\nWeighting,Volume")]
    result = nta.parse(text.encode("ascii"))
    assert result.instrument_warnings == ()
    assert result.distribution == nta_golden.distribution
    assert result.d50_nm == nta_golden.d50_nm
    assert "volume" not in result.settings["size_stats"]


# -- ZetaView -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zv_text() -> str:
    return (DATA_DIR / ZV_COMMA).read_bytes().decode("latin-1")


@pytest.fixture(scope="module")
def zv_golden():
    return _comparable(zetaview.parse((DATA_DIR / ZV_COMMA).read_bytes(), ZV_COMMA))


@pytest.mark.parametrize("codec", ENCODINGS)
@pytest.mark.parametrize("newline", NEWLINES)
def test_zetaview_encodings_and_line_endings(zv_text, zv_golden, codec, newline):
    data = _encode(zv_text.replace("\r\n", newline), codec)
    assert zetaview.detect(ZV_COMMA, data[:4096])
    assert _comparable(zetaview.parse(data, ZV_COMMA)) == zv_golden


def test_zetaview_decimal_point_version_of_comma_file(zv_text, zv_golden):
    text = re.sub(r"(?<=\d),(?=\d)", ".", zv_text)
    result = zetaview.parse(text.encode("latin-1"), ZV_COMMA)
    assert result.concentration_per_ml == zv_golden.concentration_per_ml
    assert result.distribution == zv_golden.distribution
    assert (result.mean_nm, result.d50_nm, result.d90_nm) == (
        zv_golden.mean_nm,
        zv_golden.d50_nm,
        zv_golden.d90_nm,
    )
    assert result.settings["temperature_c"] == 23.27


def test_zetaview_point_file_in_utf16(zv_golden):
    data = (DATA_DIR / ZV_POINT).read_bytes()
    expected = _comparable(zetaview.parse(data, ZV_POINT))
    converted = _encode(data.decode("cp1252"), "utf-16")
    assert _comparable(zetaview.parse(converted, ZV_POINT)) == expected


def test_zetaview_missing_optional_header_keys(zv_text):
    keep = ("Original File:", "Software:", "Dilution", "Number of Traces", "Size", "Sample:")
    lines = zv_text.split("\r\n")
    start = lines.index("Size Distribution")
    header = [line for line in lines[:start] if line.startswith(keep)]
    result = zetaview.parse("\r\n".join(header + lines[start:]).encode("latin-1"))
    assert result.concentration_per_ml == 3_854_500.0 * 5000
    assert result.measured_at is None
    assert result.sample_name == "EXO-000124"
    assert "temperature_c" not in result.settings
