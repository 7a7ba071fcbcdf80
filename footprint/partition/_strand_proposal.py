"""A proposed PCN judged about itself: its total, band, connectedness, the PCNs it touches, who it strands.

:func:`judge_proposal` answers "if these practices form a PCN and every other practice of
its CCG is open (or as agreed), is it valid, and who does it strand?" with figures about
the proposal only: no other group's findings. A proposal across a CCG line or in pieces
is not valid and is not judged for stranding (no agreed group can be made of it); one out
of band is judged, and is not valid unless exempt. The smallest change that frees the
stranded practices keeps the proposal valid where it is (see ``_strand_change``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx

from footprint.config import GroupStatus, Rules, SolveOptions
from footprint.errors import DataError
from footprint.graph import WITHIN_CCG
from footprint.partition._strand_model import Cancel
from footprint.partition.stages import StageResult
from footprint.places import display_name
from footprint.plan import Plan

if TYPE_CHECKING:
    from footprint.partition.strand import CcgStranding

__all__ = ["ProposalVerdict", "Touched", "judge_proposal"]


@dataclass(frozen=True)
class Touched:
    """An existing PCN a proposal takes practices from, and what it leaves of it."""

    pcn: str
    taken: tuple[str, ...]
    practices: int
    patients: int
    left_practices: int
    left_patients: int
    left_status: str

    def text(self, name: str = "") -> str:
        """Return the PCN and what the proposal takes and leaves, in one line."""
        named = f" ({name})" if name else ""
        taken = f"{', '.join(self.taken)} ({len(self.taken)} of {self.practices} practices)"
        if not self.left_practices:
            return f"takes all of {self.pcn}{named}: {taken}, {self.patients:,} patients"
        left = {"in_band": "in band", "below": "below the floor", "above": "above the ceiling"}.get(
            self.left_status, self.left_status.replace("_", " ")
        )
        return (
            f"takes from {self.pcn}{named} {taken}; leaves {self.left_patients:,} patients in "
            f"{self.left_practices} practice(s) ({left})"
        )


@dataclass(frozen=True)
class ProposalVerdict:
    """What a proposed PCN is, and who it strands (see :func:`judge_proposal`).

    ``errors`` are the rules it breaks (``below``, ``contiguity``, ``ccg``), each with a
    detail; ``warnings`` those it strains (``above``). ``stranding`` is the verdict of its
    CCG (``None`` when it cannot be judged: the proposal spans CCGs or is in pieces).
    """

    codes: tuple[str, ...]
    names: Mapping[str, str]
    sizes: Mapping[str, int]
    ccgs: tuple[str, ...]
    patients: int
    status: GroupStatus
    band: str
    pieces: tuple[tuple[str, ...], ...]
    touched: tuple[Touched, ...] = ()
    stranding: CcgStranding | None = None
    errors: tuple[tuple[str, str], ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()

    @property
    def valid(self) -> bool:
        """Whether the proposal breaks no rule (in band or exempt, connected, in one CCG)."""
        return not self.errors

    @property
    def stranded(self) -> tuple[str, ...]:
        """Return the practices the proposal strands (none where not judged)."""
        return () if self.stranding is None else self.stranding.stranded

    @property
    def ok(self) -> bool:
        """Whether the proposal is valid and strands no one."""
        return self.valid and self.stranding is not None and not self.stranded

    def lines(self, pcn_names: Mapping[str, str] | None = None) -> list[str]:
        """Return the verdict in planners' words, one line each: the proposal and the PCNs it touches only."""
        pcn_names = pcn_names or {}
        who = ", ".join(
            f"{display_name(self.names.get(c, '')) or c} ({c}, {self.sizes[c]:,})" for c in self.codes
        )
        where = " and ".join(self.ccgs)
        out = [f"proposal: {len(self.codes)} practice(s), {self.patients:,} patients in {where}: {who}"]
        out.append(f"  band: {self.band}")
        if len(self.pieces) == 1:
            out.append("  connected: yes, one group of neighbouring practices")
        else:
            parts = "; ".join(", ".join(p) for p in self.pieces)
            out.append(f"  connected: no, {len(self.pieces)} pieces ({parts})")
        if len(self.ccgs) > 1:
            out.append(f"  CCG: crosses {', '.join(self.ccgs)} (a PCN stays within its CCG)")
        out += [f"  {t.text(pcn_names.get(t.pcn, ''))}" for t in self.touched]
        result = self.stranding
        if result is None:
            out.append("  stranding: not judged (the proposal is not one group within one CCG)")
        elif not self.stranded:
            risk = f"; at risk: {', '.join(result.at_risk)}" if result.at_risk else ""
            out.append(f"  stranding: no one stranded{risk}")
        else:
            out.append(f"  stranding: {len(self.stranded)} stranded: {', '.join(self.stranded)}")
            out += [f"    {result.details.get(code, code)}" for code in self.stranded]
            changes = [c.text for c in result.changes]
            if changes:
                out.append(
                    "  the smallest change that frees them and keeps the proposal valid: "
                    + "; ".join(changes)
                )
        for rule, detail in self.warnings:
            out.append(f"  warning ({rule}): {detail}")
        if self.ok:
            out.append("verdict: valid, and strands no one")
        else:
            why = [detail for _, detail in self.errors]
            if self.stranded:
                why.append(f"strands {len(self.stranded)} practice(s)")
            elif result is None and not why:
                why.append("stranding not judged")
            out.append(f"verdict: {'not valid' if self.errors else 'valid'}; " + "; ".join(why))
        return out

    def to_dict(self) -> dict:
        """Return the verdict as plain data for JSON."""
        result = self.stranding
        return {
            "practices": list(self.codes),
            "ccgs": list(self.ccgs),
            "patients": self.patients,
            "status": self.status,
            "band": self.band,
            "connected": len(self.pieces) == 1,
            "pieces": [list(p) for p in self.pieces],
            "valid": self.valid,
            "strands": bool(self.stranded),
            "ok": self.ok,
            "errors": [{"rule": r, "detail": d} for r, d in self.errors],
            "warnings": [{"rule": r, "detail": d} for r, d in self.warnings],
            "touched": [
                {
                    "pcn": t.pcn,
                    "taken": list(t.taken),
                    "practices": t.practices,
                    "patients": t.patients,
                    "left_practices": t.left_practices,
                    "left_patients": t.left_patients,
                    "left_status": t.left_status,
                }
                for t in self.touched
            ],
            "stranding": None if result is None else result.to_dict(),
        }


