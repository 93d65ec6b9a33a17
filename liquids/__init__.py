"""liquids: the attractive (KA-LJ) and repulsive (KA-WCA) glass formers.

Simulation with jax-md, structure and dynamics analysis, softness. May import
:mod:`landscape`, never :mod:`pnn`.
"""

from liquids.dynamics import (
    MeanSquaredDisplacement,
    SelfIntermediateScattering,
    diffusion_constant,
    mean_squared_displacement,
    self_intermediate_scattering,
    tau_alpha,
)
from liquids.readers import read_gsd, read_lammps_dump
from liquids.structure import (
    PairCorrelation,
    StructureFactor,
    pair_correlation,
    structure_factor,
)
from liquids.trajectory import Trajectory, read_trajectory, write_trajectory

__all__ = [
    "MeanSquaredDisplacement",
    "PairCorrelation",
    "SelfIntermediateScattering",
    "StructureFactor",
    "Trajectory",
    "diffusion_constant",
    "mean_squared_displacement",
    "pair_correlation",
    "read_gsd",
    "read_lammps_dump",
    "read_trajectory",
    "self_intermediate_scattering",
    "structure_factor",
    "tau_alpha",
    "write_trajectory",
]
