"""Isolation pages: protocols and their versions, rotors, runs and the comparison page;
instrument files and particle results."""

from django.urls import include, path
from django.views.generic import RedirectView

from .views import compare, files, particles, protocols, rotors, runs

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
    # Instrument files: upload (page + JSON endpoints behind its drop zone), list, detail
    path("files/", files.FileListView.as_view(), name="file-list"),
    path("files/upload/", files.UploadPageView.as_view(), name="file-upload"),
    path("files/upload.json", files.upload_file, name="file-upload-json"),
    path("files/status.json", files.file_statuses, name="file-statuses"),
    path("files/<int:pk>/", files.FileDetailView.as_view(), name="file-detail"),
    path("files/<int:pk>/status.json", files.file_status, name="file-status"),
    path("files/<int:pk>/download/", files.file_download, name="file-download"),
    path("files/<int:pk>/reprocess/", files.file_reprocess, name="file-reprocess"),
    path("files/<int:pk>/resolve/", files.file_resolve, name="file-resolve"),
    path("files/<int:pk>/history/", files.FileHistoryView.as_view(), name="file-history"),
    # Particle results (NTA, ZetaView)
    path("particles/", particles.ParticleListView.as_view(), name="particle-list"),
    path("particles/<int:pk>/", particles.ParticleDetailView.as_view(), name="particle-detail"),
    path("particles/<int:pk>/plot.svg", particles.particle_plot, name="particle-plot"),
    # Characterisation beyond particle counts
    path("", include("assays.urls_characterisation")),
    path("", include("assays.urls_markers")),
    path("", include("assays.urls_reporting")),
    path("", include("assays.urls_compliance")),
]
