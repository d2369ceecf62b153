"""Storage pages: the tree of units with their occupancy, unit forms, and the box map with
placing by click or by scanning tubes one after another.

Storage is shared by the lab, so every signed-in user sees the units and which wells are
taken; a tube of a study the user cannot see shows as "occupied", without its accession.
Creating and editing units needs the ``samples.add_storageunit`` / ``change_storageunit``
permission; placing a tube needs the editor role in the tube's study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import CreateView, UpdateView

from .. import services
from ..choices import AliquotStatus, StorageKind
from ..forms.storage import BoxPlaceForm, BoxScanForm, StorageUnitForm
from ..models import Aliquot, Sample, StorageUnit, Study, position_label
from ..models.storage import row_label
from .common import accession_candidates

FREE_WELLS_LISTED = 24


# --- Tree ---------------------------------------------------------------------------------


@dataclass
class TreeNode:
    unit: StorageUnit
    occupancy: services.Occupancy | None
    children: list[TreeNode] = field(default_factory=list)


def _tree(units: list[StorageUnit], *, root_id: int | None) -> list[TreeNode]:
    """Nest units (already loaded) under ``root_id``; occupancy for all in one query."""
    counts = services.occupancy(units=units)
    nodes = {u.pk: TreeNode(unit=u, occupancy=counts.get(u.pk)) for u in units}
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = nodes.get(node.unit.parent_id) if node.unit.parent_id != root_id else None
        (parent.children if parent is not None else roots).append(node)
    order = list(StorageKind.values)

    def key(node: TreeNode) -> tuple[int, str]:
        return order.index(node.unit.kind), node.unit.name.lower()

    for node in nodes.values():
        node.children.sort(key=key)
    return sorted(roots, key=key)


def _can(user, action: str) -> bool:
    return user.is_superuser or user.has_perm(f"samples.{action}_storageunit")


_TREE_FIELDS = (
    "id",
    "parent_id",
    "kind",
    "name",
    "barcode",
    "set_temperature_c",
    "rows",
    "columns",
    "is_active",
)


@login_required
@require_GET
def storage_list(request: HttpRequest) -> HttpResponse:
    """The whole tree, site → room → freezer → shelf/rack → box, with wells used per unit."""
    units = list(StorageUnit.objects.only(*_TREE_FIELDS))
    return render(
        request,
        "samples/storage_list.html",
        {
            "section": "storage",
            "tree": _tree(units, root_id=None),
            "can_create": _can(request.user, "add"),
        },
    )


@login_required
@require_GET
def storage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A box opens as its map; any other unit shows what is inside it."""
    unit = get_object_or_404(StorageUnit, pk=pk)
    if unit.is_box:
        return _box_map(request, unit)
    inside = [i for i in unit.descendant_ids() if i != unit.pk]
    units = list(StorageUnit.objects.filter(pk__in=inside).only(*_TREE_FIELDS))
    total = services.occupancy(units=[unit]).get(unit.pk)
    tree = _tree(units, root_id=unit.pk)
    boxes_with_room = sorted(
        (
            node
            for node in _walk(tree)
            if node.unit.is_box and node.unit.is_active and node.occupancy and node.occupancy.free
        ),
        key=lambda node: (-node.occupancy.free, node.unit.name.lower()),
    )
    return render(
        request,
        "samples/storage_detail.html",
        {
            "section": "storage",
            "unit": unit,
            "path": unit.ancestors(include_self=True),
            "temperature": unit.effective_temperature_c(),
            "occupancy": total,
            "tree": tree,
            "boxes_with_room": boxes_with_room[:20],
            "can_create": _can(request.user, "add"),
            "can_change": _can(request.user, "change"),
            "tab": "details",
        },
    )


def _walk(nodes: list[TreeNode]):
    for node in nodes:
        yield node
        yield from _walk(node.children)


