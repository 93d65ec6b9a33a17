"""liquids: the attractive (KA-LJ) and repulsive (KA-WCA) glass formers.

Simulation with jax-md, structure and dynamics analysis, softness. May import
:mod:`landscape`, never :mod:`pnn`.
"""

from liquids.structure import (
    PairCorrelation,
    StructureFactor,
    pair_correlation,
    structure_factor,
)
from liquids.trajectory import Trajectory, read_trajectory, write_trajectory

__all__ = [
    "PairCorrelation",
    "StructureFactor",
    "Trajectory",
    "pair_correlation",
    "read_trajectory",
    "structure_factor",
    "write_trajectory",
]
