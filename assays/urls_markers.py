"""Marker results, the marker vocabulary and imaging records (owner: pages B)."""

from django.urls import path

from .views import imaging, markers

urlpatterns = [
    # Marker results (western blot, ELISA, flow, …) and their blot images
    path("markers/results/", markers.MarkerResultListView.as_view(), name="marker-result-list"),
    path("markers/results/new/", markers.marker_result_create, name="marker-result-create"),
    path("markers/results/<int:pk>/", markers.marker_result_detail, name="marker-result-detail"),
    path("markers/results/<int:pk>/edit/", markers.marker_result_edit, name="marker-result-edit"),
    path(
        "markers/results/<int:pk>/delete/",
        markers.marker_result_delete,
        name="marker-result-delete",
    ),
    path(
        "markers/results/<int:pk>/history/",
        markers.MarkerResultHistoryView.as_view(),
        name="marker-result-history",
    ),
    path("markers/results/<int:pk>/blot/", markers.marker_blot, name="marker-blot"),
    # The marker vocabulary (HGNC symbol → MISEV category)
    path("markers/", markers.marker_list, name="marker-list"),
    path("markers/lookup.json", markers.marker_lookup, name="marker-lookup"),
    path("markers/new/", markers.marker_create, name="marker-create"),
    path("markers/<int:pk>/edit/", markers.marker_edit, name="marker-edit"),
    path("markers/<int:pk>/history/", markers.marker_history, name="marker-history"),
    # Imaging (TEM, cryo-EM, AFM, …) and the image files
    path("imaging/", imaging.ImagingListView.as_view(), name="imaging-list"),
    path("imaging/new/", imaging.imaging_create, name="imaging-create"),
    path("imaging/<int:pk>/", imaging.imaging_detail, name="imaging-detail"),
    path("imaging/<int:pk>/images/", imaging.imaging_add_image, name="imaging-add-image"),
    path("imaging/<int:pk>/delete/", imaging.imaging_delete, name="imaging-delete"),
    path("imaging/<int:pk>/history/", imaging.ImagingHistoryView.as_view(), name="imaging-history"),
    path("imaging/images/<int:pk>/", imaging.imaging_image, name="imaging-image"),
    path(
        "imaging/images/<int:pk>/thumbnail/",
        imaging.imaging_thumbnail,
        name="imaging-thumbnail",
    ),
    path(
        "imaging/images/<int:pk>/delete/",
        imaging.imaging_image_delete,
        name="imaging-image-delete",
    ),
]
