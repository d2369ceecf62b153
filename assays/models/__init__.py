"""What was done to material: isolation protocols (versioned, typed steps), rotors, runs and
the EV preparations they produced. Characterisation assays join later."""

from .isolation import EVPreparation, IsolationRun, RunInput
from .protocols import IsolationProtocol, ProtocolStep, ProtocolVersion, Rotor

__all__ = [
    "EVPreparation",
    "IsolationProtocol",
    "IsolationRun",
    "ProtocolStep",
    "ProtocolVersion",
    "Rotor",
    "RunInput",
]
