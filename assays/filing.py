"""Filing a parse result: which records an instrument file becomes, by result type.

Particle, flow and DLS files measured one tube (``needs_tube``: the pipeline finds it first).
Plate-reader and qPCR files hold many wells: they become a plate (``ProteinAssay``) or a run
(``QPCRRun``) whose wells are mapped to tubes by accession or by the user's map.

``prepare`` is pure (values only, may raise ``ResultError``); ``store`` runs inside the
pipeline's outcome transaction, after ``clear_results`` removed the file's earlier records.
What a person added on top of a file (a plate map, a qPCR sample map, the MIFlowCyt-EV
fields of a flow measurement) survives re-processing.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from samples.models import Aliquot

from .choices import ProteinAssayStatus, ProteinMethod, QPCRTask
from .matching import accession_tokens, recordable_aliquots
from .models import (
    DLSMeasurement,
    FlowMeasurement,
    InstrumentFile,
    ParticleMeasurement,
    ProteinAssay,
    QPCRResult,
    QPCRRun,
)
from .models.measurements import FLOW_DATA_MISSING
from .parsers.base import ParticleResult
from .parsers.results import DLSResult, FlowResult, PlateResult
from .parsers.results import QPCRResult as ParsedQPCR
from .particle_results import ResultError, _aware, _finite, _json_safe, _text, measurement_values
from .permissions import instrument_of


class Filer(Protocol):
    needs_tube: bool

    def prepare(self, result: Any, *, preparation_term: str | None) -> Any: ...

    def store(
        self, prepared: Any, *, instrument_file: InstrumentFile, aliquot: Aliquot | None
    ) -> None: ...


def filer_for(result: Any) -> Filer:
    for result_type, filer in _FILERS:
        if isinstance(result, result_type):
            return filer
    raise ResultError(f"no filing for a parse result of type {type(result).__name__}")


def clear_results(file_ids: list[int], *, refiling: bool = False) -> None:
    """Remove what files produced, keeping what people added to their plates and runs.
    When the files are about to be filed again (``refiling``), a flow measurement stays for
    ``FlowFiler.store`` to update, so its MIFlowCyt-EV fields are not lost."""
    ParticleMeasurement.objects.filter(instrument_file_id__in=file_ids).delete()
    DLSMeasurement.objects.filter(instrument_file_id__in=file_ids).delete()
    if not refiling:
        FlowMeasurement.objects.filter(instrument_file_id__in=file_ids).delete()
    QPCRResult.objects.filter(run__instrument_file_id__in=file_ids).delete()
    for assay in ProteinAssay.objects.filter(instrument_file_id__in=file_ids):
        assay.measurements.all().delete()
        assay.reads, assay.curve, assay.r_squared = [], None, None
        assay.status, assay.fit_error = ProteinAssayStatus.AWAITING_MAP, ""
        assay.save(update_fields=["reads", "curve", "r_squared", "status", "fit_error"])


def _common(instrument_file: InstrumentFile, aliquot: Aliquot) -> dict:
    uploader = instrument_file.uploaded_by
    person = None if instrument_of(uploader) is not None else uploader
    return {
        "aliquot_id": aliquot.pk,
        "study_id": aliquot.study_id,
        "instrument_file_id": instrument_file.pk,
        "instrument_id": instrument_file.instrument_id,
        "operator": person,
        "created_by": person,
    }


# --- Particle counts (NTA, ZetaView) --------------------------------------------------------


class ParticleFiler:
    needs_tube = True

    def prepare(self, result: ParticleResult, *, preparation_term: str | None) -> dict:
        return measurement_values(result, preparation_term=preparation_term)

    def store(
        self, prepared: dict, *, instrument_file: InstrumentFile, aliquot: Aliquot | None
    ) -> None:
        assert aliquot is not None
        ParticleMeasurement.objects.create(
            instrument_file_id=instrument_file.pk,
            aliquot_id=aliquot.pk,
            study_id=aliquot.study_id,
            **prepared,
        )


# --- Flow cytometry (FCS) -------------------------------------------------------------------

# The parsed part of a flow measurement; everything else on the row is the user's.
_FLOW_PARSED = (
    "fcs_version",
    "sample_name",
    "cytometer",
    "cytometer_serial",
    "software_version",
    "event_count",
    "channels",
    "keywords",
    "trigger",
    "file_volume_ul",
    "measured_at",
    "warnings",
)


def _flow_data_missing(result: FlowResult) -> bool:
    """$TOT events announced but none read: the parser leaves every channel without
    statistics and says the DATA segment is missing (offsets 0, or a cut-off file)."""
    no_statistics = all(channel.mean is None for channel in result.channels)
    said_missing = any(
        "DATA segment" in warning and "missing" in warning for warning in result.warnings
    )
    return result.event_count > 0 and no_statistics and said_missing


def _flow_warnings(result: FlowResult) -> list[str]:
    warnings = [_text(warning) for warning in result.warnings]
    if _flow_data_missing(result):
        # First, so pages show it before the parser's detail; it also stops the events per
        # mL being computed from $TOT (FlowMeasurement.data_missing).
        warnings.insert(0, FLOW_DATA_MISSING)
    return warnings


class FlowFiler:
    needs_tube = True

    def prepare(self, result: FlowResult, *, preparation_term: str | None) -> dict:
        if result.event_count < 0:
            raise ResultError("negative event count")
        channels = [
            {key: getattr(channel, key) for key in channel.__dataclass_fields__}
            for channel in result.channels
        ]
        volume = _finite(result.volume_ul)
        return {
            "fcs_version": _text(result.fcs_version)[:8],
            "sample_name": _text(result.sample_name)[:200],
            "cytometer": _text(result.cytometer)[:120],
            "cytometer_serial": _text(result.cytometer_serial)[:80],
            "software_version": _text(result.software_version)[:120],
            "event_count": result.event_count,
            "channels": _json_safe(channels),
            "keywords": _json_safe(dict(result.keywords)),
            "trigger": _text(result.trigger)[:120],
            "file_volume_ul": volume if volume and volume > 0 else None,
            "measured_at": _aware(result.acquired_at),
            "warnings": _flow_warnings(result),
        }

    def store(
        self, prepared: dict, *, instrument_file: InstrumentFile, aliquot: Aliquot | None
    ) -> None:
        assert aliquot is not None
        common = _common(instrument_file, aliquot)
        measurement = FlowMeasurement.objects.filter(instrument_file_id=instrument_file.pk).first()
        if measurement is None:
            measurement = FlowMeasurement(**common, **prepared)
        else:  # re-processed: the parsed part is replaced, the person's part kept
            for key in ("aliquot_id", "study_id", *_FLOW_PARSED):
                setattr(measurement, key, common.get(key, prepared.get(key)))
        measurement.event_concentration_per_ml = measurement.compute_concentration()
        measurement.save()


# --- DLS / zeta (Zetasizer) -----------------------------------------------------------------


class DLSFiler:
    needs_tube = True

    def prepare(self, result: DLSResult, *, preparation_term: str | None) -> list[dict]:
        if not result.records:
            raise ResultError("the export holds no records")
        rows = []
        for record in result.records:
            distribution = None
            if record.sizes_nm:
                distribution = _json_safe(
                    {
                        "sizes_nm": list(record.sizes_nm),
                        "intensity_pct": list(record.intensity_pct),
                        "number_pct": list(record.number_pct),
                        "volume_pct": list(record.volume_pct),
                    }
                )
            zeta = None
            if record.zeta_mv:
                zeta = _json_safe(
                    {"zeta_mv": list(record.zeta_mv), "counts": list(record.zeta_counts)}
                )
            pdi = _finite(record.pdi)
            z_average = _finite(record.z_average_nm)
            rows.append(
                {
                    "kind": record.kind,
                    "record_number": record.record_number
                    if record.record_number is not None and record.record_number >= 0
                    else None,
                    "sample_name": _text(record.sample_name)[:200],
                    "measured_at": _aware(record.measured_at),
                    "temperature_c": _finite(record.temperature_c),
                    "dispersant": _text(record.dispersant)[:120],
                    "z_average_nm": z_average if z_average and z_average > 0 else None,
                    "pdi": pdi if pdi is not None and 0 <= pdi <= 1 else None,
                    "intercept": _finite(record.intercept),
                    "count_rate_kcps": _finite(record.count_rate_kcps),
                    "attenuator": record.attenuator
                    if record.attenuator is not None and 0 <= record.attenuator < 32768
                    else None,
                    "quality": _text(record.quality)[:200],
                    "peaks": _json_safe([dict(peak) for peak in record.peaks]),
                    "distribution": distribution,
                    "zeta_potential_mv": _finite(record.zeta_potential_mv),
                    "zeta_deviation_mv": _finite(record.zeta_deviation_mv),
                    "mobility": _finite(record.mobility_um_cm_per_v_s),
                    "conductivity_ms_cm": _finite(record.conductivity_ms_cm),
                    "zeta_distribution": zeta,
                    "extra": _json_safe(dict(record.extra)),
                }
            )
        return rows

    def store(
        self, prepared: list[dict], *, instrument_file: InstrumentFile, aliquot: Aliquot | None
    ) -> None:
        assert aliquot is not None
        common = _common(instrument_file, aliquot)
        DLSMeasurement.objects.bulk_create([DLSMeasurement(**common, **row) for row in prepared])


# --- Plate readers (protein) ----------------------------------------------------------------

_METHOD_WORDS = (
    (re.compile(r"micro\s*-?\s*bca", re.I), ProteinMethod.MICRO_BCA),
    (re.compile(r"\bbca\b", re.I), ProteinMethod.BCA),
    (re.compile(r"bradford|coomassie", re.I), ProteinMethod.BRADFORD),
    (re.compile(r"lowry", re.I), ProteinMethod.LOWRY),
    (re.compile(r"qubit", re.I), ProteinMethod.QUBIT),
)


def guess_protein_method(*texts: str) -> str:
    for pattern, method in _METHOD_WORDS:
        if any(pattern.search(text or "") for text in texts):
            return method
    return ProteinMethod.OTHER


class PlateFiler:
    needs_tube = False

    def prepare(self, result: PlateResult, *, preparation_term: str | None) -> dict:
        if not result.reads:
            raise ResultError("the export holds no plate read")
        reads = []
        for read in result.reads:
            values = {}
            for well, value in read.values.items():
                number = _finite(value)
                values[str(well).upper()] = number
            reads.append(
                {
                    "plate_name": _text(read.plate_name)[:120],
                    "wavelength_nm": _finite(read.wavelength_nm),
                    "read_type": _text(read.read_type)[:40],
                    "reduced": bool(read.reduced),
                    "rows": read.rows,
                    "columns": read.columns,
                    "values": values,
                }
            )
        layout = _json_safe({str(k).upper(): dict(v) for k, v in result.layout.items()})
        return {
            "reads": reads,
            "layout": layout,
            "measured_at": _aware(result.measured_at),
            "name": _text(result.reads[0].plate_name or result.sample_name)[:120],
            "method": guess_protein_method(result.description, result.sample_name),
            "warnings": [_text(warning) for warning in result.warnings],
        }

    def store(
        self, prepared: dict, *, instrument_file: InstrumentFile, aliquot: Aliquot | None
    ) -> None:
        from .protein_services import layout_to_plate_map, recompute_assay

        first = prepared["reads"][0]
        assay, _created = ProteinAssay.objects.get_or_create(
            instrument_file_id=instrument_file.pk,
            defaults={
                "name": prepared["name"] or instrument_file.original_name[:120],
                "method": prepared["method"],
                "instrument_id": instrument_file.instrument_id,
                "created_by": instrument_file.uploaded_by,
            },
        )
        assay.reads = prepared["reads"]
        assay.rows, assay.columns = first["rows"], first["columns"]
        if assay.read_index >= len(assay.reads):
            assay.read_index = 0
        assay.measured_at = prepared["measured_at"]
        if not assay.plate_map and prepared["layout"]:
            assay.plate_map = layout_to_plate_map(
                prepared["layout"], uploader=instrument_file.uploaded_by
            )
        assay.save()
        recompute_assay(assay, quiet=True)


# --- qPCR -----------------------------------------------------------------------------------

_TASKS = set(QPCRTask.values)


class QPCRFiler:
    needs_tube = False

    def prepare(self, result: ParsedQPCR, *, preparation_term: str | None) -> dict:
        if not result.rows:
            raise ResultError("the export holds no Cq values")
        rows = []
        for row in result.rows:
            cq = _finite(row.cq)
            if cq is not None and not 0 <= cq <= 100:
                cq = None
            rows.append(
                {
                    "well": _text(row.well)[:8],
                    "sample_name": _text(row.sample_name)[:200],
                    "target": _text(row.target)[:120] or "(no target)",
                    "cq": cq,
                    "undetermined": bool(row.undetermined or cq is None),
                    "task": row.task if row.task in _TASKS else QPCRTask.OTHER,
                    "reporter": _text(row.reporter)[:40],
                    "quantity": _finite(row.quantity),
                    "flags": [_text(flag) for flag in row.flags],
                }
            )
        return {
            "rows": rows,
            "run_name": _text(result.run_name)[:200],
            "instrument_name": _text(result.instrument)[:200],
            "software_version": _text(result.software_version)[:120],
            "measured_at": _aware(result.measured_at),
            "warnings": [_text(warning) for warning in result.warnings],
        }

    def store(
        self, prepared: dict, *, instrument_file: InstrumentFile, aliquot: Aliquot | None
    ) -> None:
        run, _created = QPCRRun.objects.get_or_create(
            instrument_file_id=instrument_file.pk,
            defaults={
                "instrument_id": instrument_file.instrument_id,
                "created_by": instrument_file.uploaded_by,
            },
        )
        for key in ("run_name", "instrument_name", "software_version", "measured_at", "warnings"):
            setattr(run, key, prepared[key])
        run.save()
        QPCRResult.objects.bulk_create([QPCRResult(run=run, **row) for row in prepared["rows"]])
        assign_qpcr_tubes(run, uploader=instrument_file.uploaded_by)


def assign_qpcr_tubes(run: QPCRRun, *, uploader) -> int:
    """Put each result on its tube: the run's sample map first, else the one accession in the
    sample name among tubes the uploader may record on. Returns how many rows have no tube
    (controls and standards need none). One query for the tubes, one update per tube."""
    rows = list(run.results.all())
    tokens = {row.pk: accession_tokens(row.sample_name) for row in rows}
    wanted = {token for found in tokens.values() for token in found}
    mapped_ids = {int(v) for v in run.sample_map.values() if str(v).isdecimal()}
    tubes = recordable_aliquots(uploader).filter(accession__in=wanted) | recordable_aliquots(
        uploader
    ).filter(pk__in=mapped_ids)
    by_accession, by_id = {}, {}
    for tube in tubes.only("pk", "accession", "study_id"):
        by_accession[tube.accession] = tube
        by_id[tube.pk] = tube
    assignment: dict[int, list[int]] = {}
    unassigned = 0
    for row in rows:
        tube = None
        mapped = run.sample_map.get(row.sample_name)
        if mapped is not None and str(mapped).isdecimal():
            tube = by_id.get(int(mapped))
        elif len(tokens[row.pk]) == 1:
            tube = by_accession.get(tokens[row.pk][0])
        if tube is None:
            unassigned += row.task == QPCRTask.UNKNOWN
            assignment.setdefault(0, []).append(row.pk)
        else:
            assignment.setdefault(tube.pk, []).append(row.pk)
    for tube_id, row_ids in assignment.items():
        tube = by_id.get(tube_id)
        QPCRResult.objects.filter(pk__in=row_ids).update(
            aliquot_id=tube.pk if tube else None, study_id=tube.study_id if tube else None
        )
    studies = {by_id[t].study_id for t in assignment if t in by_id}
    run_study = studies.pop() if len(studies) == 1 else None
    if run.study_id != run_study:
        QPCRRun.objects.filter(pk=run.pk).update(study_id=run_study)
        run.study_id = run_study
    return unassigned


_FILERS: tuple[tuple[type, Filer], ...] = (
    (ParticleResult, ParticleFiler()),
    (FlowResult, FlowFiler()),
    (DLSResult, DLSFiler()),
    (PlateResult, PlateFiler()),
    (ParsedQPCR, QPCRFiler()),
)
