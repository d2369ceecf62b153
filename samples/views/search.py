"""The global search box: a scanned or typed code opens its record."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from ..models import Aliquot, Donor, Sample, StorageUnit, Study
from .common import accession_candidates


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Open the record a typed or scanned code names; otherwise list matching samples.

    Order: exact sample accession, exact tube accession (one sequence numbers both, so at
    most one matches), a storage unit barcode (a box opens its map), then a donor code
    unique among the visible studies, then a study code. Accessions are stored upper-case,
    so the lookups stay on the unique indexes.
    """
    query = request.GET.get("q", "").strip()
    if not query:
        return redirect("samples:sample-list")
    user = request.user
    candidates = accession_candidates(query)
    sample = Sample.objects.visible_to(user).filter(accession__in=candidates).only("id").first()
    if sample:
        return redirect(sample)
    tube = Aliquot.objects.visible_to(user).filter(accession__in=candidates).only("id").first()
    if tube:
        return redirect(tube)
    # Storage is shared by the lab: any signed-in user may open a unit by its barcode.
    unit = StorageUnit.objects.filter(barcode__in={query, query.upper()}).only("id").first()
    if unit:
        return redirect(unit)
    donors = list(Donor.objects.visible_to(user).filter(code__iexact=query).only("id")[:2])
    if len(donors) == 1:
        return redirect(donors[0])
    study = Study.objects.visible_to(user).filter(code__iexact=query).only("id").first()
    if study:
        return redirect(study)
    return redirect(f"{reverse('samples:sample-list')}?{urlencode({'q': query})}")
