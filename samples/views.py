"""Server-rendered pages: dashboard, search box, studies, members, donors and samples.

Every queryset starts from ``visible_to(user)``: an object from a study the user cannot see
is a 404; seeing it without the needed role is a 403.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Model, ProtectedError, QuerySet, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import CreateView, DeleteView, DetailView, TemplateView, UpdateView

from exolims.views import ListPage

from .choices import ROLE_RANK, FluidType, Role
from .filters import DonorFilterSet, SampleFilterSet, StudyFilterSet
from .forms import (
    DonorForm,
    MembershipAddForm,
    MembershipRemoveForm,
    MembershipRoleForm,
    SampleForm,
    StudyForm,
)
from .models import ACCESSION_PREFIX, Donor, Sample, Study, StudyMembership
from .sprec import explain_sprec

RECENT_SAMPLES = 10
DONOR_SAMPLES_SHOWN = 50


def _has_role(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


def _study_of(obj: Model) -> Study:
    return obj if isinstance(obj, Study) else obj.study


class PageMixin(LoginRequiredMixin):
    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(section=self.section, **kwargs)


class ScopedObjectMixin(PageMixin):
    """Fetch one object among those the user can see (else 404); need ``required_role`` in
    its study (else 403)."""

    required_role: str = Role.VIEWER
    related: tuple[str, ...] = ()

    def get_queryset(self) -> QuerySet:
        queryset = self.model.objects.visible_to(self.request.user)
        return queryset.select_related(*self.related) if self.related else queryset

    def get_object(self, queryset: QuerySet | None = None) -> Model:
        obj = super().get_object(queryset)
        self.role = _study_of(obj).role_of(self.request.user)
        if not _has_role(self.role, self.required_role):
            raise PermissionDenied("Your role in this study does not allow this.")
        return obj

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            role=self.role,
            can_edit=_has_role(self.role, Role.EDITOR),
            can_manage=_has_role(self.role, Role.MANAGER),
            **kwargs,
        )


class ScopedDeleteView(ScopedObjectMixin, DeleteView):
    """Confirm, then delete; records that others depend on are refused with a message."""

    required_role = Role.EDITOR
    template_name = "samples/confirm_delete.html"
    list_url_name: str = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(kind=self.model._meta.verbose_name, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        label = f"{self.object._meta.verbose_name} {self.object}"
        try:
            self.object.delete()
        except (ProtectedError, RestrictedError) as exc:
            dependants = (
                exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
            )
            blockers = sorted({str(o._meta.verbose_name_plural) for o in dependants})
            messages.error(
                self.request,
                f"Cannot delete {label}: {' and '.join(blockers)} still belong to it. "
                "Delete or move those first.",
            )
            return redirect(self.object.get_absolute_url())
        messages.success(self.request, f"Deleted {label}.")
        return redirect(self.list_url_name)


# --- Dashboard and search --------------------------------------------------------------


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


_SHORT_ACCESSION = re.compile(rf"{ACCESSION_PREFIX.rstrip('-')}-?0*(\d{{1,12}})")


def _accession_candidates(query: str) -> set[str]:
    """Spellings of an accession as people type it: any case, and "exo-123" or "EXO123"
    for EXO-000123."""
    upper = query.upper()
    candidates = {query, upper}
    short = _SHORT_ACCESSION.fullmatch(upper)
    if short:
        candidates.add(f"{ACCESSION_PREFIX}{int(short.group(1)):06d}")
    return candidates


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Open the record a typed or scanned code names; otherwise list matching samples.

    Order: exact accession, then a donor code unique among the visible studies, then a
    study code. Accessions are stored upper-case, so the lookup stays on the unique index.
    """
    query = request.GET.get("q", "").strip()
    if not query:
        return redirect("samples:sample-list")
    user = request.user
    sample = (
        Sample.objects.visible_to(user)
        .filter(accession__in=_accession_candidates(query))
        .only("id")
        .first()
    )
    if sample:
        return redirect(sample)
    donors = list(Donor.objects.visible_to(user).filter(code__iexact=query).only("id")[:2])
    if len(donors) == 1:
        return redirect(donors[0])
    study = Study.objects.visible_to(user).filter(code__iexact=query).only("id").first()
    if study:
        return redirect(study)
    return redirect(f"{reverse('samples:sample-list')}?{urlencode({'q': query})}")