def _codes(graph: nx.Graph, proposal: Iterable[str]) -> tuple[str, ...]:
    codes = tuple(sorted({c.strip().upper() for c in proposal if c.strip()}))
    if not codes:
        msg = "the proposal names no practice: give the practice codes of the proposed PCN"
        raise DataError(msg)
    unknown = [c for c in codes if c not in graph]
    if unknown:
        msg = f"the proposal names practice(s) not in the practices file: {', '.join(unknown[:10])}"
        raise DataError(msg)
    return codes


def _touched(graph: nx.Graph, codes: tuple[str, ...], current: Plan, rules: Rules) -> tuple[Touched, ...]:
    """Return the existing PCNs the proposal takes practices from, and what each is left with."""
    chosen = set(codes)
    out = []
    for pcn, members in current.groups.items():
        taken = sorted(members & chosen)
        if not taken:
            continue
        inside = sorted(m for m in members if m in graph)
        left = [m for m in inside if m not in chosen]
        total = int(sum(graph.nodes[m]["list_size"] for m in inside))
        rest = int(sum(graph.nodes[m]["list_size"] for m in left))
        status = rules.group_status(rest, practices=len(left), rural=False) if left else "in_band"
        out.append(Touched(pcn, tuple(taken), len(inside), total, len(left), rest, status))
    return tuple(out)


