"""A stack of physical layers, itself a substrate.

Training methods see one object with the two faces of :class:`Substrate`: the
digital model of the whole stack, f_m = f_m^L o ... o f_m^1, and one query of
the physical stack, f_p = f_p^L o ... o f_p^1 (each layer with its own reality
gap and an independent noise key). Methods that need the layers one by one
(physics-aware training, direct feedback alignment, forward-forward) read
:attr:`Network.layers`.

:class:`AffineReadout` is the digital linear readout that PNN experiments keep
in software, and :class:`DigitalActivation` the elementwise nonlinearity
applied in software between two analogue layers (after the ADC of a crossbar,
say). Neither has a reality gap, so their two faces coincide.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import pydantic

from landscape.config import FrozenConfig
from landscape.validate import require_positive, require_positive_int
from pnn.registry import build_substrate
from pnn.substrate import Substrate, standard_normal

logger = logging.getLogger(__name__)

__all__ = [
    "AffineReadout",
    "DigitalActivation",
    "Network",
    "NetworkSpec",
    "build_network",
]

Params = Any

_KEY = jax.ShapeDtypeStruct((2,), jnp.uint32)


@dataclasses.dataclass(frozen=True)
class AffineReadout(Substrate):
    """A digital affine map ``x W + b``, exact in both faces.

    Args:
        in_dim: input width.
        out_dim: output width (the number of classes for a readout).
        scale: standard deviation of the initial weights times ``sqrt(in_dim)``.
    """

    in_dim: int
    out_dim: int
    scale: float = 1.0
    name: str = "affine_readout"

    def __post_init__(self):
        require_positive_int("in_dim", self.in_dim)
        require_positive_int("out_dim", self.out_dim)
        require_positive("scale", self.scale)

    def init(self, key: jax.Array) -> Params:
        std = self.scale / jnp.sqrt(self.in_dim)
        weight = std * standard_normal(key, (self.in_dim, self.out_dim), jnp.float32)
        return {"weight": weight, "bias": jnp.zeros(self.out_dim)}

    def model(self, params: Params, x: jax.Array) -> jax.Array:
        return x @ params["weight"] + params["bias"]

    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        del key
        return self.model(params, x)


_ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


@dataclasses.dataclass(frozen=True)
class DigitalActivation(Substrate):
    """An elementwise nonlinearity computed in software (no parameters).

    Args:
        dim: width (``in_dim == out_dim``).
        kind: ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
    """

    dim: int
    kind: str = "relu"
    name: str = "activation"

    def __post_init__(self):
        require_positive_int("dim", self.dim)
        if self.kind not in _ACTIVATIONS:
            raise ValueError(
                f"kind must be one of {sorted(_ACTIVATIONS)}, got {self.kind!r}"
            )

    @property
    def in_dim(self) -> int:
        return self.dim

    @property
    def out_dim(self) -> int:
        return self.dim

    def init(self, key: jax.Array) -> Params:
        del key
        return ()

    def model(self, params: Params, x: jax.Array) -> jax.Array:
        return _ACTIVATIONS[self.kind](x)

    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        del key
        return self.model(params, x)


@dataclasses.dataclass(frozen=True, init=False)
class Network(Substrate):
    """Layers applied in order; parameters are a tuple, one entry per layer.

    Args:
        layers: substrates whose widths chain (``out_dim`` of one is the
            ``in_dim`` of the next).

    Raises:
        ValueError: when there are no layers or two neighbours do not chain.
    """

    layers: tuple[Substrate, ...]
    name: str

    def __init__(self, layers: Sequence[Substrate]):
        layers = tuple(layers)
        if not layers:
            raise ValueError("layers must hold at least one substrate, got none")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Substrate):
                raise TypeError(
                    f"layers[{i}] must be a pnn.Substrate, got {type(layer).__name__}"
                )
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
            if a.out_dim != b.in_dim:
                raise ValueError(
                    f"layers[{i}] ({a.name}) has out_dim {a.out_dim} but "
                    f"layers[{i + 1}] ({b.name}) has in_dim {b.in_dim}; "
                    "neighbouring widths must match"
                )
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "name", "+".join(layer.name for layer in layers))

    @property
    def in_dim(self) -> int:
        return self.layers[0].in_dim

    @property
    def out_dim(self) -> int:
        return self.layers[-1].out_dim

    @property
    def depth(self) -> int:
        """Number of layers."""
        return len(self.layers)

    @property
    def energy_based(self) -> bool:
        """A single energy-based layer is an energy-based network."""
        return len(self.layers) == 1 and self.layers[0].energy_based

    def init(self, key: jax.Array) -> Params:
        keys = jax.random.split(key, len(self.layers))
        return tuple(layer.init(k) for layer, k in zip(self.layers, keys, strict=True))

    def model(self, params: Params, x: jax.Array) -> jax.Array:
        for layer, p in zip(self.layers, params, strict=True):
            x = layer.model(p, x)
        return x

    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        return self.physical_activations(params, x, key)[-1]

    def physical_activations(
        self, params: Params, x: jax.Array, key: jax.Array
    ) -> list[jax.Array]:
        """Inputs and outputs of every layer in one physical query.

        Returns:
            ``[x, h_1, ..., h_L]``, each ``[batch, width_l]``; on hardware these
            are the measured intermediate states.
        """
        keys = jax.random.split(key, len(self.layers))
        states = [x]
        for layer, p, k in zip(self.layers, params, keys, strict=True):
            states.append(layer.physical(p, states[-1], k))
        return states

    def blocks(self) -> list[tuple[int, int]]:
        """Layer ranges ``(start, stop)`` that local learning rules treat as one.

        A block starts at a layer with parameters and takes in the
        parameterless layers after it (a crossbar and the activation behind
        it, say); leading parameterless layers join the first block. Direct
        feedback alignment and forward-forward apply their signals at the
        output of each block.
        """
        starts = [
            i
            for i, layer in enumerate(self.layers)
            if jax.tree_util.tree_leaves(jax.eval_shape(layer.init, _KEY))
        ]
        starts = [0, *starts[1:]]
        stops = [*starts[1:], len(self.layers)]
        return list(zip(starts, stops, strict=True))

    def block_model(self, params: Params, x: jax.Array, block: tuple[int, int]):
        """The digital model of layers ``block[0]:block[1]``; ``params`` is the
        tuple of those layers' parameters."""
        for layer, p in zip(self.layers[block[0] : block[1]], params, strict=True):
            x = layer.model(p, x)
        return x

    def project(self, params: Params) -> Params:
        """Map parameters back into each layer's physical range (each
        layer's ``project``: conductances clipped to the devices' window...)."""
        return tuple(
            layer.project(p) for layer, p in zip(self.layers, params, strict=True)
        )


