"""Load a small, realistic demo data set and a demo login (development only).

Idempotent: studies, donors and samples are keyed (study code, donor code, "Demo sample NN"
note) and only missing records are created, so `make run` can call it every time.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from samples import services
from samples.choices import (
    ConsentStatus,
    CultureSerum,
    FastingState,
    FluidType,
    Role,
    SampleStatus,
    SerumEVDepletion,
    Sex,
    StorageContainer,
    StorageKind,
    TubeType,
    UrineVoid,
)
from samples.models import (
    Aliquot,
    Donor,
    Sample,
    StorageUnit,
    Study,
    StudyMembership,
    next_accessions,
    sample_errors,
)

DEMO_USERNAME = "demo"
# Documented in README.md; only ever set when the demo user is first created.
DEMO_PASSWORD = "exolims-demo"
NOTE_PREFIX = "Demo sample "
# Any constant; serialises concurrent loaders (two `make run`s started together).
ADVISORY_LOCK_KEY = 0x45584F4C494D53

PLASMA_STUDY = {
    "code": "DEMO-PLASMA",
    "title": "Plasma EV biomarker pilot (demo)",
    "description": "Blood-derived EVs from a small case–control cohort: plasma in EDTA, "
    "citrate and ACD-A tubes, matched serum, whole blood, CSF and saliva.",
    "principal_investigator": "Dr. Ada Example",
    "max_freeze_thaw_cycles": 2,
}
URINE_CCM_STUDY = {
    "code": "DEMO-URINE-CCM",
    "title": "Urinary and cell-culture EV reference study (demo)",
    "description": "Urinary EVs from a kidney-disease cohort and conditioned medium from "
    "reference cell lines grown in EV-depleted or serum-free medium.",
    "principal_investigator": "Dr. Ben Sample",
    "max_freeze_thaw_cycles": None,
}

HEALTHY = "healthy control"
BREAST_CANCER = "breast cancer (MONDO:0007254)"
T2D = "type 2 diabetes mellitus (MONDO:0005148)"
CKD = "chronic kidney disease (MONDO:0005300)"

# (code, sex, birth year, conditions)
PLASMA_DONORS = [
    ("P-001", Sex.FEMALE, 1968, [BREAST_CANCER]),
    ("P-002", Sex.FEMALE, 1975, [HEALTHY]),
    ("P-003", Sex.MALE, 1959, [T2D]),
    ("P-004", Sex.MALE, 1982, [HEALTHY]),
    ("P-005", Sex.FEMALE, 1961, [BREAST_CANCER, T2D]),
    ("P-006", Sex.MALE, 1990, [HEALTHY]),
    ("P-007", Sex.FEMALE, 1972, [BREAST_CANCER]),
    ("P-008", Sex.FEMALE, 1988, [HEALTHY]),
]
URINE_DONORS = [
    ("U-001", Sex.MALE, 1955, [CKD]),
    ("U-002", Sex.FEMALE, 1963, [CKD, T2D]),
    ("U-003", Sex.MALE, 1979, [HEALTHY]),
    ("U-004", Sex.FEMALE, 1984, [HEALTHY]),
    ("U-005", Sex.MALE, 1950, [CKD]),
]

# ISEV-style plasma protocol: two 2,500 ×g spins, 15 min, room temperature, no brake.
PLASMA_SPINS = [
    {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
    {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
]
SERUM_SPINS = [{"g": 2000, "minutes": 10, "temp_c": 20, "brake": True}]
COLD_SPIN = [{"g": 2000, "minutes": 10, "temp_c": 4, "brake": True}]
CCM_SPINS = [
    {"g": 300, "minutes": 10, "temp_c": 4, "brake": True},
    {"g": 2000, "minutes": 10, "temp_c": 4, "brake": True},
]
CELL_LINES = [
    ("HEK293T (CVCL_0063)", CultureSerum.FBS, SerumEVDepletion.UC_OVERNIGHT),
    ("MDA-MB-231 (CVCL_0062)", CultureSerum.FBS, SerumEVDepletion.COMMERCIAL),
    ("MCF-7 (CVCL_0031)", CultureSerum.SERUM_FREE, SerumEVDepletion.NOT_APPLICABLE),
    ("THP-1 (CVCL_0006)", CultureSerum.FBS, SerumEVDepletion.UC_OVERNIGHT),
    ("HEK293T (CVCL_0063)", CultureSerum.SERUM_FREE, SerumEVDepletion.NOT_APPLICABLE),
]
FIRST_COLLECTION = datetime(2025, 3, 3, 8, 15, tzinfo=UTC)


def _vol(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(rng.uniform(low, high), 1)))


def demo_sample_specs() -> list[dict[str, Any]]:
    """The 50 demo samples as field values; donors are given by code ("donor_code")."""
    rng = random.Random(2026)  # fixed seed: the same values on every machine
    specs: list[dict[str, Any]] = []

    def add(study: str, fluid: str, **values: Any) -> None:
        number = len(specs) + 1
        values.setdefault("status", SampleStatus.AVAILABLE)
        values.setdefault("storage_temp_c", -80)
        specs.append(
            {
                "key": f"{number:02d}",
                "study_code": study,
                "fluid_type": fluid,
                "collected_at": FIRST_COLLECTION + timedelta(days=3 * number, minutes=7 * number),
                **values,
            }
        )

    plasma = PLASMA_STUDY["code"]
    tubes = [TubeType.K2_EDTA, TubeType.K2_EDTA, TubeType.CITRATE, TubeType.ACD_A]
    for index in range(24):
        donor_code = PLASMA_DONORS[index % len(PLASMA_DONORS)][0]
        fasting = index % 3 != 2
        add(
            plasma,
            FluidType.PLASMA,
            donor_code=donor_code,
            tube_type=tubes[index % len(tubes)],
            fasting_state=FastingState.FASTING if fasting else FastingState.NON_FASTING,
            fasting_hours=round(rng.uniform(10, 13), 1) if fasting else None,
            time_to_processing_min=rng.randrange(25, 115, 5),
            processing_temp_c=21,
            centrifugation_steps=PLASMA_SPINS,
            post_centrifugation_delay_min=rng.randrange(15, 55, 5),
            post_centrifugation_temp_c=20,
            haemolysis_a414=round(rng.uniform(0.08, 0.32), 3),
            residual_platelets_per_ml=float(rng.randrange(2, 90)) * 1e6,
            volume_ml=_vol(rng, 1.0, 4.5),
            storage_container=StorageContainer.CRYOTUBE,
            status=SampleStatus.RESERVED if index in {5, 17} else SampleStatus.AVAILABLE,
            notes="Double-spun platelet-poor plasma."
            + (" Slightly pink after first spin." if index == 9 else ""),
        )
    for index in range(6):
        add(
            plasma,
            FluidType.SERUM,
            donor_code=PLASMA_DONORS[index][0],
            tube_type=TubeType.SERUM_CLOT_ACTIVATOR,
            fasting_state=FastingState.FASTING,
            fasting_hours=12,
            time_to_processing_min=rng.randrange(30, 60, 5),
            processing_temp_c=21,
            centrifugation_steps=SERUM_SPINS,
            post_centrifugation_delay_min=30,
            post_centrifugation_temp_c=20,
            free_haemoglobin_g_l=round(rng.uniform(0.05, 0.3), 2),
            volume_ml=_vol(rng, 1.0, 2.5),
            storage_container=StorageContainer.PP_TUBE,
            notes="Clotted 30 min upright before spinning.",
        )
    for index in range(3):
        add(
            plasma,
            FluidType.WHOLE_BLOOD,
            donor_code=PLASMA_DONORS[index + 2][0],
            tube_type=TubeType.K2_EDTA,
            time_to_processing_min=20,
            processing_temp_c=21,
            centrifugation_steps=[],
            volume_ml=Decimal("2.0"),
            storage_container=StorageContainer.PP_TUBE,
            status=SampleStatus.CONSUMED if index == 0 else SampleStatus.AVAILABLE,
            notes="Whole blood kept for RNA; not centrifuged.",
        )
    for index in range(2):
        add(
            plasma,
            FluidType.CSF,
            donor_code=PLASMA_DONORS[index * 3][0],
            tube_type=TubeType.PP_STERILE,
            time_to_processing_min=30,
            processing_temp_c=4,
            centrifugation_steps=COLD_SPIN,
            post_centrifugation_delay_min=20,
            post_centrifugation_temp_c=4,
            volume_ml=_vol(rng, 0.8, 1.5),
            storage_container=StorageContainer.PP_TUBE_SMALL,
            notes="Lumbar puncture, low-binding tube.",
        )
    for index in range(2):
        add(
            plasma,
            FluidType.SALIVA,
            donor_code=PLASMA_DONORS[index + 5][0],
            tube_type=TubeType.PP_STERILE,
            time_to_processing_min=45,
            processing_temp_c=4,
            centrifugation_steps=COLD_SPIN,
            post_centrifugation_delay_min=15,
            post_centrifugation_temp_c=4,
            volume_ml=_vol(rng, 1.0, 2.0),
            storage_container=StorageContainer.PP_TUBE,
            notes="Unstimulated whole saliva, passive drool.",
        )

    urine = URINE_CCM_STUDY["code"]
    voids = [UrineVoid.SECOND_MORNING, UrineVoid.FIRST_MORNING, UrineVoid.RANDOM]
    for index in range(8):
        add(
            urine,
            FluidType.URINE,
            donor_code=URINE_DONORS[index % len(URINE_DONORS)][0],
            urine_void_type=voids[index % len(voids)],
            tube_type=TubeType.PROTEASE_INHIBITOR if index % 2 else TubeType.PP_STERILE,
            time_to_processing_min=rng.randrange(60, 120, 10),
            processing_temp_c=4,
            centrifugation_steps=COLD_SPIN,
            post_centrifugation_delay_min=30,
            post_centrifugation_temp_c=4,
            creatinine_mmol_l=round(rng.uniform(3.0, 18.0), 1),
            volume_ml=_vol(rng, 20, 50),
            storage_container=StorageContainer.PP_TUBE_LARGE,
            notes="Midstream, cell debris removed at 2,000 ×g.",
        )
    for index, (cell_line, serum, depletion) in enumerate(CELL_LINES):
        add(
            urine,
            FluidType.CONDITIONED_MEDIUM,
            donor_code=None,
            tube_type=TubeType.PP_STERILE,
            cell_line=cell_line,
            passage_number=8 + 3 * index,
            culture_serum=serum,
            serum_ev_depletion=depletion,
            conditioning_hours=48 if index % 2 == 0 else 24,
            viability_at_harvest_pct=round(rng.uniform(88, 97), 1),
            time_to_processing_min=15,
            processing_temp_c=20,
            centrifugation_steps=CCM_SPINS,
            post_centrifugation_delay_min=30,
            post_centrifugation_temp_c=4,
            volume_ml=_vol(rng, 30, 90),
            storage_container=StorageContainer.PP_TUBE_LARGE,
            notes="Medium conditioned at about 80% confluence.",
        )
    return specs


class Command(BaseCommand):
    help = (
        "Create the demo user (demo / exolims-demo) and two demo studies with donors and "
        "50 samples. Safe to run repeatedly. Refused when DEBUG is off unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even though DEBUG is off (never do this on a production database).",
        )
        parser.add_argument(
            "--if-debug",
            action="store_true",
            help="With DEBUG off, skip quietly instead of failing (used by `make run`).",
        )

    def handle(
        self, *args: Any, force: bool = False, if_debug: bool = False, **options: Any
    ) -> None:
        if not settings.DEBUG and not force and if_debug:
            self.stdout.write("DEBUG is off: no demo data and no demo login.")
            return
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: demo data and the demo login (with a published password) are "
                "for development only. Use --force to load them anyway."
            )
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
            user, user_created = self._demo_user()
            studies = self._studies(user)
            donors = self._donors(studies)
            created = self._samples(studies, donors, user)
            tubes = self._storage_and_tubes(studies, user)

        total = Sample.objects.filter(study__in=studies.values()).count()
        self.stdout.write(
            f"Demo data: {len(studies)} studies, {len(donors)} donors, {total} samples "
            f"({created} added now), {tubes} tubes added to the demo freezer."
        )
        if user_created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo login created: username {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r}"
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo login: username {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r} "
                    "(unless you changed it)"
                )
            )

    def _demo_user(self):
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={"first_name": "Demo", "last_name": "User", "email": "demo@example.org"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        return user, created

    def _studies(self, user) -> dict[str, Study]:
        studies = {}
        for values in (PLASMA_STUDY, URINE_CCM_STUDY):
            defaults = {key: value for key, value in values.items() if key != "code"}
            study, _ = Study.objects.get_or_create(code=values["code"], defaults=defaults)
            studies[study.code] = study
        existing = set(
            StudyMembership.objects.filter(user=user, study__in=studies.values()).values_list(
                "study_id", flat=True
            )
        )
        StudyMembership.objects.bulk_create(
            [
                StudyMembership(study=study, user=user, role=Role.MANAGER)
                for study in studies.values()
                if study.pk not in existing
            ]
        )
        return studies

    def _donors(self, studies: dict[str, Study]) -> dict[str, Donor]:
        wanted = [(PLASMA_STUDY["code"], spec) for spec in PLASMA_DONORS] + [
            (URINE_CCM_STUDY["code"], spec) for spec in URINE_DONORS
        ]
        existing = {
            (donor.study_id, donor.code): donor
            for donor in Donor.objects.filter(study__in=studies.values())
        }
        new = []
        for index, (study_code, (code, sex, birth_year, conditions)) in enumerate(wanted):
            study = studies[study_code]
            if (study.pk, code) in existing:
                continue
            donor = Donor(
                study=study,
                code=code,
                sex=sex,
                birth_year=birth_year,
                conditions=conditions,
                consent_status=ConsentStatus.GIVEN,
                consent_date=date(2025, 1, 6) + timedelta(days=4 * index),
            )
            # Field checks and Donor.clean(); uniqueness is settled by the lookup above.
            donor.clean_fields(exclude=["study"])
            donor.clean()
            new.append(donor)
        Donor.objects.bulk_create(new)
        donors = {donor.code: donor for donor in Donor.objects.filter(study__in=studies.values())}
        return donors

    def _samples(self, studies: dict[str, Study], donors: dict[str, Donor], user) -> int:
        done = {
            note[len(NOTE_PREFIX) : len(NOTE_PREFIX) + 2]
            for note in Sample.objects.filter(
                study__in=studies.values(), notes__startswith=NOTE_PREFIX
            ).values_list("notes", flat=True)
        }
        new = []
        for spec in demo_sample_specs():
            values = dict(spec)
            key = values.pop("key")
            if key in done:
                continue
            study = studies[values.pop("study_code")]
            donor_code = values.pop("donor_code")
            values["notes"] = f"{NOTE_PREFIX}{key}. {values.get('notes', '')}".strip()
            sample = Sample(
                study=study,
                donor=donors[donor_code] if donor_code else None,
                created_by=user,
                **values,
            )
            errors = sample_errors(sample)
            if errors:  # the specs above are wrong: fail loudly rather than load bad data
                raise CommandError(f"Demo sample {key} is invalid: {errors}")
            new.append(sample)
        for sample, accession in zip(new, next_accessions(len(new)), strict=True):
            sample.accession = accession
            sample.sprec_code = sample.compute_sprec()
        Sample.objects.bulk_create(new)
        return len(new)

    def _storage_and_tubes(self, studies: dict[str, Study], user) -> int:
        """A −80 °C freezer with two boxes, and aliquots of a few samples placed in them."""

        def unit(parent, kind, name, **extra):
            found, _ = StorageUnit.objects.get_or_create(
                parent=parent, name=name, defaults={"kind": kind, **extra}
            )
            return found

        site = unit(None, StorageKind.SITE, "Demo Institute")
        room = unit(site, StorageKind.ROOM, "Lab 2.14")
        freezer = unit(room, StorageKind.FREEZER, "ULT-1", set_temperature_c=-80)
        rack = unit(freezer, StorageKind.RACK, "Rack A")
        boxes = {
            "DEMO-PLASMA": unit(rack, StorageKind.BOX, "Plasma box 1", rows=9, columns=9),
            "DEMO-URINE-CCM": unit(rack, StorageKind.BOX, "Urine box 1", rows=10, columns=10),
        }
        plan = {
            "DEMO-PLASMA": ("plasma", 6, ["0.5"] * 4),
            "DEMO-URINE-CCM": ("urine", 3, ["1"] * 2),
        }
        already = set(Aliquot.objects.values_list("sample_id", flat=True).distinct())
        made: list[Aliquot] = []
        for code, (fluid, count, volumes) in plan.items():
            candidates = Sample.objects.filter(study=studies[code], fluid_type=fluid).order_by("id")
            for sample in candidates[:count]:
                if sample.pk in already or not sample.volume_ml:
                    continue
                made += services.split_into_aliquots(
                    source=sample,
                    volumes_ml=[Decimal(v) for v in volumes],
                    user=user,
                    box=boxes[code],
                )
        if made:
            # One tube with a thaw–freeze cycle behind it, so the count shows.
            tube = made[0]
            services.check_out(aliquot=tube, user=user, note="NTA measurement")
            services.record_thaw(aliquot=tube, user=user, temperature_c=20)
            services.record_freeze(aliquot=tube, user=user, temperature_c=-80)
            services.check_in(aliquot=tube, user=user)
        return len(made)
