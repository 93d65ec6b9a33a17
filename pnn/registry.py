"""Build any substrate from its config: ``build_substrate(config)``.

A config is a :class:`pnn.substrate.SubstrateConfig` subclass or a plain
mapping (a TOML table) whose ``kind`` names the substrate. Unknown kinds and
unknown keys fail before any JAX compilation, with the valid choices listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from landscape.config import ConfigError, parse_config
from pnn.crossbars import Crossbar, CrossbarConfig
from pnn.interferometers import Interferometer, InterferometerConfig
from pnn.oscillators import OscillatorConfig, OscillatorLayer
from pnn.resistor_networks import ResistorNetwork, ResistorNetworkConfig
from pnn.substrate import Substrate, SubstrateConfig

__all__ = ["SUBSTRATES", "build_substrate", "substrate_config"]

#: kind -> (config class, substrate class)
SUBSTRATES: dict[str, tuple[type[SubstrateConfig], type[Substrate]]] = {
    "crossbar": (CrossbarConfig, Crossbar),
    "resistor_network": (ResistorNetworkConfig, ResistorNetwork),
    "interferometer": (InterferometerConfig, Interferometer),
    "oscillator": (OscillatorConfig, OscillatorLayer),
}


def substrate_config(
    data: SubstrateConfig | Mapping[str, Any], source: str = "substrate config"
) -> SubstrateConfig:
    """Validate a mapping (or pass a config through) by its ``kind``.

    Raises:
        ConfigError: unknown or missing ``kind``, unknown keys, values out of
            range (noise levels outside [0, 1], a mesh too small for the input).
    """
    if isinstance(data, SubstrateConfig):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(
            f"config must be a SubstrateConfig or a mapping, got {type(data).__name__}"
        )
    kind = data.get("kind")
    if kind not in SUBSTRATES:
        raise ConfigError(
            f"invalid config in {source}: kind must be one of "
            f"{sorted(SUBSTRATES)}, got {kind!r}"
        )
    return parse_config(SUBSTRATES[kind][0], dict(data), source=source)


def build_substrate(config: SubstrateConfig | Mapping[str, Any]) -> Substrate:
    """The substrate a config describes.

    Args:
        config: a substrate config or a mapping with a ``kind`` key, one of
            :data:`SUBSTRATES`.

    Example:
        >>> layer = build_substrate({"kind": "crossbar", "in_dim": 64, "out_dim": 10})
    """
    config = substrate_config(config)
    return SUBSTRATES[config.kind][1](config)
