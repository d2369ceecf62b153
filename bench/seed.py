"""Seed 1,000,000 samples across four studies and six fluid types with PostgreSQL COPY.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/exolims_bench python bench/seed.py [N]

Idempotent: run again and it only tops up to N samples. Each fluid type's field values come
from the manifest validator (bench/_data.py), so the seeded rows obey the model's rules.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import SEED_STUDIES, bench_user, setup_django

STUDY_WEIGHTS = (40, 30, 20, 10)
DONORS_PER_STUDY = 5000
CHUNK_BYTES = 4 * 1024 * 1024


def _text(value: Any) -> str:
    """COPY text format for the values we generate (none contain tabs or backslashes)."""
    if value is None:
        return r"\N"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def seed(total: int = 1_000_000) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from bench._data import BASE_TIME, FLUIDS, WEIGHTS, example_sample_values
    from samples.choices import Role
    from samples.manifest.checking import _COPY_ATTNAMES, _COPY_COLUMNS
    from samples.manifest.importing import _create_donors
    from samples.models import Sample, Study, StudyMembership, next_accessions

    user = bench_user()
    studies = []
    for code in SEED_STUDIES:
        study, _ = Study.objects.get_or_create(code=code, defaults={"title": f"Benchmark {code}"})
        StudyMembership.objects.get_or_create(
            study=study, user=user, defaults={"role": Role.VIEWER}
        )
        studies.append(study)
    existing = Sample.objects.filter(study__in=studies).count()
    need = total - existing
    if need <= 0:
        return {"seeded": 0, "total": existing, "seconds": 0.0, "rows_per_s": None}

    started = time.perf_counter()
    donors: dict[int, list[int]] = {}
    for study in studies:
        codes = [f"{study.code}-D{n:05d}" for n in range(DONORS_PER_STUDY)]
        donors[study.pk] = sorted(_create_donors(study=study, codes=codes).values())

    # One template row per (study, fluid); per row only a few cells change.
    position = {name: i for i, name in enumerate(_COPY_ATTNAMES)}
    templates: dict[tuple[int, str], list[str]] = {}
    for study in studies:
        for fluid in FLUIDS:
            values = example_sample_values(fluid, study=study, donor_id=donors[study.pk][0])
            values["created_by_id"] = user.pk
            templates[(study.pk, fluid)] = [_text(values[name]) for name in _COPY_ATTNAMES]

    rng = random.Random(1)
    study_ids = rng.choices([s.pk for s in studies], STUDY_WEIGHTS, k=need)
    fluids = rng.choices(FLUIDS, WEIGHTS, k=need)
    accessions = next_accessions(need)
    now = timezone.now().isoformat()
    at = {name: position[name] for name in ("accession", "donor_id", "collected_at", "volume_ml")}
    at_notes, at_created, at_updated = (
        position["notes"],
        position["created_at"],
        position["updated_at"],
    )

    def lines():
        for i in range(need):
            study_id, fluid = study_ids[i], fluids[i]
            cells = list(templates[(study_id, fluid)])
            cells[at["accession"]] = accessions[i]
            if fluid != "conditioned_medium":
                study_donors = donors[study_id]
                cells[at["donor_id"]] = str(study_donors[i % len(study_donors)])
            cells[at["collected_at"]] = (BASE_TIME + timedelta(minutes=i)).isoformat()
            cells[at["volume_ml"]] = str(Decimal(rng.randint(5, 95)) / 10)
            cells[at_notes] = f"seed visit {i % 12 + 1}" if i % 10 == 0 else ""
            cells[at_created] = cells[at_updated] = now
            yield "\t".join(cells) + "\n"

    sql = f"COPY {Sample._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        buffer: list[str] = []
        size = 0
        for line in lines():
            buffer.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                copy.write("".join(buffer).encode())
                buffer, size = [], 0
        if buffer:
            copy.write("".join(buffer).encode())
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Sample._meta.db_table}")
        cursor.execute("ANALYZE samples_donor")
    seconds = time.perf_counter() - started
    return {
        "seeded": need,
        "total": existing + need,
        "seconds": round(seconds, 1),
        "rows_per_s": round(need / seconds),
    }


if __name__ == "__main__":
    setup_django()
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(seed(target), indent=2))
