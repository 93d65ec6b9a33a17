"""The liquids sweep: run sizing, config errors, and one tiny sweep end to end."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from liquids.cli import app
from liquids.rearrangements import evenly_spaced_frames
from liquids.sweep import SweepConfig, expected_tau_alpha, state_config
from liquids.trajectory import read_trajectory

pytestmark = pytest.mark.filterwarnings(
    "ignore:scatter inputs have incompatible types:FutureWarning"
)

runner = CliRunner()


def invoke(*args):
    """Run the CLI; return (exit code, output with rich's line wraps undone)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_expected_tau_alpha_passes_through_reference_table():
    for temp, tau in [(2.0, 0.353), (1.0, 1.5), (0.8, 4.0), (0.6, 35.0)]:
        assert expected_tau_alpha(temp) == pytest.approx(tau, rel=1e-9)
    temps = np.linspace(0.45, 3.0, 50)
    taus = [expected_tau_alpha(t) for t in temps]
    assert np.all(np.diff(taus) < 0)  # slower on cooling, also extrapolated
    with pytest.raises(ValueError, match="temperature"):
        expected_tau_alpha(0.0)


def test_state_runs_cover_many_relaxation_times():
    cfg = SweepConfig()
    for i, (model, temp) in enumerate(cfg.states()):
        md = state_config(cfg, model, temp, i)
        tau = expected_tau_alpha(temp)
        assert md.production_time >= cfg.production_taus * tau - 1e-9 >= 9 * tau
        assert md.equilibration_time >= cfg.equilibration_taus * tau - 1e-9
        assert md.block_steps * md.dt >= tau  # log blocks reach past tau
        assert md.melt_time == (0.0 if temp >= 2.0 else cfg.melt_time)


def test_bad_sweep_config_is_a_clean_cli_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('models = ["lj"]\ntemperatures = [1.0, -0.5]\n')
    code, output = invoke("sweep", str(path))
    assert code == 2
    assert "temperatures" in output and "Traceback" not in output
    path.write_text('models = ["lj"]\nnum_particles = 50\n')
    code, output = invoke("sweep", str(path))
    assert code == 2 and "shorter than" in output
    path.write_text("[md]\ntemperature = 1.0\n")
    code, output = invoke("sweep", str(path))
    assert code == 2 and "per state" in output
    code, output = invoke("sweep", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in output


def test_tiny_sweep_end_to_end_and_resume(tmp_path):
    out = tmp_path / "sweep"
    path = tmp_path / "tiny.toml"
    # Same compiled shapes as the run tests in test_simulation.py (TINY).
    path.write_text(
        f"""
models = ["wca"]
temperatures = [2.0]
num_particles = 108
production_taus = 6.0
min_production_time = 2.0
min_equilibration_time = 2.0
equilibration_taus = 1.0
out = "{out}"
[md]
block_steps = 64
log_frames_per_block = 3
blocks_per_chunk = 2
equilibration_chunk_steps = 100
capacity_multiplier = 0.3
fire_steps = 300
"""
    )
    code, output = invoke("sweep", str(path), "--scheduler", "sync")
    assert code == 0, output
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and rows[0]["model"] == "wca"
    assert float(rows[0]["T_kinetic"]) == pytest.approx(2.0, rel=0.1)
    tau = float(rows[0]["tau_alpha_A"])
    assert 0.05 < tau < 1.0  # WCA at T = 2 relaxes faster than LJ's 0.35
    for name in ("g_AA.png", "fs_A.png", "tau_alpha.png", "wca_T2.000.h5"):
        assert (out / name).stat().st_size > 0
    # Softness-grade frames: every 0.1 over the whole production (6 tau =
    # 2.118, rounded up to whole frames: 2.2), besides the log blocks; p_hop
    # gets them, not the block starts.
    times = read_trajectory(out / "wca_T2.000.h5").times
    even = times[evenly_spaced_frames(times)]
    np.testing.assert_allclose(np.diff(even), 0.1, rtol=1e-5)
    assert even.size == 23 and times.size > even.size
    code, output = invoke("sweep", str(path), "--scheduler", "sync")
    assert code == 0 and "existed" in output
