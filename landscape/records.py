"""HDF5 records and checkpoints that are never left half-written.

Every file this toolkit writes goes through one of two doors:

* :func:`atomic_h5` writes a new HDF5 file (or a new version of an existing
  one) under a temporary name in the same folder and renames it into place
  only when the block finishes without error. A crash or a ``Ctrl-C`` leaves
  the previous version intact.
* :func:`save_checkpoint` / :func:`load_checkpoint` store a pytree of arrays
  plus JSON metadata in the same all-or-nothing way.

Configs are stored as HDF5 attributes with :func:`write_config_attrs`: the full
config as one JSON string (``config_json``) plus one attribute per top-level
scalar for quick browsing, and the package version (``glassland_version``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import jax
import numpy as np
from flax import serialization

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_h5",
    "atomic_path",
    "glassland_version",
    "load_checkpoint",
    "read_config_attrs",
    "save_checkpoint",
    "write_config_attrs",
]


def glassland_version() -> str:
    """The installed version of the ``glassland`` distribution."""
    try:
        return metadata.version("glassland")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, copy_existing: bool = False
) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` only on success.

    Args:
        path: the final destination.
        copy_existing: start the temporary file as a copy of ``path`` (if it
            exists), so the block can update it in place.

    The temporary file lives in the destination folder, so the final
    ``os.replace`` is atomic on POSIX file systems.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=".tmp", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if copy_existing and final.exists():
            shutil.copy2(final, tmp)
        else:
            tmp.unlink()
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, mode: str = "w") -> Iterator[h5py.File]:
    """Open an HDF5 file whose changes appear at ``path`` all at once.

    Args:
        path: the destination file.
        mode: ``"w"`` writes a fresh file; ``"a"`` starts from a copy of the
            existing file (if any) so groups can be appended.

    Example:
        >>> with atomic_h5("run.h5") as f:  # doctest: +SKIP
        ...     f["loss"] = np.zeros(3)
    """
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    with atomic_path(path, copy_existing=(mode == "a")) as tmp:
        with h5py.File(tmp, "a" if mode == "a" else "w") as handle:
            yield handle
    logger.debug("wrote %s", path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def write_config_attrs(obj: h5py.Group, config: Mapping[str, Any]) -> None:
    """Store a config mapping as attributes of an HDF5 group or file.

    ``config_json`` holds the whole config; scalar top-level entries are also
    stored as individual attributes for browsing with ``h5ls -v``.
    """
    plain = _jsonable(dict(config))
    obj.attrs["config_json"] = json.dumps(plain, sort_keys=True)
    obj.attrs["glassland_version"] = glassland_version()
    for key, value in plain.items():
        if isinstance(value, bool | int | float | str):
            obj.attrs[key] = value


def read_config_attrs(obj: h5py.Group) -> dict[str, Any]:
    """Read back the config written by :func:`write_config_attrs`."""
    if "config_json" not in obj.attrs:
        raise ValueError(
            f"{obj.file.filename}:{obj.name} has no 'config_json' attribute; "
            "it was not written by glassland"
        )
    return json.loads(obj.attrs["config_json"])


def save_checkpoint(
    path: str | os.PathLike, tree: Any, meta: Mapping[str, Any] | None = None
) -> None:
    """Write a pytree of arrays and JSON metadata atomically.

    The tree is serialised with flax's msgpack format; restoring needs a
    template tree of the same structure (see :func:`load_checkpoint`).
    Typed PRNG keys must be converted with ``jax.random.key_data`` first.
    """
    tree = jax.tree_util.tree_map(np.asarray, tree)
    payload = {
        "tree": serialization.to_state_dict(tree),
        "meta": json.dumps(_jsonable(dict(meta or {}))),
    }
    with atomic_path(path) as tmp:
        tmp.write_bytes(serialization.msgpack_serialize(payload))


def load_checkpoint(path: str | os.PathLike, template: Any) -> tuple[Any, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        template: a pytree with the structure of the saved one.

    Returns:
        ``(tree, meta)``.
    """
    raw = serialization.msgpack_restore(Path(path).read_bytes())
    tree = serialization.from_state_dict(template, raw["tree"])
    return tree, json.loads(raw["meta"])
