"""Serializers for rotors, isolation protocols (with versions and steps), runs and EV
preparations.

Reads are plain nested serializers over querysets the views prefetch (a constant number of
queries per page). Writes only parse and shape input: every rule lives in
``assays.services`` and ``assays.steps``, so the pages and the API cannot disagree.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import FileExtensionValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exolims.api import AwareDateTimeField, ValidatedModelSerializer
from samples.api.fields import PositionField, VolumeUnitField
from samples.choices import ContainerType
from samples.models import Aliquot
from samples.units import volume_to_ml

from .. import steps as step_schemas
from ..choices import NomenclatureTerm, RecoverySpecificity, StepKind
from ..forms.protocols import MAX_SOP_BYTES, SOP_EXTENSIONS
from ..models import (
    EVPreparation,
    IsolationProtocol,
    IsolationRun,
    ProtocolStep,
    ProtocolVersion,
    Rotor,
    RunInput,
)

# --- Small fields -------------------------------------------------------------------------


def _enum(values: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "string", "enum": values, **extra}


@extend_schema_field(serializers.ChoiceField(choices=StepKind.choices))
class _StepKindText(serializers.CharField):
    """Checked by assays.steps (with its own message), documented as an enum."""


def StepKindField(**kwargs: Any) -> serializers.CharField:
    return _StepKindText(
        max_length=32,
        help_text="Each kind's parameters: GET /api/v1/step-kinds/.",
        **kwargs,
    )


def NomenclatureField(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=NomenclatureTerm.choices, **kwargs)


def ContainerField(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=ContainerType.choices, **kwargs)


def RecoveryField(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=RecoverySpecificity.choices, **kwargs)


@extend_schema_field({"type": "string", "example": "EXO-000123"})
class TubeRefField(serializers.CharField):
    """A tube by id (digits) or accession; resolved by the view inside the caller's studies."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "description": "Parameter name → value in the unit of the step kind's schema "
        "(GET /api/v1/step-kinds/). Volumes may be given as "
        '{"value": 250, "unit": "µL"} and durations as {"value": 1.5, "unit": "h"}.',
        "example": {"g_force": 100000, "g_basis": "average", "duration_min": 70},
    }
)
class ParametersField(serializers.JSONField):
    pass


def volume_ml(value: Any, unit: str | None) -> Decimal:
    try:
        return volume_to_ml(value, unit or "mL")
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None
    except InvalidOperation:
        raise serializers.ValidationError(["Volume is too large."]) from None


# --- Rotors -------------------------------------------------------------------------------


