"""Mach-Zehnder interferometer meshes in the Clements (rectangular) layout.

An ``N``-mode mesh has ``N`` columns of 2x2 Mach-Zehnder interferometers
(MZIs); column ``c`` couples the mode pairs ``(m, m + 1)`` with
``m = c mod 2, c mod 2 + 2, ...``, so the mesh holds ``N (N - 1) / 2`` MZIs and
every path has the same depth. Each MZI is two beamsplitters around an
internal phase ``theta``, preceded by an external phase ``phi``:

.. math::

    T(\\theta, \\phi) = B(\\alpha_2)\\,\\mathrm{diag}(e^{i\\theta}, 1)\\,
        B(\\alpha_1)\\,\\mathrm{diag}(e^{i\\phi}, 1), \\qquad
    B(\\alpha) = \\begin{pmatrix} \\cos\\alpha & i\\sin\\alpha \\\\
        i\\sin\\alpha & \\cos\\alpha \\end{pmatrix}

with ideal 50:50 splitters ``alpha = pi/4``. Inputs are encoded as real field
amplitudes on the first ``in_dim`` modes; the outputs are the intensities
(photocurrents) ``|U a|^2`` of the first ``out_dim`` modes. A mesh of
``N = 2`` is a single MZI (the odd column is empty).

Physical face: beamsplitter imbalance (fixed, seeded, the calibration a twin
can fit), phase quantisation of the drivers (``phase_bits``), thermal crosstalk
(each phase shifter picks up ``crosstalk`` times the phases of its neighbours
in the same column), phase noise (one Gaussian draw per query), photodetector
shot noise (variance ``shot_noise**2 * I``) and thermal noise (variance
``thermal_noise**2``). Insertion loss (dB per MZI) is known to both faces.

References:
    Clements et al., "Optimal design for universal multiport interferometers",
    Optica 3, 1460 (2016); Shen et al., "Deep learning with coherent
    nanophotonic circuits", Nat. Photonics 11, 441 (2017).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic

from pnn.substrate import (
    CalibratedSubstrate,
    FromConfig,
    SubstrateConfig,
    jit_method,
    standard_normal,
    unit_interval,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Interferometer",
    "InterferometerConfig",
    "clements_layout",
    "mesh_unitary",
    "propagate",
]

Params = Any


class InterferometerConfig(SubstrateConfig):
    """A Clements MZI mesh with amplitude inputs and intensity outputs.

    Attributes:
        modes: number of optical modes ``N`` (default ``max(in_dim, out_dim)``,
            at least 2); must fit both the input and the output.
        phase_bits: resolution of the phase drivers over ``[0, 2 pi)``
            (``None``: continuous).
        phase_noise: std of the phase noise (radians), in [0, 1].
        crosstalk: fraction of a neighbouring phase shifter's phase picked
            up thermally, in [0, 1].
        shot_noise: photodetector shot noise, std ``shot_noise * sqrt(I)``.
        thermal_noise: photodetector thermal (dark) noise std.
        beamsplitter_imbalance: std of each splitter's angle error (radians)
            on the device, in [0, 1].
        insertion_loss_db: power loss of one MZI in dB (both faces).
    """

    kind: Literal["interferometer"] = "interferometer"
    modes: int | None = pydantic.Field(None, ge=2)
    phase_bits: int | None = pydantic.Field(None, ge=1, le=24)
    phase_noise: float = unit_interval(0.005)
    crosstalk: float = unit_interval(0.002)
    shot_noise: float = unit_interval(0.01)
    thermal_noise: float = unit_interval(0.001)
    beamsplitter_imbalance: float = unit_interval(0.005)
    insertion_loss_db: float = pydantic.Field(0.0, ge=0.0)

    @pydantic.model_validator(mode="after")
    def _check_fit(self) -> InterferometerConfig:
        if self.modes is not None:
            for name in ("in_dim", "out_dim"):
                width = getattr(self, name)
                if width > self.modes:
                    raise ValueError(
                        f"a mesh of modes={self.modes} does not fit {name}={width}; "
                        f"use modes >= {max(self.in_dim, self.out_dim, 2)} "
                        "or leave modes unset"
                    )
        return self

    @property
    def num_modes(self) -> int:
        """``modes``, or the smallest mesh that fits."""
        return self.modes or max(self.in_dim, self.out_dim, 2)


def clements_layout(n: int) -> list[np.ndarray]:
    """Top modes of the MZIs in each of the ``n`` columns.

    Args:
        n: number of modes (>= 2).

    Returns:
        ``n`` integer arrays; column ``c`` holds ``m = c % 2, c % 2 + 2, ...``
        with ``m + 1 < n``. Together they hold ``n (n - 1) / 2`` MZIs.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"a Clements mesh needs n >= 2 modes, got {n!r}")
    return [np.arange(c % 2, n - 1, 2) for c in range(n)]


