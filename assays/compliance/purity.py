"""Purity (particles per µg protein) and recovery (particles per mL of input fluid).

Pure arithmetic over canonical units: particles/mL, µg/mL, mL. The converters take what
instruments and people write (per µL, mg/mL, ng/µL, µL …) to those units, so a figure
entered as "1.2 mg/mL" and one read as "1200 µg/mL" give the same ratio.

The particle:protein ratio and its bands follow Webber & Clayton ("How pure are your
vesicles?", JEV 2013, doi:10.3402/jev.v2i0.19861) as summarised in EV-DOMAIN.md §1.5/§4.3:
>3×10¹⁰ high purity, 2×10⁹–2×10¹⁰ low purity, <1.5×10⁹ impure. The domain notes mark these
as recalled, so they are defaults of a rule's parameters (a soft flag), never code: the
default bands below close the source's gaps by extending each band down to the next.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .facts import ParticleFact, PreparationFacts, ProteinFact

DEFAULT_BANDS: tuple[dict[str, Any], ...] = (
    {"label": "high purity", "min": 3e10},
    {"label": "low purity", "min": 1.5e9},
    {"label": "impure", "min": 0},
)
DEFAULT_MIN_PARTICLES_PER_UG = 1.5e9

# Factors to the canonical unit. Keys are compared after _unit_key (case kept for m/M).
_PER_ML = {"/ml": 1.0, "/cm3": 1.0, "/µl": 1e3, "/ul": 1e3, "/l": 1e-3, "/nl": 1e6}
_UG_PER_ML = {
    "µg/ml": 1.0,
    "ug/ml": 1.0,
    "mg/l": 1.0,
    "ng/µl": 1.0,
    "ng/ul": 1.0,
    "mg/ml": 1e3,
    "µg/µl": 1e3,
    "ug/ul": 1e3,
    "g/l": 1e3,
    "ng/ml": 1e-3,
    "pg/µl": 1e-3,
    "pg/ul": 1e-3,
}
_ML = {"ml": 1.0, "cm3": 1.0, "µl": 1e-3, "ul": 1e-3, "l": 1e3, "nl": 1e-6}


def _unit_key(unit: str) -> str:
    key = unit.strip().replace(" ", "").replace("μ", "µ").lower()
    for prefix in ("particles", "particle", "p"):
        if key.startswith(prefix + "/"):
            key = key[len(prefix) :]
            break
    return key.replace("per", "/") if key.startswith("per") else key


def _convert(value: float, unit: str, table: Mapping[str, float], what: str) -> float:
    factor = table.get(_unit_key(unit))
    if factor is None:
        raise ValueError(f"Unknown {what} unit {unit!r}; use one of {', '.join(table)}.")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number.")
    return number * factor


def to_particles_per_ml(value: float, unit: str = "/mL") -> float:
    """A particle concentration in particles/mL (accepts /mL, /µL, /L, particles/mL …)."""
    return _convert(value, unit, _PER_ML, "particle concentration")


def to_ug_per_ml(value: float, unit: str = "µg/mL") -> float:
    """A protein concentration in µg/mL (accepts mg/mL, µg/µL, ng/µL, ng/mL, g/L …)."""
    return _convert(value, unit, _UG_PER_ML, "protein concentration")


def to_ml(value: float, unit: str = "mL") -> float:
    """A volume in mL (accepts µL, L, nL)."""
    return _convert(value, unit, _ML, "volume")


def particles_per_ug(
    particles_per_ml: float | None, protein_ug_per_ml: float | None
) -> float | None:
    """Particles per µg protein from two concentrations of the same material; None when
    either is missing or the protein is not above zero (below detection is no ratio)."""
    if particles_per_ml is None or protein_ug_per_ml is None:
        return None
    if protein_ug_per_ml <= 0 or particles_per_ml < 0:
        return None
    return particles_per_ml / protein_ug_per_ml


def recovery_per_ml_input(
    particles_per_ml: float | None,
    preparation_volume_ml: float | None,
    input_volume_ml: float | None,
) -> float | None:
    """Particles recovered per mL of input fluid: particles/mL × preparation volume ÷ input
    volume used. None when a figure is missing or a volume is not positive."""
    if particles_per_ml is None or not preparation_volume_ml or not input_volume_ml:
        return None
    if preparation_volume_ml <= 0 or input_volume_ml <= 0:
        return None
    return particles_per_ml * preparation_volume_ml / input_volume_ml


def validate_bands(bands: Any) -> list[str]:
    """Problems with a bands parameter: a list of {"label": str, "min": number ≥ 0}."""
    if not isinstance(bands, (list, tuple)) or not bands:
        return ["bands: give a list of {label, min} (particles/µg)."]
    problems = []
    labels = set()
    for i, band in enumerate(bands, start=1):
        if not isinstance(band, Mapping) or set(band) != {"label", "min"}:
            problems.append(f"bands: item {i} must be {{label, min}}.")
            continue
        label, low = band["label"], band["min"]
        if not isinstance(label, str) or not label.strip():
            problems.append(f"bands: item {i} needs a label.")
        elif label in labels:
            problems.append(f"bands: label {label!r} is used twice.")
        labels.add(label)
        if isinstance(low, bool) or not isinstance(low, (int, float)) or not math.isfinite(low):
            problems.append(f"bands: item {i} min must be a number (particles/µg).")
        elif low < 0:
            problems.append(f"bands: item {i} min cannot be negative.")
    return problems


def purity_band(ratio: float | None, bands: Sequence[Mapping[str, Any]] = DEFAULT_BANDS) -> str:
    """The label of the highest band whose minimum the ratio reaches ("" for none)."""
    if ratio is None:
        return ""
    for band in sorted(bands, key=lambda b: b["min"], reverse=True):
        if ratio >= band["min"]:
            return str(band["label"])
    return ""


@dataclass(frozen=True)
class Purity:
    particles_per_ug: float
    band: str
    particle_measurement_id: int
    protein_measurement_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "particles_per_ug": self.particles_per_ug,
            "band": self.band,
            "particle_measurement_id": self.particle_measurement_id,
            "protein_measurement_id": self.protein_measurement_id,
        }


def _usable_particles(facts: PreparationFacts) -> list[ParticleFact]:
    return [p for p in facts.particles if p.same_material and p.concentration_per_ml is not None]


def _usable_protein(facts: PreparationFacts) -> list[ProteinFact]:
    return [
        p
        for p in facts.protein
        if p.same_material
        and p.concentration_ug_per_ml is not None
        and p.concentration_ug_per_ml > 0
    ]


def purity_pair(facts: PreparationFacts) -> tuple[ParticleFact, ProteinFact] | None:
    """The particle and protein measurements the ratio is taken from: both on one tube if
    possible (the preparation tube first), else the newest of each on the same material
    (aliquots split from the preparation hold the same concentration). Records are in
    newest-first order in the facts."""
    particles, protein = _usable_particles(facts), _usable_protein(facts)
    if not particles or not protein:
        return None
    prep_tube = facts.preparation.aliquot_id
    tubes = [prep_tube] + [p.aliquot_id for p in particles if p.aliquot_id != prep_tube]
    for tube in tubes:
        on_tube = [p for p in particles if p.aliquot_id == tube]
        protein_on_tube = [p for p in protein if p.aliquot_id == tube]
        if on_tube and protein_on_tube:
            return on_tube[0], protein_on_tube[0]
    return particles[0], protein[0]


def compute_purity(
    facts: PreparationFacts, bands: Sequence[Mapping[str, Any]] = DEFAULT_BANDS
) -> Purity | None:
    pair = purity_pair(facts)
    if pair is None:
        return None
    particle, protein = pair
    ratio = particles_per_ug(particle.concentration_per_ml, protein.concentration_ug_per_ml)
    if ratio is None:
        return None
    return Purity(
        particles_per_ug=ratio,
        band=purity_band(ratio, bands),
        particle_measurement_id=particle.id,
        protein_measurement_id=protein.id,
    )


def recovery_particle(facts: PreparationFacts) -> ParticleFact | None:
    """The particle measurement recovery is computed from: the newest on the preparation
    tube, else the newest on an aliquot of it."""
    particles = _usable_particles(facts)
    on_prep = [p for p in particles if p.aliquot_id == facts.preparation.aliquot_id]
    return (on_prep or particles or [None])[0]


def compute_recovery(facts: PreparationFacts) -> float | None:
    particle = recovery_particle(facts)
    if particle is None:
        return None
    return recovery_per_ml_input(
        particle.concentration_per_ml,
        facts.preparation.resuspension_volume_ml,
        facts.run.input_volume_ml,
    )
