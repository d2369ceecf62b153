"""Derive the ISBER SPREC (fluid) code from a sample's recorded pre-analytical variables.

SPREC is never typed in: the raw numbers are stored and the code follows from them, so a
correction to a field corrects the code. Positions the data cannot fill are ``X`` (unknown);
values SPREC has no code for are ``Z`` (other). Code tables: EV-DOMAIN §3.6 (SPREC 2.0/3.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .choices import FluidType, StorageContainer, TubeType, UrineVoid

_TYPE = {
    FluidType.SERUM: "SER",
    FluidType.WHOLE_BLOOD: "BLD",
    FluidType.SALIVA: "SAL",
    FluidType.CSF: "CSF",
    FluidType.MILK: "BMK",
    FluidType.SEMEN: "SEM",
    FluidType.BAL: "BAL",
    FluidType.ASCITES: "ASC",
    FluidType.SYNOVIAL: "SYN",
    FluidType.TEARS: "TER",
    FluidType.AMNIOTIC: "AMN",
    FluidType.CONDITIONED_MEDIUM: "ZZZ",
    FluidType.OTHER: "ZZZ",
}
_URINE = {
    UrineVoid.RANDOM: "URN",
    UrineVoid.FIRST_MORNING: "URM",
    UrineVoid.SECOND_MORNING: "URN",
    UrineVoid.TIMED: "URT",
    UrineVoid.TWENTY_FOUR_HOUR: "U24",
    UrineVoid.CATHETER: "URN",
}
_CONTAINER = {
    TubeType.K2_EDTA: "PED",
    TubeType.K3_EDTA: "PED",
    TubeType.NA_EDTA: "SED",
    TubeType.EDTA_GEL: "EDG",
    TubeType.CITRATE: "SCI",
    TubeType.ACD_A: "ACD",
    TubeType.CTAD: "ZZZ",
    TubeType.LI_HEPARIN: "HEP",
    TubeType.NA_HEPARIN: "SHP",
    TubeType.PRESERVATIVE: "ADD",
    TubeType.SERUM_CLOT_ACTIVATOR: "SST",
    TubeType.SERUM_NO_ACTIVATOR: "CAT",
    TubeType.PP_STERILE: "PPS",
    TubeType.PE_STERILE: "PET",
    TubeType.PROTEASE_INHIBITOR: "PIX",
    TubeType.NONE: "ZZZ",
    TubeType.OTHER: "ZZZ",
    TubeType.UNKNOWN: "XXX",
}


@dataclass(frozen=True)
class Spin:
    g: float
    minutes: float
    temp_c: float
    brake: bool | None

    @classmethod
    def from_dict(cls, step: dict[str, Any]) -> Spin:
        return cls(
            g=float(step["g"]),
            minutes=float(step["minutes"]),
            temp_c=float(step["temp_c"]),
            brake=step.get("brake"),
        )


def _temp_class(temp_c: float | None) -> str | None:
    """'rt', 'cold' or 'body', or None when SPREC has no class for the temperature."""
    if temp_c is None:
        return None
    if 2 <= temp_c <= 10:
        return "cold"
    if 15 <= temp_c <= 28:
        return "rt"
    if 35 <= temp_c <= 38:
        return "body"
    return None


def _sample_type(fluid_type: str, spins: Sequence[Spin], urine_void: str | None) -> str:
    if fluid_type == FluidType.PLASMA:
        if not spins:
            return "XXX"
        return "PL2" if len(spins) >= 2 else "PL1"
    if fluid_type == FluidType.URINE:
        return _URINE.get(urine_void, "XXX") if urine_void else "XXX"
    return _TYPE.get(fluid_type, "ZZZ")


def _pre_centrifugation(delay_min: int | None, temp_c: float | None) -> str:
    if delay_min is None or temp_c is None:
        return "X"
    hours = delay_min / 60
    klass = _temp_class(temp_c)
    if klass == "body":
        return "O" if hours < 2 else "Z"
    if klass is None:
        return "Z"
    bands = [(2, "A"), (4, "C"), (8, "E"), (12, "G"), (24, "I"), (48, "K")]
    for limit, rt_code in bands:
        if hours < limit:
            # The 2–10 °C code follows its room-temperature neighbour (A→B, C→D, …).
            return rt_code if klass == "rt" else chr(ord(rt_code) + 1)
    return "M" if klass == "rt" else "N"


def _centrifugation(spin: Spin | None, *, allow_m: bool) -> str:
    if spin is None:
        return "N"
    klass = _temp_class(spin.temp_c)
    if klass not in {"rt", "cold"}:
        return "Z"
    rt = klass == "rt"
    if allow_m and rt and spin.g < 1000 and 25 <= spin.minutes <= 35 and spin.brake is False:
        return "M"
    if spin.brake is None:
        return "X"
    if spin.g < 3000:
        if not 10 <= spin.minutes <= 15:
            return "Z"
        if rt:
            return "B" if spin.brake else "A"
        return "D" if spin.brake else "C"
    if not spin.brake:
        return "Z"  # SPREC only codes braked spins above 3,000 ×g.
    if spin.g <= 6000:
        return "E" if rt else "F"
    if spin.g <= 10000:
        return "G" if rt else "H"
    return "I" if rt else "J"


def _post_centrifugation(delay_min: int | None, temp_c: float | None, had_spin: bool | None) -> str:
    if had_spin is None:
        return "X"
    if not had_spin:
        return "N"
    if delay_min is None or temp_c is None:
        return "X"
    klass = _temp_class(temp_c)
    if klass not in {"rt", "cold"}:
        return "Z"
    hours = delay_min / 60
    for limit, cold_code in [(1, "A"), (2, "C"), (8, "E"), (24, "G")]:
        if hours < limit:
            return cold_code if klass == "cold" else chr(ord(cold_code) + 1)
    return "I" if klass == "cold" else "J"


def _storage(container: str | None, temp_c: float | None) -> str:
    if container is None or temp_c is None:
        return "X"
    ultra = temp_c < -135
    deep = -85 <= temp_c <= -60
    freezer = -35 <= temp_c <= -18
    table = {
        StorageContainer.PP_TUBE: {"deep": "A", "freezer": "B", "ultra": "V"},
        StorageContainer.PP_TUBE_SMALL: {"deep": "S", "freezer": "T", "ultra": "W"},
        StorageContainer.PP_TUBE_LARGE: {"deep": "J", "freezer": "K"},
        StorageContainer.CRYOTUBE: {"deep": "D", "ultra": "C"},
        StorageContainer.STRAW: {"deep": "G", "freezer": "H", "ultra": "F"},
        StorageContainer.MICROPLATE: {"deep": "L", "freezer": "M"},
        StorageContainer.PRIMARY: {"deep": "Y", "freezer": "Y"},
    }
    band = "ultra" if ultra else "deep" if deep else "freezer" if freezer else None
    if band is None or container not in table:
        return "Z"
    return table[container].get(band, "Z")


def derive_sprec(
    *,
    fluid_type: str,
    tube_type: str | None,
    centrifugation_steps: Sequence[dict[str, Any]] | None,
    time_to_processing_min: int | None,
    processing_temp_c: float | None,
    post_centrifugation_delay_min: int | None,
    post_centrifugation_temp_c: float | None,
    storage_container: str | None,
    storage_temp_c: float | None,
    urine_void_type: str | None = None,
) -> str:
    """Return the seven-element SPREC fluid code, e.g. ``PL2-PED-A-B-B-A-D``."""
    spins = [Spin.from_dict(step) for step in (centrifugation_steps or [])]
    first = spins[0] if spins else None
    second = spins[1] if len(spins) > 1 else None
    # "Unknown" spins (steps never recorded) are X, not N: N asserts that no spin happened.
    spin_1 = _centrifugation(first, allow_m=True) if centrifugation_steps is not None else "X"
    spin_2 = _centrifugation(second, allow_m=False) if centrifugation_steps is not None else "X"
    if len(spins) > 2:
        spin_2 = "Z"  # SPREC has no code for a third spin; the raw steps stay on record.
    return "-".join(
        [
            _sample_type(fluid_type, spins, urine_void_type),
            _CONTAINER.get(tube_type, "XXX") if tube_type else "XXX",
            _pre_centrifugation(time_to_processing_min, processing_temp_c),
            spin_1,
            spin_2,
            _post_centrifugation(
                post_centrifugation_delay_min,
                post_centrifugation_temp_c,
                bool(spins) if centrifugation_steps is not None else None,
            ),
            _storage(storage_container, storage_temp_c),
        ]
    )


# --- Explanation for people ---------------------------------------------------------

_SPREC_POSITIONS = (
    "Type of sample",
    "Primary container",
    "Pre-centrifugation delay",
    "First centrifugation",
    "Second centrifugation",
    "Post-centrifugation delay",
    "Long-term storage",
)
_SPREC_TYPES = {
    "PL1": "Plasma, single spun",
    "PL2": "Plasma, double spun",
    "SER": "Serum",
    "BLD": "Whole blood",
    "URN": "Urine, random (spot)",
    "URM": "Urine, first morning",
    "URT": "Urine, timed",
    "U24": "Urine, 24-hour",
    "SAL": "Saliva",
    "CSF": "Cerebrospinal fluid",
    "BMK": "Breast milk",
    "SEM": "Semen",
    "BAL": "Bronchoalveolar lavage",
    "ASC": "Ascites",
    "SYN": "Synovial fluid",
    "TER": "Tears",
    "AMN": "Amniotic fluid",
}
_SPREC_CONTAINERS = {
    "PED": "K2/K3-EDTA",
    "SED": "Na-EDTA",
    "EDG": "EDTA with gel",
    "SCI": "Sodium citrate",
    "ACD": "Acid citrate dextrose",
    "HEP": "Lithium heparin",
    "SHP": "Sodium heparin",
    "ADD": "Tube with additives (cell-stabilising)",
    "SST": "Serum separator tube with clot activator",
    "CAT": "Serum tube without clot activator",
    "PPS": "Polypropylene, sterile",
    "PET": "Polyethylene, sterile",
    "PIX": "Protease inhibitors",
}
_BANDS = ("<2 h", "2–4 h", "4–8 h", "8–12 h", "12–24 h", "24–48 h", ">48 h")
_SPREC_PRE = {
    **{chr(65 + 2 * i): f"{band} at room temperature" for i, band in enumerate(_BANDS)},
    **{chr(66 + 2 * i): f"{band} at 2–10 °C" for i, band in enumerate(_BANDS)},
    "O": "<2 h at 35–38 °C",
}
_SPREC_SPIN = {
    "A": "Room temperature, 10–15 min, <3,000 ×g, no brake",
    "B": "Room temperature, 10–15 min, <3,000 ×g, with brake",
    "C": "2–10 °C, 10–15 min, <3,000 ×g, no brake",
    "D": "2–10 °C, 10–15 min, <3,000 ×g, with brake",
    "E": "Room temperature, 3,000–6,000 ×g, with brake",
    "F": "2–10 °C, 3,000–6,000 ×g, with brake",
    "G": "Room temperature, 6,000–10,000 ×g, with brake",
    "H": "2–10 °C, 6,000–10,000 ×g, with brake",
    "I": "Room temperature, >10,000 ×g, with brake",
    "J": "2–10 °C, >10,000 ×g, with brake",
    "M": "Room temperature, 30 min, <1,000 ×g, no brake",
    "N": "No centrifugation",
}
_SPREC_POST = {
    **{
        letter: f"{band} at {temp}"
        for band, (cold, rt) in zip(
            ("<1 h", "1–2 h", "2–8 h", "8–24 h", ">24 h"),
            ("AB", "CD", "EF", "GH", "IJ"),
            strict=True,
        )
        for letter, temp in ((cold, "2–10 °C"), (rt, "room temperature"))
    },
    "N": "Not applicable (not centrifuged)",
}
_SPREC_STORAGE = {
    "A": "PP tube 0.5–2 mL, −85 to −60 °C",
    "B": "PP tube 0.5–2 mL, −35 to −18 °C",
    "V": "PP tube 0.5–2 mL, below −135 °C",
    "C": "Cryotube 1–2 mL, liquid nitrogen",
    "D": "Cryotube 1–2 mL, −85 to −60 °C",
    "F": "Plastic straw, liquid nitrogen",
    "G": "Plastic straw, −85 to −60 °C",
    "H": "Plastic straw, −35 to −18 °C",
    "J": "PP tube ≥5 mL, −85 to −60 °C",
    "K": "PP tube ≥5 mL, −35 to −18 °C",
    "L": "Microplate, −85 to −60 °C",
    "M": "Microplate, −35 to −18 °C",
    "S": "PP tube 40–500 µL, −85 to −60 °C",
    "T": "PP tube 40–500 µL, −35 to −18 °C",
    "W": "PP tube 40–500 µL, below −135 °C",
    "Y": "Original primary container, −35 to −18 or −85 to −60 °C",
}
_SPREC_TABLES = (
    _SPREC_TYPES,
    _SPREC_CONTAINERS,
    _SPREC_PRE,
    _SPREC_SPIN,
    _SPREC_SPIN,
    _SPREC_POST,
    _SPREC_STORAGE,
)


def _num(value: float | None, unit: str) -> str | None:
    return None if value is None else f"{value:g} {unit}"


def _joined(*parts: str | None) -> str:
    present = [p for p in parts if p]
    return ", ".join(present) if present else "not recorded"


def _spin_text(steps: list[dict[str, Any]] | None, index: int) -> str:
    if steps is None:
        return "not recorded"
    if len(steps) <= index:
        return "no such spin"
    step = steps[index]
    brake = {True: "brake on", False: "no brake", None: "brake not recorded"}[step.get("brake")]
    text = f"{step['g']:g} ×g, {step['minutes']:g} min, {step['temp_c']:g} °C, {brake}"
    if index == 1 and len(steps) > 2:
        text += f" ({len(steps)} spins; SPREC codes only two)"
    return text


def explain_sprec(sample: Any) -> list[dict[str, str]]:
    """One row per SPREC position: its code, what the code means, and the recorded values
    it was derived from."""
    steps = sample.centrifugation_steps
    sources = (
        _joined(
            sample.get_fluid_type_display(),
            sample.get_urine_void_type_display() if sample.urine_void_type else None,
        ),
        sample.get_tube_type_display() if sample.tube_type else "not recorded",
        _joined(_num(sample.time_to_processing_min, "min"), _num(sample.processing_temp_c, "°C")),
        _spin_text(steps, 0),
        _spin_text(steps, 1),
        _joined(
            _num(sample.post_centrifugation_delay_min, "min"),
            _num(sample.post_centrifugation_temp_c, "°C"),
        ),
        _joined(
            sample.get_storage_container_display() if sample.storage_container else None,
            _num(sample.storage_temp_c, "°C"),
        ),
    )
    codes = (sample.sprec_code or "").split("-")
    if len(codes) != len(_SPREC_POSITIONS):
        return []
    rows = []
    for number, (name, code, table, source) in enumerate(
        zip(_SPREC_POSITIONS, codes, _SPREC_TABLES, sources, strict=True), start=1
    ):
        if set(code) == {"X"}:
            meaning = "Unknown: not (fully) recorded"
        elif set(code) == {"Z"}:
            meaning = "Other: the recorded values have no SPREC code"
        else:
            meaning = table.get(code, "")
        rows.append(
            {"position": number, "name": name, "code": code, "meaning": meaning, "source": source}
        )
    return rows
