"""Dynamics against analytic truths: Brownian and ballistic particles."""

import math

import numpy as np
import pytest

from liquids.dynamics import (
    diffusion_constant,
    mean_squared_displacement,
    self_intermediate_scattering,
    tau_alpha,
)
from liquids.trajectory import Trajectory

Q = 7.25


def wrapped_trajectory(unwrapped, times, species, box):
    """Store exact unwrapped paths as wrapped positions plus image counters."""
    box = np.full(unwrapped.shape[2], box, dtype=float)
    images = np.floor(unwrapped / box).astype(np.int32)
    return Trajectory(
        positions=unwrapped - images * box,
        images=images,
        species=species,
        box=box,
        times=np.asarray(times, float),
    )


def brownian(rng, n, frames, dt, diffusion, box, dim=3):
    steps = rng.normal(0, math.sqrt(2 * diffusion * dt), (frames - 1, n, dim))
    start = rng.uniform(0, box, (1, n, dim))
    paths = np.concatenate([start, start + np.cumsum(steps, axis=0)])
    species = (np.arange(n) % 4 == 0).astype(np.int32)
    return wrapped_trajectory(paths, dt * np.arange(frames), species, box)


def direct_msd_and_fs(unwrapped, times, species, qvecs):
    """O(F^2) reference: every pair of frames, grouped by exact lag."""
    sums = {}
    for k in range(len(times)):
        for m in range(k, len(times)):
            lag = round(times[m] - times[k], 9)
            disp = unwrapped[m] - unwrapped[k]
            sq = (disp**2).sum(-1)
            cos = np.cos(disp @ qvecs.T).mean(-1)
            per_species = [
                (sq[species == a].mean(), cos[species == a].mean()) for a in (0, 1)
            ]
            entry = sums.setdefault(lag, [np.zeros((2, 2)), 0])
            entry[0] += np.array(per_species)
            entry[1] += 1
    lags = np.array(sorted(sums))
    values = np.stack([sums[lag][0] / sums[lag][1] for lag in lags])  # [L, S, 2]
    return lags, values[..., 0].T, values[..., 1].T


@pytest.fixture(scope="module")
def diffusive():
    """Brownian particles, D = 0.01: tau_alpha = 1 / (q^2 D) = 1.90."""
    return brownian(np.random.default_rng(0), 400, 200, 0.05, 0.01, 5.0)


@pytest.mark.parametrize("schedule", ["linear", "log-blocks"])
def test_msd_and_fs_match_direct_average_over_all_origins(schedule):
    rng = np.random.default_rng(1)
    traj = brownian(rng, 24, 40, 0.1, 0.5, 3.0)
    if schedule == "log-blocks":  # blocks of 0, 1, 2, 4, 8 steps
        frames = np.array([b * 8 + s for b in range(4) for s in (0, 1, 2, 4)] + [32])
        traj = traj.select(frames)
    msd = mean_squared_displacement(traj)
    fs = self_intermediate_scattering(traj, q=Q, num_wavevectors=6)
    lags, ref_msd, ref_fs = direct_msd_and_fs(
        traj.unwrapped(), traj.times, traj.species, fs.wavevectors
    )
    np.testing.assert_allclose(msd.lags, lags, atol=1e-9)
    np.testing.assert_allclose(msd.msd, ref_msd, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fs.fs, ref_fs, atol=2e-5)  # float32 phases
    assert msd.num_origins[0] == traj.num_frames
    np.testing.assert_allclose(fs.fs[:, 0], 1.0, atol=1e-6)


def test_brownian_msd_fs_tau_and_d(diffusive):
    d_true = 0.01
    msd = mean_squared_displacement(diffusive)
    t = msd.lags
    np.testing.assert_allclose(msd.msd[0, 1:], 6 * d_true * t[1:], rtol=0.08)
    assert diffusion_constant(t, msd.msd[0], 3) == pytest.approx(d_true, rel=0.08)

    fs = self_intermediate_scattering(diffusive, q=Q)
    np.testing.assert_allclose(fs.fs[0], np.exp(-(Q**2) * d_true * t), atol=0.03)
    tau = tau_alpha(t, fs.fs[0])
    assert tau == pytest.approx(1 / (Q**2 * d_true), rel=0.06)


def test_brownian_on_a_log_schedule(diffusive):
    frames = np.unique(np.round(np.geomspace(1, 199, 30)).astype(int))
    frames = np.concatenate([[0], frames])
    traj = diffusive.select(frames)
    msd = mean_squared_displacement(traj)
    assert len(msd.lags) > len(frames)  # cross-pair lags are distinct lags too
    mask = msd.num_origins >= 3
    t = msd.lags[mask][1:]
    np.testing.assert_allclose(msd.msd[0][mask][1:], 0.06 * t, rtol=0.15)
    fs = self_intermediate_scattering(traj, q=Q)
    expected = np.exp(-(Q**2) * 0.01 * msd.lags)
    np.testing.assert_allclose(fs.fs[0][mask], expected[mask], atol=0.05)


