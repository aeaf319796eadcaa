"""`${name}` templates in spec values and `{name}` parameters in paths."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MissingVariable", "path_params", "references", "render", "render_path"]

_REF = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")
_PARAM = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class MissingVariable(KeyError):
    """A template names a variable that has no value at run time."""


def references(value: Any) -> set[str]:
    """Every variable name a template value refers to."""
    if isinstance(value, str):
        return set(_REF.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(references(v) for v in value)) if value else set()
    return set()


def path_params(path: str) -> list[str]:
    """The `{name}` parameters of a path template."""
    return _PARAM.findall(path)


def _lookup(variables: Mapping[str, Any], name: str) -> Any:
    if name not in variables:
        raise MissingVariable(name)
    return variables[name]


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """Fill templates; a string that is exactly `${name}` takes the variable's own type."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(variables, whole.group(1))
        return _REF.sub(lambda m: str(_lookup(variables, m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, variables) for v in value]
    return value


def render_path(path: str, variables: Mapping[str, Any]) -> str:
    """Fill `{name}` path parameters, percent-encoding each value as one segment."""
    return _PARAM.sub(lambda m: quote(str(_lookup(variables, m.group(1))), safe=""), path)
