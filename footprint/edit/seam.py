"""The seam to the solver: what the editor asks of :mod:`footprint.partition`, and its answers.

:class:`Best` is the CCG's least possible number of out-of-band groups and :class:`Verdict`
the stranding verdict on a plan. :class:`Seam` is what a session asks of the solver;
:class:`PartitionSeam` answers it from :mod:`footprint.partition`, looking each function
up when asked, so that a function the package lacks makes that answer unavailable rather
than an error. Tests may hand a session any object with the same methods.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import networkx as nx

from footprint.config import Rules, SolveOptions
from footprint.edit.errors import EditError
from footprint.evaluate import agreed_pieces
from footprint.plan import Plan


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
    ccg
        The CCG planned, where the graph also holds members of its groups in other CCGs
        (default: the graph's one CCG).
    """

    def __init__(
        self,
        graph: nx.Graph,
        *,
        rules: Rules,
        rural: Iterable[str] = (),
        approved: Iterable[str] = (),
        options: SolveOptions | None = None,
        ccg: str | None = None,
    ) -> None:
        self.graph = graph
        self.ccg = ccg or sorted({str(c) for _, c in graph.nodes(data="ccg_code")})[0]
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
            plan = solve(self.graph, **self._common(solve, rules=rules, ccgs=[self.ccg]))
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