def test_image_counters_make_msd_exact_for_long_jumps():
    # each frame a particle moves ~1.7 L per component: wrapped data is useless
    rng = np.random.default_rng(2)
    box, d_true, dt = 2.0, 3.0, 0.5
    traj = brownian(rng, 300, 30, dt, d_true, box)
    msd = mean_squared_displacement(traj)
    ratio = msd.msd[:, 1:10] / (6 * d_true * msd.lags[1:10])
    np.testing.assert_allclose(ratio, 1.0, rtol=0.1)
    wrapped = mean_squared_displacement(traj.positions, traj.times, traj.species)
    # wrapped positions decorrelate: their "MSD" sits at d L^2 / 6 at all lags
    np.testing.assert_allclose(wrapped.msd[:, 1:], 3 * box**2 / 6, rtol=0.1)
    assert np.all(msd.msd[:, 1:] > 4 * wrapped.msd[:, 1:])


def test_ballistic_fs_is_gaussian_in_t():
    rng = np.random.default_rng(3)
    temperature, mass, n = 1.5, 2.0, 2000
    velocity = rng.normal(0, math.sqrt(temperature / mass), (n, 3))
    times = 0.01 * np.arange(25)
    start = rng.uniform(0, 6.0, (n, 3))
    paths = start[None] + times[:, None, None] * velocity[None]
    traj = wrapped_trajectory(paths, times, np.zeros(n, np.int32), 6.0)
    fs = self_intermediate_scattering(traj, q=Q, num_wavevectors=32)
    expected = np.exp(-(Q**2) * temperature * times**2 / (2 * mass))
    np.testing.assert_allclose(fs.fs[0], expected, atol=0.02)
    msd = mean_squared_displacement(traj)
    np.testing.assert_allclose(msd.msd[0], 3 * temperature / mass * times**2, rtol=0.05)
    with pytest.raises(ValueError, match="super-diffusive"):
        diffusion_constant(msd.lags, msd.msd[0], 3)


def test_lattice_wavevectors(diffusive):
    fs = self_intermediate_scattering(
        diffusive.select(slice(0, 60)), q=Q, wavevectors="lattice", shell_width=0.3
    )
    norms = np.linalg.norm(fs.wavevectors, axis=1)
    assert np.all(np.abs(norms - Q) <= 0.15)
    ints = fs.wavevectors * 5.0 / (2 * np.pi)
    np.testing.assert_allclose(ints, np.round(ints), atol=1e-9)
    expected = np.exp(-(norms[:, None] ** 2) * 0.01 * fs.lags).mean(0)
    np.testing.assert_allclose(fs.fs[0], expected, atol=0.04)
    with pytest.raises(ValueError, match="widen shell_width"):
        self_intermediate_scattering(
            diffusive, q=7.3, wavevectors="lattice", shell_width=1e-3
        )


def test_tau_alpha_interpolates_and_reports_short_runs():
    t = np.geomspace(0.01, 100, 41)
    assert tau_alpha(t, np.exp(-t / 2.5)) == pytest.approx(2.5, rel=0.01)
    stretched = np.exp(-((t / 7.0) ** 0.6))
    assert tau_alpha(t, stretched) == pytest.approx(7.0, rel=0.01)
    with pytest.raises(ValueError, match=r"last value F_s\(t=2\) = 0\.4493.*longer"):
        short = np.linspace(0, 2, 21)
        tau_alpha(short, np.exp(-short / 2.5))


def test_diffusion_constant_window_rule():
    t = np.linspace(0, 100, 201)
    # ballistic start, then diffusive: the intercept absorbs the early part
    msd = 6 * 0.2 * t + 0.5 * (1 - np.exp(-t))
    assert diffusion_constant(t, msd, 3) == pytest.approx(0.2, rel=1e-3)
    caged = 0.1 * (1 - np.exp(-t)) + 1e-4 * t
    with pytest.raises(ValueError, match="sub-diffusive"):
        diffusion_constant(t, caged, 3)
    with pytest.raises(ValueError, match="holds 0 lags"):
        diffusion_constant(t, msd, 3, window=(200.0, 300.0))


def test_bad_input_is_named():
    pos = np.zeros((5, 3, 3))
    with pytest.raises(ValueError, match="times is required"):
        mean_squared_displacement(pos)
    with pytest.raises(ValueError, match="increase strictly"):
        mean_squared_displacement(pos, [0, 1, 1, 2, 3])
    with pytest.raises(ValueError, match="wavevectors must be one of"):
        self_intermediate_scattering(pos, times=np.arange(5.0), wavevectors="grid")


def test_plots_draw_the_results(diffusive):
    from liquids.plots import (
        plot_mean_squared_displacement,
        plot_self_intermediate_scattering,
    )

    traj = diffusive.select(slice(0, 40))
    fs = self_intermediate_scattering(traj, q=Q)
    ax = plot_self_intermediate_scattering(fs, tau=0.5)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), fs.lags[1:])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), fs.fs[1, 1:])
    msd = mean_squared_displacement(traj)
    ax = plot_mean_squared_displacement(msd, ax=ax.figure.add_subplot(2, 1, 2))
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), msd.msd[0, 1:])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
