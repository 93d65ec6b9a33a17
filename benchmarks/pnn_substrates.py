"""Speed and reality gap of each PNN substrate at the size of the digits task.

For every substrate kind (default config, 64 inputs -> 10 outputs) this
measures the wall time of one ideal-model call and one physical query on a
batch of 256 (after compilation), the relative model-device gap
``rms(f_p - f_m) / rms(f_m)`` at initialisation, and the relative error of a
digital twin (calibration only) fitted to measured pairs, on held-out
parameter settings (100 Adam steps on 4 x 128 pairs).

Run: ``.venv/bin/python benchmarks/pnn_substrates.py`` (a few minutes on 2
cores). Not a test.
"""

import time

import jax
import jax.numpy as jnp

from pnn.registry import build_substrate
from pnn.twin import TwinConfig, fit_twin, measure, twin_error

KINDS = {
    "crossbar": {},
    "interferometer": {},
    "oscillator": {},
    "resistor_network": {"hidden": 16},
    "resistor_network+diode": {"hidden": 16, "diode_conductance": 0.5},
}


def timed(fn, *args, repeats=5):
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / repeats


def main():
    x = jax.random.uniform(jax.random.PRNGKey(0), (256, 64))
    rows = []
    print(
        "| substrate | model ms / 256 | physical ms / 256 | gap | "
        "nominal err (held out) | twin err (held out) |"
    )
    print("|---|---|---|---|---|---|", flush=True)
    for label, extra in KINDS.items():
        kind = label.split("+")[0]
        layer = build_substrate({"kind": kind, "in_dim": 64, "out_dim": 10, **extra})
        params = layer.init(jax.random.PRNGKey(1))
        key = jax.random.PRNGKey(2)
        t_model = timed(layer.model, params, x)
        t_phys = timed(layer.physical, params, x, key)
        ym, yp = layer.model(params, x), layer.physical(params, x, key)
        gap = float(jnp.sqrt(jnp.mean((yp - ym) ** 2) / jnp.mean(ym**2)))

        settings = [layer.init(k) for k in jax.random.split(jax.random.PRNGKey(3), 6)]
        train = measure(layer, settings[:4], x[:128], jax.random.PRNGKey(4))
        test = measure(layer, settings[4:], x[:128], jax.random.PRNGKey(5))
        fit = fit_twin(layer, train, TwinConfig(steps=100, learning_rate=2e-2))
        rows.append(
            (
                label,
                1e3 * t_model,
                1e3 * t_phys,
                gap,
                twin_error(layer, test),
                twin_error(fit.twin, test),
            )
        )
        print(
            "| {} | {:.2f} | {:.2f} | {:.3f} | {:.3f} | {:.3f} |".format(*rows[-1]),
            flush=True,
        )


if __name__ == "__main__":
    main()