class NetworkSpec(FrozenConfig):
    """A network of substrate layers, widths filled in from the data.

    Attributes:
        name: label in tables and files.
        substrate: a substrate table (``kind`` plus its options) without
            ``in_dim``/``out_dim``, which the study sets; each layer gets seed
            ``substrate.seed + layer index``, so layers are different devices.
        hidden: widths of the hidden substrate layers (``[]``: one layer).
        activation: digital nonlinearity between substrate layers.
        readout: end with a digital affine readout to the classes (the last
            substrate layer then has width ``readout_width``).
        readout_width: output width of the last substrate layer when
            ``readout`` is true.
        methods: restrict the study to these methods on this network
            (``None``: every compatible method the study lists).
    """

    name: str
    substrate: dict[str, Any]
    hidden: list[pydantic.PositiveInt] = []
    activation: Literal["relu", "tanh", "sigmoid"] = "relu"
    readout: bool = False
    readout_width: pydantic.PositiveInt = 16
    methods: list[str] | None = None

    @pydantic.field_validator("substrate")
    @classmethod
    def _no_widths(cls, table: dict[str, Any]) -> dict[str, Any]:
        for key in ("in_dim", "out_dim"):
            if key in table:
                raise ValueError(f"{key!r} is set by the study; remove it")
        if "kind" not in table:
            raise ValueError("needs a 'kind' (the substrate type)")
        return table

    def layer_tables(self, in_dim: int, num_classes: int) -> list[dict[str, Any]]:
        """The substrate table of every layer, widths and seeds filled in."""
        last = self.readout_width if self.readout else num_classes
        widths = [in_dim, *self.hidden, last]
        seed = int(self.substrate.get("seed", 0))
        return [
            {**self.substrate, "in_dim": a, "out_dim": b, "seed": seed + i}
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        ]


def build_network(spec: NetworkSpec, in_dim: int, num_classes: int) -> Network:
    """The :class:`Network` a spec describes for data of width ``in_dim``."""
    layers = []
    tables = spec.layer_tables(in_dim, num_classes)
    for i, table in enumerate(tables):
        layers.append(build_substrate(table))
        if i < len(tables) - 1:
            layers.append(DigitalActivation(table["out_dim"], spec.activation))
    if spec.readout:
        layers.append(AffineReadout(tables[-1]["out_dim"], num_classes))
    return Network(layers)
