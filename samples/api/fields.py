"""Serializer fields shared by the samples and assays APIs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import parse_position
from ..units import VOLUME_UNITS


# Not a ChoiceField: an unknown unit gets volume_to_ml's message, which lists the units.
@extend_schema_field({"type": "string", "enum": [*VOLUME_UNITS, "uL"]})
class VolumeUnitField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "example": "B7"})
class PositionField(serializers.CharField):
    """A well like B7, returned as (row, column)."""

    def to_internal_value(self, data) -> tuple[int, int]:
        text = super().to_internal_value(data)
        try:
            return parse_position(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
