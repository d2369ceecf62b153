"""Forms of the marker pages: a marker result for a tube (one marker, or a panel of markers
probed on the same blot), and a row of the marker vocabulary.

A marker is typed as people say it (CD63, ALIX, itgb1): an HGNC symbol, an alias or a member
of a family the vocabulary lists (ITGB1 under ITGB*). The forms only check that the
vocabulary knows it; ``assays.characterisation_services`` resolves and writes, in one
transaction, and checks everything again.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms import formset_factory

from samples.models import Study

from ..choices import Detection, LoadingUnit, MarkerCategory, MarkerMethod
from ..models import Marker
from .characterisation import (
    NumberField,
    TubeMixin,
    instrument_field,
    measured_at_field,
    tube_field,
)
from .protocols import ServiceErrorsMixin

VOCABULARY_LIST_ID = "marker-vocabulary"
PANEL_ROWS = 8
MAX_PANEL_ROWS = 40
_RRID = re.compile(r"^(?:RRID:)?(AB_\d+)$")
IMAGE_ACCEPT = "image/png,image/jpeg,image/tiff,.png,.jpg,.jpeg,.tif,.tiff"
RESULTS_ACCEPT = ".csv,.xls,.txt,.tsv,text/csv,text/plain"


def autofocus(form: forms.BaseForm, name: str) -> None:
    """Put the cursor where the person (or the scanner) types first."""
    if name in form.fields:
        form.fields[name].widget.attrs["autofocus"] = True


def unknown_marker_message(text: str) -> str:
    # Same words as the service, so a page and the API say the same thing.
    return (
        f"Unknown marker '{text}'. Add it to the marker vocabulary with its MISEV category first."
    )


class MarkerSymbolField(forms.CharField):
    """A symbol or alias the vocabulary knows; cleaned to capitals. The page's datalist and
    lookup script show its MISEV category while it is typed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("label", "Marker")
        kwargs.setdefault("error_messages", {"required": "Give the marker, e.g. CD63."})
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.update(
            {
                "list": VOCABULARY_LIST_ID,
                "class": "mono marker-input",
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "data-marker-lookup": "",
                "placeholder": "CD63, ALIX, TSG101…",
            }
        )
        return attrs

    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip().upper()

    def validate(self, value: str) -> None:
        super().validate(value)
        if value and Marker.objects.lookup(value) is None:
            raise ValidationError(unknown_marker_message(value), code="unknown_marker")


def clean_rrid(value: str) -> str:
    """ "RRID:AB_2138153", "rrid: ab_2138153" and "AB_2138153" are one antibody; stored as
    the bare AB_ number."""
    text = re.sub(r"\s+", "", value or "").upper()
    if not text:
        return ""
    match = _RRID.match(text)
    if match is None:
        raise ValidationError(
            "An antibody RRID looks like AB_2138153 (from antibodyregistry.org).", code="rrid"
        )
    return match.group(1)


def operator_queryset(user) -> QuerySet:
    """People who may have done the work: the members of the user's studies and the user.
    Instrument accounts are not people."""
    studies = Study.objects.visible_to(user).values("pk")
    return (
        get_user_model()
        .objects.filter(is_active=True, instrument__isnull=True)
        .filter(Q(study_memberships__study__in=studies) | Q(pk=user.pk))
        .distinct()
        .order_by("username")
    )


def operator_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Me",
        label="Operator",
        help_text="Who did the work; empty is you.",
    )


class YesNoUnknown(forms.NullBooleanSelect):
    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.choices = [("unknown", "Not recorded"), ("true", "Yes"), ("false", "No")]


def yes_no_field(label: str, help_text: str = "") -> forms.NullBooleanField:
    return forms.NullBooleanField(
        label=label, required=False, help_text=help_text, widget=YesNoUnknown()
    )


def lysis_buffer_field() -> forms.CharField:
    return forms.CharField(
        label="Lysis buffer", max_length=200, required=False, help_text="e.g. RIPA + PIC"
    )


class RecordFieldsMixin:
    """Fields every characterisation form built here shares, and their cleaning."""

    user: Any
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def _setup(self, user) -> None:
        self.user = user
        self.fields["operator"].queryset = operator_queryset(user)

    def clean_antibody_rrid(self) -> str:
        return clean_rrid(self.cleaned_data.get("antibody_rrid", ""))

    def _check_loading(self, data: dict[str, Any]) -> None:
        amount, unit = data.get("loading_amount"), data.get("loading_unit")
        if amount is not None and not unit:
            self.add_error("loading_unit", "Give the unit of the loading amount.")
        if unit and amount is None:
            self.add_error("loading_amount", "Give the loading amount for this unit.")


def _file_field(label: str, accept: str, help_text: str) -> forms.FileField:
    return forms.FileField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.ClearableFileInput(attrs={"accept": accept}),
        error_messages={"empty": "The file is empty."},
    )