def _mzi(theta, phi, alpha_in, alpha_out, amplitude):
    """Entries ``(t00, t01, t10, t11)`` of each MZI's transfer matrix."""
    phase_in = jnp.exp(1j * phi)
    phase_mid = jnp.exp(1j * theta)
    c1, s1 = jnp.cos(alpha_in), 1j * jnp.sin(alpha_in)
    c2, s2 = jnp.cos(alpha_out), 1j * jnp.sin(alpha_out)
    # B(a2) diag(e^{i theta}, 1) B(a1) diag(e^{i phi}, 1)
    m00 = c2 * phase_mid * c1 + s2 * s1
    m01 = c2 * phase_mid * s1 + s2 * c1
    m10 = s2 * phase_mid * c1 + c2 * s1
    m11 = s2 * phase_mid * s1 + c2 * c1
    return (
        amplitude * m00 * phase_in,
        amplitude * m01,
        amplitude * m10 * phase_in,
        amplitude * m11,
    )


def propagate(
    fields: jax.Array,
    theta: jax.Array,
    phi: jax.Array,
    splitting: jax.Array | None = None,
    loss_db: float = 0.0,
) -> jax.Array:
    """Send complex fields through the mesh.

    Args:
        fields: ``[batch, n]`` complex input amplitudes.
        theta, phi: ``[n (n - 1) / 2]`` internal and external phases (radians),
            ordered column by column, top to bottom.
        splitting: ``[2, n (n - 1) / 2]`` beamsplitter angles (first, second
            splitter of each MZI); ``None`` for ideal 50:50 splitters.
        loss_db: power loss of one MZI in dB.

    Returns:
        ``[batch, n]`` output amplitudes, ``(U a)`` for each row ``a``.
    """
    n = fields.shape[-1]
    if splitting is None:
        splitting = jnp.full((2, theta.shape[0]), jnp.pi / 4, theta.dtype)
    amplitude = 10.0 ** (-loss_db / 20.0)
    t00, t01, t10, t11 = _mzi(theta, phi, splitting[0], splitting[1], amplitude)

    # Column c as three diagonals: new_j = d_j f_j + u_j f_{j+1} + l_j f_{j-1}.
    column, top = _mzi_positions(n)
    shape = (n, n)
    diag = jnp.ones(shape, t00.dtype).at[column, top].set(t00)
    diag = diag.at[column, top + 1].set(t11)
    upper = jnp.zeros(shape, t00.dtype).at[column, top].set(t01)
    lower = jnp.zeros(shape, t00.dtype).at[column, top + 1].set(t10)

    def through_column(f, coefficients):
        d, u, low = coefficients
        return d * f + u * jnp.roll(f, -1, axis=-1) + low * jnp.roll(
            f, 1, axis=-1
        ), None

    fields, _ = jax.lax.scan(through_column, fields, (diag, upper, lower))
    return fields


def _mzi_positions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and top mode of every MZI, in parameter order."""
    layout = clements_layout(n)
    column = np.concatenate([np.full(top.size, c) for c, top in enumerate(layout)])
    return column, np.concatenate(layout)


def mesh_unitary(
    theta: jax.Array,
    phi: jax.Array,
    n: int,
    splitting: jax.Array | None = None,
    loss_db: float = 0.0,
) -> jax.Array:
    """The mesh's ``[n, n]`` transfer matrix ``U`` (unitary without loss)."""
    dtype = jnp.result_type(theta.dtype, jnp.complex64)
    return propagate(jnp.eye(n, dtype=dtype), theta, phi, splitting, loss_db).T


