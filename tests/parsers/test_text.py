"""Locale-proof numbers and liberal decoding shared by the text parsers."""

from __future__ import annotations

import pytest

from assays.parsers._text import (
    decode_text,
    read_or_parse_error,
    scalar,
    split_lines,
    to_float,
)
from assays.parsers.base import ParseError


@pytest.mark.parametrize(
    ("token", "decimal", "expected"),
    [
        ("6.72e+08", ".", 6.72e8),
        ("1430000000", ".", 1.43e9),
        ("7,000000", ",", 7.0),
        ("1,750E+1", ",", 17.5),
        ("9,999E-2", ",", 0.09999),
        ("-1,000E+0", ",", -1.0),
        ("1.750E+1", ",", 17.5),  # a point in a comma file is still a decimal mark
        ("1,5", ".", 1.5),  # …and a lone comma with no 3-digit group is too
        ("1,500", ".", 1500.0),  # 3-digit group after a comma in a point file: thousands
        ("1.500", ",", 1500.0),
        ("1,430,000,000", ".", 1.43e9),
        ("1.430.000.000", ",", 1.43e9),
        ("36,431.130", ".", 36431.13),
        ("36.431,130", ".", 36431.13),
        ("1 430 000", ".", 1430000.0),
        ("1\u00a0430,5", ",", 1430.5),
        ("  22.000 ", ".", 22.0),
    ],
)
def test_to_float(token, decimal, expected):
    assert to_float(token, decimal) == expected


@pytest.mark.parametrize(
    "token",
    ["", "abc", "1.2.3,4", "1,2,3", "nan", "NaN", "inf", "-infinity", "1e999", "1_000", "²"],
)
def test_to_float_rejects(token):
    with pytest.raises(ValueError):
        to_float(token, ".")


def test_scalar_types():
    assert scalar("16") == 16 and isinstance(scalar("16"), int)
    assert scalar("-3") == -3
    assert scalar("32.500000") == 32.5
    assert scalar("0,5", ",") == 0.5
    assert scalar("Auto") == "Auto"
    assert scalar("  ") is None
    assert scalar("³3") == "³3"
    assert scalar("9" * 5000) == "9" * 5000  # too big for a finite float: kept as text


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        ("µ°".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "µ°".encode(), "utf-8"),
        ("µ°".encode("cp1252"), "cp1252"),
        (b"\x81\xb5", "latin-1"),  # 0x81 has no cp1252 glyph
        (b"\xff\xfe" + "µ°ab".encode("utf-16-le"), "utf-16-le"),
        (b"\xfe\xff" + "µ°ab".encode("utf-16-be"), "utf-16-be"),
        ("Original File:\tx".encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_decode_text(data, codec):
    text, used = decode_text(data)
    assert used == codec
    assert text.replace("Original File:\tx", "µ°").startswith(("µ°", "\x81"))


def test_decode_text_errors():
    with pytest.raises(ParseError, match="empty"):
        decode_text(b"")
    with pytest.raises(ParseError, match="UTF-16-LE"):
        decode_text(b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00\xd8")  # lone surrogate
    with pytest.raises(ParseError, match="binary"):
        decode_text(bytes(range(1, 32)) * 10)


def test_split_lines():
    assert split_lines("a\r\nb\rc\nd\n") == ["a", "b", "c", "d"]
    assert split_lines("a\x0cb\u2028c") == ["a\x0cb\u2028c"]


def test_leading_zero_is_never_a_thousands_group():
    assert to_float("0.714", ",") == 0.714
    assert to_float("0,714", ".") == 0.714


def test_a_parser_bug_ends_as_a_parse_error_naming_the_file_kind():
    def buggy() -> None:
        raise KeyError("mode")

    with pytest.raises(ParseError) as info:
        read_or_parse_error(buggy, file_kind="ZetaView")
    assert info.value.message == "internal error while reading the ZetaView file (KeyError: 'mode')"
    assert isinstance(info.value.__cause__, KeyError)


def test_a_parse_error_passes_through_unchanged():
    original = ParseError("no size data", line=3)

    def failing() -> None:
        raise original

    with pytest.raises(ParseError) as info:
        read_or_parse_error(failing, file_kind="NTA")
    assert info.value is original
    assert read_or_parse_error(lambda: 42, file_kind="NTA") == 42
