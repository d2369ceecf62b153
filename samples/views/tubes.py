"""Tube pages: the tube list, a tube's page with its location, custody timeline, lineage and
action forms, and splitting a sample or tube into aliquots.

Actions are POST-only small forms; ``samples.services`` does the work under row locks and
its refusals are shown on the form field they concern, with nothing saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.generic import DetailView, TemplateView

from exolims.views import ListPage

from .. import services
from ..choices import (
    AliquotKind,
    AliquotStatus,
    FluidType,
    Role,
    SampleStatus,
    StorageKind,
)
from ..forms.tubes import (
    ActionForm,
    CheckOutForm,
    NoteForm,
    PlaceForm,
    ReceiveForm,
    ShipForm,
    SplitForm,
    TemperatureForm,
    WithdrawForm,
)
from ..lineage import LineageNode, lineage_of
from ..models import Aliquot, Sample, StorageUnit, Study
from ..panels import render_panels
from ..tube_filters import AliquotFilterSet
from .common import PageMixin, ScopedObjectMixin, has_role

CUSTODY_SHOWN = 500
_GONE = {AliquotStatus.CONSUMED, AliquotStatus.DISCARDED, AliquotStatus.SHIPPED}


def duration_text(seconds: int) -> str:
    """2 d 3 h, 4 h 05 min, 12 min: how long, as people say it."""
    minutes = max(0, int(seconds)) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


_LABELS = {
    "sample": (dict(FluidType.choices), dict(SampleStatus.choices)),
    "aliquot": (dict(AliquotKind.choices), dict(AliquotStatus.choices)),
}


def labelled_lineage(obj: Sample | Aliquot, *, user) -> tuple[LineageNode, list[LineageNode]]:
    """The lineage tree from the root sample, with readable kind and status labels, and the
    descendants of ``obj`` (two queries, see ``samples.lineage``)."""
    lineage = lineage_of(obj, user=user)
    tree = lineage.tree()
    stack = [tree]
    while stack:
        node = stack.pop()
        kinds, statuses = _LABELS[node.type]
        node.kind_label = kinds.get(node.kind, node.kind)
        node.status_label = statuses.get(node.status, node.status)
        stack.extend(node.children)
    return tree, lineage.descendants


def split_message(tubes: list[Aliquot]) -> str:
    first, last = tubes[0], tubes[-1]
    names = first.accession if len(tubes) == 1 else f"{first.accession} … {last.accession}"
    where = ""
    if first.box_id:
        where = f" in {first.box.name} from {first.position}"
    return f"Made {len(tubes)} tube{'s' if len(tubes) != 1 else ''} ({names}){where}."


def run_split(source: Sample | Aliquot, form: SplitForm, user) -> str:
    data = form.cleaned_data
    tubes = services.split_into_aliquots(
        source=source,
        volumes_ml=data["volumes_ml"],
        user=user,
        container_type=data["container_type"],
        kind=data["kind"],
        box=data["box"],
        positions=data["positions"],
    )
    return split_message(tubes)


# --- Actions on one tube ----------------------------------------------------------------


def _when(form: ActionForm) -> datetime | None:
    return form.cleaned_data.get("at")


def _withdraw(tube: Aliquot, form: ActionForm, user) -> str:
    volume = form.cleaned_data["volume_ml"]
    services.withdraw_volume(tube, volume, user=user, note=form.note)
    return f"Withdrew {volume.normalize():f} mL from {tube.accession}."


def _place(tube: Aliquot, form: ActionForm, user) -> str:
    data = form.cleaned_data
    was = f"{tube.box.name} {tube.position}" if tube.box_id else ""
    placed = services.place_aliquot(
        aliquot=tube,
        box=data["box"],
        row=data["row"],
        column=data["column"],
        user=user,
        note=form.note,
    )
    now = f"{placed.box.name} {placed.position}"
    if was == now:
        return f"{tube.accession} is already at {now}."
    return (
        f"Moved {tube.accession} from {was} to {now}."
        if was
        else f"Placed {tube.accession} at {now}."
    )


def _check_out(tube: Aliquot, form: ActionForm, user) -> str:
    data = form.cleaned_data
    services.check_out(
        aliquot=tube, user=user, note=form.note, at=_when(form), to_location=data["to_location"]
    )
    kept = f"; {tube.box.name} {tube.position} is kept for its return" if tube.box_id else ""
    return f"Checked out {tube.accession}{kept}."


def _check_in(tube: Aliquot, form: ActionForm, user) -> str:
    services.check_in(
        aliquot=tube,
        user=user,
        note=form.note,
        at=_when(form),
        temperature_c=form.cleaned_data["temperature_c"],
    )
    return f"Checked in {tube.accession}."


def _thaw(tube: Aliquot, form: ActionForm, user) -> str:
    done = services.record_thaw(
        aliquot=tube,
        user=user,
        temperature_c=form.cleaned_data["temperature_c"],
        note=form.note,
        at=_when(form),
    )
    return f"Recorded a thaw of {tube.accession}; freeze–thaw cycles: {done.freeze_thaw_count}."


def _freeze(tube: Aliquot, form: ActionForm, user) -> str:
    services.record_freeze(
        aliquot=tube,
        user=user,
        temperature_c=form.cleaned_data["temperature_c"],
        note=form.note,
        at=_when(form),
    )
    return f"Recorded {tube.accession} as frozen."


def _ship(tube: Aliquot, form: ActionForm, user) -> str:
    data = form.cleaned_data
    services.ship(
        aliquot=tube,
        user=user,
        to_location=data["to_location"],
        temperature_c=data["temperature_c"],
        note=form.note,
        at=_when(form),
    )
    return f"Shipped {tube.accession} to {data['to_location']}."


def _receive(tube: Aliquot, form: ActionForm, user) -> str:
    data = form.cleaned_data
    done = services.receive(
        aliquot=tube,
        user=user,
        from_location=data["from_location"],
        temperature_c=data["temperature_c"],
        note=form.note,
        at=_when(form),
        box=data["box"],
        row=data["row"],
        column=data["column"],
    )
    where = f" and placed it at {done.box.name} {done.position}" if done.box_id else ""
    return f"Received {tube.accession}{where}."


def _consume(tube: Aliquot, form: ActionForm, user) -> str:
    services.consume(aliquot=tube, user=user, note=form.note, at=_when(form))
    return f"{tube.accession} is used up; its well is free."


def _discard(tube: Aliquot, form: ActionForm, user) -> str:
    services.discard(aliquot=tube, user=user, note=form.note, at=_when(form))
    return f"{tube.accession} is discarded; its well is free."


def _split(tube: Aliquot, form: ActionForm, user) -> str:
    return run_split(tube, form, user)


def _in_use(tube: Aliquot) -> bool:
    return tube.status not in _GONE


def _has_volume(tube: Aliquot) -> bool:
    return _in_use(tube) and tube.remaining_volume_ml > 0


@dataclass(frozen=True)
class TubeAction:
    slug: str
    title: str
    form_class: type[ActionForm]
    run: Callable[[Aliquot, ActionForm, Any], str]
    applies: Callable[[Aliquot], bool]
    danger: bool = False


ACTIONS: dict[str, TubeAction] = {
    action.slug: action
    for action in (
        TubeAction("split", "Split into aliquots", SplitForm, _split, _has_volume),
        TubeAction("withdraw", "Withdraw volume", WithdrawForm, _withdraw, _has_volume),
        TubeAction(
            "place",
            "Place / move",
            PlaceForm,
            _place,
            lambda t: _in_use(t) and t.status != AliquotStatus.CHECKED_OUT,
        ),
        TubeAction(
            "check-out",
            "Check out",
            CheckOutForm,
            _check_out,
            lambda t: _in_use(t) and t.status != AliquotStatus.CHECKED_OUT,
        ),
        TubeAction(
            "check-in",
            "Check in",
            TemperatureForm,
            _check_in,
            lambda t: t.status == AliquotStatus.CHECKED_OUT,
        ),
        TubeAction(
            "thaw", "Record thaw", TemperatureForm, _thaw, lambda t: _in_use(t) and t.is_frozen
        ),
        TubeAction(
            "freeze",
            "Record freeze",
            TemperatureForm,
            _freeze,
            lambda t: _in_use(t) and not t.is_frozen,
        ),
        TubeAction("ship", "Ship", ShipForm, _ship, _in_use),
        TubeAction(
            "receive",
            "Receive",
            ReceiveForm,
            _receive,
            lambda t: t.status == AliquotStatus.SHIPPED,
        ),
        TubeAction("consume", "Mark used up", NoteForm, _consume, _in_use, danger=True),
        TubeAction("discard", "Discard", NoteForm, _discard, _in_use, danger=True),
    )
}


def action_form(
    slug: str, form_class: type[ActionForm], data: Any = None, **kwargs: Any
) -> ActionForm:
    # Field names stay plain (the reason must arrive as ``change_reason``); only the HTML
    # ids carry the action, so several forms can share one page.
    return form_class(data, auto_id=f"id_{slug}_%s", **kwargs)


# --- Pages ------------------------------------------------------------------------------


class AliquotListView(PageMixin, TemplateView):
    section = "tubes"
    template_name = "samples/aliquot_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        page = ListPage(
            self.request,
            filterset_class=AliquotFilterSet,
            queryset=Aliquot.objects.visible_to(user)
            .select_related("study", "sample", "box")
            .only(
                "id",
                "accession",
                "kind",
                "status",
                "volume_ml",
                "remaining_volume_ml",
                "container_type",
                "row",
                "column",
                "freeze_thaw_count",
                "created_at",
                "study__code",
                "study__max_freeze_thaw_cycles",
                "sample__accession",
                "box__name",
            ),
            sorts={
                "accession": "accession",
                "status": "status",
                "kind": "kind",
                "created": "created_at",
                "box": "box__name",
            },
            default_sort="-created",
            shown=("q", "study", "status", "kind", "box"),
            studies=Study.objects.visible_to(user),
        )
        boxes = StorageUnit.objects.filter(kind=StorageKind.BOX).order_by("name")
        page.filterset.form.fields["box"].widget = forms.Select(
            choices=[("", "Any box"), *boxes.values_list("id", "name")]
        )
        return super().get_context_data(page=page, **kwargs)


class AliquotDetailView(ScopedObjectMixin, DetailView):
    model = Aliquot
    related = ("study", "sample", "parent", "box", "created_by")
    section = "tubes"
    template_name = "samples/aliquot_detail.html"
    context_object_name = "aliquot"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        tube = self.object
        failed: tuple[str, ActionForm] | None = kwargs.pop("failed", None)
        actions = []
        if has_role(self.role, Role.EDITOR):
            for action in ACTIONS.values():
                if failed and failed[0] == action.slug:
                    actions.append({"action": action, "form": failed[1], "open": True})
                elif action.applies(tube):
                    actions.append(
                        {"action": action, "form": action_form(action.slug, action.form_class)}
                    )
        outside = tube.time_out_of_storage_s
        if tube.out_of_storage_since:
            outside += int((timezone.now() - tube.out_of_storage_since).total_seconds())
        limit = tube.study.max_freeze_thaw_cycles
        events = list(
            tube.custody_events.select_related("actor", "from_box", "to_box").order_by(
                "-at", "-id"
            )[:CUSTODY_SHOWN]
        )
        return super().get_context_data(
            location=tube.box.ancestors(include_self=True) if tube.box_id else [],
            freeze_thaw_limit=limit,
            over_limit=limit is not None and tube.freeze_thaw_count > limit,
            at_limit=limit is not None and tube.freeze_thaw_count == limit,
            time_out=duration_text(outside),
            out_now=tube.out_of_storage_since is not None,
            events=events,
            events_capped=len(events) == CUSTODY_SHOWN,
            lineage=labelled_lineage(tube, user=self.request.user)[0],
            actions=actions,
            panels=render_panels(request=self.request, aliquot=tube, role=self.role),
            tab="details",
            **kwargs,
        )


class AliquotActionView(AliquotDetailView):
    """POST one action's form; on a refusal the tube page comes back with that form open
    and its messages, and nothing has changed."""

    http_method_names = ["post"]
    required_role = Role.EDITOR

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        chosen = ACTIONS.get(action)
        if chosen is None:
            raise Http404("No such action.")
        self.object = tube = self.get_object()
        form = action_form(chosen.slug, chosen.form_class, request.POST)
        if form.is_valid():
            try:
                message = chosen.run(tube, form, request.user)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, message)
                return redirect(tube)
        messages.error(request, f"{chosen.title}: nothing was changed; see the form below.")
        context = self.get_context_data(object=tube, failed=(chosen.slug, form))
        return self.render_to_response(context, status=400)
