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
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Protocol

import networkx as nx
import pandas as pd

from footprint._io import atomic_write
from footprint.config import Rules, SolveOptions
from footprint.errors import FootprintError
from footprint.evaluate import FINDING_COLUMNS, agreed_pieces, group_table, plan_findings
from footprint.graph import WITHIN_CCG
from footprint.plan import Plan, group_areas, match_groups, write_plan

if TYPE_CHECKING:
    import geopandas as gpd
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

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
]

logger = logging.getLogger(__name__)

#: Largest request body the web app reads, in bytes (a move is about 50).
MAX_BODY_BYTES = 16_384
#: Columns of the moves file, in order.
MOVE_COLUMNS = ("practice", "name", "from", "to", "patients")
#: Targets of a move besides a neighbouring group's id.
NEW, OPEN = "new", "open"
#: Colour of open practices (as on the maps of ``footprint map``).
OPEN_COLOUR = "#d9d9d9"
#: Verdicts kept for undo and redo.
_VERDICT_CACHE = 64
#: Changes kept for undo.
_HISTORY = 500


class EditError(FootprintError, ValueError):
    """A change or request the editor refuses; ``status`` is the HTTP status the web app answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------
# The seam to the solver
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Best:
    """The CCG's least possible number of out-of-band groups (not exempt), and whether proven."""

    count: int | None
    proven: bool = False
    status: str = "ready"
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    """Whether the plan's open practices can still be covered: the stranding verdict.

    ``available`` is false while the partition package has no stranding check, or the
    check failed; then ``message`` says why and the lists are empty. ``pending`` is true
    while the check is still running (the session answers without waiting for it): with
    ``available`` false nothing is known yet; with ``available`` true the stranded and
    at-risk practices are known and only the smallest change that frees the stranded ones
    is still being sought (``detail["changes_pending"]``).
    ``findings`` are extra rows in the columns of :data:`footprint.evaluate.FINDING_COLUMNS`
    (e.g. each stranded practice).
    """

    available: bool
    message: str
    pending: bool = False
    stranded: tuple[str, ...] = ()
    at_risk: tuple[str, ...] = ()
    findings: tuple[tuple[str, ...], ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


class Seam(Protocol):
    """What the session asks of the solver (see :class:`PartitionSeam`)."""

    def best(self) -> Best:
        """Return the CCG's least out-of-band count."""
        ...

    def verdict(self, plan: Plan, locked: frozenset[str]) -> Verdict:
        """Return the stranding verdict on ``plan`` with the ``locked`` groups agreed."""
        ...

    def complete(self, plan: Plan, locked: frozenset[str]) -> Plan:
        """Return ``plan`` with its open practices placed by the best completion."""
        ...

    def repair(self, plan: Plan, locked: frozenset[str]) -> Plan:
        """Return the valid plan nearest ``plan`` (fewest moves), ``locked`` groups kept."""
        ...


class PartitionSeam:
    """The solver's answers for one CCG, from :mod:`footprint.partition`.

    Each answer looks its function up in :mod:`footprint.partition` when asked:
    ``solve_plan`` (the CCG's least out-of-band count), ``strands`` (the stranding verdict
    and the best completion) and ``repair_plan`` (repair). A function the package does not
    export makes that answer unavailable rather than an error.

    The stranding verdict is judged as ``footprint check`` judges a plan: every group of
    the plan is agreed (a group in pieces as its pieces, see :func:`agreed_pieces`), and
    the question is whether its open practices can still be covered.

    Parameters
    ----------
    graph
        The CCG's adjacency graph.
    rules
        The band rule.
    rural
        Codes of practices flagged rural.
    approved
        PCN ids approved as exceptions.
    options
        Solver options (default: those of ``footprint check``, in this process).
    """

    def __init__(
        self,
        graph: nx.Graph,
        *,
        rules: Rules,
        rural: Iterable[str] = (),
        approved: Iterable[str] = (),
        options: SolveOptions | None = None,
    ) -> None:
        self.graph = graph
        self.ccg = sorted({str(c) for _, c in graph.nodes(data="ccg_code")})[0]
        self.rules = rules
        self.rural = frozenset(rural)
        self.approved = frozenset(approved)
        self.options = options or SolveOptions(processes=1)
        self._baseline: Any = None
        self._ready = threading.Event()
        self._asked = False

    @staticmethod
    def _function(name: str) -> Callable[..., Any] | None:
        import footprint.partition as partition

        return getattr(partition, name, None)

    def _common(self, function: Callable[..., Any], **options: Any) -> dict[str, Any]:
        """Return the keyword options ``function`` accepts: rules, options, rural, approved, ``options``."""
        accepted = inspect.signature(function).parameters
        given = {
            "rules": self.rules,
            "options": self.options,
            "rural": self.rural,
            "approved": self.approved,
            **options,
        }
        return {k: v for k, v in given.items() if k in accepted}

    def best(self) -> Best:
        """Return the least number of non-exempt out-of-band groups any plan of the CCG can have."""
        self._asked = True
        try:
            solve = self._function("solve_plan")
            if solve is None:
                return Best(None, status="unavailable", message="least out-of-band count unavailable")
            rules = replace(self.rules, stages=("out_of_band",))
            plan = solve(self.graph, **self._common(solve, rules=rules))
            (result,) = plan.info["ccgs"].values()
            self._baseline = result.stages[0]
            return Best(round(self._baseline.value), proven=self._baseline.proven)
        finally:
            self._ready.set()

    def _strands(self, plan: Plan, **options: Any) -> Any | None:
        strands = self._function("strands")
        if strands is None:
            return None
        if self._asked:  # the baseline, once known, saves a solve on every verdict
            self._ready.wait(timeout=600)
        baselines = {self.ccg: self._baseline} if self._baseline is not None else None
        lock = agreed_pieces(plan, self.graph)
        return strands(
            self.graph, **self._common(strands, lock=lock, ccgs=[self.ccg], baselines=baselines, **options)
        )

    def cancel_token(self) -> Any:
        """Return a token whose ``set()`` abandons the :meth:`verdict` it is passed to (see ``strands``)."""
        try:
            from footprint.partition.strand import Cancel
        except ImportError:  # a partition package that cannot cancel: the token only marks the verdict stale
            return threading.Event()
        return Cancel()

    def verdict(
        self, plan: Plan, locked: frozenset[str], *, changes: bool = True, cancel: Any = None
    ) -> Verdict:
        """Return the stranding verdict from ``footprint.partition.strands`` (unavailable without it).

        Without ``changes`` the smallest change that frees the stranded practices is left
        out, and a verdict with practices stranded is ``pending`` (its first part: who and
        why). ``cancel`` (from :meth:`cancel_token`) abandons the computation when set; it
        then raises ``footprint.errors.CancelledError``.
        """
        del locked  # judged as footprint check does: every group agreed
        found = self._strands(plan, changes=changes, cancel=cancel)
        if found is None:
            return Verdict(False, "stranding check unavailable (the partition package has no strands)")
        result = found.ccgs.get(self.ccg)
        if result is None:
            return Verdict(True, "no practice of the CCG is open: none can be stranded")
        none_open = "no practice is open: none can be stranded"
        message = result.summary() if plan.open_practices else none_open
        detail = result.to_dict() if hasattr(result, "to_dict") else {}
        pending = not changes and bool(result.stranded)
        if pending:
            message += "; the smallest change that frees them: computing ..."
        return Verdict(
            True,
            message,
            pending=pending,
            stranded=tuple(result.stranded),
            at_risk=tuple(result.at_risk),
            findings=tuple(tuple(row) for row in found.findings()),
            detail={**detail, "changes_pending": pending},
        )

    def complete(self, plan: Plan, locked: frozenset[str]) -> Plan:
        """Return ``plan`` with every group kept and its open practices placed by one best completion."""
        del locked  # every group is kept, locked or not
        found = self._strands(plan, changes=False)
        if found is None:
            raise EditError("complete unavailable: the partition package has no strands", 503)
        completion = found.completion.assignment
        return Plan(
            {code: pcn if pcn is not None else completion.get(code) for code, pcn in plan.assignment.items()}
        )

    def repair(self, plan: Plan, locked: frozenset[str]) -> Plan:
        """Return ``plan`` repaired by ``footprint.partition.repair_plan``: fewest moves, ``locked`` kept."""
        repair = self._function("repair_plan")
        if repair is None:
            raise EditError("repair unavailable: the partition package has no repair_plan", 503)
        lock = Plan({c: p for c, p in plan.assignment.items() if p in locked})
        return repair(self.graph, plan, **self._common(repair, lock=lock, ccgs=[self.ccg]))


# --------------------------------------------------------------------------------------
# Plans, locks and moves
# --------------------------------------------------------------------------------------


def apply_lock(plan: Plan, lock: Plan) -> tuple[Plan, frozenset[str]]:
    """Return ``plan`` with the agreed groups of ``lock`` laid over it, and their ids.

    Each practice given a group in ``lock`` takes that group; a practice that ``plan``
    puts in a locked group's id but the lock leaves out is opened (the agreement left it
    out of that group).

    Examples
    --------
    >>> plan, locked = apply_lock(Plan({"A": "p", "B": "p", "C": "q"}), Plan({"A": "p", "C": None}))
    >>> plan.assignment, sorted(locked)
    ({'A': 'p', 'B': None, 'C': 'q'}, ['p'])
    """
    agreed = {c: p for c, p in lock.assignment.items() if p is not None}
    locked = frozenset(agreed.values())
    assignment = {
        code: agreed.get(code, None if pcn in locked else pcn) for code, pcn in plan.assignment.items()
    }
    assignment.update({c: p for c, p in agreed.items() if c not in assignment})
    return Plan(assignment, plan.info), locked


def moves_between(start: Plan, plan: Plan, practices: pd.DataFrame) -> pd.DataFrame:
    """Return the practices whose group changes from ``start`` to ``plan``, one row each.

    Groups of ``plan`` are matched to those of ``start`` as in the transfer distance
    (:func:`footprint.plan.match_groups`), so a group that only changed its id does not
    count as moved. A practice opened or placed counts too (its ``from`` or ``to`` is
    blank).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MOVE_COLUMNS`: ``practice`` (code), ``name``, ``from`` and ``to``
        (group ids in ``start`` and ``plan``) and ``patients`` (its list size).

    Examples
    --------
    >>> practices = pd.DataFrame({"practice_name": ["A", "B"], "list_size": [10, 20]}, index=["A", "B"])
    >>> moves_between(Plan({"A": "p", "B": "p"}), Plan({"A": "p", "B": None}), practices).values.tolist()
    [['B', 'B', 'p', '', 20]]
    """
    continues = match_groups(start, plan)
    rows = []
    for code in sorted(set(start.assignment) | set(plan.assignment)):
        before, after = start.assignment.get(code), plan.assignment.get(code)
        if before is None and after is None:
            continue
        if after is not None and before is not None and continues.get(after) == before:
            continue
        name = practices.at[code, "practice_name"] if "practice_name" in practices.columns else ""
        rows.append((code, str(name or ""), before or "", after or "", int(practices.at[code, "list_size"])))
    return pd.DataFrame(rows, columns=list(MOVE_COLUMNS))


@dataclass(frozen=True)
class _Snapshot:
    """One point of the history: the assignment, the locked groups and what led there."""

    assignment: Mapping[str, str | None]
    locked: frozenset[str]
    label: str


# --------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------


class EditSession:
    """A plan of one CCG being edited: moves, locks, undo and redo, and its state after each.

    Parameters
    ----------
    plan
        The starting plan; practices of other CCGs are ignored and practices of the CCG it
        leaves out start open.
    graph
        The CCG's adjacency graph (every node of one CCG).
    practices
        The CCG's practices, indexed by code (``list_size``, ``ccg_code``,
        ``practice_name``, ``rural``; ``pcn_code`` and ``pcn_name`` name current PCNs).
    rules
        The band rule (default :class:`~footprint.config.Rules`).
    locked
        Ids of the groups agreed at the start (see :func:`apply_lock`): no practice may
        join or leave them until unlocked.
    approved
        PCN ids a commissioner approved as exceptions (exempt when out of band).
    out
        Folder :meth:`save` writes ``plan.csv`` and ``moves.csv`` into; ``None``: no saving.
    seam
        The solver's answers (default :class:`PartitionSeam` on ``graph``).

    Raises
    ------
    EditError
        If the graph holds practices of more than one CCG, or practices not in ``practices``.

    Examples
    --------
    >>> import networkx as nx
    >>> from footprint.evaluate import practices_from_graph
    >>> g = nx.Graph()
    >>> for code, x in (("A", 0), ("B", 1000), ("C", 2000)):
    ...     g.add_node(code, x=x, y=0, list_size=20_000, ccg_code="X", practice_name=code)
    >>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    >>> session = EditSession(Plan({"A": "p", "B": "p", "C": "q"}), g, practices_from_graph(g))
    >>> state = session.move("B", "q")
    >>> state["assignment"], [g["list_size"] for g in state["groups"]]
    ({'A': 'p', 'B': 'q', 'C': 'q'}, [20000, 40000])
    >>> session.undo()["assignment"]["B"]
    'p'
    """

    def __init__(
        self,
        plan: Plan,
        graph: nx.Graph,
        practices: pd.DataFrame,
        *,
        rules: Rules | None = None,
        locked: Iterable[str] = (),
        approved: Iterable[str] = (),
        out: Path | None = None,
        seam: Seam | None = None,
    ) -> None:
        ccgs = sorted({str(c) for _, c in graph.nodes(data="ccg_code")})
        if len(ccgs) != 1:
            msg = f"the editor edits one CCG at a time; the graph holds {len(ccgs)}: {', '.join(ccgs[:8])}"
            raise EditError(msg)
        unknown = sorted(set(graph) - set(practices.index))
        if unknown:
            msg = f"practice(s) {', '.join(unknown[:10])} of the graph are not in the practices table"
            raise EditError(msg)
        self.ccg = ccgs[0]
        self.graph = graph
        self.practices = practices.loc[sorted(graph.nodes)]
        self.rules = rules or Rules()
        self.approved = frozenset(approved)
        rural_flags = self.practices["rural"] if "rural" in self.practices else pd.Series(dtype=bool)
        self.rural = frozenset(rural_flags.index[rural_flags.fillna(False).astype(bool)])
        self.out = out
        self.seam: Seam = seam or PartitionSeam(
            graph, rules=self.rules, rural=self.rural, approved=self.approved
        )
        assignment = {code: plan.assignment.get(code) for code in sorted(graph.nodes)}
        self.start = Plan(assignment)
        self._assignment: dict[str, str | None] = dict(assignment)
        groups = set(self.start.groups)
        missing = sorted(set(locked) - groups)
        if missing:
            msg = f"locked group(s) {', '.join(missing)} hold no practice of CCG {self.ccg}"
            raise EditError(msg)
        self._locked = frozenset(locked)
        self._undo: list[_Snapshot] = []
        self._redo: list[_Snapshot] = []
        self._version = 0
        self._saved: dict[str, Any] | None = None
        self._best: Best | None = None
        #: Seconds :meth:`state` waits for the stranding verdict before answering without it
        #: (``None``: until it is known). The web app waits briefly and the page asks again.
        self.verdict_wait_s: float | None = None
        self._verdicts: OrderedDict[tuple, Verdict] = OrderedDict()
        self._verdict_cv = threading.Condition()
        self._wanted: tuple[tuple, Plan, frozenset[str]] | None = None
        self._computing: tuple | None = None
        #: The token that abandons the verdict being computed (set when a newer plan supersedes it).
        self._token: Any = None
        accepted = inspect.signature(self.seam.verdict).parameters
        #: Whether the seam answers in two parts (who is stranded, then the smallest change) and can cancel.
        self._two_part = "changes" in accepted
        self._cancellable = "cancel" in accepted and callable(getattr(self.seam, "cancel_token", None))
        self._worker: threading.Thread | None = None
        self._state_cache: tuple[int, dict[str, Any]] | None = None
        self._mutex = threading.RLock()
        self._neighbours = {
            code: sorted(
                n for n in graph.neighbors(code) if graph.edges[code, n].get("type", "rook") in WITHIN_CCG
            )
            for code in graph.nodes
        }
        self._colours = self._recolour({})
        self._fresh = 0

    # -- the plan ---------------------------------------------------------------------

    @property
    def plan(self) -> Plan:
        """The plan as it stands (every practice of the CCG; open ones ``None``)."""
        return Plan(dict(self._assignment))

    @property
    def locked(self) -> frozenset[str]:
        """Ids of the locked groups."""
        return self._locked

    def choices(self, practice: str) -> list[str]:
        """Return the groups ``practice`` may join: its neighbours' groups, unlocked, not its own."""
        own = self._assignment.get(practice)
        found = {self._assignment[n] for n in self._neighbours.get(practice, ())}
        return sorted(g for g in found if g is not None and g != own and g not in self._locked)

    def _check_practice(self, practice: object) -> str:
        if not isinstance(practice, str) or not practice.strip():
            raise EditError('practice must be a practice code (text), e.g. {"practice": "E82001"}')
        code = practice.strip().upper()
        if code not in self._assignment:
            msg = f"no practice {code} in CCG {self.ccg}: give the ODS code of one of its practices"
            raise EditError(msg, 404)
        return code

    def _target(self, code: str, to: object) -> str | None:
        """Return the group ``to`` names for ``code`` (``None``: open), or refuse the move."""
        own = self._assignment[code]
        if not isinstance(to, str) or not to.strip():
            msg = 'to must be a neighbouring group\'s id, "new" or "open"'
            raise EditError(msg)
        target = to.strip()
        if own is not None and own in self._locked:
            raise EditError(f"{code} is in locked group {own}: unlock {own} first", 409)
        if target == OPEN:
            if own is None:
                raise EditError(f"{code} is already open", 409)
            return None
        if target == NEW:
            if own is not None and sum(p == own for p in self._assignment.values()) == 1:
                raise EditError(f"{code} is already alone in group {own}", 409)
            return self._fresh_id()
        groups = set(self._assignment.values())
        if target not in groups:
            msg = f'no group {target} in CCG {self.ccg}: give one of its groups, "new" or "open"'
            raise EditError(msg, 404)
        if target == own:
            raise EditError(f"{code} is already in {target}", 409)
        if target in self._locked:
            raise EditError(f"group {target} is locked: unlock it before {code} may join", 409)
        allowed = self.choices(code)
        if target not in allowed:
            options = ", ".join([*allowed, NEW, OPEN])
            raise EditError(f"{target} is not a neighbouring group of {code}: choose from {options}", 409)
        return target

    def _fresh_id(self) -> str:
        used = set(self._assignment.values()) | set(self.start.assignment.values())
        used |= {p for s in (*self._undo, *self._redo) for p in s.assignment.values()}
        while True:
            self._fresh += 1
            pcn = f"{self.ccg}-new{self._fresh}"
            if pcn not in used:
                return pcn

    def _change(self, label: str, assignment: Mapping[str, str | None], locked: frozenset[str]) -> None:
        """Record the current plan for undo, then apply the change."""
        self._undo.append(_Snapshot(dict(self._assignment), self._locked, label))
        del self._undo[:-_HISTORY]
        self._redo.clear()
        self._apply(assignment, locked)

    def _apply(self, assignment: Mapping[str, str | None], locked: frozenset[str]) -> None:
        self._assignment = dict(assignment)
        self._locked = locked
        self._version += 1
        self._colours = self._recolour(self._colours)

    # -- changes ----------------------------------------------------------------------

    def move(self, practice: str, to: str) -> dict[str, Any]:
        """Move ``practice`` to a neighbouring group, a ``"new"`` group of its own, or ``"open"``.

        A move that leaves a group in pieces is allowed: the state flags it (a
        ``contiguity`` finding), as ``footprint check`` would.

        Parameters
        ----------
        practice
            ODS code of a practice of the CCG.
        to
            The id of a group one of its neighbours is in, ``"new"`` or ``"open"``.

        Returns
        -------
        dict
            The new :meth:`state`.

        Raises
        ------
        EditError
            If the practice or group is unknown (status 404), the group is no neighbour,
            a locked group would change, or the move changes nothing (409).
        """
        with self._mutex:
            code = self._check_practice(practice)
            target = self._target(code, to)
            before = self._assignment[code]
            assignment = {**self._assignment, code: target}
            label = f"move {code} from {before or 'open'} to {target or 'open'}"
            self._change(label, assignment, self._locked)
            logger.info("%s", label)
            return self.state()

    def lock(self, group: str, locked: bool = True) -> dict[str, Any]:
        """Lock (agree) or unlock ``group``; a locked group's members can neither leave nor be joined.

        Raises
        ------
        EditError
            If ``group`` is no group of the plan (404) or ``locked`` is not a boolean (400).
        """
        with self._mutex:
            if not isinstance(locked, bool):
                raise EditError("locked must be true or false")
            if not isinstance(group, str) or group not in set(self._assignment.values()):
                msg = f"no group {group} in CCG {self.ccg}: give one of its groups' ids"
                raise EditError(msg, 404)
            if (group in self._locked) == locked:
                raise EditError(f"group {group} is already {'locked' if locked else 'unlocked'}", 409)
            now = self._locked | {group} if locked else self._locked - {group}
            self._change(f"{'lock' if locked else 'unlock'} {group}", self._assignment, frozenset(now))
            return self.state()

    def undo(self) -> dict[str, Any]:
        """Undo the last change (a move, lock, completion or repair).

        Raises
        ------
        EditError
            If there is nothing to undo (409).
        """
        with self._mutex:
            if not self._undo:
                raise EditError("nothing to undo", 409)
            back = self._undo.pop()
            self._redo.append(_Snapshot(dict(self._assignment), self._locked, back.label))
            self._apply(back.assignment, back.locked)
            return self.state()

    def redo(self) -> dict[str, Any]:
        """Redo the last change undone.

        Raises
        ------
        EditError
            If there is nothing to redo (409).
        """
        with self._mutex:
            if not self._redo:
                raise EditError("nothing to redo", 409)
            again = self._redo.pop()
            self._undo.append(_Snapshot(dict(self._assignment), self._locked, again.label))
            self._apply(again.assignment, again.locked)
            return self.state()

    def complete(self) -> dict[str, Any]:
        """Place every open practice by the best completion, every drafted group kept.

        Raises
        ------
        EditError
            If no practice is open (409), the solver is unavailable (503) or no completion
            keeps the drafted groups (409, naming the binding rule).
        """
        with self._mutex:
            if all(p is not None for p in self._assignment.values()):
                raise EditError("no practice is open: there is nothing to complete", 409)
            result = self._solve(self.seam.complete, "complete")
            self._change("complete the rest", self._adopt(result), self._locked)
            return self.state()

    def repair(self) -> dict[str, Any]:
        """Turn the plan into a valid one moving the fewest practices, locked groups kept.

        Raises
        ------
        EditError
            If the solver is unavailable (503) or no valid plan keeps the locked groups (409).
        """
        with self._mutex:
            result = self._solve(self.seam.repair, "repair")
            self._change("repair", self._adopt(result), self._locked)
            return self.state()

    def _solve(self, how: Callable[[Plan, frozenset[str]], Plan], what: str) -> Plan:
        try:
            return how(self.plan, self._locked)
        except EditError:
            raise
        except FootprintError as exc:
            msg = f"{what} failed: {exc}"
            raise EditError(msg, 409) from None

    def _adopt(self, result: Plan) -> dict[str, str | None]:
        """Return the solver's plan with each group named as the group it continues (else a new id)."""
        continues = match_groups(self.plan, result)
        groups = result.groups
        names: dict[str, str] = {}
        for pcn, members in groups.items():
            old = continues.get(pcn)
            shared = sum(self._assignment.get(c) == old for c in members) if old else 0
            names[pcn] = old if old is not None and 2 * shared > len(members) else ""
        taken = set(names.values())
        for pcn in groups:
            if not names[pcn]:
                fresh = self._fresh_id()
                while fresh in taken:
                    fresh = self._fresh_id()
                names[pcn] = fresh
        return {
            code: (names[p] if (p := result.assignment.get(code)) is not None else None)
            for code in self._assignment
        }

    # -- saving -----------------------------------------------------------------------

    def save(self) -> dict[str, Any]:
        """Write ``plan.csv`` (the plan file every command reads) and ``moves.csv`` into :attr:`out`.

        Both are written atomically: a file is either the old one or the new one, never
        half written. ``moves.csv`` lists the practices moved since the start
        (:func:`moves_between`).

        Returns
        -------
        dict
            The new :meth:`state`, whose ``saved`` names the files.

        Raises
        ------
        EditError
            If the session has no output folder (409).
        """
        with self._mutex:
            if self.out is None:
                raise EditError("this session has no output folder to save into", 409)
            plan_path = write_plan(self.plan, self.out / "plan.csv", self.practices)
            moves_path = self.out / "moves.csv"
            with atomic_write(moves_path) as fh:
                self.moves().to_csv(fh, index=False, lineterminator="\n")
            self._saved = {"plan": str(plan_path), "moves": str(moves_path), "version": self._version}
            self._state_cache = None
            logger.info("saved %s and %s", plan_path, moves_path)
            return self.state()

    def moves(self) -> pd.DataFrame:
        """Return the practices moved since the start (see :func:`moves_between`)."""
        return moves_between(self.start, self.plan, self.practices)

    # -- judging ----------------------------------------------------------------------

    def prepare(self) -> Best:
        """Work out the CCG's least out-of-band count (once; it can take seconds) and return it."""
        if self._best is not None:
            return self._best
        try:
            best = self.seam.best()
        except FootprintError as exc:
            best = Best(None, status="unavailable", message=f"least out-of-band count unavailable: {exc}")
        with self._mutex:
            self._best = best
            self._state_cache = None
        return best

    def findings(self, verdict: Verdict | None = None) -> pd.DataFrame:
        """Return every rule the plan breaks or strains, as ``footprint check`` reports them.

        ``verdict`` is the stranding verdict whose findings to add (default :meth:`verdict`).
        """
        plan = self.plan
        cells = self.graph.graph.get("cells")
        areas = None if cells is None else group_areas(plan, cells, self.practices).geometry
        frame = plan_findings(
            plan,
            self.graph,
            rules=self.rules,
            rural=self.rural,
            approved=self.approved,
            areas=areas,
        )
        extra = (verdict or self.verdict()).findings
        if not extra:
            return frame
        frame = pd.concat(
            [frame, pd.DataFrame(list(extra), columns=list(FINDING_COLUMNS))], ignore_index=True
        )
        order = {"error": 0, "warning": 1}
        return frame.sort_values(
            ["severity", "ccg_code", "group", "practice_code"],
            key=lambda c: c.map(order) if c.name == "severity" else c,
        ).reset_index(drop=True)

    def _key(self) -> tuple:
        return (frozenset(self._assignment.items()), self._locked)

    def verdict(self, *, wait_s: float | EllipsisType | None = ...) -> Verdict:
        """Return the stranding verdict on the plan as it stands (cached for undo and redo).

        The verdict is worked out in a background thread, the newest plan first: a plan
        already left is not judged, and the judging of a plan left while it runs is
        abandoned at once when the seam can cancel. It comes in two parts when the seam
        gives them: who is stranded or at risk and why, then the smallest change that frees
        the stranded practices (the first part is returned ``pending`` until the second is
        known). ``wait_s`` is how long to wait for the whole verdict (default
        :attr:`verdict_wait_s`; ``None``: until known); if it is not known by then, the
        verdict returned is ``pending``: its first part if known, else nothing yet.
        """
        key = self._key()
        timeout = self.verdict_wait_s if isinstance(wait_s, EllipsisType) else wait_s
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._verdict_cv:
            while (found := self._verdicts.get(key)) is None or found.pending:
                if self._computing != key and (self._wanted is None or self._wanted[0] != key):
                    self._want(key)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    if found is not None:
                        self._verdicts.move_to_end(key)
                        return found
                    return Verdict(False, "checking whether any open practice is stranded ...", pending=True)
                self._verdict_cv.wait(timeout=1.0 if left is None else min(left, 1.0))
            self._verdicts.move_to_end(key)
            return found

    def _want(self, key: tuple) -> None:
        """Ask the worker to judge the plan as it stands next (the caller holds the condition).

        A verdict under way for another plan is abandoned (its token set).
        """
        self._wanted = (key, self.plan, self._locked)
        if self._computing is not None and self._computing != key and self._token is not None:
            self._token.set()
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._judge_forever, name="stranding", daemon=True)
            self._worker.start()
        self._verdict_cv.notify_all()

    def _judge_forever(self) -> None:
        while True:
            with self._verdict_cv:
                while self._wanted is None:
                    self._verdict_cv.wait()
                key, plan, locked = self._wanted
                self._wanted, self._computing = None, key
                self._token = self.seam.cancel_token() if self._cancellable else None  # type: ignore[attr-defined]
                token, known = self._token, self._verdicts.get(key)
            try:
                if known is None and self._two_part:
                    # The first part (who is stranded, and why) first; the smallest change after,
                    # unless a newer plan is waiting.
                    known = self._keep(key, self._judge(plan, locked, token, changes=False))
                    with self._verdict_cv:
                        if known is None or not known.pending or self._wanted is not None:
                            continue
                self._keep(key, self._judge(plan, locked, token, changes=True))
            finally:
                with self._verdict_cv:
                    self._computing = self._token = None
                    self._verdict_cv.notify_all()

    def _keep(self, key: tuple, found: Verdict | None) -> Verdict | None:
        """Cache the verdict ``found`` on the plan ``key`` (``None``: abandoned, nothing kept)."""
        with self._verdict_cv:
            if found is not None:
                self._verdicts[key] = found
                self._verdicts.move_to_end(key)
                while len(self._verdicts) > _VERDICT_CACHE:
                    self._verdicts.popitem(last=False)
            self._verdict_cv.notify_all()
        return found

    def _judge(self, plan: Plan, locked: frozenset[str], token: Any, *, changes: bool) -> Verdict | None:
        """Return the seam's verdict, or ``None`` when ``token`` abandoned it."""
        started = time.perf_counter()
        options: dict[str, Any] = {}
        if self._two_part:
            options["changes"] = changes
        if token is not None:
            options["cancel"] = token
        try:
            found = self.seam.verdict(plan, locked, **options)
        except FootprintError as exc:
            if token is not None and token.is_set():
                logger.info(
                    "stranding verdict abandoned after %.2f s: a newer plan came",
                    time.perf_counter() - started,
                )
                return None
            found = Verdict(False, f"stranding check failed: {_one_line(str(exc))}")
        except Exception as exc:  # the worker must outlive any one plan
            logger.exception("stranding check failed")
            found = Verdict(False, f"stranding check failed: {type(exc).__name__}: {_one_line(str(exc))}")
        logger.info("stranding verdict in %.2f s: %s", time.perf_counter() - started, found.message)
        return found

    def state(self) -> dict[str, Any]:
        """Return everything the page shows, as plain data for JSON.

        Keys: ``ccg``, ``version`` (changes applied), ``band``, ``assignment`` (practice
        to group, ``None`` open), ``groups`` (one dict per group: ``id``, ``name``,
        ``list_size``, ``practices``, ``members``, ``status``, ``verdict``, ``in_band``,
        ``exempt``, ``locked``, ``contiguous``, ``colour``), ``colours``, ``choices``
        (practice to the groups it may join), ``findings`` (rows as ``footprint check``
        writes them), ``errors``, ``warnings``, ``out_of_band`` (``count``, ``all``,
        ``best``, ``proven``, ``status``, ``text``), ``stranding`` (``available``,
        ``message``, ``stranded``, ``at_risk``), ``moves``, ``undo`` and ``redo`` (what
        they would undo or redo, or ``None``), ``saved`` and ``seconds`` (time taken).
        """
        with self._mutex:
            if self._state_cache is not None and self._state_cache[0] == self._version:
                return self._state_cache[1]
            started = time.perf_counter()
            state = self._compute_state()
            state["seconds"] = round(time.perf_counter() - started, 4)
            if not state["stranding"]["pending"]:  # nor its second part still to come
                self._state_cache = (self._version, state)
            return state

    def _compute_state(self) -> dict[str, Any]:
        plan = self.plan
        table = group_table(plan, self.practices, rules=self.rules, approved=self.approved)
        verdict = self.verdict()
        findings = self.findings(verdict)
        broken = {
            g for g, rule in zip(findings["group"], findings["rule"], strict=True) if rule == "contiguity"
        }
        names = self._group_names()
        groups = [
            {
                "id": pcn,
                "name": names.get(pcn),
                "list_size": int(row["list_size"]),
                "practices": int(row["practices"]),
                "members": list(row["members"]),
                "status": str(row["status"]),
                "verdict": str(row["verdict"]),
                "in_band": bool(row["in_band"]),
                "exempt": row["exempt"],
                "locked": pcn in self._locked,
                "contiguous": pcn not in broken,
                "colour": self._colours.get(str(pcn), OPEN_COLOUR),
            }
            for pcn, row in table.iterrows()
        ]
        moves = self.moves()
        return {
            "ccg": self.ccg,
            "version": self._version,
            "band": {"low": self.rules.band.low, "high": self.rules.band.high},
            "assignment": dict(self._assignment),
            "groups": groups,
            "colours": dict(self._colours),
            "choices": {code: self.choices(code) for code in self._assignment},
            "findings": findings.to_dict(orient="records"),
            "errors": int((findings["severity"] == "error").sum()),
            "warnings": int((findings["severity"] == "warning").sum()),
            "out_of_band": self._out_of_band(table),
            "stranding": {
                "available": verdict.available,
                "pending": verdict.pending,
                "message": verdict.message,
                "stranded": list(verdict.stranded),
                "at_risk": list(verdict.at_risk),
                **{k: v for k, v in verdict.detail.items() if k not in {"available", "message", "pending"}},
            },
            "moves": moves.to_dict(orient="records"),
            "open": sorted(c for c, p in self._assignment.items() if p is None),
            "undo": self._undo[-1].label if self._undo else None,
            "redo": self._redo[-1].label if self._redo else None,
            "saved": self._saved,
        }

    def _out_of_band(self, table: pd.DataFrame) -> dict[str, Any]:
        count = int(table["status"].isin(["below", "above"]).sum())
        best = self._best
        report: dict[str, Any] = {
            "count": count,
            "all": int((~table["in_band"]).sum()),
            "best": None if best is None else best.count,
            "proven": None if best is None else best.proven,
            "status": "computing" if best is None else best.status,
        }
        groups = "group" if count == 1 else "groups"
        if best is None:
            report["text"] = f"{count} {groups} out of band (working out the least possible ...)"
        elif best.count is None:
            report["text"] = f"{count} {groups} out of band ({best.message or 'least possible unavailable'})"
        else:
            how = "proven" if best.proven else "best found, not proven"
            report["text"] = (
                f"{count} {groups} out of band where {best.count} is the least possible for the CCG ({how})"
            )
        return report

    def _group_names(self) -> dict[str, str]:
        if not {"pcn_code", "pcn_name"} <= set(self.practices.columns):
            return {}
        pairs = self.practices[["pcn_code", "pcn_name"]].dropna().astype(str)
        return {code: name.title() for code, name in zip(pairs["pcn_code"], pairs["pcn_name"], strict=True)}

    def _recolour(self, previous: Mapping[str, str]) -> dict[str, str]:
        """Colour groups so that neighbours differ, keeping each group's colour while it can."""
        from footprint.render import PALETTE, colour_groups

        plan = Plan(self._assignment)
        if not previous:
            return colour_groups(self.graph, plan)
        touching: dict[str, set[str]] = {g: set() for g in plan.groups}
        for a, b in self.graph.edges:
            ga, gb = self._assignment.get(a), self._assignment.get(b)
            if ga is not None and gb is not None and ga != gb:
                touching[ga].add(gb)
                touching[gb].add(ga)
        colours: dict[str, str] = {}
        for pcn in sorted(touching, key=lambda g: (g not in previous, g)):
            near = {colours.get(n) for n in touching[pcn]}
            keep = previous.get(pcn)
            if keep is not None and keep not in near:
                colours[pcn] = keep
                continue
            free = [c for c in PALETTE if c not in near]
            colours[pcn] = free[0] if free else f"hsl({len(colours) * 137.508 % 360:.0f}, 55%, 72%)"
        return colours

    # -- the page's fixed data --------------------------------------------------------

    def page_data(self, practices: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
        """Return what the page draws once: practices (lon/lat, size, name), their cells and the outline.

        ``practices`` gives positions when the session's table has no geometry.
        """
        import geopandas as gpd
        import shapely

        source = practices if practices is not None else self.practices
        codes = list(self.practices.index)
        if isinstance(source, gpd.GeoDataFrame):
            points = source.loc[codes].geometry.to_crs(4326)
        else:
            xy = source.loc[codes]
            points = gpd.GeoSeries(gpd.points_from_xy(xy["x"], xy["y"]), index=codes, crs=27700).to_crs(4326)
        cells = self.graph.graph["cells"].loc[list(self.practices.index)]
        simple = cells.simplify(10.0).to_crs(4326)
        outline = shapely.union_all(cells.buffer(1.0).to_numpy()).simplify(25.0)
        outline_ll = type(cells)([outline], crs=cells.crs).to_crs(4326).iloc[0]
        rows = []
        for code, point in points.items():
            rows.append(
                {
                    "code": code,
                    "name": str(self.practices.at[code, "practice_name"] or "").title(),
                    "list_size": int(self.practices.at[code, "list_size"]),
                    "lat": round(point.y, 6),
                    "lon": round(point.x, 6),
                    "radius": round(3.0 + 1.6 * math.sqrt(self.practices.at[code, "list_size"] / 1000), 1),
                }
            )
        return {
            "ccg": self.ccg,
            "practices": rows,
            "cells": {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"code": code}, "geometry": _rounded(geom)}
                    for code, geom in simple.items()
                ],
            },
            "outline": _rounded(outline_ll),
            "bounds": [list(points.total_bounds[[1, 0]]), list(points.total_bounds[[3, 2]])],
        }


