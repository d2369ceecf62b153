"""FCS parser on synthetic files built by tests/parsers/fcs_synth.py: statistics checked
against numpy on the same values, every data layout (float/double/int, mixed widths,
24-bit, both byte orders, FCS 2.0), scaling ($PnR masks, $PnE log, $PnG), metadata, TEXT
quirks (NanoFCM empty values, escaped delimiters, latin-1), vendor faults (off-by-one,
HEADER/TEXT disagreement, zero events, truncated DATA) and ParseError for unreadable files."""

from __future__ import annotations

import io
from datetime import date, datetime, time

import numpy as np
import pytest

from assays.parsers import fcs
from assays.parsers.base import ParseError
from assays.parsers.fcs import FCSParser, parse_date, parse_time, split_pairs
from assays.parsers.results import FlowResult

from .fcs_synth import build_fcs, encode_events

parser = FCSParser()
STATS = ("minimum", "maximum", "mean", "median", "p1", "p99")


def expected(values: np.ndarray) -> dict[str, float]:
    """What numpy says about the linear values of one channel."""
    v = np.asarray(values, dtype=np.float64)
    p1, p99 = np.percentile(v, [1, 99])
    return {
        "minimum": v.min(),
        "maximum": v.max(),
        "mean": v.mean(),
        "median": np.median(v),
        "p1": p1,
        "p99": p99,
    }


def assert_stats(channel, values: np.ndarray) -> None:
    want = expected(values)
    got = {k: getattr(channel, k) for k in STATS}
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300), channel.name


def no_stats(result: FlowResult) -> bool:
    return all(getattr(c, k) is None for c in result.channels for k in STATS)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [b"FCS2.0    ", b"FCS3.0", b"FCS3.1    256", b"FCS3.2  "])
def test_detect_fcs_signatures(head):
    assert parser.detect("x.fcs", head)


@pytest.mark.parametrize(
    "head", [b"", b"FCS", b"FCS4.0    ", b"fcs3.1", b"NTA Experiment", b"PK\x03\x04"]
)
def test_detect_rejects_other_files(head):
    assert not parser.detect("x.fcs", head)


def test_parser_contract():
    assert parser.format == "fcs"
    assert parser.version == "1.0"
    assert parser.max_bytes == 8 * 1024**3


# --- statistics over data layouts --------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("events", [1, 2, 3, 100, 1001, 20_000])
def test_float32_statistics_match_numpy(rng, order, events):
    data = rng.lognormal(5, 2, size=(events, 3)).astype(np.float32)
    data[:, 1] -= 300  # negative values: the float key must order them correctly
    data[:, 2] = np.round(data[:, 2])  # many ties
    result = parser.parse(build_fcs(data, ["FSC-H", "SSC-H", "FL1-H"], order=order))
    assert result.fcs_version == "3.1"
    assert result.event_count == events
    assert result.warnings == ()
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


def test_float64_statistics_match_numpy(rng):
    data = rng.normal(0, 1e6, size=(5000, 2))
    data[:10, 0] = -0.0
    data[10:20, 0] = 0.0
    result = parser.parse(build_fcs(data, ["A", "B"], datatype="D", order=">", version="3.0"))
    assert result.warnings == ()
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


def test_constant_and_extreme_columns():
    data = np.zeros((500, 3), dtype=np.float32)
    data[:, 0] = 42.5
    data[:, 1] = np.float32(3.4e38)
    data[::2, 2] = -np.float32(3.4e38)
    data[1::2, 2] = np.float32(1e-45)  # subnormal
    result = parser.parse(build_fcs(data, ["c", "big", "mixed"]))
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


def test_statistics_are_the_same_in_small_chunks(rng, monkeypatch):
    """Multi-chunk accumulation (a few events per read) gives the one-chunk answer."""
    data = rng.lognormal(4, 1, size=(3000, 4)).astype(np.float32)
    payload = build_fcs(data, ["a", "b", "c", "d"])
    whole = parser.parse(payload)
    monkeypatch.setattr(fcs, "_CHUNK_BYTES", 16 * 7 + 5)  # 7 events per chunk, not aligned
    chunked = parser.parse(payload)
    for a, b in zip(chunked.channels, whole.channels, strict=True):
        assert (a.minimum, a.maximum, a.median, a.p1, a.p99) == (
            b.minimum,
            b.maximum,
            b.median,
            b.p1,
            b.p99,
        )
        assert a.mean == pytest.approx(b.mean, rel=1e-14)  # summed per chunk
    for j, channel in enumerate(chunked.channels):
        assert_stats(channel, data[:, j])


