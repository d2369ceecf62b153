"""Characterisation pages: protein plates and results, flow, DLS and qPCR (owner: pages A)."""

from django.urls import path

from .views import measurements, protein

urlpatterns = [
    # Protein: results typed in, plates (pasted by hand or from a plate reader) and their map
    path("protein/new/", protein.protein_create, name="protein-create"),
    path("protein/<int:pk>/", protein.protein_detail, name="protein-detail"),
    path("protein/<int:pk>/edit/", protein.protein_edit, name="protein-edit"),
    path("protein/<int:pk>/delete/", protein.protein_delete, name="protein-delete"),
    path("protein/plates/", protein.ProteinAssayListView.as_view(), name="protein-assay-list"),
    path("protein/plates/new/", protein.protein_assay_create, name="protein-assay-create"),
    path("protein/plates/<int:pk>/", protein.protein_assay_detail, name="protein-assay-detail"),
    path("protein/plates/<int:pk>/map/", protein.protein_assay_map, name="protein-assay-map"),
    path(
        "protein/plates/<int:pk>/curve.svg",
        protein.protein_assay_curve,
        name="protein-assay-curve",
    ),
    # Flow cytometry (FCS files)
    path("flow/", measurements.FlowListView.as_view(), name="flow-list"),
    path("flow/<int:pk>/", measurements.flow_detail, name="flow-detail"),
    # DLS and zeta potential
    path("dls/", measurements.DLSListView.as_view(), name="dls-list"),
    path("dls/new/", measurements.dls_create, name="dls-create"),
    path("dls/<int:pk>/", measurements.dls_detail, name="dls-detail"),
    path("dls/<int:pk>/edit/", measurements.dls_edit, name="dls-edit"),
    path("dls/<int:pk>/delete/", measurements.dls_delete, name="dls-delete"),
    # qPCR runs and Cq values
    path("qpcr/", measurements.QPCRRunListView.as_view(), name="qpcr-run-list"),
    path("qpcr/new/", measurements.qpcr_create, name="qpcr-create"),
    path("qpcr/<int:pk>/", measurements.qpcr_run_detail, name="qpcr-run-detail"),
]
