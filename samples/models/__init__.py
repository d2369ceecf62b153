"""Material and where it is: studies and access, donors, samples, tubes, storage, custody."""

from ..manifest_models import ManifestUpload, ManifestUploadStatus
from .storage import StorageUnit, parse_position, position_label
from .studies import (
    ACCESSION_PREFIX,
    ACCESSION_SEQUENCE,
    Donor,
    Sample,
    Study,
    StudyMembership,
    StudyScopedQuerySet,
    next_accessions,
    sample_errors,
)
from .tubes import Aliquot, CustodyEvent, freeze_thaw_count

__all__ = [
    "ACCESSION_PREFIX",
    "ACCESSION_SEQUENCE",
    "Aliquot",
    "CustodyEvent",
    "Donor",
    "ManifestUpload",
    "ManifestUploadStatus",
    "Sample",
    "StorageUnit",
    "Study",
    "StudyMembership",
    "StudyScopedQuerySet",
    "freeze_thaw_count",
    "next_accessions",
    "parse_position",
    "position_label",
    "sample_errors",
]
