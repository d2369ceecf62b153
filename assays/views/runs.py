"""Isolation runs: recording one from a published protocol version, a run's page (inputs →
outputs, planned vs actual per step, rotor figures) with its history, and the run list.

Runs belong to the study of their input tubes: a run of a study the user cannot see is a
404; recording one needs the editor role there. ``record_isolation_run`` does the work in one
transaction: on any refusal the form comes back with its messages and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, DecimalField, IntegerField, OuterRef, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django.views.generic import DetailView, TemplateView

from exolims.views import ListPage
from samples.models import Study
from samples.views.common import ScopedObjectMixin
from samples.views.history import HistoryMixin

from .. import services
from ..choices import VersionStatus
from ..forms.runs import (
    RunForm,
    actual_forms,
    input_formset,
    output_formset,
    step_actuals,
)
from ..forms.steps import PREFIX
from ..models import (
    EVPreparation,
    IsolationProtocol,
    IsolationRun,
    ProtocolVersion,
    Rotor,
    RunInput,
)
from .common import PageMixin
from .display import ml_text, shown_step
from .filters import RunFilterSet

SECTION = "isolation"


def run_totals() -> dict[str, Any]:
    """Per-run annotations as subqueries, so a list page costs the same at any size."""
    inputs = RunInput.objects.filter(run=OuterRef("pk")).order_by().values("run")
    preparations = EVPreparation.objects.filter(run=OuterRef("pk")).order_by().values("run")
    return {
        "input_count": Subquery(
            inputs.annotate(n=Count("id")).values("n"), output_field=IntegerField()
        ),
        "input_ml": Subquery(
            inputs.annotate(total=Sum("volume_used_ml")).values("total"),
            output_field=DecimalField(max_digits=14, decimal_places=4),
        ),
        "preparation_count": Subquery(
            preparations.annotate(n=Count("id")).values("n"), output_field=IntegerField()
        ),
    }


class RunListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/run_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        runs = IsolationRun.objects.visible_to(user)
        page = ListPage(
            self.request,
            filterset_class=RunFilterSet,
            queryset=runs.select_related("study", "protocol_version__protocol", "operator")
            .annotate(**run_totals())
            .defer("notes", "step_actuals"),
            sorts={
                "started": "started_at",
                "protocol": "protocol_version__protocol__name",
            },
            default_sort="-started",
            shown=("study", "protocol", "operator", "started_from", "started_to", "tube"),
            studies=Study.objects.visible_to(user),
        )
        fields = page.filterset.form.fields
        fields["protocol"].widget = forms.Select(
            choices=[("", "Any protocol"), *IsolationProtocol.objects.values_list("id", "name")]
        )
        operators = (
            get_user_model()
            .objects.filter(pk__in=runs.order_by().values("operator_id"))
            .order_by("username")
        )
        fields["operator"].widget = forms.Select(
            choices=[("", "Anyone"), *((u.pk, u.get_username()) for u in operators)]
        )
        for name in ("started_from", "started_to"):
            fields[name].widget = forms.DateInput(attrs={"type": "date"})
        fields["tube"].widget.attrs.update({"placeholder": "EXO-…", "class": "mono"})
        for run in page.rows:
            run.input_text = ml_text(run.input_ml)
        # The bound fields were taken before the widgets changed; take them again.
        page.filter_fields = [page.filterset.form[name] for name in page.shown]
        return super().get_context_data(page=page, **kwargs)


class RunDetailView(ScopedObjectMixin, DetailView):
    model = IsolationRun
    related = ("study", "protocol_version__protocol", "operator", "created_by")
    section = SECTION
    template_name = "assays/run_detail.html"
    context_object_name = "run"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        run = self.object
        inputs = list(run.inputs.select_related("aliquot").order_by("id"))
        preparations = list(
            run.preparations.select_related("aliquot__box").order_by("source_id", "id")
        )
        for item in inputs:
            item.volume_text = ml_text(item.volume_used_ml)
        by_source: dict[int, list[EVPreparation]] = {}
        for prep in preparations:
            prep.volume_text = ml_text(prep.resuspension_volume_ml)
            by_source.setdefault(prep.source_id, []).append(prep)
        flows = [{"input": item, "outputs": by_source.get(item.pk, [])} for item in inputs]
        steps = [shown_step(item.step, actual=item.actual) for item in services.run_steps(run)]
        compare_with = self._compare_rotors()
        return super().get_context_data(
            flows=flows,
            preparation_count=len(preparations),
            steps=steps,
            figures=services.run_rotor_figures(run, compare_with=compare_with),
            rotors=Rotor.objects.filter(is_active=True).order_by("name"),
            compare_ids=[r.pk for r in compare_with],
            tab="details",
            **kwargs,
        )

    def _compare_rotors(self) -> list[Rotor]:
        ids = [v for v in self.request.GET.getlist("compare") if v.isdecimal()][:5]
        return list(Rotor.objects.filter(pk__in=ids).order_by("name")) if ids else []


class RunHistoryView(HistoryMixin, ScopedObjectMixin, DetailView):
    model = IsolationRun
    related = ("study", "protocol_version__protocol")
    section = SECTION


# --- Recording a run ------------------------------------------------------------------


def _rows_from_post(data, prefix: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The submitted rows of a formset as initial data (no-JS "add a row" re-render)."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), 200)
    except ValueError:
        total = 0
    rows = []
    for index in range(total):
        row = {name: data.get(f"{prefix}-{index}-{name}", "") for name in fields}
        if any(v for k, v in row.items() if not k.endswith("unit") and k != "container_type"):
            rows.append(row)
    return rows


_INPUT_FIELDS = ("accession", "volume", "volume_unit")
_OUTPUT_FIELDS = (
    "source",
    "nomenclature_term",
    "author_term",
    "fraction",
    "resuspension_buffer",
    "volume",
    "volume_unit",
    "container_type",
    "box",
    "position",
)


def _run_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    version = context["version"]
    steps = []
    for form in context["actual_forms"]:
        shown = shown_step(form.step)
        planned = {p.name: f"{p.value} {p.unit}".strip() for p in shown.parameters}
        rows = [
            {"field": field, "unit": unit, "planned": planned.get(field.name[len(PREFIX) :], "")}
            for field, unit in form.parameter_fields
        ]
        steps.append({"shown": shown, "form": form, "rows": rows, "open": bool(form.errors)})
    context.update(
        section=SECTION,
        steps=steps,
        runnable=version.status == VersionStatus.PUBLISHED,
    )
    return render(request, "assays/run_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def run_create(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the form, pre-filled from the version's steps. POST: record the run."""
    version = get_object_or_404(ProtocolVersion.objects.select_related("protocol"), pk=pk)
    user = request.user
    if not Study.objects.editable_by(user).exists():
        raise PermissionDenied("Recording a run needs the editor role in a study.")
    steps = list(version.steps.select_related("rotor").order_by("order"))
    context: dict[str, Any] = {"version": version}

    if request.method == "GET":
        now = timezone.localtime().replace(second=0, microsecond=0)
        context.update(
            form=RunForm(initial={"operator": user.pk, "started_at": now}, user=user),
            inputs=input_formset(user=user, extra=1),
            outputs=output_formset(extra=1),
            actual_forms=actual_forms(steps),
        )
        if version.status != VersionStatus.PUBLISHED:
            messages.warning(
                request,
                f"{version} is {version.get_status_display().lower()}; only published "
                "versions can be run.",
            )
        return _run_page(request, context)

    data = request.POST
    if "_add_input" in data or "_add_output" in data:
        context.update(
            form=RunForm(initial=data.dict(), user=user),
            inputs=input_formset(
                user=user,
                initial=_rows_from_post(data, "inputs", _INPUT_FIELDS),
                extra=1 if "_add_input" in data else 0,
            ),
            outputs=output_formset(
                initial=_rows_from_post(data, "outputs", _OUTPUT_FIELDS),
                extra=1 if "_add_output" in data else 0,
            ),
            actual_forms=actual_forms(steps, data),
        )
        return _run_page(request, context)

    form = RunForm(data, user=user)
    inputs = input_formset(data, user=user)
    outputs = output_formset(data)
    actuals = actual_forms(steps, data)
    context.update(form=form, inputs=inputs, outputs=outputs, actual_forms=actuals)
    valid = all([form.is_valid(), inputs.is_valid(), outputs.is_valid()]) and all(
        [a.is_valid() for a in actuals]
    )
    if valid:
        pairs = inputs.inputs()
        produced = outputs.outputs(pairs)
        if not any(f.errors for f in outputs.forms):
            try:
                run = services.record_isolation_run(
                    version=version,
                    inputs=pairs,
                    outputs=produced,
                    user=user,
                    operator=form.cleaned_data["operator"],
                    started_at=form.cleaned_data["started_at"],
                    ended_at=form.cleaned_data["ended_at"],
                    step_actuals=step_actuals(actuals),
                    deviations=form.cleaned_data["deviations"],
                    notes=form.cleaned_data["notes"],
                )
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            except ValidationError as exc:
                _show_run_errors(exc, form=form, context=context)
            else:
                made = ", ".join(
                    p.aliquot.accession for p in run.preparations.select_related("aliquot")
                )
                messages.success(request, f"Recorded run {run.pk}; made {made}.")
                return redirect(run)
    messages.error(request, "The run was not recorded; nothing was saved. See the messages below.")
    return _run_page(request, context, status=400)


