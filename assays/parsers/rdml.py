"""RDML 1.0–1.4, the Real-time PCR Data Markup Language (verified: RDML 1.0 from StepOne
Software v2.3, RDML 1.1 from Bio-Rad CFX Manager 3.0; 1.2–1.4 follow the same
experiment/run/react/data tree).

Container: an ``.rdml`` file is a ZIP whose XML member has the root ``<rdml>``. The spec
names that member ``rdml_data.xml``, CFX Manager 3.0 writes ``BioRad_qPCR_melt.xml`` and the
LightCycler 96 adds vendor XML sidecars, so the member is chosen by its root element, not its
name. A bare RDML XML document is accepted too. Namespaces differ between versions and tools,
so elements are matched by local name only.

Uploads are untrusted. The XML goes through defusedxml with DTDs refused outright (RDML never
needs one; that stops entity expansion and external entities alike), the ZIP member is
streamed with a hard cap on its unpacked size whatever its header claims, and the element
count is capped. Every one of those ends in ParseError.

Rows: one ``QPCRRow`` per run/react/data, i.e. well × target, in file order across runs.
``well`` is the react id turned into "A1" form with the run's ``pcrFormat`` (numeric ids are
counted row-wise); RDML 1.0's "A1" ids are kept, anything else stays as written. ``task``
comes from the sample type (unkn → unknown, std → standard, pos → positive, ntc/nac/nrt/ntp/
opt as they are). ``cq`` None means undetermined: ``<cq>`` absent, NaN or -1 (the spec's "not
available"), or — a StepOne quirk — equal to the last amplification cycle, which StepOne
writes for wells that never crossed the threshold (flag ``cq_at_last_cycle``). ``quantity``
is the declared quantity of standards (sample quantity, else the data's own) and None for
other rows; instrument-calculated quantities of unknowns are not reported. ``excl`` becomes
the flag ``excluded`` (with the file's reason). Amplification and melt points are not kept.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import IO, Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from ._text import decode_head, read_or_parse_error
from .base import ParseError
from .results import QPCRResult, QPCRRow

MAX_FILE_BYTES = 50 * 1024 * 1024
# Caps against decompression and XML bombs; module attributes so tests can lower them.
MAX_MEMBER_BYTES = 200 * 1024 * 1024
MAX_ELEMENTS = 5_000_000
MAX_MEMBERS = 1000
_SPEC_MEMBER = "rdml_data.xml"
_LOCAL_HEADER = b"PK\x03\x04"
# CFX Manager 3.0 starts its .rdml with a spanning marker before the first local header.
_SPAN_MARKERS = (b"PK\x07\x08", b"PK00")
_EMPTY_ZIP = b"PK\x05\x06"
# Declaration, comments and a DOCTYPE (refused later, with a clear message) before the root.
_XML_PROLOG = re.compile(
    r"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*", re.DOTALL
)
_RDML_ROOT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?rdml[\s/>]")
_PLATE_WELL = re.compile(r"\s*([A-Za-z]{1,2})\s*0*(\d{1,4})\s*")
_MARKS = str.maketrans("", "", "™®©")
_TASKS = {"unkn": "unknown", "std": "standard", "pos": "positive"}


def normalise_well(text: str) -> str:
    """ "A01", " a1 " → "A1"; anything that is not a plate position is returned stripped."""
    match = _PLATE_WELL.fullmatch(text)
    if not match:
        return text.strip()
    return f"{match.group(1).upper()}{int(match.group(2))}"


def row_letters(index: int) -> str:
    """Plate row label for a 0-based row: A…Z, then AA, AB… (1536-well plates)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


class RDMLParser:
    format = "rdml"
    label = "RDML 1.x (qPCR)"
    version = "1.0"
    max_bytes = MAX_FILE_BYTES

    def detect(self, name: str, head: bytes) -> bool:
        offset = _zip_offset(head)
        if offset is not None:
            # A ZIP is many things (xlsx, docx…): the .rdml name, the spec's member name or an
            # <rdml> root at the start of the first member says RDML.
            if name.lower().endswith(".rdml"):
                return True
            member, start = _first_member(head[offset:])
            return member == _SPEC_MEMBER or _has_rdml_root(decode_head(start))
        return _has_rdml_root(decode_head(head))

    def parse(self, data: bytes, name: str = "") -> QPCRResult:
        return read_or_parse_error(lambda: _read(data, name), file_kind="RDML")


