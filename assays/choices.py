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


# --- Characterisation -------------------------------------------------------------------------


class ControlKind(models.TextChoices):
    BLANK = "blank", "Blank (diluent / reagent)"
    BUFFER_ONLY = "buffer_only", "Buffer only"
    ISOTYPE = "isotype", "Isotype control"
    UNSTAINED = "unstained", "Unstained"
    FMO = "fmo", "Fluorescence minus one (FMO)"
    DETERGENT = "detergent", "Detergent lysis"
    SERIAL_DILUTION = "serial_dilution", "Serial dilution"
    REFERENCE_MATERIAL = "reference_material", "Reference material / beads"
    POSITIVE = "positive", "Positive control (e.g. cell lysate)"
    NEGATIVE = "negative", "Negative control"
    NTC = "ntc", "No-template control"
    OTHER = "other", "Other"


class ProteinMethod(models.TextChoices):
    BCA = "bca", "BCA"
    MICRO_BCA = "micro_bca", "Micro-BCA"
    BRADFORD = "bradford", "Bradford"
    QUBIT = "qubit", "Qubit"
    LOWRY = "lowry", "Lowry"
    OTHER = "other", "Other"


class CurveModel(models.TextChoices):
    LINEAR = "linear", "Linear"
    FOUR_PL = "4pl", "4-parameter logistic"


class ProteinAssayStatus(models.TextChoices):
    AWAITING_MAP = "awaiting_map", "Awaiting plate map"
    COMPUTED = "computed", "Computed"
    FIT_FAILED = "fit_failed", "Curve could not be fitted"


class MarkerCategory(models.TextChoices):
    # MISEV2018 Table 3 categories; the vocabulary rows say which marker is in which.
    TRANSMEMBRANE = "1a", "1a · Transmembrane/GPI-anchored, non tissue-specific"
    TRANSMEMBRANE_SPECIFIC = "1b", "1b · Transmembrane, cell/tissue-specific"
    CYTOSOLIC = "2a", "2a · Cytosolic, membrane-binding"
    CYTOSOLIC_PROMISCUOUS = "2b", "2b · Cytosolic, promiscuous incorporation"
    NON_EV = "3", "3 · Non-EV co-isolated structure"
    OTHER_COMPARTMENT = "4", "4 · Other intracellular compartment"
    SECRETED = "5", "5 · Secreted / extracellular-associated"


class MarkerMethod(models.TextChoices):
    WESTERN_BLOT = "western_blot", "Western blot"
    ELISA = "elisa", "ELISA"
    FLOW = "flow", "Flow cytometry"
    MASS_SPEC = "mass_spec", "Mass spectrometry"
    BEAD_ASSAY = "bead_assay", "Bead-based assay"
    IMMUNOFLUORESCENCE = "immunofluorescence", "Immunofluorescence"
    OTHER = "other", "Other"


# Methods that use an antibody (EV-METRIC "antibody specifics") or a lysate ("lysate prep.").
ANTIBODY_METHODS = frozenset({"western_blot", "elisa", "flow", "bead_assay", "immunofluorescence"})
LYSATE_METHODS = frozenset({"western_blot", "mass_spec"})


class Detection(models.TextChoices):
    DETECTED = "detected", "Detected"
    NOT_DETECTED = "not_detected", "Not detected"
    AMBIGUOUS = "ambiguous", "Ambiguous"


class LoadingUnit(models.TextChoices):
    UG_PROTEIN = "ug_protein", "µg protein"
    PARTICLES = "particles", "particles"
    UL = "ul", "µL of preparation"
    EV_EQUIVALENT_ML = "ml_input", "mL input-fluid equivalent"


class ImagingMethod(models.TextChoices):
    TEM = "tem", "TEM (negative stain)"
    CRYO_EM = "cryo_em", "Cryo-EM"
    SEM = "sem", "SEM"
    AFM = "afm", "AFM"
    SUPER_RESOLUTION = "super_resolution", "Super-resolution microscopy"
    OTHER = "other", "Other"


class ImageView(models.TextChoices):
    WIDE_FIELD = "wide_field", "Wide-field"
    CLOSE_UP = "close_up", "Close-up"


class DLSKind(models.TextChoices):
    SIZE = "size", "Size (DLS)"
    ZETA = "zeta", "Zeta potential"


class FluorescenceUnit(models.TextChoices):
    ARBITRARY = "au", "Arbitrary units"
    MESF = "MESF", "MESF"
    ERF = "ERF", "ERF"


class ScatterUnit(models.TextChoices):
    ARBITRARY = "au", "Arbitrary units"
    NM = "nm", "Diameter (nm, Mie-calibrated)"
    CROSS_SECTION = "nm2", "Scattering cross-section (nm²)"


class QPCRTask(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    STANDARD = "standard", "Standard"
    NTC = "ntc", "No-template control"
    NAC = "nac", "No-amplification control"
    POSITIVE = "positive", "Positive control"
    NEGATIVE = "negative", "Negative control"
    OTHER = "other", "Other"


# --- Compliance ----------------------------------------------------------------------------


class ComplianceSeverity(models.TextChoices):
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class RuleStatus(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    WARN = "warn", "Warning"
    NOT_APPLICABLE = "na", "Not applicable"
