"""Property-based fuzzing of the Zetasizer parser: whatever bytes arrive, it returns a DLSResult
whose numbers are finite and whose distributions line up, or raises its own ParseError (never
the "internal error" safety net); and a valid export means the same whatever the column order
or subset."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers.base import ParseError
from assays.parsers.results import DLSResult
from assays.parsers.zetasizer import ZetasizerParser, parse_datetime

from .mutations import mutated
from .synth import DATA_DIR

ZS_DIR = DATA_DIR / "zetasizer"
GOLDEN = [
    (ZS_DIR / name).read_bytes()
    for name in ("records_de.txt", "summary_and_detail.txt", "zeta_us.txt")
]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
parser = ZetasizerParser()


def _check(data: bytes) -> None:
    try:
        result = parser.parse(data, "fuzz.txt")
    except ParseError as exc:
        assert exc.message
        assert "internal error" not in exc.message, exc.message
        assert exc.line is None or exc.line >= 1
        return
    assert isinstance(result, DLSResult)
    assert result.records
    for record in result.records:
        assert record.kind in ("size", "zeta")
        for name in record.__dataclass_fields__:
            value = getattr(record, name)
            if isinstance(value, float):
                assert math.isfinite(value), name
            elif isinstance(value, tuple) and value and isinstance(value[0], float):
                assert all(math.isfinite(v) for v in value), name
        for series in (record.intensity_pct, record.number_pct, record.volume_pct):
            assert not record.sizes_nm or not series or len(series) == len(record.sizes_nm)
        if record.zeta_mv and record.zeta_counts:
            assert len(record.zeta_mv) == len(record.zeta_counts)
        assert all(isinstance(v, str | list) for v in record.extra.values())


# Fragments that mean something to the Zetasizer export, spliced into good files.
SPLICES = [
    b"\t",
    b";",
    b",",
    b'"',
    b"\r\n",
    b"\x00",
    b"nan",
    b"1e999",
    b"9.9E+307",
    b"-0",
    b"Type\t",
    b"Sample Name\t",
    b"Sizes[3] (d.nm)\t",
    b"Intensities[0]\t",
    b"Pk 7 Mean Int (r.nm)\t",
    b"Temperature (\xb0F)\t",
    b"Record\tType\tSample Name\r\n",
    b"Molecular Weight",
    b"13/13/2024 25:61:00 PM",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xb5",
]


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(data):
    _check(data)


@FUZZ
@given(data=mutated(GOLDEN, SPLICES))
def test_mutated_golden_files(data):
    _check(data)


@FUZZ
@given(
    original=st.sampled_from(GOLDEN),
    codec=st.sampled_from(["utf-8", "utf-16", "utf-16-be", "utf-32", "cp1252", "mac-roman"]),
)
def test_golden_files_in_random_encodings(original, codec):
    text = original.decode("utf-8-sig" if original.startswith(b"\xef\xbb\xbf") else "cp1252")
    _check(text.encode(codec, "replace"))


@FUZZ
@given(data=st.data())
def test_prefix_truncations(data):
    original = data.draw(st.sampled_from(GOLDEN))
    _check(original[: data.draw(st.integers(0, len(original)))])


@FUZZ
@given(text=st.text(max_size=2000))
def test_random_text_under_a_valid_header(text):
    _check(("Record\tType\tSample Name\tZ-Ave (d.nm)\tSizes[1] (d.nm)\r\n" + text).encode())


@FUZZ
@given(data=st.data())
def test_column_subsets_and_orders_keep_their_meaning(data):
    """Any subset of the German export's columns, in any order, gives the same values for
    the columns kept (the Type column is always kept so the kind never has to be guessed)."""
    rows = [line.split("\t") for line in GOLDEN[0].decode("cp1252").splitlines()]
    header = rows[0]
    optional = [i for i, h in enumerate(header) if h != "Type"]
    kept = data.draw(st.lists(st.sampled_from(optional), unique=True, min_size=1))
    order = data.draw(st.permutations([header.index("Type"), *kept]))
    table = "\r\n".join("\t".join(row[i] for i in order) for row in rows) + "\r\n"
    full = parser.parse(GOLDEN[0]).records
    try:
        records = parser.parse(table.encode("cp1252")).records
    except ParseError as exc:
        # Only a header that no longer looks like a Zetasizer export may be refused.
        assert exc.line == 1, exc.message
        return
    assert len(records) == len(full)
    names = {header[i] for i in kept}
    for got, want in zip(records, full, strict=True):
        assert got.kind == want.kind
        if "Z-Ave (d.nm)" in names:
            assert got.z_average_nm == want.z_average_nm
        if "Sample Name" in names:
            assert got.sample_name == want.sample_name
        if "ZP (mV)" in names:
            assert got.zeta_potential_mv == want.zeta_potential_mv
        if "Measurement Date and Time" in names:
            assert got.measured_at == want.measured_at
        for key, value in got.extra.items():
            assert want.extra.get(key) == value


@FUZZ
@given(text=st.text(max_size=80))
def test_parse_datetime_never_raises(text):
    assert parse_datetime(text) is None or parse_datetime(text).year >= 1
