"""Every real FCS file in ../shared/instrument-samples/fcs/ (public files, never copied into
this repository) parses, with the event counts, channels and metadata the files hold, and
statistics equal to flowio's raw events put through the same documented scaling (flowio
is an independent reader of the DATA segment). Skips when ../shared is absent."""

from __future__ import annotations

import math
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from assays.parsers.fcs import FCSParser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FOLDER = SHARED / "instrument-samples" / "fcs"
FILES = sorted(FOLDER.glob("*.fcs")) if FOLDER.is_dir() else []
needs_files = pytest.mark.skipif(not FILES, reason=f"real FCS files not available ({FOLDER})")
parser = FCSParser()
STATS = ("minimum", "maximum", "mean", "median", "p1", "p99")

# file name -> what the file says (read off its TEXT segment with a hex viewer).
EXPECTED = {
    "eyurtsev__fcsparser__FCS_3.0_Fortessa_PBS_Specimen_001_A1_A01.fcs": {
        "fcs_version": "3.0",
        "event_count": 11585,
        "channels": 11,
        "names": {"FSC-A", "SSC-A", "FITC-A", "PE-Texas Red-A", "Time"},
        "cytometer": "LSRII",
        "software_version": "BD FACSDiva Software Version 6.2",
        "sample_name": "A1",
        "acquired_at": datetime(2013, 2, 28, 15, 19, 53),
        "warnings": 0,
    },
    "eyurtsev__fcsparser__cyflow_cube_8.fcs": {
        "fcs_version": "3.0",
        "event_count": 725,
        "channels": 10,
        "names": {"FSC", "SSC", "FL1", "FL6", "TIME", "DOUBLET"},
        "cytometer": "Cube_15",
        "cytometer_serial": "0131011431",
        "volume_ul": 99.0,
        "sample_name": "Background 1",
        "acquired_at": datetime(2017, 11, 2, 9, 42, 5, 509000),
        "warnings": 1,  # its supplemental TEXT is a ZIP
    },
    "eyurtsev__fcsparser__sample_header.fcs": {
        "fcs_version": "3.1",
        "event_count": 20000,
        "channels": 27,
        "names": {"Time", "FSC-H", "B1-A", "R8-A"},
        "cytometer": "Aurora",
        "cytometer_serial": "N0354",
        "acquired_at": datetime(2020, 7, 22, 18, 39, 40, 590000),
        "truncated": True,
        "warnings": 1,
    },
    "whitews__FlowIO__B01_KC-A-W---91-US.fcs": {
        "fcs_version": "3.1",
        "event_count": 1589,
        "channels": 14,
        "names": {"FSC-A", "FSC-H", "FL4-H", "Width", "Time"},
        "cytometer": "BD Accuri C6 Plus",
        "sample_name": "KC-A-W---91-US",
        "trigger": "FSC-H,12000",
        "volume_ul": 25.016,
        "warnings": 0,
    },
    "whitews__FlowIO__G11.fcs": {
        "fcs_version": "3.1",
        "event_count": 5785,
        "channels": 12,
        "names": {"Time", "FSC-A", "BL1-A", "VL1-W"},
        "cytometer_serial": "2AFC210070815",
        "sample_name": "Plate 1",
        "volume_ul": 46.0,
        "acquired_at": datetime(2020, 3, 2, 9, 50, 15),
        "warnings": 0,
    },
    "whitews__FlowIO__data1.fcs": {
        "fcs_version": "2.0",
        "event_count": 13367,
        "channels": 8,
        "names": {"FSC-H", "SSC-H", "FL1-H", "FL4-H", "Time"},
        "cytometer": "FACSCalibur",
        "software_version": "CELLQuestª 3.3",  # byte 0xAA, latin-1
        "acquired_at": datetime(2002, 8, 23, 16, 31, 33),
        "warnings": 0,
    },
    "whitews__FlowIO__data_start_offset_discrepancy_example.fcs": {
        "fcs_version": "3.0",
        "event_count": 2,
        "channels": 26,
        "names": {"FSC LogH", "SSC LinA", "Width", "Time"},
        "cytometer": "S1400EXi",
        "warnings": 1,  # HEADER 5555 vs $BEGINDATA 6081
    },
    "whitews__FlowIO__variable_int_example.fcs": {
        "fcs_version": "3.0",
        "event_count": 2,
        "channels": 26,
        "names": {"FSC LogH", "Time"},
        "cytometer": "S1400EXi",
        "warnings": 0,
    },
}


