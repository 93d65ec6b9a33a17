"""The in-memory and on-disk layout of a particle trajectory.

Every analysis in :mod:`liquids` takes a :class:`Trajectory`, whether it was
simulated here or read from another tool's files, so the analysis code never
cares where frames came from.

HDF5 layout (``/`` of a trajectory file)::

    attrs:  config_json, glassland_version, layout = "glassland-trajectory/1",
            dimension, num_particles
    box                float64 [dim]                 box side lengths (LJ units)
    species            int32   [particles]           0 = A, 1 = B, ...
    times              float64 [frames]              time of each frame (LJ units)
    positions          float   [frames, particles, dim]  wrapped into [0, L)
    images             int32   [frames, particles, dim]  periodic image counters
    velocities         float   [frames, particles, dim]  optional
    thermo/time        float64 [samples]
    thermo/potential_energy  [samples]   per particle
    thermo/temperature       [samples]   kinetic temperature
    thermo/pressure          [samples]   virial pressure

Unwrapped positions are ``positions + images * box``, exact at any frame
spacing because the image counters are tracked at every integration step.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import h5py
import numpy as np

from landscape.records import atomic_h5, write_config_attrs

__all__ = [
    "LAYOUT",
    "Trajectory",
    "append_frames",
    "create_trajectory_datasets",
    "read_trajectory",
    "write_trajectory",
]

LAYOUT = "glassland-trajectory/1"


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Frames of a periodic particle system.

    Attributes:
        positions: ``[frames, particles, dim]`` wrapped positions in [0, L).
        images: ``[frames, particles, dim]`` integer image counters.
        species: ``[particles]`` integer species labels (0 = A, 1 = B).
        box: ``[dim]`` side lengths of the orthorhombic box.
        times: ``[frames]`` time of each frame.
        velocities: optional ``[frames, particles, dim]``.
        thermo: optional mapping of thermodynamic time series.
    """

    positions: np.ndarray
    images: np.ndarray
    species: np.ndarray
    box: np.ndarray
    times: np.ndarray
    velocities: np.ndarray | None = None
    thermo: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions)
        if pos.ndim != 3:
            raise ValueError(
                f"positions must have shape [frames, particles, dim], got {pos.shape}"
            )
        frames, particles, dim = pos.shape
        checks = {
            "images": (np.shape(self.images), pos.shape),
            "species": (np.shape(self.species), (particles,)),
            "box": (np.shape(self.box), (dim,)),
            "times": (np.shape(self.times), (frames,)),
        }
        if self.velocities is not None:
            checks["velocities"] = (np.shape(self.velocities), pos.shape)
        for name, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise ValueError(f"{name} must have shape {want}, got {tuple(got)}")
        if np.any(np.asarray(self.box) <= 0):
            raise ValueError(f"box lengths must be positive, got {self.box}")

    @property
    def num_frames(self) -> int:
        return int(np.shape(self.positions)[0])

    @property
    def num_particles(self) -> int:
        return int(np.shape(self.positions)[1])

    @property
    def dimension(self) -> int:
        return int(np.shape(self.positions)[2])

    @property
    def volume(self) -> float:
        return float(np.prod(self.box))

    def unwrapped(self) -> np.ndarray:
        """``[frames, particles, dim]`` positions with image counters applied."""
        return np.asarray(self.positions) + np.asarray(self.images) * np.asarray(
            self.box
        )

    def select(self, frames: slice | np.ndarray) -> Trajectory:
        """A trajectory holding only the chosen frames."""
        return dataclasses.replace(
            self,
            positions=np.asarray(self.positions)[frames],
            images=np.asarray(self.images)[frames],
            times=np.asarray(self.times)[frames],
            velocities=None
            if self.velocities is None
            else np.asarray(self.velocities)[frames],
        )

    def __repr__(self) -> str:
        counts = np.bincount(np.asarray(self.species))
        return (
            f"Trajectory(frames={self.num_frames}, particles={self.num_particles}, "
            f"species counts={counts.tolist()}, dim={self.dimension}, "
            f"box={np.round(np.asarray(self.box), 4).tolist()}, "
            f"t=[{float(self.times[0]):.4g}, {float(self.times[-1]):.4g}])"
        )


