"""Exceptions raised by footprint.

Every error is a :class:`FootprintError`; each subclass also inherits the
builtin exception a caller would expect, so ``except ValueError`` still works.
The command line turns any of them into a one-line message and a non-zero exit.
"""

from __future__ import annotations

__all__ = [
    "CancelledError",
    "DataError",
    "FootprintError",
    "GraphError",
    "InfeasibleError",
    "PlanError",
]


class FootprintError(Exception):
    """Base class of every error footprint raises on purpose."""


class DataError(FootprintError, ValueError):
    """Input data (a practices file, boundaries or a plan file) is unusable as given."""


class PlanError(FootprintError, ValueError):
    """A plan does not fit the practices it is applied to."""


class GraphError(FootprintError, ValueError):
    """The adjacency graph cannot be built from the inputs given."""


class InfeasibleError(FootprintError, RuntimeError):
    """The solver could not return any plan under the rules given."""


class CancelledError(FootprintError, RuntimeError):
    """A computation was abandoned through its cancel token (a newer question superseded it)."""