@pytest.mark.parametrize("events", [10, 20_000, 300_000])
def test_digit_widths_for_small_and_large_files(rng, events):
    """8-, 12- and 16-bit radix digits (chosen by event count) all give exact order stats."""
    data = rng.normal(100, 30, size=(events, 1)).astype(np.float32)
    result = parser.parse(build_fcs(data, ["FSC-H"]))
    assert_stats(result.channels[0], data[:, 0])


def test_many_channels_use_narrower_histograms(rng, monkeypatch):
    # 5 channels × 6 × 2**16 bins is over this budget: 12-bit digits, three passes over DATA.
    monkeypatch.setattr(fcs, "_HIST_BUDGET", 5 * 6 * (1 << 12) * 8)
    data = rng.integers(0, 2**32, size=(300_000, 5)).astype(np.uint32)
    result = parser.parse(build_fcs(data, list("abcde"), datatype="I", bits=32))
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


@pytest.mark.parametrize("order", ["<", ">"])
def test_mixed_width_integers(rng, order):
    widths = [8, 16, 24, 32, 16]
    data = np.stack([rng.integers(0, 2**w, size=777) for w in widths], axis=1)
    result = parser.parse(
        build_fcs(data, ["w8", "w16", "w24", "w32", "w16b"], datatype="I", bits=widths, order=order)
    )
    assert result.warnings == ()
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


def test_64_bit_integers(rng):
    data = rng.integers(0, 2**40, size=(300, 2), dtype=np.int64)
    result = parser.parse(build_fcs(data, ["a", "b"], datatype="I", bits=64, order=">"))
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


def test_integer_values_are_masked_by_range(rng):
    """$PnR 1024 in 16-bit words: the high bits are flags, not signal (spec: mask PnR-1);
    a range that is not a power of two (Apogee 4194303) masks to the next one."""
    low = rng.integers(0, 1024, size=500)
    flags = rng.integers(0, 64, size=500) << 10
    apogee = rng.integers(0, 2**22, size=500)
    raw = np.stack([low | flags, apogee | (1 << 30)], axis=1)
    result = parser.parse(
        build_fcs(
            raw, ["FL1-H", "405SALS(Peak)"], datatype="I", bits=[16, 32], ranges=[1024, 4194303]
        )
    )
    assert_stats(result.channels[0], low)
    assert_stats(result.channels[1], apogee)
    assert result.channels[1].range == 4194303.0


def test_odd_byte_order_permutation(rng):
    """FCS 2.0 allowed byte orders like 3,4,1,2 (stored byte i = significance byteord[i])."""
    data = rng.integers(0, 2**32, size=(50, 2), dtype=np.uint64)
    little = np.frombuffer(encode_events(data, "I", [32, 32], "<"), dtype=np.uint8).reshape(-1, 4)
    permuted = little[:, [2, 3, 0, 1]].tobytes()
    result = parser.parse(
        build_fcs(data, ["a", "b"], datatype="I", bits=32, byteord="3,4,1,2", data_bytes=permuted)
    )
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


# --- scaling to linear values -----------------------------------------------------------------


def test_log_amplification_is_decoded(rng):
    raw = rng.integers(0, 1024, size=(2000, 3))
    result = parser.parse(
        build_fcs(
            raw,
            ["FL1-H", "FL2-H", "FL3-H"],
            datatype="I",
            bits=16,
            ranges=[1024, 1024, 1024],
            amplification=["4,1", "4,0", "3.5,0.5"],
            gains=[None, 2.0, None],  # gain is not applied on log channels
        )
    )
    assert result.warnings == ()
    assert_stats(result.channels[0], 10 ** (4 * raw[:, 0] / 1024) * 1)
    assert_stats(result.channels[1], 10 ** (4 * raw[:, 1] / 1024) * 1)  # f2 = 0 read as 1
    assert_stats(result.channels[2], 10 ** (3.5 * raw[:, 2] / 1024) * 0.5)
    assert result.channels[0].amplification == "4,1"