@dataclasses.dataclass(frozen=True)
class Interferometer(FromConfig, CalibratedSubstrate):
    """An MZI-mesh layer ``[batch, in_dim] -> [batch, out_dim]`` of intensities.

    Parameters are ``{"theta": [M], "phi": [M]}`` with ``M = N (N - 1) / 2``;
    the calibration is ``{"splitting": [2, M]}``, the beamsplitter angles
    (``pi / 4`` in the ideal model).

    Args:
        config: a validated :class:`InterferometerConfig`.
    """

    config: InterferometerConfig
    name = "interferometer"

    @property
    def num_modes(self) -> int:
        return self.config.num_modes

    @property
    def num_mzis(self) -> int:
        n = self.num_modes
        return n * (n - 1) // 2

    @functools.cached_property
    def _device(self) -> dict[str, np.ndarray]:
        c = self.config
        rng = np.random.default_rng([c.seed, 0x0971C5])
        error = c.beamsplitter_imbalance * rng.standard_normal((2, self.num_mzis))
        return {"splitting": np.pi / 4 + error}

    @functools.cached_property
    def _neighbours(self) -> tuple[np.ndarray, ...]:
        """MZIs above and below in the same column, and whether they exist."""
        above, below = [], []
        start = 0
        for top in clements_layout(self.num_modes):
            idx = start + np.arange(top.size)
            above.append(np.concatenate([idx[:1], idx[:-1]]))
            below.append(np.concatenate([idx[1:], idx[-1:]]))
            start += top.size
        above, below = np.concatenate(above), np.concatenate(below)
        own = np.arange(self.num_mzis)
        return above, below, (above != own), (below != own)

    def init(self, key: jax.Array) -> Params:
        k1, k2 = jax.random.split(key)
        shape = (self.num_mzis,)
        return {
            "theta": jax.random.uniform(k1, shape, self.dtype, 0.0, 2 * jnp.pi),
            "phi": jax.random.uniform(k2, shape, self.dtype, 0.0, 2 * jnp.pi),
        }

    def nominal_calibration(self) -> dict[str, jax.Array]:
        return {"splitting": jnp.full((2, self.num_mzis), jnp.pi / 4, self.dtype)}

    def encode(self, x: jax.Array) -> jax.Array:
        """Real amplitudes on the first ``in_dim`` modes, ``[batch, N]`` complex."""
        pad = self.num_modes - self.in_dim
        fields = jnp.pad(x, ((0, 0), (0, pad)))
        return fields.astype(jnp.result_type(x.dtype, jnp.complex64))

    def _intensities(self, params, x, splitting, theta=None, phi=None):
        theta = params["theta"] if theta is None else theta
        phi = params["phi"] if phi is None else phi
        out = propagate(
            self.encode(x), theta, phi, splitting, self.config.insertion_loss_db
        )
        return jnp.abs(out[:, : self.out_dim]) ** 2

    @jit_method
    def calibrated_model(
        self, params: Params, x: jax.Array, calibration: dict[str, jax.Array]
    ) -> jax.Array:
        """Detected intensities ``|U(theta, phi; alpha) a|^2``, ``[batch, out]``."""
        return self._intensities(params, x, calibration["splitting"])

    def driven_phases(self, phases: jax.Array) -> jax.Array:
        """Phases the device realises: quantised drivers, then crosstalk."""
        c = self.config
        # A driver sets a phase in [0, 2 pi); its heater power sets the crosstalk.
        phases = jnp.mod(phases, 2 * jnp.pi)
        if c.phase_bits is not None:
            step = 2 * jnp.pi / 2**c.phase_bits
            phases = jnp.round(phases / step) * step
        above, below, has_above, has_below = self._neighbours
        heat = has_above * phases[above] + has_below * phases[below]
        return phases + c.crosstalk * heat

    @jit_method
    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        c = self.config
        k_theta, k_phi, k_shot, k_dark = jax.random.split(key, 4)
        dtype = params["theta"].dtype
        shape = params["theta"].shape
        theta = self.driven_phases(params["theta"])
        phi = self.driven_phases(params["phi"])
        theta = theta + c.phase_noise * standard_normal(k_theta, shape, dtype)
        phi = phi + c.phase_noise * standard_normal(k_phi, shape, dtype)
        splitting = jnp.asarray(self._device["splitting"], dtype)

        intensity = self._intensities(params, x, splitting, theta, phi)
        shot = standard_normal(k_shot, intensity.shape, dtype)
        dark = standard_normal(k_dark, intensity.shape, dtype)
        return (
            intensity
            + c.shot_noise * jnp.sqrt(jnp.maximum(intensity, 0.0)) * shot
            + c.thermal_noise * dark
        )
