"""Stranding, exactly: which open practices the agreed groups leave with no valid PCN.

Given agreed groups (locked, closed to joiners) and open practices, the model completes a
CCG with the fewest groups out of band and not exempt among the groups it forms (stage 1
of the plan model with the agreed groups locked). A practice is **stranded** when every
such best completion leaves it in a group out of band and not exempt, **at risk** when
some do. The agreed groups **strand** practices when this least number is higher than
the CCG's least number with no group agreed (:attr:`CcgStranding.rise`).

Agreed groups are locked and closed to joiners, so a completion is a grouping of the open
practices alone, each group connected among them: the open practices are split into the
connected pieces they form (a practice over the band stands alone and splits them too), and
each piece is judged on its own model; the least numbers add up, and the agreed groups' own
breaks are counted apart. This is exact, and most pieces are a practice or a few.

Per practice the question is a minimisation (stranded: its indicator is 1 in every best
completion) or a maximisation (at risk: 1 in some) under stage 1 fixed at its optimum;
the work is cut by first finding one completion with the fewest practices in such groups
and testing only its practices (the candidates), a set at a time. The smallest change that
frees the stranded practices lets agreed groups release and admit practices: its model holds
only the agreed groups next to the stranded practices' pieces and the open pieces they touch.
CP-SAT searches it alone at first, then from the first of a few candidate changes (fewest
steps first) that frees them in a warm start.
A computation can be abandoned from another thread (:class:`Cancel`).

This module gives the verdict (one CCG, and the public call); its parts beside it are the
model and the pieces of open practices (``_strand_model``) and the smallest change with
its candidate changes (``_strand_change``). :class:`Cancel`, :class:`Change` and
:func:`least_out_of_band` are imported from here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import networkx as nx

from footprint._pool import imap_unordered, in_process
from footprint.config import Rules, SolveOptions
from footprint.errors import DataError, PlanError
from footprint.partition._instance import Instance, PlanInputs, instances_from_graph, members_of
from footprint.partition._strand_change import Change, _smallest_change
from footprint.partition._strand_model import (
    Cancel,
    _judge_piece,
    _locked_breaks,
    _open_pieces,
    _Piece,
    least_out_of_band,
)
from footprint.partition._strand_proposal import ProposalVerdict, judge_proposal
from footprint.partition.pairs import check_locks
from footprint.partition.stages import StageResult
from footprint.plan import Plan

__all__ = [
    "Cancel",
    "CcgStranding",
    "Change",
    "ProposalVerdict",
    "Stranding",
    "judge_proposal",
    "judged_instances",
    "least_out_of_band",
    "strand_instance",
    "strands",
]

logger = logging.getLogger(__name__)

#: The PCN id a proposal gets in the lock (unless a lock already uses it).
PROPOSAL_ID = "proposal"


@dataclass(frozen=True)
class CcgStranding:
    """Who the agreed groups of one CCG strand, and what frees them."""

    ccg_code: str
    baseline: StageResult
    least: StageResult
    stranded: tuple[str, ...] = ()
    at_risk: tuple[str, ...] = ()
    completion: Mapping[str, str] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    proven: bool = True
    seconds: float = 0.0
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def rise(self) -> int:
        """How many more groups must break the band with the agreed groups than with none."""
        return max(0, round(self.least.value) - round(self.baseline.value))

    @property
    def strands(self) -> bool:
        """Whether the agreed groups strand practices (the least number rises)."""
        return self.rise > 0

    def summary(self) -> str:
        """Return the CCG's stranding verdict in one planner's sentence."""
        proof = "proven" if self.proven and self.baseline.proven and self.least.proven else "not proven"
        head = (
            f"{self.ccg_code}: with the agreed groups at least {self.least.value:.0f} new group(s) "
            f"out of band where {self.baseline.value:.0f} is unavoidable with none agreed ({proof})"
        )
        if not self.stranded and not self.at_risk:
            return f"{head}; no practice stranded or at risk"
        stranded, at_risk = ", ".join(self.stranded) or "none", ", ".join(self.at_risk) or "none"
        return f"{head}; stranded: {stranded}; at risk: {at_risk}"

    def to_dict(self) -> dict:
        """Return the result as plain data for JSON."""
        return {
            "baseline": self.baseline.value,
            "baseline_proven": self.baseline.proven,
            "least": self.least.value,
            "least_proven": self.least.proven,
            "rise": self.rise,
            "proven": self.proven,
            "stranded": list(self.stranded),
            "at_risk": list(self.at_risk),
            "changes": [c.text for c in self.changes],
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Stranding:
    """The stranding verdict of every CCG judged, and one best completion of each."""

    ccgs: Mapping[str, CcgStranding]
    lock: Plan

    @property
    def stranded(self) -> list[str]:
        """Return every stranded practice."""
        return sorted(c for r in self.ccgs.values() for c in r.stranded)

    @property
    def at_risk(self) -> list[str]:
        """Return every practice at risk (but not stranded)."""
        return sorted(c for r in self.ccgs.values() for c in r.at_risk)

    @property
    def completion(self) -> Plan:
        """Return the agreed groups with one best completion of the open practices around them."""
        assignment: dict[str, str | None] = dict(self.lock.assignment)
        for result in self.ccgs.values():
            assignment.update(result.completion)
        return Plan(assignment)

    def findings(self) -> list[tuple[str, str, str, str, str, str]]:
        """Return rows ``(ccg_code, group, practice_code, rule, severity, detail)``.

        A stranded practice is an error (rule ``stranded``), one at risk a warning (``at_risk``).
        """
        rows = []
        for ccg, result in sorted(self.ccgs.items()):
            for code in result.stranded:
                rows.append((ccg, "", code, "stranded", "error", result.details[code]))
            for code in result.at_risk:
                rows.append((ccg, "", code, "at_risk", "warning", result.details[code]))
        return rows


# --------------------------------------------------------------------------------------
# One CCG
# --------------------------------------------------------------------------------------


def _completion_ids(inst: Instance, labels: Sequence[int], agreed: set[int]) -> dict[str, str]:
    """Name the groups formed around the agreed ones ``<CCG>-new-01``, ... (open practices only)."""
    formed = {g: m for g, m in members_of(labels).items() if not set(m) & agreed}
    order = sorted(formed, key=lambda g: min(inst.codes[i] for i in formed[g]))
    ids = {g: f"{inst.ccg}-new-{k + 1:02d}" for k, g in enumerate(order)}
    return {inst.codes[i]: ids[g] for g in order for i in formed[g]}


def _details(
    inst: Instance, labels: Sequence[int], stranded: set[int], at_risk: set[int], result: dict
) -> dict[str, str]:
    groups = members_of(labels)
    base, least = result["baseline"], result["least"]
    if least > base:
        cause = (
            f"the agreed groups raise {inst.ccg}'s least number of new groups out of band from {base:.0f} "
            f"to {least:.0f}"
        )
    else:
        cause = f"even with no group agreed, {base:.0f} group(s) of {inst.ccg} must be out of band"
    details = {}
    for i in sorted(stranded | at_risk):
        size = sum(inst.sizes[j] for j in groups[labels[i]])
        who = f"{inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,})"
        if i in stranded:
            text = (
                f"{who} is stranded: every best completion leaves it in a group out of band "
                f"(in one, {size:,} patients); {cause}"
            )
            if result["changes"]:
                text += "; to free it: " + "; ".join(c.text for c in result["changes"])
        else:
            text = (
                f"{who} is at risk: some best completions leave it in a group out of band "
                f"(in one, {size:,} patients), others do not; {cause}"
            )
        details[inst.codes[i]] = text
    return details


def _completion_labels(inst: Instance, pieces: Sequence[_Piece]) -> list[int]:
    """Return a label per practice: agreed groups whole, the pieces' best completions, the rest alone."""
    labels = list(range(inst.n))
    for group in inst.locked:
        for i in group:
            labels[i] = group[0]
    for piece in pieces:
        for i, g in piece.group_of.items():
            labels[i] = g
    return labels


