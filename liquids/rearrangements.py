"""Rearrangements: the hop indicator p_hop, labels and balanced training sets.

The hop indicator of Candelier, Dauchot & Biroli (PRL 105, 135702 (2010)),
as used for softness by Cubuk et al. (PRL 114, 108001 (2015)) and Schoenholz
et al. (Nat. Phys. 12, 469 (2016)), compares where a particle sat in the half
window before frame ``t`` with where it sat in the half window after it:

.. math::

    p_{hop}(i, t) = \\sqrt{
        \\langle (\\mathbf r_i - \\langle \\mathbf r_i \\rangle_B)^2 \\rangle_A
        \\, \\langle (\\mathbf r_i - \\langle \\mathbf r_i \\rangle_A)^2 \\rangle_B },

with A the frames ``[t - t_R/2, t]`` and B the frames ``[t, t + t_R/2]``
(both ends included, so each half window holds ``t_R/2 + 1`` frames sharing
frame ``t``) and the squared norms **summed** over dimensions (jax-md's
``quantity.phop`` averages over components instead, a factor ``dim`` smaller).
Positions must be unwrapped. ``p_hop`` has units of length squared.

A particle is *rearranging* at ``t`` when ``p_hop > p_c``, and
*non-rearranging* when ``p_hop < p_low`` at every frame of a window of
``quiet_window`` frames centred on ``t`` (about tau_alpha long).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from landscape.validate import require_positive, require_positive_int

logger = logging.getLogger(__name__)

__all__ = [
    "HopIndicator",
    "TrainingSet",
    "evenly_spaced_frames",
    "label_rearrangements",
    "p_hop",
    "training_set",
]

REARRANGING = 1
NON_REARRANGING = 0
UNLABELLED = -1


@dataclasses.dataclass(frozen=True)
class HopIndicator:
    """p_hop of every particle at the frames where the full window fits.

    Attributes:
        values: ``[times, particles]`` p_hop (length squared).
        frames: ``[times]`` trajectory frame index of each row
            (``window/2, ..., frames - 1 - window/2``).
        window: t_R in frames.
    """

    values: np.ndarray
    frames: np.ndarray
    window: int


@dataclasses.dataclass(frozen=True)
class TrainingSet:
    """Labelled (frame, particle) samples, balanced within each species.

    Attributes:
        frames: ``[samples]`` trajectory frame indices.
        particles: ``[samples]`` particle indices.
        labels: ``[samples]`` 1 rearranging, 0 non-rearranging.
        species: ``[samples]`` species of each particle.
    """

    frames: np.ndarray
    particles: np.ndarray
    labels: np.ndarray
    species: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)


def _window_means(x: np.ndarray, width: int) -> np.ndarray:
    """Means over every run of ``width`` consecutive frames (axis 0)."""
    csum = np.cumsum(np.concatenate([np.zeros_like(x[:1]), x]), axis=0)
    return (csum[width:] - csum[:-width]) / width


def p_hop(unwrapped: np.ndarray, window: int) -> HopIndicator:
    """The hop indicator of every particle.

    Args:
        unwrapped: ``[frames, particles, dim]`` unwrapped positions
            (``Trajectory.unwrapped()``), at evenly spaced frames.
        window: t_R in frames, even and >= 2 (10 is typical).

    Returns:
        :class:`HopIndicator` for the ``frames - window`` central frames.

    Computed with running sums in float64 after subtracting each particle's
    first position, so it costs O(frames x particles x dim).
    """
    x = np.asarray(unwrapped, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(
            f"unwrapped positions must be [frames, particles, dim], got {x.shape}"
        )
    window = require_positive_int("window", window)
    if window % 2:
        raise ValueError(f"window (t_R in frames) must be even, got {window}")
    half = window // 2
    if x.shape[0] < window + 1:
        raise ValueError(
            f"the trajectory has {x.shape[0]} frames, too short for a p_hop window "
            f"of t_R = {window} frames (needs at least {window + 1}); use a "
            "shorter window or a longer trajectory"
        )
    x = x - x[:1]
    mean = _window_means(x, half + 1)
    mean_sq = _window_means(np.sum(x**2, axis=-1), half + 1)
    mean_a, mean_b = mean[:-half], mean[half:]
    sq_a, sq_b = mean_sq[:-half], mean_sq[half:]
    dot = np.sum(mean_a * mean_b, axis=-1)
    spread_a = sq_a - 2 * dot + np.sum(mean_b**2, axis=-1)
    spread_b = sq_b - 2 * dot + np.sum(mean_a**2, axis=-1)
    values = np.sqrt(np.clip(spread_a, 0, None) * np.clip(spread_b, 0, None))
    frames = np.arange(half, x.shape[0] - half)
    return HopIndicator(values=values, frames=frames, window=window)


def label_rearrangements(
    hop: HopIndicator, p_c: float, p_low: float, quiet_window: int
) -> np.ndarray:
    """Label every (time, particle) as rearranging, quiet or neither.

    Args:
        hop: the hop indicator.
        p_c: threshold above which a particle is rearranging (0.2 is common).
        p_low: threshold below which it is quiet, ``p_low <= p_c``.
        quiet_window: frames (centred on ``t``) over which p_hop must stay
            below ``p_low`` for a non-rearranging label (about tau_alpha).

    Returns:
        ``[times, particles]`` int8: 1 rearranging, 0 non-rearranging,
        -1 unlabelled (in between, or too near the ends for the quiet window).
    """
    require_positive("p_c", p_c)
    require_positive("p_low", p_low)
    if p_low > p_c:
        raise ValueError(f"p_low ({p_low}) must not exceed p_c ({p_c})")
    quiet_window = require_positive_int("quiet_window", quiet_window)
    values = hop.values
    if quiet_window > values.shape[0]:
        raise ValueError(
            f"quiet_window ({quiet_window} frames) is longer than the "
            f"{values.shape[0]} frames with a p_hop value; shorten it or use a "
            "longer trajectory"
        )
    labels = np.full(values.shape, UNLABELLED, dtype=np.int8)
    loud = (values >= p_low).astype(np.float64)
    noisy = _window_means(loud, quiet_window) > 0
    start = quiet_window // 2
    quiet = np.zeros(values.shape, bool)
    quiet[start : start + noisy.shape[0]] = ~noisy
    labels[quiet] = NON_REARRANGING
    labels[values > p_c] = REARRANGING
    return labels


def training_set(
    hop: HopIndicator,
    labels: np.ndarray,
    species: np.ndarray,
    *,
    max_per_class: int = 2000,
    min_per_class: int = 20,
    seed: int = 0,
) -> TrainingSet:
    """Balanced samples of rearranging and quiet particles, per species.

    Within each species the two classes get the same number of samples,
    ``min(#rearranging, #quiet, max_per_class)``, drawn without replacement
    with a fixed seed.

    Args:
        hop: the hop indicator the labels came from (for frame indices).
        labels: ``[times, particles]`` from :func:`label_rearrangements`.
        species: ``[particles]`` species labels.
        max_per_class: cap on samples per class and species.
        min_per_class: fewer samples than this in a species is an error.
        seed: seed of the draw.

    Returns:
        :class:`TrainingSet` sorted by frame.
    """
    labels = np.asarray(labels)
    species = np.asarray(species)
    if labels.shape != hop.values.shape:
        raise ValueError(
            f"labels must have the hop indicator's shape {hop.values.shape}, got "
            f"{labels.shape}"
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for s in np.unique(species):
        mine = species == s
        picks = {}
        for label in (REARRANGING, NON_REARRANGING):
            t, i = np.nonzero((labels == label) & mine[None, :])
            picks[label] = (t, i)
        count = min(picks[REARRANGING][0].size, picks[NON_REARRANGING][0].size)
        if count < min_per_class:
            raise ValueError(
                f"too few samples to train for species {s}: "
                f"{picks[REARRANGING][0].size} rearranging and "
                f"{picks[NON_REARRANGING][0].size} non-rearranging (need "
                f"{min_per_class} of each); lower p_c or raise p_low, shorten "
                "quiet_window, or use a longer trajectory / higher temperature"
            )
        count = min(count, max_per_class)
        for label, (t, i) in picks.items():
            take = rng.choice(t.size, size=count, replace=False)
            chosen.append((hop.frames[t[take]], i[take], np.full(count, label), s))
        logger.info("species %d: %d samples per class", s, count)
    frames = np.concatenate([c[0] for c in chosen])
    particles = np.concatenate([c[1] for c in chosen])
    order = np.lexsort((particles, frames))
    return TrainingSet(
        frames=frames[order],
        particles=particles[order],
        labels=np.concatenate([c[2] for c in chosen]).astype(np.int8)[order],
        species=species[particles[order]],
    )


def evenly_spaced_frames(times: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """Indices of the longest run of frames at one spacing from the first.

    p_hop needs evenly spaced frames. A trajectory recorded with log-spaced
    frames inside repeated blocks (``liquids.simulation.frame_steps``) holds
    an evenly spaced subsequence at the block starts, and one with
    ``linear_frames`` holds a run of softness-grade frames from the start.
    For every candidate spacing ``d`` (the offsets from the first frame) this
    counts the frames ``t_0 + m d``, ``m = 0, 1, ...`` present without a gap,
    and returns the longest such run (the smaller spacing on a tie).

    Args:
        times: ``[frames]`` increasing frame times.
        rtol: relative tolerance on matching times.

    Returns:
        ``[n]`` frame indices, ``n >= 2`` (all frames when they are already
        even).
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise ValueError(f"times must be 1-D with >= 2 frames, got {times.shape}")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must be strictly increasing")
    offsets = times - times[0]
    tol = rtol * max(offsets[-1], 1.0)
    best = np.array([0, 1])
    for spacing in offsets[1:]:
        if (offsets[-1] / spacing) + 1 <= best.size:
            break  # longer spacings cannot give a longer run
        wanted = spacing * np.arange(int(np.floor(offsets[-1] / spacing + 1e-9)) + 1)
        where = np.minimum(np.searchsorted(offsets, wanted - tol), offsets.size - 1)
        hit = np.abs(offsets[where] - wanted) <= tol
        run = int(np.argmin(hit)) if not hit.all() else hit.size
        if run > best.size:
            best = where[:run]
    return best
