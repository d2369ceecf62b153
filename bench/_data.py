"""Synthetic but realistic sample rows for the benchmarks: a mix of fluid types with the
pre-analytical fields a lab would record for each."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

_COMMON = {
    "time_to_processing_min": "45",
    "processing_temp_c": "21",
    "post_centrifugation_delay_min": "30",
    "post_centrifugation_temp_c": "20",
    "storage_temp_c": "-80",
    "storage_container": "cryotube",
    "fasting_state": "fasting",
    "fasting_hours": "10",
}


def _spins(*spins: tuple[int, int, int, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, (g, minutes, temp, brake) in enumerate(spins, start=1):
        out |= {
            f"spin{n}_g": str(g),
            f"spin{n}_minutes": str(minutes),
            f"spin{n}_temp_c": str(temp),
            f"spin{n}_brake": brake,
        }
    return out


# (fluid type, weight, manifest values)
PROFILES: list[tuple[str, int, dict[str, str]]] = [
    (
        "plasma",
        40,
        _COMMON
        | _spins((2500, 15, 20, "no"), (2500, 15, 20, "no"))
        | {"tube_type": "k2_edta", "haemolysis_a414": "0.12"},
    ),
    (
        "serum",
        20,
        _COMMON | _spins((2000, 10, 20, "yes")) | {"tube_type": "serum_clot_activator"},
    ),
    (
        "urine",
        20,
        _COMMON
        | _spins((2000, 10, 4, "yes"))
        | {
            "tube_type": "pp_sterile",
            "urine_void_type": "first_morning",
            "creatinine_mmol_l": "8.5",
            "storage_container": "pp_0_5_2ml",
        },
    ),
    ("csf", 10, _COMMON | _spins((400, 10, 4, "yes")) | {"tube_type": "pp_sterile"}),
    ("saliva", 5, _COMMON | {"tube_type": "pp_sterile", "not_centrifuged": "yes"}),
    (
        "conditioned_medium",
        5,
        {
            "cell_line": "HEK293T (CVCL_0063)",
            "passage_number": "12",
            "culture_serum": "fbs",
            "serum_ev_depletion": "uc_18h",
            "conditioning_hours": "48",
            "viability_at_harvest_pct": "95",
            "storage_temp_c": "-80",
            "storage_container": "pp_5ml_plus",
            "not_centrifuged": "no",
        },
    ),
]
FLUIDS = [fluid for fluid, _, _ in PROFILES]
WEIGHTS = [weight for _, weight, _ in PROFILES]
BASE_TIME = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def manifest_rows(
    count: int, *, donor_codes: Sequence[str], seed: int = 42
) -> Iterator[dict[str, str]]:
    """``count`` manifest rows (dicts keyed by manifest column) for the given donors."""
    rng = random.Random(seed)
    profiles = {fluid: values for fluid, _, values in PROFILES}
    fluids = rng.choices(FLUIDS, WEIGHTS, k=count)
    for i, fluid in enumerate(fluids):
        row = dict(profiles[fluid])
        row["fluid_type"] = fluid
        row["collected_at"] = (BASE_TIME + timedelta(minutes=7 * i)).isoformat()
        row["volume"] = f"{rng.randint(5, 95) / 10:.1f}"
        row["volume_unit"] = "mL"
        row["status"] = "available"
        if fluid != "conditioned_medium":
            row["donor_code"] = donor_codes[i % len(donor_codes)]
        if i % 10 == 0:
            row["notes"] = f"visit {i // 10 % 12 + 1}, aliquoted on ice"
        yield row


def manifest_csv(rows: Iterator[dict[str, str]]) -> bytes:
    from samples.manifest import COLUMN_NAMES

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMN_NAMES)
    for row in rows:
        writer.writerow([row.get(name, "") for name in COLUMN_NAMES])
    return buffer.getvalue().encode()


def example_sample_values(fluid: str, *, study, donor_id: int | None) -> dict[str, Any]:
    """Sample attribute values for one profile, produced by the manifest validator itself
    (so the seed data obeys the same rules as real imports)."""
    from samples import manifest
    from samples.manifest import checking
    from samples.models import Donor

    row = dict(next(values for name, _, values in PROFILES if name == fluid))
    row |= {
        "fluid_type": fluid,
        "collected_at": BASE_TIME.isoformat(),
        "volume": "4.5",
        "volume_unit": "mL",
    }
    donor_code = None
    if fluid != "conditioned_medium" and donor_id is not None:
        donor_code = Donor.objects.values_list("code", flat=True).get(pk=donor_id)
        row["donor_code"] = donor_code
    table = manifest.read_manifest(content=manifest_csv(iter([row])))
    checker = checking._RowChecker(
        table=table,
        study=study,
        donor_ids={donor_code: donor_id} if donor_code else {},
        create_missing_donors=False,
    )
    checked = checker.check(*table.rows[0])
    if checked.errors:
        raise RuntimeError(f"profile {fluid} is invalid: {checked.errors}")
    sample = checked.sample
    sample.sprec_code = sample.compute_sprec()
    return dict(sample.__dict__)
