"""Marker pages: a marker result entered for a tube (one marker, or the panel of markers
probed on one blot), a result's page with its blot and densitometry table, the list, and the
lab's marker vocabulary (HGNC symbol → MISEV category) with its editor.

Results are scoped like their study (another study's result is a 404; viewers get a 403 on
POST). The vocabulary is lab-wide: everyone reads it, staff and study managers change it
(``characterisation_services.can_edit_markers``). Changing a marker's category changes how
every result for it counts towards MISEV's "one of each category" check, so the page asks
for confirmation first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import DetailView, TemplateView

from exolims import upload_handlers
from samples.choices import Role
from samples.models import Study
from samples.views.common import has_role
from samples.views.history import HISTORY_SHOWN, HistoryMixin, history_rows

from .. import characterisation_services as services
from ..api.characterisation_filters import MarkerResultFilterSet
from ..choices import ANTIBODY_METHODS, LYSATE_METHODS, MarkerCategory
from ..forms.characterisation import (
    controls_formset,
    controls_from,
    now_minute,
    record_initial,
    without_tube,
)
from ..forms.markers import (
    VOCABULARY_LIST_ID,
    MarkerForm,
    MarkerResultForm,
    PanelForm,
    autofocus,
    panel_formset,
)
from ..models import Marker, MarkerResult
from .common import PageMixin
from .files import json_login_required
from .imaging import (
    BROWSER_IMAGES,
    CACHE_REPLACEABLE,
    record_list_page,
    serve_image,
    stored_image_type,
)
from .measurements import (
    RECORD_RELATED,
    SECTION,
    controls_text,
    require_result_editor,
    require_some_editor_role,
    start_tube,
)
from .particles import number_text

CATEGORY_LABELS = dict(MarkerCategory.choices)
# What each MISEV2018 category tells about a preparation (shown on the vocabulary page).
CATEGORY_MEANING = {
    "1a": "Shows there are membrane-bound particles (EVs); not specific to a cell type.",
    "1b": "Membrane proteins of a cell or tissue type: where the EVs come from.",
    "2a": "Cytosolic proteins that bind membranes: shows the particles enclose cytosol.",
    "2b": "Cytosolic proteins taken up without specific binding: weaker evidence.",
    "3": "Non-EV structures often co-isolated (lipoproteins, protein aggregates): purity.",
    "4": "Other intracellular compartments (ER, Golgi, mitochondria, nucleus): large-EV or "
    "cell debris content.",
    "5": "Secreted or extracellular proteins that may bind EVs.",
}


def category_label(code: str) -> str:
    return CATEGORY_LABELS.get(code, code)


# --- The vocabulary as the forms use it -------------------------------------------------------


def vocabulary_options() -> list[dict[str, str]]:
    """The datalist of the marker inputs: each symbol and each alias, with the category it
    stands for, so typing shows the category before the lookup answers."""
    options = []
    for marker in Marker.objects.only("symbol", "aliases", "category", "name"):
        if marker.is_family:
            continue
        label = category_label(marker.category)
        options.append({"value": marker.symbol, "label": f"{label} — {marker.name}".strip(" —")})
        for alias in marker.aliases or []:
            options.append({"value": alias, "label": f"{marker.symbol} · {label}"})
    return sorted(options, key=lambda option: option["value"])


def lookup_payload(text: str) -> dict[str, Any] | None:
    """What the marker input shows beside it: the canonical symbol, its MISEV category and
    (for a family member, e.g. ITGB1) the family it is classified by. Nothing is created."""
    key = (text or "").strip().upper()
    marker = Marker.objects.lookup(key)
    if marker is None:
        return None
    return {
        "symbol": key if marker.is_family else marker.symbol,
        "name": "" if marker.is_family else marker.name,
        "category": marker.category,
        "category_label": category_label(marker.category),
        "family": marker.symbol if marker.is_family else "",
        "alias": key if key not in (marker.symbol, "") and not marker.is_family else "",
    }


@never_cache
@require_GET
@json_login_required
def marker_lookup(request: HttpRequest) -> JsonResponse:
    """``?q=ALIX`` → {"symbol": "PDCD6IP", "category": "2a", "category_label": …}; 404 with
    a message for a marker the vocabulary does not know."""
    text = request.GET.get("q", request.GET.get("symbol", "")).strip()[:40]
    if not text:
        return JsonResponse({"message": "Give a marker symbol (?q=CD63)."}, status=400)
    payload = lookup_payload(text)
    if payload is None:
        return JsonResponse(
            {
                "symbol": text.upper(),
                "category": None,
                "category_label": "",
                "message": f"Unknown marker '{text}'. Add it to the marker vocabulary first.",
            },
            status=404,
        )
    return JsonResponse(payload)


# --- Entering results -------------------------------------------------------------------------


def _form_context(request: HttpRequest, **context: Any) -> dict[str, Any]:
    return {
        "section": SECTION,
        "current": "markers",
        "vocabulary": vocabulary_options(),
        "vocabulary_list_id": VOCABULARY_LIST_ID,
        "lookup_url": reverse("assays:marker-lookup"),
        "can_edit_vocabulary": services.can_edit_markers(request.user),
        **context,
    }


def _too_large(request: HttpRequest) -> str | None:
    request.FILES  # noqa: B018 - the limit is known once the body has been parsed
    limit = upload_handlers.upload_limit_exceeded(request)
    return upload_handlers.too_large_message(limit) if limit else None


@login_required
@require_http_methods(["GET", "POST"])
def marker_result_create(request: HttpRequest) -> HttpResponse:
    """A marker result for a tube; ``?mode=panel`` enters several markers of one blot."""
    user = request.user
    tube = start_tube(request)
    require_some_editor_role(user)
    if request.GET.get("mode") == "panel":
        return _panel_create(request, tube)
    status = 200
    initial = {"tube": tube.accession if tube else "", "measured_at": now_minute()}
    if request.method == "POST" and (too_large := _too_large(request)):
        messages.error(request, too_large)
        form, controls = MarkerResultForm(user=user, initial=initial), controls_formset()
        status = 413
    elif request.method == "POST":
        form = MarkerResultForm(request.POST, request.FILES, user=user)
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            try:
                result = services.record_marker_result(
                    user=user,
                    aliquot=form.cleaned_data["tube"],
                    data=form.service_data(controls_from(controls)),
                    **form.uploads(),
                )
            except PermissionDenied as error:
                form.add_tube_refusal(error)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(
                    request,
                    f"Recorded {result.marker.symbol} "
                    f"({result.get_detection_display().lower()}) on {result.aliquot.accession}.",
                )
                return redirect(result)
        status = 400
    else:
        form, controls = MarkerResultForm(user=user, initial=initial), controls_formset()
        autofocus(form, "marker" if tube else "tube")
    return render(
        request,
        "assays/markers/result_form.html",
        _form_context(request, form=form, controls=controls, tube=tube),
        status=status,
    )


class _PanelRowRefused(Exception):
    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(str(error))
        self.index, self.error = index, error


def _panel_create(request: HttpRequest, tube) -> HttpResponse:
    """Several markers probed on one blot: one result per row, sharing the method, lysate,
    loading, date, operator, controls and the blot itself. All rows are saved, or none."""
    user = request.user
    status = 200
    initial = {"tube": tube.accession if tube else "", "measured_at": now_minute()}
    if request.method == "POST" and (too_large := _too_large(request)):
        messages.error(request, too_large)
        form, rows, controls = PanelForm(user=user, initial=initial), panel_formset(), None
        status = 413
    elif request.method == "POST":
        form = PanelForm(request.POST, request.FILES, user=user)
        rows = panel_formset(request.POST)
        controls = controls_formset(request.POST)
        if form.is_valid() and rows.is_valid() and controls.is_valid():
            try:
                results = _save_panel(user, form, rows, controls_from(controls))
            except PermissionDenied as error:
                form.add_tube_refusal(error)
            except _PanelRowRefused as refused:
                _show_row_error(form, rows, refused)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                symbols = ", ".join(r.marker.symbol for r in results)
                messages.success(
                    request,
                    f"Recorded {len(results)} marker result{'s' if len(results) != 1 else ''} "
                    f"on {results[0].aliquot.accession}: {symbols}.",
                )
                return redirect(f"{results[0].aliquot.get_absolute_url()}#characterisation")
        status = 400
    else:
        form, rows = PanelForm(user=user, initial=initial), panel_formset()
        controls = None
        if tube:
            autofocus(rows.forms[0], "marker")
        else:
            autofocus(form, "tube")
    return render(
        request,
        "assays/markers/panel_form.html",
        _form_context(
            request, form=form, rows=rows, controls=controls or controls_formset(), tube=tube
        ),
        status=status,
    )


def _save_panel(user, form: PanelForm, rows, controls: list[dict]) -> list[MarkerResult]:
    shared = form.shared_data(controls)
    files = form.uploads()
    tube = form.cleaned_data["tube"]
    saved: list[MarkerResult] = []
    try:
        with transaction.atomic():
            for index, row in enumerate(rows.forms):
                if not row.has_content():
                    continue
                try:
                    result = services.record_marker_result(
                        user=user, aliquot=tube, data={**shared, **row.row_data()}, **files
                    )
                except ValidationError as error:
                    raise _PanelRowRefused(index, error) from None
                saved.append(result)
    except (_PanelRowRefused, ValidationError, PermissionDenied):
        # The rows are rolled back; each saved row's copy of the blot goes with them.
        for result in saved:
            if result.blot_image:
                result.blot_image.storage.delete(result.blot_image.name)
        raise
    return saved


def _show_row_error(form: PanelForm, rows, refused: _PanelRowRefused) -> None:
    """A refusal about a row's own field goes on that row; one about the shared fields or
    files (the same for every row) goes on the form."""
    row = rows.forms[refused.index]
    error = refused.error
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, texts in error.message_dict.items():
        if key in row.fields:
            row.add_error(key, texts)
        elif key in form.fields:
            form.add_error(key, texts)
        else:
            form.add_error(None, texts)


# --- A result ---------------------------------------------------------------------------------


def visible_results(user) -> QuerySet:
    return MarkerResult.objects.visible_to(user)


def result_row(result: MarkerResult) -> MarkerResult:
    result.url = reverse("assays:marker-result-detail", args=[result.pk])
    result.category_label = category_label(result.marker.category)
    result.intensity_text = number_text(result.band_intensity, decimals=2)
    result.loading_text = (
        f"{number_text(result.loading_amount)} {result.get_loading_unit_display()}"
        if result.loading_amount is not None
        else ""
    )
    return result


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return number_text(value, decimals=3)
    return str(value)


def densitometry_table(densitometry: Any) -> dict[str, Any] | None:
    """The stored ImageJ table as rows of text, the value column marked."""
    if not isinstance(densitometry, dict):
        return None
    columns = [str(c) for c in densitometry.get("columns") or []]
    rows = [
        [_cell(row.get(column)) for column in columns]
        for row in densitometry.get("rows") or []
        if isinstance(row, dict)
    ]
    bands = [
        {"label": str(band.get("label", "")), "value": _cell(band.get("value"))}
        for band in densitometry.get("bands") or []
        if isinstance(band, dict)
    ]
    return {
        "columns": columns,
        "rows": rows,
        "value_column": densitometry.get("value_column") or "",
        "bands": bands,
        "file_name": densitometry.get("file_name") or "",
    }


def _result(request: HttpRequest, pk: int) -> MarkerResult:
    return get_object_or_404(
        visible_results(request.user).select_related(*RECORD_RELATED, "marker"), pk=pk
    )


@login_required
@require_GET
def marker_result_detail(request: HttpRequest, pk: int) -> HttpResponse:
    result = result_row(_result(request, pk))
    role = result.study.role_of(request.user)
    blot_type = stored_image_type(result.blot_image)
    blot_url = reverse("assays:marker-blot", args=[result.pk]) if result.blot_image else ""
    # A browser shows PNG and JPEG; a TIFF (or an unreadable file) is shown as a PNG preview.
    shown_url = blot_url if blot_type in BROWSER_IMAGES else f"{blot_url}?preview=1"
    others = [
        result_row(r)
        for r in visible_results(request.user)
        .filter(aliquot_id=result.aliquot_id)
        .exclude(pk=result.pk)
        .select_related("marker")
        .defer("densitometry", "controls", "notes")
        .order_by("marker__category", "marker__symbol", "-measured_at")[:50]
    ]
    return render(
        request,
        "assays/markers/result_detail.html",
        {
            "section": SECTION,
            "current": "markers",
            "result": result,
            "antibody_method": result.method in ANTIBODY_METHODS,
            "lysate_method": result.method in LYSATE_METHODS,
            "reducing": {None: "not recorded", True: "yes", False: "no"}[result.reducing],
            "controls_shown": controls_text(result.controls),
            "densitometry": densitometry_table(result.densitometry),
            "blot_url": blot_url,
            "blot_shown_url": shown_url if blot_url else "",
            "blot_is_tiff": blot_type == "image/tiff",
            "others": others,
            "role": role,
            "can_edit": has_role(role, Role.EDITOR),
            "not_editable": not_editable_reason(result),
        },
    )


def not_editable_reason(result: MarkerResult) -> str:
    """Why a result cannot be corrected here ("" when it can)."""
    if result.instrument_file_id:
        return "This result was read from an instrument file; its numbers are the file's."
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def marker_result_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a marker result typed in, on the form it was entered with (the tube stays)."""
    result = _result(request, pk)
    user = request.user
    require_result_editor(user, result.study)
    if reason := not_editable_reason(result):
        messages.error(request, reason)
        return redirect(result)
    status = 200
    if request.method == "POST" and (too_large := _too_large(request)):
        messages.error(request, too_large)
        form = without_tube(MarkerResultForm(user=user, initial=_result_initial(result)))
        controls = controls_formset(initial=result.controls)
        status = 413
    elif request.method == "POST":
        form = without_tube(MarkerResultForm(request.POST, request.FILES, user=user))
        controls = controls_formset(request.POST)
        if form.is_valid() and controls.is_valid():
            try:
                result = services.update_marker_result(
                    user=user,
                    result=result,
                    data=form.service_data(controls_from(controls)),
                    **form.uploads(),
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"Saved the corrected {result.marker.symbol} result.")
                return redirect(result)
        status = 400
    else:
        form = without_tube(MarkerResultForm(user=user, initial=_result_initial(result)))
        controls = controls_formset(initial=result.controls)
    return render(
        request,
        "assays/markers/result_form.html",
        _form_context(request, form=form, controls=controls, tube=result.aliquot, editing=result),
        status=status,
    )


