"""Study pages and their member management."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.generic import CreateView, DetailView, TemplateView, UpdateView

from exolims.views import ListPage

from ..choices import FluidType, Role
from ..filters import StudyFilterSet
from ..forms import MembershipAddForm, MembershipRemoveForm, MembershipRoleForm, StudyForm
from ..models import Donor, Sample, Study, StudyMembership
from .common import PageMixin, ScopedDeleteView, ScopedObjectMixin, has_role


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
    if not has_role(study.role_of(request.user), Role.MANAGER):
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
    if has_role(study.role_of(request.user), Role.MANAGER):
        return redirect("samples:study-members", pk=study.pk)
    if study.role_of(request.user):
        return redirect(study)
    return redirect("samples:study-list")
