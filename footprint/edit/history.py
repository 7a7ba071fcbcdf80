"""Undo and redo: the plan and its locked groups before each change, and what the change was.

:class:`History` keeps one :class:`Snapshot` per change (the newest :data:`HISTORY`), and
the snapshots undone, until a new change drops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from footprint.edit.errors import EditError

#: Changes kept for undo.
HISTORY = 500


@dataclass(frozen=True)
class Snapshot:
    """One point of the history: the assignment, the locked groups and what led there."""

    assignment: Mapping[str, str | None]
    locked: frozenset[str]
    label: str


class History:
    """The changes that can be undone, and those undone that can be redone.

    Parameters
    ----------
    limit
        Most changes kept for undo (the oldest are dropped).

    Raises
    ------
    EditError
        From :meth:`undo` or :meth:`redo` when there is nothing to undo or redo (409).

    Examples
    --------
    >>> history = History()
    >>> history.record({"A": "p"}, frozenset(), "move A from p to q")
    >>> back = history.undo({"A": "q"}, frozenset())
    >>> back.assignment, history.undo_label, history.redo_label
    ({'A': 'p'}, None, 'move A from p to q')
    """

    def __init__(self, limit: int = HISTORY) -> None:
        self.limit = limit
        self._undo: list[Snapshot] = []
        self._redo: list[Snapshot] = []

    @property
    def undo_label(self) -> str | None:
        """What :meth:`undo` would undo, or ``None``."""
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        """What :meth:`redo` would redo, or ``None``."""
        return self._redo[-1].label if self._redo else None

    def group_ids(self) -> set[str | None]:
        """Return every group id a plan of the history holds (``None`` where a practice is open)."""
        return {p for s in (*self._undo, *self._redo) for p in s.assignment.values()}

    def record(self, assignment: Mapping[str, str | None], locked: frozenset[str], label: str) -> None:
        """Record the plan before the change ``label``; what was undone can no longer be redone."""
        self._undo.append(Snapshot(dict(assignment), locked, label))
        del self._undo[: -self.limit]
        self._redo.clear()

    def undo(self, assignment: Mapping[str, str | None], locked: frozenset[str]) -> Snapshot:
        """Return the plan before the last change, keeping the plan as it stands for :meth:`redo`."""
        return self._step(self._undo, self._redo, assignment, locked, "undo")

    def redo(self, assignment: Mapping[str, str | None], locked: frozenset[str]) -> Snapshot:
        """Return the plan after the last change undone, keeping the plan as it stands for :meth:`undo`."""
        return self._step(self._redo, self._undo, assignment, locked, "redo")

    @staticmethod
    def _step(
        take: list[Snapshot],
        give: list[Snapshot],
        assignment: Mapping[str, str | None],
        locked: frozenset[str],
        what: str,
    ) -> Snapshot:
        if not take:
            raise EditError(f"nothing to {what}", 409)
        snapshot = take.pop()
        give.append(Snapshot(dict(assignment), locked, snapshot.label))
        return snapshot