def blot_image_field() -> forms.FileField:
    return _file_field(
        "Blot image", IMAGE_ACCEPT, "PNG, JPEG or TIFF (16-bit is fine), at most 50 MB."
    )


def densitometry_field() -> forms.FileField:
    return _file_field(
        "Densitometry (ImageJ/Fiji Results)",
        RESULTS_ACCEPT,
        "The Results table saved from ImageJ or Fiji (.csv or .xls). With one band its "
        "value becomes the band intensity.",
    )


class MarkerResultForm(TubeMixin, RecordFieldsMixin, ServiceErrorsMixin, forms.Form):
    """Whether one marker was found in a tube, by which method and antibody."""

    tube = tube_field()
    marker = MarkerSymbolField(help_text="HGNC symbol or alias; its MISEV category is shown.")
    method = forms.ChoiceField(choices=MarkerMethod.choices, initial=MarkerMethod.WESTERN_BLOT)
    detection = forms.ChoiceField(
        choices=[("", "—"), *Detection.choices],
        error_messages={"required": "Say whether the marker was detected."},
    )
    semi_quantitative = forms.CharField(
        label="Semi-quantitative", max_length=80, required=False, help_text="e.g. ++, weak"
    )
    band_intensity = NumberField(label="Band intensity", required=False, min_value=0)
    antibody_clone = forms.CharField(label="Antibody clone", max_length=80, required=False)
    antibody_vendor = forms.CharField(label="Vendor", max_length=120, required=False)
    antibody_catalogue = forms.CharField(label="Catalogue no.", max_length=80, required=False)
    antibody_rrid = forms.CharField(
        label="RRID",
        max_length=60,
        required=False,
        help_text="e.g. AB_2138153",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}),
    )
    antibody_lot = forms.CharField(label="Lot", max_length=80, required=False)
    antibody_dilution = forms.CharField(
        label="Dilution", max_length=40, required=False, help_text="e.g. 1:1000 or 0.5 µg/mL"
    )
    lysis_buffer = lysis_buffer_field()
    reducing = yes_no_field("Reducing conditions", "Western blot: with DTT / β-ME.")
    loading_amount = NumberField(label="Loaded", required=False, above=0)
    loading_unit = forms.ChoiceField(
        label="Loading unit", choices=[("", "—"), *LoadingUnit.choices], required=False
    )
    measured_at = measured_at_field()
    operator = operator_field()
    instrument = instrument_field()
    sop = forms.CharField(label="SOP / protocol", max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    blot_image = blot_image_field()
    densitometry_file = densitometry_field()

    FILE_FIELDS = ("blot_image", "densitometry_file")

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self._check_loading(data)
        return data

    def service_data(self, controls: list[dict]) -> dict[str, Any]:
        """The service's ``data``: every field but the tube and the files."""
        skip = {"tube", *self.FILE_FIELDS}
        data = {k: v for k, v in self.cleaned_data.items() if k not in skip}
        data["controls"] = controls
        if data.get("operator") is None:
            data.pop("operator", None)
        return data

    def uploads(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) or None for name in self.FILE_FIELDS}


