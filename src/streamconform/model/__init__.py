"""The spec model and its loader."""

from streamconform.model.load import load_spec, meta_schema
from streamconform.model.spec import (
    Endpoint,
    EventsSpec,
    Flow,
    Framing,
    Level,
    Requirement,
    Spec,
    Timing,
    Variable,
)
from streamconform.model.variables import resolve_variables

__all__ = [
    "Endpoint",
    "EventsSpec",
    "Flow",
    "Framing",
    "Level",
    "Requirement",
    "Spec",
    "Timing",
    "Variable",
    "load_spec",
    "meta_schema",
    "resolve_variables",
]
