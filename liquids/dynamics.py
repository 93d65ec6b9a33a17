"""Single-particle dynamics: MSD, self-intermediate scattering, tau_alpha, D.

Every function here works on *unwrapped* positions, ``positions + images *
box`` of a :class:`~liquids.trajectory.Trajectory`. Because the image counters
are tracked at every integration step this is exact at any frame spacing;
unwrapping from the frames themselves (or using wrapped coordinates) is wrong
once a particle moves more than ``L / 2`` between stored frames.

Averages run over all time origins. Two frame schedules are handled:

* **linear** (equal spacing, detected from ``times``): correlations at every
  lag ``m`` come from FFTs along time, ``O(F log F)`` per particle, averaging
  all ``F - m`` origins;
* **any other** (log-spaced, or blocks of log-spaced frames): every pair of
  frames ``k < l`` gives one sample at lag ``t_l - t_k``; samples whose lags
  agree to a relative ``1e-6`` of the shortest frame spacing are grouped, so
  the result holds one entry per distinct available lag, ``O(F^2)`` per
  particle.

References:
    Hansen & McDonald, *Theory of Simple Liquids*, 4th ed. (2013), ch. 7;
    Kob & Andersen, PRE 51, 4626 (1995) (F_s at the first peak of S_AA);
    Calandrini et al., *Collection SFN* 12, 201 (2011) (FFT MSD, the
    ``S1 - 2 S2`` split).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.fft

from landscape.validate import require_choice, require_positive, require_positive_int
from liquids.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = [
    "MeanSquaredDisplacement",
    "SelfIntermediateScattering",
    "diffusion_constant",
    "mean_squared_displacement",
    "self_intermediate_scattering",
    "tau_alpha",
]

_LAG_TOLERANCE = 1e-6  # relative to the shortest frame spacing
_PAIRS_PER_STEP = 64  # frame pairs per step of the general-schedule kernel


@dataclasses.dataclass(frozen=True)
class MeanSquaredDisplacement:
    """Origin-averaged mean squared displacement of each species.

    Attributes:
        lags: ``[lags]`` time lags, starting at 0 (time units).
        msd: ``[S, lags]`` ``<|r_i(t0 + lag) - r_i(t0)|^2>`` (length^2).
        num_origins: ``[lags]`` number of time origins averaged at each lag.
        species_counts: ``[S]`` particles per species.
        dimension: spatial dimension ``d``.
    """

    lags: np.ndarray
    msd: np.ndarray
    num_origins: np.ndarray
    species_counts: np.ndarray
    dimension: int

    def __repr__(self) -> str:
        return (
            f"MeanSquaredDisplacement({self.lags.size} lags to "
            f"t={float(self.lags[-1]):.4g}, species counts="
            f"{self.species_counts.tolist()}, dim={self.dimension}, final MSD="
            f"{np.round(self.msd[:, -1], 4).tolist()})"
        )


@dataclasses.dataclass(frozen=True)
class SelfIntermediateScattering:
    """Origin- and direction-averaged self-intermediate scattering function.

    Attributes:
        lags: ``[lags]`` time lags, starting at 0.
        fs: ``[S, lags]`` ``F_s(q, lag)`` of each species (``fs[:, 0] == 1``).
        q: the wave number ``|q|``.
        wavevectors: ``[K, d]`` wave vectors averaged over.
        num_origins: ``[lags]`` time origins averaged at each lag.
        species_counts: ``[S]`` particles per species.
    """

    lags: np.ndarray
    fs: np.ndarray
    q: float
    wavevectors: np.ndarray
    num_origins: np.ndarray
    species_counts: np.ndarray

    def __repr__(self) -> str:
        return (
            f"SelfIntermediateScattering(q={self.q:.4g}, "
            f"{len(self.wavevectors)} wave vectors, {self.lags.size} lags to "
            f"t={float(self.lags[-1]):.4g}, species counts="
            f"{self.species_counts.tolist()}, final F_s="
            f"{np.round(self.fs[:, -1], 4).tolist()})"
        )


# --------------------------------------------------------------------------
# inputs and frame schedules


def _unwrapped_inputs(
    traj: Trajectory | Any, times: Any, species: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[F, N, d]`` float64 unwrapped positions, times and species labels."""
    if isinstance(traj, Trajectory):
        pos = traj.unwrapped()
        times = traj.times if times is None else times
        species = traj.species if species is None else species
    else:
        pos = np.asarray(traj, dtype=np.float64)
        if times is None:
            raise ValueError(
                "times is required when unwrapped positions are given as an array"
            )
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[0] < 2:
        raise ValueError(
            "positions must have shape [frames, particles, dim] with >= 2 frames, "
            f"got {pos.shape}"
        )
    frames, n, _ = pos.shape
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (frames,):
        raise ValueError(f"times must have shape ({frames},), got {times.shape}")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must increase strictly from frame to frame")
    species = np.zeros(n, np.int32) if species is None else np.asarray(species)
    if species.shape != (n,) or not np.issubdtype(species.dtype, np.integer):
        raise ValueError(
            f"species must be integers of shape ({n},), got {species.shape}"
        )
    if species.min() < 0:
        raise ValueError(f"species labels must be >= 0, got {int(species.min())}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or infinite values")
    return pos, times, species.astype(np.int32)


