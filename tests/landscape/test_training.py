"""Training loop: learning, resume equality, NaN stop, recorded spectra, layout."""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape.config import ConfigError, parse_config
from landscape.losses import cyclic_class_weights, cyclic_cross_entropy
from landscape.models import build_model, make_apply_fn
from landscape.recording import LAYOUT, RECORD_FIELDS, read_run
from landscape.training import (
    TrainConfig,
    TrainingDiverged,
    checkpoint_path,
    train,
)

# Tiny float64 spiral problem: 30 points, a 2-4-3 MLP (27 parameters).
BASE = dict(
    dataset=dict(name="spiral", num_per_class=10, seed=0),
    model=dict(widths=[4]),
    loss=dict(amplitude=10.0, period=40, final_static_periods=0),
    optimizer=dict(name="sgd", learning_rate=2.0),
    num_steps=80,
    record_every=20,
    dtype="float64",
    hessian_k=2,
    hessian_lanczos_steps=20,
    ntk_k=3,
    ntk_subset=8,
    checkpoint_every=40,
)


def make_config(**changes) -> TrainConfig:
    return parse_config(TrainConfig, {**BASE, **changes})


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 160-step run (the reference for resume tests)."""
    path = tmp_path_factory.mktemp("straight") / "run.h5"
    return train(make_config(num_steps=160), path)


def test_training_reduces_loss(straight):
    """Step 160 ends a period (uniform weights): the plain CE must have dropped."""
    ce = straight.records["cross_entropy"]
    np.testing.assert_allclose(straight.records["loss"][-1], ce[-1], rtol=1e-12)
    assert ce[-1] < ce[0] - 0.03
    assert straight.records["train_accuracy"][-1] > 0.4


def test_records_follow_schedule(straight):
    rec = straight.records
    np.testing.assert_array_equal(rec["step"], np.arange(0, 161, 20))
    with jax.enable_x64(True):
        expected = [cyclic_class_weights(s, 3, 40, 10.0) for s in rec["step"]]
    np.testing.assert_allclose(rec["class_weights"], np.stack(expected), rtol=1e-12)
    assert np.all(np.diff(rec["hessian_top"], axis=1) <= 0)
    assert np.all(np.diff(rec["ntk_top"], axis=1) <= 0)
    assert np.all(rec["ntk_top"] > 0)


def test_resume_after_interrupt_gives_same_records(straight, tmp_path):
    path = tmp_path / "run.h5"

    def kill_at_100(row):
        if row["step"] == 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(make_config(num_steps=160), path, on_record=kill_at_100)
    assert checkpoint_path(path).exists()
    partial, attrs = read_run(path)
    assert attrs["status"] == "running" and partial["step"][-1] == 80

    resumed = train(make_config(num_steps=160), path)
    assert resumed.resumed_from == 80
    for name in RECORD_FIELDS:
        np.testing.assert_array_equal(resumed.records[name], straight.records[name])


def test_extend_run_from_checkpoint(straight, tmp_path):
    path = tmp_path / "run.h5"
    first = train(make_config(num_steps=80), path)
    assert read_run(path)[1]["status"] == "complete"
    longer = train(make_config(num_steps=160), path)
    assert first.resumed_from is None and longer.resumed_from == 80
    for name in RECORD_FIELDS:
        np.testing.assert_array_equal(longer.records[name], straight.records[name])
    for a, b in zip(
        jax.tree_util.tree_leaves(longer.params),
        jax.tree_util.tree_leaves(straight.params),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_resume_refuses_other_config(tmp_path):
    path = tmp_path / "run.h5"
    train(make_config(num_steps=40, hessian_k=0, ntk_k=0), path)
    with pytest.raises(ValueError, match="different config.*seed"):
        train(make_config(num_steps=40, hessian_k=0, ntk_k=0, seed=3), path)


def test_nan_stops_with_step_and_keeps_records(tmp_path):
    path = tmp_path / "run.h5"
    cfg = make_config(
        loss=dict(kind="mse_sample", period=40, final_static_periods=0),
        optimizer=dict(learning_rate=1e30),
        hessian_k=0,
        ntk_k=0,
    )
    with pytest.raises(TrainingDiverged, match="at step [0-9]+") as err:
        train(cfg, path)
    records, attrs = read_run(path)
    assert attrs["status"] == "diverged"
    assert attrs["diverged_step"] == err.value.step
    assert 0 <= err.value.step < 20
    np.testing.assert_array_equal(records["step"], [0])
    assert np.isfinite(records["loss"]).all()


def test_recorded_hessian_top_matches_dense_eigh(straight):
    """Lanczos value at the last record vs eigh of jax.hessian of the same loss."""
    cfg = make_config(num_steps=160)
    with jax.enable_x64(True):
        data = cfg.dataset.load()
        module = build_model(cfg.model, 3, dtype=jnp.float64)
        apply_fn = make_apply_fn(module)
        flat, unravel = ravel_pytree(straight.params)
        weights = jnp.asarray(straight.records["class_weights"][-1])
        x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)

        def loss(theta):
            return cyclic_cross_entropy(apply_fn(unravel(theta), x), y, weights)

        dense = np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(loss))(flat)))[::-1]
        with h5py.File(straight.path) as f:
            subset = f["ntk_subset"][()]
        jac = np.asarray(
            jax.jit(
                jax.jacobian(lambda t: apply_fn(unravel(t), x[subset]).reshape(-1))
            )(flat)
        )
    rec = straight.records
    np.testing.assert_allclose(rec["hessian_top"][-1], dense[:2], rtol=1e-8)
    assert rec["hessian_residual"][-1].max() < 1e-6
    assert len(subset) == 8 and np.all(np.diff(subset) > 0)
    ntk = np.linalg.eigvalsh(jac @ jac.T)[::-1]
    np.testing.assert_allclose(rec["ntk_top"][-1], ntk[:3], rtol=1e-8)


def test_hdf5_layout_is_as_documented(straight):
    with h5py.File(straight.path) as f:
        assert f.attrs["layout"] == LAYOUT
        assert f.attrs["status"] == "complete"
        assert f.attrs["completed_steps"] == 160
        assert f.attrs["num_params"] == 27 == straight.num_params
        assert "config_json" in f.attrs and "glassland_version" in f.attrs
        assert set(f["records"]) == set(RECORD_FIELDS)
        r = len(f["records/step"])
        shapes = {
            "class_weights": (r, 3),
            "hessian_top": (r, 2),
            "hessian_residual": (r, 2),
            "ntk_top": (r, 3),
            "loss": (r,),
        }
        for name, shape in shapes.items():
            assert f["records"][name].shape == shape, name
        np.testing.assert_array_equal(f["snapshots/step"][()], [0, 160])
        assert f["snapshots/params"].shape == (2, 27)
        leaves = jax.tree_util.tree_leaves(straight.params)
        flat = np.concatenate([np.ravel(leaf) for leaf in leaves])
        np.testing.assert_array_equal(f["snapshots/params"][1], flat)
    assert read_run(straight.path)[1]["config"]["num_steps"] == 160


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(num_steps=90), "multiple of record_every"),
        (dict(dtype="float16"), "dtype"),
        (dict(optimizer=dict(name="lbfgs")), "optimizer.name"),
        (dict(model=dict(widths=[4], depth=3)), "unknown key 'model.depth'"),
        (dict(hessian_k=30), "hessian_lanczos_steps"),
    ],
)
def test_config_errors_are_clear(change, match):
    with pytest.raises(ConfigError, match=match):
        make_config(**change)


def test_config_errors_against_data(tmp_path):
    with pytest.raises(ValueError, match="ntk_subset=99 exceeds the 30"):
        train(make_config(ntk_subset=99), tmp_path / "x.h5")
    with pytest.raises(ValueError, match="batch_size=31"):
        train(make_config(batch_size=31), tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_minibatch_of_whole_set_equals_full_batch(tmp_path):
    """batch_size = N draws a permutation of all samples: the mean loss and its
    gradient are the full-batch ones up to summation order."""
    kw = dict(num_steps=40, hessian_k=0, ntk_k=0, checkpoint_every=0)
    full = train(make_config(**kw), tmp_path / "full.h5")
    mini = train(make_config(batch_size=30, **kw), tmp_path / "mini.h5")
    np.testing.assert_allclose(mini.records["loss"], full.records["loss"], rtol=1e-10)
    part = train(make_config(batch_size=7, **kw), tmp_path / "part.h5")
    assert not np.allclose(part.records["loss"][1:], full.records["loss"][1:])