class StorageFormMixin(LoginRequiredMixin):
    model = StorageUnit
    form_class = StorageUnitForm
    template_name = "samples/storage_form.html"
    permission = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not _can(request.user, self.permission):
            raise PermissionDenied("You may not create or change storage units.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(section="storage", **kwargs)

    def form_valid(self, form: StorageUnitForm) -> HttpResponse:
        messages.success(self.request, f"{form.instance.get_kind_display()} {form.instance} saved.")
        return super().form_valid(form)


class StorageCreateView(StorageFormMixin, CreateView):
    permission = "add"

    def get_initial(self) -> dict[str, Any]:
        """``?parent=`` from the "add inside" buttons; a box gets a common 9 × 9 grid."""
        initial: dict[str, Any] = {}
        parent_id = self.request.GET.get("parent", "")
        parent = (
            StorageUnit.objects.filter(pk=int(parent_id)).first() if parent_id.isdecimal() else None
        )
        if parent is not None:
            initial["parent"] = parent.pk
            following = {
                StorageKind.SITE: StorageKind.ROOM,
                StorageKind.ROOM: StorageKind.FREEZER,
                StorageKind.FREEZER: StorageKind.RACK,
                StorageKind.SHELF: StorageKind.RACK,
                StorageKind.RACK: StorageKind.BOX,
            }
            initial["kind"] = following.get(parent.kind, StorageKind.BOX)
        kind = self.request.GET.get("kind", "")
        if kind in StorageKind.values:
            initial["kind"] = kind
        if initial.get("kind") == StorageKind.BOX:
            initial.update(rows=9, columns=9)
        return initial


class StorageUpdateView(StorageFormMixin, UpdateView):
    permission = "change"


# --- Box map ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Well:
    row: int
    column: int
    label: str
    tube: dict[str, Any] | None = None  # accession/url only when the user may see it
    occupied: bool = False
    checked_out: bool = False


def _box_grid(box: StorageUnit, *, user) -> tuple[list[dict[str, Any]], list[Well], int]:
    """Rows of wells for the map, the free wells in reading order, and the occupied count.

    Two queries whatever the box size: the tubes in the box and the studies the user sees.
    """
    tubes = list(
        Aliquot.objects.filter(box=box).values(
            "id", "accession", "row", "column", "study_id", "status", "kind"
        )
    )
    visible: set[int] | None = None
    if not user.is_superuser:
        visible = set(Study.objects.visible_to(user).values_list("id", flat=True))
    by_well = {(t["row"], t["column"]): t for t in tubes}
    rows, free = [], []
    for r in range(1, box.rows + 1):
        cells = []
        for c in range(1, box.columns + 1):
            tube = by_well.get((r, c))
            label = position_label(r, c)
            if tube is None:
                well = Well(r, c, label)
                free.append(well)
            else:
                shown = visible is None or tube["study_id"] in visible
                well = Well(
                    r,
                    c,
                    label,
                    tube={
                        "accession": tube["accession"],
                        # Two lines in a small well: "EXO-" over "000123".
                        "prefix": tube["accession"][: tube["accession"].rfind("-") + 1],
                        "number": tube["accession"][tube["accession"].rfind("-") + 1 :],
                        "url": reverse("samples:aliquot-detail", args=[tube["id"]]),
                        "kind": tube["kind"],
                    }
                    if shown
                    else None,
                    occupied=True,
                    checked_out=tube["status"] == AliquotStatus.CHECKED_OUT,
                )
            cells.append(well)
        rows.append({"label": row_label(r), "wells": cells})
    return rows, free, len(tubes)


def _box_map(
    request: HttpRequest,
    box: StorageUnit,
    *,
    place_form: BoxPlaceForm | None = None,
    scan_form: BoxScanForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    rows, free, occupied = _box_grid(box, user=user)
    can_place = box.is_active and Study.objects.editable_by(user).exists()
    chosen = request.GET.get("well", "").strip().upper()
    if place_form is None:
        place_form = BoxPlaceForm(initial={"position": chosen}, auto_id="id_place_%s")
        if chosen:
            # The well was picked without the page script: go straight to the accession.
            place_form.fields["accession"].widget.attrs["autofocus"] = True
    if scan_form is None:
        scan_form = BoxScanForm(
            initial={"start": request.GET.get("start", "")}, auto_id="id_scan_%s"
        )
    capacity = box.capacity
    return render(
        request,
        "samples/box_map.html",
        {
            "section": "storage",
            "box": box,
            "unit": box,
            "path": box.ancestors(include_self=True),
            "columns": range(1, box.columns + 1),
            "rows": rows,
            "free": free[:FREE_WELLS_LISTED],
            "free_count": len(free),
            "occupied": occupied,
            "capacity": capacity,
            "percent": round(100 * occupied / capacity, 1) if capacity else 0,
            "can_place": can_place,
            "can_change": _can(user, "change"),
            "chosen_well": chosen,
            "place_form": place_form,
            "scan_form": scan_form,
            "scan_mode": request.GET.get("mode") == "scan" or scan_form.is_bound,
            "tab": "details",
        },
        status=status,
    )


def _find_tube(user, accession: str) -> Aliquot | None:
    return (
        Aliquot.objects.visible_to(user)
        .filter(accession__in=accession_candidates(accession))
        .select_related("box", "study")
        .first()
    )


def _editable(user, tube: Aliquot) -> bool:
    return Study.objects.editable_by(user).filter(pk=tube.study_id).exists()


@dataclass(frozen=True)
class PlaceOutcome:
    ok: bool
    result: str  # placed, moved, already_here, unknown, forbidden, full, refused, invalid
    message: str
    tube: Aliquot | None = None
    position: str = ""
    status: int = 200


def _place_into_box(
    *, user, box: StorageUnit, accession: str, well: tuple[int, int] | None, after=None, note=""
) -> PlaceOutcome:
    """Put the tube with ``accession`` into ``well``, or with no well into the first free
    well at or after ``after`` (scanning). The service does the locking and the checks."""
    tube = _find_tube(user, accession)
    if tube is None:
        candidates = accession_candidates(accession)
        if Sample.objects.visible_to(user).filter(accession__in=candidates).exists():
            message = f"{accession} is a sample, not a tube: split it into tubes on its page first."
        else:
            message = f"Unknown accession {accession}."
        return PlaceOutcome(False, "unknown", message, status=404)
    if not _editable(user, tube):
        return PlaceOutcome(
            False,
            "forbidden",
            f"Only editors of {tube.study.code} may move {tube.accession}.",
            tube=tube,
            status=403,
        )
    if well is None and tube.box_id == box.pk:
        return PlaceOutcome(
            True,
            "already_here",
            f"{tube.accession} is already here at {tube.position}.",
            tube=tube,
            position=tube.position,
        )
    if well is None:
        wells = [
            w for w in services.free_positions(box) if after is None or (w.row, w.column) >= after
        ]
        if not wells:
            where = f" from {position_label(*after)} on" if after else ""
            return PlaceOutcome(
                False, "full", f"Box {box.name} has no free well{where}.", tube=tube, status=409
            )
        well = (wells[0].row, wells[0].column)
    was = f"{tube.box.name} {tube.position}" if tube.box_id else ""
    try:
        placed = services.place_aliquot(
            aliquot=tube, box=box, row=well[0], column=well[1], user=user, note=note
        )
    except ValidationError as exc:
        return PlaceOutcome(False, "refused", " ".join(exc.messages), tube=tube, status=409)
    if was and tube.box_id == box.pk and tube.position == placed.position:
        return PlaceOutcome(
            True,
            "already_here",
            f"{tube.accession} is already at {placed.position}.",
            tube=tube,
            position=placed.position,
        )
    if was:
        return PlaceOutcome(
            True,
            "moved",
            f"Moved {tube.accession} from {was} to {placed.position}.",
            tube=placed,
            position=placed.position,
        )
    return PlaceOutcome(
        True,
        "placed",
        f"Placed {tube.accession} at {placed.position}.",
        tube=placed,
        position=placed.position,
    )


def _box_or_404(pk: int) -> StorageUnit:
    return get_object_or_404(StorageUnit, pk=pk, kind=StorageKind.BOX)


@login_required
@require_POST
def box_place(request: HttpRequest, pk: int) -> HttpResponse:
    """The map's place form: a tube accession and a well (filled by clicking a well)."""
    box = _box_or_404(pk)
    form = BoxPlaceForm(request.POST, auto_id="id_place_%s")
    if form.is_valid():
        row, column = form.cleaned_data["position"]
        outcome = _place_into_box(
            user=request.user,
            box=box,
            accession=form.cleaned_data["accession"].strip(),
            well=(row, column),
            note=form.note,
        )
        if outcome.ok:
            messages.success(request, outcome.message)
            return redirect(box)
        form.add_error(
            "position" if outcome.result in {"refused", "full"} else "accession", outcome.message
        )
        messages.error(request, f"Nothing was placed: {outcome.message}")
    else:
        messages.error(request, "Nothing was placed; see the form below.")
    return _box_map(request, box, place_form=form, status=400)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def box_scan(request: HttpRequest, pk: int) -> HttpResponse:
    """Scanning mode: each scanned tube goes into the next free well in reading order (from
    ``start`` when given). The page script posts here and shows the JSON answer per scan;
    without it the form posts here and the map comes back with a message."""
    box = _box_or_404(pk)
    form = BoxScanForm(request.POST, auto_id="id_scan_%s")
    if not form.is_valid():
        message = " ".join(m for errors in form.errors.values() for m in errors)
        if _wants_json(request):
            return JsonResponse({"ok": False, "result": "invalid", "message": message}, status=400)
        messages.error(request, message)
        return _box_map(request, box, scan_form=form, status=400)
    accession = form.cleaned_data["accession"].strip()
    start = form.cleaned_data["start"]
    outcome = _place_into_box(
        user=request.user, box=box, accession=accession, well=None, after=start, note=form.note
    )
    # The next scan continues after this well, so a row of tubes fills in order.
    following = request.POST.get("start", "").strip().upper()
    if outcome.ok and outcome.result != "already_here":
        row, column = outcome.tube.row, outcome.tube.column
        nxt = (row, column + 1) if column < box.columns else (row + 1, 1)
        following = position_label(*nxt) if nxt[0] <= box.rows else ""
    if _wants_json(request):
        tube = outcome.tube
        return JsonResponse(
            {
                "ok": outcome.ok,
                "result": outcome.result,
                "message": outcome.message,
                "accession": tube.accession if tube else accession,
                "position": outcome.position,
                "url": tube.get_absolute_url() if tube and outcome.ok else "",
                "next": following,
            },
            status=outcome.status,
        )
    (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect(
        f"{box.get_absolute_url()}?{urlencode({'mode': 'scan', 'start': following})}#scan"
    )