def strand_instance(
    inst: Instance,
    options: SolveOptions,
    *,
    baseline: StageResult | None = None,
    plain: Instance | None = None,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> CcgStranding:
    """Judge one CCG: the least numbers with and without the agreed groups, who is stranded or at risk.

    ``baseline`` is the CCG's stage-1 result with no group agreed, when already known;
    else it is solved on ``plain`` (the CCG with no group agreed; default ``inst`` unlocked).

    The agreed groups take no joiners, so a completion is a grouping of the open practices
    within the pieces they fall into between the agreed groups: each piece is judged on its
    own (most are a practice or a few) and the least numbers add up. With ``changes`` false
    the smallest change that frees the stranded practices is not sought (``changes`` of the
    result is empty). ``cancel`` abandons the computation (raising :class:`~footprint.errors.CancelledError`).
    """
    start = time.perf_counter()
    cancel = cancel or Cancel()
    if baseline is None:
        plain = plain or replace(inst, locked=[], approved=[], locked_ids=[])
        _, baseline, _ = least_out_of_band(plain, options)
    agreed = {i for group in inst.locked for i in group}
    members = _open_pieces(inst, agreed)
    if not members:
        zero = StageResult("out_of_band", 0.0, 0.0, "OPTIMAL", 0.0)
        return CcgStranding(inst.ccg, baseline, zero, seconds=time.perf_counter() - start)
    pieces = [_judge_piece(inst, piece, options, cancel) for piece in members]
    least = StageResult(
        "out_of_band",
        sum(p.least.value for p in pieces),
        sum(p.least.bound for p in pieces),
        "OPTIMAL" if all(p.least.proven for p in pieces) else "FEASIBLE",
        sum(p.least.seconds for p in pieces),
    )
    stranded = {i for p in pieces for i in p.stranded}
    at_risk = {i for p in pieces for i in p.at_risk}
    labels = _completion_labels(inst, pieces)
    found: tuple[Change, ...] = ()
    if stranded and changes:
        found = _freeing_changes(inst, labels, stranded, least, pieces, options, cancel)
    facts = {"baseline": baseline.value, "least": least.value, "changes": found}
    return CcgStranding(
        ccg_code=inst.ccg,
        baseline=baseline,
        least=least,
        stranded=tuple(sorted(inst.codes[i] for i in stranded)),
        at_risk=tuple(sorted(inst.codes[i] for i in at_risk)),
        completion=_completion_ids(inst, labels, agreed),
        changes=found,
        proven=all(p.proven for p in pieces),
        seconds=time.perf_counter() - start,
        details=_details(inst, labels, stranded, at_risk, facts),
    )


def _freeing_changes(
    inst: Instance,
    labels: Sequence[int],
    stranded: set[int],
    least: StageResult,
    pieces: Sequence[_Piece] | None,
    options: SolveOptions,
    cancel: Cancel | None,
) -> tuple[Change, ...]:
    """Return the smallest change that frees ``stranded``, or a commissioner's exception for each."""
    total = round(least.value) + _locked_breaks(inst)
    found = _smallest_change(inst, stranded, total, options, labels=labels, pieces=pieces, cancel=cancel)
    if found is not None:
        return found
    groups = members_of(labels)
    return tuple(
        Change(
            "exception",
            "",
            inst.codes[s],
            f"no agreed group can release or take in practices to free {inst.codes[s]}: only a "
            f"commissioner's exception would (approve its group of "
            f"{sum(inst.sizes[j] for j in groups[labels[s]]):,} patients)",
        )
        for s in sorted(stranded)
    )


def _job(
    item: tuple[Instance, StageResult | None, Instance],
    *,
    options: SolveOptions,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> CcgStranding:
    inst, baseline, plain = item
    return strand_instance(inst, options, baseline=baseline, plain=plain, changes=changes, cancel=cancel)


# --------------------------------------------------------------------------------------
# The public call
# --------------------------------------------------------------------------------------


def _with_proposal(
    graph: nx.Graph, proposal: Iterable[str], lock: Plan | None, allow_cross: Mapping[str, str]
) -> tuple[Plan, str]:
    """Return the lock with the proposal as one more agreed group, and the proposal's CCG."""
    codes = sorted({c.strip().upper() for c in proposal if c.strip()})
    if not codes:
        msg = "the proposal names no practice: give the practice codes of the proposed PCN"
        raise DataError(msg)
    unknown = [c for c in codes if c not in graph]
    if unknown:
        msg = f"the proposal names practice(s) not in the practices file: {', '.join(unknown[:10])}"
        raise DataError(msg)
    home = {c: allow_cross.get(c, graph.nodes[c]["ccg_code"]) for c in codes}
    ccgs = sorted(set(home.values()))
    if len(ccgs) > 1:
        where = ", ".join(f"{c} ({home[c]})" for c in codes)
        msg = f"the proposed PCN spans CCGs {', '.join(ccgs)}: {where}; a PCN may not cross its CCG"
        raise PlanError(msg)
    parts = sorted(nx.connected_components(graph.subgraph(codes)), key=lambda p: sorted(p))
    if len(parts) > 1:
        pieces = "; ".join(", ".join(sorted(p)) for p in parts)
        msg = (
            f"the proposal is not one connected group: its practices fall into {len(parts)} pieces "
            f"({pieces}); a PCN's practices must be neighbours: add the practices between them, "
            "or propose each piece on its own"
        )
        raise PlanError(msg)
    assignment = dict(lock.assignment) if lock is not None else {}
    taken = set(assignment.values())
    pcn = PROPOSAL_ID if PROPOSAL_ID not in taken else "proposed PCN"
    assignment.update(dict.fromkeys(codes, pcn))
    return Plan(assignment), ccgs[0]


def judged_instances(graph: nx.Graph, rules: Rules, inputs: PlanInputs) -> list[tuple[Instance, Instance]]:
    """Return per CCG the instance :func:`strands` judges (agreed groups locked) and the CCG with none agreed.

    Raises
    ------
    PlanError
        If a lock cannot be honoured (names the group and why).
    """
    pairs = []
    for inst in instances_from_graph(graph, rules, inputs):
        plain = replace(inst, locked=[], approved=[], locked_ids=[])
        # An agreed group may hold a practice over the band: the agreement governs, not the rule.
        agreed = {i for group in inst.locked for i in group}
        judged = replace(inst, big=[big and i not in agreed for i, big in enumerate(inst.big)])
        check_locks(judged)
        pairs.append((judged, plain))
    return pairs


def strands(  # noqa: PLR0913 - the public keyword-only options, as solve_plan's
    graph: nx.Graph,
    *,
    lock: Plan | None = None,
    proposal: Iterable[str] | None = None,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    rural: Iterable[str] = (),
    allow_cross: Mapping[str, str] | None = None,
    ccgs: Sequence[str] | None = None,
    approved: Iterable[str] = (),
    baselines: Mapping[str, StageResult] | None = None,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> Stranding:
    """Return who the agreed groups strand: per CCG, the least numbers, stranded and at-risk practices.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`.
    lock
        Agreed groups (every practice with a PCN id keeps exactly that group, closed to
        joiners); the practices of the CCGs judged that it leaves without a group are open.
    proposal
        Codes of practices proposed as one PCN: "if these form a PCN and every other
        practice of the CCG is open (or as in ``lock``), who is stranded?" Only the
        proposal's CCG is judged.
    rules, options, rural, allow_cross, approved
        As for :func:`footprint.partition.solve_plan`.
    ccgs
        Only judge these CCGs (default: every CCG in the graph).
    baselines
        Each CCG's stage-1 result with no group agreed, when already known (e.g. from an
        earlier call's ``ccgs[code].baseline``): saves a solve per CCG.
    changes
        Whether to seek the smallest change of the agreed groups that frees the stranded
        practices (:attr:`CcgStranding.changes`); without it the verdict comes sooner.
    cancel
        Abandons the computation when set from another thread (then :class:`~footprint.errors.CancelledError`
        is raised); honoured when the CCGs are judged in this process (``processes=1`` or
        one CCG).

    Returns
    -------
    Stranding
        Per CCG a :class:`CcgStranding`; ``completion`` gives one best completion.

    Raises
    ------
    DataError
        If the proposal is empty or names unknown practices.
    PlanError
        If the proposal spans CCGs, or a lock cannot be honoured (names the group and why).
    CancelledError
        If ``cancel`` was set.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> graph = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> proposal = ["P81058", "P81125", "P81683", "P81694"]  # four neighbours of Blackburn, 32,523
    >>> report = strands(graph, proposal=proposal, options=SolveOptions(processes=1))
    >>> report.ccgs["00Q"].stranded
    ()
    """
    rules = rules or Rules()
    options = options or SolveOptions()
    allow_cross = dict(allow_cross or {})
    if proposal is not None:
        lock, ccg = _with_proposal(graph, proposal, lock, allow_cross)
        ccgs = [ccg]
    lock = lock or Plan({})
    inputs = PlanInputs(
        rural=frozenset(rural), lock=lock, allow_cross=allow_cross, ccgs=ccgs, approved=frozenset(approved)
    )
    items = [
        (inst, (baselines or {}).get(inst.ccg), plain)
        for inst, plain in judged_instances(graph, rules, inputs)
    ]
    items.sort(key=lambda item: -item[0].n)
    if options.processes == 1 or len(items) == 1:
        job = partial(_job, options=options, changes=changes, cancel=cancel)
        results = list(in_process(job, items))
    else:
        job = partial(_job, options=options, changes=changes)
        results = list(imap_unordered(job, items, processes=options.processes))
    return Stranding({r.ccg_code: r for r in sorted(results, key=lambda r: r.ccg_code)}, lock)
