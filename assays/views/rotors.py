"""The rotor catalogue (lab-wide: everyone reads it, the ``assays.add_rotor`` /
``change_rotor`` permission changes it) and the centrifugation calculator."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.generic import CreateView, ListView, UpdateView

from ..forms.rotors import CalculatorForm, RotorForm, Speed, calculate
from ..models import Rotor
from .common import LibraryPermissionMixin, PageMixin, can_change

SECTION = "isolation"


class RotorListView(PageMixin, ListView):
    model = Rotor
    template_name = "assays/rotor_list.html"
    context_object_name = "rotors"
    section = SECTION

    def get_queryset(self):
        return Rotor.objects.order_by("-is_active", "name")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        rows = [
            {"speed": Speed.of(rotor, rotor.max_rpm), "vendor_k": bool(rotor.k_factor)}
            for rotor in kwargs.get("object_list", self.object_list)
        ]
        return super().get_context_data(
            rows=rows,
            can_add=can_change(user, "rotor", "add"),
            can_edit=can_change(user, "rotor"),
            **kwargs,
        )


class RotorFormMixin(LibraryPermissionMixin):
    model = Rotor
    form_class = RotorForm
    template_name = "assays/rotor_form.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(section=SECTION, **kwargs)

    def get_success_url(self) -> str:
        return reverse("assays:rotor-list")

    def form_valid(self, form: RotorForm) -> HttpResponse:
        messages.success(self.request, f"Rotor {form.instance.name} saved.")
        return super().form_valid(form)


class RotorCreateView(RotorFormMixin, CreateView):
    permission = ("rotor", "add")


class RotorUpdateView(RotorFormMixin, UpdateView):
    permission = ("rotor", "change")


@login_required
@require_GET
def calculator(request: HttpRequest) -> HttpResponse:
    """A GET form, so a result can be bookmarked or sent to a colleague."""
    data = request.GET if "rotor" in request.GET else None
    initial = {}
    if data is None and request.GET.get("for", "").isdecimal():
        initial["rotor"] = int(request.GET["for"])
    form = CalculatorForm(data, initial=initial)
    result = None
    if form.is_valid():
        result = calculate(form.cleaned_data)
    return render(
        request,
        "assays/calculator.html",
        {"form": form, "result": result, "section": SECTION},
    )


@login_required
@require_GET
def rotor_convert(request: HttpRequest, pk: int) -> JsonResponse:
    """RCF ↔ rpm for the step editor's live hint; the same maths as the pages."""
    rotor = get_object_or_404(Rotor, pk=pk)
    form = CalculatorForm(
        {
            "rotor": rotor.pk,
            "radius": request.GET.get("basis", "average"),
            "rpm": request.GET.get("rpm", ""),
            "rcf": request.GET.get("rcf", ""),
        }
    )
    if not form.is_valid():
        errors = [m for messages in form.errors.values() for m in messages]
        return JsonResponse({"errors": errors}, status=400)
    speed = calculate(form.cleaned_data).speed
    return JsonResponse(
        {
            "rotor": rotor.name,
            "rpm": round(speed.rpm),
            "rcf_average": round(speed.rcf_average),
            "rcf_max": round(speed.rcf_max),
            "k_factor": round(speed.k_factor, 1),
            "text": (
                f"{speed.rpm:,.0f} rpm ≈ {speed.rcf_average:,.0f} ×g average / "
                f"{speed.rcf_max:,.0f} ×g max on {rotor.name} (k {speed.k_factor:,.1f})"
            ),
        }
    )
