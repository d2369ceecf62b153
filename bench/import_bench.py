"""Manifest import speed: a 100,000-row CSV manifest vs PostgreSQL COPY of the same rows.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/exolims_bench python bench/import_bench.py

Measured, each in its own transaction that is rolled back afterwards (so every run sees the
same table; foreign keys are checked immediately, as they would be at commit):

* import: ``samples.manifest.import_manifest`` — parse, validate every row, draw
  accessions, COPY (what the API's commit does);
* page flow: ``stage_manifest`` (validate + keep the file) then ``commit_staged_manifest``
  (re-read, re-validate, COPY);
* dry run: parse + validate only;
* raw COPY: the rows the import produced, exported with ``COPY … TO STDOUT`` and loaded
  again with ``COPY … FROM STDIN`` (no Python per row at all);
* insert stage alone: COPY ``write_row`` vs ``bulk_create`` of the same validated rows.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import IMPORT_STUDY, bench_user, median, setup_django, vacuum

ROWS = 100_000
DONORS = 10_000
REPEAT = 3


class _Rollback(Exception):
    pass


def _timed_in_rollback(work) -> tuple[float, Any]:
    """Run ``work()`` in a transaction with immediate FK checks, time it, roll back."""
    from django.db import connection, transaction

    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            started = time.perf_counter()
            outcome["value"] = work()
            outcome["seconds"] = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return outcome["seconds"], outcome["value"]


def run(rows: int = ROWS, repeat: int = REPEAT) -> dict[str, Any]:
    from django.db import connection

    from bench._data import manifest_csv, manifest_rows
    from samples import manifest
    from samples.choices import Role
    from samples.manifest import checking, importing
    from samples.models import Sample, Study, StudyMembership, next_accessions

    user = bench_user()
    study, _ = Study.objects.get_or_create(
        code=IMPORT_STUDY, defaults={"title": "Benchmark: manifest import"}
    )
    StudyMembership.objects.update_or_create(study=study, user=user, defaults={"role": Role.EDITOR})
    codes = [f"IMP-{n:05d}" for n in range(DONORS)]
    importing._create_donors(study=study, codes=codes)  # registered beforehand, as usual
    content = manifest_csv(manifest_rows(rows, donor_codes=codes))
    with_new = manifest_csv(
        manifest_rows(rows, donor_codes=[*codes, *(f"NEW-{n:05d}" for n in range(DONORS // 2))])
    )
    vacuum(Sample._meta.db_table, "samples_donor")
    sample_count = Sample.objects.count()

    copy_columns = ", ".join(checking._COPY_COLUMNS)
    table_name = Sample._meta.db_table

    def do_import(data: bytes, create: bool = False):
        return manifest.import_manifest(
            content=data,
            file_name="bench.csv",
            study=study,
            user=user,
            create_missing_donors=create,
        )

    # The exact rows an import produced, as COPY text, to load again with raw COPY.
    def import_and_export():
        result = do_import(content)
        with connection.cursor() as cursor:
            buffer = bytearray()
            query = (
                f"COPY (SELECT {copy_columns} FROM {table_name} "
                f"WHERE study_id = {study.pk} AND accession = ANY(%s) ORDER BY id) TO STDOUT"
            )
            with cursor.cursor.copy(query, [result.accessions]) as copy:
                for chunk in copy:
                    buffer += chunk
        return result.count, bytes(buffer)

    _, (count, copy_data) = _timed_in_rollback(import_and_export)
    assert count == rows, count

    def raw_copy():
        with (
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table_name} ({copy_columns}) FROM STDIN") as copy,
        ):
            view = memoryview(copy_data)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])

    def dry_run():
        result = manifest.check_manifest(
            content=content, file_name="bench.csv", study=study, create_missing_donors=False
        )
        assert result.is_valid, result.errors[:3]

    def page_flow():
        staged = manifest.stage_manifest(
            user=user,
            study=study,
            file_name="bench.csv",
            content=content,
            create_missing_donors=False,
        )
        assert staged.error_count == 0
        return manifest.commit_staged_manifest(upload=staged, user=user).count

    timings: dict[str, list[float]] = {
        "import": [],
        "import_new_donors": [],
        "raw_copy": [],
        "dry_run": [],
        "page_flow": [],
    }
    for _ in range(repeat):
        timings["raw_copy"].append(_timed_in_rollback(raw_copy)[0])
        timings["import"].append(_timed_in_rollback(lambda: do_import(content))[0])
        timings["import_new_donors"].append(
            _timed_in_rollback(lambda: do_import(with_new, create=True))[0]
        )
        timings["dry_run"].append(_timed_in_rollback(dry_run)[0])
        timings["page_flow"].append(_timed_in_rollback(page_flow)[0])

    # Insert stage alone: the same validated Samples via COPY write_row or bulk_create.
    table = manifest.read_manifest(content=content)
    donor_ids = checking._resolve_donors(study=study, codes=checking._donor_codes_in(table))
    checker = checking._RowChecker(
        table=table, study=study, donor_ids=donor_ids, create_missing_donors=False
    )
    checked = [checker.check(number, cells) for number, cells in table.rows]

    def prepared_samples() -> list[Sample]:
        from django.utils import timezone

        now = timezone.now()
        samples = []
        for row, accession in zip(checked, next_accessions(len(checked)), strict=True):
            sample = row.sample
            sample.accession = accession
            sample.sprec_code = sample.compute_sprec()
            sample.created_by_id = user.pk
            sample.created_at = sample.updated_at = now
            samples.append(sample)
        return samples

    def copy_stage():
        samples = prepared_samples()
        started = time.perf_counter()
        manifest_rows_values = (
            [
                json.dumps(s.__dict__[name])
                if name in checking._JSON_ATTNAMES and s.__dict__[name] is not None
                else s.__dict__[name]
                for name in checking._COPY_ATTNAMES
            ]
            for s in samples
        )
        sql = f"COPY {table_name} ({copy_columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for values in manifest_rows_values:
                copy.write_row(values)
        return time.perf_counter() - started

    def bulk_create_stage(batch_size: int):
        def work():
            samples = prepared_samples()
            started = time.perf_counter()
            Sample.objects.bulk_create(samples, batch_size=batch_size)
            return time.perf_counter() - started

        return work

    insert_stage = {
        "copy_write_row": median([_timed_in_rollback(copy_stage)[1] for _ in range(repeat)]),
        "bulk_create_1000": median(
            [_timed_in_rollback(bulk_create_stage(1000))[1] for _ in range(repeat)]
        ),
        "bulk_create_5000": median(
            [_timed_in_rollback(bulk_create_stage(5000))[1] for _ in range(repeat)]
        ),
    }

    vacuum(Sample._meta.db_table, "samples_donor")
    seconds = {name: median(values) for name, values in timings.items()}
    rate = {name: rows / value for name, value in seconds.items()}
    return {
        "rows": rows,
        "manifest_bytes": len(content),
        "table_rows_before": sample_count,
        "repeat": repeat,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "rows_per_s": {k: round(v) for k, v in rate.items()},
        "import_vs_copy": round(rate["import"] / rate["raw_copy"], 3),
        "page_flow_vs_copy": round(rate["page_flow"] / rate["raw_copy"], 3),
        "insert_stage_seconds": {k: round(v, 3) for k, v in insert_stage.items()},
        "insert_stage_rows_per_s": {k: round(rows / v) for k, v in insert_stage.items()},
    }


if __name__ == "__main__":
    setup_django()
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    print(json.dumps(run(rows), indent=2))
