"""Controlled vocabularies for samples (values stored in the database and used by the API)."""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    MANAGER = "manager", "Manager"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.MANAGER: 3}


def roles_at_least(role: str) -> list[str]:
    """All roles that include the rights of ``role`` (viewer < editor < manager)."""
    return [r for r, rank in ROLE_RANK.items() if rank >= ROLE_RANK[role]]


class Species(models.TextChoices):
    # Values are NCBITaxon identifiers so exports map straight onto the ontology.
    HUMAN = "NCBITaxon:9606", "Homo sapiens (human)"
    MOUSE = "NCBITaxon:10090", "Mus musculus (mouse)"
    RAT = "NCBITaxon:10116", "Rattus norvegicus (rat)"
    PIG = "NCBITaxon:9823", "Sus scrofa (pig)"
    COW = "NCBITaxon:9913", "Bos taurus (cattle)"
    MACAQUE = "NCBITaxon:9544", "Macaca mulatta (rhesus macaque)"
    OTHER = "other", "Other"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class ConsentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    GIVEN = "given", "Given"
    WITHDRAWN = "withdrawn", "Withdrawn"
    REFUSED = "refused", "Refused"
    NOT_REQUIRED = "not_required", "Not required (e.g. animal, anonymous)"


class FluidType(models.TextChoices):
    PLASMA = "plasma", "Blood plasma"
    SERUM = "serum", "Blood serum"
    WHOLE_BLOOD = "whole_blood", "Whole blood"
    URINE = "urine", "Urine"
    SALIVA = "saliva", "Saliva"
    CSF = "csf", "Cerebrospinal fluid"
    MILK = "milk", "Milk"
    SEMEN = "semen", "Semen"
    BAL = "bal", "Bronchoalveolar lavage fluid"
    ASCITES = "ascites", "Ascites"
    SYNOVIAL = "synovial_fluid", "Synovial fluid"
    TEARS = "tears", "Tear fluid"
    AMNIOTIC = "amniotic_fluid", "Amniotic fluid"
    CONDITIONED_MEDIUM = "conditioned_medium", "Conditioned cell-culture medium"
    OTHER = "other", "Other"


# UBERON "organism substance" terms (EV-DOMAIN §4.1). Conditioned medium has no UBERON term.
UBERON_IDS = {
    FluidType.PLASMA: "UBERON:0001969",
    FluidType.SERUM: "UBERON:0001977",
    FluidType.WHOLE_BLOOD: "UBERON:0000178",
    FluidType.URINE: "UBERON:0001088",
    FluidType.SALIVA: "UBERON:0001836",
    FluidType.CSF: "UBERON:0001359",
    FluidType.MILK: "UBERON:0001913",
    FluidType.SEMEN: "UBERON:0001968",
    FluidType.BAL: "UBERON:0009511",
    FluidType.ASCITES: "UBERON:0007795",
    FluidType.SYNOVIAL: "UBERON:0001090",
    FluidType.TEARS: "UBERON:0001827",
    FluidType.AMNIOTIC: "UBERON:0000173",
    FluidType.OTHER: "UBERON:0006314",
}

BLOOD_FLUIDS = frozenset({FluidType.PLASMA, FluidType.SERUM, FluidType.WHOLE_BLOOD})


class TubeType(models.TextChoices):
    K2_EDTA = "k2_edta", "K2-EDTA"
    K3_EDTA = "k3_edta", "K3-EDTA"
    NA_EDTA = "na_edta", "Na-EDTA"
    EDTA_GEL = "edta_gel", "EDTA with gel separator"
    CITRATE = "citrate", "Sodium citrate 3.2%"
    ACD_A = "acd_a", "ACD-A"
    CTAD = "ctad", "CTAD"
    LI_HEPARIN = "li_heparin", "Lithium heparin"
    NA_HEPARIN = "na_heparin", "Sodium heparin"
    PRESERVATIVE = "preservative", "Cell-stabilising / preservative tube"
    SERUM_CLOT_ACTIVATOR = "serum_clot_activator", "Serum tube with clot activator (SST)"
    SERUM_NO_ACTIVATOR = "serum_plain", "Serum tube without clot activator"
    PP_STERILE = "pp_sterile", "Polypropylene, sterile (no additive)"
    PE_STERILE = "pe_sterile", "Polyethylene, sterile (no additive)"
    PROTEASE_INHIBITOR = "protease_inhibitor", "Container with protease inhibitors"
    NONE = "none", "None"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


ANTICOAGULANT_TUBES = frozenset(
    {
        TubeType.K2_EDTA,
        TubeType.K3_EDTA,
        TubeType.NA_EDTA,
        TubeType.EDTA_GEL,
        TubeType.CITRATE,
        TubeType.ACD_A,
        TubeType.CTAD,
        TubeType.LI_HEPARIN,
        TubeType.NA_HEPARIN,
        TubeType.PRESERVATIVE,
    }
)
SERUM_TUBES = frozenset({TubeType.SERUM_CLOT_ACTIVATOR, TubeType.SERUM_NO_ACTIVATOR})


