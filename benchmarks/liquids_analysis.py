"""Benchmark: g_ab(r) of N = 32000 and F_s(q, t) of 1000 frames x 1000 particles.

glassland against freud (``pip install freud-analysis``; not a project
dependency) and plain NumPy references, side by side in one run. Times are
the best of ``--repeats`` warm runs (JAX compilation reported separately).
freud has no self-intermediate scattering, so for the dynamics its FFT MSD is
set against ours, and our F_s against a NumPy FFT of the same sum.

Usage::

    .venv/bin/python benchmarks/liquids_analysis.py [--repeats 3] [--quick]

Writes the markdown table to ``results/benchmarks/liquids_analysis.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from liquids.dynamics import mean_squared_displacement, self_intermediate_scattering
from liquids.structure import pair_correlation
from liquids.trajectory import Trajectory

DENSITY = 1.2
Q = 7.25


def best_of(repeats, func):
    """(best wall time over ``repeats`` calls, last result)."""
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def ka_like_frame(cells, rng):
    """FCC lattice plus noise at density 1.2, 80:20 species (KA-like)."""
    n = 4 * cells**3
    side = (n / DENSITY) ** (1 / 3)
    a = side / cells
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1)
    points = (grid.reshape(-1, 1, 3) + basis[None]).reshape(-1, 3) * a
    points = np.mod(points + rng.normal(0, 0.08, points.shape), side)
    species = (rng.permutation(n) < 0.2 * n).astype(np.int32)
    return points, species, np.full(3, side)


def numpy_pair_counts(points, species, box, edges, rows_used, block=100):
    """Pair histogram [2, 2, bins] of the first ``rows_used`` particles with all.

    Blocked all-pairs NumPy (float64); ``rows_used = N`` gives the full
    ordered-pair histogram.
    """
    counts = np.zeros((2, 2, len(edges) - 1), np.int64)
    r_max = edges[-1]
    for start in range(0, rows_used, block):
        rows = slice(start, min(start + block, rows_used))
        dr = points[None, :, :] - points[rows, None, :]
        dr -= box * np.round(dr / box)
        dist = np.sqrt(np.einsum("ijk,ijk->ij", dr, dr))
        index = np.arange(len(points))
        dist[np.arange(dist.shape[0]), index[rows]] = np.inf  # no self pair
        near = dist < r_max
        i, j = np.nonzero(near)
        pair = species[rows][i] * 2 + species[j]
        flat = pair * (len(edges) - 1) + np.searchsorted(edges, dist[i, j], "right") - 1
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    return counts


def bench_pair_correlation(repeats, quick):
    import freud

    rng = np.random.default_rng(0)
    cells = 10 if quick else 20
    points, species, box = ka_like_frame(cells, rng)
    n = len(points)
    r_max, bins = 5.0, 250

    def ours():
        return pair_correlation(points, species, box, r_max=r_max, num_bins=bins)

    start = time.perf_counter()
    ours()
    first = time.perf_counter() - start
    t_ours, gr = best_of(repeats, ours)

    fbox = freud.box.Box.cube(box[0])
    centred = (points - box / 2).astype(np.float32)
    a, b = centred[species == 0], centred[species == 1]

    def freud_total():
        rdf = freud.density.RDF(bins=bins, r_max=r_max)
        return rdf.compute(system=(fbox, centred)).rdf

    def freud_partials():
        out = []
        # like pairs without query_points: passing the same points as
        # query_points would count every self pair at r = 0
        for pts, query in ((a, None), (b, a), (b, None)):
            rdf = freud.density.RDF(bins=bins, r_max=r_max)
            out.append(rdf.compute(system=(fbox, pts), query_points=query).rdf)
        return out

    t_freud_total, g_freud_total = best_of(repeats, freud_total)
    t_freud_partials, g_freud = best_of(repeats, freud_partials)
    # all-pairs NumPy is O(N^2): at N = 32000 time 1/8 of the rows and scale
    fraction = 1 if quick else 8
    rows_used = n // fraction
    start = time.perf_counter()
    reference = numpy_pair_counts(points, species, box, gr.edges, rows_used)
    t_numpy = (time.perf_counter() - start) * fraction
    numpy_name = "NumPy blocked all-pairs (reference)"
    if fraction > 1:
        numpy_name += f", timed on 1/{fraction} of the rows x {fraction}"

    dev_freud = max(
        np.abs(gr.g[0, 0] - g_freud[0]).max(),
        np.abs(gr.g[0, 1] - g_freud[1]).max(),
        np.abs(gr.g[1, 1] - g_freud[2]).max(),
    )
    rows = [
        (f"g_ab(r), N={n}, r_max={r_max}, {bins} bins", "", "", ""),
        ("glassland pair_correlation (all partials, warm)", t_ours, 1.0, ""),
        ("glassland first call (incl. compile)", first, first / t_ours, ""),
        (
            "freud RDF, 3 partial computes",
            t_freud_partials,
            t_freud_partials / t_ours,
            "",
        ),
        ("freud RDF, species-blind only", t_freud_total, t_freud_total / t_ours, ""),
        (numpy_name, t_numpy, t_numpy / t_ours, ""),
    ]
    if fraction == 1:
        mismatch = int(np.abs(gr.pair_counts - reference).sum())
        vs_numpy = (
            f"pair counts vs NumPy: {mismatch} of {int(reference.sum())} pairs in "
            "a different bin (float32 rounding at edges)"
        )
    else:
        vs_numpy = "NumPy counts checked in tests/liquids/test_structure.py"
    checks = (
        f"{vs_numpy}; max |g - g_freud| over "
        f"partials {dev_freud:.2e}; total g vs freud max diff "
        f"{np.abs(gr.total - g_freud_total).max():.2e}"
    )
    return rows, checks


def brownian_trajectory(n, frames, rng):
    side = (n / DENSITY) ** (1 / 3)
    steps = rng.normal(0, np.sqrt(2 * 0.01 * 0.05), (frames - 1, n, 3))
    start = rng.uniform(0, side, (1, n, 3))
    paths = np.concatenate([start, start + np.cumsum(steps, axis=0)])
    images = np.floor(paths / side).astype(np.int32)
    return Trajectory(
        positions=paths - images * side,
        images=images,
        species=(rng.permutation(n) < 0.2 * n).astype(np.int32),
        box=np.full(3, side),
        times=0.05 * np.arange(frames),
    )


def numpy_fs(unwrapped, species, qvecs):
    """F_s [2, F] by NumPy FFT autocorrelation of exp(i q . r), per vector."""
    frames = len(unwrapped)
    nfft = 1 << int(np.ceil(np.log2(2 * frames)))
    total = np.zeros((2, frames))
    for q in qvecs:
        z = np.exp(1j * unwrapped @ q)  # [F, N]
        spectrum = np.fft.fft(z, n=nfft, axis=0)
        auto = np.fft.ifft(np.abs(spectrum) ** 2, axis=0).real[:frames]
        for a in (0, 1):
            total[a] += auto[:, species == a].mean(1)
    return total / (len(qvecs) * (frames - np.arange(frames)))


def bench_dynamics(repeats, quick):
    import freud

    rng = np.random.default_rng(1)
    n, frames = (300, 300) if quick else (1000, 1000)
    traj = brownian_trajectory(n, frames, rng)

    def ours_fs():
        return self_intermediate_scattering(traj, q=Q, num_wavevectors=24)

    start = time.perf_counter()
    ours_fs()
    first = time.perf_counter() - start
    t_fs, fs = best_of(repeats, ours_fs)
    unwrapped = traj.unwrapped()
    t_np_fs, ref_fs = best_of(
        1, lambda: numpy_fs(unwrapped, traj.species, fs.wavevectors)
    )
    t_msd, msd = best_of(repeats, lambda: mean_squared_displacement(traj))
    fbox = freud.box.Box.cube(traj.box[0])
    centred = (traj.positions - traj.box / 2).astype(np.float32)

    def freud_msd():
        return freud.msd.MSD(fbox, mode="window").compute(centred, traj.images).msd

    t_freud_msd, f_msd = best_of(repeats, freud_msd)
    all_msd = (msd.msd * msd.species_counts[:, None]).sum(0) / n
    rows = [
        (f"dynamics, N={n}, {frames} linear frames, 24 wave vectors", "", "", ""),
        ("glassland self_intermediate_scattering (warm)", t_fs, 1.0, ""),
        ("glassland F_s first call (incl. compile)", first, first / t_fs, ""),
        ("NumPy FFT F_s (reference, complex128)", t_np_fs, t_np_fs / t_fs, ""),
        ("glassland mean_squared_displacement (FFT, float64)", t_msd, 1.0, ""),
        ("freud MSD (window/FFT mode)", t_freud_msd, t_freud_msd / t_msd, ""),
    ]
    checks = (
        f"max |F_s - F_s NumPy| = {np.abs(fs.fs - ref_fs).max():.1e}; "
        f"max relative |MSD - MSD freud| = "
        f"{np.abs(all_msd[1:] - f_msd[1:]).max() / f_msd[1:].max():.1e}"
    )
    return rows, checks


def table(sections):
    lines = [
        "| case | time (s) | ratio to glassland |",
        "|---|---:|---:|",
    ]
    for rows, _ in sections:
        for name, seconds, ratio, _ in rows:
            if seconds == "":
                lines.append(f"| **{name}** | | |")
            else:
                lines.append(f"| {name} | {seconds:.3f} | {ratio:.2f} |")
    lines.append("")
    lines += [f"- {checks}" for _, checks in sections]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--out", default="results/benchmarks/liquids_analysis.md")
    args = parser.parse_args()
    import freud

    sections = [
        bench_pair_correlation(args.repeats, args.quick),
        bench_dynamics(args.repeats, args.quick),
    ]
    header = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared, loaded), jax {jax.__version__} {jax.default_backend()}, "
        f"freud {freud.__version__}; best of {args.repeats} warm runs; ratio > 1 "
        "means glassland is faster.\n\n"
    )
    text = header + table(sections) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
