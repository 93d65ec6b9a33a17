"""KA-LJ / KA-WCA potentials against an independent NumPy all-pairs sum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from liquids import _ffi, _host_force
from liquids.potentials import (
    KA_PARAMETERS,
    box_length,
    ka_species,
    kob_andersen,
    pair_potential,
)

# jax-md's neighbour-list builder scatters int64 into int32 under x64.
pytestmark = pytest.mark.filterwarnings(
    "ignore:scatter inputs have incompatible types:FutureWarning"
)

EPS = np.array([[1.0, 1.5], [1.5, 0.5]])
SIG = np.array([[1.0, 0.8], [0.8, 0.88]])
CUT = {"lj": 2.5, "wca": 2.0 ** (1.0 / 6.0)}


def numpy_energy_forces_virial(R, species, box, model):
    """Plain NumPy reference: all pairs, minimum image, truncated and shifted."""
    n = len(R)
    energy, virial = 0.0, 0.0
    forces = np.zeros_like(R)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = species[i], species[j]
            eps, sig = EPS[a, b], SIG[a, b]
            rc = CUT[model] * sig
            d = R[i] - R[j]
            d -= box * np.round(d / box)
            r = np.sqrt(d @ d)
            if r >= rc:
                continue
            v = lambda x: 4 * eps * ((sig / x) ** 12 - (sig / x) ** 6)  # noqa: B023
            dv = -4 * eps * (12 * sig**12 / r**13 - 6 * sig**6 / r**7)
            energy += v(r) - v(rc)
            f = -dv * d / r
            forces[i] += f
            forces[j] -= f
            virial += -r * dv
    return energy, forces, virial


def jittered_lattice(n, box, dim, rng, jitter=0.15):
    per_side = int(np.ceil(n ** (1 / dim)))
    grid = np.stack(
        np.meshgrid(*[np.arange(per_side)] * dim, indexing="ij"), -1
    ).reshape(-1, dim)[:n]
    spacing = box / per_side
    return (grid + 0.5 + rng.uniform(-jitter, jitter, grid.shape)) * spacing


CASES = [
    ("lj", 3, 256, "verlet"),
    ("wca", 2, 300, "verlet"),  # 5 x 5 cells: the cell-list path
    ("lj", 3, 256, "dense"),
    ("wca", 3, 128, "ordered_sparse"),
    ("lj", 2, 150, "ordered_sparse"),
    ("wca", 2, 64, "dense"),
]


@jax.jit(static_argnums=0)
def evaluate(pot, R, nbrs):
    """Everything compared against NumPy, in one compilation per case."""
    return (
        pot.energy(R, nbrs),
        pot.energy_dense(R),
        pot.force(R, nbrs),
        pot.virial(R, nbrs),
    )


@pytest.mark.parametrize("model,dim,n,fmt", CASES)
def test_energy_forces_virial_match_numpy(x64, model, dim, n, fmt):
    rng = np.random.default_rng(n + dim)
    side = box_length(n, 1.2, dim) * np.ones(dim)
    species = rng.permutation(ka_species(n))
    R = jittered_lattice(n, side, dim, rng)
    pot = kob_andersen(model, side, species, dim=dim, neighbor_format=fmt)
    nbrs = pot.neighbor_fn.allocate(jnp.asarray(R))
    assert not nbrs.did_buffer_overflow

    e_ref, f_ref, w_ref = numpy_energy_forces_virial(R, species, side, model)
    R_j = jnp.asarray(R)
    scale = max(1.0, abs(e_ref))
    energy, energy_dense, force, virial = evaluate(pot, R_j, nbrs)
    np.testing.assert_allclose(energy, e_ref, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(energy_dense, e_ref, rtol=0, atol=1e-10 * scale)
    fscale = np.abs(f_ref).max()
    np.testing.assert_allclose(force, f_ref, rtol=0, atol=1e-10 * fscale)
    np.testing.assert_allclose(virial, w_ref, rtol=0, atol=1e-10 * abs(w_ref))
    # Energies must be nontrivial for the comparison to mean something.
    assert abs(e_ref) > 1.0


@pytest.mark.parametrize("model", ["lj", "wca"])
def test_pair_potential_zero_and_continuous_at_cutoff(x64, model):
    p = KA_PARAMETERS[model]
    for a in range(2):
        for b in range(2):
            rc = p.cutoff[a, b]
            assert rc == pytest.approx(CUT[model] * SIG[a, b])
            below = float(pair_potential(model, jnp.asarray(rc * (1 - 1e-9)), a, b))
            at = float(pair_potential(model, jnp.asarray(rc), a, b))
            beyond = float(pair_potential(model, jnp.asarray(rc * 1.1), a, b))
            assert at == 0.0 and beyond == 0.0
            assert abs(below) < 1e-7
    np.testing.assert_allclose(KA_PARAMETERS["lj"].cutoff.ravel(), [2.5, 2.0, 2.0, 2.2])


def test_wca_is_purely_repulsive_with_zero_minimum(x64):
    r = jnp.linspace(0.7, 1.5, 4001)
    for a in range(2):
        for b in range(2):
            v = np.asarray(pair_potential("wca", r * SIG[a, b], a, b))
            assert v.min() >= 0.0
            rmin = 2 ** (1 / 6) * SIG[a, b]
            assert float(pair_potential("wca", jnp.asarray(rmin), a, b)) == 0.0
            # WCA equals LJ + eps inside the cutoff
            inside = np.asarray(r * SIG[a, b]) < rmin
            lj = np.asarray(pair_potential("lj", r * SIG[a, b], a, b))
            shift_lj = KA_PARAMETERS["lj"].shift[a, b]
            np.testing.assert_allclose(
                v[inside], (lj + shift_lj + EPS[a, b])[inside], atol=1e-10
            )


def test_pressure_is_minus_volume_derivative(x64):
    """P_conf = -dU/dV under affine scaling, by central finite difference."""
    n, dim = 256, 3
    rng = np.random.default_rng(7)
    L = box_length(n, 1.2, dim)
    species = rng.permutation(ka_species(n))
    R = jnp.asarray(jittered_lattice(n, np.full(dim, L), dim, rng))
    pot = kob_andersen("lj", L, species, neighbor_format="dense")
    nbrs = pot.neighbor_fn.allocate(R)
    temperature = 1.3

    def energy_at(lam):
        scaled = kob_andersen("lj", L * lam, species, skin=0.0)
        return float(jax.jit(scaled.energy_dense)(R * lam))

    h = 1e-5
    dU_dlam = (energy_at(1 + h) - energy_at(1 - h)) / (2 * h)
    volume = L**dim
    p_fd = n * temperature / volume - dU_dlam / (dim * volume)
    p = float(jax.jit(pot.pressure)(R, nbrs, temperature))
    assert p == pytest.approx(p_fd, rel=1e-7)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(model="morse"), "model must be one of"),
        (dict(species=np.array([0, 1, 2] * 100)), "species labels must be 0"),
        (dict(box=3.0), "too short"),
        (dict(box=-10.0), "positive"),
        (dict(neighbor_format="csr"), "neighbor_format"),
        (dict(dim=4), "dim must be one of"),
        (dict(skin=-0.1), "skin"),
    ],
)
def test_bad_input_raises_before_compilation(kwargs, match):
    args = dict(model="lj", box=10.0, species=ka_species(300))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        kob_andersen(args.pop("model"), args.pop("box"), args.pop("species"), **args)


def test_species_type_and_helpers():
    with pytest.raises(TypeError, match="integer labels"):
        kob_andersen("lj", 10.0, np.zeros(10))
    assert box_length(1000, 1.2) == pytest.approx(9.4104, abs=1e-4)
    s = ka_species(1000)
    assert (s == 0).sum() == 800 and (s == 1).sum() == 200
    with pytest.raises(ValueError, match="density"):
        box_length(100, 0.0)


def test_float32_energy_keeps_dtype():
    n = 64
    L = box_length(n, dim=2)
    pot = kob_andersen("wca", L, ka_species(n), dim=2)
    R = jnp.asarray(jittered_lattice(n, np.full(2, L), 2, np.random.default_rng(1)))
    R = R.astype(jnp.float32)
    energy, force = jax.jit(jax.value_and_grad(pot.energy_dense))(R)
    assert energy.dtype == jnp.float32 and force.dtype == jnp.float32


def test_dense_kernel_blocks_give_the_same_sums(x64, monkeypatch):
    import liquids.potentials as potentials

    n = 300
    rng = np.random.default_rng(7)
    side = box_length(n) * np.ones(3)
    R = jnp.asarray(jittered_lattice(n, side, 3, rng))
    pot = kob_andersen("lj", side, ka_species(n))
    nbrs = pot.allocate(R)
    whole = (pot.force(R, nbrs), pot.energy(R, nbrs), pot.virial(R, nbrs))
    # 7 rows per block: 43 blocks, the last one overlapping the one before.
    monkeypatch.setattr(potentials, "DENSE_BLOCK_SLOTS", 7 * nbrs.idx.shape[1])
    blocked = (pot.force(R, nbrs), pot.energy(R, nbrs), pot.virial(R, nbrs))
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def kernels_4500():
    """A float32 KA-LJ liquid of 4500 particles (eight runs of the host
    kernel), both force kernels and one list."""
    n = 4500
    rng = np.random.default_rng(3)
    side = box_length(n) * np.ones(3)
    species = ka_species(n)
    R = jnp.asarray(jittered_lattice(n, side, 3, rng, jitter=0.3), jnp.float32)
    host = kob_andersen("lj", side, species)
    xla = kob_andersen("lj", side, species, force_kernel="xla")
    nbrs = host.allocate(R)
    return host, xla, R, nbrs


def test_host_force_kernel_matches_the_xla_kernel_and_threads_do_not_change_it(
    kernels_4500, monkeypatch
):
    host, xla, R, nbrs = kernels_4500
    assert host.force_kernel == "host" and xla.force_kernel == "xla"
    assert _host_force.runs(R.shape[0]) == 8
    f_host = np.asarray(jax.jit(host.force)(R, nbrs))
    f_xla = np.asarray(jax.jit(xla.force)(R, nbrs))
    scale = np.abs(f_xla).max()
    assert scale > 1.0
    np.testing.assert_allclose(f_host, f_xla, rtol=0, atol=2e-6 * scale)
    np.testing.assert_allclose(f_host.sum(axis=0), 0.0, atol=1e-6 * scale * 4500)
    # The same bits on one thread and on three: the runs depend on N alone.
    for count in (1, 3):
        monkeypatch.setattr(_ffi, "threads", lambda c=count: c)
        assert np.array_equal(np.asarray(jax.jit(host.force)(R, nbrs)), f_host)
    # The NumPy entry point (one thread, the same runs and sum). Not bit for
    # bit: it is a separate numba specialisation (read-only inputs), and the
    # pair loop is compiled with fastmath, so its sums may be vectorised
    # differently (seen once: one float32 ulp).
    p = host.parameters
    table = _host_force.table(host.box, p.epsilon, p.sigma, p.cutoff, np.float32)
    f_numpy = _host_force.forces(R, host.species, nbrs.idx, table)
    np.testing.assert_allclose(f_numpy, f_host, rtol=0, atol=1e-6 * scale)


def test_host_force_kernel_derivatives_and_vmap_are_the_xla_kernels(kernels_4500):
    host, xla, R, nbrs = kernels_4500
    v = jax.random.normal(jax.random.PRNGKey(0), R.shape, R.dtype)
    _, jvp_host = jax.jvp(lambda r: host.force(r, nbrs), (R,), (v,))
    _, jvp_xla = jax.jvp(lambda r: xla.force(r, nbrs), (R,), (v,))
    np.testing.assert_array_equal(jvp_host, jvp_xla)  # the same XLA code
    moved = jnp.stack([R, R + 0.01])
    batched = jax.vmap(host.force, in_axes=(0, None))(moved, nbrs)
    for k in range(2):
        one = xla.force(moved[k], nbrs)
        scale = float(jnp.abs(one).max())
        np.testing.assert_allclose(batched[k], one, rtol=0, atol=2e-6 * scale)


def test_force_kernel_choice_is_checked():
    species = ka_species(1200)
    with pytest.raises(ValueError, match="force_kernel must be"):
        kob_andersen("lj", 10.0, species, force_kernel="gpu")
    with pytest.raises(ValueError, match="neighbor_search='xla'"):
        kob_andersen("lj", 10.0, species, neighbor_search="xla", force_kernel="host")
    with pytest.raises(ValueError, match="neighbor_format='dense'"):
        kob_andersen("lj", 10.0, species, neighbor_format="dense", force_kernel="host")
    assert kob_andersen("lj", 10.0, species, neighbor_search="xla").force_kernel == (
        "xla"
    )
    host = kob_andersen("lj", 10.0, species)
    R = jnp.asarray(
        jittered_lattice(1200, np.full(3, 10.0), 3, np.random.default_rng(0))
    )
    nbrs = host.allocate(R)
    with pytest.raises(ValueError, match="float32 or float64, got .*bfloat16"):
        host.force(R.astype(jnp.bfloat16), nbrs)
    with pytest.raises(ValueError, match=r"positions of shape \(2400, 3\)"):
        host.force(jnp.concatenate([R, R]), nbrs)
