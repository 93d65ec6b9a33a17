"""Run one KA state point to an HDF5 trajectory, in resumable jitted chunks.

:func:`run_state` takes an :class:`~liquids.simulation.MDConfig` from a
random start through FIRE, melting, NVT equilibration and production, and
writes the frames in the :mod:`liquids.trajectory` layout.

How it stays correct and restartable:

* Work is done in chunks: one jitted ``lax.scan`` over frames, each a
  ``fori_loop`` over the steps up to the next frame. Every chunk starts from a
  freshly rebuilt neighbour list, so its result depends only on its start
  state.
* After each chunk, outside jit: the neighbour list's overflow flag is
  checked (on overflow the list is reallocated with more room and the chunk
  is redone from its start state, and the event is logged); then the
  blow-up flag (non-finite positions or a step longer than
  ``blowup_fraction`` of the box) stops the run with
  :class:`SimulationBlowup` naming the step.
* Production frames are appended to ``<out>.part.h5`` (each append is
  atomic: the file is rewritten under a temporary name and renamed), then a
  checkpoint (``<out>.ckpt``, :func:`landscape.records.save_checkpoint`)
  records the state and how many frames are valid. A run killed at any
  moment resumes from the last checkpoint and produces the same trajectory,
  bit for bit, as an uninterrupted run with the same seed.
* The finished file is renamed to ``<out>`` in one step; the checkpoint is
  then removed. A file at ``<out>`` is therefore always complete.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from landscape.records import atomic_h5, load_checkpoint, save_checkpoint
from liquids.integrators import (
    MDState,
    kinetic_temperature,
    md_integrator,
    to_nve,
)
from liquids.potentials import KAPotential, rebuild_neighbors
from liquids.simulation import (
    MDConfig,
    build_potential,
    frame_steps,
    initial_positions,
    minimize_fire,
)
from liquids.trajectory import append_frames, create_trajectory_datasets

logger = logging.getLogger(__name__)

__all__ = ["RunResult", "SimulationBlowup", "run_state", "state_paths"]

Progress = Callable[[str, int, int], None]


class SimulationBlowup(RuntimeError):
    """The integration became non-finite or a particle jumped too far."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What :func:`run_state` did.

    Attributes:
        path: the trajectory file.
        frames: frames in it.
        steps: integration steps taken in this call (0 if the file existed).
        neighbor_reallocations: neighbour-list overflows recovered from.
        wall_time: seconds spent in this call.
        skipped: ``True`` when the file already existed.
    """

    path: Path
    frames: int
    steps: int
    neighbor_reallocations: int
    wall_time: float
    skipped: bool = False


@dataclasses.dataclass(frozen=True)
class _Phase:
    name: str
    temperature: float
    steps: int
    ensemble: str


def state_paths(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``(trajectory, partial trajectory, checkpoint)`` paths of a run."""
    out = Path(out)
    return out, out.with_name(out.name + ".part.h5"), out.with_name(out.name + ".ckpt")


def _phases(cfg: MDConfig) -> list[_Phase]:
    phases = []
    if cfg.melt_time > 0:
        phases.append(
            _Phase("melt", cfg.melt_temperature, cfg.steps(cfg.melt_time), "nvt")
        )
    if cfg.equilibration_time > 0:
        phases.append(
            _Phase(
                "equilibrate", cfg.temperature, cfg.steps(cfg.equilibration_time), "nvt"
            )
        )
    phases.append(
        _Phase(
            "production",
            cfg.temperature,
            max(cfg.steps(cfg.production_time), 1),
            cfg.production_ensemble,
        )
    )
    return phases


