"""Benchmarks of the spectral core of ``landscape`` on full-batch digits.

Run by hand (a few minutes on a 2-core CPU)::

    .venv/bin/python benchmarks/landscape_spectra.py          # full
    .venv/bin/python benchmarks/landscape_spectra.py --quick  # smoke test

Prints markdown tables and writes them to
``results/benchmarks/landscape_spectra.md``. Three measurements:

1. Cost of one Hessian-vector product over the cost of one gradient, for an
   MLP and a small CNN on all 1797 scikit-learn digits (float32, jitted,
   after warm-up, median of repeats, measured alternately in the same run).
2. Top-10 Hessian eigenvalues by Lanczos (float64): Hessian-vector products
   and wall time to 1e-6 relative accuracy; against a dense ``eigh`` of the
   full Hessian for a model small enough to hold it, and alone for a ~50k
   parameter MLP (reference: a long Lanczos run).
3. Empirical NTK of 500 digits: wall time and peak resident memory of the
   chunked kernel against the full-Jacobian contraction, each in a fresh
   subprocess.

Models are defined here with flax linen; the data set ships with
scikit-learn (no download).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from sklearn.datasets import load_digits

from landscape.eigen import top_eigenvalues
from landscape.hvp import hessian_matvec, hessian_vector_product
from landscape.lanczos import lanczos, tridiagonal
from landscape.ntk import empirical_ntk

RESULTS = Path("results/benchmarks/landscape_spectra.md")


class MLP(nn.Module):
    widths: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        for width in self.widths[:-1]:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.widths[-1])(x)


class SmallCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(16, (3, 3))(x))
        x = nn.relu(nn.Conv(32, (3, 3), strides=(2, 2))(x))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def digits(image: bool = False):
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    if image:
        x = x.reshape(-1, 8, 8, 1)
    return jnp.asarray(x), jnp.asarray(data.target)


def make_loss(model):
    def loss(params, x, y):
        logits = model.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return loss


def count(params) -> int:
    return int(ravel_pytree(params)[0].size)


def train(loss, params, x, y, steps: int):
    """A short full-batch Adam run, so that the Hessian has its outliers."""
    opt = optax.adam(1e-2)

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(params, x, y)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return params


def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout and the results file)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hvp_over_grad(model, x, y, repeats: int) -> tuple[int, float, float]:
    """Median wall times of one gradient and one HVP, measured alternately."""
    params = model.init(jax.random.PRNGKey(0), x[:1])
    loss = make_loss(model)
    v = jax.tree.map(jnp.ones_like, params)
    grad = jax.jit(jax.grad(loss))
    hvp = jax.jit(hessian_vector_product, static_argnums=0)

    def run_grad():
        return grad(params, x, y)

    def run_hvp():
        return hvp(loss, params, v, x, y)

    for _ in range(3):  # warm-up (compilation) of both
        jax.block_until_ready((run_grad(), run_hvp()))
    t_grad, t_hvp = [], []
    for _ in range(repeats):  # alternate, so load changes hit both alike
        t_grad.append(median_time(run_grad, 1))
        t_hvp.append(median_time(run_hvp, 1))
    return count(params), statistics.median(t_grad), statistics.median(t_hvp)


def bench_hvp_over_grad(repeats: int) -> list[str]:
    rows = [
        "| model | params | gradient (ms) | HVP (ms) | HVP / gradient |",
        "|---|---|---|---|---|",
    ]
    for name, model, image in [
        ("MLP 64-128-128-10", MLP((128, 128, 10)), False),
        ("CNN conv16-conv32/2-dense10", SmallCNN(), True),
    ]:
        x, y = digits(image)
        dim, g, h = hvp_over_grad(model, x, y, repeats)
        rows.append(f"| {name} | {dim} | {1e3 * g:.2f} | {1e3 * h:.2f} | {h / g:.2f} |")
    return rows


def convergence_step(ritz_top, reference, tol=1e-6):
    """First Lanczos step count whose top values are all within ``tol``."""
    for m, values in ritz_top:
        if np.max(np.abs(values - reference) / np.abs(reference)) < tol:
            return m
    return None


def ritz_curve(result, k, steps):
    curve = []
    for m in steps:
        t = tridiagonal(result.alphas[:m], result.betas[: m - 1])
        curve.append((m, np.linalg.eigvalsh(t)[::-1][:k]))
    return curve


def dense_hessian(loss, params, x, y, columns_per_call: int = 256):
    flat, unravel = ravel_pytree(params)
    dim = flat.size

    @jax.jit
    def columns(basis):
        hv = lambda e: ravel_pytree(
            hessian_vector_product(loss, params, unravel(e), x, y)
        )[0]
        return jax.vmap(hv)(basis)

    out = []
    for start in range(0, dim, columns_per_call):
        stop = min(start + columns_per_call, dim)
        basis = jnp.zeros((columns_per_call, dim), flat.dtype)
        basis = basis.at[jnp.arange(stop - start), jnp.arange(start, stop)].set(1.0)
        out.append(np.asarray(columns(basis))[: stop - start])
    return np.concatenate(out, axis=0)


def bench_lanczos(dense_widths, big_widths, train_steps, max_steps) -> list[str]:
    k = 10
    rows = [
        "| model | params | method | HVPs | wall (s) | max rel. error of top-10 |",
        "|---|---|---|---|---|---|",
    ]
    with jax.enable_x64(True):
        x, y = digits()
        x = x.astype(jnp.float64)
        for widths, dense in [(dense_widths, True), (big_widths, False)]:
            model = MLP(widths)
            loss = make_loss(model)
            params = model.init(jax.random.PRNGKey(0), x[:1])
            params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
            params = train(loss, params, x, y, train_steps)
            dim = count(params)
            name = "MLP 64-" + "-".join(map(str, widths))
            log(f"section 2: {name}, {dim} parameters")
            matvec, _, _ = hessian_matvec(loss, params, x, y)
            matvec(jnp.zeros(dim))  # compile

            reference = None
            if dense:
                start = time.perf_counter()
                hessian = dense_hessian(loss, params, x, y)
                t_build = time.perf_counter() - start
                start = time.perf_counter()
                exact = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))[::-1][:k]
                t_eigh = time.perf_counter() - start
                del hessian
                reference = exact
                rows.append(
                    f"| {name} | {dim} | dense Hessian + eigh | {dim} | "
                    f"{t_build:.1f} + {t_eigh:.1f} | (reference) |"
                )
            steps = min(max_steps, dim)
            long = lanczos(matvec, dim, steps, jax.random.PRNGKey(1), dtype=jnp.float64)
            curve = ritz_curve(long, k, range(k, long.num_steps + 1, 2))
            if reference is None:
                reference = curve[-1][1]
            m = convergence_step(curve, reference)
            if m is None:
                rows.append(
                    f"| {name} | {dim} | Lanczos | > {steps} | - | not converged |"
                )
                continue

            solve = functools.partial(
                top_eigenvalues,
                matvec,
                dim,
                k,
                key=jax.random.PRNGKey(1),
                num_steps=m,
                dtype=jnp.float64,
            )
            solve()  # compile the Lanczos step for this shape
            start = time.perf_counter()
            pairs = solve()
            wall = time.perf_counter() - start
            per_hvp = median_time(functools.partial(matvec, pairs.vectors[0]), 5)
            err = np.max(
                np.abs(np.asarray(pairs.values) - reference) / np.abs(reference)
            )
            what = "vs dense" if dense else f"vs {long.num_steps}-step Lanczos"
            rows.append(
                f"| {name} | {dim} | Lanczos, {m} steps | {pairs.num_matvecs} "
                f"({m} + {k} residuals) | {wall:.2f} ({1e3 * per_hvp:.0f} ms per HVP) "
                f"| {err:.1e} ({what}) |"
            )
    return rows


def rss_mb(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter (Linux ``clear_refs`` value 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def ntk_child(mode: str, widths: tuple[int, ...], num: int) -> None:
    """Measure one NTK computation in this (fresh) process; print JSON."""
    x, _ = digits()
    x = x[:num]
    model = MLP(widths)
    params = model.init(jax.random.PRNGKey(0), x[:1])
    chunk = None if mode == "full" else 64
    jax.block_until_ready(params)
    reset_peak_rss()
    base = rss_mb("VmRSS")
    start = time.perf_counter()
    kernel = jax.block_until_ready(
        empirical_ntk(model.apply, params, x, chunk_size=chunk)
    )
    wall = time.perf_counter() - start  # one call, compilation included
    peak = rss_mb("VmHWM")
    out = {
        "mode": mode,
        "params": count(params),
        "shape": list(kernel.shape),
        "wall_s": wall,
        "base_mb": base,
        "peak_mb": peak,
        "trace": float(jnp.trace(kernel)),
    }
    print(json.dumps(out))


def bench_ntk(widths, num) -> list[str]:
    rows = [
        "| method | params | kernel | wall (s), incl. compile | peak RSS (MB) "
        "| peak - baseline (MB) |",
        "|---|---|---|---|---|---|",
    ]
    results = {}
    for mode in ("chunked", "full"):
        log(f"section 3: NTK, {mode}")
        cmd = [
            sys.executable,
            __file__,
            "--ntk-child",
            mode,
            "--ntk-widths",
            ",".join(map(str, widths)),
            "--ntk-num",
            str(num),
        ]
        env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    for mode, label in [("chunked", "chunked (64 samples)"), ("full", "full Jacobian")]:
        r = results[mode]
        rows.append(
            f"| {label} | {r['params']} | {r['shape'][0]}x{r['shape'][1]} | "
            f"{r['wall_s']:.1f} | {r['peak_mb']:.0f} | "
            f"{r['peak_mb'] - r['base_mb']:.0f} |"
        )
    c, f = results["chunked"], results["full"]
    rows.append("")
    rows.append(
        f"Ratios chunked / full: wall {c['wall_s'] / f['wall_s']:.2f}, "
        f"peak-minus-baseline memory "
        f"{(c['peak_mb'] - c['base_mb']) / max(f['peak_mb'] - f['base_mb'], 1):.2f}; "
        f"traces agree to {abs(c['trace'] - f['trace']) / abs(f['trace']):.1e}."
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, smoke test")
    parser.add_argument("--ntk-child", choices=["chunked", "full"], default=None)
    parser.add_argument("--ntk-widths", default="128,128,10")
    parser.add_argument("--ntk-num", type=int, default=500)
    args = parser.parse_args()
    ntk_widths = tuple(int(w) for w in args.ntk_widths.split(","))
    if args.ntk_child:
        ntk_child(args.ntk_child, ntk_widths, args.ntk_num)
        return

    if args.quick:
        repeats, dense_w, big_w, train_steps, max_steps = 5, (16, 10), (32, 10), 20, 60
        ntk_widths, ntk_num = (32, 10), 100
    else:
        repeats, train_steps, max_steps = 30, 300, 200
        dense_w, big_w = (32, 32, 10), (200, 180, 10)  # 3.5k and 51k parameters
        ntk_num = args.ntk_num

    header = [
        "# landscape spectral core benchmarks",
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared), jax {jax.__version__}, "
        f"backend {jax.default_backend()}.",
        "Command: `.venv/bin/python benchmarks/landscape_spectra.py"
        + (" --quick`" if args.quick else "`"),
        "",
    ]
    log(f"section 1: HVP / gradient ({repeats} repeats)")
    sections = [
        "## 1. One Hessian-vector product vs one gradient (full-batch digits, float32)",
        "",
        *bench_hvp_over_grad(repeats),
        "",
        "## 2. Top-10 Hessian eigenvalues (full-batch digits, float64, after "
        f"{train_steps} Adam steps)",
        "",
        *bench_lanczos(dense_w, big_w, train_steps, max_steps),
        "",
        f"## 3. Empirical NTK of {ntk_num} digits (float32, MLP 64-"
        + "-".join(map(str, ntk_widths))
        + ")",
        "",
        *bench_ntk(ntk_widths, ntk_num),
        "",
    ]
    text = "\n".join(header + sections)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
