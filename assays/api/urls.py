"""API routes for rotors, isolation protocols, versions, step kinds, runs, EV preparations,
instruments, instrument files, particle measurements and the characterisation records
(protein, markers, imaging, flow, DLS, qPCR); included at /api/v1/ by exolims.api_urls.

A SimpleRouter, not a DefaultRouter: the API root view belongs to the main router.
"""

from rest_framework.routers import SimpleRouter

from .characterisation import (
    DLSMeasurementViewSet,
    FlowMeasurementViewSet,
    ImagingRecordViewSet,
    MarkerResultViewSet,
    MarkerViewSet,
    ProteinAssayViewSet,
    ProteinMeasurementViewSet,
    QPCRResultViewSet,
    QPCRRunViewSet,
)
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
router.register(
    "protein-measurements", ProteinMeasurementViewSet, basename="api-protein-measurement"
)
router.register("protein-assays", ProteinAssayViewSet, basename="api-protein-assay")
router.register("markers", MarkerViewSet, basename="api-marker")
router.register("marker-results", MarkerResultViewSet, basename="api-marker-result")
router.register("imaging-records", ImagingRecordViewSet, basename="api-imaging-record")
router.register("flow-measurements", FlowMeasurementViewSet, basename="api-flow-measurement")
router.register("dls-measurements", DLSMeasurementViewSet, basename="api-dls-measurement")
router.register("qpcr-runs", QPCRRunViewSet, basename="api-qpcr-run")
router.register("qpcr-results", QPCRResultViewSet, basename="api-qpcr-result")

urlpatterns = router.urls

# Compliance: reports under ev-preparations/{id}/ and studies/{id}/, EV-TRACK records and the
# rules (assays/api/compliance.py). Plain paths, so the viewsets above stay untouched.
from .compliance import urlpatterns as compliance_urlpatterns  # noqa: E402

urlpatterns += compliance_urlpatterns
