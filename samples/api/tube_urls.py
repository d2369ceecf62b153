"""API routes for tubes, storage and custody, included at /api/v1/ by exolims.api_urls.

A SimpleRouter, not a DefaultRouter: the API root view belongs to the main router.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .tubes import AliquotViewSet, CustodyEventViewSet, SampleLineageView, StorageUnitViewSet

router = SimpleRouter()
router.register("aliquots", AliquotViewSet, basename="api-aliquot")
router.register("storage-units", StorageUnitViewSet, basename="api-storage-unit")
router.register("custody-events", CustodyEventViewSet, basename="api-custody-event")

urlpatterns = [
    path("samples/<int:pk>/lineage/", SampleLineageView.as_view(), name="api-sample-lineage"),
    *router.urls,
]
