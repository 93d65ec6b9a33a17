"""Hutchinson's stochastic estimate of the trace of a matrix-free operator.

For random probes :math:`z` with :math:`\\mathbb{E}[z z^\\top] = I`,

.. math::

    \\mathrm{tr}(A) = \\mathbb{E}[z^\\top A z]
    \\approx \\frac{1}{n} \\sum_{i=1}^{n} z_i^\\top A z_i .

With Rademacher probes (entries :math:`\\pm 1`) the variance of one sample is
:math:`2 \\sum_{i \\neq j} A_{ij}^2`, the smallest among probe distributions
with independent entries; it vanishes for a diagonal operator, for which
every sample equals the trace exactly.

Reference: M. F. Hutchinson, Commun. Stat. Simul. Comput. 19, 433 (1990).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from landscape.lanczos import resolve_dtype
from landscape.validate import require_positive_int

logger = logging.getLogger(__name__)

__all__ = ["TraceEstimate", "hutchinson_trace"]


class TraceEstimate(NamedTuple):
    """A Monte-Carlo trace estimate.

    Attributes:
        mean: the estimate, the mean of ``samples``.
        stderr: standard error of the mean, ``std(samples, ddof=1) / sqrt(n)``
            (``0`` for a single probe, where it is unknown).
        samples: ``[num_probes]`` the individual :math:`z^\\top A z`.
    """

    mean: float
    stderr: float
    samples: Float[Array, " probes"]


def hutchinson_trace(
    matvec: Callable[[jax.Array], jax.Array],
    dim: int,
    *,
    key: jax.Array,
    num_probes: int = 64,
    dtype: Any = jnp.float32,
) -> TraceEstimate:
    """Trace of a symmetric (or any square) operator from Rademacher probes.

    Args:
        matvec: the operator on flat vectors, ``[dim] -> [dim]``; called once
            per probe.
        dim: dimension of the operator.
        key: PRNG key of the probes.
        num_probes: number of Rademacher probes.
        dtype: float dtype of the probes.

    Returns:
        :class:`TraceEstimate` of :math:`\\mathrm{tr}(A)`.

    Raises:
        ValueError: ``dim`` or ``num_probes`` < 1, a bad ``dtype``.
    """
    dim = require_positive_int("dim", dim)
    num_probes = require_positive_int("num_probes", num_probes)
    dtype = resolve_dtype(dtype)

    samples = np.empty(num_probes)
    for i, sub in enumerate(jax.random.split(key, num_probes)):
        z = jax.random.rademacher(sub, (dim,), dtype=dtype)  # one probe at a time
        samples[i] = float(jnp.sum(z * jnp.asarray(matvec(z), dtype=dtype)))

    mean = float(samples.mean())
    stderr = float(samples.std(ddof=1) / np.sqrt(num_probes)) if num_probes > 1 else 0.0
    logger.debug("Hutchinson trace %.6g +- %.2g (%d probes)", mean, stderr, num_probes)
    return TraceEstimate(mean, stderr, jnp.asarray(samples, dtype=dtype))