def test_gain_divides_linear_channels_but_not_time(rng):
    data = rng.uniform(0, 1000, size=(800, 3)).astype(np.float32)
    result = parser.parse(build_fcs(data, ["FSC-H", "SSC-H", "Time"], gains=[3.67, 1, 100]))
    assert_stats(result.channels[0], data[:, 0].astype(np.float64) / 3.67)
    assert_stats(result.channels[1], data[:, 1])
    assert_stats(result.channels[2], data[:, 2])


def test_log_amplification_on_float_data_is_ignored(rng):
    data = rng.uniform(1, 100, size=(100, 1)).astype(np.float32)
    result = parser.parse(build_fcs(data, ["FL1-A"], amplification=["4,0"]))
    assert_stats(result.channels[0], data[:, 0])
    assert any("log amplification on float data was ignored" in w for w in result.warnings)


def test_unreadable_amplification_is_linear_with_warning(rng):
    raw = rng.integers(0, 1024, size=(50, 1))
    result = parser.parse(build_fcs(raw, ["a"], datatype="I", bits=16, amplification=["LOG"]))
    assert_stats(result.channels[0], raw[:, 0])
    assert any("$P1E='LOG'" in w for w in result.warnings)


def test_non_finite_float_values_are_left_out(rng):
    data = rng.uniform(0, 1, size=(100, 2)).astype(np.float32)
    data[3, 0] = np.nan
    data[7, 0] = np.inf
    data[:, 1] = np.nan
    result = parser.parse(build_fcs(data, ["FSC-H", "broken"]))
    assert_stats(result.channels[0], np.delete(data[:, 0], [3, 7]))
    assert all(getattr(result.channels[1], k) is None for k in STATS)
    assert any("FSC-H (2)" in w and "broken (100)" in w for w in result.warnings)


def test_overflowing_log_scale_gives_none_not_inf():
    raw = np.full((10, 1), 1023)
    result = parser.parse(
        build_fcs(raw, ["a"], datatype="I", bits=16, ranges=[1024], amplification=["400,1"])
    )
    channel = result.channels[0]
    assert channel.maximum is None and channel.mean is None
    assert any("overflowed" in w for w in result.warnings)


# --- FCS 2.0, metadata, keywords --------------------------------------------------------------


def test_fcs20_big_endian_with_header_offsets_only(rng):
    raw = rng.integers(0, 1024, size=(1500, 3))
    payload = build_fcs(
        raw,
        ["FSC-H", "SSC-H", "FL1-H"],
        version="2.0",
        datatype="I",
        bits=16,
        order=">",
        ranges=[1024] * 3,
        amplification=["0,0", "0,0", "4,0"],
        gains=[3.67, 8, None],
        extra={"CREATOR": b"CELLQuest\xaa 3.3", "$SYS": "Macintosh", "$DATE": "23-Aug-02"},
        delimiter=b"\\",
    )
    assert b"$BEGINDATA" not in payload
    result = parser.parse(payload)
    assert result.fcs_version == "2.0"
    assert result.software_version == "CELLQuestª 3.3"
    assert result.keywords["CREATOR"] == "CELLQuestª 3.3"
    assert result.acquired_at == datetime(2002, 8, 23)
    assert_stats(result.channels[0], raw[:, 0] / 3.67)
    assert_stats(result.channels[1], raw[:, 1] / 8)
    assert_stats(result.channels[2], 10 ** (4 * raw[:, 2] / 1024))


