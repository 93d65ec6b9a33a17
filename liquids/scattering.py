"""Static structure factor S(q) from wave vectors commensurate with the box.

.. math::

    S_{ab}(q) = \\frac{1}{\\sqrt{N_a N_b}} \\left\\langle \\mathrm{Re}\\,
        \\rho_a(\\mathbf q)\\, \\rho_b(\\mathbf q)^* \\right\\rangle,
    \\qquad \\rho_a(\\mathbf q) = \\sum_{j \\in a}
        e^{-i \\mathbf q \\cdot \\mathbf r_j},

averaged over frames and over shells of ``|q|``. The companion of
:func:`liquids.structure.pair_correlation` in reciprocal space.

References:
    Hansen & McDonald, *Theory of Simple Liquids*, 4th ed. (2013), ch. 4;
    Ashcroft & Langreth, Phys. Rev. 156, 685 (1967) (partial normalisation).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landscape.validate import require_positive, require_positive_int
from liquids.structure import _frames_species_box
from liquids.trajectory import Trajectory

__all__ = ["StructureFactor", "structure_factor"]


@dataclasses.dataclass(frozen=True)
class StructureFactor:
    """Static structure factors averaged over shells of commensurate wave vectors.

    Attributes:
        q: ``[shells]`` mean ``|q|`` of the wave vectors in each shell.
        partial: ``[S, S, shells]`` Ashcroft-Langreth partials
            ``S_ab(q) = <Re rho_a(q) rho_b(q)*> / sqrt(N_a N_b)`` (``-> delta_ab``
            at large q).
        number_number: ``[shells]`` ``S(q) = <|rho(q)|^2> / N`` of all
            particles (``-> 1`` at large q and for random points).
        num_vectors: ``[shells]`` wave vectors averaged in each shell.
        species_counts: ``[S]`` particles per species.
        num_frames: frames averaged over.
    """

    q: np.ndarray
    partial: np.ndarray
    number_number: np.ndarray
    num_vectors: np.ndarray
    species_counts: np.ndarray
    num_frames: int


def _wave_vectors(
    box: np.ndarray, q_max: float, shell_width: float, per_shell: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Commensurate wave vectors ``2 pi n / L`` of one half space, by shell.

    Returns integer vectors ``[vectors, d]`` and each one's shell index.
    ``q`` and ``-q`` give the same ``|rho(q)|^2``, so only one of each pair is
    kept. Shells holding more than ``per_shell`` vectors are subsampled.
    """
    n_max = np.floor(q_max * box / (2 * np.pi)).astype(int)
    axes = [np.arange(-m, m + 1) for m in n_max]
    ints = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(box))
    first = np.argmax(ints != 0, axis=1)
    lead = ints[np.arange(len(ints)), first]
    ints = ints[lead > 0]  # first non-zero component positive: one of +-q
    q_norm = np.linalg.norm(2 * np.pi * ints / box, axis=1)
    keep = q_norm <= q_max
    ints, q_norm = ints[keep], q_norm[keep]
    shell = np.floor(q_norm / shell_width).astype(int)
    rng = np.random.default_rng(seed)
    chosen = []
    for s in np.unique(shell):
        members = np.flatnonzero(shell == s)
        if len(members) > per_shell:
            members = np.sort(rng.choice(members, per_shell, replace=False))
        chosen.append(members)
    chosen = np.concatenate(chosen)
    return ints[chosen], shell[chosen]


@functools.partial(jax.jit, static_argnames=("num_species",))
def _density_modes(
    scaled: jax.Array, ints: jax.Array, species: jax.Array, *, num_species: int
) -> tuple[jax.Array, jax.Array]:
    """Real and imaginary ``rho_a(q)`` ``[F, blocks, S, B]`` of each species.

    ``scaled`` is ``[F, N, d]`` positions divided by the box, ``ints`` the
    integer wave vectors ``[blocks, B, d]``; the phase is ``2 pi n . x / L``.
    """
    onehot = jax.nn.one_hot(species, num_species, dtype=scaled.dtype).T  # [S, N]

    def one_frame(x):
        def one_block(n_block):
            phase = 2 * jnp.pi * (x @ n_block.T.astype(x.dtype))  # [N, B]
            return onehot @ jnp.cos(phase), onehot @ jnp.sin(phase)

        return jax.lax.map(one_block, ints)

    return jax.lax.map(one_frame, scaled)


