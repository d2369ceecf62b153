"""Vocabularies for isolation protocols, runs and EV preparations."""

from django.db import models


class RotorType(models.TextChoices):
    FIXED_ANGLE = "fixed_angle", "Fixed angle (FA)"
    SWINGING_BUCKET = "swinging_bucket", "Swinging bucket (SW)"
    VERTICAL = "vertical", "Vertical"
    NEAR_VERTICAL = "near_vertical", "Near vertical (NVT)"


class StepKind(models.TextChoices):
    DIFFERENTIAL_CENTRIFUGATION = (
        "differential_centrifugation",
        "Low-speed / differential centrifugation",
    )
    ULTRACENTRIFUGATION = "ultracentrifugation", "Ultracentrifugation"
    DENSITY_GRADIENT = "density_gradient", "Density gradient"
    SEC = "sec", "Size-exclusion chromatography"
    PRECIPITATION = "precipitation", "Precipitation"
    ULTRAFILTRATION = "ultrafiltration", "Ultrafiltration / TFF"
    IMMUNOAFFINITY = "immunoaffinity", "Immunoaffinity capture"
    FILTRATION = "filtration", "Filtration"
    AF4 = "af4", "Asymmetric-flow field-flow fractionation (AF4)"
    KIT = "kit", "Commercial kit"
    OTHER = "other", "Other"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class RecoverySpecificity(models.TextChoices):
    # MISEV2018 frames methods on a recovery × specificity grid; the lab asserts the class.
    HIGH_LOW = "high_recovery_low_specificity", "High recovery, low specificity"
    INTERMEDIATE = "intermediate", "Intermediate recovery, intermediate specificity"
    LOW_HIGH = "low_recovery_high_specificity", "Low recovery, high specificity"
    NOT_STATED = "", "Not stated"


class NomenclatureTerm(models.TextChoices):
    # MISEV2023 Table 2; the author's own term ("exosomes", …) is stored separately.
    EV = "EV", "Extracellular vesicles (EVs)"
    SMALL_EV = "small_EV", "Small EVs"
    LARGE_EV = "large_EV", "Large EVs"
    EP = "EP", "Extracellular particles (EPs)"
    NVEP = "NVEP", "Non-vesicular extracellular particles (NVEPs)"
    EV_MIMETIC = "EV_mimetic", "EV mimetics"
    ACDV = "ACDV", "Artificial cell-derived vesicles"
    SV = "SV", "Synthetic vesicles"


class InstrumentKind(models.TextChoices):
    NTA = "nta", "Nanoparticle tracking analysis (NTA)"
    TRPS = "trps", "Resistive pulse sensing (TRPS/MRPS)"
    FLOW = "flow", "Flow cytometry / nanoFCM"
    DLS = "dls", "Dynamic light scattering"
    PLATE_READER = "plate_reader", "Plate reader"
    QPCR = "qpcr", "qPCR"
    MICROSCOPE = "microscope", "Electron / light microscope"
    OTHER = "other", "Other"


class FileStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PARSED = "parsed", "Parsed"
    FAILED = "failed", "Failed"
    NEEDS_REVIEW = "needs_review", "Needs review"


class ParticleMethod(models.TextChoices):
    NTA = "NTA", "NTA (NanoSight)"
    ZETAVIEW = "ZetaView", "NTA (ZetaView)"