def write_trajectory(
    path: str | os.PathLike, traj: Trajectory, config: dict | None = None
) -> None:
    """Write ``traj`` in the glassland layout, atomically."""
    with atomic_h5(path) as f:
        f.attrs["layout"] = LAYOUT
        f.attrs["dimension"] = traj.dimension
        f.attrs["num_particles"] = traj.num_particles
        write_config_attrs(f, config or {})
        f["box"] = np.asarray(traj.box, dtype=np.float64)
        f["species"] = np.asarray(traj.species, dtype=np.int32)
        f["times"] = np.asarray(traj.times, dtype=np.float64)
        opts = dict(compression="gzip", compression_opts=4, shuffle=True)
        chunk = (1, traj.num_particles, traj.dimension)
        f.create_dataset("positions", data=traj.positions, chunks=chunk, **opts)
        f.create_dataset(
            "images", data=np.asarray(traj.images, np.int32), chunks=chunk, **opts
        )
        if traj.velocities is not None:
            f.create_dataset("velocities", data=traj.velocities, chunks=chunk, **opts)
        if traj.thermo:
            group = f.create_group("thermo")
            for key, value in traj.thermo.items():
                group[key] = np.asarray(value)


THERMO_KEYS = ("time", "potential_energy", "temperature", "pressure")


def create_trajectory_datasets(
    f: h5py.File,
    box: np.ndarray,
    species: np.ndarray,
    config: dict | None = None,
    *,
    dtype=np.float32,
    velocities: bool = False,
) -> None:
    """Lay out an empty, appendable trajectory (frames axis resizable).

    Used by simulations that write frames chunk by chunk with
    :func:`append_frames`; the result reads with :func:`read_trajectory`.
    """
    box = np.asarray(box, dtype=np.float64)
    species = np.asarray(species, dtype=np.int32)
    n, dim = species.size, box.size
    f.attrs["layout"] = LAYOUT
    f.attrs["dimension"] = dim
    f.attrs["num_particles"] = n
    write_config_attrs(f, config or {})
    f["box"] = box
    f["species"] = species
    opts = dict(compression="gzip", compression_opts=4, shuffle=True)
    f.create_dataset("times", (0,), np.float64, maxshape=(None,), chunks=(1024,))
    chunk = (1, n, dim)
    names = ["positions", "images"] + (["velocities"] if velocities else [])
    for name in names:
        f.create_dataset(
            name,
            (0, n, dim),
            np.int32 if name == "images" else dtype,
            maxshape=(None, n, dim),
            chunks=chunk,
            **opts,
        )
    group = f.create_group("thermo")
    for key in THERMO_KEYS:
        group.create_dataset(key, (0,), np.float64, maxshape=(None,), chunks=(1024,))


def append_frames(
    f: h5py.File,
    start: int,
    frames: dict[str, np.ndarray],
) -> int:
    """Write ``frames`` at frame index ``start``, dropping anything after it.

    Args:
        f: a file laid out by :func:`create_trajectory_datasets`.
        start: index of the first new frame (frames beyond it, e.g. left by
            a run killed before its checkpoint, are discarded).
        frames: ``times``, ``positions``, ``images`` (and ``velocities`` if the
            file has them) plus the :data:`THERMO_KEYS` other than ``time``;
            all with the same leading length.

    Returns:
        The number of frames in the file afterwards.
    """
    count = len(frames["times"])
    stop = start + count
    names = ["times", "positions", "images"] + (
        ["velocities"] if "velocities" in f else []
    )
    for name in names:
        f[name].resize(stop, axis=0)
        f[name][start:stop] = frames[name]
    for key in THERMO_KEYS:
        value = frames["times"] if key == "time" else frames[key]
        f["thermo"][key].resize(stop, axis=0)
        f["thermo"][key][start:stop] = value
    return stop


def read_trajectory(path: str | os.PathLike) -> Trajectory:
    """Read a file written by :func:`write_trajectory` (or by a simulation)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file {str(path)!r} does not exist")
    with h5py.File(path, "r") as f:
        layout = f.attrs.get("layout")
        if layout != LAYOUT:
            raise ValueError(
                f"{path} is not a glassland trajectory (layout attribute {layout!r}, "
                f"expected {LAYOUT!r}); use liquids.readers for other tools' files"
            )
        missing = [
            k for k in ("box", "species", "times", "positions", "images") if k not in f
        ]
        if missing:
            raise ValueError(f"{path} lacks datasets {missing}")
        thermo = {k: f["thermo"][k][()] for k in f["thermo"]} if "thermo" in f else None
        return Trajectory(
            positions=f["positions"][()],
            images=f["images"][()],
            species=f["species"][()],
            box=f["box"][()],
            times=f["times"][()],
            velocities=f["velocities"][()] if "velocities" in f else None,
            thermo=thermo,
        )
