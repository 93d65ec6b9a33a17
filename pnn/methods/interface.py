"""One interface for every way of training a physical neural network.

A :class:`Method` turns a minibatch into a parameter update. It may query the
physical system (the black box f_p) and may differentiate the digital model
f_m; it declares how many physical evaluations one training sample costs, so
that every method's cost is counted the same way.

**Counting convention.** One *physical evaluation* is one input sample sent
once through the whole physical network (all layers; the measured
intermediate states come with it). A minibatch of ``B`` samples queried once
costs ``B``. SPSA queries twice per step, so it costs ``2 B`` per step;
in-silico and noise-aware training cost nothing during training. Evaluations
spent on measuring test accuracy are not training cost and are not counted.

Methods are looked up by name in a registry; :func:`check_compatible` raises a
:class:`ValueError` that names the valid combinations when a method cannot
train a network (equilibrium propagation on a layer without an energy, say).
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from typing import Any, ClassVar, Literal, get_args

import jax
import numpy as np
import optax
import pydantic

from landscape.config import FrozenConfig
from pnn.network import Network

logger = logging.getLogger(__name__)

__all__ = [
    "METHOD_NAMES",
    "Method",
    "MethodConfig",
    "TrainResult",
    "check_compatible",
    "compatible_methods",
    "cross_entropy",
    "get_method",
    "register",
]

Params = Any

MethodName = Literal[
    "backprop",
    "in_silico",
    "noise_aware",
    "physics_aware",
    "spsa",
    "feedback_alignment",
    "forward_forward",
    "equilibrium",
    "coupled_learning",
]
METHOD_NAMES: tuple[str, ...] = get_args(MethodName)


class MethodConfig(FrozenConfig):
    """How to train: the method, the optimiser and each method's knobs.

    Attributes:
        method: one of :data:`METHOD_NAMES`.
        epochs: passes over the training set.
        batch_size: samples per step (the last partial batch is dropped).
        learning_rate: step size of the optimiser (the rate ``alpha`` of
            coupled learning).
        optimizer: ``"adam"`` or ``"sgd"`` (for coupled learning ``"sgd"``
            is the plain rule with rate ``alpha = learning_rate``).
        noise_std: noise-aware training: standard deviation of the Gaussian
            noise added to each layer's output, relative to its RMS, in [0, 1].
        spsa_perturbation: SPSA step ``c`` of the perturbation ``c Delta``.
        feedback_scale: DFA: standard deviation of the fixed random feedback
            matrices times ``sqrt(num_classes)``.
        ff_threshold: forward-forward: goodness threshold per unit (the
            threshold of a layer of width ``n`` is ``n * ff_threshold``).
        ff_label_scale: forward-forward: size of the label embedding added to
            the input.
        ep_beta: equilibrium propagation nudging strength ``beta`` (a
            conductance: the nudge injects ``beta (target - output)`` into
            each output node; it must stay below the outputs' own
            conductance for the ``-beta`` nudge of centred EP to be stable).
        centred: equilibrium propagation: nudge by ``+beta`` and ``-beta``
            (``True``) or compare ``+beta`` to the free state (``False``);
            coupled learning: clamp at ``+eta`` and ``-eta`` or compare the
            ``+eta`` clamp to the free state.
        cl_eta: coupled learning nudge ``eta`` in (0, 1].
    """

    method: MethodName
    epochs: int = pydantic.Field(10, ge=1)
    batch_size: int = pydantic.Field(64, ge=1)
    learning_rate: float = pydantic.Field(1e-2, gt=0)
    optimizer: Literal["adam", "sgd"] = "adam"
    noise_std: float = pydantic.Field(0.05, ge=0, le=1)
    spsa_perturbation: float = pydantic.Field(1e-2, gt=0)
    feedback_scale: float = pydantic.Field(1.0, gt=0)
    ff_threshold: float = pydantic.Field(0.5, gt=0)
    ff_label_scale: float = pydantic.Field(1.0, gt=0)
    ep_beta: float = pydantic.Field(1.0, gt=0)
    centred: bool = True
    cl_eta: float = pydantic.Field(0.5, gt=0, le=1)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What training produced and what it cost.

    Attributes:
        params: the trained parameters (a pytree of arrays).
        history: per-epoch arrays ``epoch``, ``train_loss``,
            ``accuracy_model``, ``accuracy_physical`` (test accuracy on the
            digital model and on the physical system) and
            ``physical_evaluations``, ``samples_seen`` (training samples
            processed) and ``wall_time`` (seconds), all cumulative at the end
            of the epoch.
        physical_evaluations: physical evaluations spent in training.
        wall_time: seconds spent training, compilation included.
        method: the method's name.
    """

    params: Params
    history: dict[str, np.ndarray]
    physical_evaluations: int
    wall_time: float
    method: str

    @property
    def accuracy_model(self) -> float:
        """Final test accuracy of the digital model."""
        return float(self.history["accuracy_model"][-1])

    @property
    def accuracy_physical(self) -> float:
        """Final test accuracy of the physical system."""
        return float(self.history["accuracy_physical"][-1])


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of ``logits [batch, classes]``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class Method(abc.ABC):
    """A training method: gradients (or updates) from a minibatch.

    Subclasses set :attr:`name`, :attr:`evaluations_per_sample` and, when they
    need more than a generic network, :attr:`requirement` and
    :meth:`supports`.
    """

    name: ClassVar[str]
    #: physical evaluations per training sample per step
    evaluations_per_sample: ClassVar[int] = 1
    #: what a network must offer, in words (for error messages)
    requirement: ClassVar[str] = "any network"

    def supports(self, network: Network) -> bool:
        """Whether this method can train ``network``."""
        return True

    def init_aux(
        self,
        network: Network,
        params: Params,
        config: MethodConfig,
        key: jax.Array,
        num_classes: int,
    ) -> Any:
        """Fixed, untrained quantities of the method (feedback matrices...)."""
        return ()

    @abc.abstractmethod
    def gradient(
        self,
        network: Network,
        config: MethodConfig,
        params: Params,
        aux: Any,
        x: jax.Array,
        y: jax.Array,
        key: jax.Array,
    ) -> tuple[Params, jax.Array]:
        """The update direction and the training loss of one minibatch.

        Args:
            x: inputs ``[batch, in_dim]``.
            y: integer labels ``[batch]``.
            key: seeds the physical noise of this step.

        Returns:
            ``(grads, loss)``: ``grads`` has the structure of ``params`` and is
            followed downhill by the optimiser.
        """

    def evaluations(self, config: MethodConfig) -> int:
        """Physical evaluations per training sample per step under ``config``."""
        return self.evaluations_per_sample

    def optimizer(self, config: MethodConfig) -> optax.GradientTransformation:
        """The optimiser that consumes :meth:`gradient`."""
        if config.optimizer == "adam":
            return optax.adam(config.learning_rate)
        return optax.sgd(config.learning_rate)

    def scores(
        self,
        network: Network,
        config: MethodConfig,
        params: Params,
        aux: Any,
        x: jax.Array,
        key: jax.Array | None,
    ) -> jax.Array:
        """Class scores ``[batch, classes]``; physical when ``key`` is given."""
        if key is None:
            return network.model(params, x)
        return network.physical(params, x, key)


_REGISTRY: dict[str, Method] = {}


def register(method_class: type[Method]) -> type[Method]:
    """Class decorator adding one instance of a method to the registry."""
    if method_class.name not in METHOD_NAMES:
        raise ValueError(
            f"method name {method_class.name!r} is not one of {list(METHOD_NAMES)}"
        )
    _REGISTRY[method_class.name] = method_class()
    return method_class


def get_method(name: str) -> Method:
    """The registered method called ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"method must be one of {sorted(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]


def compatible_methods(network: Network) -> list[str]:
    """Names of the registered methods that can train ``network``."""
    return [name for name, m in _REGISTRY.items() if m.supports(network)]


def check_compatible(method: str | Method, network: Network) -> Method:
    """Return the method, or raise a ``ValueError`` naming valid combinations.

    Raises:
        ValueError: the method cannot train this network; the message says
            what the method needs and which methods would work.
    """
    method = get_method(method) if isinstance(method, str) else method
    if not method.supports(network):
        raise ValueError(
            f"{method.name} cannot train the network {network.name!r}: it needs "
            f"{method.requirement}. Methods valid for this network: "
            f"{compatible_methods(network)}"
        )
    return method
