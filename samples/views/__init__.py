"""Server-rendered pages, one module per area. Every queryset starts from
``visible_to(user)``: an object from a study the user cannot see is a 404; seeing it
without the needed role is a 403. ``samples/urls.py`` names the views through this package."""

from .dashboard import dashboard
from .donors import (
    DonorCreateView,
    DonorDeleteView,
    DonorDetailView,
    DonorListView,
    DonorUpdateView,
)
from .samples import (
    SampleCreateView,
    SampleDeleteView,
    SampleDetailView,
    SampleListView,
    SampleSplitView,
    SampleUpdateView,
    donor_options,
)
from .search import search
from .studies import (
    StudyCreateView,
    StudyDeleteView,
    StudyDetailView,
    StudyListView,
    StudyUpdateView,
    membership_remove,
    membership_role,
    study_members,
)

__all__ = [
    "DonorCreateView",
    "DonorDeleteView",
    "DonorDetailView",
    "DonorListView",
    "DonorUpdateView",
    "SampleCreateView",
    "SampleDeleteView",
    "SampleDetailView",
    "SampleListView",
    "SampleSplitView",
    "SampleUpdateView",
    "StudyCreateView",
    "StudyDeleteView",
    "StudyDetailView",
    "StudyListView",
    "StudyUpdateView",
    "dashboard",
    "donor_options",
    "membership_remove",
    "membership_role",
    "search",
    "study_members",
]
