"""Small flax networks for landscape experiments.

* :class:`MLP`: fully connected network ``in -> widths... -> classes``.
* :class:`MyrtleCNN`: a Myrtle-5-like convolutional network (conv, conv,
  pool, conv, pool, conv, global pool, dense) sized for 8x8 digit images; the
  CIFAR Myrtle-5 of Ruiz-Garcia et al. (ICML 2021) shrunk to 8x8 inputs.

:func:`build_model` builds one from a :class:`ModelConfig`;
:func:`init_params` draws its parameters and :func:`make_apply_fn` returns
``apply_fn(params, x) -> logits`` in the form the NTK code expects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import pydantic
from jaxtyping import Array, Float

from landscape.config import FrozenConfig

logger = logging.getLogger(__name__)

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "ModelConfig",
    "MyrtleCNN",
    "build_model",
    "init_params",
    "make_apply_fn",
    "num_params",
]

Activation = Literal["relu", "tanh", "gelu", "softplus", "silu", "identity"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "gelu": nn.gelu,
    "softplus": nn.softplus,
    "silu": nn.silu,
    "identity": lambda x: x,
}


class MLP(nn.Module):
    """Fully connected classifier.

    Attributes:
        widths: hidden-layer widths (empty: a linear model).
        num_classes: outputs (logits).
        activation: name of the hidden nonlinearity (see :data:`ACTIVATIONS`).
        use_bias: add biases to every layer.
        dtype: computation dtype; ``param_dtype``: parameter dtype.

    Input ``[batch, features]``, output ``[batch, num_classes]``. Kernels use
    flax's default LeCun-normal initialisation, biases start at zero.
    """

    widths: Sequence[int]
    num_classes: int
    activation: Activation = "relu"
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Float[Array, "batch features"]) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        x = x.astype(self.dtype)
        for width in self.widths:
            x = act(self._dense(width)(x))
        return self._dense(self.num_classes)(x)

    def _dense(self, features: int) -> nn.Dense:
        return nn.Dense(
            features,
            use_bias=self.use_bias,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )


class MyrtleCNN(nn.Module):
    """Myrtle-5-like CNN for small square images.

    Layers: 3x3 conv (w), then three blocks of 3x3 conv (w, 2w, 4w) each
    followed by pooling (2x2 average, 2x2 average, global average), then a
    dense read-out. Inputs are ``[batch, side * side]`` (flattened, one
    channel) or ``[batch, side, side, channels]``.

    Attributes:
        width: channels w of the first block.
        num_classes: outputs.
        side: image side when inputs are flattened (8 for digits).
        activation: hidden nonlinearity name.
        use_bias: biases in convs and the read-out.
        dtype, param_dtype: computation and parameter dtypes.
    """

    width: int
    num_classes: int
    side: int = 8
    activation: Activation = "relu"
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        if x.ndim == 2:
            x = x.reshape(x.shape[0], self.side, self.side, 1)
        x = x.astype(self.dtype)
        x = act(self._conv(self.width)(x))
        for i, mult in enumerate((1, 2, 4)):
            x = act(self._conv(mult * self.width)(x))
            if i < 2:
                x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(
            self.num_classes,
            use_bias=self.use_bias,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )(x)

    def _conv(self, features: int) -> nn.Conv:
        return nn.Conv(
            features,
            (3, 3),
            padding="SAME",
            use_bias=self.use_bias,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )


class ModelConfig(FrozenConfig):
    """Which network to build.

    Attributes:
        kind: ``"mlp"`` or ``"cnn"`` (:class:`MyrtleCNN`).
        widths: hidden widths of the MLP.
        width: channels of the CNN's first block.
        activation: hidden nonlinearity.
        use_bias: biases everywhere.
    """

    kind: Literal["mlp", "cnn"] = "mlp"
    widths: tuple[pydantic.PositiveInt, ...] = (16,)
    width: pydantic.PositiveInt = 8
    activation: Activation = "relu"
    use_bias: bool = True


def build_model(config: ModelConfig, num_classes: int, dtype=jnp.float32) -> nn.Module:
    """The flax module described by ``config``.

    Args:
        config: architecture.
        num_classes: number of outputs.
        dtype: parameter and computation dtype (``jnp.float64`` needs
            ``jax.enable_x64``).
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    common = dict(
        num_classes=int(num_classes),
        activation=config.activation,
        use_bias=config.use_bias,
        dtype=dtype,
        param_dtype=dtype,
    )
    if config.kind == "mlp":
        return MLP(widths=tuple(config.widths), **common)
    return MyrtleCNN(width=config.width, **common)


def init_params(module: nn.Module, key: int | jax.Array, x_example: jax.Array) -> Any:
    """Draw the parameters of ``module`` for inputs shaped like ``x_example``.

    Args:
        module: a flax module.
        key: a PRNG key, or an integer seed, which is turned into a key of
            the ``"rbg"`` implementation: on CPU its initialisers compile in
            seconds where the default threefry key can take a minute for a
            small CNN.
        x_example: ``[batch, ...]`` example inputs (only the shape is used).

    Returns:
        The inner ``params`` collection (a pytree of arrays).
    """
    if isinstance(key, int):
        key = jax.random.key(key, impl="rbg")
    x = jnp.asarray(x_example[:1])
    return jax.jit(module.init)(key, x)["params"]


def make_apply_fn(module: nn.Module) -> Callable[[Any, jax.Array], jax.Array]:
    """``apply_fn(params, x) -> [batch, classes]`` for the parameters of
    :func:`init_params` (the signature of :func:`landscape.ntk.empirical_ntk`).
    """

    def apply_fn(params: Any, x: jax.Array) -> jax.Array:
        return module.apply({"params": params}, x)

    return apply_fn


def num_params(params: Any) -> int:
    """Total number of scalar parameters in a pytree."""
    return int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))