def test_metadata_fields(rng):
    data = rng.uniform(0, 1, size=(10, 2)).astype(np.float32)
    payload = build_fcs(
        data,
        ["FSC-H", "SSC-H"],
        labels=["VFSC-H", "VSSC1-H"],
        voltages=[538, "NA"],
        extra={
            "$CYT": "CytoFLEX nano",
            "$CYTSN": "BA12345",
            "CREATOR": "CytExpert 2.5",
            "$SYS": "Microsoft Windows NT 6.2.9200.0",
            "$DATE": "06-Oct-2025",
            "$BTIM": "15:02:27",
            "$VOL": "558.4333",
            "$TR": "SSC-H,1200",
            "$FIL": r"C:\data\HPLC Water.fcs",
            "$COM": "EV fraction 7",
            "TBNM": "HPLC Water",
        },
        delimiter=b"\x0c",
    )
    result = parser.parse(payload)
    assert result.cytometer == "CytoFLEX nano"
    assert result.cytometer_serial == "BA12345"
    assert result.software_version == "CytExpert 2.5"
    assert result.acquired_at == datetime(2025, 10, 6, 15, 2, 27)
    assert result.volume_ul == pytest.approx(0.5584333)  # $VOL is in nL
    assert result.trigger == "SSC-H,1200"
    assert result.description == "EV fraction 7"
    assert result.sample_name == "HPLC Water"
    assert [c.name for c in result.channels] == ["FSC-H", "SSC-H"]
    assert [c.label for c in result.channels] == ["VFSC-H", "VSSC1-H"]
    assert [c.detector_voltage for c in result.channels] == [538.0, None]
    assert result.channels[0].range == 262144.0
    assert result.keywords["$CYT"] == "CytoFLEX nano"
    assert result.keywords["$P1S"] == "VFSC-H"
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"$SMNO": "EXO-12", "TUBE NAME": "A1", "$FIL": "x.fcs"}, "EXO-12"),
        ({"$SMNO": "NA", "TUBE NAME": "A1", "$FIL": "x.fcs"}, "A1"),
        ({"SAMPLE ID": "T-cells", "$FIL": "x.fcs"}, "T-cells"),
        ({"$FIL": "Exo+ 2ug ISO1.fcs"}, "Exo+ 2ug ISO1"),
        ({"$FIL": r"D:\run 3\B07"}, "B07"),
        ({}, ""),
    ],
)
def test_sample_name_priority(extra, name):
    data = np.ones((1, 1), dtype=np.float32)
    assert parser.parse(build_fcs(data, ["a"], extra=extra)).sample_name == name


@pytest.mark.parametrize(
    ("software", "expected_software"),
    [
        ({"CREATOR": "FACSDiva 6.2", "$SYS": "Windows XP"}, "FACSDiva 6.2"),
        ({"$SYS": "Windows XP"}, "Windows XP"),
    ],
)
def test_software_version(software, expected_software):
    data = np.ones((1, 1), dtype=np.float32)
    assert (
        parser.parse(build_fcs(data, ["a"], extra=software)).software_version == expected_software
    )


@pytest.mark.parametrize(
    ("text", "day", "guessed"),
    [
        ("12-Jan-2021", date(2021, 1, 12), False),
        ("28-FEB-2013", date(2013, 2, 28), False),
        ("23-Aug-02", date(2002, 8, 23), False),
        ("2021-01-12", date(2021, 1, 12), False),
        ("2021/01/12", date(2021, 1, 12), False),
        ("12/01/2021", date(2021, 1, 12), True),
        ("25/01/2021", date(2021, 1, 25), False),
        ("01/25/2021", date(2021, 1, 25), False),
        ("12.01.2021", date(2021, 1, 12), True),
        ("05/05/2021", date(2021, 5, 5), False),
        ("Jan 12, 2021", date(2021, 1, 12), False),
        ("2021-Jan-12", date(2021, 1, 12), False),
        ("12-Okt-2021", date(2021, 10, 12), False),
        ("31-Feb-2021", None, False),
        ("yesterday", None, False),
        ("12-Foo-2021", None, False),
    ],
)
def test_parse_date(text, day, guessed):
    assert parse_date(text) == (day, guessed)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("15:19:53", time(15, 19, 53)),
        ("15:02", time(15, 2)),
        ("18:39:40.59", time(18, 39, 40, 590000)),
        ("17:29:39:51", time(17, 29, 39, 850000)),  # FCS 3.0: 51/60 s
        ("09:42:05:509", time(9, 42, 5, 509000)),  # CyFlow: milliseconds
        ("3:02:27 PM", time(15, 2, 27)),
        ("12:00:00 AM", time(0, 0)),
        ("25:00:00", None),
        ("noon", None),
    ],
)
def test_parse_time(text, at):
    assert parse_time(text) == at


def test_ambiguous_date_and_unreadable_time_are_warnings():
    data = np.ones((1, 1), dtype=np.float32)
    result = parser.parse(build_fcs(data, ["a"], extra={"$DATE": "03/04/2021", "$BTIM": "late"}))
    assert result.acquired_at == datetime(2021, 4, 3)
    assert any("day/month or month/day" in w for w in result.warnings)
    assert any("$BTIM='late'" in w for w in result.warnings)


