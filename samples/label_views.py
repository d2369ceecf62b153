""" "Print labels" pages for one sample, one aliquot, a whole box or a selection.

Printing changes nothing, so viewers may print. Records come from ``visible_to(user)``: a
sample or aliquot of another study is a 404, and a box prints only the tubes the user may
see. The lookups here are shared with the labels API (``samples.api.labels``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from .labels import (
    DEFAULT_STOCK,
    DPI_CHOICES,
    MAX_COPIES,
    STOCKS,
    LabelData,
    LabelError,
    LabelFile,
    aliquot_label,
    render_labels,
    sample_label,
)
from .models import Aliquot, Sample, StorageUnit

MAX_SELECTION = 1000
_SEPARATORS = re.compile(r"[\s,;]+")


# --- Lookups (shared with the API) -------------------------------------------------------


@dataclass(frozen=True)
class LabelRow:
    """A label plus where its tube sits, for the page's list of what will print."""

    label: LabelData
    position: str = ""


def split_accessions(text: str) -> list[str]:
    """Accessions as typed or scanned: any separator, any case, each once, in order."""
    seen: dict[str, None] = {}
    for token in _SEPARATORS.split(text.upper()):
        if token:
            seen.setdefault(token, None)
    return list(seen)


def find_labels(
    user,
    *,
    accessions: Iterable[str] = (),
    sample_ids: Iterable[int] = (),
    aliquot_ids: Iterable[int] = (),
) -> tuple[list[LabelRow], list[str]]:
    """Labels for the samples and aliquots named, in the order named, and what was not
    found. A record of a study the user cannot see counts as not found."""
    accessions, sample_ids, aliquot_ids = list(accessions), list(sample_ids), list(aliquot_ids)
    samples = Sample.objects.visible_to(user).select_related("study")
    aliquots = Aliquot.objects.visible_to(user).select_related("study", "sample", "box")
    by_accession: dict[str, LabelRow] = {}
    if accessions:
        for sample in samples.filter(accession__in=accessions):
            by_accession[sample.accession] = LabelRow(sample_label(sample))
        for aliquot in aliquots.filter(accession__in=accessions):
            by_accession[aliquot.accession] = _aliquot_row(aliquot)
    by_sample = {s.pk: LabelRow(sample_label(s)) for s in samples.filter(pk__in=sample_ids)}
    by_aliquot = {a.pk: _aliquot_row(a) for a in aliquots.filter(pk__in=aliquot_ids)}
    rows: list[LabelRow] = []
    missing: list[str] = []
    for keys, found, name in (
        (accessions, by_accession, "{}"),
        (sample_ids, by_sample, "sample #{}"),
        (aliquot_ids, by_aliquot, "aliquot #{}"),
    ):
        for key in keys:
            if key in found:
                rows.append(found[key])
            else:
                missing.append(name.format(key))
    return rows, missing


def box_labels(user, box: StorageUnit) -> tuple[list[LabelRow], int]:
    """Labels for the tubes in ``box`` in position order (A1, A2, … B1, …) and how many
    tubes were left out because they belong to studies the user cannot see."""
    tubes = Aliquot.objects.filter(box=box)
    visible = (
        tubes.visible_to(user).select_related("study", "sample", "box").order_by("row", "column")
    )
    rows = [_aliquot_row(aliquot) for aliquot in visible]
    return rows, tubes.count() - len(rows)


def _aliquot_row(aliquot: Aliquot) -> LabelRow:
    position = f"{aliquot.box.name} {aliquot.position}" if aliquot.box_id else ""
    return LabelRow(aliquot_label(aliquot), position)


