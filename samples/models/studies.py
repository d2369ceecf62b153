"""Studies, who may see them, donors and the body-fluid samples collected from them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connection, models, transaction
from django.urls import reverse
from django.utils import timezone

from ..choices import (
    ANTICOAGULANT_TUBES,
    BLOOD_FLUIDS,
    SERUM_TUBES,
    UBERON_IDS,
    ComplianceProfile,
    ConsentStatus,
    CultureSerum,
    FastingState,
    FluidType,
    Role,
    SampleStatus,
    SerumEVDepletion,
    Sex,
    Species,
    StorageContainer,
    TubeType,
    UrineVoid,
    roles_at_least,
)
from ..sprec import derive_sprec

ACCESSION_PREFIX = "EXO-"
ACCESSION_SEQUENCE = "samples_accession_seq"
# Clocks on lab PCs drift; a collection a few minutes "in the future" is not an error.
FUTURE_TOLERANCE = timedelta(minutes=5)


def next_accessions(count: int) -> list[str]:
    """Reserve ``count`` accessions from a PostgreSQL sequence: unique and never reused,
    even when the transaction that drew them rolls back."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval('{ACCESSION_SEQUENCE}') FROM generate_series(1, %s)", [count]
        )
        return [f"{ACCESSION_PREFIX}{n:06d}" for (n,) in cursor.fetchall()]


class StudyScopedQuerySet(models.QuerySet):
    """Querysets for records that belong to a study; ``study_path`` leads to the Study."""

    study_path = "study"

    def visible_to(self, user) -> StudyScopedQuerySet:
        return self._with_role(user, Role.VIEWER)

    def editable_by(self, user) -> StudyScopedQuerySet:
        return self._with_role(user, Role.EDITOR)

    def managed_by(self, user) -> StudyScopedQuerySet:
        return self._with_role(user, Role.MANAGER)

    def _with_role(self, user, role: str) -> StudyScopedQuerySet:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        study_ids = StudyMembership.objects.filter(user=user, role__in=roles_at_least(role)).values(
            "study_id"
        )
        field = "id" if self.study_path == "" else f"{self.study_path}_id"
        return self.filter(**{f"{field}__in": study_ids})


class StudyQuerySet(StudyScopedQuerySet):
    study_path = ""


@pghistory.track(model_name="StudyHistory")
class Study(models.Model):
    """A research study: the unit of access control. Users see only studies they belong to."""

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                "Use letters, digits, '.', '_' or '-', starting with a letter or digit.",
            )
        ],
        help_text="Short unique code, e.g. PLASMA-EV-2026.",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    principal_investigator = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    compliance_profile = models.CharField(
        max_length=12,
        choices=ComplianceProfile.choices,
        default=ComplianceProfile.MISEV2018,
        help_text="The reporting standard this study's EV preparations are checked against.",
    )
    purity_min_particles_per_ug = models.FloatField(
        "purity cut-off (particles/µg)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1.0)],
        help_text="Preparations below this particle:protein ratio are flagged (empty: the rule's).",
    )
    max_freeze_thaw_cycles = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Tubes thawed more often than this are flagged (leave empty for no limit).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("samples:study-detail", args=[self.pk])

    def role_of(self, user) -> str | None:
        """The user's role in this study (superusers act as managers), or None."""
        if not getattr(user, "is_authenticated", False):
            return None
        if user.is_superuser:
            return Role.MANAGER
        membership = self.memberships.filter(user=user).only("role").first()
        return membership.role if membership else None


class StudyMembershipQuerySet(StudyScopedQuerySet):
    pass


