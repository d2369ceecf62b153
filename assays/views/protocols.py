"""The protocol library: list, a protocol (its versions and the current version's steps),
one version, the difference between two versions, the editor, and the POST-only actions
(publish, retire, new version, clone).

Protocols are lab-wide: every signed-in user reads them; changing them needs
``assays.add_isolationprotocol`` / ``change_isolationprotocol`` (or a superuser). Run counts
only count the runs the user may see. ``assays.services`` does every write.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import TemplateView

from exolims.views import ListPage
from samples.models import Study

from .. import services
from ..choices import StepKind, VersionStatus
from ..forms.protocols import CloneForm, DiffForm, ProtocolForm, VersionForm
from ..forms.steps import add_parameter_errors, step_formset, step_initial
from ..models import IsolationProtocol, IsolationRun, ProtocolStep, ProtocolVersion
from ..steps import CENTRIFUGATION_KINDS, all_schemas
from .common import PageMixin, can_change, require_change
from .display import format_value, shown_step
from .filters import ProtocolFilterSet

SECTION = "isolation"
_KIND_LABELS = dict(StepKind.choices)
_STATUS_LABELS = dict(VersionStatus.choices)
# Content types an SOP download may keep; anything else (HTML, SVG, …) goes out as bytes.
SAFE_SOP_TYPES = frozenset({"application/pdf", "text/plain", "text/markdown"})


def _visible_run_counts(user, *, by: str) -> Subquery:
    """Runs of the user's studies per protocol (``by="protocol"``) or per version."""
    path = "protocol_version__protocol" if by == "protocol" else "protocol_version"
    runs = (
        IsolationRun.objects.visible_to(user)
        .filter(**{path: OuterRef("pk")})
        .order_by()
        .values(path)
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(runs, output_field=IntegerField()), Value(0))


# --- Library -------------------------------------------------------------------------------


class ProtocolListView(PageMixin, TemplateView):
    section = SECTION
    template_name = "assays/protocol_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        latest = ProtocolVersion.objects.filter(protocol=OuterRef("pk")).order_by("-number")
        published = latest.filter(status=VersionStatus.PUBLISHED)
        kinds = (
            ProtocolStep.objects.filter(version_id=OuterRef("latest_id"))
            .order_by()
            .values("version_id")
            .annotate(kinds=ArrayAgg("kind", order_by="order"))
            .values("kinds")
        )
        queryset = (
            IsolationProtocol.objects.annotate(
                latest_id=Subquery(latest.values("id")[:1]),
                latest_number=Subquery(latest.values("number")[:1]),
                latest_status=Subquery(latest.values("status")[:1]),
                published_number=Subquery(published.values("number")[:1]),
            )
            .annotate(
                step_kinds=Subquery(kinds),
                run_count=_visible_run_counts(user, by="protocol"),
                name_lower=Lower("name"),
            )
            .only("id", "name", "created_at")
        )
        page = ListPage(
            self.request,
            filterset_class=ProtocolFilterSet,
            queryset=queryset,
            sorts={"name": "name_lower", "runs": "run_count", "created": "created_at"},
            default_sort="name",
            shown=("q", "kind", "status"),
        )
        for protocol in page.rows:
            protocol.kind_labels = list(
                dict.fromkeys(_KIND_LABELS.get(k, k) for k in protocol.step_kinds or [])
            )
            protocol.latest_status_label = _STATUS_LABELS.get(protocol.latest_status, "")
        return super().get_context_data(
            page=page, can_add=can_change(user, "isolationprotocol", "add"), **kwargs
        )


def _current_version(protocol: IsolationProtocol, versions: list[ProtocolVersion]):
    """What the protocol page shows: the newest published version, else the newest."""
    published = [v for v in versions if v.status == VersionStatus.PUBLISHED]
    return (published or versions or [None])[0]


