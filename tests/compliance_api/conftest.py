"""Compliance API fixtures: the isolation fixtures (protocol, run, tubes) and our own rules
and preparations (tests/compliance_pages/fixtures.py)."""

from tests.compliance_pages.fixtures import (  # noqa: F401 (fixtures)
    bare,
    complete,
    librarian,
    measure,
    record_run,
    rules,
    sec,
    seeded,
    staff,
)
from tests.isolation.fixtures import (  # noqa: F401 (fixtures)
    box,
    draft,
    fast_password_hashing,
    input_tube,
    published,
    sample,
    started,
    sw41,
    uc_steps,
)
