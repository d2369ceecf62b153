"""API serializers for studies, memberships, donors and samples.

Writes go through ``ValidatedModelSerializer`` (model ``full_clean()``, so the API, the forms
and the manifest import share one set of rules). Foreign keys only accept records the caller
can see: an id from another study reads "object does not exist", never "forbidden".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exolims.api import AwareDateTimeField, ValidatedModelSerializer, ValuesReadSerializerMixin

from ..choices import UBERON_IDS, Role
from ..models import Donor, Sample, Study, StudyMembership
from ..units import volume_to_ml
from .fields import VolumeUnitField

_MOVE_REFUSED = "Records cannot move to another study; create a new one there instead."


def _request_user(serializer: serializers.Field):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key limited to records in the caller's studies (``visible_to``)."""

    def __init__(self, *, model: type, **kwargs: Any) -> None:
        self.model = model
        super().__init__(queryset=model.objects.none(), **kwargs)

    def get_queryset(self):
        return self.model.objects.visible_to(_request_user(self))


class CentrifugationStepSerializer(serializers.Serializer):
    """Documentation only: steps are validated and normalised by the model (sample_errors)."""

    g = serializers.FloatField(help_text="Relative centrifugal force (×g).")
    minutes = serializers.FloatField()
    temp_c = serializers.FloatField(help_text="°C")
    brake = serializers.BooleanField(allow_null=True, required=False)
    rotor = serializers.CharField(required=False)
    g_basis = serializers.ChoiceField(choices=["average", "max"], required=False)


@extend_schema_field(CentrifugationStepSerializer(many=True, allow_null=True))
class CentrifugationStepsField(serializers.JSONField):
    pass


# --- Studies ---------------------------------------------------------------------------


# An inline enum: a second ChoiceField over Role would make the schema name the same choice
# set twice (RoleEnum and MyRoleEnum).
@extend_schema_field({"type": "string", "enum": list(Role.values), "nullable": True})
class MyRoleField(serializers.CharField):
    pass


