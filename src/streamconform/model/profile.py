"""Target profiles: which server to test and the values its spec variables take there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamconform.model.load import load_yaml, validate_tree

__all__ = ["Profile", "TargetSettings", "load_profile"]

_SETTINGS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "target": {"type": "string", "pattern": "^https?://"},
        "time_scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "vars": {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "integer", "boolean"]},
        },
    },
}
_SCHEMA = {
    **_SETTINGS,
    "properties": {
        **_SETTINGS["properties"],
        "specs": {"type": "object", "additionalProperties": _SETTINGS},
    },
}


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """Target URL, time scale and variable values, for all specs or for one."""

    target: str | None = None
    time_scale: float | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Profile:
    """A target profile file: shared settings plus per-spec ones that take precedence."""

    path: str
    shared: TargetSettings
    per_spec: Mapping[str, TargetSettings]

    def for_spec(self, name: str) -> TargetSettings:
        own = self.per_spec.get(name, TargetSettings())
        return TargetSettings(
            target=own.target or self.shared.target,
            time_scale=own.time_scale or self.shared.time_scale,
            vars={**self.shared.vars, **own.vars},
        )


def _settings(raw: Mapping[str, Any]) -> TargetSettings:
    return TargetSettings(raw.get("target"), raw.get("time_scale"), dict(raw.get("vars", {})))


def load_profile(path: str | Path) -> Profile:
    """Load and validate a target profile (YAML)."""
    path = Path(path)
    raw, lines = load_yaml(path)
    validate_tree(raw, _SCHEMA, path, lines)
    return Profile(
        str(path),
        _settings(raw),
        {name: _settings(body) for name, body in raw.get("specs", {}).items()},
    )