# --- Studies ---------------------------------------------------------------------------


class StudyListView(PageMixin, TemplateView):
    section = "studies"
    template_name = "samples/study_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = ListPage(
            self.request,
            filterset_class=StudyFilterSet,
            queryset=Study.objects.visible_to(self.request.user),
            sorts={"code": "code", "title": "title", "pi": "principal_investigator"},
            default_sort="code",
            shown=("q", "is_active"),
        )
        return super().get_context_data(
            page=page, can_create=self.request.user.has_perm("samples.add_study"), **kwargs
        )


class StudyDetailView(ScopedObjectMixin, DetailView):
    model = Study
    section = "studies"
    template_name = "samples/study_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        study = self.object
        counts = dict(
            Sample.objects.filter(study=study)
            .values_list("fluid_type")
            .annotate(n=Count("id"))
            .values_list("fluid_type", "n")
            .order_by()
        )
        return super().get_context_data(
            members=study.memberships.select_related("user").order_by("user__username"),
            fluid_counts=[
                {"fluid_type": value, "label": label, "n": counts[value]}
                for value, label in FluidType.choices
                if value in counts
            ],
            sample_total=sum(counts.values()),
            donor_total=Donor.objects.filter(study=study).count(),
            **kwargs,
        )


class StudyCreateView(PageMixin, CreateView):
    model = Study
    form_class = StudyForm
    section = "studies"
    template_name = "samples/study_form.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not request.user.has_perm("samples.add_study"):
            raise PermissionDenied("Only users allowed to create studies can do this.")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: StudyForm) -> HttpResponse:
        try:
            self.object = form.create(creator=self.request.user)
        except IntegrityError:
            form.add_error("code", "A study with this code already exists.")
            return self.form_invalid(form)
        messages.success(self.request, f"Study {self.object} created; you are its manager.")
        return redirect(self.object)


class StudyUpdateView(ScopedObjectMixin, UpdateView):
    model = Study
    form_class = StudyForm
    required_role = Role.MANAGER
    section = "studies"
    template_name = "samples/study_form.html"

    def form_valid(self, form: StudyForm) -> HttpResponse:
        messages.success(self.request, "Study saved.")
        return super().form_valid(form)


class StudyDeleteView(ScopedDeleteView):
    model = Study
    required_role = Role.MANAGER
    section = "studies"

    list_url_name = "samples:study-list"


def _managed_study(request: HttpRequest, pk: int) -> Study:
    study = get_object_or_404(Study.objects.visible_to(request.user), pk=pk)
    if not _has_role(study.role_of(request.user), Role.MANAGER):
        raise PermissionDenied("Only the study's managers manage its members.")
    return study


@login_required
@require_http_methods(["GET", "POST"])
def study_members(request: HttpRequest, pk: int) -> HttpResponse:
    """Managers list, add and re-role members (role changes post to ``membership_role``)."""
    study = _managed_study(request, pk)
    form = MembershipAddForm(request.POST or None, study=study)
    if request.method == "POST" and form.is_valid():
        membership = form.save()
        messages.success(request, f"Added {membership.user} as {membership.get_role_display()}.")
        return redirect("samples:study-members", pk=study.pk)
    memberships = study.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "samples/study_members.html",
        {
            "section": "studies",
            "study": study,
            "form": form,
            "memberships": memberships,
            "roles": Role.choices,
        },
    )


def _membership(request: HttpRequest, pk: int, membership_pk: int) -> StudyMembership:
    study = _managed_study(request, pk)
    return get_object_or_404(
        StudyMembership.objects.select_related("user", "study"), pk=membership_pk, study=study
    )


