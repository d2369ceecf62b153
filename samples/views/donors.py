"""Donor pages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import CreateView, DetailView, TemplateView, UpdateView

from exolims.views import ListPage

from ..choices import Role
from ..filters import DonorFilterSet
from ..forms import DonorForm
from ..models import Donor, Sample, Study
from .common import PageMixin, ScopedDeleteView, ScopedObjectMixin

DONOR_SAMPLES_SHOWN = 50


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