def _is_linear(times: np.ndarray) -> bool:
    """Whether the frames are equally spaced (to a relative 1e-6)."""
    steps = np.diff(times)
    return bool(np.all(np.abs(steps - steps[0]) <= _LAG_TOLERANCE * steps[0]))


def _lag_groups(times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All frame pairs ``k <= l``, their lag group and each group's lag.

    Returns ``pairs [P, 2]``, ``group [P]`` and ``lags [G]`` (mean lag of
    each group, ascending, ``lags[0] == 0`` from the pairs ``k == l``).
    """
    first, second = np.triu_indices(len(times))
    lag = times[second] - times[first]
    unit = _LAG_TOLERANCE * np.min(np.diff(times))
    keys, group = np.unique(np.round(lag / unit).astype(np.int64), return_inverse=True)
    counts = np.bincount(group, minlength=len(keys))
    lags = np.bincount(group, lag, minlength=len(keys)) / counts
    return np.stack([first, second], -1), group, lags


def _species_mean(per_particle: np.ndarray, species: np.ndarray) -> np.ndarray:
    """``[S, ...]`` mean over the particles of each species (axis 0 of input).

    A label with no particles gets zeros.
    """
    num_species = int(species.max()) + 1
    out = np.zeros((num_species,) + per_particle.shape[1:])
    for a in range(num_species):
        members = per_particle[species == a]
        if len(members):
            out[a] = members.mean(axis=0)
    return out


# --------------------------------------------------------------------------
# mean squared displacement


def _msd_fft(pos: np.ndarray) -> np.ndarray:
    """``[N, F]`` all-origin MSD of each particle, equally spaced frames.

    .. math::

        \\mathrm{MSD}(m) = \\frac{1}{F - m} \\sum_{k=0}^{F-m-1}
            |r(k + m) - r(k)|^2 = S_1(m) - 2 S_2(m),

    with ``S_2`` the position autocorrelation (by FFT) and ``S_1`` the
    mean of ``r(k)^2 + r(k + m)^2`` over origins (by a running sum).
    """
    frames, n, dim = pos.shape
    # time on the last, contiguous axis: [N * d, F]; a constant shift per
    # particle leaves the MSD unchanged and keeps S1 and S2 small
    x = (pos - pos.mean(axis=0)).transpose(1, 2, 0).reshape(n * dim, frames)
    nfft = scipy.fft.next_fast_len(2 * frames - 1, real=True)
    spectrum = scipy.fft.rfft(x, n=nfft, axis=-1, workers=-1)
    spectrum *= spectrum.conj()  # |X|^2, kept complex: irfft would copy a real one
    auto = scipy.fft.irfft(spectrum, n=nfft, axis=-1, workers=-1)[:, :frames]
    origins = frames - np.arange(frames)
    s2 = auto.reshape(n, dim, frames).sum(1) / origins
    sq = (x**2).reshape(n, dim, frames).sum(1)  # [N, F]
    head = np.concatenate([np.zeros((n, 1)), np.cumsum(sq, axis=1)], axis=1)
    # sum_{k < F-m} r(k)^2 + sum_{k >= m} r(k)^2
    lag = np.arange(frames)
    s1 = (head[:, frames - lag] + head[:, -1:] - head[:, lag]) / origins
    return s1 - 2 * s2


def mean_squared_displacement(
    traj: Trajectory | Any, times: Any = None, species: Any = None
) -> MeanSquaredDisplacement:
    """Mean squared displacement of each species, averaged over all origins.

    .. math::

        \\mathrm{MSD}_a(t) = \\Big\\langle \\frac{1}{N_a} \\sum_{i \\in a}
            |\\mathbf r_i(t_0 + t) - \\mathbf r_i(t_0)|^2 \\Big\\rangle_{t_0}

    Computed in float64 from unwrapped positions. Equally spaced frames use
    the FFT ``S1 - 2 S2`` algorithm (all ``F - m`` origins of lag ``m``);
    other schedules average every available pair of frames at each distinct
    lag (see the module docstring).

    Args:
        traj: a trajectory, or *unwrapped* positions ``[frames, particles, dim]``.
        times: ``[frames]`` frame times (taken from the trajectory if omitted).
        species: ``[particles]`` labels (from the trajectory; else one species).

    Returns:
        A :class:`MeanSquaredDisplacement` with ``msd`` of shape ``[S, lags]``.
    """
    pos, times, species = _unwrapped_inputs(traj, times, species)
    frames = pos.shape[0]
    counts = np.bincount(species)
    if _is_linear(times):
        per_particle = _msd_fft(pos)
        lags = times - times[0]
        origins = frames - np.arange(frames)
    else:
        pairs, group, lags = _lag_groups(times)
        origins = np.bincount(group)
        summed = np.zeros((len(lags), pos.shape[1]))
        for start in range(0, len(pairs), 256):
            first, second = pairs[start : start + 256].T
            np.add.at(
                summed,
                group[start : start + 256],
                ((pos[second] - pos[first]) ** 2).sum(-1),
            )
        per_particle = (summed / origins[:, None]).T
    msd = _species_mean(per_particle, species)
    msd[:, 0] = 0.0
    return MeanSquaredDisplacement(
        lags=lags,
        msd=msd,
        num_origins=origins,
        species_counts=counts,
        dimension=pos.shape[2],
    )


# --------------------------------------------------------------------------
# self-intermediate scattering


def _sphere_directions(count: int, dim: int) -> np.ndarray:
    """``[count, dim]`` unit vectors spread evenly over the half sphere.

    3D: a Fibonacci spiral over the upper hemisphere (``cos`` is even, so
    ``q`` and ``-q`` give the same ``F_s``); 2D: equally spaced angles in
    ``[0, pi)``; 1D: the unit vector.
    """
    if dim == 1:
        return np.ones((1, 1))
    if dim == 2:
        angle = np.pi * (np.arange(count) + 0.5) / count
        return np.stack([np.cos(angle), np.sin(angle)], -1)
    golden = np.pi * (3 - np.sqrt(5))
    z = (np.arange(count) + 0.5) / count  # uniform in z over (0, 1)
    rho = np.sqrt(1 - z**2)
    phi = golden * np.arange(count)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], -1)


def _lattice_vectors(
    box: np.ndarray, q: float, shell_width: float, count: int
) -> np.ndarray:
    """Commensurate ``2 pi n / L`` with ``||q_vec| - q| <= shell_width / 2``."""
    n_max = np.ceil((q + shell_width) * box / (2 * np.pi)).astype(int)
    axes = [np.arange(-m, m + 1) for m in n_max]
    ints = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(box))
    first = np.argmax(ints != 0, axis=1)
    ints = ints[ints[np.arange(len(ints)), first] > 0]  # one of each +-q
    vectors = 2 * np.pi * ints / box
    keep = np.abs(np.linalg.norm(vectors, axis=1) - q) <= shell_width / 2
    vectors = vectors[keep]
    if len(vectors) == 0:
        raise ValueError(
            f"no wave vector commensurate with box {box.tolist()} lies within "
            f"shell_width / 2 = {shell_width / 2} of q = {q}; widen shell_width"
        )
    if len(vectors) > count:
        pick = np.random.default_rng(0).choice(len(vectors), count, replace=False)
        vectors = vectors[np.sort(pick)]
    return vectors


@functools.partial(jax.jit, static_argnames=("nfft", "block"))
def _fs_linear(
    disp: jax.Array, qvecs: jax.Array, onehot: jax.Array, *, nfft: int, block: int
) -> jax.Array:
    """``[S, F]`` sums over particles, vectors and origins of ``cos(q . dr)``.

    ``disp`` is ``[N, F, d]`` (positions relative to the first frame, N a
    multiple of ``block``), ``onehot`` ``[S, N]`` (zero columns for padding).
    ``sum_k exp(i q.r(k+m)) exp(-i q.r(k))`` is an autocorrelation, done by
    FFT along time; its real part is the sum of ``cos(q . (r(k+m) - r(k)))``.
    """
    frames = disp.shape[1]
    blocks = disp.reshape(-1, block, frames, disp.shape[2])
    weights = onehot.reshape(onehot.shape[0], -1, block).transpose(1, 0, 2)

    def one_block(args):
        x, w = args
        phase = jnp.einsum("bfd,kd->bkf", x, qvecs)
        z = jax.lax.complex(jnp.cos(phase), jnp.sin(phase))
        spectrum = jnp.fft.fft(z, n=nfft, axis=-1)
        power = spectrum.real**2 + spectrum.imag**2
        auto = jnp.fft.ifft(power, axis=-1).real[..., :frames].sum(1)  # [b, F]
        return w @ auto

    return jax.lax.map(one_block, (blocks, weights)).sum(0)


@jax.jit
def _fs_pairs(disp: jax.Array, qvecs: jax.Array, onehot: jax.Array) -> jax.Array:
    """``[P, S]`` sums over particles and vectors of ``cos(q . dr)``.

    ``disp`` is ``[P, N, d]``: the displacement of each particle between the
    two frames of each of ``P`` frame pairs.
    """
    cosines = jnp.cos(jnp.einsum("pnd,kd->pnk", disp, qvecs)).sum(-1)
    return cosines @ onehot.T


def self_intermediate_scattering(
    traj: Trajectory | Any,
    q: float = 7.25,
    *,
    times: Any = None,
    species: Any = None,
    box: Any = None,
    wavevectors: Literal["sphere", "lattice"] = "sphere",
    num_wavevectors: int = 24,
    shell_width: float = 0.2,
    dtype: Any = jnp.float32,
) -> SelfIntermediateScattering:
    """Self-intermediate scattering function of each species.

    .. math::

        F_s^a(q, t) = \\Big\\langle \\frac{1}{N_a} \\sum_{i \\in a}
            \\cos\\big(\\mathbf q \\cdot (\\mathbf r_i(t_0 + t) -
            \\mathbf r_i(t_0))\\big) \\Big\\rangle_{t_0,\\, \\hat{\\mathbf q}}

    averaged over time origins and over ``num_wavevectors`` wave vectors:

    * ``"sphere"`` (default): directions spread evenly over the (half)
      sphere, all of length exactly ``q``. ``F_s`` involves displacements
      only, which are not periodic, so ``q`` need not fit the box.
    * ``"lattice"``: vectors ``2 pi n / L`` commensurate with the box whose
      length lies within ``shell_width / 2`` of ``q`` (a random, seeded subset
      of ``num_wavevectors`` if there are more), as in most simulation codes.

    The default ``q = 7.25`` is the first peak of ``S_AA(q)`` of the
    Kob-Andersen mixture at density 1.2.

    Args:
        traj: a trajectory, or unwrapped positions ``[frames, particles, dim]``.
        q: wave number (inverse length units).
        times: ``[frames]`` times (from the trajectory when omitted).
        species: ``[particles]`` labels (from the trajectory when omitted).
        box: ``[dim]`` box, needed for ``"lattice"`` vectors with array input.
        wavevectors: ``"sphere"`` or ``"lattice"``, see above.
        num_wavevectors: number of wave vectors averaged.
        shell_width: width of the ``|q|`` shell for ``"lattice"``.
        dtype: floating dtype of the phases (float32 default); displacements
            are taken from the first frame in float64 before the cast.

    Returns:
        A :class:`SelfIntermediateScattering` with ``fs`` ``[S, lags]``.
    """
    require_positive("q", q)
    require_choice("wavevectors", wavevectors, ("sphere", "lattice"))
    require_positive_int("num_wavevectors", num_wavevectors)
    pos, times, species = _unwrapped_inputs(traj, times, species)
    frames, n, dim = pos.shape
    if wavevectors == "sphere":
        qvecs = q * _sphere_directions(num_wavevectors, dim)
    else:
        require_positive("shell_width", shell_width)
        if box is None and isinstance(traj, Trajectory):
            box = traj.box
        if box is None:
            raise ValueError('box is required for wavevectors="lattice"')
        box = np.broadcast_to(np.asarray(box, np.float64), (dim,))
        qvecs = _lattice_vectors(box, q, shell_width, num_wavevectors)
    counts = np.bincount(species)
    onehot = np.eye(len(counts))[species].T  # [S, N]
    relative = pos - pos[:1]  # keeps the phases small in float32
    if _is_linear(times):
        block = max(1, min(n, (1 << 22) // (len(qvecs) * 2 * frames)))
        pad = -n % block
        disp = np.concatenate(
            [relative.transpose(1, 0, 2), np.zeros((pad, frames, dim))]
        )
        weights = np.concatenate([onehot, np.zeros((len(counts), pad))], axis=1)
        nfft = 1 << int(math.ceil(math.log2(2 * frames)))
        sums = _fs_linear(
            jnp.asarray(disp, dtype),
            jnp.asarray(qvecs, dtype),
            jnp.asarray(weights, dtype),
            nfft=nfft,
            block=block,
        )
        lags = times - times[0]
        origins = frames - np.arange(frames)
        sums = np.asarray(sums, np.float64)
    else:
        pairs, group, lags = _lag_groups(times)
        origins = np.bincount(group)
        pad = -len(pairs) % _PAIRS_PER_STEP
        padded = np.concatenate([pairs, np.zeros((pad, 2), int)])
        per_pair = np.zeros((len(padded), len(counts)))
        jq, jw = jnp.asarray(qvecs, dtype), jnp.asarray(onehot, dtype)
        for start in range(0, len(padded), _PAIRS_PER_STEP):
            first, second = padded[start : start + _PAIRS_PER_STEP].T
            per_pair[start : start + _PAIRS_PER_STEP] = np.asarray(
                _fs_pairs(
                    jnp.asarray(relative[second] - relative[first], dtype), jq, jw
                )
            )
        sums = np.stack(
            [
                np.bincount(group, w, minlength=len(lags))
                for w in per_pair[: len(pairs)].T
            ]
        )
    # a label with no particles gets F_s = 0 rather than a division by zero
    fs = sums / (origins[None] * len(qvecs) * np.maximum(counts, 1)[:, None])
    return SelfIntermediateScattering(
        lags=lags,
        fs=fs,
        q=float(q),
        wavevectors=qvecs,
        num_origins=origins,
        species_counts=counts,
    )


# --------------------------------------------------------------------------
# relaxation time and diffusion constant


def tau_alpha(t: Any, fs: Any, *, level: float = 1 / math.e) -> float:
    """Structural relaxation time: where ``F_s`` first falls to ``1 / e``.

    The crossing is interpolated linearly in ``log t`` between the two
    bracketing samples (linearly in ``t`` if the bracket starts at ``t = 0``).

    Args:
        t: ``[lags]`` increasing time lags.
        fs: ``[lags]`` ``F_s(q, t)`` of one species.
        level: the threshold (default ``1 / e``).

    Returns:
        ``tau_alpha`` in the units of ``t``.

    Raises:
        ValueError: if ``F_s`` never reaches ``level``; the message gives the
            last value and an estimate of how much longer to run.
    """
    t, fs = np.asarray(t, np.float64), np.asarray(fs, np.float64)
    if t.ndim != 1 or t.shape != fs.shape or len(t) < 2:
        raise ValueError(
            f"t and fs must be 1-D of equal length >= 2, got {t.shape}, {fs.shape}"
        )
    require_positive("level", level)
    below = np.flatnonzero(fs <= level)
    if len(below) == 0:
        last = fs[-1]
        if 0 < last < 1:  # extrapolate assuming F_s ~ exp(-(t / tau)) from here
            estimate = t[-1] * math.log(1 / level) / math.log(1 / last)
            hint = (
                f"run about {estimate / t[-1]:.2g} times longer (t >~ {estimate:.3g})"
            )
        else:
            hint = "F_s has not started to decay: run much longer"
        raise ValueError(
            f"F_s never reaches {level:.4f}: the run is too short (last value "
            f"F_s(t={t[-1]:.4g}) = {last:.4f}); {hint}"
        )
    j = int(below[0])
    if j == 0:
        raise ValueError(f"F_s is already <= {level:.4f} at the first lag t={t[0]}")
    t0, t1, f0, f1 = t[j - 1], t[j], fs[j - 1], fs[j]
    frac = (f0 - level) / (f0 - f1)
    if t0 <= 0:
        return float(t0 + frac * (t1 - t0))
    return float(math.exp(math.log(t0) + frac * (math.log(t1) - math.log(t0))))


def diffusion_constant(
    t: Any,
    msd: Any,
    dim: int,
    *,
    window: tuple[float, float] | None = None,
    slope_tolerance: float = 0.1,
) -> float:
    """Self-diffusion constant from the long-time slope of the MSD.

    .. math::

        D = \\lim_{t \\to \\infty} \\frac{\\mathrm{MSD}(t)}{2 d t},

    estimated as ``slope / (2 d)`` of a straight-line fit ``MSD = a + 2 d D t``
    over the diffusive window (the intercept absorbs the ballistic and cage
    regimes). Window rule: by default the last decade of lags that keep at
    least half of the origins of a linear schedule, ``[t_max / 20, t_max /
    2]``. The MSD counts as diffusive there only if its log-log slope
    ``d ln MSD / d ln t`` over the window is within ``slope_tolerance`` of 1.

    Args:
        t: ``[lags]`` time lags.
        msd: ``[lags]`` MSD of one species.
        dim: spatial dimension ``d``.
        window: optional ``(t_start, t_stop)`` overriding the rule.
        slope_tolerance: allowed deviation of the log-log slope from 1.

    Raises:
        ValueError: when the window holds fewer than 3 lags or the MSD is
            not yet diffusive there (sub- or super-diffusive slope).
    """
    t, msd = np.asarray(t, np.float64), np.asarray(msd, np.float64)
    if t.ndim != 1 or t.shape != msd.shape:
        raise ValueError(
            f"t and msd must be 1-D of equal length, got {t.shape}, {msd.shape}"
        )
    require_positive_int("dim", dim)
    require_positive("slope_tolerance", slope_tolerance)
    t_max = float(t.max())
    start, stop = (t_max / 20, t_max / 2) if window is None else window
    inside = (t >= start) & (t <= stop) & (t > 0) & (msd > 0)
    if inside.sum() < 3:
        raise ValueError(
            f"the fit window [{start:.4g}, {stop:.4g}] holds {int(inside.sum())} "
            "lags with positive MSD; need >= 3 (longer run or explicit window)"
        )
    tw, mw = t[inside], msd[inside]
    loglog = float(np.polyfit(np.log(tw), np.log(mw), 1)[0])
    if abs(loglog - 1) > slope_tolerance:
        kind = "sub-diffusive (caged)" if loglog < 1 else "super-diffusive (ballistic)"
        raise ValueError(
            f"MSD is not yet diffusive in [{tw[0]:.4g}, {tw[-1]:.4g}]: log-log slope "
            f"{loglog:.3f}, needs 1 +- {slope_tolerance} ({kind}); run longer, to "
            f"t well beyond tau_alpha, or pass an explicit window"
        )
    slope = float(np.polyfit(tw, mw, 1)[0])
    return slope / (2 * dim)
