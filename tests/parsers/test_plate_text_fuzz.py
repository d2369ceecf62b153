"""Property-based fuzzing of the SoftMax Pro and Gen5 parsers: whatever arrives, a parser returns
a well-formed PlateResult or raises its own ParseError — never anything else, and never its
"internal error" safety net — and detection never raises."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers.base import DETECT_BYTES, ParseError
from assays.parsers.gen5 import Gen5Parser
from assays.parsers.results import PlateResult
from assays.parsers.softmax import SoftMaxParser, plate_wells

from .mutations import BYTE_KINDS, mutated
from .synth import DATA_DIR

PARSERS = {"softmax": SoftMaxParser(), "gen5": Gen5Parser()}
FILES = {
    "softmax": ["softmax/bca_two_plates.txt", "softmax/microbca_384_comma.txt"],
    "gen5": ["gen5/bca_results.txt", "gen5/bradford_384_two_plates.txt"],
}
GOLDEN = {key: [(DATA_DIR / name).read_bytes() for name in names] for key, names in FILES.items()}
TEXTS = {
    key: [
        data.decode("utf-16" if key == "softmax" else "utf-8-sig", "replace").replace("\ufeff", "")
        for data in files
    ]
    for key, files in GOLDEN.items()
}
SIGNATURE = {
    "softmax": "##BLOCKS= 3\r\n",
    "gen5": "\r\nSoftware Version\t3.12.08\r\nPlate Number\tPlate 1\r\n",
}
TOKENS = [
    "\t",
    "\r\n",
    "\n",
    "\r",
    "",
    "~End",
    "~End \r\n",
    "Plate:\t",
    "Group: Standards\r\n",
    "Note:\r\n",
    "##BLOCKS= 9\r\n",
    "PlateFormat",
    "TimeFormat",
    "Reduced",
    "Kinetic",
    "Range?",
    "Masked",
    "NaN",
    "OVRFLW",
    "*0.356*",
    "<0.000",
    "?????",
    "\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\r\n",
    "Layout\r\n",
    "Results\r\n",
    "Well ID",
    "Conc/Dil",
    "Blank ",
    ":562",
    "A",
    "Z",
    "AA",
    "A01",
    "P24",
    "384",
    "1536",
    "97",
    "0",
    "-1",
    "0,5",
    "1,500",
    "1e308",
    "1e-320",
    "9.9E+307",
    "mg/mL",
    "ng/mL",
    "Software Version\t",
    "Plate Number\tPlate 9\r\n",
    "Date\t13/13/2024\r\n",
    "Time\t25:61 PM\r\n",
    "Plate Type\t1536 WELL PLATE\r\n",
    "\x00",
    "\ufeff",
    "µ",
]
ROLES = {"standard", "blank", "sample", "control"}
WELL = re.compile(r"^[A-Z]{1,2}[1-9][0-9]*$")
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(key: str, data: bytes) -> None:
    parser = PARSERS[key]
    assert isinstance(parser.detect("fuzz.txt", data[:DETECT_BYTES]), bool)
    try:
        result = parser.parse(data, "fuzz.txt")
    except ParseError as exc:
        assert exc.message
        assert "internal error" not in exc.message, exc.message
        assert exc.line is None or exc.line >= 1
        return
    assert isinstance(result, PlateResult)
    assert result.reads
    for read in result.reads:
        assert list(read.values) == plate_wells(read.rows, read.columns)
        assert all(
            v is None or (isinstance(v, float) and math.isfinite(v)) for v in read.values.values()
        )
        assert read.wavelength_nm is None or math.isfinite(read.wavelength_nm)
    for well, entry in result.layout.items():
        assert WELL.match(well), well
        assert entry["role"] in ROLES
        assert entry["concentration"] is None or math.isfinite(entry["concentration"])
        if "dilution" in entry:
            assert math.isfinite(entry["dilution"]) and entry["dilution"] > 0
    assert all(isinstance(w, str) and w for w in result.warnings)


@st.composite
def mutated_text(draw, key: str) -> bytes:
    """Text-level mutations, so UTF-16 files are damaged in their structure, not their bytes."""
    text = draw(st.sampled_from(TEXTS[key]))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["splice", "delete", "line", "cell", "truncate"]))
        pos = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "splice":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 80)) :]
        elif kind == "truncate":
            text = text[:pos]
        elif kind == "line":
            lines = text.split("\n")
            index = draw(st.integers(0, len(lines) - 1))
            if draw(st.booleans()):
                lines.insert(index, lines[index])
            else:
                del lines[index]
            text = "\n".join(lines)
        else:  # replace one tab-separated cell
            start = text.rfind("\t", 0, pos) + 1
            end = min(i for i in (text.find("\t", pos), text.find("\r", pos), len(text)) if i >= 0)
            text = text[:start] + draw(st.sampled_from(TOKENS)) + text[end:]
    codec = draw(st.sampled_from(["utf-16-le", "utf-8", "cp1252"]))
    encoded = text.encode(codec, "replace")
    return (b"\xff\xfe" + encoded) if codec == "utf-16-le" else encoded


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(key, data):
    _check(key, data)


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_golden_bytes(key, data):
    _check(key, data.draw(mutated(GOLDEN[key], kinds=BYTE_KINDS)))


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_golden_text(key, data):
    _check(key, data.draw(mutated_text(key)))


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_prefix_truncations(key, data):
    original = data.draw(st.sampled_from(GOLDEN[key]))
    _check(key, original[: data.draw(st.integers(0, len(original)))])


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(text=st.text(max_size=2000))
def test_random_text_behind_a_valid_signature(key, text):
    _check(key, (SIGNATURE[key] + text).encode("utf-8"))


@pytest.mark.parametrize("key", sorted(PARSERS))
@FUZZ
@given(
    rows=st.lists(
        st.lists(st.sampled_from(TOKENS) | st.text(max_size=6), min_size=1, max_size=16),
        max_size=40,
    )
)
def test_random_tab_tables_behind_a_valid_signature(key, rows):
    body = "\r\n".join("\t".join(cells) for cells in rows)
    _check(key, (SIGNATURE[key] + body).encode("utf-8"))


@pytest.mark.parametrize("key", sorted(PARSERS))
def test_golden_files_pass_the_invariants(key):
    # The fuzz invariants themselves hold on the unmutated fixtures (and so can fail).
    for data in GOLDEN[key]:
        result = PARSERS[key].parse(data, "golden.txt")
        assert result.layout
        _check(key, data)
