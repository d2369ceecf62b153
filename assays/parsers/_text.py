"""Shared helpers for text exports: decoding, line splitting and locale-proof numbers.

Instrument PCs write whatever their Windows locale says: UTF-8 with or without a BOM,
cp1252/latin-1 (``nm²``, ``µ``, ``°``), UTF-16 with a BOM, CRLF or LF or CR, and decimal
commas. These helpers accept all of that and turn anything unreadable into ``ParseError``.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from .base import ParseError

T = TypeVar("T")

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Control characters that never occur in a text export (tab, CR, LF are fine; NUL is
# stripped before this check because ZetaView writes NULs inside unit strings).
_BINARY_CHARS = re.compile(r"[\x01-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_GROUPING_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")


def _sniff_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: ASCII text shows as a NUL in every other byte."""
    sample = data[:2048]
    if len(sample) < 8:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def detect_encoding(data: bytes) -> tuple[str, int]:
    """(codec, BOM length) for ``data``: BOM, then UTF-16 sniffing, then strict UTF-8,
    then cp1252; latin-1 when cp1252 has no glyph for a byte (it decodes anything)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    utf16 = _sniff_utf16(data)
    if utf16:
        return utf16, 0
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8", 0
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1", 0
    return "cp1252", 0


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of an export and the codec it was read with; ParseError for empty,
    undecodable or binary content. NUL bytes are removed after decoding."""
    if not data:
        raise ParseError("the file is empty")
    codec, skip = detect_encoding(data)
    try:
        text = data[skip:].decode(codec)
    except UnicodeDecodeError as exc:
        # Only a BOM'd or sniffed UTF-16/32 file gets here: odd length or a lone surrogate.
        raise ParseError(
            f"the file says it is {codec.upper()} but byte {exc.start + skip} cannot be decoded"
        ) from None
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ParseError("the file contains no text")
    sample = text[:8192]
    if len(_BINARY_CHARS.findall(sample)) > max(2, len(sample) // 200):
        raise ParseError("the file is binary, not a text export")
    return text, codec


def decode_head(head: bytes) -> str:
    """Best-effort text of the first bytes, for format detection only (never raises)."""
    codec, skip = detect_encoding(head)
    if codec == "utf-8":
        return head[skip:].decode("utf-8", "ignore").replace("\x00", "")
    if codec.startswith(("utf-16", "utf-32")):
        return head[skip:].decode(codec, "ignore").replace("\x00", "")
    return head[skip:].decode("latin-1").replace("\x00", "")


def split_lines(text: str) -> list[str]:
    """Lines for CRLF, LF or bare CR files (str.splitlines would also split on form feeds
    and U+2028, which a cp1252 export can legitimately contain inside a value)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def to_float(token: str, decimal: str = ".") -> float:
    """A finite float from an instrument number. ``decimal`` is the file's decimal mark
    ("." or ","), used only where a token alone is ambiguous (``1,500`` in a decimal-point
    file is one thousand five hundred). Raises ValueError for anything else."""
    s = token.strip()
    try:
        if "_" in s:  # float() would accept 1_000
            raise ValueError(s)
        if decimal == ",":
            if "." in s:
                raise ValueError(s)  # 1.500 or 1.750E+1: the slow path decides
            s = s.replace(",", ".")
        value = float(s)
    except ValueError:
        value = _to_float_slow(token.strip(), decimal)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {token!r}")
    return value


_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(?:[.,]\d{3})+")


def _to_float_slow(s: str, decimal: str) -> float:
    s = s.translate(_GROUPING_SPACES)
    if not s or "_" in s:
        raise ValueError(f"not a number: {s!r}")
    has_comma, has_point = "," in s, "." in s
    if has_comma and has_point:
        # Both marks: the last one is the decimal mark, the other groups thousands.
        dec, group = (",", ".") if s.rfind(",") > s.rfind(".") else (".", ",")
        mantissa, exp = _split_exponent(s)
        int_part, _, frac = mantissa.rpartition(dec)
        if (frac and not frac.isdecimal()) or not _GROUPED.fullmatch(int_part):
            raise ValueError(f"not a number: {s!r}")
        return float(int_part.replace(group, "") + "." + frac + exp)
    mark = "," if has_comma else "." if has_point else ""
    if not mark:
        return float(s)
    mantissa, exp = _split_exponent(s)
    other = "," if decimal == "." else "."
    if mark == other and not exp and _GROUPED.fullmatch(mantissa):
        # 1,500 in a decimal-point file (or 1.500 in a decimal-comma file): thousands.
        return float(mantissa.replace(mark, ""))
    if mantissa.count(mark) > 1:
        if _GROUPED.fullmatch(mantissa) and not exp:
            return float(mantissa.replace(mark, ""))
        raise ValueError(f"not a number: {s!r}")
    return float(s.replace(",", "."))


def _split_exponent(s: str) -> tuple[str, str]:
    for i, ch in enumerate(s):
        if ch in "eE":
            return s[:i], s[i:]
    return s, ""


def safe_fsum(values: Iterable[float]) -> float:
    """math.fsum that returns inf instead of raising when the sum overflows."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf


def scalar(token: str, decimal: str = ".") -> int | float | str | None:
    """A settings value as the most specific JSON type: int, float, text, or None if empty."""
    s = token.strip()
    if not s:
        return None
    if len(s) < 19 and s.isascii() and (s.isdigit() or (s[0] in "+-" and s[1:].isdigit())):
        return int(s)
    if s[0] in "+-.,0123456789":
        try:
            return to_float(s, decimal)
        except ValueError:
            return s
    return s


def norm_key(label: str) -> str:
    """Case- and space-insensitive key: 'Bin centre (nm)' == ' bin  centre (NM)'."""
    return " ".join(label.split()).casefold()


def read_or_parse_error(read: Callable[[], T], *, file_kind: str) -> T:
    """Run ``read``; a parser bug (any exception but ParseError) must still end as a clean
    failure, so it becomes a ParseError naming ``file_kind`` ("NTA", "ZetaView")."""
    try:
        return read()
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(
            f"internal error while reading the {file_kind} file ({type(exc).__name__}: {exc})"
        ) from exc
