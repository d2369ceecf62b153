"""Label layout and output without the database: PDF pages, codes and ZPL."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from samples.labels import (
    MAX_LABELS,
    STOCKS,
    LabelData,
    LabelError,
    code128_bars,
    datamatrix_modules,
    fit_text,
    render_labels,
    zpl_text,
)

from .helpers import code128_image, datamatrix_image, pdf_pages, text_positions

LABELS = [
    LabelData(f"EXO-{n:06d}", ("PLASMA-01", f"Plasma 2026-03-0{n % 9 + 1}")) for n in (7, 8, 9)
]
ACCESSIONS = [label.accession for label in LABELS]
ROLLS = [key for key, stock in STOCKS.items() if stock.is_roll]
SHEETS = [key for key, stock in STOCKS.items() if not stock.is_roll]


@pytest.mark.parametrize("stock", ROLLS)
def test_roll_pdf_has_one_page_per_label_in_order(stock):
    file = render_labels(LABELS, stock_key=stock)
    assert (file.content_type, file.extension) == ("application/pdf", "pdf")
    pages = pdf_pages(file.content)
    assert len(pages) == 3
    for page, label in zip(pages, LABELS, strict=True):
        assert label.accession in page
        assert "PLASMA-01" in page


@pytest.mark.parametrize("stock", SHEETS)
def test_sheet_pdf_fills_pages_and_continues_after_the_offset(stock):
    per_page = STOCKS[stock].per_page
    labels = [LabelData(f"EXO-{n:06d}") for n in range(1, per_page + 3)]
    pages = pdf_pages(render_labels(labels, stock_key=stock).content)
    assert len(pages) == 2
    assert all(label.accession in pages[0] for label in labels[:per_page])
    assert labels[-1].accession in pages[1] and labels[0].accession not in pages[1]

    # Two labels fit on the first sheet when all but two of its positions are used.
    shifted = pdf_pages(render_labels(labels[:3], stock_key=stock, offset=per_page - 2).content)
    assert len(shifted) == 2
    assert ACCESSIONS[0] not in shifted[0]
    assert "EXO-000003" in shifted[1] and "EXO-000002" in shifted[0]


def test_offset_leaves_the_used_positions_blank():
    stock = STOCKS["a4-38x21"]
    fresh = text_positions(render_labels(LABELS[:1], stock_key=stock.key).content)
    shifted = text_positions(render_labels(LABELS[:1], stock_key=stock.key, offset=6).content)
    (x0, y0), (x6, y6) = fresh[ACCESSIONS[0]], shifted[ACCESSIONS[0]]
    # Slot 6 is the second column of the second row (5 columns per row).
    assert x6 - x0 == pytest.approx(stock.pitch_x_mm * 72 / 25.4, abs=0.01)
    assert y0 - y6 == pytest.approx(stock.pitch_y_mm * 72 / 25.4, abs=0.01)


def test_copies_repeat_each_label():
    pages = pdf_pages(render_labels(LABELS[:2], stock_key="roll-38x13", copies=2).content)
    assert [ACCESSIONS[0] in p for p in pages] == [True, True, False, False]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stock_key": "nope"}, "Unknown label stock"),
        ({"stock_key": "roll-25x13", "offset": 1}, "only applies to sheets"),
        ({"stock_key": "a4-38x21", "offset": 65}, "between 0 and 64"),
        ({"stock_key": "a4-38x21", "fmt": "zpl"}, "choose a roll stock"),
        ({"stock_key": "roll-25x13", "fmt": "zpl", "dpi": 600}, "203 or 300"),
        ({"stock_key": "roll-25x13", "fmt": "svg"}, "pdf or zpl"),
        ({"stock_key": "roll-25x13", "copies": 0}, "Copies"),
    ],
)
def test_bad_options_are_refused_with_a_message(options, message):
    with pytest.raises(LabelError, match=message):
        render_labels(LABELS, **options)


def test_empty_and_oversized_requests_are_refused():
    with pytest.raises(LabelError, match="nothing to print"):
        render_labels([], stock_key="roll-25x13")
    with pytest.raises(LabelError, match=str(MAX_LABELS)):
        render_labels(LABELS * (MAX_LABELS // 3 + 1), stock_key="roll-25x13")


@pytest.mark.parametrize("accession", ["EXO-00001^XZ", "EXO 1", "", "EXO-~1", "ÉXO-1"])
def test_an_accession_unfit_for_barcodes_is_rejected(accession):
    with pytest.raises(ValueError):
        LabelData(accession)


def test_codes_carry_the_accession():
    assert code128_bars("EXO-000123").value == "EXO-000123"
    modules = datamatrix_modules("EXO-000123")
    # Smallest square symbol that holds it (7 codewords → 14 × 14), with the L finder.
    assert len(modules) == 14 and all(len(row) == 14 for row in modules)
    assert all(row[0] == 1 for row in modules) and all(modules[-1])


def test_codes_decode_back_to_the_accession():
    zxingcpp = pytest.importorskip("zxingcpp")
    for accession in ("EXO-000001", "EXO-123456789", "A", "exo-12/3.x_y"):
        found = zxingcpp.read_barcodes(datamatrix_image(accession))
        assert [(r.text, r.format.name) for r in found] == [(accession, "DataMatrix")]
        found = zxingcpp.read_barcodes(code128_image(accession))
        assert [(r.text, r.format.name) for r in found] == [(accession, "Code128")]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler's pdftoppm")
@pytest.mark.parametrize("stock", ["roll-25x13", "a4-38x21"])
def test_the_printed_page_scans(stock, tmp_path: Path):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    (tmp_path / "labels.pdf").write_bytes(render_labels(LABELS[:1], stock_key=stock).content)
    subprocess.run(
        ["pdftoppm", "-r", "600", "-gray", "-png", "-f", "1", "-l", "1", "labels.pdf", "page"],
        cwd=tmp_path,
        check=True,
    )
    image = Image.open(next(tmp_path.glob("page*.png")))
    found = {(r.text, r.format.name) for r in zxingcpp.read_barcodes(image)}
    assert {(ACCESSIONS[0], "DataMatrix"), (ACCESSIONS[0], "Code128")} <= found


def test_fit_text_shrinks_then_cuts():
    assert fit_text("EXO-1", "Helvetica", 8, 200) == ("EXO-1", 8)
    text, size = fit_text("A" * 10, "Helvetica", 8, 40)
    assert text == "A" * 10 and 3.5 < size < 8
    text, size = fit_text("A" * 200, "Helvetica", 8, 40)
    assert text.endswith("…") and len(text) < 200 and size == 3.5


# --- ZPL -------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [203, 300])
def test_zpl_has_one_block_per_label_with_both_codes(dpi):
    file = render_labels(LABELS, stock_key="roll-25x13", fmt="zpl", dpi=dpi)
    assert file.extension == "zpl"
    zpl = file.content.decode("ascii")
    blocks = re.findall(r"\^XA(.*?)\^XZ", zpl, flags=re.S)
    assert len(blocks) == 3 == zpl.count("^XA") == zpl.count("^XZ")
    for block, accession in zip(blocks, ACCESSIONS, strict=True):
        assert re.search(rf"\^BXN,\d+,200\^FD{accession}\^FS", block)
        assert re.search(rf"\^BCN,\d+,N,N,N,A\^FD{accession}\^FS", block)
        assert f"^FH^FD{accession}^FS" in block  # printed in words too
        # 25.4 mm wide: 203 or 300 dots, i.e. the label size follows the printer.
        assert f"^PW{round(25.4 * dpi / 25.4)}" in block


def test_zpl_neutralises_hostile_text():
    hostile = LabelData("EXO-000001", ("ST^XZ^XA~JR~DGR:X", "µL_ü\x00\n^FS"))
    zpl = render_labels([hostile], stock_key="roll-38x13", fmt="zpl").content.decode("ascii")
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1
    assert "~" not in zpl
    assert "ST_5EXZ_5EXA_7EJR" in zpl
    assert zpl_text("µL_ü") == "_C2_B5L_5F_C3_BC"
    assert zpl_text("a\x00b\nc") == "a b c"
    assert zpl_text("x" * 100, limit=10) == "x" * 10