def test_unreadable_date_and_volume_are_warnings():
    data = np.ones((1, 1), dtype=np.float32)
    result = parser.parse(build_fcs(data, ["a"], extra={"$DATE": "someday", "$VOL": "lots"}))
    assert result.acquired_at is None and result.volume_ul is None
    assert any("$DATE='someday'" in w for w in result.warnings)
    assert any("$VOL='lots'" in w for w in result.warnings)


def test_keywords_values_are_cleaned_and_long_ones_dropped():
    data = np.ones((1, 1), dtype=np.float32)
    spill = "12," + ",".join(["0.000001"] * 400)
    result = parser.parse(
        build_fcs(
            data,
            ["a"],
            extra={
                "Vendor Key": "  padded\x00 ",
                "$P1L": "488",
                "LABEL": "Alexa Fluor™ 405",
                "SPILL": spill,
                "$SPILLOVER": "1,a,1",
            },
        )
    )
    kw = result.keywords
    assert kw["Vendor Key"] == "padded"
    assert kw["LABEL"] == "Alexa Fluor™ 405"
    assert kw["$SPILLOVER"] == "1,a,1"
    assert "SPILL" not in kw
    assert any("longer than 2000" in w and "SPILL" in w for w in result.warnings)
    assert all("\x00" not in k + v for k, v in kw.items())


def test_keywords_are_case_insensitive():
    """Keys are case-insensitive in the spec: lower-case $p1n and $tot still work."""
    data = np.arange(4, dtype=np.float32).reshape(4, 1)
    payload = build_fcs(data, ["FSC-H"]).replace(b"/$P1N/", b"/$p1n/").replace(b"/$TOT/", b"/$tot/")
    result = parser.parse(payload)
    assert result.channels[0].name == "FSC-H"
    assert result.event_count == 4
    assert "$p1n" in result.keywords


def test_duplicate_channel_names_are_suffixed():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = parser.parse(build_fcs(data, ["FL1", "FL1", "FL1"]))
    assert [c.name for c in result.channels] == ["FL1", "FL1_2", "FL1_3"]
    assert any("duplicate channel names" in w for w in result.warnings)


def test_missing_channel_name_uses_label_or_number():
    data = np.arange(4, dtype=np.float32).reshape(2, 2)
    payload = build_fcs(data, ["A", "B"], labels=["alpha", "beta"])
    payload = payload.replace(b"/$P1N/A/", b"/$P1X/A/").replace(b"/$P2N/B/", b"/$P2X/B/")
    payload = payload.replace(b"/$P2S/beta/", b"/$P2Q/beta/")
    result = parser.parse(payload)
    assert [c.name for c in result.channels] == ["alpha", "P2"]
    assert any("without $PnN" in w for w in result.warnings)


# --- TEXT segment quirks ----------------------------------------------------------------------


def test_split_pairs_spec_escaping_and_empty_values():
    pairs, rest = split_pairs(b"/$P3F/488//10/$OP//$PROJ//$TOT/5/   ")
    assert pairs == [(b"$P3F", b"488/10"), (b"$OP", b""), (b"$PROJ", b""), (b"$TOT", b"5")]
    assert rest == b"   "


def test_split_pairs_value_starting_with_escaped_delimiter_and_trailing_text():
    pairs, rest = split_pairs(b"/PATH///data/x/TAIL/no end")
    assert pairs == [(b"PATH", b"/data"), (b"x", b"TAIL")]
    assert rest == b"no end"
    assert split_pairs(b"/K/unterminated value") == ([(b"K", b"unterminated value")], b"")


def test_split_pairs_ignores_stray_leading_delimiters():
    assert split_pairs(b"//$TOT/5/")[0] == [(b"$TOT", b"5")]
    assert split_pairs(b"") == ([], b"")


def test_nanofcm_empty_values_as_adjacent_form_feeds(rng):
    """NanoFCM writes empty $PROJ/$OP as two adjacent delimiters; a strict reader mis-pairs
    every later keyword. Big-endian float32, FCS 3.0, $BEGINSTEXT at the primary TEXT."""
    data = rng.lognormal(3, 1, size=(400, 3)).astype(np.float32)
    payload = build_fcs(
        data,
        ["SS-H", "FITC-H", "PC5-H"],
        version="3.0",
        order=">",
        delimiter=b"\x0c",
        text_start=58,
        extra={"$PROJ": "", "$OP": "", "$CYT": "NanoFCM N30E", "$SMNO": "SP2 Uninfected"},
        stext_at=(58, 90),
    )
    assert b"\x0c$PROJ\x0c\x0c$OP\x0c\x0c$CYT\x0c" in payload
    result = parser.parse(payload)
    assert result.keywords["$PROJ"] == "" and result.keywords["$OP"] == ""
    assert result.cytometer == "NanoFCM N30E"
    assert result.sample_name == "SP2 Uninfected"
    assert result.warnings == ()
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])


