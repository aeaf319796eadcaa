"""Errors raised by streamconform itself.

A target that breaks a rule is never an exception: it is a Finding. Exceptions are kept
for the cases where no verdict can be given at all, split by who is at fault::

    StreamConformError
    ├── SpecError        a spec, profile or option is wrong (exit 2)
    ├── TargetError      the target cannot be reached or talked to (exit 2)
    │   └── SetupError   a setup flow step got an answer it could not use
    └── InternalError    a bug in streamconform (exit 3)
"""

from __future__ import annotations

__all__ = [
    "InternalError",
    "SetupError",
    "SpecError",
    "StreamConformError",
    "TargetError",
]


class StreamConformError(Exception):
    """Base of every error streamconform raises on purpose."""

    exit_code = 2


class SpecError(StreamConformError):
    """A spec file, target profile or command-line value is malformed.

    `location` is "file:line" when known and `key` the dotted path of the offending key.
    """

    def __init__(self, message: str, *, location: str | None = None, key: str | None = None):
        self.message = message
        self.location = location
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class TargetError(StreamConformError):
    """The target could not be reached (refused, DNS, TLS, no answer in time)."""


class SetupError(TargetError):
    """A setup flow step failed, so the stream it prepares cannot be opened."""


class AbsentVariable(SetupError):
    """A request needs a variable the target does not have (its profile declares it absent):
    what needs it cannot be judged there."""


def absent_detail(name: str) -> str:
    return (
        f"the request needs variable {name!r}, which has no value on this target (its "
        "target profile declares it absent, or no setup flow of the endpoint captures it)"
    )


class InternalError(StreamConformError):
    """A defect in streamconform itself; please report it with the command line used."""

    exit_code = 3
