"""Review R2: cells starting with a tab or carriage return are formula triggers too (OWASP)."""

from exolims.renderers import rows_to_csv


def test_tab_and_carriage_return_led_cells_are_prefixed():
    rows = [{"a": "\t=cmd|' /C calc'!A0", "b": '\r=HYPERLINK("x")', "c": "-80.0"}]
    text = "".join(rows_to_csv(iter(rows), ["a", "b", "c"]))
    body = text.split("\r\n", 1)[1]
    assert body.startswith("'\t=cmd")
    assert "'\r=HYPERLINK" in body
    assert body.rstrip().endswith(",-80.0")