def test_supplemental_text_keywords_are_added():
    data = np.ones((3, 1), dtype=np.float32)
    payload = build_fcs(data, ["a"], stext=b"/$CYTSN/SN-9/$P1N/ignored/")
    result = parser.parse(payload)
    assert result.cytometer_serial == "SN-9"
    assert result.keywords["$CYTSN"] == "SN-9"
    assert result.channels[0].name == "a"  # the primary TEXT wins
    assert result.channels[0].mean == 1.0
    assert result.warnings == ()


def test_binary_supplemental_text_is_ignored_with_warning():
    """CyFlow Cube 8 points $BEGINSTEXT at a ZIP of its settings."""
    data = np.ones((3, 1), dtype=np.float32)
    blob = b"PK\x03\x04" + bytes(range(256)) * 4
    result = parser.parse(build_fcs(data, ["a"], stext=blob))
    assert result.channels[0].mean == 1.0
    assert any("supplemental TEXT" in w and "not keyword text" in w for w in result.warnings)


def test_supplemental_text_outside_the_file_is_a_warning():
    data = np.ones((3, 1), dtype=np.float32)
    result = parser.parse(build_fcs(data, ["a"], stext_at=(10_000, 20_000)))
    assert result.channels[0].mean == 1.0
    assert any("not inside the file" in w for w in result.warnings)


def test_text_start_off_by_one_is_found():
    data = np.arange(5, dtype=np.float32).reshape(5, 1)
    payload = bytearray(build_fcs(data, ["a"]))
    payload[10:18] = b"     255"  # one byte early: a header padding space
    result = parser.parse(bytes(payload))
    assert result.event_count == 5 and result.channels[0].median == 2.0
    assert any("TEXT segment starts at byte 256" in w for w in result.warnings)


def test_header_offsets_not_in_fixed_fields():
    data = np.arange(5, dtype=np.float32).reshape(5, 1)
    payload = build_fcs(data, ["a"])
    fields = payload[10:58].split()
    header = b"FCS3.1 " + b" ".join(fields)
    result = parser.parse(header.ljust(58, b" ") + payload[58:])
    assert result.channels[0].median == 2.0
    assert any("fixed 8-byte fields" in w for w in result.warnings)


# --- vendor faults ----------------------------------------------------------------------------


def test_zero_event_file_like_an_aborted_cytoflex_run():
    payload = build_fcs(
        np.zeros((0, 2), dtype=np.float32),
        ["FSC-H", "SSC-H"],
        tot="0000000000000000",
        text_data=(0, 0),
        header_data=(0, 0),
    )
    result = parser.parse(payload)
    assert result.event_count == 0
    assert len(result.channels) == 2 and no_stats(result)
    assert any("no events" in w for w in result.warnings)


@pytest.mark.parametrize("cut", [0, 1, 4000])
def test_truncated_data_keeps_event_count_and_drops_statistics(rng, cut):
    data = rng.uniform(0, 1, size=(1000, 27)).astype(np.float32)
    result = parser.parse(build_fcs(data, [f"P{i}" for i in range(27)], cut_data_at=cut))
    assert result.event_count == 1000
    assert len(result.channels) == 27 and no_stats(result)
    assert any("missing or truncated" in w and "not computed" in w for w in result.warnings)


def test_end_offset_one_past_the_data(rng):
    """Apogee/CytoFLEX: $ENDDATA = file size (exclusive end)."""
    data = rng.uniform(0, 1, size=(300, 2)).astype(np.float32)
    payload = build_fcs(data, ["a", "b"], data_end_shift=1)
    result = parser.parse(payload)
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])
    assert any("off-by-one" in w for w in result.warnings)


def test_header_and_text_disagree_the_consistent_one_wins(rng):
    data = rng.uniform(0, 1, size=(30, 2)).astype(np.float32)
    good = build_fcs(data, ["a", "b"])
    begin = int(good[26:34])
    end = int(good[34:42])
    for kwargs, used in (
        ({"header_data": (begin - 100, end)}, "TEXT"),
        ({"text_data": (begin - 100, end)}, "HEADER"),
    ):
        result = parser.parse(build_fcs(data, ["a", "b"], **kwargs))
        for j, channel in enumerate(result.channels):
            assert_stats(channel, data[:, j])
        assert any(
            "disagree" in w and f"the {used} offsets were used" in w for w in result.warnings
        )


