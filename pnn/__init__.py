"""pnn: simulated physical neural networks and the ways to train them.

May import :mod:`landscape`, never :mod:`liquids`.
"""

from pnn.crossbars import Crossbar, CrossbarConfig
from pnn.interferometers import Interferometer, InterferometerConfig
from pnn.methods import MethodConfig, TrainResult, train
from pnn.network import Network, NetworkSpec, build_network
from pnn.oscillators import OscillatorConfig, OscillatorLayer
from pnn.registry import SUBSTRATES, build_substrate, substrate_config
from pnn.resistor_networks import ResistorNetwork, ResistorNetworkConfig
from pnn.substrate import (
    CalibratedSubstrate,
    EnergySubstrate,
    Substrate,
    SubstrateConfig,
)
from pnn.twin import DigitalTwin, TwinConfig, fit_twin, twin_error

__all__ = [
    "SUBSTRATES",
    "CalibratedSubstrate",
    "Crossbar",
    "CrossbarConfig",
    "EnergySubstrate",
    "Interferometer",
    "InterferometerConfig",
    "MethodConfig",
    "Network",
    "NetworkSpec",
    "OscillatorConfig",
    "OscillatorLayer",
    "ResistorNetwork",
    "ResistorNetworkConfig",
    "Substrate",
    "SubstrateConfig",
    "TrainResult",
    "DigitalTwin",
    "TwinConfig",
    "fit_twin",
    "twin_error",
    "build_network",
    "build_substrate",
    "substrate_config",
    "train",
]
