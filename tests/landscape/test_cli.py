"""The `landscape` command line on tiny configs: train, spectrum, sweep, demo."""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from landscape.cli import app
from landscape.config import load_config
from landscape.recording import read_run
from landscape.sweep import SweepConfig
from landscape.training import TrainConfig

TINY = """
num_steps = 80
dtype = "float64"
record_every = 20
hessian_k = 2
hessian_lanczos_steps = 20
ntk_k = 3
ntk_subset = 8
snapshot_every = 40
[dataset]
num_per_class = 10
[model]
widths = [4]
[loss]
amplitude = 10.0
period = 40
final_static_periods = 0
[optimizer]
learning_rate = 2.0
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "tiny.toml"
    config.write_text(TINY)
    result = runner.invoke(app, ["train", str(config), "--out", str(folder)])
    assert result.exit_code == 0, result.output
    return folder / "tiny.h5", result.output


def test_train_writes_run_and_reports(trained):
    path, output = trained
    assert "records:" in output and "tiny.h5" in output
    records, attrs = read_run(path)
    assert attrs["status"] == "complete"
    np.testing.assert_array_equal(records["step"], [0, 20, 40, 60, 80])


def test_spectrum_appends_consistent_spectra(trained):
    path, _ = trained
    result = runner.invoke(app, ["spectrum", str(path), "--k", "2", "--probes", "2"])
    assert result.exit_code == 0, result.output
    records, _ = read_run(path)
    with h5py.File(path) as f:
        spec = {name: f["spectra"][name][()] for name in f["spectra"]}
        assert f["spectra"].attrs["num_probes"] == 2
    np.testing.assert_array_equal(spec["step"], [0, 40, 80])
    at = np.searchsorted(records["step"], spec["step"])
    np.testing.assert_allclose(
        spec["hessian_top"], records["hessian_top"][at], rtol=1e-7
    )
    np.testing.assert_allclose(
        spec["ntk_top"], records["ntk_top"][at][:, :2], rtol=1e-7
    )
    for op in ("hessian", "ntk"):
        mass = np.trapezoid(spec[f"{op}_density"], spec[f"{op}_grid"], axis=1)
        np.testing.assert_allclose(mass, 1.0, atol=1e-3)
        np.testing.assert_allclose(spec[f"{op}_node_weights"].sum(-1), 1.0, atol=1e-10)
    # The largest SLQ node cannot exceed the top eigenvalue (Ritz values interlace).
    assert np.all(
        spec["hessian_nodes"].max(axis=(1, 2)) <= spec["hessian_top"][:, 0] + 1e-8
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (TINY.replace("num_steps = 80", "num_stepz = 80"), "unknown key 'num_stepz'"),
        (TINY.replace("[dataset]", '[dataset]\nname = "cifar"'), "dataset.name"),
        (TINY.replace("learning_rate = 2.0", "learning_rate = -1.0"), "learning_rate"),
        ("num_steps = [", "not valid TOML"),
    ],
)
def test_bad_config_gives_clean_error(tmp_path, text, match):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "error:" in result.output and match in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not list(tmp_path.glob("*.h5"))


def test_spectrum_of_missing_file_is_clean_error(tmp_path):
    result = runner.invoke(app, ["spectrum", str(tmp_path / "nope.h5")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_example_configs_are_valid():
    for name in ("spiral_cyclic", "digits_mlp", "digits_cnn"):
        load_config(TrainConfig, f"data/configs/{name}.toml")
    sweep = load_config(SweepConfig, "data/configs/sweep_lr.toml")
    assert len(sweep.learning_rates) * len(sweep.amplitudes) == 12


SWEEP = """
learning_rates = [0.5, 2.0]
[base]
num_steps = 40
dtype = "float64"
record_every = 20
hessian_k = 1
ntk_k = 0
[base.dataset]
num_per_class = 10
[base.model]
widths = [4]
[base.loss]
amplitude = 10.0
period = 40
final_static_periods = 0
"""


def test_sweep_sync_writes_summary_and_figure(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(SWEEP)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["sweep", str(config), "--out", str(out), "--scheduler", "sync"]
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out / "sweep.h5") as f:
        np.testing.assert_array_equal(f["learning_rate"][()], [0.5, 2.0])
        assert np.all(f["diverged_step"][()] == -1)
        names = [n.decode() for n in f["run_file"][()]]
        top = f["max_hessian_top"][()]
    for name, expected in zip(names, top, strict=True):
        records, attrs = read_run(out / name)
        assert attrs["status"] == "complete"
        assert records["hessian_top"][:, 0].max() == expected
    assert (out / "bifurcation_A10_T40.png").stat().st_size > 1000


def test_demo_tiny_end_to_end(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--width", "4", "--seeds", "1"]
    args += ["--period", "100", "--num-periods", "2", "--scheduler", "sync"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "plain CE (A = 1)" in result.output and "cyclic CE (A = 70)" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [row["amplitude"] for row in summary["rows"]] == [1.0, 70.0]
    for png in ("curves.png", "ntk.png"):
        assert (out / png).stat().st_size > 1000
    records, attrs = read_run(out / "spiral_W4_A70_seed0.h5")
    assert attrs["config"]["loss"]["amplitude"] == 70.0
    # The last period is static: uniform weights from step T on.
    np.testing.assert_array_equal(records["class_weights"][records["step"] >= 100], 1.0)
    row = summary["rows"][1]
    np.testing.assert_allclose(
        row["train_accuracy"]["mean"], records["train_accuracy"][-1], rtol=1e-12
    )