class StudySerializer(ValidatedModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-study-detail")
    my_role = MyRoleField(
        read_only=True,
        allow_null=True,
        help_text="Your role in the study (superusers act as managers).",
    )

    class Meta:
        model = Study
        fields = [
            "id",
            "url",
            "code",
            "title",
            "description",
            "principal_investigator",
            "is_active",
            "max_freeze_thaw_cycles",
            "compliance_profile",
            "purity_min_particles_per_ug",
            "my_role",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


# --- Memberships -----------------------------------------------------------------------


class MembershipSerializer(ValidatedModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-membership-detail")
    study = VisibleRelatedField(model=Study)
    study_code = serializers.CharField(source="study.code", read_only=True)
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="The member's user id (or give username instead).",
    )
    username = serializers.SlugRelatedField(
        source="user",
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="The member's username (or give user instead).",
    )

    class Meta:
        model = StudyMembership
        fields = ["id", "url", "study", "study_code", "user", "username", "role", "created_at"]
        read_only_fields = ["created_at"]
        # Uniqueness is checked by the model's constraint, which has the readable message.
        validators: list = []

    def to_internal_value(self, data):
        if isinstance(data, dict) and data.get("user") not in (None, "") and data.get("username"):
            raise serializers.ValidationError(
                {"username": ["Give either user or username, not both."]}
            )
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and "user" not in attrs:
            raise serializers.ValidationError({"user": ["Give the member's user id or username."]})
        return super().validate(attrs)


class MembershipUpdateSerializer(ValidatedModelSerializer):
    """Only the role changes; to move someone, remove and add them."""

    url = serializers.HyperlinkedIdentityField(view_name="api-membership-detail")
    study = serializers.PrimaryKeyRelatedField(read_only=True)
    study_code = serializers.CharField(source="study.code", read_only=True)
    user = serializers.PrimaryKeyRelatedField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = StudyMembership
        fields = MembershipSerializer.Meta.fields
        read_only_fields = ["created_at"]


# --- Donors ----------------------------------------------------------------------------


class DonorSerializer(ValidatedModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-donor-detail")
    study = VisibleRelatedField(model=Study)
    study_code = serializers.CharField(source="study.code", read_only=True)
    conditions = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Health status or diagnoses (free text or MONDO/DOID ids).",
    )

    class Meta:
        model = Donor
        fields = [
            "id",
            "url",
            "study",
            "study_code",
            "code",
            "species",
            "sex",
            "birth_year",
            "age_at_collection",
            "conditions",
            "consent_status",
            "consent_date",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators: list = []

    def validate_study(self, study: Study) -> Study:
        if self.instance is not None and study.pk != self.instance.study_id:
            raise serializers.ValidationError(_MOVE_REFUSED)
        return study


# --- Samples ---------------------------------------------------------------------------

SAMPLE_PREANALYTICAL_FIELDS = [
    "tube_type",
    "fasting_state",
    "fasting_hours",
    "time_to_processing_min",
    "processing_temp_c",
    "centrifugation_steps",
    "post_centrifugation_delay_min",
    "post_centrifugation_temp_c",
    "haemolysis_a414",
    "free_haemoglobin_g_l",
    "residual_platelets_per_ml",
    "urine_void_type",
    "creatinine_mmol_l",
    "cell_line",
    "passage_number",
    "culture_serum",
    "serum_ev_depletion",
    "conditioning_hours",
    "viability_at_harvest_pct",
    "storage_temp_c",
    "storage_container",
]


# Reads are shaped from .values() rows (shape_rows) for list, detail and write responses alike.
class SampleSerializer(ValuesReadSerializerMixin, ValidatedModelSerializer):
    """One collected body fluid with its pre-analytical variables. The accession and the
    SPREC code are assigned by the system. Send the volume as ``volume_ml``, or as
    ``volume`` with ``volume_unit`` (mL, µL or L); it is stored and returned in mL."""

    url = serializers.HyperlinkedIdentityField(view_name="api-sample-detail")
    study = VisibleRelatedField(model=Study)
    study_code = serializers.CharField(read_only=True)
    donor = VisibleRelatedField(
        model=Donor,
        allow_null=True,
        required=False,
        help_text="Required except for conditioned cell-culture medium.",
    )
    donor_code = serializers.CharField(read_only=True, allow_null=True)
    uberon_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="UBERON term of the fluid type."
    )
    collected_at = AwareDateTimeField(
        help_text="ISO-8601 with a time zone offset or Z; not in the future."
    )
    volume_ml = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        required=False,
        allow_null=True,
        coerce_to_string=False,
        help_text="Volume in mL. Alternatively send volume and volume_unit.",
    )
    remaining_volume_ml = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        read_only=True,
        allow_null=True,
        coerce_to_string=False,
        help_text="What is left after splits and withdrawals, in mL.",
    )
    volume = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        write_only=True,
        required=False,
        allow_null=True,
        coerce_to_string=False,
        help_text="Volume in volume_unit (instead of volume_ml); stored in mL.",
    )
    volume_unit = VolumeUnitField(
        write_only=True, required=False, help_text="Unit of volume: mL, µL (or uL) or L."
    )
    centrifugation_steps = CentrifugationStepsField(
        required=False,
        allow_null=True,
        help_text="Ordered spins. [] means not centrifuged; null means not recorded.",
    )
    created_by = serializers.CharField(
        read_only=True, allow_null=True, help_text="Username of whoever registered it."
    )

    read_columns = (
        "id",
        "accession",
        "study",
        "donor",
        "fluid_type",
        "status",
        "volume_ml",
        "remaining_volume_ml",
        *SAMPLE_PREANALYTICAL_FIELDS,
        "notes",
        "sprec_code",
        # Aware UTC datetimes; the JSON and CSV renderers write them as RFC 3339 with "Z".
        "collected_at",
        "created_at",
        "updated_at",
    )
    read_expressions = {
        "study_code": F("study__code"),
        "donor_code": F("donor__code"),
        "created_by_name": F("created_by__username"),
    }
    read_renames = {"created_by_name": "created_by"}
    detail_view_name = "api-sample-detail"

    class Meta:
        model = Sample
        fields = [
            "id",
            "url",
            "accession",
            "study",
            "study_code",
            "donor",
            "donor_code",
            "fluid_type",
            "uberon_id",
            "collected_at",
            "status",
            "volume_ml",
            "remaining_volume_ml",
            "volume",
            "volume_unit",
            *SAMPLE_PREANALYTICAL_FIELDS,
            "notes",
            "sprec_code",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["accession", "sprec_code", "created_at", "updated_at"]

    @classmethod
    def shape_rows(cls, rows: list[dict[str, Any]], *, context: dict[str, Any]) -> list[dict]:
        prefix = cls.detail_url_prefix(context)
        uberon = UBERON_IDS
        for row in rows:
            row["url"] = f"{prefix}{row['id']}/"
            row["uberon_id"] = uberon.get(row["fluid_type"])
            for field in ("volume_ml", "remaining_volume_ml"):
                if row[field] is not None:
                    row[field] = float(row[field])
        return rows

    def validate_study(self, study: Study) -> Study:
        if self.instance is not None and study.pk != self.instance.study_id:
            raise serializers.ValidationError(_MOVE_REFUSED)
        return study

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = self._volume_in_ml(attrs)
        return super().validate(attrs)

    def _volume_in_ml(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_volume = "volume" in attrs
        unit = attrs.pop("volume_unit", None)
        volume = attrs.pop("volume", None)
        if not has_volume and unit is None:
            return attrs
        if attrs.get("volume_ml") is not None:
            raise serializers.ValidationError(
                {"volume": ["Give either volume_ml, or volume with volume_unit, not both."]}
            )
        if volume is None:
            if unit is not None:
                raise serializers.ValidationError(
                    {"volume": ["Give the volume that volume_unit refers to."]}
                )
            attrs["volume_ml"] = None
            return attrs
        if unit is None:
            raise serializers.ValidationError(
                {"volume_unit": ["Give the unit of volume: mL, µL (or uL) or L."]}
            )
        try:
            volume_ml = volume_to_ml(volume, unit)
        except DjangoValidationError as exc:
            field = "volume_unit" if exc.code == "unit" else "volume"
            raise serializers.ValidationError({field: exc.messages}) from None
        if volume_ml <= 0:
            raise serializers.ValidationError(
                {"volume": ["Volume must be greater than zero (at least 0.0001 mL)."]}
            )
        if volume_ml >= Decimal("1e8"):
            raise serializers.ValidationError({"volume": ["Volume is too large."]})
        attrs["volume_ml"] = volume_ml
        return attrs
