"""The editing session: one CCG's plan, changed practice by practice, with undo and redo.

:class:`EditSession` holds the plan being edited and its locked (agreed) groups. Each
change (a move, a lock, undo, redo, completing or repairing the plan) returns the new
state. What the session delegates lives beside it: the undo and redo snapshots in
:mod:`~footprint.edit.history`, the stranding verdict's worker thread and cache in
:mod:`~footprint.edit.verdicts`, the solver in :mod:`~footprint.edit.seam` and what the
page shows in :mod:`~footprint.edit.state`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd

from footprint._io import atomic_write
from footprint.config import Rules
from footprint.edit.errors import EditError
from footprint.edit.history import History, Snapshot
from footprint.edit.moves import moves_between
from footprint.edit.seam import Best, PartitionSeam, Seam, Verdict
from footprint.edit.state import compute_page_data, compute_state, recolour
from footprint.edit.verdicts import Verdicts
from footprint.errors import FootprintError
from footprint.evaluate import FINDING_COLUMNS, plan_findings
from footprint.graph import WITHIN_CCG
from footprint.places import group_names
from footprint.plan import Plan, group_areas, match_groups, write_plan

if TYPE_CHECKING:
    import geopandas as gpd

logger = logging.getLogger(__name__)

#: Targets of a move besides a neighbouring group's id.
NEW, OPEN = "new", "open"


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
    ccg
        The CCG edited, where ``graph`` also holds practices of other CCGs: the members of
        its groups that cross the CCG line (:attr:`outside`). They count in every figure of
        their group, stay where they are and cannot be moved; the solver plans ``ccg`` alone.
        ``None``: the graph holds one CCG, the one edited.

    Raises
    ------
    EditError
        If the graph holds practices of more than one CCG (without ``ccg``, or outside its
        groups), or practices not in ``practices``.

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

    def __init__(  # noqa: PLR0913 - the public keyword-only options of a session
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
        ccg: str | None = None,
    ) -> None:
        ccgs = sorted({str(c) for _, c in graph.nodes(data="ccg_code")})
        if ccg is None and len(ccgs) != 1:
            msg = f"the editor edits one CCG at a time; the graph holds {len(ccgs)}: {', '.join(ccgs[:8])}"
            raise EditError(msg)
        unknown = sorted(set(graph) - set(practices.index))
        if unknown:
            msg = f"practice(s) {', '.join(unknown[:10])} of the graph are not in the practices table"
            raise EditError(msg)
        self.ccg = ccgs[0] if ccg is None else ccg
        #: Practices of other CCGs in the CCG's groups: counted whole, never moved.
        self.outside = frozenset(c for c, home in graph.nodes(data="ccg_code") if str(home) != self.ccg)
        _check_outside(self.ccg, self.outside, plan)
        self.graph = graph
        self.practices = practices.loc[sorted(graph.nodes)]
        self.rules = rules or Rules()
        self.approved = frozenset(approved)
        rural_flags = self.practices["rural"] if "rural" in self.practices else pd.Series(dtype=bool)
        self.rural = frozenset(rural_flags.index[rural_flags.fillna(False).astype(bool)])
        self.out = out
        self.seam: Seam = seam or PartitionSeam(
            graph, rules=self.rules, rural=self.rural, approved=self.approved, ccg=self.ccg
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
        #: The changes that can be undone, and those undone that can be redone.
        self.history = History()
        self._version = 0
        self._saved: dict[str, Any] | None = None
        self._best: Best | None = None
        #: Seconds :meth:`state` waits for the stranding verdict before answering without it
        #: (``None``: until it is known). The web app waits briefly and the page asks again.
        self.verdict_wait_s: float | None = None
        self._verdicts = Verdicts(self.seam)
        self._state_cache: tuple[int, dict[str, Any]] | None = None
        self._mutex = threading.RLock()
        self._neighbours = {
            code: sorted(
                n for n in graph.neighbors(code) if graph.edges[code, n].get("type", "rook") in WITHIN_CCG
            )
            for code in graph.nodes
        }
        self._colours = recolour(graph, self._assignment, {})
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

    @property
    def version(self) -> int:
        """How many changes have been applied (undo and redo count as changes)."""
        return self._version

    @property
    def colours(self) -> Mapping[str, str]:
        """Each group's colour on the page: neighbours differ, and a group keeps its colour while it can."""
        return self._colours

    @property
    def saved(self) -> dict[str, Any] | None:
        """The files :meth:`save` last wrote (``plan``, ``moves``) and the :attr:`version` saved, if any."""
        return self._saved

    @property
    def best(self) -> Best | None:
        """The CCG's least out-of-band count, once :meth:`prepare` has worked it out."""
        return self._best

    def choices(self, practice: str) -> list[str]:
        """Return the groups ``practice`` may join: its neighbours' groups, unlocked, not its own."""
        if practice in self.outside:
            return []
        own = self._assignment.get(practice)
        found = {self._assignment[n] for n in self._neighbours.get(practice, ())}
        return sorted(g for g in found if g is not None and g != own and g not in self._locked)

    def _check_practice(self, practice: object) -> str:
        if not isinstance(practice, str) or not practice.strip():
            raise EditError('practice must be a practice code (text), e.g. {"practice": "E82001"}')
        code = practice.strip().upper()
        if code in self.outside:
            home, group = self.practices.at[code, "ccg_code"], self._assignment[code]
            msg = (
                f"{code} is in CCG {home}, outside CCG {self.ccg}: it stays in {group}, counted in its "
                f"figures; edit {home} to move it"
            )
            raise EditError(msg, 409)
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
        used |= self.history.group_ids()
        while True:
            self._fresh += 1
            pcn = f"{self.ccg}-new{self._fresh}"
            if pcn not in used:
                return pcn

    def _change(self, label: str, assignment: Mapping[str, str | None], locked: frozenset[str]) -> None:
        """Record the current plan for undo, then apply the change."""
        self.history.record(self._assignment, self._locked, label)
        self._apply(assignment, locked)

    def _apply(self, assignment: Mapping[str, str | None], locked: frozenset[str]) -> None:
        self._assignment = dict(assignment)
        self._locked = locked
        self._version += 1
        self._colours = recolour(self.graph, self._assignment, self._colours)

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
        return self._restore(self.history.undo)

    def redo(self) -> dict[str, Any]:
        """Redo the last change undone.

        Raises
        ------
        EditError
            If there is nothing to redo (409).
        """
        return self._restore(self.history.redo)

    def _restore(
        self, step: Callable[[Mapping[str, str | None], frozenset[str]], Snapshot]
    ) -> dict[str, Any]:
        """Go back or forth to the plan ``step`` (undo or redo) returns, given the plan as it stands."""
        with self._mutex:
            snapshot = step(self._assignment, self._locked)
            self._apply(snapshot.assignment, snapshot.locked)
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
            code: self._assignment[code]
            if code in self.outside  # the solver plans the CCG alone
            else (names[p] if (p := result.assignment.get(code)) is not None else None)
            for code in self._assignment
        }

    # -- saving -----------------------------------------------------------------------

    def unsaved(self) -> int | None:
        """Return how many practices stand moved from the start, unsaved (``None``: nothing unsaved).

        Reads no verdict: safe to call as the editor stops.
        """
        with self._mutex:
            saved = self._saved
            if self._version == 0 or (saved is not None and saved["version"] == self._version):
                return None
            moved = len(self.moves())
            return None if saved is None and not moved else moved

    def close(self, *, wait_s: float = 5.0) -> bool:
        """Stop judging: abandon the verdict under way and stop its thread (see :meth:`Verdicts.close`).

        Returns whether the thread has stopped within ``wait_s`` seconds.
        """
        return self._verdicts.close(wait_s=wait_s)

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
            names = group_names(self.plan, self.practices)  # as plan.csv and the maps name them
            plan_path = write_plan(
                self.plan, self.out / "plan.csv", self.practices, names=names, new=names.new
            )
            moves_path = self.out / "moves.csv"
            with atomic_write(moves_path) as fh:
                self.moves(names=names).to_csv(fh, index=False, lineterminator="\n")
            self._saved = {"plan": str(plan_path), "moves": str(moves_path), "version": self._version}
            self._state_cache = None
            logger.info("saved %s and %s", plan_path, moves_path)
            return self.state()

    def moves(self, *, names: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Return the practices moved since the start (see :func:`moves_between`; ``names`` of groups)."""
        return moves_between(self.start, self.plan, self.practices, names=names)

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
        timeout = self.verdict_wait_s if isinstance(wait_s, EllipsisType) else wait_s
        return self._verdicts.verdict(self.plan, self._locked, wait_s=timeout)

    # -- the page ---------------------------------------------------------------------

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
            state = compute_state(self)
            state["seconds"] = round(time.perf_counter() - started, 4)
            if not state["stranding"]["pending"]:  # nor its second part still to come
                self._state_cache = (self._version, state)
            return state

    def page_data(self, practices: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
        """Return what the page draws once: practices (lon/lat, size, name), their cells and the outline.

        ``practices`` gives positions when the session's table has no geometry.
        """
        return compute_page_data(self, practices)


def _check_outside(ccg: str, outside: frozenset[str], plan: Plan) -> None:
    """Refuse practices of other CCGs that are not members of a group with a member in ``ccg``."""
    inside = {p for c, p in plan.assignment.items() if c not in outside and p is not None}
    stray = sorted(c for c in outside if plan.assignment.get(c) not in inside)
    if stray:
        msg = (
            f"practice(s) {', '.join(stray[:10])} are not in CCG {ccg} nor in one of its groups: "
            "give the graph of the CCG and of its groups' members only"
        )
        raise EditError(msg)
