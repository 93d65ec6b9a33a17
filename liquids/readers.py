"""Read other tools' trajectory files into a :class:`~liquids.trajectory.Trajectory`.

Two formats, both for orthorhombic periodic boxes of fixed size:

* **LAMMPS text dumps** (``dump atom`` or ``dump custom``), read by
  :func:`read_lammps_dump`. This is a careful NumPy parser rather than
  MDAnalysis' ``DumpReader``, which parses coordinates in float32, does not
  subtract the box origin ``lo`` and exposes image flags only as float
  "additional columns".
* **HOOMD-blue GSD** files, read by :func:`read_gsd` through the ``gsd``
  package.

In the result positions lie in ``[0, L)`` and ``positions + images * box`` is
the unwrapped trajectory. Species labels are ``0, 1, ...`` in the order of the
tool's own types (LAMMPS type ``1`` -> ``0``; GSD ``typeid`` unchanged).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from landscape.validate import require_positive
from liquids.trajectory import Trajectory, read_trajectory

logger = logging.getLogger(__name__)

__all__ = ["read_any", "read_gsd", "read_lammps_dump"]

# LAMMPS coordinate columns, in the order of preference when several exist
_LAMMPS_CONVENTIONS = {
    "unwrapped": ("xu", "yu", "zu"),
    "scaled unwrapped": ("xsu", "ysu", "zsu"),
    "wrapped": ("x", "y", "z"),
    "scaled": ("xs", "ys", "zs"),
}


def _wrap(relative: np.ndarray, images: np.ndarray, box: np.ndarray) -> tuple:
    """Move positions into ``[0, L)``, carrying whole boxes into ``images``."""
    shift = np.floor(relative / box).astype(np.int64)
    wrapped = relative - shift * box
    edge = wrapped >= box  # rounding can land exactly on L
    wrapped = np.where(edge, wrapped - box, wrapped)
    return wrapped, (images + shift + edge).astype(np.int32)


# --------------------------------------------------------------------------
# LAMMPS


def _lammps_frames(path: Path):
    """Yield ``(step, box_lo, box_hi, columns, rows)`` of each dump frame."""
    with open(path) as f:
        lines = f.read().splitlines()

    def at(k: int) -> str:  # a truncated file reads as empty lines
        return lines[k] if k < len(lines) else ""

    i = 0
    while i < len(lines):
        if not at(i).strip():
            i += 1
            continue
        frame = f"frame starting at line {i + 1} of {path}"
        if not at(i).startswith("ITEM: TIMESTEP"):
            raise ValueError(f"{frame}: expected 'ITEM: TIMESTEP', got {at(i)!r}")
        if not at(i + 2).startswith("ITEM: NUMBER OF ATOMS"):
            raise ValueError(f"{frame}: missing 'ITEM: NUMBER OF ATOMS'")
        try:
            step, n = int(at(i + 1).split()[0]), int(at(i + 3))
        except (IndexError, ValueError):
            raise ValueError(f"{frame}: unreadable time step or atom count") from None
        header = at(i + 4)
        if not header.startswith("ITEM: BOX BOUNDS"):
            raise ValueError(f"{frame}: missing 'ITEM: BOX BOUNDS'")
        if "xy" in header.split():
            raise ValueError(
                f"{frame}: triclinic box ({header!r}); only orthorhombic boxes "
                "are supported"
            )
        try:
            bounds = np.array([at(i + 5 + d).split()[:2] for d in range(3)], float)
        except ValueError:
            raise ValueError(f"{frame}: box bounds need 3 lines 'lo hi'") from None
        atoms = at(i + 8)
        if not atoms.startswith("ITEM: ATOMS"):
            raise ValueError(f"{frame}: missing 'ITEM: ATOMS <columns>'")
        columns = atoms.split()[2:]
        body = lines[i + 9 : i + 9 + n]
        if len(body) < n:
            raise ValueError(f"{frame}: {n} atoms announced, {len(body)} found")
        rows = np.array(" ".join(body).split(), dtype=np.float64)
        if rows.size != n * len(columns):
            raise ValueError(
                f"{frame}: expected {n} rows of {len(columns)} columns {columns}"
            )
        yield step, bounds[:, 0], bounds[:, 1], columns, rows.reshape(n, -1)
        i += 9 + n


def _lammps_coordinates(columns: list[str], rows: np.ndarray, lo, box) -> tuple:
    """Wrapped positions ``[N, 3]`` and images from whatever columns exist."""
    col = {name: k for k, name in enumerate(columns)}
    found = [
        convention
        for convention, names in _LAMMPS_CONVENTIONS.items()
        if all(name in col for name in names)
    ]
    if not found:
        raise ValueError(
            f"the dump has columns {columns}, but no coordinates: need one of "
            f"{[list(v) for v in _LAMMPS_CONVENTIONS.values()]}"
        )
    convention = found[0]
    names = _LAMMPS_CONVENTIONS[convention]
    values = rows[:, [col[name] for name in names]]
    relative = values * box if "scaled" in convention else values - lo
    has_images = all(name in col for name in ("ix", "iy", "iz"))
    images = np.zeros(relative.shape, np.int64)
    if convention in ("wrapped", "scaled") and has_images:
        images = rows[:, [col["ix"], col["iy"], col["iz"]]].astype(np.int64)
    pos, images = _wrap(relative, images, box)
    exact = convention.endswith("unwrapped") or has_images
    return pos, images, exact


def read_lammps_dump(
    path: str | os.PathLike, *, timestep: float = 1.0, dtype=np.float64
) -> Trajectory:
    """Read a LAMMPS text dump (``atom`` or ``custom`` style).

    Needs the columns ``id``, ``type`` and one coordinate set: ``xu yu zu``
    or ``xsu ysu zsu`` (unwrapped; images follow exactly), or ``x y z`` or
    ``xs ys zs`` (wrapped) together with ``ix iy iz`` when present. Without
    image flags and with wrapped coordinates, images are set to zero and a
    ``UserWarning`` says that unwrapped positions (hence MSD, F_s) are wrong.
    Velocities ``vx vy vz`` are read when present. Atoms are sorted by ``id``.

    Args:
        path: the dump file.
        timestep: the MD time step; ``times = step * timestep``.
        dtype: float dtype of positions and velocities.

    Returns:
        A :class:`~liquids.trajectory.Trajectory`.

    Raises:
        ValueError: naming the frame and what is missing or inconsistent
            (columns, atom count, ids, types, box size, triclinic box).
    """
    require_positive("timestep", timestep)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LAMMPS dump {str(path)!r} does not exist")
    steps, positions, images, velocities = [], [], [], []
    ids0 = types0 = box0 = None
    exact = True
    for step, lo, hi, columns, rows in _lammps_frames(path):
        missing = [name for name in ("id", "type") if name not in columns]
        if missing:
            raise ValueError(
                f"{path}, step {step}: dump lacks columns {missing} (has {columns})"
            )
        rows = rows[np.argsort(rows[:, columns.index("id")], kind="stable")]
        ids = rows[:, columns.index("id")].astype(np.int64)
        types = rows[:, columns.index("type")].astype(np.int64)
        box = hi - lo
        if ids0 is None:
            ids0, types0, box0 = ids, types, box
        elif not np.array_equal(ids, ids0):
            raise ValueError(f"{path}, step {step}: the set of atom ids changed")
        elif not np.array_equal(types, types0):
            raise ValueError(f"{path}, step {step}: atom types changed")
        elif not np.allclose(box, box0, rtol=1e-12, atol=0):
            raise ValueError(
                f"{path}, step {step}: box {box.tolist()} differs from the first "
                f"frame's {box0.tolist()}; only fixed boxes are supported"
            )
        pos, img, frame_exact = _lammps_coordinates(columns, rows, lo, box0)
        exact = exact and frame_exact
        steps.append(step)
        positions.append(pos)
        images.append(img)
        if all(name in columns for name in ("vx", "vy", "vz")):
            velocities.append(rows[:, [columns.index(v) for v in ("vx", "vy", "vz")]])
    if not steps:
        raise ValueError(f"{path} holds no frames")
    if not exact:
        warnings.warn(
            f"{path} has wrapped coordinates without ix iy iz image flags: images "
            "are set to 0, so unwrapped positions (MSD, F_s) are wrong for any "
            "particle that crossed the box",
            UserWarning,
            stacklevel=2,
        )
    _, species = np.unique(types0, return_inverse=True)
    logger.info("read %d frames of %d atoms from %s", len(steps), len(ids0), path)
    return Trajectory(
        positions=np.asarray(positions, dtype=dtype),
        images=np.asarray(images, np.int32),
        species=species.astype(np.int32),
        box=box0,
        times=np.asarray(steps, np.float64) * timestep,
        velocities=np.asarray(velocities, dtype)
        if len(velocities) == len(steps)
        else None,
    )


# --------------------------------------------------------------------------
# HOOMD GSD


def read_gsd(
    path: str | os.PathLike, *, timestep: float = 1.0, dtype=np.float64
) -> Trajectory:
    """Read a HOOMD-blue GSD trajectory (``hoomd`` schema).

    HOOMD stores positions in ``[-L/2, L/2)``; they are shifted by ``L/2``
    into ``[0, L)``. Images come from ``particles/image``, species from
    ``particles/typeid``, velocities from ``particles/velocity`` when they
    are not all zero. A 2D system (``configuration/dimensions == 2``) keeps
    only ``x, y``.

    Args:
        path: the ``.gsd`` file.
        timestep: the MD time step; ``times = configuration.step * timestep``.
        dtype: float dtype of positions and velocities.

    Raises:
        ValueError: for a tilted (triclinic) or changing box, a changing
            particle number or type assignment, or an empty file.
    """
    import gsd.hoomd  # lazy: only this reader needs it

    require_positive("timestep", timestep)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GSD file {str(path)!r} does not exist")
    steps, positions, images, velocities = [], [], [], []
    box0 = typeid0 = None
    with gsd.hoomd.open(str(path), "r") as frames:
        for index, frame in enumerate(frames):
            where = f"{path}, frame {index}"
            config = frame.configuration
            dim = int(config.dimensions)
            box = np.asarray(config.box[:dim], np.float64)
            if np.any(np.asarray(config.box[3:]) != 0):
                raise ValueError(
                    f"{where}: tilted box {list(config.box)}; only orthorhombic "
                    "boxes are supported"
                )
            typeid = np.asarray(frame.particles.typeid, np.int32)
            if box0 is None:
                box0, typeid0 = box, typeid
            elif typeid.shape != typeid0.shape:
                raise ValueError(f"{where}: the number of particles changed")
            elif not np.array_equal(typeid, typeid0):
                raise ValueError(f"{where}: particle types changed")
            elif not np.allclose(box, box0, rtol=1e-7, atol=0):
                raise ValueError(
                    f"{where}: box {box.tolist()} differs from the first frame's "
                    f"{box0.tolist()}; only fixed boxes are supported"
                )
            if frame.particles.position is None or frame.particles.image is None:
                raise ValueError(f"{where}: particles/position or image missing")
            raw = np.asarray(frame.particles.position, np.float64)[:, :dim]
            img = np.asarray(frame.particles.image, np.int64)[:, :dim]
            pos, img = _wrap(raw + box0 / 2, img, box0)
            steps.append(int(config.step))
            positions.append(pos)
            images.append(img)
            if frame.particles.velocity is not None:
                velocities.append(np.asarray(frame.particles.velocity)[:, :dim])
    if not steps:
        raise ValueError(f"{path} holds no frames")
    keep_velocities = len(velocities) == len(steps) and np.any(np.asarray(velocities))
    logger.info(
        "read %d frames of %d particles from %s", len(steps), len(typeid0), path
    )
    return Trajectory(
        positions=np.asarray(positions, dtype=dtype),
        images=np.asarray(images, np.int32),
        species=typeid0,
        box=box0,
        times=np.asarray(steps, np.float64) * timestep,
        velocities=np.asarray(velocities, dtype) if keep_velocities else None,
    )


_SUFFIXES = {
    ".h5": "glassland",
    ".hdf5": "glassland",
    ".gsd": "gsd",
    ".lammpstrj": "lammps",
    ".dump": "lammps",
}


def read_any(
    path: str | os.PathLike, *, file_format: str = "auto", timestep: float = 1.0
) -> Trajectory:
    """Read a glassland HDF5 trajectory, a GSD file or a LAMMPS dump.

    Args:
        path: the file.
        file_format: ``"glassland"``, ``"gsd"``, ``"lammps"`` or ``"auto"`` (from
            the suffix: ``.h5/.hdf5``, ``.gsd``, ``.lammpstrj/.dump``).
        timestep: MD time step for the GSD and LAMMPS readers (their files
            store step numbers, not times).
    """
    path = Path(path)
    choices = ("auto", "glassland", "gsd", "lammps")
    if file_format not in choices:
        raise ValueError(
            f"file_format must be one of {list(choices)}, got {file_format!r}"
        )
    if file_format == "auto":
        file_format = _SUFFIXES.get(path.suffix.lower(), "")
        if not file_format:
            raise ValueError(
                f"cannot tell the format of {str(path)!r} from its suffix "
                f"(known: {sorted(_SUFFIXES)}); pass file_format="
            )
    if file_format == "glassland":
        return read_trajectory(path)
    if file_format == "gsd":
        return read_gsd(path, timestep=timestep)
    return read_lammps_dump(path, timestep=timestep)
