"""Sample pages, the donor choices for the sample form and the detail page's grouped
pre-analytical variables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET
from django.views.generic import CreateView, DetailView, TemplateView, UpdateView

from exolims.views import ListPage

from ..choices import FluidType, Role
from ..filters import SampleFilterSet
from ..forms import SampleForm
from ..forms.tubes import SplitForm
from ..lineage import LineageNode
from ..models import Donor, Sample, Study
from ..sprec import explain_sprec
from .common import PageMixin, ScopedDeleteView, ScopedObjectMixin, has_role
from .tubes import action_form, labelled_lineage, run_split

# The lineage tree below the table shows every tube; the table lists this many.
TUBES_LISTED = 100


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
        sample = self.object
        tree, descendants = labelled_lineage(sample, user=self.request.user)
        tubes = _flatten(descendants)
        accessions = {node.id: node.accession for node in tubes}
        split_form = kwargs.pop("split_form", None)
        if split_form is None and has_role(self.role, Role.EDITOR) and sample.remaining_volume_ml:
            split_form = action_form("split", SplitForm)
        return super().get_context_data(
            groups=_sample_groups(sample),
            sprec_rows=explain_sprec(sample),
            lineage=tree,
            tubes=[(node, accessions.get(node.parent_id, "")) for node in tubes[:TUBES_LISTED]],
            tube_count=len(tubes),
            split_form=split_form,
            tab="details",
            **kwargs,
        )


def _flatten(nodes: list[LineageNode]) -> list[LineageNode]:
    """Every tube of a lineage forest, oldest first."""
    found: list[LineageNode] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return sorted(found, key=lambda node: node.id)


class SampleSplitView(SampleDetailView):
    """POST: split the sample into tubes. A refusal shows the sample page again with the
    form's messages; nothing is saved."""

    http_method_names = ["post"]
    required_role = Role.EDITOR

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.object = sample = self.get_object()
        form = action_form("split", SplitForm, request.POST)
        if form.is_valid():
            try:
                message = run_split(sample, form, request.user)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, message)
                return redirect(sample)
        messages.error(request, "Split into aliquots: nothing was changed; see the form below.")
        context = self.get_context_data(object=sample, split_form=form)
        return self.render_to_response(context, status=400)


class SampleFormMixin:
    model = Sample
    form_class = SampleForm
    section = "samples"
    template_name = "samples/sample_form.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form: SampleForm) -> HttpResponse:
        try:
            self.object = form.save()
        except ValidationError as exc:
            # Sample.save() checks a lowered volume against what was withdrawn under a row
            # lock (a split may land after the form validated), so that refusal comes here.
            form._update_errors(exc)
            return self.form_invalid(form)
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