def _rounded(geom: Any) -> dict[str, Any]:
    import shapely

    return json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-5)))


# --------------------------------------------------------------------------------------
# The web app
# --------------------------------------------------------------------------------------


def origins_for(host: str, port: int) -> tuple[frozenset[str], frozenset[str]]:
    """Return the ``Host`` headers and ``Origin`` values a server bound to ``host:port`` accepts.

    A loopback address accepts its loopback names (``127.0.0.1``, ``localhost``,
    ``[::1]``); a wildcard address (``0.0.0.0``, ``::``) those and this computer's host
    names; any other address only its own text.

    Examples
    --------
    >>> hosts, origins = origins_for("127.0.0.1", 8765)
    >>> sorted(hosts)
    ['127.0.0.1:8765', '[::1]:8765', 'localhost:8765']
    >>> "http://localhost:8765" in origins
    True
    """
    loopback = {"127.0.0.1", "localhost", "[::1]"}
    if host in {*loopback, "::1"}:
        names = loopback
    elif host in ("0.0.0.0", "::"):  # every interface: its loopback names and this computer's names
        import socket

        names = loopback | {socket.gethostname(), socket.getfqdn()}
    else:
        names = {f"[{host}]" if ":" in host else host}
    hosts = frozenset(f"{name}:{port}".lower() for name in names)
    return hosts, frozenset(f"http://{h}" for h in hosts)


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class _Guard:
    """ASGI middleware: refuse any request without the token, from a foreign origin or host.

    Also refuses bodies declared larger than ``max_body`` and adds headers that keep the
    page and its token to itself (no caching, no referrer, no framing).
    """

    def __init__(
        self, app: ASGIApp, *, token: str, hosts: frozenset[str], origins: frozenset[str], max_body: int
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.origins = origins
        self.max_body = max_body

    def refusal(self, scope: Mapping[str, Any]) -> tuple[int, str] | None:
        """Return the status and reason to refuse the request with, or ``None`` to let it through."""
        host = (_header(scope, b"host") or "").lower()
        if host not in self.hosts:
            return 403, f"refused: Host {host or '(none)'} is not this server's address"
        origin = _header(scope, b"origin")
        if origin is not None and origin.lower() not in self.origins:
            return 403, f"refused: requests from {origin} may not use this editor"
        site = _header(scope, b"sec-fetch-site")
        if scope.get("path") != "/" and site not in (None, "same-origin", "none"):
            return 403, f"refused: a {site} request may not use this editor"
        if not self._has_token(scope):
            return 403, "refused: the editor's token is missing or wrong (open the URL the editor printed)"
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, f"request body larger than {self.max_body:,} bytes"
        return None

    def _has_token(self, scope: Mapping[str, Any]) -> bool:
        from urllib.parse import parse_qs

        given = _header(scope, b"x-footprint-token")
        auth = _header(scope, b"authorization")
        if given is None and auth is not None and auth.lower().startswith(("token ", "bearer ")):
            given = auth.split(" ", 1)[1].strip()
        if given is None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets
            await send({"type": "websocket.close", "code": 1008})
            return
        refused = self.refusal(scope)
        if refused is not None:
            status, reason = refused
            logger.warning("%s %s: %s", scope.get("method"), scope.get("path"), reason)
            body = json.dumps({"error": reason}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *_SAFE_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_safe(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_SAFE_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_safe)


_SAFE_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]
#: The page loads nothing from anywhere: Leaflet and its data are inlined.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]


async def _read_json(request: Request, max_body: int) -> dict[str, Any]:
    """Return the request's JSON object (``{}`` when the body is empty), read at most ``max_body`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise EditError(f"request body larger than {max_body:,} bytes", 413)
        chunks.append(chunk)
    raw = b"".join(chunks).strip()
    if not raw:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise EditError(f"send the body as application/json (got {kind or 'no content type'})", 415)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EditError(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EditError('the body must be a JSON object, e.g. {"practice": "E82001", "to": "new"}')
    return body


def _refuse(status: int, reason: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": _one_line(reason)}, status_code=status)


async def _answer(
    request: Request, action: Callable[[dict[str, Any]], dict[str, Any]], *, max_body: int
) -> Response:
    """Run ``action`` on the request's body in a worker thread; answer its state, or a one-line refusal."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    try:
        body = await _read_json(request, max_body)
        state = await run_in_threadpool(action, body)
    except EditError as exc:
        return _refuse(exc.status, str(exc))
    except FootprintError as exc:
        return _refuse(409, str(exc))
    except Exception as exc:  # the server must outlive any one request
        logger.exception("request %s failed", request.url.path)
        return _refuse(500, f"internal error: {type(exc).__name__}: {exc}")
    return JSONResponse(state)


def _fields(body: Mapping[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if n not in body]
    if missing:
        raise EditError(f"missing field(s) {', '.join(missing)}: give {', '.join(names)}")
    return [body[n] for n in names]


def _actions(session: EditSession) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """Return the API's POST actions: name to a function of the request body returning the state."""
    return {
        "move": lambda b: session.move(*_fields(b, "practice", "to")),
        "lock": lambda b: session.lock(*_fields(b, "group", "locked")),
        "undo": lambda _b: session.undo(),
        "redo": lambda _b: session.redo(),
        "complete": lambda _b: session.complete(),
        "repair": lambda _b: session.repair(),
        "save": lambda _b: session.save(),
    }


def edit_app(
    session: EditSession,
    *,
    token: str,
    hosts: Iterable[str],
    origins: Iterable[str] = (),
    practices: gpd.GeoDataFrame | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> ASGIApp:
    """Return the editor's web app: the page at ``/`` and the JSON API, behind the token guard.

    Parameters
    ----------
    session
        The session the app edits.
    token
        The secret every request must carry: ``?token=`` in the URL, an
        ``X-Footprint-Token`` header or ``Authorization: token ...``.
    hosts
        ``Host`` header values accepted (``host:port``, see :func:`origins_for`).
    origins
        ``Origin`` values accepted (browsers send one with every POST).
    practices
        The practices with point geometry, for the page's map (default the session's).
    max_body
        Largest request body read, in bytes.

    Returns
    -------
    ASGI application
        A Starlette app behind the guard, with routes ``GET /`` (the page), ``GET /state``
        and ``POST /move``, ``/lock``, ``/undo``, ``/redo``, ``/complete``, ``/repair``,
        ``/save``; each answers the state as JSON, and a refused request a 4xx with
        ``{"error": "<one line>"}``.

    Raises
    ------
    EditError
        If the token is shorter than 16 characters.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    if len(token) < 16:
        msg = "the editor's token must be at least 16 characters"
        raise EditError(msg)
    page_data = session.page_data(practices)
    actions = _actions(session)

    def endpoint(action: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            return await _answer(request, action, max_body=max_body)

        return handle

    async def page(_request: Request) -> Response:
        html = await run_in_threadpool(_page_html, page_data, token)
        return HTMLResponse(html, headers={"content-security-policy": _CSP})

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _refuse(exc.status_code, str(exc.detail))

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/state", endpoint(lambda _b: session.state()), methods=["GET"]),
        *(Route(f"/{name}", endpoint(action), methods=["POST"]) for name, action in actions.items()),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return _Guard(
        app,
        token=token,
        hosts=frozenset(h.lower() for h in hosts),
        origins=frozenset(o.lower().rstrip("/") for o in origins),
        max_body=max_body,
    )


def _page_html(data: Mapping[str, Any], token: str) -> str:
    """Return the editor's page: Leaflet and the data inlined, so it loads nothing else."""
    import jinja2

    from footprint.render.assets import leaflet_sources

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("footprint", "edit_templates"),
        autoescape=jinja2.select_autoescape(["html", "htm"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    sources = leaflet_sources()
    return env.get_template("edit.html").render(
        data=data,
        token=token,
        leaflet_css=sources["leaflet.css"],
        leaflet_js=sources["leaflet.js"].replace("</script", "<\\/script"),
        script=env.get_template("edit.js").render(),
        style=env.get_template("edit.css").render(),
    )


def serve_forever(
    app: Any, sock: Any, *, on_ready: Callable[[], None] | None = None, log_level: str = "warning"
) -> None:
    """Serve ``app`` with uvicorn on an already bound socket until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, lifespan="off", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    if on_ready is not None:
        threading.Thread(target=_when_started, args=(server, on_ready), daemon=True).start()
    server.run(sockets=[sock])


def _when_started(server: Any, then: Callable[[], None], *, wait_s: float = 30.0) -> None:
    deadline = time.monotonic() + wait_s
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if server.started:
        then()