class RotorSerializer(ValidatedModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-rotor-detail")
    r_avg_mm = serializers.SerializerMethodField(help_text="(r min + r max) / 2")
    k_factor_max = serializers.SerializerMethodField(
        help_text="k at max rpm: the vendor's k-factor, else computed from the radii."
    )
    k_factor_computed = serializers.SerializerMethodField(
        help_text="2.53e11 · ln(r max / r min) / max rpm²"
    )
    rcf_max_at_max_rpm = serializers.SerializerMethodField(help_text="×g at r max, max rpm.")

    class Meta:
        model = Rotor
        fields = [
            "id",
            "url",
            "name",
            "manufacturer",
            "rotor_type",
            "r_min_mm",
            "r_max_mm",
            "r_avg_mm",
            "max_rpm",
            "k_factor",
            "k_factor_max",
            "k_factor_computed",
            "rcf_max_at_max_rpm",
            "notes",
            "is_active",
        ]
        # Uniqueness is checked by full_clean with the model's own message.
        validators: list = []

    def _safe(self, rotor: Rotor, compute) -> float | None:
        try:
            return compute(rotor)
        except (ValueError, TypeError, ZeroDivisionError):
            return None

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_r_avg_mm(self, rotor: Rotor) -> float | None:
        return self._safe(rotor, lambda r: round(r.radius_mm("average"), 2))

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_k_factor_max(self, rotor: Rotor) -> float | None:
        return self._safe(rotor, lambda r: round(r.k_factor_max, 1))

    @extend_schema_field(OpenApiTypes.FLOAT)
    def get_k_factor_computed(self, rotor: Rotor) -> float | None:
        from ..centrifugation import k_factor

        return self._safe(rotor, lambda r: round(k_factor(r.r_min_mm, r.r_max_mm, r.max_rpm), 1))

    @extend_schema_field(OpenApiTypes.INT)
    def get_rcf_max_at_max_rpm(self, rotor: Rotor) -> int | None:
        return self._safe(rotor, lambda r: round(r.rcf_at(r.max_rpm, "max")))


class RotorConversionSerializer(serializers.Serializer):
    rotor = serializers.IntegerField()
    rotor_name = serializers.CharField()
    basis = serializers.CharField(help_text="Radius the given ×g refers to: average or max.")
    rpm = serializers.IntegerField()
    rcf_average = serializers.IntegerField(help_text="×g at r avg")
    rcf_max = serializers.IntegerField(help_text="×g at r max")
    k_factor = serializers.FloatField(help_text="k at this speed (k_adj).")
    k_factor_max = serializers.FloatField(help_text="k at the rotor's max rpm.")
    above_max_rpm = serializers.BooleanField()


# --- Protocols: reading --------------------------------------------------------------------


class StepSerializer(serializers.ModelSerializer):
    kind = StepKindField(read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    rotor_name = serializers.CharField(source="rotor.name", read_only=True, allow_null=True)
    parameters = ParametersField(read_only=True)

    class Meta:
        model = ProtocolStep
        fields = [
            "id",
            "order",
            "kind",
            "kind_label",
            "title",
            "parameters",
            "rotor",
            "rotor_name",
            "notes",
        ]
        read_only_fields = fields


class VersionSerializer(serializers.ModelSerializer):
    """A version with its steps. Expects ``run_count`` annotated by the view."""

    url = serializers.HyperlinkedIdentityField(view_name="api-protocol-version-detail")
    protocol_name = serializers.CharField(source="protocol.name", read_only=True)
    label = serializers.CharField(source="__str__", read_only=True)
    status = serializers.CharField(read_only=True, help_text="draft, published or retired")
    run_count = serializers.IntegerField(read_only=True)
    is_frozen = serializers.SerializerMethodField(
        help_text="Published, retired or used by a run: its steps can no longer change."
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )
    recovery_specificity = serializers.CharField(read_only=True)
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = ProtocolVersion
        fields = [
            "id",
            "url",
            "protocol",
            "protocol_name",
            "number",
            "label",
            "status",
            "is_frozen",
            "run_count",
            "changes",
            "recovery_specificity",
            "sop_document",
            "created_by",
            "created_at",
            "published_at",
            "steps",
        ]
        read_only_fields = fields

    def get_is_frozen(self, version: ProtocolVersion) -> bool:
        return version.is_frozen


class ProtocolSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-isolation-protocol-detail")
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )
    cloned_from_label = serializers.SerializerMethodField()
    versions = VersionSerializer(many=True, read_only=True, help_text="Newest first.")

    class Meta:
        model = IsolationProtocol
        fields = [
            "id",
            "url",
            "name",
            "description",
            "cloned_from",
            "cloned_from_label",
            "created_by",
            "created_at",
            "versions",
        ]
        read_only_fields = fields

    def get_cloned_from_label(self, protocol: IsolationProtocol) -> str | None:
        source = protocol.cloned_from
        return str(source) if source is not None else None


# --- Protocols: writing --------------------------------------------------------------------


class StepWriteSerializer(serializers.Serializer):
    kind = StepKindField()
    title = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)
    parameters = ParametersField(required=False, default=dict)
    rotor = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Rotor id (centrifugation)."
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class ProtocolCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    changes = serializers.CharField(required=False, allow_blank=True, default="")
    recovery_specificity = RecoveryField(required=False, allow_blank=True, default="")
    steps = StepWriteSerializer(many=True, required=False, default=list)


class ProtocolUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class NewVersionSerializer(serializers.Serializer):
    from_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Version to start from (default: the newest). Its steps are copied "
        "unless steps are given.",
    )
    steps = StepWriteSerializer(many=True, required=False)
    changes = serializers.CharField(required=False, allow_blank=True, default="")


class CloneSerializer(serializers.Serializer):
    new_name = serializers.CharField(max_length=120)
    version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Version to copy (default: newest published, else newest).",
    )
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class StepsReplaceSerializer(serializers.Serializer):
    steps = StepWriteSerializer(many=True)
    changes = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    new_version = serializers.BooleanField(
        required=False,
        default=False,
        help_text="If the version is frozen, save the steps as the next version (201) "
        "instead of refusing (409).",
    )


