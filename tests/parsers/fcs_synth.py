"""A small FCS writer for the parser tests and the benchmark (INSTRUMENT-FORMATS.md §3.1).

``build_fcs`` turns an events × channels array into FCS bytes in the layouts instruments
write: FCS 2.0 (offsets in the HEADER only) or 3.x (offsets in both), $DATATYPE I/F/D,
mixed integer widths including 24-bit, either byte order, log amplification, and the
vendor faults the parser must survive (off-by-one $ENDDATA, HEADER/TEXT disagreeing,
truncated DATA, empty values written as adjacent delimiters).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_HEADER = 58
_PAD = 20  # zero-padded offset width in TEXT, so the TEXT length is known in advance


def _escape(value: bytes, delim: bytes) -> bytes:
    return value.replace(delim, delim + delim)


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _int_bytes(column: np.ndarray, nbytes: int, order: str) -> np.ndarray:
    """(events, nbytes) uint8 array of unsigned integers in the given byte order."""
    values = column.astype(np.uint64)
    little = np.stack([(values >> (8 * i)) & 0xFF for i in range(nbytes)], axis=1)
    little = little.astype(np.uint8)
    return little if order == "<" else little[:, ::-1]


def encode_events(events: np.ndarray, datatype: str, bits: Sequence[int], order: str) -> bytes:
    """DATA segment bytes: events row by row, each value in its $PnB width."""
    events = np.asarray(events)
    if datatype in ("F", "D"):
        dtype = np.dtype(f"{order}f{4 if datatype == 'F' else 8}")
        return np.ascontiguousarray(events, dtype=dtype).tobytes()
    parts = [_int_bytes(events[:, j], b // 8, order) for j, b in enumerate(bits)]
    return np.concatenate(parts, axis=1).tobytes() if parts else b""


def build_fcs(
    events: np.ndarray,
    names: Sequence[str],
    *,
    version: str = "3.1",
    datatype: str = "F",
    bits: Sequence[int] | int | None = None,
    order: str = "<",
    byteord: str | None = None,
    ranges: Sequence[str | float] | None = None,
    amplification: Sequence[str] | None = None,
    gains: Sequence[str | float | None] | None = None,
    labels: Sequence[str] | None = None,
    voltages: Sequence[str | float | None] | None = None,
    extra: dict[str, str | bytes] | None = None,
    delimiter: bytes = b"/",
    text_start: int = 256,
    tot: str | None = None,
    data_end_shift: int = 0,
    header_data: tuple[int, int] | None = None,
    text_data: tuple[int, int] | None = None,
    cut_data_at: int | None = None,
    data_bytes: bytes | None = None,
    stext: bytes | None = None,
    stext_at: tuple[int, int] | None = None,
) -> bytes:
    """An FCS file holding ``events`` (one row per event) for channels ``names``.

    ``tot`` overrides the $TOT text; ``data_end_shift`` moves $ENDDATA (and the HEADER end)
    by that many bytes; ``header_data`` / ``text_data`` force the DATA offsets written in
    the HEADER / TEXT; ``cut_data_at`` keeps only that many DATA bytes; ``data_bytes``
    replaces the encoded DATA segment; ``stext`` is a supplemental TEXT appended after DATA
    ($BEGINSTEXT/$ENDSTEXT point at it unless ``stext_at`` says otherwise).
    """
    events = np.asarray(events)
    par = len(names)
    if bits is None:
        bits = 64 if datatype == "D" else 32
    widths = [bits] * par if isinstance(bits, int) else list(bits)
    data = data_bytes if data_bytes is not None else encode_events(events, datatype, widths, order)
    if byteord is None:
        byteord = "1,2,3,4" if order == "<" else "4,3,2,1"
    pairs: list[tuple[str, str | bytes]] = []
    if version != "2.0":
        placeholder = "0" * _PAD
        pairs += [
            ("$BEGINANALYSIS", "0"),
            ("$ENDANALYSIS", "0"),
            ("$BEGINSTEXT", placeholder),
            ("$ENDSTEXT", placeholder),
            ("$BEGINDATA", placeholder),
            ("$ENDDATA", placeholder),
        ]
    pairs += [
        ("$BYTEORD", byteord),
        ("$DATATYPE", datatype),
        ("$MODE", "L"),
        ("$NEXTDATA", "0"),
        ("$PAR", str(par)),
        ("$TOT", tot if tot is not None else str(len(events))),
    ]
    for j, name in enumerate(names):
        n = j + 1
        pairs += [(f"$P{n}N", name), (f"$P{n}B", str(widths[j]))]
        default_range = 262144 if datatype != "I" else 1 << widths[j]
        pairs.append((f"$P{n}R", str(ranges[j] if ranges else default_range)))
        pairs.append((f"$P{n}E", amplification[j] if amplification else "0,0"))
        if gains and gains[j] is not None:
            pairs.append((f"$P{n}G", str(gains[j])))
        if labels:
            pairs.append((f"$P{n}S", labels[j]))
        if voltages and voltages[j] is not None:
            pairs.append((f"$P{n}V", str(voltages[j])))
    pairs += list((extra or {}).items())

    def text_for(begin: int, end: int, stext_begin: int = 0, stext_end: int = 0) -> bytes:
        filled = {
            "$BEGINDATA": begin,
            "$ENDDATA": end,
            "$BEGINSTEXT": stext_begin,
            "$ENDSTEXT": stext_end,
        }
        out = [delimiter]
        for key, value in pairs:
            if key in filled:
                value = str(filled[key]).zfill(_PAD)
            out += [_escape(_as_bytes(key), delimiter), delimiter]
            out += [_escape(_as_bytes(value), delimiter), delimiter]
        return b"".join(out)

    text_length = len(text_for(0, 0))
    data_start = text_start + text_length
    data_end = data_start + len(data) - 1 + data_end_shift
    stext_begin = data_start + len(data)
    stext_span = (stext_begin, stext_begin + len(stext) - 1) if stext else (0, 0)
    text = text_for(*(text_data or (data_start, data_end)), *(stext_at or stext_span))
    assert len(text) == text_length
    h_begin, h_end = header_data or (data_start, data_end)
    if h_end > 99_999_999 or h_begin > 99_999_999:
        h_begin = h_end = 0
    header = f"FCS{version}    " + "".join(
        f"{v:>8}" for v in (text_start, text_start + text_length - 1, h_begin, h_end, 0, 0)
    )
    header_bytes = header.encode("ascii").ljust(text_start, b" ")
    body = data if cut_data_at is None else data[:cut_data_at]
    return header_bytes + text + body + (stext or b"")
