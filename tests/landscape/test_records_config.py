"""The shared plumbing: atomic files, checkpoints, configs, validation, jobs."""

import json

import h5py
import numpy as np
import pytest

from landscape.config import ConfigError, FrozenConfig, load_config, parse_config
from landscape.jobs import run_jobs
from landscape.records import (
    atomic_h5,
    load_checkpoint,
    read_config_attrs,
    save_checkpoint,
    write_config_attrs,
)
from landscape.validate import (
    require_choice,
    require_finite,
    require_in_range,
    require_positive,
    require_positive_int,
)


class _Demo(FrozenConfig):
    lr: float = 0.1
    name: str = "spiral"
    widths: tuple[int, ...] = (8,)


def test_atomic_h5_keeps_old_version_when_block_fails(tmp_path):
    path = tmp_path / "run.h5"
    with atomic_h5(path) as f:
        f["x"] = np.arange(3)
    with pytest.raises(RuntimeError), atomic_h5(path, mode="a") as f:
        f["y"] = np.arange(4)
        raise RuntimeError("killed mid-write")
    with h5py.File(path, "r") as f:
        assert list(f) == ["x"]
        np.testing.assert_array_equal(f["x"][()], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5"]


def test_atomic_h5_append_mode_keeps_existing_groups(tmp_path):
    path = tmp_path / "run.h5"
    with atomic_h5(path) as f:
        f["x"] = np.arange(3)
    with atomic_h5(path, mode="a") as f:
        f["y"] = np.ones(2)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["x", "y"]


def test_atomic_h5_rejects_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_h5(tmp_path / "a.h5", "r+"):
        pass


def test_config_attrs_round_trip(tmp_path):
    cfg = {"lr": 0.5, "widths": [8, 8], "nested": {"a": 1}, "name": "x"}
    with atomic_h5(tmp_path / "c.h5") as f:
        write_config_attrs(f, cfg)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert read_config_attrs(f) == cfg
        assert f.attrs["lr"] == 0.5
        assert "glassland_version" in f.attrs


def test_read_config_attrs_on_foreign_file(tmp_path):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    with h5py.File(tmp_path / "foreign.h5", "r") as f, pytest.raises(ValueError):
        read_config_attrs(f)


def test_checkpoint_round_trip(tmp_path):
    tree = {"w": np.arange(6.0).reshape(2, 3), "b": [np.zeros(2), np.int32(7)]}
    save_checkpoint(tmp_path / "ck.msgpack", tree, {"step": 12})
    template = {"w": np.zeros((2, 3)), "b": [np.ones(2), np.int32(0)]}
    restored, meta = load_checkpoint(tmp_path / "ck.msgpack", template)
    assert meta == {"step": 12}
    np.testing.assert_array_equal(restored["w"], tree["w"])
    assert int(restored["b"][1]) == 7


def test_config_rejects_unknown_key_and_names_it(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'lrr'"):
        parse_config(_Demo, {"lrr": 1.0})
    with pytest.raises(ConfigError, match="lr"):
        parse_config(_Demo, {"lr": "fast"})
    cfg = parse_config(_Demo, {"widths": [4, 4]})
    assert cfg.widths == (4, 4)
    assert json.loads(json.dumps(cfg.to_dict()))["widths"] == [4, 4]


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(_Demo, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_Demo, bad)
    good = tmp_path / "good.toml"
    good.write_text('lr = 0.25\nname = "digits"\n')
    assert load_config(_Demo, good).lr == 0.25


def test_validators_name_the_argument():
    assert require_positive("lr", 0.1) == 0.1
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="lr"):
            require_positive("lr", bad)
    with pytest.raises(ValueError, match="period"):
        require_positive_int("period", 0)
    with pytest.raises(ValueError, match="period"):
        require_positive_int("period", 2.5)
    with pytest.raises(ValueError, match=r"noise must lie in \[0, 1\]"):
        require_in_range("noise", 1.5, 0, 1)
    with pytest.raises(ValueError, match="'lj', 'wca'"):
        require_choice("model", "morse", ["lj", "wca"])
    with pytest.raises(ValueError, match="1 NaN"):
        require_finite("x", [1.0, np.nan])


def _square(x):
    return x * x


def test_run_jobs_sync_keeps_order_and_reports_each():
    seen = []
    out = run_jobs(
        _square,
        [{"x": i} for i in range(4)],
        scheduler="sync",
        on_done=lambda i, r: seen.append((i, r)),
    )
    assert out == [0, 1, 4, 9]
    assert sorted(seen) == [(0, 0), (1, 1), (2, 4), (3, 9)]


def test_run_jobs_local_cluster_matches_sync():
    jobs = [{"x": i} for i in range(3)]
    assert run_jobs(_square, jobs, n_workers=1) == run_jobs(
        _square, jobs, scheduler="sync"
    )


def test_run_jobs_rejects_bad_workers():
    with pytest.raises(ValueError, match="n_workers"):
        run_jobs(_square, [], n_workers=0)
