"""Labelled views of the results files, their figures and the progress bar.

Files are written by the packages' own writers (run records, trajectories,
the comparison's group writers) with known contents; the views must put every
value under the coordinates it belongs to, and refuse files of another
layout with a clear error.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from landscape.figures import (
    plot_accuracy,
    plot_class_weights,
    plot_spectral_density,
    plot_top_eigenvalue,
)
from landscape.progress import ProgressBar
from landscape.recording import RunRecords
from landscape.records import atomic_h5, write_config_attrs
from landscape.run_config import TrainConfig
from landscape.views import open_run, open_spectra
from liquids.figures import plot_relaxation_times, plot_sweep_pair_correlation
from liquids.trajectory import Trajectory, write_trajectory
from liquids.views import open_softness, open_state, open_sweep, open_trajectory
from pnn.compare import _write_pairs, _write_summary, _write_sweep, summarise
from pnn.figures import plot_depth_sweep, plot_method_accuracy
from pnn.views import open_compare

# ------------------------------------------------------------------ landscape


def _run_file(path, num_records=4, num_classes=3, hk=2, nk=3):
    rng = np.random.default_rng(0)
    records = RunRecords(ntk_subset=np.arange(5))
    for i in range(num_records):
        records.append(
            step=25 * i,
            loss=rng.random(),
            cross_entropy=rng.random(),
            test_cross_entropy=rng.random(),
            train_accuracy=rng.random(),
            test_accuracy=rng.random(),
            class_weights=rng.random(num_classes),
            hessian_top=np.sort(rng.random(hk))[::-1],
            hessian_residual=rng.random(hk),
            ntk_top=np.sort(rng.random(nk))[::-1],
        )
    records.snapshot_steps = [0, 25 * (num_records - 1)]
    records.snapshots = [rng.random(7), rng.random(7)]
    config = TrainConfig.model_validate(
        {"optimizer": {"learning_rate": 0.5}, "loss": {"amplitude": 70.0}}
    )
    attrs = dict(status="complete", completed_steps=25 * (num_records - 1))
    records.write(path, config.to_dict(), attrs)
    return records.arrays()


def test_open_run_labels_every_record(tmp_path):
    path = tmp_path / "run.h5"
    arrays = _run_file(path)
    run = open_run(path)

    np.testing.assert_array_equal(run.step, arrays["step"])
    assert run.class_weights.dims == ("step", "class")
    assert run.hessian_top.dims == ("step", "hessian_index")
    assert run.ntk_top.dims == ("step", "ntk_index")
    for name, values in arrays.items():
        if name != "step":
            np.testing.assert_array_equal(run[name].values, values)
    # a selection by label picks the row of that step
    np.testing.assert_array_equal(
        run.class_weights.sel(step=50).values, arrays["class_weights"][2]
    )
    np.testing.assert_array_equal(run.snapshot_step, [0, 75])
    assert run.attrs["edge_of_stability"] == pytest.approx(2 / 0.5)
    assert run.attrs["amplitude"] == 70.0
    assert run.attrs["status"] == "complete"


def test_open_spectra_dims_and_missing_group(tmp_path):
    path = tmp_path / "run.h5"
    _run_file(path)
    with pytest.raises(ValueError, match="no spectra"):
        open_spectra(path)
    rng = np.random.default_rng(1)
    with atomic_h5(path, "a") as f:
        g = f.create_group("spectra")
        g["step"] = np.array([0, 75])
        for op in ("hessian", "ntk"):
            g[f"{op}_top"] = rng.random((2, 3))
            g[f"{op}_grid"] = np.tile(np.linspace(0, 1, 16), (2, 1))
            g[f"{op}_density"] = rng.random((2, 16))
            g[f"{op}_nodes"] = rng.random((2, 4, 5))
            g[f"{op}_node_weights"] = rng.random((2, 4, 5))
    spectra = open_spectra(path)
    assert spectra.hessian_density.dims == ("step", "hessian_grid_index")
    assert spectra.ntk_nodes.dims == ("step", "ntk_probe", "ntk_lanczos_step")
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(
            spectra.ntk_top.sel(step=75).values, f["spectra/ntk_top"][1]
        )
    ax = plot_spectral_density(spectra, operator="ntk")
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="operator"):
        plot_spectral_density(spectra, operator="fisher")


def test_landscape_figures_draw_the_records(tmp_path):
    path = tmp_path / "run.h5"
    arrays = _run_file(path)
    run = open_run(path)
    ax = plot_top_eigenvalue(run)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), arrays["hessian_top"][:, 0])
    assert ax.lines[1].get_ydata()[0] == pytest.approx(4.0)  # 2 / lr
    assert len(plot_class_weights(run).lines) == 3
    ax = plot_accuracy(run)
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), arrays["test_accuracy"])
    with pytest.raises(ValueError, match="index 5"):
        plot_top_eigenvalue(run, index=5)


# ------------------------------------------------------------------- liquids

VELOCITY = np.array([0.3, -0.2])


def _ballistic(path, model="lj", temperature=1.0, n=40, frames=8):
    """Particles moving at one constant velocity, wrapped with image counts."""
    rng = np.random.default_rng(2)
    box = np.array([8.0, 8.0])
    times = np.arange(frames) * 0.5
    unwrapped = rng.random((n, 2)) * box + times[:, None, None] * VELOCITY
    images = np.floor(unwrapped / box).astype(np.int32)
    traj = Trajectory(
        positions=unwrapped - images * box,
        images=images,
        species=(np.arange(n) >= int(0.8 * n)).astype(np.int32),
        box=box,
        times=times,
        thermo={
            "time": times,
            "potential_energy": np.full(frames, -2.0),
            "pressure": np.linspace(1.0, 3.0, frames),
        },
    )
    write_trajectory(path, traj, {"model": model, "temperature": temperature})
    return traj


def test_open_trajectory_coordinates(tmp_path):
    path = tmp_path / "traj.h5"
    traj = _ballistic(path)
    ds = open_trajectory(path)
    np.testing.assert_array_equal(ds.t, traj.times)
    np.testing.assert_array_equal(ds.species, traj.species)
    np.testing.assert_array_equal(ds.positions.values, traj.positions)
    assert ds.positions.dims == ("t", "particle", "dim")
    assert list(ds.dim.values) == ["x", "y"]
    assert ds.attrs["model"] == "lj"
    part = open_trajectory(path, frames=slice(2, 5))
    np.testing.assert_array_equal(part.t, traj.times[2:5])
    with pytest.raises(TypeError, match="slice"):
        open_trajectory(path, frames=[1, 2])


def test_open_sweep_stacks_states_with_ballistic_msd(tmp_path):
    _ballistic(tmp_path / "b.h5", model="wca", temperature=2.0)
    _ballistic(tmp_path / "a.h5", model="lj", temperature=1.0)
    (tmp_path / "c.part.h5").write_bytes(b"unfinished")  # skipped
    sweep = open_sweep(tmp_path)

    assert list(sweep.model.values) == ["lj", "wca"]
    np.testing.assert_array_equal(sweep["T"], [1.0, 2.0])
    assert sweep.g.dims == ("state", "pair", "r")
    assert list(sweep.pair.values) == ["AA", "AB", "BB"]
    # ballistic motion: MSD = |v|^2 t^2 exactly, F_s(t = 0) = 1
    expected = np.sum(VELOCITY**2) * sweep.t.values**2
    for species in ("A", "B"):
        np.testing.assert_allclose(
            sweep.msd.sel(species=species).values, np.tile(expected, (2, 1)), atol=1e-9
        )
    np.testing.assert_allclose(sweep.fs.isel(t=0).values, 1.0, rtol=1e-6)
    assert sweep.pressure.values == pytest.approx([2.0, 2.0])
    ax = plot_sweep_pair_correlation(sweep, pair="AB")
    assert len(ax.lines) == 3  # two states and the g = 1 guide
    with pytest.raises(ValueError, match="pair"):
        plot_sweep_pair_correlation(sweep, pair="AC")


def test_open_state_matches_the_pair_correlation_labels(tmp_path):
    from liquids.structure import pair_correlation

    traj = _ballistic(tmp_path / "s.h5")
    state = open_state(tmp_path / "s.h5", r_max=3.0, bin_width=0.1)
    gr = pair_correlation(traj, r_max=3.0, bin_width=0.1)
    np.testing.assert_array_equal(state.g.sel(pair="AB").values, gr.partial(0, 1))
    np.testing.assert_array_equal(state.r.values, gr.r)
    assert state.attrs["model"] == "lj" and state.attrs["T"] == 1.0


def test_open_softness_maps_p_r_to_its_state(tmp_path):
    path = tmp_path / "softness_study.h5"
    edges = np.linspace(-2, 2, 5)
    with atomic_h5(path) as f:
        write_config_attrs(f, {})
        f.attrs["spearman_json"] = '{"mean_S_both": 1.0}'
        f["states/model"] = np.array([b"lj", b"lj", b"wca"])
        f["states/T"] = np.array([0.5, 0.6, 0.5])
        f["states/tau_alpha"] = np.array([30.0, 8.0, 10.0])
        f["states/mean_S_both"] = np.array([-0.5, 0.1, 0.2])
        f["softness_edges"] = edges
        f["P_R/lj/T"] = np.array([0.6, 0.5])  # another order than the table
        f["P_R/lj/P_R"] = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], float)
        f["P_R/wca/T"] = np.array([0.5])
        f["P_R/wca/P_R"] = np.array([[9, 10, 11, 12]], float)
        for m in ("lj", "wca"):
            f[f"arrhenius/{m}/delta_E"] = np.ones(4)
            f[f"arrhenius/{m}/Sigma"] = np.zeros(4)
    soft = open_softness(tmp_path)
    np.testing.assert_array_equal(soft.P_R_of_S.values[:, 0], [5, 1, 9])
    np.testing.assert_allclose(soft.S, 0.5 * (edges[1:] + edges[:-1]))
    assert soft.attrs["spearman_mean_S_both"] == 1.0
    assert soft.delta_E.dims == ("fit_model", "S")
    ax = plot_relaxation_times(soft)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1 / 0.5, 1 / 0.6])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [30.0, 8.0])


def test_views_refuse_other_layouts(tmp_path):
    run, traj = tmp_path / "run.h5", tmp_path / "traj.h5"
    _run_file(run)
    _ballistic(traj)
    with pytest.raises(ValueError, match="not a landscape run file"):
        open_run(traj)
    with pytest.raises(ValueError, match="not a glassland trajectory"):
        open_trajectory(run)
    with pytest.raises(ValueError, match="not a glassland trajectory"):
        open_state(run)
    with pytest.raises(ValueError, match="not a softness study"):
        open_softness(run)
    with pytest.raises(ValueError, match="not a pnn comparison file"):
        open_compare(run)
    with pytest.raises(FileNotFoundError):
        open_run(tmp_path / "missing.h5")


# ----------------------------------------------------------------------- pnn


def _compare_file(path):
    jobs, results = [], []
    for method, acc in (("backprop", 0.9), ("in_silico", 0.6)):
        for seed in (0, 1):
            jobs.append(
                dict(
                    dataset="digits",
                    network={"name": "crossbar_mlp"},
                    method={"method": method},
                    seed=seed,
                )
            )
            results.append(
                dict(
                    accuracy_model=acc + 0.05,
                    accuracy_physical=acc + 0.01 * seed,
                    physical_evaluations=100 * (seed + 1),
                    wall_time=1.0,
                    history={
                        "epoch": np.arange(3),
                        "accuracy_physical": np.array([0.1, 0.2, acc]),
                    },
                )
            )
    # a method that ran on a second network only
    jobs.append(
        dict(dataset="digits", network={"name": "resistor"}, method={"method": "cl"})
        | {"seed": 0}
    )
    results.append(results[0] | {"accuracy_physical": 0.5})
    depth = (
        np.array([1, 2, 4]),
        {"accuracy_physical": np.random.default_rng(3).random((2, 3, 1))},
    )
    with atomic_h5(path) as f:
        write_config_attrs(f, {})
        _write_pairs(f, jobs, results)
        _write_summary(f, summarise(jobs, results))
        _write_sweep(f, "depth_sweep", "depths", depth, ["in_silico", "physics_aware"])
    return depth


def test_open_compare_labels_pairs_and_sweeps(tmp_path):
    depth = _compare_file(tmp_path / "compare.h5")
    res = open_compare(tmp_path)

    acc = res.pairs.accuracy_physical
    assert acc.dims == ("dataset", "network", "method", "seed")
    assert (
        acc.sel({"network": "crossbar_mlp", "method": "in_silico", "seed": 1}) == 0.61
    )
    assert acc.sel({"network": "resistor", "method": "cl", "seed": 0}) == 0.5
    assert np.isnan(acc.sel({"network": "resistor", "method": "backprop", "seed": 0}))
    assert res.pairs.history_accuracy_physical.sizes["epoch"] == 3
    np.testing.assert_array_equal(res.depth.depth, [1, 2, 4])
    np.testing.assert_array_equal(
        res.depth.accuracy_physical.sel({"method": "physics_aware"}).values,
        depth[1]["accuracy_physical"][1],
    )
    assert res.noise is None and res.cyclic is None
    text = repr(res)
    assert "pairs: dataset=1, network=2, method=3, seed=2" in text
    assert "depth: method=2, depth=3, seed=1" in text
    ax = plot_method_accuracy(res, network="crossbar_mlp")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["backprop", "in_silico"]
    assert len(plot_depth_sweep(res).lines) >= 2
    with pytest.raises(ValueError, match="noise sweep"):
        from pnn.figures import plot_noise_sweep

        plot_noise_sweep(res)


# ------------------------------------------------------------------ progress


def test_progress_bar_follows_each_callback_shape():
    with ProgressBar(disable=True) as bar:
        for row in range(3):
            bar.advance({"step": row})
        assert bar.n == 3
        bar.to(7, 10)
        assert (bar.n, bar.total) == (7, 10)
        bar.phase("equilibration", 40, 100)
        bar.phase("equilibration", 60, 100)
        assert (bar.n, bar.total) == (60, 100)
        bar.phase("production", 5, 50)
        assert (bar.n, bar.total) == (5, 50)
        bar.message("training softness on lj")
        assert bar.messages == ["training softness on lj"]
        assert repr(bar) == "ProgressBar('training softness on lj', 6/50)"
    with pytest.raises(ValueError, match="total"):
        ProgressBar(total=-1)
