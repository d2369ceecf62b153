"""API v1 routes: the four study-scoped resources, tokens, ``me``, schema and docs."""

from importlib.util import find_spec

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from samples.api.views import (
    DonorViewSet,
    MembershipViewSet,
    MeView,
    SampleViewSet,
    StudyViewSet,
)

from .api import ApiTokenViewSet

router = DefaultRouter()
router.register("studies", StudyViewSet, basename="api-study")
router.register("memberships", MembershipViewSet, basename="api-membership")
router.register("donors", DonorViewSet, basename="api-donor")
router.register("samples", SampleViewSet, basename="api-sample")
router.register("tokens", ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns.append(path("sample-imports/", include("samples.api.manifest_urls")))

# Tubes/storage/custody and labels live in their own route modules (see their docstrings).
for prefix, module in (
    ("", "samples.api.tube_urls"),
    ("labels/", "samples.api.label_urls"),
    ("", "assays.api.urls"),
):
    # find_spec imports the parent package: "assays.api.urls" raises while assays/api is absent.
    try:
        present = find_spec(module) is not None
    except ModuleNotFoundError:
        present = False
    if present:
        urlpatterns.append(path(prefix, include(module)))

urlpatterns.append(path("", include(router.urls)))
