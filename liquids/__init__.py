"""liquids: the attractive (KA-LJ) and repulsive (KA-WCA) glass formers.

Simulation with jax-md, structure and dynamics analysis, softness. May import
:mod:`landscape`, never :mod:`pnn`.
"""

from liquids.trajectory import Trajectory, read_trajectory, write_trajectory

__all__ = ["Trajectory", "read_trajectory", "write_trajectory"]
