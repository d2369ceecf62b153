"""Page forms, one module per area.

Every model form validates through the model (``full_clean`` → ``Model.clean()``; for
samples that is ``sample_errors``), so pages, API and manifest import enforce one set of
rules. Tube and storage forms only collect input: the services in ``samples.services``
change the tubes.
"""

from .donors import DonorForm
from .samples import SampleForm
from .studies import MembershipAddForm, MembershipRemoveForm, MembershipRoleForm, StudyForm
from .widgets import DATE_WIDGET, DATETIME_WIDGET

__all__ = [
    "DATETIME_WIDGET",
    "DATE_WIDGET",
    "DonorForm",
    "MembershipAddForm",
    "MembershipRemoveForm",
    "MembershipRoleForm",
    "SampleForm",
    "StudyForm",
]
