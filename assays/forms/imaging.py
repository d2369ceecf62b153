"""Forms of the imaging pages: an imaging session of a tube (TEM, cryo-EM, AFM, …) with its
images, and one more image for a recorded session.

Every image says what it shows (a wide-field view or a close-up, as MISEV asks for both) and
its scale, either nm per pixel or the length of the scale bar burnt into it: a micrograph
without a scale cannot be measured. The files themselves are checked by the service (Pillow
must decode them); the forms check what a person typed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory

from ..choices import ImageView, ImagingMethod
from .characterisation import (
    NumberField,
    TubeMixin,
    instrument_field,
    measured_at_field,
    tube_field,
)
from .markers import IMAGE_ACCEPT, RecordFieldsMixin, operator_field, yes_no_field
from .protocols import ServiceErrorsMixin

IMAGE_ROWS = 3
MAX_IMAGES = 30
SCALE_MISSING = "Give the image scale: nm per pixel or the scale bar's length in nm."
SIZE_FIELDS = ("size_mean_nm", "size_median_nm", "size_sd_nm", "size_min_nm", "size_max_nm")


class ImagingRecordForm(TubeMixin, RecordFieldsMixin, ServiceErrorsMixin, forms.Form):
    tube = tube_field()
    method = forms.ChoiceField(choices=ImagingMethod.choices, initial=ImagingMethod.TEM)
    stain = forms.CharField(max_length=120, required=False, help_text="e.g. 2% uranyl acetate")
    grid = forms.CharField(max_length=120, required=False, help_text="e.g. Formvar/carbon Cu 300")
    grid_positions_predefined = yes_no_field(
        "Predefined grid positions", "Images taken at positions chosen before looking."
    )
    bilayer_observed = yes_no_field("Lipid bilayer seen")
    n_vesicles_measured = forms.IntegerField(
        label="Vesicles measured", required=False, min_value=0, max_value=10_000_000
    )
    size_mean_nm = NumberField(label="Mean (nm)", required=False, above=0)
    size_median_nm = NumberField(label="Median (nm)", required=False, above=0)
    size_sd_nm = NumberField(label="SD (nm)", required=False, min_value=0)
    size_min_nm = NumberField(label="Smallest (nm)", required=False, above=0)
    size_max_nm = NumberField(label="Largest (nm)", required=False, above=0)
    measured_at = measured_at_field(label="Imaged")
    operator = operator_field()
    instrument = instrument_field()
    sop = forms.CharField(label="SOP / protocol", max_length=200, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, user, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("size_min_nm"), data.get("size_max_nm")
        if low is not None and high is not None and low > high:
            self.add_error("size_min_nm", "The smallest size cannot exceed the largest.")
        sizes = [data.get(name) for name in SIZE_FIELDS if name != "size_sd_nm"]
        if any(value is not None for value in sizes) and not data.get("n_vesicles_measured"):
            self.add_error("n_vesicles_measured", "Say how many vesicles the sizes come from.")
        return data

    def service_data(self, controls: list[dict]) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if k != "tube"}
        data["controls"] = controls
        if data.get("operator") is None:
            data.pop("operator", None)
        return data


class ImageForm(forms.Form):
    """One image with what it shows and its scale."""

    image = forms.FileField(
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT}),
        error_messages={"empty": "The file is empty."},
    )
    view = forms.ChoiceField(
        choices=[("", "—"), *ImageView.choices],
        required=False,
        help_text="MISEV asks for both a wide-field view and a close-up.",
    )
    scale_nm_per_px = NumberField(label="nm / pixel", required=False, above=0)
    scale_bar_nm = NumberField(label="Scale bar (nm)", required=False, above=0)
    magnification = forms.CharField(
        max_length=40, required=False, help_text="e.g. 30,000× or 20 kx"
    )
    caption = forms.CharField(max_length=300, required=False)

    DETAIL_FIELDS = ("view", "scale_nm_per_px", "scale_bar_nm", "magnification", "caption")

    def __init__(self, *args: Any, image_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.image_required = image_required

    def has_content(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return bool(data.get("image")) or any(
            data.get(name) not in (None, "") for name in self.DETAIL_FIELDS
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.has_content() and not self.image_required:
            return data
        if not data.get("image") and "image" not in self.errors:
            self.add_error("image", "Choose the image file.")
        if not data.get("view") and "view" not in self.errors:
            self.add_error("view", "Say whether this is a wide-field view or a close-up.")
        scale_errors = {"scale_nm_per_px", "scale_bar_nm"} & set(self.errors)
        if (
            not scale_errors
            and data.get("scale_nm_per_px") is None
            and data.get("scale_bar_nm") is None
        ):
            self.add_error("scale_nm_per_px", SCALE_MISSING)
        return data

    def details(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.DETAIL_FIELDS}


class BaseImageFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        names = [f.cleaned_data["image"].name for f in self.forms if f.has_content()]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValidationError(f"Chosen twice: {', '.join(twice)}.")

    def images(self) -> list[tuple[Any, dict[str, Any]]]:
        return [(f.cleaned_data["image"], f.details()) for f in self.forms if f.has_content()]


def image_formset(data=None, files=None, *, rows: int = IMAGE_ROWS):
    formset = formset_factory(
        ImageForm,
        formset=BaseImageFormSet,
        extra=rows,
        max_num=MAX_IMAGES,
        absolute_max=MAX_IMAGES,
        validate_max=True,
    )
    return formset(data, files, prefix="images")


def add_image_form(data=None, files=None) -> ImageForm:
    return ImageForm(data, files, image_required=True, prefix="add")