def test_data_offsets_inside_text_are_not_used(rng):
    data = rng.uniform(0, 1, size=(30, 2)).astype(np.float32)
    inside = (300, 300 + 30 * 8 - 1)  # TEXT spans bytes 256 to ~500
    result = parser.parse(build_fcs(data, ["a", "b"], header_data=inside))
    for j, channel in enumerate(result.channels):
        assert_stats(channel, data[:, j])
    assert any("the TEXT offsets were used" in w for w in result.warnings)
    result = parser.parse(build_fcs(data, ["a", "b"], header_data=inside, text_data=inside))
    assert result.event_count == 30 and no_stats(result)
    assert any("offsets are missing" in w for w in result.warnings)


def test_large_file_header_zeros_are_not_a_disagreement(rng):
    data = rng.uniform(0, 1, size=(30, 1)).astype(np.float32)
    result = parser.parse(build_fcs(data, ["a"], header_data=(0, 0)))
    assert result.warnings == ()
    assert_stats(result.channels[0], data[:, 0])


def test_data_segment_longer_than_tot_events(rng):
    data = rng.uniform(0, 1, size=(30, 1)).astype(np.float32)
    payload = build_fcs(data, ["a"], tot="20")
    result = parser.parse(payload)
    assert result.event_count == 20
    assert_stats(result.channels[0], data[:20, 0])
    assert any("$TOT=20" in w for w in result.warnings)


@pytest.mark.parametrize("tot", ["0000000000001000", "1000   ", "  1000"])
def test_padded_tot(rng, tot):
    data = rng.uniform(0, 1, size=(1000, 1)).astype(np.float32)
    result = parser.parse(build_fcs(data, ["a"], tot=tot))
    assert result.event_count == 1000 and result.warnings == ()


def test_missing_tot_is_derived_from_the_data_length(rng):
    data = rng.uniform(0, 1, size=(64, 2)).astype(np.float32)
    result = parser.parse(build_fcs(data, ["a", "b"], tot="unknown"))
    assert result.event_count == 64
    assert_stats(result.channels[1], data[:, 1])
    assert any("$TOT is missing or not a number" in w for w in result.warnings)


def test_nextdata_is_a_warning():
    data = np.ones((2, 1), dtype=np.float32)
    payload = build_fcs(data, ["a"]).replace(b"/$NEXTDATA/0/", b"/$NEXTDATA/9/")
    result = parser.parse(payload)
    assert result.channels[0].mean == 1.0
    assert any("$NEXTDATA=9" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [(b"/$MODE/L/", b"/$MODE/C/", "$MODE=C"), (b"/$DATATYPE/F/", b"/$DATATYPE/A/", "ASCII")],
)
def test_unsupported_data_modes_keep_metadata(old, new, message):
    data = np.ones((2, 1), dtype=np.float32)
    result = parser.parse(build_fcs(data, ["a"]).replace(old, new))
    assert result.event_count == 2 and no_stats(result)
    assert any(message in w for w in result.warnings)


def test_fcs32_per_parameter_datatype(rng):
    """FCS 3.2 $PnDATATYPE: one float channel among integers."""
    ints = rng.integers(0, 2**16, size=(200, 1))
    floats = rng.normal(0, 1, size=(200, 1)).astype(np.float32)
    raw = encode_events(ints, "I", [16], ">")
    fl = encode_events(floats, "F", [32], ">")
    rows = b"".join(raw[i * 2 : i * 2 + 2] + fl[i * 4 : i * 4 + 4] for i in range(200))
    payload = build_fcs(
        np.zeros((200, 2)),
        ["count", "FSC-A"],
        version="3.2",
        datatype="I",
        bits=[16, 32],
        order=">",
        extra={"$P2DATATYPE": "F"},
        data_bytes=rows,
    )
    result = parser.parse(payload)
    assert result.fcs_version == "3.2"
    assert_stats(result.channels[0], ints[:, 0])
    assert_stats(result.channels[1], floats[:, 0])


# --- streams ----------------------------------------------------------------------------------