@login_required
@require_POST
def membership_role(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    with transaction.atomic():
        membership = _membership(request, pk, membership_pk)
        form = MembershipRoleForm(request.POST, membership=membership)
        if form.is_valid():
            form.save()
            messages.success(
                request, f"{membership.user} is now {membership.get_role_display().lower()}."
            )
        else:
            messages.error(request, " ".join(form.errors.get("role", ["Choose a valid role."])))
    return _after_membership_change(request, membership.study)


@login_required
@require_http_methods(["GET", "POST"])
def membership_remove(request: HttpRequest, pk: int, membership_pk: int) -> HttpResponse:
    membership = _membership(request, pk, membership_pk)
    if request.method == "GET":
        return render(
            request,
            "samples/membership_remove.html",
            {"section": "studies", "membership": membership, "study": membership.study},
        )
    with transaction.atomic():
        form = MembershipRemoveForm(request.POST, membership=membership)
        if form.is_valid():
            form.save()
            messages.success(request, f"Removed {membership.user} from {membership.study}.")
        else:
            messages.error(request, " ".join(form.non_field_errors()))
    return _after_membership_change(request, membership.study)


def _after_membership_change(request: HttpRequest, study: Study) -> HttpResponse:
    # A manager who removed or demoted themselves can no longer open the members page.
    if _has_role(study.role_of(request.user), Role.MANAGER):
        return redirect("samples:study-members", pk=study.pk)
    if study.role_of(request.user):
        return redirect(study)
    return redirect("samples:study-list")


# --- Donors ----------------------------------------------------------------------------


class DonorListView(PageMixin, TemplateView):
    section = "donors"
    template_name = "samples/donor_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = ListPage(
            self.request,
            filterset_class=DonorFilterSet,
            queryset=Donor.objects.visible_to(user).select_related("study"),
            sorts={
                "code": "code",
                "study": "study__code",
                "sex": "sex",
                "birth_year": "birth_year",
                "consent": "consent_status",
                "created": "created_at",
            },
            default_sort="code",
            shown=("q", "study", "species", "sex", "consent_status", "condition"),
            studies=Study.objects.visible_to(user),
        )
        # Sample counts for this page only: one grouped query on the (donor, id) index.
        counts = dict(
            Sample.objects.filter(donor_id__in=[d.pk for d in page.rows])
            .values_list("donor_id")
            .annotate(n=Count("id"))
            .values_list("donor_id", "n")
        )
        for donor in page.rows:
            donor.sample_count = counts.get(donor.pk, 0)
        return super().get_context_data(
            page=page, can_create=Study.objects.editable_by(user).exists(), **kwargs
        )


class DonorDetailView(ScopedObjectMixin, DetailView):
    model = Donor
    related = ("study",)
    section = "donors"
    template_name = "samples/donor_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        samples = list(
            self.object.samples.order_by("-collected_at", "-id")[: DONOR_SAMPLES_SHOWN + 1]
        )
        return super().get_context_data(
            samples=samples[:DONOR_SAMPLES_SHOWN],
            more_samples=len(samples) > DONOR_SAMPLES_SHOWN,
            **kwargs,
        )


class DonorFormMixin:
    model = Donor
    form_class = DonorForm
    section = "donors"
    template_name = "samples/donor_form.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form: DonorForm) -> HttpResponse:
        try:
            with transaction.atomic():
                self.object = form.save()
        except IntegrityError:
            # Someone saved the same code between validation and save.
            form.add_error("code", "A donor with this code already exists in the study.")
            return self.form_invalid(form)
        messages.success(self.request, f"Donor {self.object} saved.")
        return redirect(self.object)


class DonorCreateView(PageMixin, DonorFormMixin, CreateView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not Study.objects.editable_by(request.user).exists():
            raise PermissionDenied("You are not an editor in any study.")
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        return {"study": self.request.GET.get("study")}


class DonorUpdateView(ScopedObjectMixin, DonorFormMixin, UpdateView):
    required_role = Role.EDITOR
    related = ("study",)


class DonorDeleteView(ScopedDeleteView):
    model = Donor
    related = ("study",)
    section = "donors"

    list_url_name = "samples:donor-list"


# --- Samples ---------------------------------------------------------------------------


class SampleListView(PageMixin, TemplateView):
    section = "samples"
    template_name = "samples/sample_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = ListPage(
            self.request,
            filterset_class=SampleFilterSet,
            queryset=Sample.objects.visible_to(user)
            .select_related("study", "donor")
            .only(
                "id",
                "accession",
                "fluid_type",
                "collected_at",
                "status",
                "volume_ml",
                "sprec_code",
                "study__code",
                "donor__code",
            ),
            # Only columns with an index that serves the ORDER BY … LIMIT on a large table.
            sorts={
                "accession": "accession",
                "fluid": "fluid_type",
                "collected": "collected_at",
                "status": "status",
            },
            default_sort="-collected",
            shown=("q", "study", "fluid_type", "status", "collected_after", "collected_before"),
            studies=Study.objects.visible_to(user),
        )
        return super().get_context_data(
            page=page, can_create=Study.objects.editable_by(user).exists(), **kwargs
        )