def _version_page(request: HttpRequest, protocol: IsolationProtocol, shown_pk: int | None):
    user = request.user
    versions = list(
        protocol.versions.select_related("created_by")
        .annotate(run_count=_visible_run_counts(user, by="version"))
        .order_by("-number")
    )
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        newer.previous = older
    if shown_pk is None:
        version = _current_version(protocol, versions)
    else:
        version = next((v for v in versions if v.pk == shown_pk), None)
    steps = []
    frozen = False
    if version is not None:
        steps = [
            shown_step(step) for step in version.steps.select_related("rotor").order_by("order")
        ]
        frozen = version.is_frozen
    open_draft = next((v for v in versions if v.status == VersionStatus.DRAFT), None)
    previous = version.previous if version else None
    context = {
        "section": SECTION,
        "protocol": protocol,
        "versions": versions,
        "version": version,
        "steps": steps,
        "frozen": frozen,
        "open_draft": open_draft,
        "previous": previous,
        "is_current": shown_pk is None,
        "can_edit": can_change(user, "isolationprotocol"),
        "can_record": Study.objects.editable_by(user).exists(),
        "can_add": can_change(user, "isolationprotocol", "add"),
        "clone_form": CloneForm(initial={"new_name": f"{protocol.name} (copy)"}),
    }
    return render(request, "assays/protocol_detail.html", context)


@login_required
@require_GET
def protocol_detail(request: HttpRequest, pk: int) -> HttpResponse:
    protocol = get_object_or_404(
        IsolationProtocol.objects.select_related("cloned_from__protocol", "created_by"), pk=pk
    )
    return _version_page(request, protocol, None)


@login_required
@require_GET
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(
        ProtocolVersion.objects.select_related(
            "protocol__cloned_from__protocol", "protocol__created_by"
        ),
        pk=pk,
    )
    return _version_page(request, version.protocol, version.pk)


@login_required
@require_GET
def version_sop(request: HttpRequest, pk: int) -> FileResponse:
    """The SOP document, to signed-in users only (uploads are not served publicly)."""
    version = get_object_or_404(ProtocolVersion, pk=pk)
    if not version.sop_document:
        raise Http404("This version has no SOP document.")
    try:
        handle = version.sop_document.open("rb")
    except FileNotFoundError:
        raise Http404("The SOP document file is missing from storage.") from None
    name = version.sop_document.name.rsplit("/", 1)[-1]
    # Always a download, never text/html: an HTML SOP opened inline would run its script
    # in our origin with the reader's session.
    guessed = mimetypes.guess_type(name)[0]
    return FileResponse(
        handle,
        as_attachment=True,
        filename=name,
        content_type=guessed if guessed in SAFE_SOP_TYPES else "application/octet-stream",
    )


@login_required
@require_GET
def version_diff(request: HttpRequest) -> HttpResponse:
    form = DiffForm(request.GET or None)
    diff = rows = None
    if form.is_bound and form.is_valid():
        a, b = form.cleaned_data["a"], form.cleaned_data["b"]
        diff = services.diff_versions(a, b)
        rows = _diff_rows(diff)
    return render(
        request,
        "assays/version_diff.html",
        {"form": form, "diff": diff, "rows": rows, "section": SECTION},
    )


def _shown(spec: dict[str, Any] | None, value: Any) -> str:
    return format_value(spec, value) if spec else str(value)