def judge_proposal(  # noqa: PLR0913 - the public keyword-only options, as strands'
    graph: nx.Graph,
    proposal: Iterable[str],
    *,
    current: Plan | None = None,
    lock: Plan | None = None,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    rural: Iterable[str] = (),
    allow_cross: Mapping[str, str] | None = None,
    approved: Iterable[str] = (),
    baselines: Mapping[str, StageResult] | None = None,
    changes: bool = True,
    cancel: Cancel | None = None,
) -> ProposalVerdict:
    """Return what a proposed PCN is (total, band, connectedness, PCNs it touches) and who it strands.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`: the proposal's CCG whole.
    proposal
        Codes of the practices proposed as one PCN.
    current
        The existing PCNs, to say which the proposal takes practices from (optional).
    lock, rules, options, rural, allow_cross, approved, baselines, changes, cancel
        As for :func:`footprint.partition.strands`.

    Returns
    -------
    ProposalVerdict
        Valid when in band (or exempt), connected and in one CCG; ``ok`` when valid and no
        practice is stranded.

    Raises
    ------
    DataError
        If the proposal is empty or names practices not in ``graph``.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> graph = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> proposal = ["P81058", "P81125", "P81683", "P81694"]
    >>> verdict = judge_proposal(graph, proposal, options=SolveOptions(processes=1))
    >>> verdict.ok, verdict.patients
    (True, 32523)
    """
    from footprint.partition.strand import strands  # it imports this module's neighbours

    rules = rules or Rules()
    allow_cross = dict(allow_cross or {})
    codes = _codes(graph, proposal)
    home = {c: allow_cross.get(c, graph.nodes[c]["ccg_code"]) for c in codes}
    ccgs = tuple(sorted(set(home.values())))
    total = int(sum(graph.nodes[c]["list_size"] for c in codes))
    flagged = set(rural)
    is_rural = all(rules.is_rural(home[c], flagged=c in flagged) for c in codes)
    status = rules.group_status(total, practices=len(codes), rural=is_rural)
    sub = nx.Graph()
    sub.add_nodes_from(codes)
    sub.add_edges_from(
        (a, b)
        for a, b, kind in graph.subgraph(codes).edges(data="type")
        if kind in WITHIN_CCG or a in allow_cross or b in allow_cross
    )
    pieces = tuple(sorted(tuple(sorted(p)) for p in nx.connected_components(sub)))
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    band = rules.describe(total, status)
    if status == "below":
        errors.append(("below", f"below the floor of {rules.band.low:,} ({rules.band.low - total:,} short)"))
    elif status == "above":
        warnings.append(("above", f"above the ceiling of {rules.band.high:,} by {total - rules.band.high:,}"))
    if len(pieces) > 1:
        errors.append(("contiguity", f"not connected: {len(pieces)} pieces"))
    if len(ccgs) > 1:
        errors.append(("ccg", f"crosses CCGs {', '.join(ccgs)}"))
    result = None
    if len(pieces) == 1 and len(ccgs) == 1:
        report = strands(
            graph,
            lock=lock,
            proposal=codes,
            rules=rules,
            options=options,
            rural=rural,
            allow_cross=allow_cross,
            approved=approved,
            baselines=baselines,
            changes=changes,
            cancel=cancel,
        )
        result = report.ccgs.get(ccgs[0])
    return ProposalVerdict(
        codes=codes,
        names={c: display_name(str(graph.nodes[c].get("practice_name", ""))) for c in codes},
        sizes={c: int(graph.nodes[c]["list_size"]) for c in codes},
        ccgs=ccgs,
        patients=total,
        status=status,
        band=band,
        pieces=pieces,
        touched=_touched(graph, codes, current, rules) if current is not None else (),
        stranding=result,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )
