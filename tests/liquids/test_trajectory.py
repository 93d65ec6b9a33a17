"""The trajectory layout: shapes validated, unwrapping exact, HDF5 round trip."""

import h5py
import numpy as np
import pytest

from liquids.trajectory import Trajectory, read_trajectory, write_trajectory


def _random_traj(frames=4, particles=10, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    box = np.array([3.0, 4.0, 5.0][:dim])
    unwrapped = np.cumsum(rng.normal(0, 2.0, (frames, particles, dim)), axis=0)
    images = np.floor(unwrapped / box).astype(np.int32)
    return (
        Trajectory(
            positions=unwrapped - images * box,
            images=images,
            species=(np.arange(particles) % 5 == 0).astype(np.int32),
            box=box,
            times=np.arange(frames) * 0.5,
            thermo={"potential_energy": rng.normal(size=7)},
        ),
        unwrapped,
    )


def test_unwrapped_positions_are_exact():
    traj, unwrapped = _random_traj()
    assert np.all(traj.positions >= 0) and np.all(traj.positions < traj.box)
    np.testing.assert_allclose(traj.unwrapped(), unwrapped, atol=1e-12)


def test_round_trip(tmp_path):
    traj, _ = _random_traj(dim=2)
    write_trajectory(tmp_path / "t.h5", traj, {"T": 0.8})
    back = read_trajectory(tmp_path / "t.h5")
    for name in ("positions", "images", "species", "box", "times"):
        np.testing.assert_array_equal(getattr(back, name), getattr(traj, name))
    np.testing.assert_array_equal(
        back.thermo["potential_energy"], traj.thermo["potential_energy"]
    )
    assert back.dimension == 2 and back.num_frames == 4
    assert "frames=4" in repr(back)


def test_select_frames():
    traj, _ = _random_traj(frames=6)
    sub = traj.select(slice(1, 4))
    assert sub.num_frames == 3
    np.testing.assert_array_equal(sub.times, traj.times[1:4])


def test_shape_errors_name_the_field():
    traj, _ = _random_traj()
    with pytest.raises(ValueError, match="species"):
        Trajectory(traj.positions, traj.images, traj.species[:3], traj.box, traj.times)
    with pytest.raises(ValueError, match="positions"):
        Trajectory(traj.positions[0], traj.images, traj.species, traj.box, traj.times)
    with pytest.raises(ValueError, match="box"):
        Trajectory(traj.positions, traj.images, traj.species, -traj.box, traj.times)


def test_wrong_layout_is_a_clear_error(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["positions"] = np.zeros((1, 2, 3))
    with pytest.raises(ValueError, match="not a glassland trajectory"):
        read_trajectory(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        read_trajectory(tmp_path / "none.h5")