def _read(data: bytes, name: str) -> QPCRResult:
    if not data:
        raise ParseError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ParseError(
            f"the file is {len(data) / 1e6:.1f} MB; RDML files over"
            f" {_size(MAX_FILE_BYTES)} are not accepted"
        )
    if _zip_offset(data[:8]) is not None or data.startswith(_EMPTY_ZIP):
        source, member = _open_member(data)
        return _Reader(source, member).read()
    if _has_rdml_root(decode_head(data[:4096])):
        return _Reader(io.BytesIO(data), name or "the XML document").read()
    raise ParseError("not an RDML file: neither a ZIP archive nor an <rdml> XML document", line=1)


# -- container ---------------------------------------------------------------------------


def _zip_offset(head: bytes) -> int | None:
    """Where the first ZIP local header starts (0, or 4 after a spanning marker), or None."""
    if head.startswith(_LOCAL_HEADER):
        return 0
    if head[:4] in _SPAN_MARKERS and head[4:8] == _LOCAL_HEADER:
        return 4
    return None


def _first_member(head: bytes) -> tuple[str, bytes]:
    """Name of the first ZIP member (lower case, no folder) and the start of its content as
    far as ``head`` reaches, from the local file header (detection only; never raises)."""
    if len(head) < 30:
        return "", b""
    (method,) = struct.unpack_from("<H", head, 8)
    name_length, extra_length = struct.unpack_from("<HH", head, 26)
    name = head[30 : 30 + name_length].decode("cp437", "replace").rsplit("/", 1)[-1].lower()
    body = head[30 + name_length + extra_length :]
    if method == zipfile.ZIP_STORED:
        return name, body
    if method != zipfile.ZIP_DEFLATED:
        return name, b""
    try:
        return name, zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, 1024)
    except zlib.error:
        return name, b""


def _has_rdml_root(text: str) -> bool:
    text = text.lstrip("\ufeff")
    start = _XML_PROLOG.match(text)
    return bool(_RDML_ROOT.match(text, start.end() if start else 0))


