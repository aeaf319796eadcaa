"""Resolve spec variables: --var over target profile over environment over default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamconform.errors import SpecError
from streamconform.model.spec import Spec, Variable

__all__ = ["coerce", "resolve_variables"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce(var: Variable, value: Any, origin: str) -> Any:
    """Convert a value given as text (env, --var) to the variable's declared type."""
    if not isinstance(value, str):
        return value
    try:
        if var.type == "integer":
            return int(value)
        if var.type == "number":
            return float(value)
    except ValueError:
        raise SpecError(f"{origin}: {var.name}={value!r} is not a valid {var.type}") from None
    if var.type == "boolean":
        lowered = value.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise SpecError(f"{origin}: {var.name}={value!r} is not a boolean")
    return value


def resolve_variables(
    spec: Spec,
    *,
    overrides: Mapping[str, Any],
    profile: Mapping[str, Any],
    environ: Mapping[str, str],
    secret_defaults: bool = True,
) -> dict[str, Any]:
    """Every variable's value; SpecError names those that have none. A profile value of
    null declares the variable absent on the target: it gets no value, and no error.

    Defaults describe the reference servers. A secret's default (a reference server's
    API key) is never sent to a real target: pass `secret_defaults=False` for one.
    """
    values: dict[str, Any] = {}
    missing: list[str] = []
    for var in spec.variables.values():
        if var.name not in overrides and var.name in profile and profile[var.name] is None:
            continue  # declared absent: what needs it is untestable on this target
        if var.name in overrides:
            values[var.name] = coerce(var, overrides[var.name], "--var")
        elif var.name in profile:
            values[var.name] = coerce(var, profile[var.name], "target profile")
        elif var.env and var.env in environ:
            values[var.name] = coerce(var, environ[var.env], f"environment variable {var.env}")
        elif var.default is not None and (secret_defaults or not var.secret):
            values[var.name] = var.default
        else:
            hint = f"set {var.env}, " if var.env else ""
            missing.append(
                f"{var.name} ({hint}a target profile value, --var {var.name}=..., or "
                f"'{var.name}: null' in the profile's vars if the target has none)"
            )
    if missing:
        raise SpecError(f"{spec.name}: no value for " + "; ".join(missing))
    return values
