"""API routes for rotors, isolation protocols, versions, step kinds, runs, EV preparations,
instruments, instrument files and particle measurements; included at /api/v1/ by
exolims.api_urls.

A SimpleRouter, not a DefaultRouter: the API root view belongs to the main router.
"""

from rest_framework.routers import SimpleRouter

from .instrument_files import InstrumentFileViewSet, InstrumentViewSet, ParticleMeasurementViewSet
from .views import (
    EVPreparationViewSet,
    IsolationProtocolViewSet,
    IsolationRunViewSet,
    ProtocolVersionViewSet,
    RotorViewSet,
    StepKindViewSet,
)

router = SimpleRouter()
router.register("rotors", RotorViewSet, basename="api-rotor")
router.register("isolation-protocols", IsolationProtocolViewSet, basename="api-isolation-protocol")
router.register("protocol-versions", ProtocolVersionViewSet, basename="api-protocol-version")
router.register("step-kinds", StepKindViewSet, basename="api-step-kind")
router.register("isolation-runs", IsolationRunViewSet, basename="api-isolation-run")
router.register("ev-preparations", EVPreparationViewSet, basename="api-ev-preparation")
router.register("instruments", InstrumentViewSet, basename="api-instrument")
router.register("instrument-files", InstrumentFileViewSet, basename="api-instrument-file")
router.register(
    "particle-measurements", ParticleMeasurementViewSet, basename="api-particle-measurement"
)

urlpatterns = router.urls