def _open_member(data: bytes) -> tuple[IO[bytes], str]:
    """The RDML XML member of a ZIP, as a size-capped stream."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception as exc:  # zipfile raises a zoo of types on damaged archives
        raise ParseError(f"the file is not a readable ZIP archive ({_why(exc)})") from None
    if len(infos) > MAX_MEMBERS:
        raise ParseError(f"the ZIP archive has {len(infos)} members; an RDML file has a few")
    candidates = [
        info
        for info in infos
        # (not ZipInfo.is_dir(): it fails on the empty name of a member named "\0…")
        if info.filename.lower().endswith(".xml")
        and not info.filename.rsplit("/", 1)[-1].startswith("._")
        and not info.filename.startswith("__MACOSX/")
    ]
    # The spec's member first; vendor sidecars are skipped by their root element.
    candidates.sort(key=lambda info: info.filename.rsplit("/", 1)[-1].lower() != _SPEC_MEMBER)
    for info in candidates:
        if not _has_rdml_root(decode_head(_member_head(archive, info))):
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            raise ParseError(
                f"{info.filename} unpacks to {info.file_size / 1e6:.1f} MB, over the"
                f" {_size(MAX_MEMBER_BYTES)} limit for RDML data"
            )
        return _CappedStream(_open(archive, info), info.filename), info.filename
    names = ", ".join(info.filename for info in infos[:6]) or "none"
    raise ParseError(f"the ZIP archive holds no RDML XML document (members: {names})")


def _open(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    try:
        return archive.open(info)
    except Exception as exc:
        raise ParseError(f"{info.filename} in the ZIP archive is damaged ({_why(exc)})") from None


def _member_head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as stream:
            return stream.read(4096)
    except Exception as exc:
        raise ParseError(f"{info.filename} in the ZIP archive is damaged ({_why(exc)})") from None


def _size(limit: int) -> str:
    return f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit / 2**10:.0f} KB"


def _why(exc: Exception) -> str:
    if isinstance(exc, RuntimeError) and "encrypt" in str(exc).lower():
        return "the member is encrypted"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _CappedStream:
    """Reads a ZIP member but never more than MAX_MEMBER_BYTES, whatever the header says."""

    def __init__(self, stream: IO[bytes], label: str) -> None:
        self.stream = stream
        self.label = label
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        room = MAX_MEMBER_BYTES + 1 - self.count
        if size is None or size < 0 or size > room:
            size = room
        try:
            chunk = self.stream.read(size)
        except Exception as exc:  # zlib.error, bad CRC, truncated data…
            raise ParseError(f"{self.label} in the ZIP archive is damaged ({_why(exc)})") from None
        self.count += len(chunk)
        if self.count > MAX_MEMBER_BYTES:
            raise ParseError(
                f"{self.label} unpacks to more than {_size(MAX_MEMBER_BYTES)}"
                " (a decompression bomb or not an RDML export)"
            )
        return chunk


# -- XML ---------------------------------------------------------------------------------


@dataclass
class _Data:
    react: str
    sample: str
    target: str
    cq: float | None
    cq_text: str
    excluded: str | None
    quantity: float | None
    last_cycle: float | None


@dataclass
class _Sample:
    types: dict[str, str] = field(default_factory=dict)  # target id ("" = any) -> type
    quantities: dict[str, float] = field(default_factory=dict)


@dataclass
class _PcrFormat:
    rows: int = -1
    columns: int = -1
    row_label: str = ""
    column_label: str = ""


@lru_cache(maxsize=4096)  # a file has a few dozen distinct tags, met millions of times
def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(elem: Element, name: str) -> Iterator[Element]:
    return (child for child in elem if _local(child.tag) == name)


def _child(elem: Element, name: str) -> Element | None:
    return next(_children(elem, name), None)


def _text(elem: Element | None, name: str = "") -> str:
    if elem is not None and name:
        elem = _child(elem, name)
    return (elem.text or "").strip() if elem is not None else ""


def _ref(elem: Element | None) -> str:
    """An id reference: ``<tar id="x"/>`` (every version) or ``<dyeId>x</dyeId>`` (1.0)."""
    if elem is None:
        return ""
    return (elem.get("id") or elem.text or "").strip()


def _number(text: str) -> float | None:
    """A finite number, or None for empty/NaN/inf; ValueError for anything else."""
    if not text or text.casefold() in ("nan", "-nan", "inf", "-inf", "infinity", "-infinity"):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


class _Reader:
    def __init__(self, source: IO[bytes], label: str) -> None:
        self.source = source
        self.label = label
        self.samples: dict[str, _Sample] = {}
        self.dyes: dict[str, str] = {}  # target id -> dye id
        self.pending: list[_Data] = []
        self.placed: list[tuple[_Data, str]] = []  # resolved once every definition is read
        self.runs: list[dict[str, Any]] = []
        self.experiments: list[str] = []
        self.experiment = ""
        self.warnings: list[str] = []
        self.dye_targets: set[str] = set()
        self.at_last_cycle = 0
        self.partitions_only = 0

    def read(self) -> QPCRResult:
        stack: list[str] = []
        count = 0
        try:
            for event, elem in iterparse(self.source, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    count += 1
                    if count > MAX_ELEMENTS:
                        raise ParseError(
                            f"{self.label} has more than {MAX_ELEMENTS:,} XML elements;"
                            " that is not a qPCR run"
                        )
                    name = _local(elem.tag)
                    if not stack and name != "rdml":
                        raise ParseError(
                            f"not an RDML document: the root element is <{name}>, not <rdml>",
                            line=1,
                        )
                    if name == "experiment" and len(stack) == 1:
                        self.experiment = (elem.get("id") or "").strip()
                    stack.append(name)
                    continue
                name = stack.pop()
                self._end(name, stack[-1] if stack else "", len(stack), elem)
        except DefusedXmlException as exc:
            raise ParseError(
                f"{self.label} declares a DTD or entities ({type(exc).__name__}); RDML never"
                " needs them and they are refused for safety"
            ) from None
        except (LookupError, ValueError) as exc:
            # The XML declaration names an encoding Python or expat cannot read.
            raise ParseError(f"{self.label} cannot be decoded ({exc})", line=1) from None
        except XMLSyntaxError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else None
            raise ParseError(
                f"{self.label} is not well-formed XML ({exc})", line=line if line else None
            ) from None
        return self._result()

    def _end(self, name: str, parent: str, depth: int, elem: Element) -> None:
        if depth == 1:  # children of <rdml>
            if name == "sample":
                self._sample(elem)
            elif name == "target":
                self.dyes[(elem.get("id") or "").strip()] = _ref(_child(elem, "dyeId"))
            elif name == "experiment":
                self.experiment = ""
            elem.clear()
            return
        if name == "description" and parent == "experiment" and depth == 2:
            text = _text(elem)
            self.experiments.append(f"{self.experiment}: {text}" if text else self.experiment)
        elif name == "react" and parent == "run":
            self._react(elem)
            elem.clear()
        elif name == "run" and parent == "experiment":
            self._run(elem)
            elem.clear()

    def _sample(self, elem: Element) -> None:
        sample = _Sample()
        for kind in _children(elem, "type"):
            sample.types.setdefault((kind.get("targetId") or "").strip(), _text(kind).lower())
        for quantity in _children(elem, "quantity"):
            try:
                value = _number(_text(quantity, "value"))
            except ValueError:
                value = None
                self.warnings.append(
                    f'sample "{elem.get("id")}": quantity {_text(quantity, "value")!r} is not'
                    " a number"
                )
            if value is not None:
                sample.quantities.setdefault((quantity.get("targetId") or "").strip(), value)
        self.samples[(elem.get("id") or "").strip()] = sample

    def _react(self, elem: Element) -> None:
        react = (elem.get("id") or "").strip()
        sample = _ref(_child(elem, "sample"))
        found = False
        for data in _children(elem, "data"):
            found = True
            self.pending.append(self._data(react, sample, data))
        if not found and _child(elem, "partitions") is not None:
            self.partitions_only += 1

    def _data(self, react: str, sample: str, data: Element) -> _Data:
        target = _ref(_child(data, "tar"))
        cq_text = _text(data, "cq")
        try:
            cq = _number(cq_text)
        except ValueError:
            raise ParseError(
                f"react {react} ({target}): Cq {cq_text[:40]!r} is not a number"
            ) from None
        excl = _child(data, "excl")
        quantity_elem = _child(data, "quantity")
        try:
            quantity = _number(_text(quantity_elem, "value")) if quantity_elem is not None else None
        except ValueError:
            quantity = None
        cycles = []
        for point in _children(data, "adp"):
            try:
                cycle = _number(_text(point, "cyc"))
            except ValueError:
                continue
            if cycle is not None:
                cycles.append(cycle)
        return _Data(
            react=react,
            sample=sample,
            target=target,
            cq=cq,
            cq_text=cq_text,
            excluded=_text(excl) if excl is not None else None,
            quantity=quantity,
            last_cycle=max(cycles) if cycles else None,
        )

    def _run(self, elem: Element) -> None:
        run_id = (elem.get("id") or "").strip()
        software = _child(elem, "dataCollectionSoftware")
        self.runs.append(
            {
                "id": run_id,
                "instrument": _text(elem, "instrument"),
                "software": _software(_text(software, "name"), _text(software, "version")),
                "run_date": _text(elem, "runDate"),
            }
        )
        plate = _pcr_format(_child(elem, "pcrFormat"))
        self.placed.extend((data, _well(data.react, plate)) for data in self.pending)
        self.pending = []

    def _row(self, data: _Data, well: str) -> QPCRRow:
        sample = self.samples.get(data.sample)
        if sample is None:
            self.warnings.append(f'react {data.react}: sample "{data.sample}" is not defined')
            sample = _Sample()
        kind = sample.types.get(data.target) or sample.types.get("") or ""
        if not kind and sample.types:
            kind = next(iter(sample.types.values()))
        task = _TASKS.get(kind, kind or "unknown")
        flags: list[str] = []
        cq = data.cq
        undetermined = cq is None or cq < 0
        if undetermined:
            cq = None
        elif data.last_cycle is not None and cq >= data.last_cycle:
            # StepOne writes the cycle count as the Cq of wells that never crossed.
            cq, undetermined = None, True
            flags.append("cq_at_last_cycle")
            self.at_last_cycle += 1
        if data.excluded is not None:
            flags.append(f"excluded: {data.excluded}" if data.excluded else "excluded")
        quantity = None
        if task == "standard":
            quantity = sample.quantities.get(data.target, sample.quantities.get(""))
            if quantity is None:
                quantity = data.quantity
        reporter = self.dyes.get(data.target, "")
        target = data.target
        if not target and reporter:
            # No target named: the dye is the only thing telling the assays apart.
            target = reporter
            self.dye_targets.add(reporter)
        return QPCRRow(
            well=well,
            sample_name=data.sample,
            target=target,
            cq=cq,
            undetermined=undetermined,
            task=task,
            reporter=reporter,
            quantity=quantity,
            flags=tuple(flags),
        )

    def _result(self) -> QPCRResult:
        # Reacts outside a run cannot happen in a valid file; keep them anyway.
        self.placed.extend((data, _well(data.react, _PcrFormat())) for data in self.pending)
        rows = [self._row(data, well) for data, well in self.placed]
        if not rows:
            message = "the RDML file has no qPCR reaction data (no experiment/run/react/data)"
            if self.partitions_only:
                message += "; digital PCR partition data is not supported"
            raise ParseError(message)
        if self.at_last_cycle:
            self.warnings.append(
                f"{self.at_last_cycle} reaction(s) report a Cq equal to their last cycle"
                " (StepOne's mark for no amplification); read as undetermined"
            )
        if self.dye_targets:
            self.warnings.append(
                "some reactions name no target; their targets were taken from the dye names"
                f" ({', '.join(sorted(self.dye_targets))})"
            )
        if self.partitions_only:
            self.warnings.append(
                f"{self.partitions_only} digital PCR reaction(s) without Cq data were skipped"
            )
        first = next((run for run in self.runs if run["run_date"]), None)
        measured_at = None
        if first is not None:
            measured_at = _iso(first["run_date"])
            if measured_at is None:
                self.warnings.append(f"runDate {first['run_date']!r} is not an ISO date")
        return QPCRResult(
            rows=tuple(rows),
            software_version=next((r["software"] for r in self.runs if r["software"]), ""),
            instrument=next((r["instrument"] for r in self.runs if r["instrument"]), ""),
            measured_at=measured_at,
            run_name="; ".join(dict.fromkeys(r["id"] for r in self.runs if r["id"])),
            description="; ".join(dict.fromkeys(e for e in self.experiments if e)),
            warnings=tuple(dict.fromkeys(self.warnings)),
        )


def _software(name: str, version: str) -> str:
    def plain(text: str) -> str:
        return " ".join(text.translate(_MARKS).split()).casefold()

    if name and version and plain(name) in plain(version):
        return version  # StepOne: "StepOne Software" + "StepOne™ Software v2.3"
    return " ".join(part for part in (name, version) if part)


def _pcr_format(elem: Element | None) -> _PcrFormat:
    if elem is None:
        return _PcrFormat()
    try:
        rows = int(_text(elem, "rows") or -1)
        columns = int(_text(elem, "columns") or -1)
    except ValueError:
        return _PcrFormat()  # RDML 1.0 writes the text "free format"
    return _PcrFormat(rows, columns, _text(elem, "rowLabel"), _text(elem, "columnLabel"))


def _well(react: str, plate: _PcrFormat) -> str:
    if not react.isdecimal():
        return normalise_well(react)  # RDML 1.0 "A1"-style ids
    number = int(react)
    if plate.rows < 1 or plate.columns < 1 or not 1 <= number <= plate.rows * plate.columns:
        return react
    row, column = divmod(number - 1, plate.columns)
    if plate.columns == 1:  # rotors: the position number is the well
        return react
    if plate.row_label == "ABC" and plate.column_label == "123":
        return f"{row_letters(row)}{column + 1}"
    return react  # "A1a1" arrays and other schemes: keep the id as written


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None