@pghistory.track(model_name="StudyMembershipHistory")
class StudyMembership(models.Model):
    """A user's role in a study: viewer < editor < manager."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["study__code", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "user"],
                name="samples_studymembership_unique_study_user",
                violation_error_message="This user is already a member of the study.",
            )
        ]
        indexes = [models.Index(fields=["user", "role"], name="samples_membership_user_role")]

    def __str__(self) -> str:
        return f"{self.user} – {self.study} ({self.role})"


class DonorQuerySet(StudyScopedQuerySet):
    pass


@pghistory.track(model_name="DonorHistory")
class Donor(models.Model):
    """A pseudonymised donor. Deliberately has no field for names or direct identifiers."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="donors")
    code = models.CharField(
        max_length=64,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$",
                "A pseudonymous code: letters, digits, '.', '_', '-' or '/', no spaces.",
            )
        ],
        help_text="Pseudonymous code, unique within the study. Never a name.",
    )
    species = models.CharField(max_length=32, choices=Species.choices, default=Species.HUMAN)
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900)]
    )
    age_at_collection = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(130)],
        help_text="Age in years when the birth year may not be recorded.",
    )
    conditions = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        help_text="Health status or diagnoses (free text or MONDO/DOID ids).",
    )
    consent_status = models.CharField(
        max_length=16, choices=ConsentStatus.choices, default=ConsentStatus.PENDING
    )
    consent_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DonorQuerySet.as_manager()

    class Meta:
        ordering = ["study_id", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "code"],
                name="samples_donor_unique_study_code",
                violation_error_message="A donor with this code already exists in the study.",
            )
        ]
        indexes = [
            models.Index(fields=["study", "consent_status"], name="samples_donor_study_consent"),
        ]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("samples:donor-detail", args=[self.pk])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        this_year = timezone.now().year
        if self.birth_year is not None and self.birth_year > this_year:
            errors["birth_year"] = "Birth year cannot be in the future."
        if self.consent_date and self.consent_date > timezone.localdate():
            errors["consent_date"] = "Consent date cannot be in the future."
        if (
            self.consent_status in {ConsentStatus.GIVEN, ConsentStatus.WITHDRAWN}
            and not self.consent_date
        ):
            errors["consent_date"] = "Record the date consent was given or withdrawn."
        self.conditions = [c.strip() for c in self.conditions or [] if c and c.strip()]
        if errors:
            raise ValidationError(errors)


class SampleQuerySet(StudyScopedQuerySet):
    pass


