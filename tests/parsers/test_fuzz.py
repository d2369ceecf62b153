"""Property-based fuzzing: whatever bytes arrive, a parser returns a result or raises its own
ParseError, never anything else, and never its "internal error" safety net."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers.base import ParseError, ParticleResult
from assays.parsers.nanosight import NanoSightParser
from assays.parsers.zetaview import ZetaViewParser

from .mutations import mutated
from .synth import DATA_DIR, NTA_AUTOSAMPLER, NTA_GOLDEN, ZV_COMMA, ZV_EMPTY

PARSERS = {"nta": NanoSightParser(), "zetaview": ZetaViewParser()}
GOLDEN = {
    "nta": [(DATA_DIR / n).read_bytes() for n in (NTA_GOLDEN, NTA_AUTOSAMPLER)],
    "zetaview": [(DATA_DIR / n).read_bytes() for n in (ZV_COMMA, ZV_EMPTY)],
}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(key: str, data: bytes) -> None:
    try:
        result = PARSERS[key].parse(data, "fuzz.txt")
    except ParseError as exc:
        assert exc.message
        assert "internal error" not in exc.message, exc.message
        assert exc.line is None or exc.line >= 1
        return
    assert isinstance(result, ParticleResult)
    if result.concentration_per_ml is not None:
        assert result.concentration_per_ml >= 0


# Fragments that mean something to these formats, spliced into good files.
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
    b"1e999",
    b"1e308",
    b"9.9E+307",
    b"[Results]",
    b"Graph Data,",
    b"Filename:,a,b",
    b"Size Distribution\r\n",
    b"Dilution::\t",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"1,000,000",
    b"\xb5",
]


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


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(
    data=st.data(),
    codec=st.sampled_from(
        [
            "utf-8",
            "utf-16-le",
            "utf-16-be",
            "utf-16",
            "utf-32",
            "cp1252",
            "latin-1",
            "cp437",
            "mac-roman",
            "shift_jis",
        ]
    ),
)
def test_golden_files_in_random_encodings(key, data, codec):
    original = data.draw(st.sampled_from(GOLDEN[key]))
    text = original.decode("cp1252")
    try:
        encoded = text.encode(codec)
    except UnicodeEncodeError:
        encoded = text.encode(codec, "replace")
    _check(key, encoded)


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
    prefix = "NTA Experiment Summary File,\r\n" if key == "nta" else "Original File:\tx.avi\r\n"
    _check(key, (prefix + text).encode("utf-8"))