def _result_initial(result: MarkerResult) -> dict[str, Any]:
    initial = record_initial(result, MarkerResultForm)
    initial["marker"] = result.marker.symbol
    for name in MarkerResultForm.FILE_FIELDS:  # a new file replaces; none keeps the old one
        initial.pop(name, None)
    return initial


@login_required
@require_POST
def marker_result_delete(request: HttpRequest, pk: int) -> HttpResponse:
    result = _result(request, pk)
    if not has_role(result.study.role_of(request.user), Role.EDITOR):
        raise PermissionDenied("You need the editor role in this study to delete results.")
    tube, label = result.aliquot, f"{result.marker.symbol} on {result.aliquot.accession}"
    services.delete_record(
        user=request.user, record=result, reason=request.POST.get("change_reason", "")
    )
    messages.success(request, f"Deleted the marker result {label}.")
    return redirect(tube)


@login_required
@require_GET
def marker_blot(request: HttpRequest, pk: int) -> HttpResponse:
    """The blot image as uploaded (``?download=1`` as a file; ``?preview=1`` a PNG)."""
    result = get_object_or_404(visible_results(request.user).only("id", "blot_image"), pk=pk)
    return serve_image(
        result.blot_image,
        name=result.blot_image.name.rsplit("/", 1)[-1] if result.blot_image else "",
        download=bool(request.GET.get("download")),
        preview=bool(request.GET.get("preview")),
        cache=CACHE_REPLACEABLE,
    )


class MarkerResultListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/markers/result_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = record_list_page(
            self.request,
            filterset_class=MarkerResultFilterSet,
            queryset=visible_results(user)
            .select_related("aliquot", "study", "marker")
            .defer("densitometry", "notes"),
            sorts={
                "measured": "measured_at",
                "marker": "marker__symbol",
                "category": "marker__category",
            },
            shown=("study", "marker", "category", "detection", "method", "aliquot"),
        )
        fields = page.filterset.form.fields
        fields["marker"].widget.attrs.update(
            {"list": VOCABULARY_LIST_ID, "class": "mono", "autocomplete": "off"}
        )
        fields["category"].label = "MISEV category"
        page.rows = [result_row(r) for r in page.rows]
        return super().get_context_data(
            page=page,
            current="markers",
            vocabulary=vocabulary_options(),
            vocabulary_list_id=VOCABULARY_LIST_ID,
            can_add=Study.objects.editable_by(user).exists(),
            **kwargs,
        )


class MarkerResultHistoryView(HistoryMixin, PageMixin, DetailView):
    section = SECTION

    def get_queryset(self) -> QuerySet:
        return visible_results(self.request.user).select_related("aliquot", "marker")


# --- The vocabulary ---------------------------------------------------------------------------


@login_required
@require_GET
def marker_list(request: HttpRequest) -> HttpResponse:
    """Every marker by MISEV category, with its aliases and how many results use it."""
    query = request.GET.get("q", "").strip()[:80]
    key = query.upper()
    counts = dict(
        visible_results(request.user)
        .order_by()
        .values("marker_id")
        .annotate(n=Count("id"))
        .values_list("marker_id", "n")
    )
    groups: dict[str, list[Marker]] = defaultdict(list)
    shown = 0
    for marker in Marker.objects.order_by("symbol"):
        haystack = [marker.symbol, marker.name.upper(), *(marker.aliases or [])]
        if key and not any(key in text for text in haystack):
            continue
        marker.result_count = counts.get(marker.pk, 0)
        marker.results_url = reverse("assays:marker-result-list") + f"?marker={marker.symbol}"
        groups[marker.category].append(marker)
        shown += 1
    categories = [
        {
            "code": code,
            "label": label,
            "meaning": CATEGORY_MEANING.get(code, ""),
            "markers": groups.get(code, []),
        }
        for code, label in MarkerCategory.choices
    ]
    return render(
        request,
        "assays/markers/marker_list.html",
        {
            "section": SECTION,
            "current": "vocabulary",
            "categories": categories,
            "query": query,
            "shown": shown,
            "can_edit": services.can_edit_markers(request.user),
        },
    )


