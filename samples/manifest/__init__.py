"""Bulk registration of samples from a CSV or XLSX manifest.

Three stages, each usable on its own:

* ``read_manifest`` turns the file's bytes into a header and raw rows (file-level problems
  such as unknown columns raise ``ManifestError``);
* ``validate_manifest`` converts and checks every row. It resolves donor codes with one query
  and then validates row by row in memory (``samples.models.sample_errors``), so 100,000 rows
  validate without a query per row;
* ``import_manifest`` / ``commit_rows`` validate again and insert in the same pass: each
  valid row is streamed into PostgreSQL COPY as soon as it is checked, in one transaction;
  an invalid row aborts the COPY, so every row or none is imported.

The page flow stages the file as a ``ManifestUpload`` first (``stage_manifest``, preview,
then ``commit_staged_manifest``, which re-reads and re-validates the stored file against the
database as it is at commit time); the API calls ``import_manifest`` directly.
"""

from .checking import (
    ValidatedManifest,
    check_manifest,
    validate_manifest,
)
from .columns import (
    COLUMN_BY_NAME,
    COLUMN_NAMES,
    COLUMNS,
    EXAMPLE_NOTE,
    MAX_COLUMNS,
    MAX_SPINS,
    PREVIEW_ROWS,
    REQUIRED_COLUMNS,
    STORED_ERRORS,
    ManifestColumn,
    ManifestError,
    ManifestInvalid,
    RowError,
    build_template_csv,
    build_template_xlsx,
)
from .importing import (
    ImportResult,
    commit_rows,
    commit_staged_manifest,
    import_manifest,
    purge_stale_uploads,
    recheck_staged_manifest,
    stage_manifest,
)
from .reading import (
    CellError,
    ManifestTable,
    read_manifest,
)

__all__ = [
    "COLUMNS",
    "COLUMN_BY_NAME",
    "COLUMN_NAMES",
    "EXAMPLE_NOTE",
    "MAX_COLUMNS",
    "MAX_SPINS",
    "PREVIEW_ROWS",
    "REQUIRED_COLUMNS",
    "STORED_ERRORS",
    "CellError",
    "ImportResult",
    "ManifestColumn",
    "ManifestError",
    "ManifestInvalid",
    "ManifestTable",
    "RowError",
    "ValidatedManifest",
    "build_template_csv",
    "build_template_xlsx",
    "check_manifest",
    "commit_rows",
    "commit_staged_manifest",
    "import_manifest",
    "purge_stale_uploads",
    "read_manifest",
    "recheck_staged_manifest",
    "stage_manifest",
    "validate_manifest",
]
