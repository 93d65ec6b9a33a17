"""Validated configs read from TOML.

Every config in glassland is a frozen pydantic model that forbids unknown
keys, so a typo in a TOML file fails loudly, before any JAX compilation, with
a message that names the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import pydantic

__all__ = ["ConfigError", "FrozenConfig", "load_config", "parse_config"]

C = TypeVar("C", bound="FrozenConfig")


class ConfigError(ValueError):
    """A config file or mapping is not valid."""


class FrozenConfig(pydantic.BaseModel):
    """Base class of every config: immutable, unknown keys rejected."""

    model_config = pydantic.ConfigDict(
        extra="forbid", frozen=True, validate_default=True
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly dict (for HDF5 attributes)."""
        return self.model_dump(mode="json")


def _format_errors(err: pydantic.ValidationError, source: str) -> str:
    lines = [f"invalid config in {source}:"]
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  unknown key {where!r} (value {item['input']!r})")
        else:
            lines.append(f"  {where}: {item['msg']} (got {item['input']!r})")
    return "\n".join(lines)


def parse_config(model: type[C], data: dict[str, Any], source: str = "config") -> C:
    """Validate ``data`` against ``model``, raising :class:`ConfigError`."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        allowed = ", ".join(sorted(model.model_fields))
        raise ConfigError(
            f"{_format_errors(err, source)}\n  valid keys: {allowed}"
        ) from None


def load_config(model: type[C], path: str | os.PathLike) -> C:
    """Read a TOML file and validate it against ``model``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    return parse_config(model, data, source=str(path))
