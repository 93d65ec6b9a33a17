"""Readers: files written here are read back exactly, bad layouts are named."""

import gsd.hoomd
import numpy as np
import pytest

from liquids.readers import read_gsd, read_lammps_dump

LO = np.array([-5.0, 2.0, 0.5])
BOX = np.array([10.0, 7.0, 8.0])
COLUMN = {  # dump column -> (field, axis)
    name: (field, axis)
    for field, names in {
        "x": "x y z",
        "xs": "xs ys zs",
        "xu": "xu yu zu",
        "ix": "ix iy iz",
        "vx": "vx vy vz",
    }.items()
    for axis, name in enumerate(names.split())
}


@pytest.fixture(scope="module")
def paths():
    """Unwrapped lab-frame paths of 30 particles (two types), 4 frames."""
    rng = np.random.default_rng(0)
    start = LO + rng.uniform(0, 1, (30, 3)) * BOX
    steps = rng.normal(0, 6.0, (3, 30, 3))  # crosses the box often
    unwrapped = np.concatenate([start[None], start + np.cumsum(steps, axis=0)])
    types = np.where(np.arange(30) % 5 == 0, 2, 1)
    velocities = rng.normal(0, 1, unwrapped.shape)
    return unwrapped, types, velocities


def write_dump(path, unwrapped, types, velocities, columns, header_box=None):
    rng = np.random.default_rng(1)
    images = np.floor((unwrapped - LO) / BOX).astype(int)
    wrapped = unwrapped - images * BOX
    fields = {
        "x": wrapped,
        "xu": unwrapped,
        "xs": (wrapped - LO) / BOX,
        "ix": images,
        "vx": velocities,
    }
    lines = []
    for frame in range(len(unwrapped)):
        order = rng.permutation(len(types))  # LAMMPS writes atoms in any order
        lines += ["ITEM: TIMESTEP", str(100 * frame), "ITEM: NUMBER OF ATOMS"]
        lines += [str(len(types)), header_box or "ITEM: BOX BOUNDS pp pp pp"]
        lines += [
            f"{float(lo)!r} {float(lo + length)!r}"
            for lo, length in zip(LO, BOX, strict=True)
        ]
        names = " ".join(columns)
        lines.append(f"ITEM: ATOMS {names}")
        for i in order:
            row = []
            for name in columns:
                if name == "id":
                    row.append(str(i + 1))
                elif name == "type":
                    row.append(str(types[i]))
                else:
                    value = fields[COLUMN[name][0]][frame, i, COLUMN[name][1]]
                    row.append(
                        str(int(value)) if name[0] == "i" else repr(float(value))
                    )
            lines.append(" ".join(row))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "columns",
    [
        "id type x y z ix iy iz vx vy vz",
        "type id xu yu zu",
        "id type xs ys zs ix iy iz",
    ],
    ids=["wrapped+images", "unwrapped", "scaled+images"],
)
def test_lammps_dump_round_trip(tmp_path, paths, columns):
    unwrapped, types, velocities = paths
    path = tmp_path / "dump.lammpstrj"
    write_dump(path, unwrapped, types, velocities, columns.split())
    traj = read_lammps_dump(path, timestep=0.005)
    np.testing.assert_allclose(traj.unwrapped(), unwrapped - LO, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        traj.images, np.floor((unwrapped - LO) / BOX).astype(np.int32)
    )
    assert np.all((traj.positions >= 0) & (traj.positions < BOX))
    np.testing.assert_array_equal(traj.species, types - 1)
    np.testing.assert_allclose(traj.box, BOX, rtol=1e-15)
    np.testing.assert_allclose(traj.times, 0.005 * 100 * np.arange(4))
    if "vx" in columns:
        np.testing.assert_array_equal(traj.velocities, velocities)
    else:
        assert traj.velocities is None