def _require_vocabulary_editor(user) -> None:
    if not services.can_edit_markers(user):
        raise PermissionDenied("Only staff and study managers may change the marker vocabulary.")


@login_required
@require_http_methods(["GET", "POST"])
def marker_create(request: HttpRequest) -> HttpResponse:
    _require_vocabulary_editor(request.user)
    return _marker_form(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def marker_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_vocabulary_editor(request.user)
    return _marker_form(request, get_object_or_404(Marker, pk=pk))


def _marker_form(request: HttpRequest, marker: Marker | None) -> HttpResponse:
    """Add or change a vocabulary row. A new category for a marker in use is only saved once
    the page has said what it changes and the person confirmed (``confirm_category``)."""
    confirm = None
    status = 200
    if request.method == "POST":
        form = MarkerForm(request.POST, marker=marker)
        if form.is_valid():
            if form.category_changed and not form.category_confirmed:
                confirm = _category_change(marker, form.cleaned_data["category"])
                form.data = form.data.copy()
                form.data["confirm_category"] = form.cleaned_data["category"]
            else:
                try:
                    saved = services.save_marker(
                        user=request.user, data=form.service_data(), marker=marker
                    )
                except ValidationError as error:
                    form.add_service_error(error)
                else:
                    verb = "Changed" if marker is not None else "Added"
                    messages.success(
                        request, f"{verb} {saved.symbol} ({category_label(saved.category)})."
                    )
                    return redirect(f"{reverse('assays:marker-list')}#marker-{saved.pk}")
        status = 400 if form.errors else 200
    else:
        form = MarkerForm(marker=marker)
    return render(
        request,
        "assays/markers/marker_form.html",
        {
            "section": SECTION,
            "current": "vocabulary",
            "form": form,
            "marker": marker,
            "confirm": confirm,
            "used_by": MarkerResult.objects.filter(marker=marker).count() if marker else 0,
        },
        status=status,
    )


def _category_change(marker: Marker, new: str) -> dict[str, Any]:
    """What changing ``marker``'s category does: every result for it now counts under the
    new category, in every study; family members already created keep theirs."""
    results = MarkerResult.objects.filter(marker=marker)
    members = []
    if marker.is_family:
        members = list(
            Marker.objects.filter(source=f"family {marker.symbol}").values_list("symbol", flat=True)
        )
    return {
        "old": category_label(marker.category),
        "new": category_label(new),
        "results": results.count(),
        "studies": results.order_by().values("study_id").distinct().count(),
        "members": members,
    }


@login_required
@require_GET
def marker_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Who changed a vocabulary row, when and how (categories included)."""
    marker = get_object_or_404(Marker, pk=pk)
    return render(
        request,
        "samples/history.html",
        {
            "section": SECTION,
            "record": marker,
            "kind": "marker",
            "detail_url": f"{reverse('assays:marker-list')}#marker-{marker.pk}",
            "rows": history_rows(marker, user=request.user),
            "limit": HISTORY_SHOWN,
            "tab": "history",
        },
    )
