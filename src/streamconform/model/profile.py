"""Target profiles: which server to test, the values its spec variables take there, and
where the target departs from a spec's assumptions (another path or method for an
endpoint the documentation left open)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streamconform.errors import SpecError
from streamconform.model.load import link_credentials, load_yaml, validate_tree
from streamconform.model.restate import LIMITS, RESTATABLE, restate
from streamconform.model.spec import AuthScheme, Endpoint, Spec, Variant
from streamconform.model.templates import path_params, references

__all__ = ["Profile", "TargetSettings", "load_profile"]

_SETTINGS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "target": {"type": "string", "pattern": "^https?://"},
        "time_scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "limits": LIMITS,
        "strict": {
            "type": "boolean",
            "description": "Findings that rest only on a spec's assumptions fail, not warn",
        },
        "vars": {
            "type": "object",
            "description": "Variable values; null: the target has no such thing",
            "additionalProperties": {"type": ["string", "number", "integer", "boolean", "null"]},
        },
    },
}
_TEMPLATES = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
_ENDPOINT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "path": {"type": "string", "pattern": "^/"},
        "headers": _TEMPLATES,
        "query": _TEMPLATES,
        "body": {},
        "success": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
        **RESTATABLE,
        "provoke": {
            "type": "object",
            "description": "How to provoke a documented error, failure or overrun on this target",
            "propertyNames": {"pattern": "^(error:[0-9]{3}|failure:.+|overrun)$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "variables": _TEMPLATES,
                    "query": _TEMPLATES,
                    "headers": _TEMPLATES,
                    "body": {},
                    "omit_auth": {"type": "boolean"},
                },
            },
        },
    },
}
_AUTH: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "expiry": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Seconds after which this target refuses an issued token",
        },
    },
}
_PER_SPEC: dict[str, Any] = {
    **_SETTINGS,
    "properties": {
        **_SETTINGS["properties"],
        "endpoints": {"type": "object", "additionalProperties": _ENDPOINT},
        "auth": {"type": "object", "additionalProperties": _AUTH},
        "waive": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string"},
            "description": "Assumptions of the spec this target does not follow",
        },
    },
}
_SCHEMA: dict[str, Any] = {
    **_SETTINGS,
    "properties": {
        **_SETTINGS["properties"],
        "specs": {"type": "object", "additionalProperties": _PER_SPEC},
    },
}


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """Target URL, time scale and variable values, for all specs or for one."""

    target: str | None = None
    time_scale: float | None = None
    strict: bool | None = None
    limits: Mapping[str, int] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    endpoints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    auth: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    waive: tuple[str, ...] = ()


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
            strict=self.shared.strict if own.strict is None else own.strict,
            limits={**self.shared.limits, **own.limits},
            vars={**self.shared.vars, **own.vars},
            endpoints=own.endpoints,
            auth=own.auth,
            waive=own.waive,
        )

    def apply(self, spec: Spec) -> Spec:
        """The spec with this profile's endpoint and auth overrides for it applied."""
        settings = self.for_spec(spec.name)
        if settings.waive:
            spec = replace(spec, waived=self._waived(spec, settings.waive))
        if not settings.endpoints and not settings.auth and not settings.limits:
            return spec
        if settings.limits:  # the profile's own bounds, under each endpoint's
            sized = {
                name: replace(ep, sizes=ep.sizes.changed(**settings.limits))
                for name, ep in spec.endpoints.items()
            }
            spec = replace(spec, endpoints=sized)
        endpoints, restated = self._endpoints(spec, settings.endpoints)
        return link_credentials(
            replace(
                spec,
                endpoints=endpoints,
                auth=self._auth(spec, settings.auth),
                restated=spec.restated | restated,
            )
        )

    def _waived(self, spec: Spec, names: tuple[str, ...]) -> frozenset[str]:
        known = [a.id for a in spec.assumptions]
        for name in names:
            if name not in known:
                raise SpecError(
                    f"{self.path}: specs.{spec.name}.waive: {name!r} is not an assumption of "
                    f"{spec.name} ({', '.join(known)})"
                )
        return frozenset(names)

    def _auth(
        self, spec: Spec, overrides: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, AuthScheme]:
        schemes = dict(spec.auth)
        for name, changes in overrides.items():
            where = f"{self.path}: specs.{spec.name}.auth.{name}"
            scheme = schemes.get(name)
            if scheme is None:
                raise SpecError(f"{where}: {spec.name} has no auth scheme {name!r}")
            if "expiry" in changes and not scheme.issued_by:
                raise SpecError(f"{where}: expiry applies to issued tokens; {name} is an API key")
            if "expiry" in changes:
                schemes[name] = replace(
                    scheme, expiry=changes["expiry"], expiry_reference_only=False
                )
        return schemes

    def _endpoints(
        self, spec: Spec, overrides: Mapping[str, Mapping[str, Any]]
    ) -> tuple[dict[str, Endpoint], frozenset[str]]:
        captures = {n for f in spec.flows.values() for step in f.steps for n in step.capture}
        names = set(spec.variables) | captures
        endpoints = dict(spec.endpoints)
        restated: set[str] = set()
        for name, changes in overrides.items():
            where = f"{self.path}: specs.{spec.name}.endpoints.{name}"
            if name not in endpoints:
                raise SpecError(f"{where}: {spec.name} has no endpoint {name!r}")
            path = changes.get("path", endpoints[name].path)
            unknown = [p for p in path_params(path) if p not in names]
            if unknown:
                raise SpecError(f"{where}: path parameter {{{unknown[0]}}} is not a variable")
            for ref in references(changes):
                if ref not in names:
                    raise SpecError(f"{where}: ${{{ref}}} is not a variable")
            if "success" in changes:
                changes = {**changes, "success": tuple(changes["success"])}
            if "provoke" in changes:
                changes = {
                    **changes,
                    "provocations": self._provocations(endpoints[name], changes["provoke"], where),
                }
                del changes["provoke"]
            told = {k: v for k, v in changes.items() if k in RESTATABLE}
            endpoint, paths = restate(endpoints[name], told, where)
            plain = {k: v for k, v in changes.items() if k not in RESTATABLE}
            endpoints[name] = replace(endpoint, **plain)
            restated |= {f"endpoints.{name}.{p}" for p in [*paths, *plain]}
        return endpoints, frozenset(restated)

    @staticmethod
    def _provocations(
        endpoint: Endpoint, provoke: Mapping[str, Mapping[str, Any]], where: str
    ) -> dict[str, Variant]:
        known = endpoint.provokable_names()
        for name in provoke:
            if name not in known:
                raise SpecError(f"{where}.provoke: {name!r} is not one of {', '.join(known)}")
        return {name: _variant(name, how) for name, how in provoke.items()}


def _variant(name: str, how: Mapping[str, Any]) -> Variant:
    return Variant(
        name,
        query=how.get("query", {}),
        body=how.get("body"),
        headers=how.get("headers", {}),
        variables=how.get("variables", {}),
        omit_auth=how.get("omit_auth", False),
    )


def _settings(raw: Mapping[str, Any]) -> TargetSettings:
    return TargetSettings(
        target=raw.get("target"),
        time_scale=raw.get("time_scale"),
        strict=raw.get("strict"),
        limits=dict(raw.get("limits", {})),
        vars=dict(raw.get("vars", {})),
        endpoints=dict(raw.get("endpoints", {})),
        auth=dict(raw.get("auth", {})),
        waive=tuple(raw.get("waive", ())),
    )


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
