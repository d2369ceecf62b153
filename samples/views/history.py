"""History tabs: the read-only audit trail of a study, donor, sample, tube or storage unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Model
from django.views.generic import DetailView

from exolims.history import HistoryEntry, history_for

from ..models import Aliquot, Donor, Sample, StorageUnit, Study
from .common import ScopedObjectMixin

HISTORY_SHOWN = 500


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class HistoryRow:
    entry: HistoryEntry
    changes: list[Change]


def _labels_for_ids(model: type[Model], ids: set[Any], user) -> dict[Any, str]:
    """Readable names for the foreign keys in a trail: one query per related model. Study
    records the user cannot see stay as bare ids."""
    if not ids:
        return {}
    if model is get_user_model():
        return dict(model.objects.filter(pk__in=ids).values_list("pk", model.USERNAME_FIELD))
    manager = model.objects
    queryset = manager.visible_to(user) if hasattr(manager, "visible_to") else manager.all()
    return {obj.pk: str(obj) for obj in queryset.filter(pk__in=ids)}


def history_rows(obj: Model, *, user) -> list[HistoryRow]:
    """``history_for`` with field names as people read them, choice values as their labels
    and foreign keys as the names of what they point to."""
    entries = history_for(obj, limit=HISTORY_SHOWN)
    fields = {f.attname: f for f in type(obj)._meta.concrete_fields}
    wanted: dict[str, set[Any]] = {}
    for entry in entries:
        for name, pair in entry.changes.items():
            field = fields.get(name)
            if field is not None and field.is_relation:
                wanted.setdefault(name, set()).update(v for v in pair if v is not None)
    names = {
        attname: _labels_for_ids(fields[attname].related_model, ids, user)
        for attname, ids in wanted.items()
    }

    def shown(name: str, value: Any) -> Any:
        field = fields.get(name)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if value is None or field is None:
            return value
        if field.is_relation:
            return names[name].get(value, f"#{value}")
        if field.choices:
            return dict(field.flatchoices).get(value, value)
        return value

    rows = []
    for entry in entries:
        changes = [
            Change(
                field=str(fields[name].verbose_name) if name in fields else name,
                old=shown(name, old),
                new=shown(name, new),
            )
            for name, (old, new) in entry.changes.items()
            if name != "id"
        ]
        rows.append(HistoryRow(entry=entry, changes=changes))
    return rows


class HistoryMixin:
    template_name = "samples/history.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        obj = self.object
        return super().get_context_data(
            record=obj,
            kind=obj._meta.verbose_name,
            detail_url=obj.get_absolute_url(),
            rows=history_rows(obj, user=self.request.user),
            limit=HISTORY_SHOWN,
            tab="history",
            **kwargs,
        )


class StudyHistoryView(HistoryMixin, ScopedObjectMixin, DetailView):
    model = Study
    section = "studies"


class DonorHistoryView(HistoryMixin, ScopedObjectMixin, DetailView):
    model = Donor
    related = ("study",)
    section = "donors"


class SampleHistoryView(HistoryMixin, ScopedObjectMixin, DetailView):
    model = Sample
    related = ("study",)
    section = "samples"


class AliquotHistoryView(HistoryMixin, ScopedObjectMixin, DetailView):
    model = Aliquot
    related = ("study",)
    section = "tubes"


class StorageUnitHistoryView(HistoryMixin, LoginRequiredMixin, DetailView):
    """Storage is shared by the lab, so every signed-in user may read its trail."""

    model = StorageUnit
    context_object_name = "unit"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(section="storage", **kwargs)
