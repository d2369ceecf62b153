"""Reporting pages: a methods section for a preparation or a whole study (to paste into a
paper, or to download as text), and the EV-TRACK export of a preparation (JSON, or CSV with
one row per field).

Only preparations and studies the user may see exist here: anything else is a 404, never a
403, so the page does not tell whether another study's preparation exists.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from exolims.renderers import rows_to_csv
from samples.models import Study

from ..evtrack import evtrack_records, record_rows
from ..methods_text import methods_paragraph, study_methods
from ..models import EVPreparation

SECTION = "isolation"


def _preparation(request: HttpRequest, pk: int) -> EVPreparation:
    return get_object_or_404(
        EVPreparation.objects.visible_to(request.user).select_related(
            "aliquot", "run__study", "run__protocol_version__protocol"
        ),
        pk=pk,
    )


def _text_download(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text + "\n", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _wants_text(request: HttpRequest) -> bool:
    return request.GET.get("format") == "txt"


@login_required
@require_GET
def methods_preparation(request: HttpRequest, pk: int) -> HttpResponse:
    preparation = _preparation(request, pk)
    text = methods_paragraph([preparation.pk])
    accession = preparation.aliquot.accession
    if _wants_text(request):
        return _text_download(text, f"methods-{accession}.txt")
    return render(
        request,
        "assays/reporting/methods.html",
        {
            "section": SECTION,
            "title": f"Methods for {accession}",
            "subject": preparation,
            "study": preparation.run.study,
            "preparation": preparation,
            "text": text,
            "count": 1,
        },
    )


@login_required
@require_GET
def methods_study(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.visible_to(request.user), pk=pk)
    count = EVPreparation.objects.filter(run__study=study).count()
    text = study_methods(study) if count else ""
    if _wants_text(request):
        if not count:
            return HttpResponse(
                f"Study {study.code} has no EV preparations yet.\n",
                status=404,
                content_type="text/plain; charset=utf-8",
            )
        return _text_download(text, f"methods-{study.code}.txt")
    return render(
        request,
        "assays/reporting/methods.html",
        {
            "section": SECTION,
            "title": f"Methods for study {study.code}",
            "subject": study,
            "study": study,
            "text": text,
            "count": count,
        },
    )


def _record(request: HttpRequest, pk: int) -> tuple[EVPreparation, dict]:
    preparation = _preparation(request, pk)
    return preparation, evtrack_records([preparation.pk])[preparation.pk]


@login_required
@require_GET
def evtrack_json(request: HttpRequest, pk: int) -> HttpResponse:
    preparation, record = _record(request, pk)
    response = JsonResponse(record, json_dumps_params={"ensure_ascii": False, "indent": 2})
    if request.GET.get("download"):
        response["Content-Disposition"] = (
            f'attachment; filename="evtrack-{preparation.aliquot.accession}.json"'
        )
    return response


@login_required
@require_GET
def evtrack_csv(request: HttpRequest, pk: int) -> HttpResponse:
    preparation, record = _record(request, pk)
    # Nested values are flattened to one row per field; the renderer guards every cell
    # against spreadsheet formulas.
    text = "".join(rows_to_csv(record_rows(record), ["field", "value"]))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="evtrack-{preparation.aliquot.accession}.csv"'
    )
    return response


__all__ = ["evtrack_csv", "evtrack_json", "methods_preparation", "methods_study"]
