"""Format detection from the name and first bytes, and the registry that uses it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.parsers import registry
from assays.parsers.base import DETECT_BYTES, InstrumentParser
from assays.parsers.nanosight import NanoSightParser
from assays.parsers.zetaview import ZetaViewParser

from .synth import DATA_DIR, NTA_AUTOSAMPLER, NTA_GOLDEN, ZV_COMMA, ZV_EMPTY, ZV_POINT

NTA_FILES = [NTA_GOLDEN, NTA_AUTOSAMPLER]
ZV_FILES = [ZV_COMMA, ZV_POINT, ZV_EMPTY]

# Heads of the other instruments' exports (layouts from INSTRUMENT-FORMATS.md) and the format
# each must be detected as.
CHARACTERISATION_HEADS = {
    "zetasizer.txt": (
        b"Type\tSample Name\tZ-Ave (d.nm)\tPdI\tSizes[1] (d.nm)\tSizes[2] (d.nm)\r\n",
        "zetasizer",
    ),
    "cfx.csv": (
        b",Well,Fluor,Target,Content,Sample,Biological Set Name,Cq\r\n,A01,SYBR,,Unkn,,,24.1\r\n",
        "cfx",
    ),
    "quantstudio.txt": (
        b"* Block Type = 96-Well Block (0.2mL)\r\n[Sample Setup]\r\n",
        "quantstudio",
    ),
    "softmax.txt": ("##BLOCKS= 4\r\nPlate:\tPlate1\r\n".encode("utf-16"), "softmax_pro"),
    "plate.fcs": (b"FCS3.1         256    1545    1546  ", "fcs"),
    "data.rdml": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "rdml"),
}
# Plain CSVs and look-alikes nothing may claim.
OTHER_HEADS = {
    "11pos.txt": b"Use\tPosition\tMean Int.\tAv. No of Particles\tConc. (p./mL)\r\n\t0.10\t4.4\r\n",
    "samples.csv": b"accession,volume_ml,concentration\r\nEXO-000001,1.5,2.3e9\r\n",
    "nta-looking-name-ExperimentSummary.csv": b"Sample,Concentration (Particles / ml)\r\nA,1e9\r\n",
    "x_size_488.txt": b"Size / nm\tNumber\tConcentration / cm-3\r\n2.5\t0\t0\r\n",
    "mentions-later.csv": b"Header,\r\nNTA Experiment Summary File,\r\n",
    "empty.csv": b"",
    "report.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "._AppleDouble.csv": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ",
}


def _head(name: str) -> bytes:
    return (DATA_DIR / name).read_bytes()[:DETECT_BYTES]


@pytest.mark.parametrize("name", NTA_FILES)
def test_nanosight_files(name):
    assert NanoSightParser().detect(name, _head(name))
    assert not ZetaViewParser().detect(name, _head(name))
    assert registry.detect_format(name, _head(name)) == "nta_nanosight"


@pytest.mark.parametrize("name", ZV_FILES)
def test_zetaview_files(name):
    assert ZetaViewParser().detect(name, _head(name))
    assert not NanoSightParser().detect(name, _head(name))
    assert registry.detect_format(name, _head(name)) == "zetaview"


def test_detection_uses_content_not_the_name():
    head = _head(NTA_GOLDEN)
    assert registry.detect_format("renamed.txt", head) == "nta_nanosight"
    assert registry.detect_format(ZV_COMMA, head) == "nta_nanosight"
    assert registry.detect_format(NTA_GOLDEN, _head(ZV_COMMA)) == "zetaview"


@pytest.mark.parametrize("name", sorted(CHARACTERISATION_HEADS))
def test_characterisation_exports_are_recognised(name):
    head, expected = CHARACTERISATION_HEADS[name]
    assert registry.detect_format(name, head) == expected


@pytest.mark.parametrize("name", sorted(OTHER_HEADS))
def test_other_files_are_not_recognised(name):
    assert registry.detect_format(name, OTHER_HEADS[name]) is None


def test_detect_reads_only_the_head():
    # The registry cuts to DETECT_BYTES, and a cut inside a multi-byte character is fine.
    head = "NTA Experiment Summary File,\r\nRemarks,µ".encode()
    assert registry.detect_format("x.csv", head[:-1]) == "nta_nanosight"
    assert registry.detect_format("x.csv", b"x" * DETECT_BYTES + _head(NTA_GOLDEN)) is None


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(
        st.lists(st.text(st.characters(codec="utf-8"), max_size=12), min_size=1, max_size=8),
        max_size=20,
    ),
    st.sampled_from([",", ";", "\t"]),
)
def test_random_csvs_are_not_recognised(rows, delimiter):
    text = "\r\n".join(delimiter.join(row) for row in rows)
    head = text.encode("utf-8")[:DETECT_BYTES]
    assert not NanoSightParser().detect("data.csv", head) or text.lstrip(
        '\ufeff \t\r\n"'
    ).casefold().startswith("nta experiment summary file")
    assert not ZetaViewParser().detect("data.txt", head) or text.lstrip().casefold().startswith(
        "original file:"
    )


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.binary(max_size=DETECT_BYTES + 16), st.text(max_size=40))
def test_detection_never_raises(head, name):
    assert registry.detect_format(name, head) in (None, *registry.PARSERS)


def test_registry_lists_every_format_generic_plate_last():
    formats = registry.supported_formats()
    keys = [key for key, _ in formats]
    assert keys[:2] == ["nta_nanosight", "zetaview"] and keys[-1] == "plate_generic"
    assert {"fcs", "zetasizer", "softmax_pro", "gen5", "skanit", "rdml", "cfx"} <= set(keys)
    assert all(label for _, label in formats)
    assert "NanoSight" in dict(formats)["nta_nanosight"]
    assert "ZetaView" in dict(formats)["zetaview"]


@pytest.mark.parametrize("key", list(registry.PARSERS))
def test_registry_parsers_keep_the_contract(key):
    parser = registry.get_parser(key)
    assert isinstance(parser, InstrumentParser)
    assert parser.format == key
    assert parser.version


def test_unknown_key_is_a_key_error():
    with pytest.raises(KeyError):
        registry.get_parser("western_blot")
