"""Damage done to a good instrument file by the fuzz tests: a few byte-level mutations
(flip, insert, delete, truncate) and, given format-specific fragments, splices of those
fragments and whole lines duplicated or dropped."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

BYTE_KINDS = ("flip", "insert", "delete", "truncate")
KINDS = (*BYTE_KINDS, "splice", "line")


@st.composite
def mutated(
    draw: st.DrawFn,
    originals: Sequence[bytes],
    splices: Sequence[bytes] = (),
    kinds: Sequence[str] = KINDS,
) -> bytes:
    """One of ``originals`` after 1 to 6 mutations drawn from ``kinds``; "splice" inserts one
    of ``splices`` (fragments that mean something to the format), so it needs some."""
    if "splice" in kinds and not splices:
        raise ValueError("splice mutations need fragments to splice in")
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(list(kinds)))
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
            data[pos:pos] = draw(st.sampled_from(splices))
        elif kind == "line" and data:
            # Duplicate or drop the whole line around pos.
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end + 1
            if draw(st.booleans()):
                data[start:start] = data[start:end]
            else:
                del data[start:end]
    return bytes(data)