def label_response(file: LabelFile, *, name: str) -> HttpResponse:
    """The file as a download called ``<name>.<pdf|zpl>``."""
    response = HttpResponse(file.content, content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{file.extension}"'
    return response


# --- Pages -------------------------------------------------------------------------------


class PrintForm(forms.Form):
    stock = forms.ChoiceField(
        label="Label stock",
        choices=[(stock.key, stock.name) for stock in STOCKS.values()],
        initial=DEFAULT_STOCK,
    )
    format = forms.ChoiceField(
        choices=[("pdf", "PDF (laser sheets or any label printer)"), ("zpl", "ZPL (Zebra)")],
        initial="pdf",
    )
    dpi = forms.TypedChoiceField(
        label="Zebra resolution",
        choices=[(dpi, f"{dpi} dpi") for dpi in DPI_CHOICES],
        coerce=int,
        initial=300,
        help_text="ZPL only: the print head of your Zebra printer.",
    )
    offset = forms.IntegerField(
        label="Start offset",
        min_value=0,
        initial=0,
        help_text="Sheets only: how many labels of the first sheet are already used.",
    )
    copies = forms.IntegerField(min_value=1, max_value=MAX_COPIES, initial=1)


@login_required
@require_GET
def sample_page(request: HttpRequest, pk: int) -> HttpResponse:
    sample = get_object_or_404(
        Sample.objects.visible_to(request.user).select_related("study"), pk=pk
    )
    return _print_page(
        request,
        rows=[LabelRow(sample_label(sample))],
        title=f"Labels for sample {sample.accession}",
        name=f"label-{sample.accession}",
        back_url=_url_or_empty(sample),
    )


@login_required
@require_GET
def aliquot_page(request: HttpRequest, pk: int) -> HttpResponse:
    queryset = Aliquot.objects.visible_to(request.user).select_related("study", "sample", "box")
    aliquot = get_object_or_404(queryset, pk=pk)
    return _print_page(
        request,
        rows=[_aliquot_row(aliquot)],
        title=f"Labels for aliquot {aliquot.accession}",
        name=f"label-{aliquot.accession}",
        back_url=_url_or_empty(aliquot),
    )


@login_required
@require_GET
def box_page(request: HttpRequest, pk: int) -> HttpResponse:
    # Storage is shared by the lab; only the tubes are limited to the user's studies.
    box = get_object_or_404(StorageUnit.objects.boxes(), pk=pk)
    rows, skipped = box_labels(request.user, box)
    return _print_page(
        request,
        rows=rows,
        title=f"Labels for box {box.name}",
        name=f"labels-box-{slugify(box.name) or box.pk}",
        back_url=_url_or_empty(box),
        skipped=skipped,
    )


class IdListField(forms.Field):
    """Repeated hidden ``name=<id>`` fields, as list pages post their ticked rows."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: list[str] | None) -> list[int]:
        values = [str(v).strip() for v in value or []]
        if any(not v.isdecimal() or len(v) > 12 for v in values):
            raise forms.ValidationError("Record ids must be whole numbers.")
        return [int(v) for v in dict.fromkeys(values)]


class SelectionForm(forms.Form):
    accessions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "autofocus": True, "spellcheck": "false"}),
        help_text="Scan or type accessions of samples or aliquots, one per line or separated "
        "by commas.",
    )
    sample = IdListField(required=False)
    aliquot = IdListField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["accession_list"] = split_accessions(data.get("accessions") or "")
        count = sum(len(data.get(key) or ()) for key in ("accession_list", "sample", "aliquot"))
        if count > MAX_SELECTION:
            raise forms.ValidationError(f"Select at most {MAX_SELECTION} records at once.")
        return data


@login_required
@require_http_methods(["GET", "POST"])
def selection_page(request: HttpRequest) -> HttpResponse:
    """Labels for the records posted from a list page (``sample``/``aliquot`` ids) or for
    accessions typed or scanned into the box on this page."""
    selection = SelectionForm(request.POST if request.method == "POST" else None)
    rows: list[LabelRow] = []
    if selection.is_bound and selection.is_valid():
        data = selection.cleaned_data
        rows, missing = find_labels(
            request.user,
            accessions=data["accession_list"],
            sample_ids=data["sample"],
            aliquot_ids=data["aliquot"],
        )
        if missing:
            selection.add_error(
                "accessions", f"Not found or not visible to you: {', '.join(missing[:20])}."
            )
    return _print_page(
        request,
        rows=rows,
        title="Labels for a selection",
        name=f"labels-selection-{len(rows)}",
        selection=selection,
    )


def _print_page(
    request: HttpRequest,
    *,
    rows: list[LabelRow],
    title: str,
    name: str,
    back_url: str = "",
    skipped: int = 0,
    selection: SelectionForm | None = None,
) -> HttpResponse:
    """The options form; once submitted and valid, the label file itself."""
    data = request.POST if request.method == "POST" else request.GET
    form = PrintForm(data) if "stock" in data else PrintForm()
    # "Look up" on the selection page re-checks the accessions without downloading.
    wants_file = form.is_bound and "check" not in data
    if selection is not None:
        wants_file = wants_file and selection.is_bound and not selection.errors
    if wants_file and form.is_valid():
        options = form.cleaned_data
        try:
            file = render_labels(
                [row.label for row in rows],
                stock_key=options["stock"],
                fmt=options["format"],
                dpi=options["dpi"],
                offset=options["offset"],
                copies=options["copies"],
            )
        except LabelError as exc:
            form.add_error(None, str(exc))
        else:
            return label_response(file, name=name)
    context = {
        "title": title,
        "rows": rows,
        "form": form,
        "selection": selection,
        "skipped": skipped,
        "back_url": back_url,
        "stocks": STOCKS.values(),
        "method": "post" if selection is not None else "get",
    }
    return render(request, "labels/print.html", context)


def _url_or_empty(obj) -> str:
    try:
        return obj.get_absolute_url()
    except NoReverseMatch:  # the page for this kind of record may not be routed yet
        return ""