class FastingState(models.TextChoices):
    FASTING = "fasting", "Fasting"
    NON_FASTING = "non_fasting", "Non-fasting"
    UNKNOWN = "unknown", "Unknown"


class UrineVoid(models.TextChoices):
    RANDOM = "random", "Random / spot"
    FIRST_MORNING = "first_morning", "First morning"
    SECOND_MORNING = "second_morning", "Second morning"
    TIMED = "timed", "Timed"
    TWENTY_FOUR_HOUR = "24h", "24-hour"
    CATHETER = "catheter", "Catheter"


class CultureSerum(models.TextChoices):
    FBS = "fbs", "Fetal bovine serum"
    HUMAN_SERUM = "human_serum", "Human serum / platelet lysate"
    SERUM_FREE = "serum_free", "Serum-free"
    OTHER = "other", "Other"


class SerumEVDepletion(models.TextChoices):
    NONE = "none", "Not depleted"
    UC_OVERNIGHT = "uc_18h", "Ultracentrifugation ≥18 h"
    UC_SHORT = "uc_short", "Ultracentrifugation <18 h"
    ULTRAFILTRATION = "ultrafiltration", "Ultrafiltration"
    COMMERCIAL = "commercial", "Commercial EV-depleted serum"
    NOT_APPLICABLE = "not_applicable", "Not applicable (serum-free)"


class StorageContainer(models.TextChoices):
    # Drives SPREC position 7 together with the storage temperature.
    PP_TUBE_SMALL = "pp_40_500ul", "PP tube 40–500 µL"
    PP_TUBE = "pp_0_5_2ml", "PP tube 0.5–2 mL"
    PP_TUBE_LARGE = "pp_5ml_plus", "PP tube ≥5 mL"
    CRYOTUBE = "cryotube", "Cryotube 1–2 mL"
    STRAW = "straw", "Plastic straw"
    MICROPLATE = "microplate", "Microplate"
    PRIMARY = "primary_container", "Original primary container"
    OTHER = "other", "Other"


class SampleStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    IN_PROCESS = "in_process", "In process"
    CONSUMED = "consumed", "Consumed"
    DISCARDED = "discarded", "Discarded"
    SHIPPED = "shipped", "Shipped"


# Volume units accepted at the edges; everything is stored in mL.
VOLUME_UNIT_CHOICES = [("mL", "mL"), ("µL", "µL"), ("L", "L")]


class StorageKind(models.TextChoices):
    SITE = "site", "Site"
    ROOM = "room", "Room"
    FREEZER = "freezer", "Freezer / tank"
    SHELF = "shelf", "Shelf"
    RACK = "rack", "Rack"
    BOX = "box", "Box"


class AliquotKind(models.TextChoices):
    ALIQUOT = "aliquot", "Aliquot"
    EV_PREPARATION = "ev_preparation", "EV preparation"
    DERIVATIVE = "derivative", "Derivative (lysate, RNA, …)"


class AliquotStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    CHECKED_OUT = "checked_out", "Checked out"
    CONSUMED = "consumed", "Consumed"
    DISCARDED = "discarded", "Discarded"
    SHIPPED = "shipped", "Shipped"


class ContainerType(models.TextChoices):
    CRYOVIAL_2ML = "cryovial_2ml", "Cryovial 2 mL"
    CRYOVIAL_1ML = "cryovial_1ml", "Cryovial 1 mL"
    CRYOVIAL_0_5ML = "cryovial_0_5ml", "Cryovial 0.5 mL"
    LOBIND_1_5ML = "lobind_1_5ml", "Low-binding tube 1.5 mL"
    SCREW_TUBE_0_5ML = "screw_0_5ml", "Screw-cap tube 0.5 mL"
    PCR_TUBE = "pcr_tube", "PCR tube 0.2 mL"
    CONICAL_15ML = "conical_15ml", "Conical tube 15 mL"
    CONICAL_50ML = "conical_50ml", "Conical tube 50 mL"
    OTHER = "other", "Other"


class CustodyKind(models.TextChoices):
    CREATED = "created", "Created"
    PLACED = "placed", "Placed"
    MOVED = "moved", "Moved"
    CHECKED_OUT = "checked_out", "Checked out"
    CHECKED_IN = "checked_in", "Checked in"
    THAWED = "thawed", "Thawed"
    FROZEN = "frozen", "Frozen"
    SHIPPED = "shipped", "Shipped"
    RECEIVED = "received", "Received"
    CONSUMED = "consumed", "Consumed"
    DISCARDED = "discarded", "Discarded"
    WITHDRAWN = "withdrawn", "Volume withdrawn"
    RETURNED = "returned", "Volume returned"


class ComplianceProfile(models.TextChoices):
    # The rule set a study is scored against (assays.compliance keeps the rules as data).
    MISEV2018 = "MISEV2018", "MISEV2018 checklist"
    MISEV2023 = "MISEV2023", "MISEV2023"