def _diff_rows(diff: services.VersionDiff) -> list[dict[str, Any]]:
    """Side-by-side rows: each step's parameters left (a) and right (b), marked."""
    schemas = {s["kind"]: {p["name"]: p for p in s["parameters"]} for s in all_schemas()}
    steps_a = {s.order: s for s in diff.a.steps.select_related("rotor")}
    steps_b = {s.order: s for s in diff.b.steps.select_related("rotor")}
    rows = []
    for step_diff in diff.steps:
        sa, sb = steps_a.get(step_diff.order), steps_b.get(step_diff.order)
        pa = sa.parameters if sa else {}
        pb = sb.parameters if sb else {}
        changed = {c.name for c in step_diff.changed}
        # jsonb keeps its own key order: list parameters in the schema's order.
        kinds = [s.kind for s in (sb, sa) if s is not None]
        ordered = [n for kind in kinds for n in schemas.get(kind, {})]
        names = [n for n in dict.fromkeys([*ordered, *pa, *pb]) if n in pa or n in pb]
        params = []
        for name in names:
            spec = schemas.get(sb.kind if sb else "", {}).get(name) or schemas.get(
                sa.kind if sa else "", {}
            ).get(name)
            label = spec["label"] if spec else name
            unit = spec["unit"] if spec and spec["type"] in ("number", "int", "list") else ""
            if name in step_diff.added or (sa is None and name in pb):
                mark = "added"
            elif name in step_diff.removed or (sb is None and name in pa):
                mark = "removed"
            elif name in changed:
                mark = "changed"
            else:
                mark = "same"
            params.append(
                {
                    "label": label,
                    "unit": unit,
                    "a": _shown(spec, pa[name]) if name in pa else "",
                    "b": _shown(spec, pb[name]) if name in pb else "",
                    "mark": mark,
                }
            )
        rows.append(
            {
                "diff": step_diff,
                "a": sa,
                "b": sb,
                "params": params,
                "other": step_diff.other,
            }
        )
    return rows


# --- Editing -----------------------------------------------------------------------------


def _kind_templates() -> list[dict[str, Any]]:
    """One empty parameter block per kind, for the page script to swap in."""
    from ..forms.steps import StepForm

    blocks = []
    for kind, label in StepKind.choices:
        form = StepForm(prefix="steps-__prefix__", initial={"kind": kind})
        blocks.append(
            {
                "kind": kind,
                "label": label,
                "form": form,
                "centrifugation": kind in CENTRIFUGATION_KINDS,
            }
        )
    return blocks


