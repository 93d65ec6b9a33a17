"""Tiny substrates written for the method tests (independent of pnn's own)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from pnn.substrate import Substrate


@dataclasses.dataclass(frozen=True)
class TanhLayer(Substrate):
    """``tanh(x W + b)``; the physical face has a fixed weight mismatch, an
    unmodelled cubic term and additive output noise."""

    in_dim: int
    out_dim: int
    mismatch: float = 0.0
    cubic: float = 0.0
    noise: float = 0.0
    seed: int = 0
    name: str = "tanh_layer"

    def init(self, key):
        w = jax.random.normal(key, (self.in_dim, self.out_dim)) / jnp.sqrt(self.in_dim)
        return {"w": w, "b": jnp.zeros(self.out_dim)}

    def model(self, params, x):
        return jnp.tanh(x @ params["w"] + params["b"])

    def physical(self, params, x, key):
        gap = jax.random.normal(jax.random.PRNGKey(self.seed), params["w"].shape)
        a = x @ (params["w"] * (1.0 + self.mismatch * gap)) + params["b"]
        y = jnp.tanh(a + self.cubic * a**3)
        return y + self.noise * jax.random.normal(key, y.shape, y.dtype)


class _Tally:
    """A mutable counter outside JAX, updated by a host callback."""

    def __init__(self):
        self.value = 0

    def add(self, n):
        self.value += int(n)


@dataclasses.dataclass(frozen=True)
class CountingLayer(Substrate):
    """An affine layer whose every physical query reports its batch size to
    the host, independently of the methods' own bookkeeping."""

    in_dim: int
    out_dim: int
    tally: _Tally = dataclasses.field(default_factory=_Tally, compare=False)
    name: str = "counting_layer"

    def __hash__(self):
        return id(self)

    def reset(self):
        self.tally.value = 0

    def count(self):
        jax.effects_barrier()
        return self.tally.value

    def init(self, key):
        w = jax.random.normal(key, (self.in_dim, self.out_dim)) / self.in_dim
        return {"w": w, "b": jnp.zeros(self.out_dim)}

    def model(self, params, x):
        return x @ params["w"] + params["b"]

    def physical(self, params, x, key):
        jax.debug.callback(self.tally.add, jnp.asarray(x.shape[0]))
        return self.model(params, x) + 0.01 * jax.random.normal(key, (x.shape[0], 1))