@pghistory.track(model_name="SampleHistory")
class Sample(models.Model):
    """One collected body fluid with its pre-analytical variables.

    Volumes are stored in mL, temperatures in °C, durations in minutes. The SPREC code is
    derived from the fields on every save and never typed in.
    """

    accession = models.CharField(max_length=20, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="samples")
    donor = models.ForeignKey(
        Donor, on_delete=models.PROTECT, related_name="samples", null=True, blank=True
    )
    fluid_type = models.CharField(max_length=32, choices=FluidType.choices)
    collected_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=SampleStatus.choices, default=SampleStatus.AVAILABLE
    )
    volume_ml = models.DecimalField(
        "volume (mL)", max_digits=12, decimal_places=4, null=True, blank=True
    )
    # Only services that hold a row lock change it (aliquoting, isolation runs).
    remaining_volume_ml = models.DecimalField(
        "remaining volume (mL)",
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        editable=False,
    )

    # Collection and pre-analytics (EV-DOMAIN §1.3; SPREC positions 2–6)
    tube_type = models.CharField(max_length=32, choices=TubeType.choices, blank=True)
    fasting_state = models.CharField(
        max_length=16, choices=FastingState.choices, default=FastingState.UNKNOWN
    )
    fasting_hours = models.FloatField(null=True, blank=True)
    time_to_processing_min = models.PositiveIntegerField(
        "time to first processing (min)", null=True, blank=True
    )
    processing_temp_c = models.FloatField(
        "temperature until processing (°C)", null=True, blank=True
    )
    centrifugation_steps = models.JSONField(
        null=True,
        blank=True,
        help_text='Ordered spins: [{"g": 2500, "minutes": 15, "temp_c": 20, "brake": false}]. '
        "Empty list: not centrifuged; empty: not recorded.",
    )
    post_centrifugation_delay_min = models.PositiveIntegerField(
        "delay from last spin to storage (min)", null=True, blank=True
    )
    post_centrifugation_temp_c = models.FloatField(
        "temperature during that delay (°C)", null=True, blank=True
    )

    # Blood quality
    haemolysis_a414 = models.FloatField("haemolysis A414", null=True, blank=True)
    free_haemoglobin_g_l = models.FloatField("free haemoglobin (g/L)", null=True, blank=True)
    residual_platelets_per_ml = models.FloatField("residual platelets (/mL)", null=True, blank=True)

    # Urine
    urine_void_type = models.CharField(max_length=16, choices=UrineVoid.choices, blank=True)
    creatinine_mmol_l = models.FloatField("creatinine (mmol/L)", null=True, blank=True)

    # Conditioned cell-culture medium
    cell_line = models.CharField(
        max_length=120, blank=True, help_text="Name and Cellosaurus id, e.g. HEK293T (CVCL_0063)."
    )
    passage_number = models.PositiveIntegerField(null=True, blank=True)
    culture_serum = models.CharField(max_length=16, choices=CultureSerum.choices, blank=True)
    serum_ev_depletion = models.CharField(
        max_length=16, choices=SerumEVDepletion.choices, blank=True
    )
    conditioning_hours = models.FloatField(null=True, blank=True)
    viability_at_harvest_pct = models.FloatField("viability at harvest (%)", null=True, blank=True)

    # Storage
    storage_temp_c = models.FloatField("storage temperature (°C)", null=True, blank=True)
    storage_container = models.CharField(
        max_length=24, choices=StorageContainer.choices, blank=True
    )

    notes = models.TextField(blank=True)
    sprec_code = models.CharField(max_length=32, editable=False, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SampleQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The list API filters by study (+ fluid type/status) and pages by id: keyset scans.
            models.Index(
                fields=["study", "fluid_type", "id"], name="samples_sample_study_fluid_id"
            ),
            models.Index(fields=["study", "status", "id"], name="samples_sample_study_status_id"),
            models.Index(fields=["study", "collected_at"], name="samples_sample_study_collected"),
            models.Index(fields=["donor", "id"], name="samples_sample_donor_id"),
            models.Index(fields=["fluid_type", "id"], name="samples_sample_fluid_id"),
            models.Index(fields=["collected_at"], name="samples_sample_collected"),
            GinIndex(
                fields=["notes"], name="samples_sample_notes_trgm", opclasses=["gin_trgm_ops"]
            ),
            GinIndex(
                fields=["accession"], name="samples_sample_acc_trgm", opclasses=["gin_trgm_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(volume_ml__isnull=True) | models.Q(volume_ml__gt=0),
                name="samples_sample_volume_positive",
                violation_error_message="Volume must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=models.Q(remaining_volume_ml__isnull=True)
                | models.Q(
                    remaining_volume_ml__gte=0, remaining_volume_ml__lte=models.F("volume_ml")
                ),
                name="samples_sample_remaining_within_volume",
                violation_error_message="Remaining volume must be between 0 and the volume.",
            ),
        ]
        triggers = [
            # Every way in (ORM, bulk_create, COPY imports, raw SQL) starts with nothing withdrawn.
            pgtrigger.Trigger(
                name="sample_remaining_defaults_to_volume",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func="IF NEW.remaining_volume_ml IS NULL THEN "
                "NEW.remaining_volume_ml := NEW.volume_ml; END IF; RETURN NEW;",
            )
        ]

    def __str__(self) -> str:
        return self.accession or "(new sample)"

    def get_absolute_url(self) -> str:
        return reverse("samples:sample-detail", args=[self.pk])

    @property
    def uberon_id(self) -> str | None:
        return UBERON_IDS.get(self.fluid_type)

    def compute_sprec(self) -> str:
        return derive_sprec(
            fluid_type=self.fluid_type,
            tube_type=self.tube_type or None,
            centrifugation_steps=self.centrifugation_steps,
            time_to_processing_min=self.time_to_processing_min,
            processing_temp_c=self.processing_temp_c,
            post_centrifugation_delay_min=self.post_centrifugation_delay_min,
            post_centrifugation_temp_c=self.post_centrifugation_temp_c,
            storage_container=self.storage_container or None,
            storage_temp_c=self.storage_temp_c,
            urine_void_type=self.urine_void_type or None,
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.accession:
            self.accession = next_accessions(1)[0]
        self.sprec_code = self.compute_sprec()
        update_fields = kwargs.get("update_fields")
        if self._state.adding:
            if self.remaining_volume_ml is None:
                self.remaining_volume_ml = self.volume_ml
            super().save(*args, **kwargs)
            return
        if update_fields is None:
            # A form or API edit must not write back a remaining volume it read earlier:
            # a withdrawal may have happened since. Only _rebase_remaining touches it.
            update_fields = {f.attname for f in self._meta.concrete_fields if not f.primary_key} - {
                "remaining_volume_ml"
            }
        kwargs["update_fields"] = {*update_fields, "sprec_code", "updated_at"}
        with transaction.atomic():
            if "volume_ml" in kwargs["update_fields"]:
                self._rebase_remaining()
                kwargs["update_fields"].add("remaining_volume_ml")
            super().save(*args, **kwargs)

    def _rebase_remaining(self) -> None:
        """A corrected volume keeps what was already withdrawn withdrawn."""
        current = (
            Sample.objects.select_for_update()
            .only("volume_ml", "remaining_volume_ml")
            .get(pk=self.pk)
        )
        if current.volume_ml is None or current.remaining_volume_ml is None:
            self.remaining_volume_ml = self.volume_ml
            return
        withdrawn = current.volume_ml - current.remaining_volume_ml
        if self.volume_ml is None:
            if withdrawn:
                raise ValidationError(
                    {
                        "volume_ml": "Volume has been withdrawn from this sample; it cannot be cleared."
                    }
                )
            self.remaining_volume_ml = None
            return
        if self.volume_ml < withdrawn:
            raise ValidationError(
                {
                    "volume_ml": f"{withdrawn.normalize():f} mL has already been withdrawn; the volume cannot be less."
                }
            )
        self.remaining_volume_ml = self.volume_ml - withdrawn

    def validate_constraints(self, exclude: Any = None) -> None:
        # The remaining volume is maintained under a row lock in save(); checking it against
        # a volume being edited would compare with a stale copy.
        super().validate_constraints(exclude={*(exclude or ()), "remaining_volume_ml"})

    def clean(self) -> None:
        errors = sample_errors(self)
        if errors:
            raise ValidationError(errors)


def _clean_spins(steps: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Normalise centrifugation steps; return (steps, error message)."""
    if steps is None:
        return None, None
    if not isinstance(steps, list):
        return None, "Give the centrifugation steps as a list of spins."
    cleaned = []
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            return None, f"Spin {number}: give g, minutes, temp_c and brake."
        unknown = set(step) - {"g", "minutes", "temp_c", "brake", "rotor", "g_basis"}
        if unknown:
            return None, f"Spin {number}: unknown field(s) {', '.join(sorted(unknown))}."
        try:
            g = float(step["g"])
            minutes = float(step["minutes"])
            temp_c = float(step["temp_c"])
        except KeyError as exc:
            return None, f"Spin {number}: {exc.args[0]} is required."
        except (TypeError, ValueError):
            return None, f"Spin {number}: g, minutes and temp_c must be numbers."
        if not 0 < g <= 1_500_000:
            return None, f"Spin {number}: g must be between 0 and 1,500,000 ×g."
        if not 0 < minutes <= 24 * 60 * 3:
            return None, f"Spin {number}: minutes must be positive (at most 3 days)."
        if not -30 <= temp_c <= 45:
            return None, f"Spin {number}: temperature must be between -30 and 45 °C."
        brake = step.get("brake")
        if brake is not None and not isinstance(brake, bool):
            return None, f"Spin {number}: brake must be true, false or left out."
        item: dict[str, Any] = {"g": g, "minutes": minutes, "temp_c": temp_c, "brake": brake}
        if step.get("rotor"):
            item["rotor"] = str(step["rotor"])[:80]
        if step.get("g_basis"):
            if step["g_basis"] not in {"average", "max"}:
                return None, f"Spin {number}: g_basis must be 'average' or 'max'."
            item["g_basis"] = step["g_basis"]
        cleaned.append(item)
    return cleaned, None


# TextChoices.values builds a new list on every access; manifest import validates 100k rows.
_FLUID_TYPES = frozenset(FluidType.values)
_TUBE_TYPES = frozenset(TubeType.values)


def sample_errors(sample: Sample, *, donor_study_id: int | None = None) -> dict[str, str]:
    """Field-level validation for a sample, shared by forms, the API and manifest import.

    Needs no database access (the caller passes ``donor_study_id`` when the donor object is
    not loaded), so a 100,000-row manifest validates at memory speed.
    """
    errors: dict[str, str] = {}
    fluid = sample.fluid_type
    if fluid not in _FLUID_TYPES:
        errors["fluid_type"] = f"Unknown fluid type {fluid!r}."
        return errors

    if sample.collected_at is not None:
        if timezone.is_naive(sample.collected_at):
            errors["collected_at"] = "Give the time zone of the collection time."
        elif sample.collected_at > timezone.now() + FUTURE_TOLERANCE:
            errors["collected_at"] = "Collection time cannot be in the future."
    if sample.volume_ml is not None and Decimal(sample.volume_ml) <= 0:
        errors["volume_ml"] = "Volume must be greater than zero."

    if sample.donor_id is None and fluid != FluidType.CONDITIONED_MEDIUM:
        errors["donor"] = "A donor is required (only conditioned cell-culture medium has none)."
    if sample.donor_id is not None:
        study_of_donor = donor_study_id
        if study_of_donor is None and sample.donor is not None:
            study_of_donor = sample.donor.study_id
        if study_of_donor is not None and study_of_donor != sample.study_id:
            errors["donor"] = "The donor belongs to another study."

    tube = sample.tube_type
    if tube and tube not in _TUBE_TYPES:
        errors["tube_type"] = f"Unknown tube type {tube!r}."
    elif fluid == FluidType.PLASMA and tube not in ANTICOAGULANT_TUBES and tube != TubeType.UNKNOWN:
        errors["tube_type"] = (
            "Plasma needs the anticoagulant tube it was drawn into (e.g. K2-EDTA, citrate)."
        )
    elif (
        fluid == FluidType.SERUM
        and tube
        and tube not in SERUM_TUBES | {TubeType.UNKNOWN, TubeType.OTHER}
    ):
        errors["tube_type"] = "Serum is collected in a serum tube (with or without clot activator)."
    elif fluid == FluidType.SERUM and not tube:
        errors["tube_type"] = "Record the serum tube type."
    elif fluid == FluidType.WHOLE_BLOOD and not tube:
        errors["tube_type"] = "Record the blood collection tube."

    steps, spin_error = _clean_spins(sample.centrifugation_steps)
    if spin_error:
        errors["centrifugation_steps"] = spin_error
    else:
        sample.centrifugation_steps = steps

    if sample.processing_temp_c is not None and not -30 <= sample.processing_temp_c <= 45:
        errors["processing_temp_c"] = "Temperature until processing must be between -30 and 45 °C."
    if (
        sample.post_centrifugation_temp_c is not None
        and not -30 <= sample.post_centrifugation_temp_c <= 45
    ):
        errors["post_centrifugation_temp_c"] = "Temperature must be between -30 and 45 °C."
    if sample.fasting_hours is not None:
        if not 0 <= sample.fasting_hours <= 72:
            errors["fasting_hours"] = "Fasting hours must be between 0 and 72."
    if sample.storage_temp_c is not None and not -200 <= sample.storage_temp_c <= 40:
        errors["storage_temp_c"] = "Storage temperature must be between -200 and 40 °C."

    blood = fluid in BLOOD_FLUIDS
    for name, low, high in (
        ("haemolysis_a414", 0, 5),
        ("free_haemoglobin_g_l", 0, 50),
        ("residual_platelets_per_ml", 0, 1e12),
    ):
        value = getattr(sample, name)
        if value is None:
            continue
        if not blood:
            errors[name] = "Only recorded for blood-derived samples (plasma, serum, whole blood)."
        elif not low <= value <= high:
            errors[name] = f"Must be between {low:g} and {high:g}."

    if fluid == FluidType.URINE:
        if not sample.urine_void_type:
            errors["urine_void_type"] = "Urine needs its void type (random, first morning, …)."
    else:
        if sample.urine_void_type:
            errors["urine_void_type"] = "Only recorded for urine."
        if sample.creatinine_mmol_l is not None:
            errors["creatinine_mmol_l"] = "Only recorded for urine."
    if sample.creatinine_mmol_l is not None and not 0 < sample.creatinine_mmol_l <= 100:
        errors.setdefault("creatinine_mmol_l", "Creatinine must be between 0 and 100 mmol/L.")

    culture_fields = (
        "cell_line",
        "passage_number",
        "culture_serum",
        "serum_ev_depletion",
        "conditioning_hours",
        "viability_at_harvest_pct",
    )
    if fluid == FluidType.CONDITIONED_MEDIUM:
        if not sample.cell_line:
            errors["cell_line"] = "Conditioned medium needs the cell line."
        if (
            sample.culture_serum
            and sample.culture_serum != CultureSerum.SERUM_FREE
            and not sample.serum_ev_depletion
        ):
            errors["serum_ev_depletion"] = "Say whether the serum was EV-depleted, and how."
        if sample.conditioning_hours is not None and not 0 < sample.conditioning_hours <= 24 * 30:
            errors["conditioning_hours"] = "Conditioning time must be positive (at most 30 days)."
        if (
            sample.viability_at_harvest_pct is not None
            and not 0 <= sample.viability_at_harvest_pct <= 100
        ):
            errors["viability_at_harvest_pct"] = "Viability is a percentage (0–100)."
    else:
        for name in culture_fields:
            if getattr(sample, name) not in (None, ""):
                errors[name] = "Only recorded for conditioned cell-culture medium."
    return errors
