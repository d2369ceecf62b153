"""Storage unit form and the box map's place and scan forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from ..choices import StorageKind
from ..models import StorageUnit
from .tubes import ActionForm, clean_position_text


class StorageUnitForm(forms.ModelForm):
    """Create or edit a unit; the model's ``clean()`` keeps the tree physically meaningful
    (boxes inside freezers, racks or shelves; rows × columns only on boxes)."""

    class Meta:
        model = StorageUnit
        fields = [
            "parent",
            "kind",
            "name",
            "barcode",
            "set_temperature_c",
            "rows",
            "columns",
            "description",
            "is_active",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {
            "rows": "Boxes only: rows are labelled A, B, C…",
            "columns": "Boxes only: columns are numbered 1, 2, 3…",
            "barcode": "Optional; scanning it into the search box opens this unit.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parent = self.fields["parent"]
        parent.queryset = (
            StorageUnit.objects.exclude(kind=StorageKind.BOX)
            .select_related("parent")
            .order_by("parent__name", "name")
        )
        parent.label_from_instance = lambda unit: (
            (f"{unit.parent.name} › {unit.name}" if unit.parent_id else unit.name)
            + f" ({unit.get_kind_display().lower()})"
        )
        parent.empty_label = "None (top level)"
        parent.required = False
        if self.instance.pk and self.instance.kind == StorageKind.BOX:
            # Changing a box's grid under its tubes could strand them outside the grid.
            self.fields["kind"].disabled = True

    def clean_barcode(self) -> str | None:
        # Empty barcodes are NULL: the column is unique and many units have none.
        return (self.cleaned_data.get("barcode") or "").strip() or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        instance = self.instance
        if instance.pk and instance.kind == StorageKind.BOX:
            rows, columns = cleaned.get("rows"), cleaned.get("columns")
            if rows and columns:
                outside = instance.tubes.exclude(row__lte=rows, column__lte=columns).count()
                if outside:
                    raise ValidationError(
                        f"{outside} tube(s) sit outside a {rows} × {columns} grid; move them first."
                    )
        return cleaned


class BoxPlaceForm(ActionForm):
    """On the box map: put the tube with this accession into this well."""

    accession = forms.CharField(
        max_length=40,
        label="Tube accession",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "Scan or type"}
        ),
    )
    position = forms.CharField(
        max_length=8, label="Well", widget=forms.TextInput(attrs={"size": 5, "autocomplete": "off"})
    )
    error_fields = {"status": "accession", "box": "position"}

    def clean_position(self) -> tuple[int, int]:
        return clean_position_text(self.cleaned_data["position"])


class BoxScanForm(ActionForm):
    """Scanning mode: each scanned tube goes into the next free well from ``start``."""

    accession = forms.CharField(
        max_length=40,
        label="Scan a tube",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "Scan tubes here"}
        ),
    )
    start = forms.CharField(
        required=False,
        max_length=8,
        label="From well",
        widget=forms.TextInput(attrs={"size": 5, "autocomplete": "off"}),
    )
    error_fields = {"status": "accession", "box": "accession"}

    def clean_start(self) -> tuple[int, int] | None:
        text = (self.cleaned_data.get("start") or "").strip()
        return clean_position_text(text) if text else None