def _editor(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    formset = context["formset"]
    context.update(
        section=SECTION,
        kind_blocks=_kind_templates(),
        empty_form=formset.empty_form,
        centrifugation_kinds=sorted(CENTRIFUGATION_KINDS),
    )
    return render(request, "assays/protocol_edit.html", context, status=status)


def _rerender_request(request: HttpRequest) -> str | None:
    """The no-JS buttons: show the fields of the chosen kinds, or add a step."""
    if "_refresh" in request.POST:
        return "refresh"
    if "_add_step" in request.POST:
        return "add"
    return None


def _apply_step_errors(formset, error: services.StepsInvalid) -> None:
    kept = formset.ordered_forms
    for index, errors in error.by_step.items():
        if index < len(kept):
            add_parameter_errors(kept[index], ValidationError(errors))


def _save_sop(version: ProtocolVersion, document, *, user) -> None:
    if document:
        services.update_version_details(version=version, user=user, sop_document=document)


@login_required
@require_http_methods(["GET", "POST"])
def protocol_create(request: HttpRequest) -> HttpResponse:
    require_change(request.user, "isolationprotocol", "add")
    if request.method == "GET":
        form = ProtocolForm()
        formset = step_formset(extra=1)
        return _editor(request, {"form": form, "formset": formset, "creating": True})
    form = ProtocolForm(request.POST, request.FILES)
    formset = step_formset(request.POST)
    rerender = _rerender_request(request)
    if rerender:
        form = ProtocolForm(initial=request.POST.dict())
        formset = step_formset(
            initial=formset.rows_as_initial(), extra=1 if rerender == "add" else 0
        )
        return _editor(request, {"form": form, "formset": formset, "creating": True})
    if form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                version = services.create_protocol(
                    name=data["name"],
                    description=data["description"],
                    steps=formset.steps(),
                    user=request.user,
                    changes=data["changes"],
                    recovery_specificity=data["recovery_specificity"],
                )
                _save_sop(version, data.get("sop_document"), user=request.user)
        except services.StepsInvalid as exc:
            _apply_step_errors(formset, exc)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Created {version} as a draft; publish it to run it.")
            return redirect(version)
    messages.error(request, "Nothing was saved; see the messages below.")
    return _editor(request, {"form": form, "formset": formset, "creating": True}, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def version_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a draft's steps; a frozen version's steps are saved as the next version."""
    require_change(request.user, "isolationprotocol")
    version = get_object_or_404(ProtocolVersion.objects.select_related("protocol"), pk=pk)
    frozen = version.is_frozen
    context: dict[str, Any] = {"version": version, "protocol": version.protocol, "frozen": frozen}
    if request.method == "GET":
        steps = version.steps.select_related("rotor").order_by("order")
        context["form"] = VersionForm(
            initial={
                "changes": "" if frozen else version.changes,
                "recovery_specificity": version.recovery_specificity,
            }
        )
        context["formset"] = step_formset(initial=step_initial(steps))
        return _editor(request, context)
    form = VersionForm(request.POST, request.FILES)
    formset = step_formset(request.POST)
    rerender = _rerender_request(request)
    if rerender:
        context["form"] = VersionForm(initial=request.POST.dict())
        context["formset"] = step_formset(
            initial=formset.rows_as_initial(), extra=1 if rerender == "add" else 0
        )
        return _editor(request, context)
    context.update(form=form, formset=formset)
    if form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                saved = services.save_version_steps(
                    version=version,
                    steps=formset.steps(),
                    user=request.user,
                    new_version=frozen,
                    changes=data["changes"],
                )
                # saved is a draft either way: this one, or the new version of a frozen one.
                services.update_version_details(
                    version=saved,
                    user=request.user,
                    recovery_specificity=data["recovery_specificity"],
                    sop_document=data.get("sop_document") or None,
                )
        except services.StepsInvalid as exc:
            _apply_step_errors(formset, exc)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            if saved.pk == version.pk:
                messages.success(request, f"Saved the steps of {saved}.")
            else:
                messages.success(request, f"Saved as {saved}, a new draft; {version} is unchanged.")
            return redirect(saved)
    messages.error(request, "Nothing was saved; see the messages below.")
    return _editor(request, context, status=400)


# --- Actions (POST only) -----------------------------------------------------------------


def _version_action(request: HttpRequest, pk: int, action) -> HttpResponse:
    require_change(request.user, "isolationprotocol")
    version = get_object_or_404(ProtocolVersion.objects.select_related("protocol"), pk=pk)
    try:
        done = action(version=version, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(version)
    return done


@login_required
@require_POST
def version_publish(request: HttpRequest, pk: int) -> HttpResponse:
    def publish(*, version, user):
        published = services.publish_version(version=version, user=user)
        messages.success(request, f"Published {published}; it can now be run.")
        return redirect(published)

    return _version_action(request, pk, publish)


@login_required
@require_POST
def version_retire(request: HttpRequest, pk: int) -> HttpResponse:
    def retire(*, version, user):
        retired = services.retire_version(version=version, user=user)
        messages.success(request, f"Retired {retired}; its runs keep pointing at it.")
        return redirect(retired)

    return _version_action(request, pk, retire)


@login_required
@require_POST
def version_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Start the next version as a draft copy of this one, and open it in the editor."""

    def new(*, version, user):
        draft = services.create_next_version(
            version=version, user=user, changes=request.POST.get("changes", "")
        )
        messages.success(request, f"Started {draft} from {version}; edit its steps below.")
        return redirect("assays:version-edit", draft.pk)

    return _version_action(request, pk, new)


@login_required
@require_http_methods(["GET", "POST"])
def version_clone(request: HttpRequest, pk: int) -> HttpResponse:
    require_change(request.user, "isolationprotocol", "add")
    version = get_object_or_404(ProtocolVersion.objects.select_related("protocol"), pk=pk)
    form = CloneForm(request.POST or None, initial={"new_name": f"{version.protocol.name} (copy)"})
    if request.method == "POST" and form.is_valid():
        try:
            clone = services.clone_protocol(
                version=version,
                new_name=form.cleaned_data["new_name"],
                description=form.cleaned_data["description"] or None,
                user=request.user,
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Cloned {version} as {clone}, a draft.")
            return redirect("assays:version-edit", clone.pk)
    status = 400 if form.is_bound else 200
    return render(
        request,
        "assays/protocol_clone.html",
        {"form": form, "version": version, "section": SECTION},
        status=status,
    )
