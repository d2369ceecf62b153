"""The start page: sample counts per study and fluid, and the latest samples."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..choices import FluidType
from ..models import Sample, Study

RECENT_SAMPLES = 10


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    # One grouped query over the visible studies; the LEFT JOIN keeps studies with no samples.
    counts = (
        Study.objects.visible_to(request.user)
        .values("id", "code", "title", "samples__fluid_type")
        .annotate(n=Count("samples"))
        .order_by("code")
    )
    by_study: dict[int, dict[str, Any]] = {}
    fluid_totals: dict[str, int] = defaultdict(int)
    for row in counts:
        entry = by_study.setdefault(
            row["id"], {"id": row["id"], "code": row["code"], "title": row["title"], "cells": {}}
        )
        if row["samples__fluid_type"]:
            entry["cells"][row["samples__fluid_type"]] = row["n"]
            fluid_totals[row["samples__fluid_type"]] += row["n"]
    fluids = [(value, label) for value, label in FluidType.choices if value in fluid_totals]
    studies = [
        {
            **entry,
            "counts": [entry["cells"].get(value, 0) for value, _ in fluids],
            "total": sum(entry["cells"].values()),
        }
        for entry in by_study.values()
    ]
    recent = (
        Sample.objects.visible_to(request.user)
        .select_related("study", "donor")
        .only(
            "id", "accession", "fluid_type", "collected_at", "status", "study__code", "donor__code"
        )
        .order_by("-id")[:RECENT_SAMPLES]
    )
    return render(
        request,
        "samples/dashboard.html",
        {
            "section": "dashboard",
            "studies": studies,
            "fluids": fluids,
            "fluid_totals": [fluid_totals[value] for value, _ in fluids],
            "grand_total": sum(fluid_totals.values()),
            "recent": recent,
            "autofocus_search": True,
        },
    )
