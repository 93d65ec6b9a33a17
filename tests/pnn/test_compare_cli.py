"""The pnn compare study through its command line, on a tiny config."""

import csv

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from landscape.config import ConfigError, parse_config
from landscape.records import read_config_attrs
from pnn.cli import app
from pnn.compare import CompareConfig

TINY = """
datasets = ["digits"]
seeds = 1
training = { epochs = 2, batch_size = 256, learning_rate = 0.02 }

[[networks]]
name = "resistor"
substrate = { kind = "resistor_network", hidden = 2 }
methods = ["backprop", "physics_aware", "equilibrium", "coupled_learning",
           "forward_forward"]

[depth_sweep]
depths = [1, 2]
width = 4
substrate = { kind = "resistor_network", hidden = 2 }
epochs = 1

[noise_sweep]
enabled = false

[cyclic_hessian]
network = { name = "resistor", substrate = { kind = "resistor_network", hidden = 2 } }
steps = 4
record_every = 2
lanczos_steps = 3
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pnn_compare")
    config = folder / "tiny.toml"
    config.write_text(TINY)
    out = folder / "out"
    result = CliRunner().invoke(
        app, ["compare", str(config), "--out", str(out), "--scheduler", "sync"]
    )
    return result, out


def test_compare_writes_table_files_and_figures(tiny_run):
    result, out = tiny_run
    assert result.exit_code == 0, result.output
    assert "test accuracy by method" in result.output
    assert "compare.h5" in result.output
    assert "depth sweep" in result.output
    for name in ("accuracy_vs_evaluations", "accuracy_vs_depth", "cyclic_hessian"):
        assert (out / f"{name}.png").stat().st_size > 1000
    with h5py.File(out / "compare.h5") as f:
        config = read_config_attrs(f)
        summary = {k: f["summary"][k][()] for k in f["summary"]}
        methods = sorted(m.decode() for m in summary["method"])
        # forward-forward cannot train an energy-based network: skipped
        assert methods == sorted(
            ["backprop", "physics_aware", "equilibrium", "coupled_learning"]
        )
        np.testing.assert_allclose(
            summary["reality_gap"],
            summary["accuracy_model_mean"] - summary["accuracy_physical_mean"],
        )
        run = f["pairs/digits/resistor/equilibrium/seed_0"]
        assert run["accuracy_physical"].shape == (2,)
        n_train = 1437 // 256 * 256
        assert run.attrs["physical_evaluations"] == 2 * 2 * n_train
        assert (
            f["pairs/digits/resistor/backprop/seed_0"].attrs["physical_evaluations"]
            == 0
        )
        assert f["depth_sweep/accuracy_physical"].shape == (2, 2, 1)
        assert f["cyclic_hessian/top_eigenvalue"].shape == (2, 3)
        assert "noise_sweep" not in f
    assert config["seeds"] == 1
    with (out / "compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(methods)
    accuracies = [float(r["accuracy_physical_mean"]) for r in rows]
    assert all(0.0 <= a <= 1.0 for a in accuracies)


def test_bad_configs_fail_before_compilation(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = 1\nlearning_rat = 0.1\n")
    result = CliRunner().invoke(app, ["compare", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown key 'learning_rat'" in result.output
    with pytest.raises(ConfigError, match="noise levels must lie in"):
        parse_config(CompareConfig, {"noise_sweep": {"levels": [0.1, 1.5]}})
    with pytest.raises(ConfigError, match="unknown key 'wavelength'"):
        parse_config(
            CompareConfig,
            {
                "networks": [
                    {"name": "x", "substrate": {"kind": "crossbar", "wavelength": 1}}
                ]
            },
        )
    with pytest.raises(ConfigError, match="'in_dim' is set by the study"):
        parse_config(
            CompareConfig,
            {
                "networks": [
                    {"name": "x", "substrate": {"kind": "crossbar", "in_dim": 3}}
                ]
            },
        )
    with pytest.raises(ConfigError, match="kind must be one of"):
        parse_config(
            CompareConfig, {"networks": [{"name": "x", "substrate": {"kind": "laser"}}]}
        )


def test_test_set_chunks_divide_it_without_padding():
    from pnn.methods.training import SCORE_BATCH, _chunk_size

    for n in (1, 7, 32, 127, 128, 360, 1000, 1009):
        size = _chunk_size(n)
        assert n % size == 0 and size <= SCORE_BATCH
        assert not any(n % d == 0 for d in range(size + 1, SCORE_BATCH + 1))
    assert _chunk_size(360) == 120


def test_demo_config_is_the_short_study():
    from pnn.compare import DEMO_METHODS, demo_config

    config = demo_config()
    assert config.datasets == ["digits"] and config.seeds == 1
    assert config.networks[0].name == "crossbar_mlp"
    assert config.methods == DEMO_METHODS
    assert config.depth_sweep.depths == [1, 3]
    assert not config.noise_sweep.enabled and not config.cyclic_hessian.enabled


def test_shipped_study_config_validates():
    """The study's own config loads, and every pair it asks for is a valid
    (network, method) combination on both data sets."""
    from pathlib import Path

    from landscape.config import load_config
    from pnn.compare import FEATURES, NUM_CLASSES, _pair_jobs
    from pnn.methods import compatible_methods
    from pnn.network import NetworkSpec, build_network

    root = Path(__file__).resolve().parents[2]
    config = load_config(CompareConfig, root / "data/configs/pnn_compare.toml")
    jobs = _pair_jobs(config)
    assert {j["dataset"] for j in jobs} == set(config.datasets)
    for job in jobs:
        spec = NetworkSpec.model_validate(job["network"])
        net = build_network(spec, FEATURES[job["dataset"]], NUM_CLASSES)
        assert job["method"]["method"] in compatible_methods(net)
