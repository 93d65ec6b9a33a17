"""pnn: simulated physical neural networks and the ways to train them.

May import :mod:`landscape`, never :mod:`liquids`.
"""

from pnn.substrate import Substrate

__all__ = ["Substrate"]
