"""Shared fixtures: float64 in a scoped context, PRNG keys."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run the test body with float64 enabled, restoring the default after."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
