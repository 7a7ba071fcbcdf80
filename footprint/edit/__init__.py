"""Edit one CCG's plan by hand, practice by practice, and judge it after every change.

:class:`EditSession` holds the plan being edited, the locked (agreed) groups and the
undo/redo history. Each change (:meth:`~EditSession.move`, :meth:`~EditSession.lock`,
:meth:`~EditSession.undo`, :meth:`~EditSession.redo`, :meth:`~EditSession.complete`,
:meth:`~EditSession.repair`) returns the new :meth:`~EditSession.state`: every group's
total and band status (:func:`footprint.evaluate.group_table`), every rule the plan breaks
(:func:`footprint.evaluate.plan_findings`, the same findings as ``footprint check``), the
out-of-band count set against the CCG's least possible number, and the stranding verdict.
:meth:`~EditSession.save` writes the plan and the practices moved since the start.

What needs the solver (the least out-of-band count, the stranding verdict, completing and
repairing a plan) goes through one seam, :class:`PartitionSeam`, which looks its functions
up in :mod:`footprint.partition`; while one is missing the state says it is unavailable,
and nothing else fails. Tests may hand the session any object with the same methods.

:func:`edit_app` wraps a session in a small Starlette web app (the ``footprint edit``
command serves it with uvicorn): a page with the map and a side panel, and a JSON API. It
is safe by default in the way Jupyter is: a random token is required on every request, the
``Host`` and ``Origin`` headers must name the address it is bound to (so neither a page of
another site nor DNS rebinding can reach it), request bodies are small, and the only files
it writes are the plan and moves files of the session's output folder.

The modules, from the solver up to the web app:

- :mod:`~footprint.edit.errors`: :class:`EditError`, how the editor refuses.
- :mod:`~footprint.edit.seam`: :class:`Best`, :class:`Verdict` and :class:`PartitionSeam`,
  the seam to the solver.
- :mod:`~footprint.edit.moves`: :func:`apply_lock` and :func:`moves_between`.
- :mod:`~footprint.edit.history`: undo and redo.
- :mod:`~footprint.edit.verdicts`: the stranding verdict's worker thread and cache.
- :mod:`~footprint.edit.state`: what the page shows of a session.
- :mod:`~footprint.edit.session`: :class:`EditSession`.
- :mod:`~footprint.edit.guard`: the token, ``Host`` and ``Origin`` checks, :func:`origins_for`.
- :mod:`~footprint.edit.app`: :func:`edit_app` and :func:`serve_forever`; the page itself is
  drawn by :mod:`footprint.render.edit_page`.
"""

from footprint.edit.app import MAX_BODY_BYTES, edit_app, serve_forever
from footprint.edit.errors import EditError
from footprint.edit.guard import origins_for
from footprint.edit.moves import MOVE_COLUMNS, apply_lock, moves_between
from footprint.edit.seam import Best, PartitionSeam, Verdict
from footprint.edit.session import EditSession
from footprint.evaluate import agreed_pieces

__all__ = [
    "MAX_BODY_BYTES",
    "MOVE_COLUMNS",
    "Best",
    "EditError",
    "EditSession",
    "PartitionSeam",
    "Verdict",
    "agreed_pieces",
    "apply_lock",
    "edit_app",
    "moves_between",
    "origins_for",
    "serve_forever",
]
