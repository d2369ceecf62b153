"""What was done to material: isolation protocols (versioned, typed steps), rotors, runs and
the EV preparations they produced, and the characterisation of those preparations."""

from .compliance import ComplianceRule
from .imaging import ImagingImage, ImagingRecord
from .instruments import Instrument, InstrumentFile, ParticleMeasurement
from .isolation import EVPreparation, IsolationRun, RunInput
from .markers import Marker, MarkerResult
from .measurements import DLSMeasurement, FlowMeasurement, QPCRResult, QPCRRun
from .protein import ProteinAssay, ProteinMeasurement
from .protocols import IsolationProtocol, ProtocolStep, ProtocolVersion, Rotor

__all__ = [
    "ComplianceRule",
    "DLSMeasurement",
    "EVPreparation",
    "FlowMeasurement",
    "ImagingImage",
    "ImagingRecord",
    "Instrument",
    "InstrumentFile",
    "IsolationProtocol",
    "IsolationRun",
    "Marker",
    "MarkerResult",
    "ParticleMeasurement",
    "ProteinAssay",
    "ProteinMeasurement",
    "ProtocolStep",
    "ProtocolVersion",
    "QPCRResult",
    "QPCRRun",
    "Rotor",
    "RunInput",
]