class PanelForm(TubeMixin, RecordFieldsMixin, ServiceErrorsMixin, forms.Form):
    """What the markers of one blot share: the tube, the method, the lysate and loading,
    when and by whom, and the blot image. No densitometry table here: the service would give
    a one-band table's value to every row; band intensities are typed per row instead."""

    tube = tube_field()
    method = forms.ChoiceField(choices=MarkerMethod.choices, initial=MarkerMethod.WESTERN_BLOT)
    lysis_buffer = lysis_buffer_field()
    reducing = yes_no_field("Reducing conditions", "Western blot: with DTT / β-ME.")
    loading_amount = NumberField(label="Loaded", required=False, above=0)
    loading_unit = forms.ChoiceField(
        label="Loading unit", choices=[("", "—"), *LoadingUnit.choices], required=False
    )
    measured_at = measured_at_field()
    operator = operator_field()
    instrument = instrument_field()
    sop = forms.CharField(label="SOP / protocol", max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    blot_image = blot_image_field()

    SHARED = (
        "method",
        "lysis_buffer",
        "reducing",
        "loading_amount",
        "loading_unit",
        "measured_at",
        "operator",
        "instrument",
        "sop",
        "notes",
    )

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self._check_loading(data)
        return data

    def shared_data(self, controls: list[dict]) -> dict[str, Any]:
        data = {name: self.cleaned_data.get(name) for name in self.SHARED}
        data["controls"] = controls
        if data.get("operator") is None:
            data.pop("operator")
        return data

    def uploads(self) -> dict[str, Any]:
        return {"blot_image": self.cleaned_data.get("blot_image") or None}


class PanelRowForm(forms.Form):
    """One marker of the panel: what was seen and with which antibody."""

    marker = MarkerSymbolField(required=False)
    detection = forms.ChoiceField(choices=[("", "—"), *Detection.choices], required=False)
    band_intensity = NumberField(label="Band intensity", required=False, min_value=0)
    semi_quantitative = forms.CharField(label="Semi-quant.", max_length=80, required=False)
    antibody_clone = forms.CharField(label="Antibody clone", max_length=80, required=False)
    antibody_rrid = forms.CharField(
        label="RRID",
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}),
    )
    antibody_dilution = forms.CharField(label="Dilution", max_length=40, required=False)

    ROW_FIELDS = (
        "marker",
        "detection",
        "band_intensity",
        "semi_quantitative",
        "antibody_clone",
        "antibody_rrid",
        "antibody_dilution",
    )

    def clean_antibody_rrid(self) -> str:
        return clean_rrid(self.cleaned_data.get("antibody_rrid", ""))

    def has_content(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return any(data.get(name) not in (None, "") for name in self.ROW_FIELDS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.has_content():
            return data
        if not data.get("marker") and "marker" not in self.errors:
            self.add_error("marker", "Give the marker of this row.")
        if not data.get("detection"):
            self.add_error("detection", "Say whether it was detected.")
        return data

    def row_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.ROW_FIELDS}


class BasePanelFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        filled = [form for form in self.forms if form.has_content()]
        if not filled:
            raise ValidationError("Enter at least one marker.")
        symbols = [form.cleaned_data["marker"] for form in filled]
        canonical = [Marker.objects.lookup(symbol) for symbol in symbols]
        seen: dict[str, str] = {}
        for symbol, marker in zip(symbols, canonical, strict=True):
            # A family match stands for the symbol typed (ITGB1 and ITGB3 are both ITGB*).
            key = symbol if marker is None or marker.is_family else marker.symbol
            if key in seen:
                raise ValidationError(f"{symbol} is entered twice (as {seen[key]} and {symbol}).")
            seen[key] = symbol


def panel_formset(data=None, *, rows: int = PANEL_ROWS):
    formset = formset_factory(
        PanelRowForm,
        formset=BasePanelFormSet,
        extra=rows,
        max_num=MAX_PANEL_ROWS,
        absolute_max=MAX_PANEL_ROWS,
        validate_max=True,
    )
    return formset(data, prefix="markers")


# --- The vocabulary ---------------------------------------------------------------------------


def parse_aliases(text: str) -> list[str]:
    """ "ALIX, AIP1" or one per line → ["AIP1", "ALIX"]."""
    parts = re.split(r"[,;\s]+", text or "")
    return sorted({part.strip().upper() for part in parts if part.strip()})


class MarkerForm(ServiceErrorsMixin, forms.Form):
    """A row of the lab's marker vocabulary."""

    symbol = forms.CharField(
        max_length=40,
        help_text="HGNC symbol in capitals (PDCD6IP, not ALIX); end with * for a family (ANXA*).",
        widget=forms.TextInput(
            attrs={"class": "mono", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    name = forms.CharField(max_length=200, required=False, help_text="The protein's full name.")
    aliases = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Other names people type, separated by commas (e.g. ALIX, AIP1).",
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
    )
    category = forms.ChoiceField(
        label="MISEV category", choices=[("", "—"), *MarkerCategory.choices]
    )
    source = forms.CharField(
        max_length=200,
        required=False,
        help_text="Where the category comes from (paper, MISEV table, lab decision).",
    )
    # The category the person was shown the consequences of and confirmed.
    confirm_category = forms.CharField(required=False, max_length=2, widget=forms.HiddenInput)

    def __init__(self, *args: Any, marker: Marker | None = None, **kwargs: Any) -> None:
        if marker is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "symbol": marker.symbol,
                "name": marker.name,
                "aliases": ", ".join(marker.aliases or []),
                "category": marker.category,
                "source": marker.source,
            }
        super().__init__(*args, **kwargs)
        self.marker = marker
        if marker is not None and marker.is_builtin:
            self.fields["symbol"].disabled = True
            self.fields["symbol"].help_text = "A built-in row keeps its symbol."

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].strip().upper()

    def clean_aliases(self) -> list[str]:
        return parse_aliases(self.cleaned_data.get("aliases", ""))

    @property
    def category_changed(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return (
            self.marker is not None
            and bool(data.get("category"))
            and data["category"] != self.marker.category
        )

    @property
    def category_confirmed(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return bool(data.get("category")) and data.get("confirm_category") == data["category"]

    def service_data(self) -> dict[str, Any]:
        names = ("symbol", "name", "aliases", "category", "source")
        return {name: self.cleaned_data[name] for name in names}