def structure_factor(
    positions: Trajectory | Any,
    species: Any = None,
    box: Any = None,
    *,
    q_max: float,
    shell_width: float | None = None,
    max_vectors_per_shell: int = 256,
    frames: slice | np.ndarray | None = None,
    seed: int = 0,
    dtype: Any = jnp.float32,
) -> StructureFactor:
    """Static structure factor from wave vectors commensurate with the box.

    .. math::

        S_{ab}(q) = \\frac{1}{\\sqrt{N_a N_b}}
            \\left\\langle \\mathrm{Re}\\, \\rho_a(\\mathbf q)\\,
            \\rho_b(\\mathbf q)^* \\right\\rangle_{|\\mathbf q| \\in \\text{shell}},
        \\qquad \\rho_a(\\mathbf q) = \\sum_{j \\in a} e^{-i \\mathbf q \\cdot
            \\mathbf r_j},

    with ``q = 2 pi (n_1 / L_1, ..., n_d / L_d)`` for integer ``n`` (the only
    wave vectors a periodic box supports) and ``q != 0``. Shells are
    ``[k, k + 1) * shell_width``; shells with many vectors are subsampled at
    random (seeded) to ``max_vectors_per_shell``, which only adds noise.

    Args:
        positions: a trajectory or positions ``[frames?, particles, dim]``.
        species: ``[particles]`` labels (from the trajectory when omitted).
        box: ``[dim]`` side lengths (from the trajectory when omitted).
        q_max: largest ``|q|`` (inverse length units).
        shell_width: width of the ``|q|`` shells; default ``2 pi / min(box)``.
        max_vectors_per_shell: cap on the wave vectors averaged per shell.
        frames: optional selection of frames.
        seed: seed of the subsampling of crowded shells.
        dtype: floating dtype of the phases.

    Returns:
        A :class:`StructureFactor` with ``q`` of non-empty shells.
    """
    pos, species, box = _frames_species_box(positions, species, box, frames, dtype)
    num_frames, n, dim = pos.shape
    require_positive("q_max", q_max)
    if shell_width is None:
        shell_width = 2 * np.pi / box.min()
    require_positive("shell_width", shell_width)
    require_positive_int("max_vectors_per_shell", max_vectors_per_shell)
    if q_max < 2 * np.pi / box.max():
        raise ValueError(
            f"q_max must be >= 2 pi / max(box) = {2 * np.pi / box.max():.4g}, the "
            f"smallest non-zero wave vector of this box, got {q_max!r}"
        )
    ints, shell = _wave_vectors(box, q_max, shell_width, max_vectors_per_shell, seed)
    block = max(1, min(len(ints), (1 << 22) // n))
    pad = -len(ints) % block
    padded = np.concatenate([ints, np.zeros((pad, dim), int)]).reshape(-1, block, dim)
    num_species = int(species.max()) + 1

    re, im = _density_modes(
        jnp.asarray(pos / box.astype(pos.dtype)),
        jnp.asarray(padded, jnp.int32),
        jnp.asarray(species),
        num_species=num_species,
    )
    re = (
        np.asarray(re, np.float64)
        .transpose(0, 2, 1, 3)
        .reshape(num_frames, num_species, -1)
    )
    im = (
        np.asarray(im, np.float64)
        .transpose(0, 2, 1, 3)
        .reshape(num_frames, num_species, -1)
    )
    re, im = re[..., : len(ints)], im[..., : len(ints)]

    counts = np.bincount(species, minlength=num_species)
    cross = np.einsum("fak,fbk->abk", re, re) + np.einsum("fak,fbk->abk", im, im)
    cross /= num_frames * np.sqrt(np.outer(counts, counts))[..., None]
    total = (re.sum(1) ** 2 + im.sum(1) ** 2).mean(0) / n
    shells, index = np.unique(shell, return_inverse=True)
    per_shell = np.bincount(index)
    q_norm = np.linalg.norm(2 * np.pi * ints / box, axis=1)

    def shell_mean(values):
        return (
            np.stack([np.bincount(index, w, minlength=len(shells)) for w in values])
            / per_shell
        )

    partial = shell_mean(cross.reshape(-1, len(ints))).reshape(
        num_species, num_species, -1
    )
    return StructureFactor(
        q=shell_mean(q_norm[None])[0],
        partial=partial,
        number_number=shell_mean(total[None])[0],
        num_vectors=per_shell,
        species_counts=counts,
        num_frames=num_frames,
    )
