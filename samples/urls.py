"""Dashboard, search and the study, donor, sample, tube and storage pages."""

from django.urls import path

from . import views
from .views import history, storage, tubes

app_name = "samples"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("search/", views.search, name="search"),
    # Studies and their members
    path("studies/", views.StudyListView.as_view(), name="study-list"),
    path("studies/new/", views.StudyCreateView.as_view(), name="study-create"),
    path("studies/<int:pk>/", views.StudyDetailView.as_view(), name="study-detail"),
    path("studies/<int:pk>/edit/", views.StudyUpdateView.as_view(), name="study-edit"),
    path("studies/<int:pk>/delete/", views.StudyDeleteView.as_view(), name="study-delete"),
    path("studies/<int:pk>/history/", history.StudyHistoryView.as_view(), name="study-history"),
    path("studies/<int:pk>/members/", views.study_members, name="study-members"),
    path(
        "studies/<int:pk>/members/<int:membership_pk>/role/",
        views.membership_role,
        name="membership-role",
    ),
    path(
        "studies/<int:pk>/members/<int:membership_pk>/remove/",
        views.membership_remove,
        name="membership-remove",
    ),
    # Donors
    path("donors/", views.DonorListView.as_view(), name="donor-list"),
    path("donors/new/", views.DonorCreateView.as_view(), name="donor-create"),
    path("donors/options/", views.donor_options, name="donor-options"),
    path("donors/<int:pk>/", views.DonorDetailView.as_view(), name="donor-detail"),
    path("donors/<int:pk>/edit/", views.DonorUpdateView.as_view(), name="donor-edit"),
    path("donors/<int:pk>/delete/", views.DonorDeleteView.as_view(), name="donor-delete"),
    path("donors/<int:pk>/history/", history.DonorHistoryView.as_view(), name="donor-history"),
    # Samples
    path("samples/", views.SampleListView.as_view(), name="sample-list"),
    path("samples/new/", views.SampleCreateView.as_view(), name="sample-create"),
    path("samples/<int:pk>/", views.SampleDetailView.as_view(), name="sample-detail"),
    path("samples/<int:pk>/edit/", views.SampleUpdateView.as_view(), name="sample-edit"),
    path("samples/<int:pk>/delete/", views.SampleDeleteView.as_view(), name="sample-delete"),
    path("samples/<int:pk>/split/", views.SampleSplitView.as_view(), name="sample-split"),
    path("samples/<int:pk>/history/", history.SampleHistoryView.as_view(), name="sample-history"),
    # Tubes (aliquots); each action is a POST to tubes/<pk>/<action>/ (see tubes.ACTIONS)
    path("tubes/", tubes.AliquotListView.as_view(), name="aliquot-list"),
    path("tubes/<int:pk>/", tubes.AliquotDetailView.as_view(), name="aliquot-detail"),
    path("tubes/<int:pk>/history/", history.AliquotHistoryView.as_view(), name="aliquot-history"),
    path("tubes/<int:pk>/<slug:action>/", tubes.AliquotActionView.as_view(), name="aliquot-action"),
    # Storage: a box's detail page is its map
    path("storage/", storage.storage_list, name="storage-list"),
    path("storage/new/", storage.StorageCreateView.as_view(), name="storage-create"),
    path("storage/<int:pk>/", storage.storage_detail, name="storage-detail"),
    path("storage/<int:pk>/edit/", storage.StorageUpdateView.as_view(), name="storage-edit"),
    path(
        "storage/<int:pk>/history/",
        history.StorageUnitHistoryView.as_view(),
        name="storage-history",
    ),
    path("storage/<int:pk>/place/", storage.box_place, name="box-place"),
    path("storage/<int:pk>/scan/", storage.box_scan, name="box-scan"),
]
