"""FIRE inherent structures and their Hessian spectrum (2D KA-LJ, N = 64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from liquids.inherent import quench
from liquids.potentials import box_length, ka_species, kob_andersen
from liquids.vibrations import (
    hessian_matrix,
    low_modes,
    participation_ratio,
    soft_mode_participation,
    softness_correlation,
    vibrational_dos,
)

# jax-md's neighbour-list pruning scatters int64 into int32 under x64.
pytestmark = pytest.mark.filterwarnings(
    "ignore:scatter inputs have incompatible types:FutureWarning"
)

N, DIM = 64, 2


@pytest.fixture(scope="module")
def minimum():
    """A jittered square lattice quenched to its inherent structure."""
    side = box_length(N, dim=DIM)
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8)), -1).reshape(-1, 2)
    start = grid * side / 8 + rng.uniform(-0.1, 0.1, (N, DIM))
    with jax.enable_x64(True):
        potential = kob_andersen("lj", side, ka_species(N), dim=DIM)
        result = quench(potential, start, force_tol=1e-8, dtype=jnp.float64)
        e_start = float(potential.energy_dense(jnp.asarray(start))) / N
        grad = np.asarray(jax.grad(potential.energy_dense)(result.positions[0]))
        hessian = hessian_matrix(potential, result.positions[0])
    return potential, result, e_start, grad, hessian


def test_quench_reaches_a_minimum(minimum):
    _, result, e_start, grad, _ = minimum
    assert result.converged.all() and result.max_force[0] < 1e-8
    assert result.energy[0] < e_start
    assert np.abs(grad).max() < 1e-7  # all-pairs gradient, no neighbour list


def test_hessian_is_symmetric_with_translation_zero_modes(minimum):
    _, _, _, _, hessian = minimum
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-9)
    values = np.linalg.eigvalsh(hessian)
    assert np.all(np.abs(values[:DIM]) < 1e-8)
    assert values[DIM] > 1e-3  # a minimum: everything else is stable
    shift = np.tile(np.eye(DIM), (N, 1))  # uniform translations
    np.testing.assert_allclose(hessian @ shift, 0, atol=1e-8)


def test_lanczos_low_modes_match_dense_eigh(minimum):
    potential, result, _, _, hessian = minimum
    values, vectors = np.linalg.eigh(hessian)
    with jax.enable_x64(True):
        low = low_modes(
            potential,
            result.positions[0],
            3,
            key=jax.random.PRNGKey(0),
            num_steps=N * DIM,
            dtype=jnp.float64,
        )
    np.testing.assert_allclose(low.eigenvalues, values[DIM : DIM + 3], rtol=1e-8)
    dense_modes = vectors[:, DIM : DIM + 3].T.reshape(3, N, DIM)
    overlap = np.abs(np.einsum("kid,kid->k", low.modes, dense_modes))
    np.testing.assert_allclose(overlap, 1, atol=1e-6)
    np.testing.assert_allclose(low.participation, participation_ratio(dense_modes))
    np.testing.assert_allclose(soft_mode_participation(low).sum(), 3.0)


def test_vdos_normalisation_and_first_moment(minimum):
    potential, result, _, _, hessian = minimum
    with jax.enable_x64(True):
        dos = vibrational_dos(
            potential,
            result.positions[0],
            key=jax.random.PRNGKey(1),
            dtype=jnp.float64,
        )
    assert np.trapezoid(dos.density, dos.omega) == pytest.approx(1.0, abs=0.03)
    assert dos.mean_eigenvalue == pytest.approx(np.trace(hessian) / (N * DIM), rel=0.02)


def test_participation_ratio_limits_and_rank_correlation():
    localised = np.zeros((1, 50, 3))
    localised[0, 7] = [0.6, 0.8, 0.0]
    uniform = np.ones((1, 50, 3)) / np.sqrt(150)
    assert participation_ratio(localised)[0] == pytest.approx(1 / 50)
    assert participation_ratio(uniform)[0] == pytest.approx(1.0)
    p = np.linspace(0, 1, 20)
    s = np.exp(3 * p)
    s[4] = np.nan
    assert softness_correlation(p, s) == pytest.approx(1.0)
    assert softness_correlation(p, -s) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same shape"):
        softness_correlation(p, s[:5])