def test_lammps_dump_errors_name_what_is_missing(tmp_path, paths):
    unwrapped, types, velocities = paths
    path = tmp_path / "dump.lammpstrj"
    write_dump(path, unwrapped, types, velocities, "id x y z ix iy iz".split())
    with pytest.raises(ValueError, match=r"lacks columns \['type'\]"):
        read_lammps_dump(path)
    write_dump(path, unwrapped, types, velocities, "id type vx vy vz".split())
    with pytest.raises(ValueError, match="no coordinates: need one of"):
        read_lammps_dump(path)
    write_dump(
        path,
        unwrapped,
        types,
        velocities,
        "id type x y z".split(),
        header_box="ITEM: BOX BOUNDS xy xz yz pp pp pp",
    )
    with pytest.raises(ValueError, match="triclinic"):
        read_lammps_dump(path)
    write_dump(path, unwrapped, types, velocities, "id type x y z".split())
    with pytest.warns(UserWarning, match="without ix iy iz"):
        traj = read_lammps_dump(path)
    assert np.all(traj.images == 0)
    path.write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n5\n")
    with pytest.raises(ValueError, match="missing 'ITEM: BOX BOUNDS'"):
        read_lammps_dump(path)
    with pytest.raises(FileNotFoundError):
        read_lammps_dump(tmp_path / "absent.lammpstrj")


def write_gsd(path, unwrapped, types, tilt=0.0):
    box = BOX.astype(np.float32)
    images = np.floor((unwrapped - LO) / BOX).astype(np.int32)
    centred = (unwrapped - LO - images * BOX - BOX / 2).astype(np.float32)
    with gsd.hoomd.open(str(path), "w") as f:
        for frame in range(len(unwrapped)):
            snap = gsd.hoomd.Frame()
            snap.configuration.step = 1000 * frame
            snap.configuration.box = [*box, tilt, 0, 0]
            snap.particles.N = len(types)
            snap.particles.types = ["A", "B"]
            snap.particles.typeid = (types - 1).astype(np.uint32)
            snap.particles.position = centred[frame]
            snap.particles.image = images[frame]
            f.append(snap)
    return centred, images


def test_gsd_round_trip(tmp_path, paths):
    unwrapped, types, _ = paths
    path = tmp_path / "traj.gsd"
    centred, images = write_gsd(path, unwrapped, types)
    traj = read_gsd(path, timestep=0.002)
    box32 = BOX.astype(np.float32).astype(np.float64)
    shifted = centred.astype(np.float64) + box32 / 2  # [-L/2, L/2) -> [0, L)
    wrap = shifted >= box32
    np.testing.assert_array_equal(
        traj.positions, np.where(wrap, shifted - box32, shifted)
    )
    np.testing.assert_array_equal(traj.images, images + wrap)
    np.testing.assert_array_equal(traj.species, types - 1)
    np.testing.assert_array_equal(traj.box, box32)
    np.testing.assert_allclose(traj.times, 2.0 * np.arange(4))
    np.testing.assert_allclose(traj.unwrapped(), unwrapped - LO, atol=1e-4)
    assert traj.velocities is None


def test_gsd_errors(tmp_path, paths):
    unwrapped, types, _ = paths
    path = tmp_path / "tilted.gsd"
    write_gsd(path, unwrapped, types, tilt=0.1)
    with pytest.raises(ValueError, match="tilted box"):
        read_gsd(path)
    with pytest.raises(FileNotFoundError):
        read_gsd(tmp_path / "absent.gsd")


def test_read_any_dispatches_on_suffix(tmp_path, paths):
    from liquids.readers import read_any
    from liquids.trajectory import write_trajectory

    unwrapped, types, velocities = paths
    dump = tmp_path / "run.dump"
    write_dump(dump, unwrapped, types, velocities, "id type xu yu zu".split())
    traj = read_any(dump, timestep=0.01)
    write_trajectory(tmp_path / "run.h5", traj)
    again = read_any(tmp_path / "run.h5")
    np.testing.assert_array_equal(again.positions, traj.positions)
    np.testing.assert_array_equal(again.images, traj.images)
    write_gsd(tmp_path / "run.gsd", unwrapped, types)
    assert read_any(tmp_path / "run.gsd").num_frames == 4
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_any(tmp_path / "run.xyz")


def test_analyze_command_reads_a_dump_and_writes_results(tmp_path, paths):
    import h5py
    from typer.testing import CliRunner

    from liquids.cli import app
    from liquids.dynamics import mean_squared_displacement

    unwrapped, types, velocities = paths
    dump = tmp_path / "run.lammpstrj"
    write_dump(dump, unwrapped, types, velocities, "id type xu yu zu".split())
    out = tmp_path / "analysis.h5"
    result = CliRunner().invoke(app, ["analyze", str(dump), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "tau_alpha" in result.output
    expected = mean_squared_displacement(read_lammps_dump(dump))
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["msd/msd"][()], expected.msd)
        assert f["gr/g"].shape[:2] == (2, 2)
    missing = CliRunner().invoke(app, ["analyze", str(tmp_path / "none.gsd")])
    assert missing.exit_code == 2
