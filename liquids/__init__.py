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
from liquids.features import AngularTerm, FeatureGrid, structure_functions
from liquids.inherent import InherentStructures, quench
from liquids.integrators import MDState, md_integrator
from liquids.potentials import (
    KA_PARAMETERS,
    KAPotential,
    box_length,
    ka_species,
    kob_andersen,
    pair_potential,
)
from liquids.production import RunResult, SimulationBlowup, run_state
from liquids.readers import read_any, read_gsd, read_lammps_dump
from liquids.rearrangements import (
    HopIndicator,
    TrainingSet,
    evenly_spaced_frames,
    label_rearrangements,
    p_hop,
    training_set,
)
from liquids.scattering import StructureFactor, structure_factor
from liquids.simulation import MDConfig, frame_steps, initial_positions, minimize_fire
from liquids.softness import (
    Hyperplane,
    fit_hyperplane,
    load_hyperplane,
    save_hyperplane,
    softness,
)
from liquids.structure import PairCorrelation, pair_correlation
from liquids.sweep import SweepConfig, run_sweep, summarize_sweep
from liquids.trajectory import Trajectory, read_trajectory, write_trajectory
from liquids.weighted_gr import (
    mean_softness_from_pairs,
    weight_function,
    weighted_integral,
)

__all__ = [
    "KA_PARAMETERS",
    "KAPotential",
    "MDConfig",
    "MDState",
    "RunResult",
    "SimulationBlowup",
    "SweepConfig",
    "box_length",
    "frame_steps",
    "initial_positions",
    "ka_species",
    "kob_andersen",
    "md_integrator",
    "minimize_fire",
    "pair_potential",
    "run_state",
    "run_sweep",
    "summarize_sweep",
    "AngularTerm",
    "FeatureGrid",
    "HopIndicator",
    "Hyperplane",
    "InherentStructures",
    "TrainingSet",
    "evenly_spaced_frames",
    "fit_hyperplane",
    "label_rearrangements",
    "load_hyperplane",
    "mean_softness_from_pairs",
    "p_hop",
    "quench",
    "save_hyperplane",
    "softness",
    "structure_functions",
    "training_set",
    "weight_function",
    "weighted_integral",
    "MeanSquaredDisplacement",
    "PairCorrelation",
    "SelfIntermediateScattering",
    "StructureFactor",
    "Trajectory",
    "diffusion_constant",
    "mean_squared_displacement",
    "pair_correlation",
    "read_any",
    "read_gsd",
    "read_lammps_dump",
    "read_trajectory",
    "self_intermediate_scattering",
    "structure_factor",
    "tau_alpha",
    "write_trajectory",
]