def _id(path: Path) -> str:
    return path.name


@pytest.fixture(scope="module", params=FILES, ids=_id)
def parsed(request):
    path: Path = request.param
    data = path.read_bytes()
    return path, data, parser.parse(data, path.name)


@needs_files
def test_every_file_is_known_to_this_test():
    assert {p.name for p in FILES} <= set(EXPECTED), "add the new file to EXPECTED"


@needs_files
def test_detected(parsed):
    path, data, _ = parsed
    assert parser.detect(path.name, data[:4096])


@needs_files
def test_file_facts(parsed):
    path, _, result = parsed
    facts = EXPECTED[path.name]
    assert result.fcs_version == facts["fcs_version"]
    assert result.event_count == facts["event_count"]
    assert len(result.channels) == facts["channels"]
    assert [c.index for c in result.channels] == list(range(1, facts["channels"] + 1))
    assert facts["names"] <= {c.name for c in result.channels}
    for field in (
        "cytometer",
        "cytometer_serial",
        "software_version",
        "sample_name",
        "trigger",
        "acquired_at",
    ):
        if field in facts:
            assert getattr(result, field) == facts[field], field
    if "volume_ul" in facts:
        assert result.volume_ul == pytest.approx(facts["volume_ul"])
    assert len(result.warnings) == facts["warnings"], result.warnings
    assert result.keywords  # the TEXT pairs are kept
    assert all("\x00" not in k + v for k, v in result.keywords.items())


@needs_files
def test_statistics_are_plausible(parsed):
    path, _, result = parsed
    if EXPECTED[path.name].get("truncated"):
        assert all(getattr(c, k) is None for c in result.channels for k in STATS)
        assert "missing or truncated" in result.warnings[0]
        return
    for c in result.channels:
        values = [getattr(c, k) for k in STATS]
        assert all(v is not None and math.isfinite(v) for v in values), c
        assert c.minimum <= c.p1 <= c.median <= c.p99 <= c.maximum, c
        assert c.minimum <= c.mean <= c.maximum, c


def _linear(result, fd, raw: np.ndarray) -> np.ndarray:
    """flowio's raw events with the scaling the parser documents ($PnE on integers, $PnG on
    linear non-Time channels)."""
    out = raw.astype(np.float64).copy()
    integer = fd.text["datatype"].upper() == "I"
    for j, channel in enumerate(result.channels):
        decades, log0 = (float(x) for x in fd.text[f"p{j + 1}e"].split(","))
        if integer and decades > 0:
            out[:, j] = 10 ** (decades * out[:, j] / float(fd.text[f"p{j + 1}r"])) * (log0 or 1.0)
            continue
        gain = float(fd.text.get(f"p{j + 1}g", "1") or 1)
        if gain > 0 and gain != 1 and channel.name.casefold() != "time":
            out[:, j] = out[:, j] / gain
    return out


@needs_files
def test_statistics_equal_flowio_events(parsed):
    flowio = pytest.importorskip("flowio")
    path, _, result = parsed
    if EXPECTED[path.name].get("truncated"):
        pytest.skip("no DATA segment to compare")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = flowio.FlowData(str(path), ignore_offset_error=True, ignore_offset_discrepancy=True)
        raw = np.reshape(np.array(fd.events, dtype=np.float64), (-1, fd.channel_count))
    assert raw.shape == (result.event_count, len(result.channels))
    values = _linear(result, fd, raw)
    for j, c in enumerate(result.channels):
        column = values[:, j]
        p1, p99 = np.percentile(column, [1, 99])
        want = [column.min(), column.max(), column.mean(), np.median(column), p1, p99]
        got = [getattr(c, k) for k in STATS]
        assert got == pytest.approx(want, rel=1e-9), c.name


@needs_files
def test_parse_stream_from_an_open_file_matches_bytes(parsed):
    path, _, result = parsed
    with path.open("rb") as handle:
        assert parser.parse_stream(handle, path.name) == result