def _show_run_errors(error: ValidationError, *, form: RunForm, context: dict[str, Any]) -> None:
    """Service refusals: on the run's fields, or above the inputs / outputs / steps."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, messages_ in error.message_dict.items():
        if key in form.fields:
            form.add_error(key, messages_)
        elif key in ("inputs", "outputs", "step_actuals"):
            context.setdefault(f"{key}_errors", []).extend(messages_)
        else:
            form.add_error(None, messages_)


def isolation_panel(*, request: HttpRequest, aliquot, role: str | None) -> str:
    """On a tube's page: the run that made this EV preparation (with its MISEV term, author's
    term and buffer) and the runs this tube was an input of. Without it the tube page only
    says "from isolation run 2" in the notes, with no way to reach the run."""
    made_by = (
        EVPreparation.objects.visible_to(request.user)
        .filter(aliquot=aliquot)
        .select_related("run__protocol_version__protocol")
        .first()
    )
    used_in = list(
        RunInput.objects.visible_to(request.user)
        .filter(aliquot=aliquot)
        .select_related("run__protocol_version__protocol")
        .order_by("-run__started_at", "-run_id")
    )
    if made_by is None and not used_in:
        return ""
    return render_to_string(
        "assays/_isolation_panel.html",
        {"preparation": made_by, "used_in": used_in},
        request=request,
    )


isolation_panel.panel_title = "Isolation"
