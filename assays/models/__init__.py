"""What was done to material: isolation protocols (versioned, typed steps), rotors, runs and
the EV preparations they produced. Characterisation assays join later."""

from .instruments import Instrument, InstrumentFile, ParticleMeasurement
from .isolation import EVPreparation, IsolationRun, RunInput
from .protocols import IsolationProtocol, ProtocolStep, ProtocolVersion, Rotor

__all__ = [
    "EVPreparation",
    "Instrument",
    "InstrumentFile",
    "IsolationProtocol",
    "IsolationRun",
    "ParticleMeasurement",
    "ProtocolStep",
    "ProtocolVersion",
    "Rotor",
    "RunInput",
]
