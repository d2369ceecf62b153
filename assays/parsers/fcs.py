"""Flow Cytometry Standard files (FCS 2.0, 3.0, 3.1, 3.2) from vesicle flow analysers
(CytoFLEX nano, NanoFCM, Apogee A60-Micro) and conventional cytometers.

Layout (INSTRUMENT-FORMATS.md §3): a 58-byte ASCII HEADER with TEXT/DATA offsets (inclusive
ends), a TEXT segment of delimiter-separated keyword/value pairs, and a DATA segment of
$TOT events × $PAR values, event by event ($MODE=L).

HEADER and TEXT are read here rather than with flowio 1.4: its TEXT reader removes every "$"
from values too, pairs NanoFCM's adjacent-delimiter empty values wrongly, refuses even a
text-only read when DATA points past the end of the file, and closes the stream it is given.

TEXT: a doubled delimiter inside a value is an escaped delimiter (the spec); right after a
keyword it is an empty value (NanoFCM, CellQuest ``&5…`` keys), since keywords do not
contain the delimiter in practice. Each keyword and value is decoded as UTF-8, else latin-1
(CellQuest's 0xAA); NULs are removed and surrounding blanks stripped. Keywords are looked up
case-insensitively; ``keywords`` keeps them as spelled, without values over 2000 characters
(named in a warning). Supplemental TEXT is added when it is keyword text (CyFlow keeps a ZIP
there); the primary TEXT wins on conflicts.

DATA: offsets come from $BEGINDATA/$ENDDATA and the HEADER; the pair that fits $TOT × row
size wins, and disagreements or a segment length ≠ $TOT × Σ$PnB/8 (vendor off-by-one) are
warnings. If the file does not hold all $TOT events (a cut-off upload, a HEADER+TEXT-only
file), the result keeps ``event_count`` = $TOT, channels carry no statistics and a warning
says why: statistics of a partial acquisition would misdescribe the sample. Zero events,
$MODE C/U histograms and ASCII data also give channels without statistics and a warning.

Values ("linear values where the file says so"): integers are masked to the next power of
two ≥ $PnR; $PnE f1,f2 with f1 > 0 on integer data is decoded to 10^(f1·x/$PnR)·f2 (f2 = 0
read as 1); other channels are divided by $PnG when it is positive and ≠ 1, except the Time
channel (FlowIO/FlowKit convention: vendors put detector gains there) and log channels (the
spec forbids gain with log amplification). Float data is linear; a non-zero $PnE on it is
ignored with a warning. $TIMESTEP is not applied: Time statistics are in the file's ticks.

Statistics are exact and streamed in chunks of a few MB: min, max and mean in one pass;
p1/median/p99 are exact order statistics found by radix selection: a histogram of the top
16 bits of an order-preserving integer key per channel, then of the next 16 bits inside the
bins that hold the wanted ranks. With 16-bit digits (files of 2**18+ events) that is two
passes for 32-bit data and four for float64, and at most 6 × 512 KiB per channel whatever the
event count; small files and files with many channels use 8- or 12-bit digits. Percentiles
interpolate like numpy.percentile's default, the median like numpy.median. NaN/±inf float
values are left out of a channel's statistics (warning).

Metadata: ``volume_ul`` = $VOL / 1000 (FCS 3.1 defines $VOL in nL); ``acquired_at`` =
$DATE + $BTIM, naive; dates like 12-Jan-2021, 2021-01-12, 12/01/2021 (numeric dates are read
day first, with a warning when that is a guess); a date without $BTIM is taken at midnight.
``sample_name``: $SMNO, TUBE NAME, SAMPLE ID, SAMPLE NAME (or with "_"), TBNM (CytoFLEX), then
$FIL without folder and extension; "NA" placeholders are skipped. ``software_version``: CREATOR, SOFTWARE, $SYS.
Duplicate $PnN names get "_2", "_3" suffixes (warning). Only the first data set is read.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PureWindowsPath
from typing import BinaryIO

import numpy as np

from .base import ParseError
from .results import ChannelSummary, FlowResult

_SIGNATURES = (b"FCS2.0", b"FCS3.0", b"FCS3.1", b"FCS3.2")
_VERSION = re.compile(rb"FCS(\d)\.(\d)")
_HEADER_BYTES = 58
_CHUNK_BYTES = 4 * 1024 * 1024
_MAX_TEXT_BYTES = 64 * 1024 * 1024
_MAX_STEXT_BYTES = 16 * 1024 * 1024
_MAX_VALUE_CHARS = 2000
_MAX_CHANNELS = 10_000
# Histogram memory budget for the radix selection: while the wanted bins are refined a
# channel holds up to 6 histograms (2 ranks × 3 percentiles) of 2**bits int64 counts.
_HIST_BUDGET = 128 * 1024 * 1024
_HISTS_PER_CHANNEL = 6
_PERCENTILES = (1.0, 50.0, 99.0)
_PLACEHOLDERS = {"", "na", "n/a", "none", "null"}
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")


class FCSParser:
    format = "fcs"
    label = "FCS 2.0/3.0/3.1 (flow cytometry, nanoFCM)"
    version = "1.0"
    max_bytes = 8 * 1024**3

    def detect(self, name: str, head: bytes) -> bool:
        return head[:6] in _SIGNATURES

    def parse(self, data: bytes, name: str = "") -> FlowResult:
        return self.parse_stream(io.BytesIO(data), name)

    def parse_stream(self, stream: BinaryIO, name: str = "") -> FlowResult:
        """Summarise an FCS file from a seekable binary stream, reading DATA in chunks."""
        try:
            return _Reader(stream).read()
        except (ParseError, OSError):
            # OSError is the storage failing, not the file being bad: the caller retries.
            raise
        except Exception as exc:
            raise ParseError(
                f"internal error while reading the FCS file ({type(exc).__name__}: {exc})"
            ) from exc


# --- TEXT segment -----------------------------------------------------------------------------


def split_pairs(text: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Keyword/value pairs of a TEXT segment (first byte = delimiter) and any trailing bytes
    that did not make a pair. See the module docstring for the doubled-delimiter rule."""
    if not text:
        return [], b""
    delim = text[:1]
    body = text[1:]
    pairs: list[tuple[bytes, bytes]] = []
    reading_key = True
    key = b""
    current: list[bytes] = []
    pos = 0
    for run in re.finditer(re.escape(delim) + b"+", body):
        current.append(body[pos : run.start()])
        pos = run.end()
        n = run.end() - run.start()
        if reading_key:
            key = b"".join(current)
            if not key:  # keywords are never empty: stray delimiters are padding
                current = []
                continue
            if n % 2:  # keyword ends; the rest of the run is literal text of the value
                current = [delim * (n // 2)]
                reading_key = False
            else:  # keyword, empty value, and the next keyword starts after the run
                pairs.append((key, b""))
                current = [delim * ((n - 2) // 2)]
        elif n % 2:  # value ends after (n-1)/2 escaped delimiters
            current.append(delim * (n // 2))
            pairs.append((key, b"".join(current)))
            current = []
            reading_key = True
        else:
            current.append(delim * (n // 2))
    current.append(body[pos:])
    rest = b"".join(current)
    if not reading_key:  # TEXT ended inside a value (no closing delimiter)
        pairs.append((key, rest))
        rest = b""
    return pairs, rest


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\x00", "").strip()


# --- numbers, dates ---------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    s = value.strip()
    if s.startswith("+"):
        s = s[1:]
    return int(s) if s.isdigit() and s.isascii() else None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_MONTHS = dict(
    zip("jan feb mar apr may jun jul aug sep oct nov dec".split(), range(1, 13), strict=True)
) | {"jän": 1, "mär": 3, "mrz": 3, "mai": 5, "okt": 10, "dez": 12}  # German locales
_SEP = r"[-/ .]"
_DATE_DMY_NAME = re.compile(rf"(\d{{1,2}}){_SEP}([^\W\d_]{{3,9}})\.?{_SEP}(\d{{2}}|\d{{4}})")
_DATE_YMD_NAME = re.compile(rf"(\d{{4}}){_SEP}([^\W\d_]{{3,9}})\.?{_SEP}(\d{{1,2}})")
_DATE_MDY_NAME = re.compile(rf"([^\W\d_]{{3,9}})\.?{_SEP}(\d{{1,2}}),?{_SEP}(\d{{2}}|\d{{4}})")
_DATE_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DATE_NUMERIC = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:([.:,])(\d{1,6}))?)?\s*([AaPp][Mm])?")


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:  # FCS 2.0 wrote dd-mmm-yy
        year += 2000 if year < 70 else 1900
    return year


def _month(name: str) -> int | None:
    return _MONTHS.get(name[:3].casefold())


def parse_date(text: str) -> tuple[date | None, bool]:
    """(date, guessed): $DATE in the forms instruments write; ``guessed`` when a numeric
    date could be read either way round and was read day first."""
    s = text.strip()
    try:
        if m := _DATE_DMY_NAME.fullmatch(s):
            month = _month(m[2])
            return (date(_year(m[3]), month, int(m[1])) if month else None), False
        if m := _DATE_YMD_NAME.fullmatch(s):
            month = _month(m[2])
            return (date(int(m[1]), month, int(m[3])) if month else None), False
        if m := _DATE_MDY_NAME.fullmatch(s):
            month = _month(m[1])
            return (date(_year(m[3]), month, int(m[2])) if month else None), False
        if m := _DATE_ISO.fullmatch(s):
            return date(int(m[1]), int(m[2]), int(m[3])), False
        if m := _DATE_NUMERIC.fullmatch(s):
            first, second = int(m[1]), int(m[2])
            if first <= 12 and second > 12:
                return date(_year(m[3]), first, second), False
            return date(_year(m[3]), second, first), first <= 12 and first != second
    except ValueError:
        return None, False
    return None, False


def parse_time(text: str) -> time | None:
    """$BTIM: hh:mm[:ss[.cc]] (3.1), hh:mm:ss:tt with tt in 1/60 s (3.0), or milliseconds
    after a colon (CyFlow ``09:42:05:509``); an AM/PM suffix is honoured."""
    m = _TIME.fullmatch(text.strip())
    if not m:
        return None
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    micro = 0
    if m[5]:
        digits = m[5]
        if m[4] == ":" and len(digits) <= 2 and int(digits) < 60:
            micro = round(int(digits) / 60 * 1_000_000)
        else:
            micro = int(digits.ljust(6, "0")[:6])
    if m[6]:
        if hour > 12:
            return None
        hour = hour % 12 + (12 if m[6].casefold() == "pm" else 0)
    try:
        return time(hour, minute, second, min(micro, 999_999))
    except ValueError:
        return None


# --- DATA layout and statistics ---------------------------------------------------------------


def _next_power_of_two(value: int) -> int:
    return 1 if value <= 1 else 1 << (value - 1).bit_length()


@dataclass
class _Channel:
    index: int
    name: str
    label: str
    range: float | None
    amplification: str
    voltage: float | None
    bits: int | None = None
    kind: str = ""  # "u" unsigned integer, "f" float32, "d" float64
    offset: int = 0  # byte offset inside an event
    mask: int | None = None
    log: tuple[float, float, float] | None = None  # f1, f2, $PnR
    gain: float | None = None


def _transform(channel: _Channel, raw: np.ndarray) -> np.ndarray:
    """Stored values → linear values (float64); monotone increasing, so order statistics
    of the stored values map onto those of the linear ones."""
    values = raw.astype(np.float64)
    if channel.log is not None:
        decades, log0, rng = channel.log
        return 10 ** (decades * values / rng) * log0
    if channel.gain is not None:
        return values / channel.gain
    return values


def _float_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving unsigned keys of IEEE floats (negative values have all bits
    flipped, positive ones only the sign bit)."""
    width = 8 * values.dtype.itemsize
    unsigned, signed = (np.uint32, np.int32) if width == 32 else (np.uint64, np.int64)
    bits = values.view(unsigned)
    # Arithmetic shift of the sign bit: all ones for negative values, zero otherwise.
    flip = (values.view(signed) >> (width - 1)).view(unsigned)
    flip |= unsigned(1 << (width - 1))
    return bits ^ flip


def _float_from_key(key: int, kind: str) -> float:
    width = 32 if kind == "f" else 64
    top = 1 << (width - 1)
    bits = key ^ top if key & top else ~key & ((1 << width) - 1)
    unsigned, floating = (np.uint32, np.float32) if kind == "f" else (np.uint64, np.float64)
    return float(np.array([bits], dtype=unsigned).view(floating)[0])


def _percentile_ranks(n: int) -> list[tuple[int, int, float]]:
    """(lower rank, upper rank, fraction) per percentile, as numpy's "linear" method."""
    out = []
    for q in _PERCENTILES:
        virtual = (n - 1) * (q / 100)
        lower = math.floor(virtual)
        out.append((lower, min(lower + 1, n - 1), virtual - lower))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


@dataclass
class _Summary:
    """Streaming statistics of one channel (see the module docstring)."""

    channel: _Channel
    level_bits: int
    n: int = 0
    non_finite: int = 0
    raw_min: float | int | None = None
    raw_max: float | int | None = None
    sums: list[float] = field(default_factory=list)
    hist: np.ndarray | None = None
    consumed: int = 0
    targets: dict[int, list[int]] = field(default_factory=dict)  # rank -> [prefix, rank in bin]
    level_hists: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def key_bits(self) -> int:
        if self.channel.kind == "f":
            return 32
        if self.channel.kind == "d":
            return 64
        return 8 * _storage_bytes(self.channel.bits or 8)

    def _valid(self, column: np.ndarray) -> np.ndarray:
        if self.channel.kind in "fd":
            finite = np.isfinite(column)
            if not finite.all():
                self.non_finite += int(column.size - np.count_nonzero(finite))
                column = column[finite]
        return column

    def _keys(self, column: np.ndarray) -> np.ndarray:
        return column if self.channel.kind == "u" else _float_keys(column)

    def first_pass(self, column: np.ndarray) -> None:
        column = self._valid(column)
        if not column.size:
            return
        self.n += column.size
        low, high = column.min().item(), column.max().item()
        self.raw_min = low if self.raw_min is None else min(self.raw_min, low)
        self.raw_max = high if self.raw_max is None else max(self.raw_max, high)
        if self.channel.log is None and self.channel.gain is None:
            self.sums.append(float(column.sum(dtype=np.float64)))
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # reported as None later
                self.sums.append(float(_transform(self.channel, column).sum()))
        width = min(self.level_bits, self.key_bits)
        top = (self._keys(column) >> (self.key_bits - width)).astype(np.intp)
        counts = np.bincount(top, minlength=1 << width)
        if self.hist is None:
            self.hist = counts
        else:
            self.hist += counts

    def start_selection(self) -> None:
        """After the first pass: the top-level bins holding the wanted ranks."""
        if not self.n or self.hist is None:
            return
        ranks = {r for lower, upper, _ in _percentile_ranks(self.n) for r in (lower, upper)}
        ranks |= {(self.n - 1) // 2, self.n // 2}
        cumulative = np.cumsum(self.hist)
        for rank in ranks:
            self.targets[rank] = _locate(cumulative, rank)
        self.consumed = min(self.level_bits, self.key_bits)
        self.hist = None

    @property
    def needs_pass(self) -> bool:
        return bool(self.targets) and self.consumed < self.key_bits

    def next_pass(self, column: np.ndarray) -> None:
        column = self._valid_quiet(column)
        if not column.size:
            return
        keys = self._keys(column)
        width = min(self.level_bits, self.key_bits - self.consumed)
        prefix_of = keys >> (self.key_bits - self.consumed)
        prefixes = sorted({p for p, _ in self.targets.values()})
        for prefix in prefixes:
            inside = keys[prefix_of == prefix]
            if not inside.size:
                continue
            digits = (inside >> (self.key_bits - self.consumed - width)) & ((1 << width) - 1)
            counts = np.bincount(digits.astype(np.intp), minlength=1 << width)
            previous = self.level_hists.get(prefix)
            if previous is None:
                self.level_hists[prefix] = counts
            else:
                previous += counts

    def finish_pass(self) -> None:
        width = min(self.level_bits, self.key_bits - self.consumed)
        cumulative = {p: np.cumsum(h) for p, h in self.level_hists.items()}
        for target in self.targets.values():
            prefix, rank = target
            digit, rank_in_bin = _locate(cumulative[prefix], rank)
            target[0], target[1] = (prefix << width) | digit, rank_in_bin
        self.consumed += width
        self.level_hists = {}

    def _valid_quiet(self, column: np.ndarray) -> np.ndarray:
        if self.channel.kind in "fd":
            finite = np.isfinite(column)
            return column if finite.all() else column[finite]
        return column

    def summary(self) -> dict[str, float | None]:
        empty = dict.fromkeys(("minimum", "maximum", "mean", "median", "p1", "p99"))
        if not self.n or self.raw_min is None or self.raw_max is None:
            return empty
        order = sorted(self.targets)
        stored = [self._value_of(self.targets[r][0]) for r in order]
        raw = np.array([self.raw_min, self.raw_max, *stored], dtype=np.float64)
        if self.channel.kind == "f":
            raw = raw.astype(np.float32)  # the transform sees exactly the stored float32
        with np.errstate(over="ignore", invalid="ignore"):
            linear = [float(v) for v in _transform(self.channel, raw)]
            at = dict(zip(order, linear[2:], strict=True))
            lower_mid, upper_mid = (self.n - 1) // 2, self.n // 2
            median = (
                at[lower_mid] if lower_mid == upper_mid else (at[lower_mid] + at[upper_mid]) / 2
            )
            p1, _, p99 = (_lerp(at[lo], at[hi], t) for lo, hi, t in _percentile_ranks(self.n))
            mean = math.fsum(self.sums) / self.n
        stats = {
            "minimum": linear[0],
            "maximum": linear[1],
            "mean": mean,
            "median": median,
            "p1": p1,
            "p99": p99,
        }
        return {k: (v if math.isfinite(v) else None) for k, v in stats.items()}

    def _value_of(self, key: int) -> float:
        if self.channel.kind == "u":
            return float(key)
        return _float_from_key(key, self.channel.kind)


def _locate(cumulative: np.ndarray, rank: int) -> list[int]:
    """[bin, rank inside the bin] of the element with 0-based ``rank``."""
    index = int(np.searchsorted(cumulative, rank, side="right"))
    before = int(cumulative[index - 1]) if index else 0
    return [index, rank - before]


def _storage_bytes(bits: int) -> int:
    """Bytes the decoded value is held in (24-bit values live in 4 bytes)."""
    nbytes = bits // 8
    return nbytes if nbytes in (1, 2, 4, 8) else (4 if nbytes < 4 else 8)


class _Layout:
    """How the values of one event sit in DATA, and how to pull one column per channel
    out of a chunk of whole events."""

    def __init__(self, channels: list[_Channel], byteord: list[int]) -> None:
        self.channels = channels
        self.row_bytes = sum((c.bits or 0) // 8 for c in channels)
        ascending = byteord == sorted(byteord)
        descending = byteord == sorted(byteord, reverse=True)
        self.order = "<" if ascending or len(byteord) <= 1 else ">" if descending else ""
        self.byteord = byteord
        simple = self.order and all((c.bits or 0) // 8 in (1, 2, 4, 8) for c in channels)
        self.dtype: np.dtype | None = None
        if simple:
            self.dtype = np.dtype(
                {
                    "names": [f"p{c.index}" for c in channels],
                    "formats": [self._format(c) for c in channels],
                    "offsets": [c.offset for c in channels],
                    "itemsize": self.row_bytes,
                }
            )

    def _format(self, channel: _Channel) -> str:
        nbytes = (channel.bits or 0) // 8
        if channel.kind == "u":
            return f"{self.order}u{nbytes}"
        return f"{self.order}f{nbytes}"

    def columns(self, buf: bytes, events: int) -> Iterator[np.ndarray]:
        if self.dtype is not None:
            records = np.frombuffer(buf, dtype=self.dtype, count=events)
            for channel in self.channels:
                column = records[f"p{channel.index}"]
                native = column.dtype.newbyteorder("=")
                yield self._masked(channel, column.astype(native))
            return
        rows = np.frombuffer(buf, dtype=np.uint8, count=events * self.row_bytes)
        rows = rows.reshape(events, self.row_bytes)
        for channel in self.channels:
            yield self._masked(channel, self._gather(rows, channel))

    def _gather(self, rows: np.ndarray, channel: _Channel) -> np.ndarray:
        """Odd widths (24-bit) and odd byte orders: rebuild little-endian words byte by byte."""
        nbytes = (channel.bits or 0) // 8
        if self.order == "<" or nbytes == 1:
            positions = list(range(nbytes))
        elif self.order == ">":
            positions = list(range(nbytes - 1, -1, -1))
        else:  # e.g. 3,4,1,2: stored byte i holds significance byte byteord[i] - 1
            positions = [0] * nbytes
            for stored, significance in enumerate(self.byteord):
                positions[significance - 1] = stored
        storage = _storage_bytes(channel.bits or 8)
        words = np.zeros((rows.shape[0], storage), dtype=np.uint8)
        words[:, :nbytes] = rows[:, [channel.offset + p for p in positions]]
        kind = "u" if channel.kind == "u" else "f"
        return words.view(f"<{kind}{storage}").reshape(-1).astype(f"={kind}{storage}")

    @staticmethod
    def _masked(channel: _Channel, column: np.ndarray) -> np.ndarray:
        if channel.mask is not None:
            column &= column.dtype.type(channel.mask)
        return column


# --- the reader -------------------------------------------------------------------------------


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.text_range = (0, 0)
        self.warnings: list[str] = []
        self.lookup: dict[str, str] = {}  # upper-case keyword -> value (full length)
        self.keywords: dict[str, str] = {}
        self.spelled: dict[str, str] = {}  # upper-case keyword -> keyword as first spelled
        stream.seek(0, os.SEEK_END)
        self.size = stream.tell()

    # -- I/O --

    def _read_at(self, offset: int, length: int) -> bytes:
        self.stream.seek(offset)
        pieces = []
        while length > 0:
            piece = self.stream.read(length)
            if not piece:
                break
            pieces.append(piece)
            length -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    # -- HEADER and TEXT --

    def read(self) -> FlowResult:
        head = self._read_at(0, _HEADER_BYTES)
        version = self._version(head)
        if len(head) < _HEADER_BYTES:
            raise ParseError(
                f"the file ends after {len(head)} bytes, inside the {_HEADER_BYTES}-byte FCS HEADER"
            )
        offsets = self._header_offsets(head)
        text_start, text_end = offsets[0], offsets[1]
        self._read_text(text_start, text_end)
        self._read_supplemental_text(text_start, text_end)
        channels = self._channels()
        event_count, summaries = self._read_data(version, offsets, channels)
        return self._result(version, event_count, channels, summaries)

    def _version(self, head: bytes) -> str:
        match = _VERSION.match(head[:6])
        if not match:
            raise ParseError('not an FCS file: it should start with "FCS3.1", "FCS3.0" or "FCS2.0"')
        version = f"{match[1].decode()}.{match[2].decode()}"
        if head[:6] not in _SIGNATURES:
            self.warnings.append(f"FCS version {version} is not one this parser knows; read as 3.1")
        return version

    def _header_offsets(self, head: bytes) -> list[int]:
        """TEXT start/end, DATA start/end, ANALYSIS start/end (blank read as 0)."""
        fields = [head[10 + 8 * i : 18 + 8 * i].decode("latin-1").strip() for i in range(6)]
        if all(f.isdecimal() or not f for f in fields[:4]) and fields[0] and fields[1]:
            # Blank or "-1" ANALYSIS offsets (seen in old writers) mean no ANALYSIS segment.
            return [int(f) if f.isdecimal() else 0 for f in fields]
        # Some writers do not right-justify in 8-byte fields: fall back to the numbers in order.
        tokens = head[6:_HEADER_BYTES].decode("latin-1").split()
        if len(tokens) >= 2 and all(t.isdecimal() for t in tokens[:6]):
            numbers = [int(t) for t in tokens[:6]]
            self.warnings.append("the HEADER offsets are not in fixed 8-byte fields")
            return numbers + [0] * (6 - len(numbers))
        raise ParseError(
            f"the FCS HEADER offsets (bytes 10-57) are not numbers: {head[10:58]!r}"[:200]
        )

    def _read_text(self, start: int, end: int) -> None:
        if start < _HEADER_BYTES:
            raise ParseError(
                f"the HEADER says TEXT starts at byte {start}, inside the {_HEADER_BYTES}-byte"
                " HEADER"
            )
        if end < start:
            raise ParseError(f"the HEADER says TEXT ends (byte {end}) before it starts ({start})")
        if start >= self.size:
            raise ParseError(
                f"the HEADER says TEXT starts at byte {start}, but the file has only"
                f" {self.size} bytes: it is truncated"
            )
        if end - start + 1 > _MAX_TEXT_BYTES:
            raise ParseError(f"the TEXT segment would be {end - start + 1} bytes; that is not FCS")
        if end >= self.size:
            self.warnings.append(
                f"the TEXT segment should end at byte {end} but the file has only {self.size}"
                " bytes: the file is truncated and the last keywords may be incomplete"
            )
            end = self.size - 1
        self.text_range = (start, end)
        raw = self._read_at(start, end - start + 1)
        pairs, rest = split_pairs(raw)
        if not any(k.startswith(b"$") for k, _ in pairs):
            # An off-by-one TEXT start makes a padding byte the "delimiter": try the neighbours.
            for moved in (start + 1, start - 1):
                if moved < _HEADER_BYTES or moved > end:
                    continue
                alt_pairs, alt_rest = split_pairs(self._read_at(moved, end - moved + 1))
                if any(k.startswith(b"$") for k, _ in alt_pairs):
                    self.warnings.append(
                        f"the TEXT segment starts at byte {moved}, not {start} as the HEADER says"
                    )
                    pairs, rest = alt_pairs, alt_rest
                    break
        if not pairs:
            raise ParseError(f"the TEXT segment (bytes {start}-{end}) holds no keyword/value pairs")
        self._add_pairs(pairs, "TEXT", primary=True)
        leftover = _decode(rest)
        if leftover:
            self.warnings.append(f'TEXT ends with "{leftover[:40]}" without a value; ignored')

    def _add_pairs(self, pairs: list[tuple[bytes, bytes]], where: str, *, primary: bool) -> None:
        conflicting: list[str] = []
        too_long: list[str] = []
        for raw_key, raw_value in pairs:
            key, value = _decode(raw_key), _decode(raw_value)
            if not key:
                continue
            upper = key.upper()
            if upper in self.lookup:
                if not primary:
                    continue
                if self.lookup[upper] != value:
                    conflicting.append(key)
            else:
                self.spelled[upper] = key
            self.lookup[upper] = value
            spelled = self.spelled[upper]
            if len(value) > _MAX_VALUE_CHARS:
                too_long.append(spelled)
                self.keywords.pop(spelled, None)
            else:
                self.keywords[spelled] = value
        if conflicting:
            names = ", ".join(sorted(set(conflicting))[:10])
            self.warnings.append(f"keywords given twice in {where} with different values: {names}")
        if too_long:
            names = ", ".join(too_long[:10])
            self.warnings.append(
                f"keyword values longer than {_MAX_VALUE_CHARS} characters are not kept: {names}"
            )

    def _read_supplemental_text(self, text_start: int, text_end: int) -> None:
        begin, end = _int(self.lookup.get("$BEGINSTEXT")), _int(self.lookup.get("$ENDSTEXT"))
        if not begin or not end or end < begin:
            return
        if begin <= text_end and end >= text_start:
            return  # NanoFCM points it at the primary TEXT
        if end >= self.size or end - begin + 1 > _MAX_STEXT_BYTES:
            self.warnings.append(
                f"the supplemental TEXT (bytes {begin}-{end}) is not inside the file or too"
                " large; ignored"
            )
            return
        raw = self._read_at(begin, end - begin + 1)
        binary = len(_BINARY_BYTES.findall(raw.replace(raw[:1], b"")))
        pairs, _ = split_pairs(raw) if binary <= len(raw) // 100 else ([], b"")
        if not pairs:
            self.warnings.append(
                f"the supplemental TEXT (bytes {begin}-{end}) is not keyword text; ignored"
            )
            return
        self._add_pairs(pairs, "supplemental TEXT", primary=False)

    # -- channels --

    def _channels(self) -> list[_Channel]:
        par = _int(self.lookup.get("$PAR"))
        if par is None:
            numbers = [int(m[1]) for k in self.lookup if (m := re.fullmatch(r"\$P(\d+)N", k))]
            if not numbers:
                raise ParseError("the TEXT segment has no $PAR and no $PnN: no channels")
            par = max(numbers)
            self.warnings.append(f"no valid $PAR; {par} channels taken from the $PnN keywords")
        if par > _MAX_CHANNELS:
            raise ParseError(f"$PAR={par} channels is not plausible (at most {_MAX_CHANNELS})")
        channels: list[_Channel] = []
        seen: dict[str, int] = {}
        renamed: list[str] = []
        unnamed: list[str] = []
        for n in range(1, par + 1):
            get = self.lookup.get
            label = get(f"$P{n}S", "")
            name = get(f"$P{n}N", "")
            if not name:
                name = label or f"P{n}"
                unnamed.append(f"P{n}")
            if name in seen:
                seen[name] += 1
                renamed.append(name)
                name = f"{name}_{seen[name]}"
            seen.setdefault(name, 1)
            channels.append(
                _Channel(
                    index=n,
                    name=name,
                    label=label,
                    range=_float(get(f"$P{n}R")),
                    amplification=get(f"$P{n}E", ""),
                    voltage=_float(get(f"$P{n}V")),
                )
            )
        if unnamed:
            self.warnings.append(
                f"channels without $PnN (named from $PnS or Pn): {', '.join(unnamed[:10])}"
            )
        if renamed:
            self.warnings.append(
                f"duplicate channel names were suffixed _2, _3, …: {', '.join(sorted(set(renamed)))}"
            )
        return channels

    # -- DATA --

    def _read_data(
        self, version: str, offsets: list[int], channels: list[_Channel]
    ) -> tuple[int, list[_Summary] | None]:
        tot_text = self.lookup.get("$TOT")
        tot = _int(tot_text)
        if tot is not None and tot == 0:
            self.warnings.append(
                "the file records no events ($TOT=0): an empty or aborted acquisition"
            )
            return 0, None
        nextdata = _int(self.lookup.get("$NEXTDATA"))
        if nextdata:
            self.warnings.append(
                f"the file holds more data sets ($NEXTDATA={nextdata}); only the first is read"
            )
        mode = self.lookup.get("$MODE", "L").upper() or "L"
        datatype = self.lookup.get("$DATATYPE", "").upper()
        why_not = ""
        if mode != "L":
            why_not = f"$MODE={mode} (histogram data) is not summarised"
        elif datatype == "A":
            why_not = "ASCII event data ($DATATYPE=A) is not summarised"
        if why_not:
            if tot is None:
                raise ParseError(f"{why_not}, and $TOT is missing, so the event count is unknown")
            self.warnings.append(why_not)
            return tot, None
        layout = self._layout(datatype, channels)
        row = layout.row_bytes
        begin, end = self._data_offsets(version, offsets, tot, row)
        if tot is None:
            if begin is None:
                raise ParseError("$TOT is missing and the DATA segment cannot be located")
            length = end - begin + 1
            tot = max(0, length // row)
            self.warnings.append(
                f"$TOT is missing or not a number ({tot_text!r}); {tot} events from the DATA"
                " segment length"
            )
            if tot == 0:
                return 0, None
        if begin is None:
            self.warnings.append(
                "the DATA segment offsets are missing ($BEGINDATA/$ENDDATA and HEADER are 0);"
                " statistics were not computed"
            )
            return tot, None
        needed = tot * row
        if begin + needed > self.size:
            have = max(0, self.size - begin)
            self.warnings.append(
                f"the DATA segment is missing or truncated: {tot} events × {row} bytes need bytes"
                f" {begin}-{begin + needed - 1}, but the file has {self.size} bytes"
                f" ({have // row if row else 0} events present); statistics were not computed"
            )
            return tot, None
        length = end - begin + 1
        if length == needed + 1:
            self.warnings.append(
                f"the DATA segment end ({end}) is one byte past the last event (vendor off-by-one)"
            )
        elif length != needed:
            self.warnings.append(
                f"the DATA segment is {length} bytes (bytes {begin}-{end}) but $TOT={tot} events"
                f" × {row} bytes = {needed} bytes; the {tot} events from byte {begin} were read"
            )
        return tot, self._summarise(layout, begin, tot)

    def _layout(self, datatype: str, channels: list[_Channel]) -> _Layout:
        order_text = self.lookup.get("$BYTEORD", "")
        try:
            byteord = [int(p) for p in order_text.replace(" ", "").split(",") if p]
        except ValueError:
            byteord = []
        if not byteord or sorted(byteord) != list(range(1, len(byteord) + 1)):
            raise ParseError(
                f"$BYTEORD={order_text!r} is not a byte order such as 1,2,3,4 or 4,3,2,1"
            )
        offset = 0
        ignored_log: list[str] = []
        for c in channels:
            kind = self.lookup.get(f"$P{c.index}DATATYPE", datatype).upper()
            bits = _int(self.lookup.get(f"$P{c.index}B"))
            label = f"$P{c.index}B"
            if kind not in ("I", "F", "D"):
                raise ParseError(f"$DATATYPE={kind!r} is not I, F, D or A", column=c.name)
            if bits is None:
                if kind == "I":
                    raise ParseError(
                        f"{label}={self.lookup.get(label)!r}: the bits per value are unknown",
                        column=c.name,
                    )
                bits = 32 if kind == "F" else 64
            if (kind == "F" and bits != 32) or (kind == "D" and bits != 64):
                raise ParseError(
                    f"{label}={bits} does not fit $DATATYPE={kind} (32 for F, 64 for D)",
                    column=c.name,
                )
            if kind == "I" and (bits % 8 or not 8 <= bits <= 64):
                raise ParseError(
                    f"{label}={bits}: only whole-byte integers of 8-64 bits are supported"
                    " (bit-packed data is not)",
                    column=c.name,
                )
            nbytes = bits // 8
            if len(byteord) > 1 and nbytes > 1 and len(byteord) != nbytes:
                ascending = byteord == sorted(byteord)
                if not (ascending or byteord == sorted(byteord, reverse=True)):
                    raise ParseError(
                        f"$BYTEORD={order_text} cannot be applied to {bits}-bit values",
                        column=c.name,
                    )
            c.bits, c.offset = bits, offset
            c.kind = {"I": "u", "F": "f", "D": "d"}[kind]
            offset += nbytes
            self._scaling(c, bits, ignored_log)
        if ignored_log:
            self.warnings.append(
                f"$PnE log amplification on float data was ignored (floats are linear): {', '.join(ignored_log[:10])}"
            )
        if offset == 0:
            raise ParseError("the event size is 0 bytes ($PAR=0 or no $PnB)")
        return _Layout(channels, byteord)

    def _scaling(self, c: _Channel, bits: int, ignored_log: list[str]) -> None:
        """Mask, log decoding and gain of one channel (rules in the module docstring)."""
        decades, log0 = 0.0, 0.0
        if c.amplification:
            parts = [_float(p) for p in c.amplification.split(",")]
            if len(parts) == 2 and parts[0] is not None and parts[1] is not None:
                decades, log0 = parts[0], parts[1]
            else:
                self.warnings.append(
                    f"$P{c.index}E={c.amplification!r} is not f1,f2; read as linear"
                )
        if c.kind == "u":
            full_range = math.ceil(c.range) if c.range and c.range > 0 else None
            if full_range is not None and _next_power_of_two(full_range) < 1 << bits:
                c.mask = _next_power_of_two(full_range) - 1
            if decades > 0 and c.range and full_range is not None:
                c.log = (decades, log0 if log0 > 0 else 1.0, c.range)
                return
            if decades > 0:
                self.warnings.append(
                    f"$P{c.index}E={c.amplification} is log but $P{c.index}R is unusable;"
                    " statistics are stored channel numbers"
                )
        elif decades > 0:
            ignored_log.append(c.name)
        gain = _float(self.lookup.get(f"$P{c.index}G"))
        if gain is not None and gain > 0 and gain != 1 and c.name.casefold() != "time":
            c.gain = gain

    def _data_offsets(
        self, version: str, header: list[int], tot: int | None, row: int
    ) -> tuple[int | None, int]:
        """(begin, end) of DATA: TEXT and HEADER candidates, the one fitting $TOT wins."""
        found: list[tuple[str, int, int]] = []
        begin_kw, end_kw = _int(self.lookup.get("$BEGINDATA")), _int(self.lookup.get("$ENDDATA"))
        if begin_kw and end_kw is not None:
            found.append(("TEXT", begin_kw, end_kw))
        if header[2]:  # 0 in the HEADER: not given, or beyond 99,999,999 bytes
            found.append(("HEADER", header[2], header[3]))
        if version == "2.0":
            found.reverse()  # FCS 2.0 offsets live in the HEADER
        # DATA cannot start inside the HEADER or the TEXT segment.
        text_start, text_end = self.text_range
        usable = [c for c in found if c[1] >= _HEADER_BYTES and not text_start <= c[1] <= text_end]
        needed = tot * row if tot is not None else None

        def score(candidate: tuple[str, int, int]) -> int:
            _, begin, end = candidate
            if needed is None:
                return 0
            fits = begin + needed <= self.size
            length = end - begin + 1
            return (2 if length in (needed, needed + 1) else 0) + (1 if fits else 0)

        # max() keeps the first of equals: the source the version prefers.
        best = max(usable, key=score) if usable else None
        if len(found) == 2 and found[0][1:] != found[1][1:]:
            (a, a_begin, a_end), (b, b_begin, b_end) = found
            used = f"the {best[0]} offsets were used" if best else "neither is usable"
            self.warnings.append(
                f"HEADER and TEXT disagree on the DATA offsets ({a} {a_begin}-{a_end},"
                f" {b} {b_begin}-{b_end}); {used}"
            )
        return (best[1], best[2]) if best else (None, 0)

    def _summarise(self, layout: _Layout, begin: int, events: int) -> list[_Summary]:
        # Wide digits mean fewer passes over DATA, narrow ones cheaper histograms: small
        # files have few events, so fixed 65536-bin histograms would dominate.
        bits = 16 if events >= 1 << 18 else 12 if events >= 1 << 14 else 8
        per_digit = len(layout.channels) * _HISTS_PER_CHANNEL * 8
        while per_digit << bits > _HIST_BUDGET and bits > 8:
            bits -= 4
        summaries = [_Summary(channel=c, level_bits=bits) for c in layout.channels]
        for columns in self._passes(layout, begin, events):
            for summary, column in zip(summaries, columns, strict=True):
                summary.first_pass(column)
        for summary in summaries:
            summary.start_selection()
        while pending := [s for s in summaries if s.needs_pass]:
            wanted = {s.channel.index for s in pending}
            for columns in self._passes(layout, begin, events):
                for summary, column in zip(summaries, columns, strict=True):
                    if summary.channel.index in wanted:
                        summary.next_pass(column)
            for summary in pending:
                summary.finish_pass()
        bad = [f"{s.channel.name} ({s.non_finite})" for s in summaries if s.non_finite]
        if bad:
            self.warnings.append(
                f"NaN/infinite values were left out of the statistics: {', '.join(bad[:10])}"
            )
        return summaries

    def _passes(self, layout: _Layout, begin: int, events: int) -> Iterator[list[np.ndarray]]:
        """One pass over DATA: a list of columns per chunk of whole events."""
        row = layout.row_bytes
        per_chunk = max(1, _CHUNK_BYTES // row)
        done = 0
        while done < events:
            count = min(per_chunk, events - done)
            buf = self._read_at(begin + done * row, count * row)
            if len(buf) < count * row:
                raise ParseError(
                    f"the file ended while reading event {done + len(buf) // row + 1} of {events}"
                )
            yield list(layout.columns(buf, count))
            done += count

    # -- result --

    def _first(self, *keys: str) -> str:
        for key in keys:
            value = self.lookup.get(key, "")
            if value.casefold() not in _PLACEHOLDERS:
                return value
        return ""

    def _acquired_at(self) -> datetime | None:
        date_text = self.lookup.get("$DATE", "")
        if not date_text:
            return None
        day, guessed = parse_date(date_text)
        if day is None:
            self.warnings.append(f"$DATE={date_text!r} is not a date this parser reads")
            return None
        if guessed:
            self.warnings.append(
                f"$DATE={date_text!r} could be day/month or month/day; read as {day.isoformat()}"
            )
        time_text = self.lookup.get("$BTIM", "")
        at = parse_time(time_text) if time_text else None
        if time_text and at is None:
            self.warnings.append(f"$BTIM={time_text!r} is not a time this parser reads")
        return datetime.combine(day, at or time(0, 0))

    def _sample_name(self) -> str:
        name = self._first("$SMNO", "TUBE NAME", "TUBE_NAME", "SAMPLE ID", "SAMPLE_ID")
        name = name or self._first("SAMPLE NAME", "SAMPLE_NAME", "TBNM")
        if name:
            return name
        file_name = self._first("$FIL")
        if not file_name:
            return ""
        stem = PureWindowsPath(file_name).name
        return stem[:-4] if stem.casefold().endswith(".fcs") else stem

    def _volume_ul(self) -> float | None:
        text = self.lookup.get("$VOL")
        if text is None or text.casefold() in _PLACEHOLDERS:
            return None
        nanolitres = _float(text)
        if nanolitres is None or nanolitres < 0:
            self.warnings.append(f"$VOL={text!r} is not a volume in nL")
            return None
        return nanolitres / 1000

    def _result(
        self,
        version: str,
        event_count: int,
        channels: list[_Channel],
        summaries: list[_Summary] | None,
    ) -> FlowResult:
        stats = [s.summary() for s in summaries] if summaries else [{}] * len(channels)
        overflow = [
            c.name
            for c, s, summary in zip(
                channels, stats, summaries or [None] * len(channels), strict=True
            )
            if summary is not None and summary.n and any(v is None for v in s.values())
        ]
        if overflow:
            self.warnings.append(
                f"some statistics overflowed after scaling and are left empty: {', '.join(overflow[:10])}"
            )
        summary_channels = tuple(
            ChannelSummary(
                index=c.index,
                name=c.name,
                label=c.label,
                range=c.range,
                amplification=c.amplification,
                detector_voltage=c.voltage,
                **s,
            )
            for c, s in zip(channels, stats, strict=True)
        )
        acquired_at = self._acquired_at()
        volume_ul = self._volume_ul()
        return FlowResult(
            fcs_version=version,
            event_count=event_count,
            channels=summary_channels,
            sample_name=self._sample_name(),
            description=self._first("$COM"),
            cytometer=self.lookup.get("$CYT", ""),
            cytometer_serial=self.lookup.get("$CYTSN", ""),
            software_version=self._first("CREATOR", "SOFTWARE", "$SYS"),
            acquired_at=acquired_at,
            volume_ul=volume_ul,
            trigger=self.lookup.get("$TR", ""),
            keywords=dict(self.keywords),
            warnings=tuple(self.warnings),
        )