class _NoFilenoStream(io.RawIOBase):
    """A storage-like stream: seekable, short reads, no fileno()."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(min(len(buffer), 1000))  # short reads on purpose
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_parse_stream_from_file_and_fileless_stream(rng, tmp_path):
    data = rng.lognormal(3, 1, size=(5000, 3)).astype(np.float32)
    payload = build_fcs(data, ["a", "b", "c"])
    path = tmp_path / "sample.fcs"
    path.write_bytes(payload)
    from_bytes = parser.parse(payload, "sample.fcs")
    with path.open("rb") as handle:
        from_file = parser.parse_stream(handle, "sample.fcs")
        assert not handle.closed  # the caller owns the stream
    stream = _NoFilenoStream(payload)
    with pytest.raises(OSError):
        stream.fileno()
    assert from_file == from_bytes
    assert parser.parse_stream(stream, "sample.fcs") == from_bytes


# --- unreadable files -------------------------------------------------------------------------


def _valid() -> bytes:
    return build_fcs(np.ones((4, 2), dtype=np.float32), ["a", "b"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "not an FCS file"),
        (b"NTA Experiment Summary", "not an FCS file"),
        (b"FCS3.1    ", "inside the 58-byte FCS HEADER"),
        (
            b"FCS3.1    " + b"abcdefgh" * 6 + b"/a/b/",
            "HEADER offsets (bytes 10-57) are not numbers",
        ),
        (b"FCS3.1    " + b"      10      20" + b" " * 32, "inside the 58-byte HEADER"),
        (b"FCS3.1    " + b"     100      90" + b" " * 32, "before it starts"),
        (b"FCS3.1    " + b"    9000    9999" + b" " * 32, "the file has only 58 bytes"),
        (b"FCS3.1    " + b"      58      60" + b" " * 32 + b"abc", "no keyword/value pairs"),
    ],
)
def test_parse_errors(payload, message):
    with pytest.raises(ParseError) as excinfo:
        parser.parse(payload)
    assert message in excinfo.value.message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"/$PAR/2/", b"/$PAX/2/", None),  # $PAR from $PnN: still readable
        (b"/$BYTEORD/1,2,3,4/", b"/$BYTEORD/1,2,2,4/", "$BYTEORD='1,2,2,4' is not a byte order"),
        (b"/$DATATYPE/F/", b"/$DATATYPE/Q/", "$DATATYPE='Q' is not I, F, D or A"),
        (b"/$P1B/32/", b"/$P1B/16/", "$P1B=16 does not fit $DATATYPE=F"),
        (b"/$PAR/2/", b"/$PAR/99999999/", "is not plausible"),
    ],
)
def test_broken_keywords(old, new, message):
    payload = _valid()
    assert old in payload
    payload = payload.replace(old, new)
    if message is None:
        result = parser.parse(payload)
        assert len(result.channels) == 2
        assert any("no valid $PAR" in w for w in result.warnings)
        return
    with pytest.raises(ParseError) as excinfo:
        parser.parse(payload)
    assert message in excinfo.value.message


def test_bit_packed_integers_are_refused_precisely():
    payload = build_fcs(np.ones((4, 1)), ["FL1"], datatype="I", bits=[16])
    payload = payload.replace(b"/$P1B/16/", b"/$P1B/10/")
    with pytest.raises(ParseError) as excinfo:
        parser.parse(payload)
    assert "$P1B=10" in excinfo.value.message and "bit-packed" in excinfo.value.message
    assert excinfo.value.column == "FL1"


def test_no_channels_at_all():
    payload = (
        _valid()
        .replace(b"/$PAR/2/", b"/$PAX/2/")
        .replace(b"$P1N", b"$P1X")
        .replace(b"$P2N", b"$P2X")
    )
    with pytest.raises(ParseError) as excinfo:
        parser.parse(payload)
    assert "no $PAR and no $PnN" in excinfo.value.message


def test_a_superscript_digit_in_the_header_offsets_is_a_parse_error():
    # Byte 0xB2 is "²" in latin-1: Python calls it a digit, int() refuses it.
    head = bytearray(build_fcs(np.zeros((2, 1), dtype="<f4"), ["FSC-A"]))
    head[17] = 0xB2
    with pytest.raises(ParseError) as info:
        FCSParser().parse(bytes(head), "x.fcs")
    assert "internal error" not in info.value.message