def _frames_per_chunk(cfg: MDConfig) -> int:
    span = cfg.block_steps * cfg.blocks_per_chunk
    per_block = len(frame_steps(span, cfg.block_steps, cfg.log_frames_per_block)) - 1
    linear = -(-span // cfg.linear_frame_steps) if cfg.linear_frames else 0
    return per_block + min(linear, cfg.linear_frames)


def _make_chunk(potential: KAPotential, step_fn, skin: float, velocities: bool):
    """One jitted chunk: rebuild the list, then scan over frames."""
    n = potential.num_particles

    def observe(state: MDState):
        integ = state.integrator
        R, nb = integ.position, state.neighbor
        temperature = kinetic_temperature(integ)
        frame = {
            "positions": R,
            "images": state.images,
            "potential_energy": potential.energy(R, nb) / n,
            "temperature": temperature,
            "pressure": potential.pressure(R, nb, temperature),
        }
        if velocities:
            frame["velocities"] = integ.momentum / jnp.reshape(integ.mass, (-1, 1))
        return frame

    @jax.jit
    def chunk(state: MDState, steps_between: jax.Array, kT: jax.Array):
        neighbor = rebuild_neighbors(state.neighbor, state.position, skin)
        state = state.set(neighbor=neighbor)

        def frame(s, count):
            s = step_fn.advance(s, count, kT)
            return s, observe(s)

        return jax.lax.scan(frame, state, steps_between)

    return chunk


# Fields that do not change what is compiled: runs that differ only in these
# (temperatures, durations, seed, start) share the potential and jitted chunks.
_RUNTIME_FIELDS = frozenset(
    {
        "temperature",
        "seed",
        "start",
        "fire_steps",
        "fire_force_tolerance",
        "melt_temperature",
        "melt_time",
        "equilibration_time",
        "production_time",
        "production_ensemble",
        "equilibration_chunk_steps",
    }
)


@dataclasses.dataclass(frozen=True, eq=False)
class _Machinery:
    potential: KAPotential
    nvt: tuple
    chunks: dict


def _machinery_key(cfg: MDConfig) -> MDConfig:
    neutral = {name: MDConfig.model_fields[name].default for name in _RUNTIME_FIELDS}
    return cfg.model_copy(update=neutral)


@functools.lru_cache(maxsize=8)
def _machinery(cfg: MDConfig) -> _Machinery:
    """Potential, integrators and jitted chunks, shared by similar runs."""
    potential = build_potential(cfg)
    kwargs = dict(
        chain_length=cfg.chain_length,
        thermostat_tau=cfg.thermostat_tau,
        langevin_gamma=cfg.langevin_gamma,
        blowup_fraction=cfg.blowup_fraction,
    )
    nvt = md_integrator(potential, cfg.thermostat, cfg.dt, **kwargs)
    nve = md_integrator(potential, "nve", cfg.dt, **kwargs)
    chunks = {
        "nvt": _make_chunk(potential, nvt[1], cfg.skin, cfg.save_velocities),
        "nve": _make_chunk(potential, nve[1], cfg.skin, cfg.save_velocities),
    }
    return _Machinery(potential, nvt, chunks)


def _checkpoint_tree(state: MDState):
    return {
        "integrator": jax.tree_util.tree_leaves(state.integrator),
        "images": state.images,
        "step": state.step,
        "blowup_step": state.blowup_step,
    }


def run_state(
    cfg: MDConfig,
    out: str | os.PathLike,
    *,
    progress: Progress | None = None,
) -> RunResult:
    """Simulate one state point and write its trajectory to ``out``.

    Args:
        cfg: the state point and protocol.
        out: destination HDF5 file. If it exists the run is skipped; if its
            checkpoint exists the run resumes from it.
        progress: optional ``progress(phase, steps_done, steps_total)``,
            called after every checkpointed chunk (the CLI draws a bar).

    Returns:
        A :class:`RunResult`.

    Raises:
        SimulationBlowup: non-finite positions or a too-long step; frames and
            checkpoint written before it are kept.
    """
    out_path, part_path, ckpt_path = state_paths(out)
    if out_path.exists():
        with h5py.File(out_path, "r") as f:
            frames = int(f["times"].shape[0])
        logger.info("%s exists (%d frames); skipping", out_path, frames)
        ckpt_path.unlink(missing_ok=True)
        return RunResult(out_path, frames, 0, 0, 0.0, skipped=True)
    if cfg.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "dtype='float64' needs float64 enabled (run inside "
            "`with jax.enable_x64(True):`), or use dtype='float32'"
        )

    t0 = time.perf_counter()
    machinery = _machinery(_machinery_key(cfg))
    potential, nvt, chunks = machinery.potential, machinery.nvt, machinery.chunks
    phases = _phases(cfg)
    F = _frames_per_chunk(cfg)

    key = jax.random.PRNGKey(cfg.seed)
    k_pos, k_mom = jax.random.split(key)
    R0 = initial_positions(
        k_pos,
        cfg.num_particles,
        cfg.box,
        cfg.dim,
        start=cfg.start,
        dtype=cfg.jnp_dtype,
        species=np.asarray(potential.species),
    )
    kT0 = jnp.asarray(phases[0].temperature, cfg.jnp_dtype)

    if ckpt_path.exists():
        neighbor = potential.allocate(R0)  # only its structure is used here
        meta = _read_meta(ckpt_path)
        phase_index = meta["phase"]
        ensemble = phases[phase_index].ensemble
        template_state = jax.eval_shape(nvt[0], k_mom, R0, neighbor, kT0)
        if ensemble == "nve":
            template_state = jax.eval_shape(to_nve, template_state)
        tree, meta = load_checkpoint(ckpt_path, _checkpoint_tree(template_state))
        integ = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(template_state.integrator),
            [jnp.asarray(x) for x in tree["integrator"]],
        )
        neighbor = potential.allocate(
            integ.position,
            capacity=meta["max_occupancy"],
            cell_capacity=meta["cell_list_capacity"],
        )
        state = MDState(
            integrator=integ,
            neighbor=neighbor,
            images=jnp.asarray(tree["images"]),
            step=jnp.asarray(tree["step"]),
            blowup_step=jnp.asarray(tree["blowup_step"]),
        )
        phase_step, frames_done = meta["phase_step"], meta["frames"]
        extra, reallocations = meta["extra_capacity"], meta["reallocations"]
        logger.info(
            "resuming %s at phase %s step %d (%d frames)",
            out_path.name,
            phases[phase_index].name,
            phase_step,
            frames_done,
        )
    else:
        R, _ = minimize_fire(
            potential,
            R0,
            max_steps=cfg.fire_steps,
            force_tolerance=cfg.fire_force_tolerance,
        )
        neighbor = potential.allocate(R)
        state = nvt[0](k_mom, R, neighbor, kT0)
        phase_index, phase_step, frames_done, extra, reallocations = 0, 0, 0, 0, 0
        if phases[0].ensemble == "nve":
            state = to_nve(state)

    schedule = frame_steps(
        phases[-1].steps,
        cfg.block_steps,
        cfg.log_frames_per_block,
        cfg.linear_frame_steps,
        cfg.linear_frames,
    )
    increments = np.diff(schedule, prepend=0).astype(np.int32)
    steps_taken = 0

    while phase_index < len(phases):
        phase = phases[phase_index]
        kT = jnp.asarray(phase.temperature, cfg.jnp_dtype)
        production = phase.name == "production"
        if production:
            if frames_done >= len(schedule):
                break
            block = increments[frames_done : frames_done + F]
            n_valid = len(block)
            steps_between = np.zeros(F, np.int32)
            steps_between[:n_valid] = block
        else:
            n_valid = 0
            steps_between = np.zeros(F, np.int32)
            steps_between[0] = min(
                cfg.equilibration_chunk_steps, phase.steps - phase_step
            )
        chunk_steps = int(steps_between.sum())
        chunk_fn = chunks["nve" if phase.ensemble == "nve" else "nvt"]

        while True:
            new_state, obs = chunk_fn(state, jnp.asarray(steps_between), kT)
            if not bool(new_state.neighbor.did_buffer_overflow):
                break
            reallocations += 1
            extra = max(8, 2 * extra)
            logger.warning(
                "%s: neighbour list overflowed in the chunk from step %d; "
                "reallocating (extra capacity %d) and redoing it",
                out_path.name,
                int(state.step),
                extra,
            )
            state = state.set(
                neighbor=potential.allocate(state.position, extra_capacity=extra)
            )
        blowup = int(new_state.blowup_step)
        if blowup >= 0:
            raise SimulationBlowup(
                f"{out_path.name}: the simulation blew up at step {blowup} "
                f"(t = {blowup * cfg.dt:.4g} since the start, phase {phase.name!r}): "
                "non-finite positions or a particle moved more than "
                f"{cfg.blowup_fraction} box lengths in one step; try a smaller dt. "
                f"Everything before step {int(state.step)} is kept in "
                f"{ckpt_path.name}" + (f" and {part_path.name}" if production else "")
            )
        state = new_state
        steps_taken += chunk_steps

        if production:
            obs = {k: np.asarray(v)[:n_valid] for k, v in obs.items()}
            obs["times"] = schedule[frames_done : frames_done + n_valid] * cfg.dt
            if frames_done == 0:
                with atomic_h5(part_path, "w") as f:
                    create_trajectory_datasets(
                        f,
                        potential.box,
                        np.asarray(potential.species),
                        cfg.to_dict(),
                        dtype=np.dtype(cfg.dtype),
                        velocities=cfg.save_velocities,
                    )
            with atomic_h5(part_path, "a") as f:
                frames_done = append_frames(f, frames_done, obs)
            phase_step = int(schedule[frames_done - 1])
        else:
            phase_step += chunk_steps
        if not production and phase_step >= phase.steps:
            phase_index, phase_step = phase_index + 1, 0
            if phases[phase_index].ensemble == "nve":
                state = to_nve(state)
            logger.info("%s: %s done", out_path.name, phase.name)

        save_checkpoint(
            ckpt_path,
            _checkpoint_tree(state),
            {
                "phase": phase_index,
                "phase_step": phase_step,
                "frames": frames_done,
                "max_occupancy": int(state.neighbor.max_occupancy),
                "cell_list_capacity": state.neighbor.cell_list_capacity,
                "extra_capacity": extra,
                "reallocations": reallocations,
            },
        )
        if progress is not None:
            current = phases[min(phase_index, len(phases) - 1)]
            progress(current.name, phase_step, current.steps)

    os.replace(part_path, out_path)
    ckpt_path.unlink(missing_ok=True)
    wall = time.perf_counter() - t0
    logger.info(
        "%s: %d frames, %d steps in %.1f s (%d neighbour reallocations)",
        out_path.name,
        frames_done,
        steps_taken,
        wall,
        reallocations,
    )
    return RunResult(out_path, frames_done, steps_taken, reallocations, wall)


def _read_meta(path: Path) -> dict:
    """The JSON metadata of a checkpoint (without its arrays)."""
    _, meta = load_checkpoint(path, None)
    return meta