class SampleDetailView(ScopedObjectMixin, DetailView):
    model = Sample
    related = ("study", "donor", "created_by")
    section = "samples"
    template_name = "samples/sample_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            groups=_sample_groups(self.object), sprec_rows=explain_sprec(self.object), **kwargs
        )


class SampleFormMixin:
    model = Sample
    form_class = SampleForm
    section = "samples"
    template_name = "samples/sample_form.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form: SampleForm) -> HttpResponse:
        self.object = form.save()
        messages.success(self.request, f"Sample {self.object.accession} saved.")
        return redirect(self.object)


class SampleCreateView(PageMixin, SampleFormMixin, CreateView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not Study.objects.editable_by(request.user).exists():
            raise PermissionDenied("You are not an editor in any study.")
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        initial = {"volume_unit": "mL"}
        for name in ("study", "donor", "fluid_type"):
            if self.request.GET.get(name):
                initial[name] = self.request.GET[name]
        return initial


class SampleUpdateView(ScopedObjectMixin, SampleFormMixin, UpdateView):
    required_role = Role.EDITOR
    related = ("study", "donor")


class SampleDeleteView(ScopedDeleteView):
    model = Sample
    related = ("study",)
    section = "samples"

    list_url_name = "samples:sample-list"


@login_required
@require_GET
def donor_options(request: HttpRequest) -> JsonResponse:
    """Donors of one study the user may edit, for the sample form's donor list."""
    try:
        study_id = int(request.GET.get("study", ""))
    except ValueError:
        raise Http404("Give a study id.") from None
    study = get_object_or_404(Study.objects.editable_by(request.user), pk=study_id)
    donors = Donor.objects.filter(study=study).order_by("code").values("id", "code")
    return JsonResponse({"donors": list(donors)})


# --- Sample detail helpers -------------------------------------------------------------

_GROUPS: list[tuple[str, tuple[str, ...], frozenset[str] | None]] = [
    (
        "Collection",
        ("fluid_type", "collected_at", "tube_type", "fasting_state", "fasting_hours"),
        None,
    ),
    (
        "Processing",
        (
            "time_to_processing_min",
            "processing_temp_c",
            "post_centrifugation_delay_min",
            "post_centrifugation_temp_c",
        ),
        None,
    ),
    (
        "Blood quality",
        ("haemolysis_a414", "free_haemoglobin_g_l", "residual_platelets_per_ml"),
        frozenset({FluidType.PLASMA, FluidType.SERUM, FluidType.WHOLE_BLOOD}),
    ),
    ("Urine", ("urine_void_type", "creatinine_mmol_l"), frozenset({FluidType.URINE})),
    (
        "Conditioned medium",
        (
            "cell_line",
            "passage_number",
            "culture_serum",
            "serum_ev_depletion",
            "conditioning_hours",
            "viability_at_harvest_pct",
        ),
        frozenset({FluidType.CONDITIONED_MEDIUM}),
    ),
    ("Storage", ("storage_container", "storage_temp_c"), None),
]


def _display(sample: Sample, name: str) -> Any:
    field = Sample._meta.get_field(name)
    value = getattr(sample, name)
    if value in (None, ""):
        return None
    if field.choices:
        return getattr(sample, f"get_{name}_display")()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:g}"
    return value


def _sample_groups(sample: Sample) -> list[dict[str, Any]]:
    """Pre-analytical variables in reading order; groups for other fluids are left out."""
    groups = []
    for title, names, fluids in _GROUPS:
        rows = [
            {
                "name": name,
                "label": Sample._meta.get_field(name).verbose_name,
                "value": _display(sample, name),
            }
            for name in names
        ]
        if fluids is None or sample.fluid_type in fluids or any(r["value"] for r in rows):
            groups.append({"title": title, "rows": rows})
    return groups