class VersionUpdateSerializer(serializers.Serializer):
    changes = serializers.CharField(required=False, allow_blank=True)
    recovery_specificity = RecoveryField(required=False, allow_blank=True)
    # The same types and size as the page form: the API is no way round its checks.
    sop_document = serializers.FileField(
        required=False, allow_null=True, validators=[FileExtensionValidator(SOP_EXTENSIONS)]
    )

    def validate_sop_document(self, document):
        if document and document.size > MAX_SOP_BYTES:
            raise serializers.ValidationError("The SOP document is larger than 20 MB.")
        return document


class ParameterChangeSerializer(serializers.Serializer):
    name = serializers.CharField()
    old = serializers.JSONField()
    new = serializers.JSONField()


class StepDiffSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["added", "removed", "changed", "same"])
    kind_a = serializers.CharField(allow_null=True)
    kind_b = serializers.CharField(allow_null=True)
    title_a = serializers.CharField()
    title_b = serializers.CharField()
    added = serializers.DictField()
    removed = serializers.DictField()
    changed = ParameterChangeSerializer(many=True)
    other = ParameterChangeSerializer(many=True, help_text="kind, title, rotor or notes")


class VersionDiffSerializer(serializers.Serializer):
    a = serializers.IntegerField(help_text="The version compared against (?against=).")
    b = serializers.IntegerField(help_text="This version.")
    a_label = serializers.CharField()
    b_label = serializers.CharField()
    has_changes = serializers.BooleanField()
    steps = StepDiffSerializer(many=True)


class ParamSchemaSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(
        choices=["number", "int", "bool", "choice", "text", "list", "mapping"]
    )
    unit = serializers.CharField()
    required = serializers.BooleanField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    choices = serializers.ListField(child=serializers.DictField())
    item_type = serializers.CharField()
    help = serializers.CharField()
    accepts_units = serializers.ListField(child=serializers.CharField())


class StepKindSchemaSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    centrifugation = serializers.BooleanField()
    rules = serializers.ListField(child=serializers.CharField())
    parameters = ParamSchemaSerializer(many=True)


# --- Runs ----------------------------------------------------------------------------------


class RunInputWriteSerializer(serializers.Serializer):
    aliquot = TubeRefField(max_length=40, help_text="Tube id or accession.")
    volume = serializers.CharField(max_length=40, help_text="Volume used, in volume_unit.")
    volume_unit = VolumeUnitField(required=False, default="mL")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["volume_ml"] = volume_ml(attrs["volume"], attrs.get("volume_unit"))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"volume": exc.detail}) from None
        return attrs


class RunOutputWriteSerializer(serializers.Serializer):
    source_aliquot = TubeRefField(
        max_length=40,
        required=False,
        allow_null=True,
        help_text="Input tube (id or accession) it came from; or give input.",
    )
    input = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Index (from 0) of the input it came from; not needed with one input.",
    )
    nomenclature_term = NomenclatureField(help_text="MISEV2023 term.")
    author_term = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=80, help_text='e.g. "exosomes"'
    )
    fraction = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
    resuspension_buffer = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=120
    )
    volume = serializers.CharField(max_length=40, help_text="Resuspension volume, in volume_unit.")
    volume_unit = VolumeUnitField(required=False, default="mL")
    container_type = ContainerField(required=False, default=ContainerType.CRYOVIAL_2ML)
    box = serializers.IntegerField(required=False, allow_null=True, help_text="Storage box id.")
    position = PositionField(
        required=False, allow_null=True, help_text="Well, e.g. B7; empty: first free."
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["volume_ml"] = volume_ml(attrs["volume"], attrs.get("volume_unit"))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"volume": exc.detail}) from None
        if attrs.get("position") and attrs.get("box") is None:
            raise serializers.ValidationError({"box": ["Choose the box for the position."]})
        return attrs


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "object", "additionalProperties": {}},
        "description": "Step number (from 1) → {parameter: value} where the run differed "
        "from the protocol.",
        "example": {"2": {"rpm": 35000, "duration_min": 90}},
    }
)
class StepActualsField(serializers.JSONField):
    pass


