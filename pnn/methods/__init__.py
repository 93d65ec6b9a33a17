"""Ways to train a physical neural network, behind one interface.

Importing this package registers every method; :func:`train` runs any of them
on any compatible :class:`pnn.network.Network`.
"""

from pnn.methods import (  # noqa: F401  (importing registers the methods)
    backprop,
    coupled_learning,
    equilibrium,
    feedback_alignment,
    forward_forward,
    physics_aware,
    zeroth_order,
)
from pnn.methods.coupled_learning import coupled_update, flow_rule
from pnn.methods.equilibrium import equilibrium_gradient
from pnn.methods.interface import (
    METHOD_NAMES,
    Method,
    MethodConfig,
    TrainResult,
    check_compatible,
    compatible_methods,
    get_method,
)
from pnn.methods.physics_aware import physics_aware_forward, physics_aware_layer
from pnn.methods.training import accuracy, train
from pnn.methods.zeroth_order import spsa_gradient

__all__ = [
    "METHOD_NAMES",
    "Method",
    "MethodConfig",
    "TrainResult",
    "accuracy",
    "check_compatible",
    "compatible_methods",
    "coupled_update",
    "equilibrium_gradient",
    "flow_rule",
    "get_method",
    "physics_aware_forward",
    "physics_aware_layer",
    "spsa_gradient",
    "train",
]
