"""Isolation pages: protocols and their versions, rotors, runs and the comparison page."""

from django.urls import path
from django.views.generic import RedirectView

from .views import compare, protocols, rotors, runs

app_name = "assays"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="assays:protocol-list"), name="index"),
    # Protocol library
    path("protocols/", protocols.ProtocolListView.as_view(), name="protocol-list"),
    path("protocols/new/", protocols.protocol_create, name="protocol-create"),
    path("protocols/<int:pk>/", protocols.protocol_detail, name="protocol-detail"),
    path("protocols/diff/", protocols.version_diff, name="version-diff"),
    path("versions/<int:pk>/", protocols.version_detail, name="version-detail"),
    path("versions/<int:pk>/edit/", protocols.version_edit, name="version-edit"),
    path("versions/<int:pk>/sop/", protocols.version_sop, name="version-sop"),
    path("versions/<int:pk>/publish/", protocols.version_publish, name="version-publish"),
    path("versions/<int:pk>/retire/", protocols.version_retire, name="version-retire"),
    path("versions/<int:pk>/new-version/", protocols.version_new, name="version-new"),
    path("versions/<int:pk>/clone/", protocols.version_clone, name="version-clone"),
    path("versions/<int:pk>/record-run/", runs.run_create, name="run-create"),
    # Rotors
    path("rotors/", rotors.RotorListView.as_view(), name="rotor-list"),
    path("rotors/new/", rotors.RotorCreateView.as_view(), name="rotor-create"),
    path("rotors/calculator/", rotors.calculator, name="rotor-calculator"),
    path("rotors/<int:pk>/edit/", rotors.RotorUpdateView.as_view(), name="rotor-edit"),
    path("rotors/<int:pk>/convert/", rotors.rotor_convert, name="rotor-convert"),
    # Runs
    path("runs/", runs.RunListView.as_view(), name="run-list"),
    path("runs/<int:pk>/", runs.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/history/", runs.RunHistoryView.as_view(), name="run-history"),
    # Comparison
    path("compare/", compare.compare, name="compare"),
]