class RunCreateSerializer(serializers.Serializer):
    protocol_version = serializers.IntegerField(help_text="A published protocol version.")
    inputs = RunInputWriteSerializer(many=True, allow_empty=False)
    outputs = RunOutputWriteSerializer(many=True, allow_empty=False)
    operator = serializers.IntegerField(
        required=False, allow_null=True, help_text="User id (default: you)."
    )
    started_at = AwareDateTimeField()
    ended_at = AwareDateTimeField(required=False, allow_null=True)
    step_actuals = StepActualsField(required=False, default=dict)
    deviations = serializers.CharField(required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class PreparationBriefSerializer(serializers.ModelSerializer):
    """A preparation inside a run: the tube and its MISEV description."""

    aliquot_url = serializers.HyperlinkedRelatedField(
        source="aliquot", view_name="api-aliquot-detail", read_only=True
    )
    accession = serializers.CharField(source="aliquot.accession", read_only=True)
    volume_ml = serializers.DecimalField(
        source="aliquot.volume_ml", max_digits=12, decimal_places=4, read_only=True
    )
    remaining_volume_ml = serializers.DecimalField(
        source="aliquot.remaining_volume_ml", max_digits=12, decimal_places=4, read_only=True
    )
    status = serializers.CharField(source="aliquot.status", read_only=True)
    box = serializers.IntegerField(source="aliquot.box_id", read_only=True, allow_null=True)
    box_name = serializers.CharField(source="aliquot.box.name", read_only=True, allow_null=True)
    position = serializers.CharField(source="aliquot.position", read_only=True)
    nomenclature_term = serializers.CharField(read_only=True)
    nomenclature_label = serializers.CharField(
        source="get_nomenclature_term_display", read_only=True
    )

    class Meta:
        model = EVPreparation
        fields = [
            "id",
            "aliquot",
            "aliquot_url",
            "accession",
            "nomenclature_term",
            "nomenclature_label",
            "author_term",
            "fraction",
            "resuspension_buffer",
            "resuspension_volume_ml",
            "volume_ml",
            "remaining_volume_ml",
            "status",
            "box",
            "box_name",
            "position",
        ]
        read_only_fields = fields


class RunInputSerializer(serializers.ModelSerializer):
    accession = serializers.CharField(source="aliquot.accession", read_only=True)
    remaining_volume_ml = serializers.DecimalField(
        source="aliquot.remaining_volume_ml", max_digits=12, decimal_places=4, read_only=True
    )
    preparations = PreparationBriefSerializer(many=True, read_only=True)

    class Meta:
        model = RunInput
        fields = [
            "id",
            "aliquot",
            "accession",
            "volume_used_ml",
            "remaining_volume_ml",
            "preparations",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    """List shape. Expects ``input_count``, ``input_volume_ml`` and ``preparation_count``
    annotated by the view."""

    url = serializers.HyperlinkedIdentityField(view_name="api-isolation-run-detail")
    study_code = serializers.CharField(source="study.code", read_only=True)
    protocol = serializers.IntegerField(source="protocol_version.protocol_id", read_only=True)
    protocol_name = serializers.CharField(source="protocol_version.protocol.name", read_only=True)
    version_number = serializers.IntegerField(source="protocol_version.number", read_only=True)
    operator_name = serializers.CharField(source="operator.username", read_only=True)
    input_count = serializers.IntegerField(read_only=True)
    input_volume_ml = serializers.DecimalField(
        max_digits=14, decimal_places=4, read_only=True, allow_null=True
    )
    preparation_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = IsolationRun
        fields = [
            "id",
            "url",
            "study",
            "study_code",
            "protocol",
            "protocol_name",
            "protocol_version",
            "version_number",
            "operator",
            "operator_name",
            "started_at",
            "ended_at",
            "deviations",
            "notes",
            "input_count",
            "input_volume_ml",
            "preparation_count",
            "created_at",
        ]
        read_only_fields = fields


class RunStepSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    rotor = serializers.IntegerField(allow_null=True)
    rotor_name = serializers.CharField(allow_null=True)
    planned = serializers.DictField()
    actual = serializers.DictField(help_text="Only what differed from the protocol.")


class EquivalentSerializer(serializers.Serializer):
    rotor_id = serializers.IntegerField()
    rotor_name = serializers.CharField()
    rpm = serializers.IntegerField()
    rcf_average = serializers.IntegerField()
    rcf_max = serializers.IntegerField()
    k_factor = serializers.FloatField()
    duration_min = serializers.FloatField(allow_null=True)


class RotorFiguresSerializer(serializers.Serializer):
    step_order = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    rotor_id = serializers.IntegerField()
    rotor_name = serializers.CharField()
    rpm = serializers.IntegerField()
    rcf_average = serializers.IntegerField()
    rcf_max = serializers.IntegerField()
    g_basis = serializers.CharField()
    g_force = serializers.FloatField()
    k_factor_max = serializers.FloatField()
    k_adjusted = serializers.FloatField()
    duration_min = serializers.FloatField(allow_null=True)
    equivalents = EquivalentSerializer(
        many=True, help_text="The same pelleting on each other active rotor at its max rpm."
    )


class RunDetailSerializer(RunSerializer):
    inputs = RunInputSerializer(many=True, read_only=True, help_text="Each input → its outputs.")
    step_actuals = StepActualsField(read_only=True)
    steps = serializers.SerializerMethodField()
    rotor_figures = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "step_actuals", "steps", "inputs", "rotor_figures"]
        read_only_fields = fields

    @extend_schema_field(RunStepSerializer(many=True))
    def get_steps(self, run: IsolationRun) -> list[dict[str, Any]]:
        from ..services import run_steps

        return [
            {
                "order": item.step.order,
                "kind": item.step.kind,
                "title": item.step.title,
                "rotor": item.step.rotor_id,
                "rotor_name": item.step.rotor.name if item.step.rotor else None,
                "planned": item.planned,
                "actual": item.actual,
            }
            for item in run_steps(run)
        ]

    @extend_schema_field(RotorFiguresSerializer(many=True))
    def get_rotor_figures(self, run: IsolationRun) -> list[dict[str, Any]]:
        from ..services import run_rotor_figures

        others = self.context.get("compare_rotors", ())
        return [f.as_dict() for f in run_rotor_figures(run, compare_with=others)]


class PreparationSerializer(PreparationBriefSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-ev-preparation-detail")
    study = serializers.IntegerField(source="run.study_id", read_only=True)
    study_code = serializers.CharField(source="run.study.code", read_only=True)
    protocol = serializers.IntegerField(source="run.protocol_version.protocol_id", read_only=True)
    protocol_name = serializers.CharField(
        source="run.protocol_version.protocol.name", read_only=True
    )
    protocol_version = serializers.IntegerField(source="run.protocol_version_id", read_only=True)
    version_number = serializers.IntegerField(source="run.protocol_version.number", read_only=True)
    source_aliquot = serializers.IntegerField(source="source.aliquot_id", read_only=True)
    source_accession = serializers.CharField(source="source.aliquot.accession", read_only=True)
    container_type = serializers.CharField(source="aliquot.container_type", read_only=True)

    class Meta(PreparationBriefSerializer.Meta):
        fields = [
            "id",
            "url",
            "study",
            "study_code",
            "run",
            "protocol",
            "protocol_name",
            "protocol_version",
            "version_number",
            "source_aliquot",
            "source_accession",
            *PreparationBriefSerializer.Meta.fields[1:],
            "container_type",
        ]
        read_only_fields = fields


def resolve_tubes(refs: list[str], *, user) -> dict[str, Aliquot]:
    """Tube references (ids or accessions) → tubes the user can see, in one query. Unknown
    references are simply missing; the service names them."""
    ids = {int(r) for r in refs if r.strip().isdecimal()}
    accessions = {r.strip().upper() for r in refs if r.strip() and not r.strip().isdecimal()}
    if not ids and not accessions:
        return {}
    from django.db.models import Q

    found = Aliquot.objects.visible_to(user).filter(Q(pk__in=ids) | Q(accession__in=accessions))
    by_ref: dict[str, Aliquot] = {}
    for tube in found:
        by_ref[str(tube.pk)] = tube
        by_ref[tube.accession.upper()] = tube
    return by_ref


__all__ = [
    "CloneSerializer",
    "NewVersionSerializer",
    "PreparationSerializer",
    "ProtocolCreateSerializer",
    "ProtocolSerializer",
    "ProtocolUpdateSerializer",
    "RotorConversionSerializer",
    "RotorSerializer",
    "RunCreateSerializer",
    "RunDetailSerializer",
    "RunSerializer",
    "StepKindSchemaSerializer",
    "StepsReplaceSerializer",
    "VersionDiffSerializer",
    "VersionSerializer",
    "VersionUpdateSerializer",
    "resolve_tubes",
    "step_schemas",
]
