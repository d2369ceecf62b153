"""Property-based fuzzing of the FCS parser: mutated synthetic files (bytes, HEADER offsets,
keyword values) give a FlowResult or the parser's own ParseError, never another exception,
never its "internal error" safety net, and never NaN or inverted statistics."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers.base import ParseError
from assays.parsers.fcs import FCSParser
from assays.parsers.results import FlowResult

from .fcs_synth import build_fcs

parser = FCSParser()
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _golden() -> list[bytes]:
    rng = np.random.default_rng(3)
    floats = rng.lognormal(4, 1, size=(40, 3)).astype(np.float32)
    ints = rng.integers(0, 1024, size=(30, 3))
    mixed = np.stack([rng.integers(0, 2**w, size=25) for w in (8, 16, 24, 32)], axis=1)
    return [
        build_fcs(
            floats, ["FSC-H", "SSC-H", "FL1-H"], extra={"$DATE": "12-Jan-2021", "$VOL": "50"}
        ),
        build_fcs(
            ints,
            ["FSC-H", "SSC-H", "FL1-H"],
            version="2.0",
            datatype="I",
            bits=16,
            order=">",
            ranges=[1024] * 3,
            amplification=["0,0", "0,0", "4,0"],
            gains=[3.67, None, None],
            extra={"CREATOR": b"CELLQuest\xaa 3.3"},
            delimiter=b"\\",
        ),
        build_fcs(
            mixed, ["a", "b", "c", "Time"], version="3.0", datatype="I", bits=[8, 16, 24, 32]
        ),
        build_fcs(
            floats[:, :2].astype(np.float64),
            ["SS-H", "FITC-H"],
            version="3.0",
            datatype="D",
            order=">",
            delimiter=b"\x0c",
            text_start=58,
            extra={"$PROJ": "", "$OP": ""},
        ),
        build_fcs(
            np.zeros((0, 2)), ["FSC-H", "SSC-H"], tot="0", text_data=(0, 0), header_data=(0, 0)
        ),
        build_fcs(floats, ["a", "b", "c"], cut_data_at=100),
    ]


GOLDEN = _golden()
KEYWORDS = [
    b"$PAR",
    b"$TOT",
    b"$BYTEORD",
    b"$DATATYPE",
    b"$MODE",
    b"$BEGINDATA",
    b"$ENDDATA",
    b"$BEGINSTEXT",
    b"$ENDSTEXT",
    b"$NEXTDATA",
    b"$P1B",
    b"$P2B",
    b"$P1R",
    b"$P3E",
    b"$P1E",
    b"$P1G",
    b"$P1N",
    b"$DATE",
    b"$BTIM",
    b"$VOL",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            b"",
            b"0",
            b"1",
            b"-1",
            b"7",
            b"8",
            b"10",
            b"24",
            b"64",
            b"99999999999999999999",
            b"1e308",
            b"nan",
            b"inf",
            b"4,3,2,1",
            b"3,4,1,2",
            b"1,2",
            b"I",
            b"F",
            b"D",
            b"A",
            b"C",
            b"400,1",
            b"4,0",
            b"0,0",
            b"x,y",
            b"31-Feb-2021",
            b"25:61:00",
            b"\xaa\xff",
        ]
    ),
    st.binary(max_size=12),
)


def _check(data: bytes) -> None:
    try:
        result = parser.parse(data, "fuzz.fcs")
    except ParseError as exc:
        assert exc.message
        assert "internal error" not in exc.message, exc.message
        return
    assert isinstance(result, FlowResult)
    assert result.event_count >= 0
    assert all(isinstance(w, str) and w for w in result.warnings)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.keywords.items())
    assert all("\x00" not in k + v for k, v in result.keywords.items())
    for c in result.channels:
        stats = [c.minimum, c.p1, c.median, c.p99, c.maximum]
        assert all(v is None or math.isfinite(v) for v in [*stats, c.mean]), c
        if None not in stats:
            assert stats == sorted(stats), c
    if result.volume_ul is not None:
        assert result.volume_ul >= 0


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(GOLDEN)))
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(
            st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "header", "value"])
        )
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "splice":
            data[pos:pos] = draw(
                st.sampled_from([b"/", b"//", b"\\", b"\x0c", b"\x0c\x0c", b"$TOT", b"\x00", b" "])
            )
        elif kind == "header" and len(data) >= 58:
            field = draw(st.integers(0, 5))
            number = draw(st.one_of(st.integers(0, 99_999_999), st.integers(0, len(data) + 2)))
            text = draw(
                st.sampled_from(
                    [f"{number:>8}", f"{number:08d}", f"{number:<8}", "        ", "abcdefgh"]
                )
            )
            data[10 + 8 * field : 18 + 8 * field] = text.encode()[:8].ljust(8)
        elif kind == "value":
            data = bytearray(
                _replace_value(bytes(data), draw(st.sampled_from(KEYWORDS)), draw(VALUES))
            )
    return bytes(data)


def _replace_value(data: bytes, key: bytes, value: bytes) -> bytes:
    """Replace the value of ``key`` wherever it sits, whatever the delimiter."""
    match = re.search(re.escape(key) + rb"([/\\\x0c])([^/\\\x0c]*)", data)
    if not match:
        return data
    return data[: match.start(2)] + value + data[match.end(2) :]


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(data):
    _check(data)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_behind_a_signature(data):
    _check(b"FCS3.1    " + data)


@FUZZ
@given(data=mutated())
def test_mutated_synthetic_files(data):
    _check(data)


@FUZZ
@given(data=st.data())
def test_prefix_truncations(data):
    original = data.draw(st.sampled_from(GOLDEN))
    _check(original[: data.draw(st.integers(0, len(original)))])


@FUZZ
@given(data=st.data())
def test_keyword_values(data):
    """Keep the HEADER honest about the TEXT length, so every change reaches the reader."""
    original = data.draw(st.sampled_from(GOLDEN[:4]))
    changed = original
    for _ in range(data.draw(st.integers(1, 4))):
        changed = _replace_value(changed, data.draw(st.sampled_from(KEYWORDS)), data.draw(VALUES))
    text_end = int(original[18:26]) + len(changed) - len(original)
    header = changed[:18] + f"{text_end:>8}".encode() + changed[26:58]
    _check(header + changed[58:])


@pytest.mark.parametrize("golden", range(len(GOLDEN)))
def test_golden_files_parse(golden):
    result = parser.parse(GOLDEN[golden])
    assert isinstance(result, FlowResult)
