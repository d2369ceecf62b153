"""Demo rotors, two published isolation protocols and one recorded run (development only).

Idempotent like load_demo_data (run it after that command): rotors and protocols are keyed
by name, and the demo run is recorded only once.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from assays import services
from assays.choices import NomenclatureTerm, RotorType
from assays.models import IsolationProtocol, IsolationRun, Rotor
from samples.models import Aliquot

DEMO_USERNAME = "demo"
# Radii and maximum speeds from the manufacturers' rotor manuals.
ROTORS = [
    {
        "name": "Beckman SW 41 Ti",
        "manufacturer": "Beckman Coulter",
        "rotor_type": RotorType.SWINGING_BUCKET,
        "r_min_mm": 67.4,
        "r_max_mm": 153.1,
        "max_rpm": 41000,
        "k_factor": 124,
    },
    {
        "name": "Beckman Type 70 Ti",
        "manufacturer": "Beckman Coulter",
        "rotor_type": RotorType.FIXED_ANGLE,
        "r_min_mm": 39.5,
        "r_max_mm": 91.9,
        "max_rpm": 70000,
        "k_factor": 44,
    },
]
DUC_NAME = "Differential ultracentrifugation (plasma, demo)"
SEC_NAME = "Size-exclusion chromatography qEV (demo)"


class Command(BaseCommand):
    help = (
        "Load demo rotors, isolation protocols and a run. Refused when DEBUG is off unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--if-debug", action="store_true")

    def handle(
        self, *args: Any, force: bool = False, if_debug: bool = False, **options: Any
    ) -> None:
        if not settings.DEBUG and not force:
            if if_debug:
                return
            raise CommandError("DEBUG is off: demo protocols are for development only (--force).")
        user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            raise CommandError("Run load_demo_data first (it creates the demo login).")
        # The demo user curates the lab's protocol library.
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="assays",
                codename__in=[
                    "add_isolationprotocol",
                    "change_isolationprotocol",
                    "add_rotor",
                    "change_rotor",
                ],
            )
        )
        user = get_user_model().objects.get(pk=user.pk)  # drop the cached permissions
        with transaction.atomic():
            rotors = {
                spec["name"]: Rotor.objects.get_or_create(name=spec["name"], defaults=spec)[0]
                for spec in ROTORS
            }
            duc = self._protocol(DUC_NAME, self._duc_steps(rotors["Beckman SW 41 Ti"]), user)
            self._protocol(SEC_NAME, self._sec_steps(), user)
            ran = self._run(duc, user)
        self.stdout.write(
            f"Demo protocols: {len(rotors)} rotors, 2 protocols, {'1 run recorded' if ran else 'run already there'}."
        )

    def _protocol(self, name: str, steps: list[dict], user):
        protocol = IsolationProtocol.objects.filter(name=name).first()
        if protocol is not None:
            return protocol.versions.order_by("-number").first()
        version = services.create_protocol(
            name=name, steps=steps, user=user, changes="First version."
        )
        return services.publish_version(version=version, user=user)

    @staticmethod
    def _duc_steps(rotor: Rotor) -> list[dict]:
        return [
            {
                "kind": "differential_centrifugation",
                "title": "Remove cells",
                "parameters": {
                    "g_force": 2500,
                    "g_basis": "average",
                    "duration_min": 15,
                    "temperature_c": 4,
                    "brake": False,
                },
            },
            {
                "kind": "differential_centrifugation",
                "title": "Remove large particles",
                "parameters": {
                    "g_force": 10000,
                    "g_basis": "average",
                    "duration_min": 30,
                    "temperature_c": 4,
                },
            },
            {
                "kind": "ultracentrifugation",
                "title": "Pellet small EVs",
                "rotor": rotor,
                "parameters": {
                    "rpm": 35000,
                    "duration_min": 70,
                    "temperature_c": 4,
                    "washes": 1,
                    "resuspension_buffer": "PBS",
                    "resuspension_volume_ml": {"value": 100, "unit": "µL"},
                },
            },
        ]

    @staticmethod
    def _sec_steps() -> list[dict]:
        return [
            {
                "kind": "sec",
                "title": "qEV original 70 nm",
                "parameters": {
                    "column": "qEV original 70 nm",
                    "load_volume_ml": 0.5,
                    "void_volume_ml": 3,
                    "fraction_volume_ml": 0.5,
                    "eluent": "PBS",
                },
            },
        ]

    def _run(self, version, user) -> bool:
        if IsolationRun.objects.filter(protocol_version=version).exists():
            return False
        tube = (
            Aliquot.objects.filter(
                study__code="DEMO-PLASMA", kind="aliquot", remaining_volume_ml__gte=Decimal("0.4")
            )
            .order_by("id")
            .last()
        )
        if tube is None:
            return False
        started = timezone.now() - timedelta(days=2)
        services.record_isolation_run(
            version=version,
            inputs=[(tube, Decimal("0.4"))],
            outputs=[
                {
                    "nomenclature_term": NomenclatureTerm.SMALL_EV,
                    "author_term": "exosomes",
                    "resuspension_buffer": "PBS",
                    "volume_ml": Decimal("0.1"),
                }
            ],
            user=user,
            started_at=started,
            ended_at=started + timedelta(hours=3),
            deviations="Second spin ran 5 min longer (rotor imbalance alarm).",
        )
        return True
