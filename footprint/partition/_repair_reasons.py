"""Why a repair moves each practice, and why a group it leaves out of band cannot be mended.

Reasons name the real cause, with figures that agree with the plans: a practice cut off
from its group ("not connected: 4.6 km from the nearest member of U18195"), a group across
a CCG line ("U41591 crossed into 15N"), a group below the floor (its total), a group that
needed the practice to reach the band (its totals before and after), a pair kept together
(or the practices between its two, on the way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from footprint.config import Rules
from footprint.graph import WITHIN_CCG
from footprint.partition._instance import Instance, members_of
from footprint.partition._repair_start import RepairRules
from footprint.places import display_name
from footprint.plan import Plan, match_groups

__all__ = ["MOVES_COLUMNS", "continuations", "repair_moves", "unrepairable_reasons"]

#: Columns of :func:`repair_moves`, in order.
MOVES_COLUMNS = ["practice_code", "name", "from", "to", "to_name", "patients", "reason"]


# --------------------------------------------------------------------------------------
# Why each practice moves
# --------------------------------------------------------------------------------------


class _Groups:
    """Figures of one plan's groups on the graph: totals, CCGs, connected parts (whole groups)."""

    def __init__(self, plan: Plan, graph: nx.Graph, rules: Rules) -> None:
        self.graph, self.rules = graph, rules
        self.members = {g: sorted(m for m in members if m in graph) for g, members in plan.groups.items()}
        self.total = {g: int(sum(graph.nodes[c]["list_size"] for c in m)) for g, m in self.members.items()}

    def status(self, group: str) -> str:
        members = self.members.get(group, [])
        return self.rules.group_status(self.total.get(group, 0), practices=len(members), rural=False)

    def parts(self, group: str) -> list[set[str]]:
        """Return the group's pieces, connected by within-CCG edges (a CCG line cuts them too)."""
        members = self.members[group]
        sub = nx.Graph()
        sub.add_nodes_from(members)
        sub.add_edges_from(
            (a, b) for a, b, kind in self.graph.subgraph(members).edges(data="type") if kind in WITHIN_CCG
        )
        return [set(p) for p in nx.connected_components(sub)]


def continuations(before: Plan, after: Plan) -> dict[str, str]:
    """Return each group of ``after`` to the group of ``before`` it continues.

    A group that keeps an id of ``before`` continues that group (the one rule for plan ids
    named it so); the others as the transfer distance matches them (:func:`match_groups`).
    Where groups tie, the ids decide, so a practice is never moved "from U10555 to U10555".

    Examples
    --------
    >>> before = Plan({"A": "u", "B": "u", "C": "u", "D": "u"})
    >>> continuations(before, Plan({"A": "u", "B": "u", "C": "x", "D": "x"}))
    {'u': 'u'}
    """
    matched = match_groups(before, after)
    kept = set(before.groups) & set(after.groups)
    out = {new: old for new, old in matched.items() if new not in kept and old not in kept}
    out.update({pcn: pcn for pcn in kept})
    return out


def _km(graph: nx.Graph, a: str, b: str) -> float:
    na, nb = graph.nodes[a], graph.nodes[b]
    return float(np.hypot(na["x"] - nb["x"], na["y"] - nb["y"]) / 1000)


def _reason(
    code: str,
    old: str,
    new: str,
    was: _Groups,
    now: _Groups,
    stays: Mapping[str, set[str]],
    continued: Mapping[str, str],
    partners: Mapping[str, list[str]],
) -> str:
    """Return why ``code`` moved from ``old`` to ``new``, in planners' words."""
    graph, rules = was.graph, was.rules
    ccg_of = {c: graph.nodes[c]["ccg_code"] for c in was.members[old]}
    mine = ccg_of[code]
    kept = stays.get(old, set())
    parts = was.parts(old)
    own = next(p for p in parts if code in p)
    main = max(parts, key=lambda p: (len(p & kept), len(p), sorted(p)))
    if own is not main:
        rest = ccg_of[next(iter(main))]
        if rest != mine:
            return f"{old} crossed into {rest}: a PCN stays within its CCG"
        gap = min(_km(graph, a, b) for a in own for b in main)
        return f"not connected: {gap:.1f} km from the nearest member of {old}"
    into = continued.get(new)
    if into is not None and was.status(into) == "below" and now.status(new) == "in_band":
        named = new if into == new else f"{new} (continuing {into})"
        return f"{named} needed it to reach the band ({was.total[into]:,} → {now.total[new]:,} patients)"
    together = [p for p in partners.get(code, []) if p in now.members.get(new, [])]
    if together:
        return f"kept together with {', '.join(together)}"
    members = set(now.members.get(new, []))
    joined = sorted((a, b) for a in members for b in partners.get(a, []) if a < b and b in members)
    inside = graph.subgraph(members)
    for a, b in joined:
        if nx.has_path(inside, a, b) and code in nx.shortest_path(inside, a, b):
            return f"on the way between {a} and {b}, kept together in {new} ({now.total[new]:,} patients now)"
    status = was.status(old)
    if status == "below":
        return f"{old} was below the floor of {rules.band.low:,} ({was.total[old]:,} patients)"
    size = int(graph.nodes[code]["list_size"])
    if now.status(new) == "in_band" and now.total[new] - size < rules.band.low:
        # Without the practice the group would lie below the floor.
        verb = "stay in" if into is not None and was.status(into) == "in_band" else "reach"
        return f"{new} needed it to {verb} the band ({now.total[new] - size:,} → {now.total[new]:,} patients)"
    if status == "above":
        return f"{old} was above the ceiling of {rules.band.high:,} ({was.total[old]:,} patients)"
    home = next((n for n, o in continued.items() if o == old), None)
    taken = [c for c in now.members.get(home, []) if c not in was.members[old]] if home is not None else []
    if home is not None and taken:
        who = ", ".join(taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        return (
            f"made room in {home} for {who} ({was.total[old]:,} → {now.total[home]:,} patients); "
            f"{new} has {now.total[new]:,} patients now"
        )
    return f"moved to {new} ({now.total[new]:,} patients now) in the repair of its neighbours"


def repair_moves(
    before: Plan,
    after: Plan,
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    names: Mapping[str, str] | None = None,
    together: Sequence[tuple[str, str]] = (),
) -> pd.DataFrame:
    """Return the practices a repair moves or places: practice, name, from, to, to_name, patients, reason.

    A practice moves when its group in ``after`` does not continue its group in ``before``
    (the transfer distance) and the two ids differ (a group that keeps its id continues);
    an open practice of ``before`` given a group is placed (``from`` blank). ``to_name`` is
    the destination's name in ``names`` (e.g. :func:`footprint.places.group_names`), else
    blank. ``reason`` names the cause, with the figures of both plans (groups whole):
    ``not connected: 4.6 km from the nearest member of U18195``, ``U41591 crossed into
    15N: ...``, ``U00351 was below the floor of 30,000 (29,595 patients)``, ``U82305
    needed it to reach the band (27,590 → 33,412 patients)``, ``kept together with ...``,
    ``on the way between L82017 and L82059, kept together in ...``.

    Examples
    --------
    >>> g = nx.Graph()
    >>> g.add_nodes_from(["A", "B", "C"], ccg_code="X", list_size=20_000, x=0.0, y=0.0)
    >>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    >>> moves = repair_moves(Plan({"A": "p", "B": "q", "C": "q"}), Plan({"A": "q", "B": "q", "C": "r"}), g)
    >>> moves[["practice_code", "from", "to"]].values.tolist()
    [['A', 'p', 'q'], ['C', 'q', 'r']]
    """
    rules = rules or Rules()
    names = names or {}
    was, now = _Groups(before, graph, rules), _Groups(after, graph, rules)
    continued = continuations(before, after)
    moved = {
        code: (str(old), str(new))
        for code, new in after.assignment.items()
        if new is not None
        and code in graph
        and (old := before.assignment.get(code)) is not None
        and continued.get(new) != old
    }
    stays: dict[str, set[str]] = {}
    for code, old in before.assignment.items():
        if old is not None and code not in moved and after.assignment.get(code) is not None:
            stays.setdefault(old, set()).add(code)
    partners: dict[str, list[str]] = {}
    for a, b in together:
        partners.setdefault(a.upper(), []).append(b.upper())
        partners.setdefault(b.upper(), []).append(a.upper())
    rows = [
        (code, old, new, _reason(code, old, new, was, now, stays, continued, partners))
        for code, (old, new) in sorted(moved.items())
    ]
    for code in before.open_practices:
        placed = after.assignment.get(code)
        if placed is not None and code in graph:
            rows.append(
                (code, "", placed, f"open practice placed in {placed} ({now.total[placed]:,} patients now)")
            )
    frame = pd.DataFrame(rows, columns=["practice_code", "from", "to", "reason"])
    names_of = {c: display_name(str(graph.nodes[c].get("practice_name", ""))) for c in frame["practice_code"]}
    frame.insert(1, "name", frame["practice_code"].map(names_of))
    frame.insert(4, "to_name", frame["to"].map(lambda pcn: names.get(pcn, "")))
    sizes = np.array([int(graph.nodes[c]["list_size"]) for c in frame["practice_code"]], dtype=int)
    frame.insert(5, "patients", sizes)
    return frame[MOVES_COLUMNS].sort_values(["from", "practice_code"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Why a group cannot be mended
# --------------------------------------------------------------------------------------


def _neighbours(inst: Instance, labels: Sequence[int], members: Sequence[int]) -> dict[int, list[int]]:
    """Return the groups next to ``members`` and, per group, its practices next to them."""
    inside = set(members)
    adjacency = inst.neighbours()
    near: dict[int, list[int]] = {}
    for i in members:
        for j in adjacency[i]:
            if j not in inside and j not in near.get(labels[j], []):
                near.setdefault(labels[j], []).append(j)
    return near


def _spare(inst: Instance, groups: Mapping[int, list[int]], h: int, giving: Sequence[int]) -> int:
    """Return the patients of ``giving`` that group ``h`` can spare one at a time, whole and in band."""
    members = groups[h]
    total = sum(inst.sizes[i] for i in members)
    adjacency = inst.neighbours()
    spare = 0
    for x in giving:
        rest = [i for i in members if i != x]
        if total - inst.sizes[x] < inst.rules.band.low and inst.status(members) == "in_band":
            continue
        if rest and len(_components(rest, adjacency)) > 1:
            continue
        spare += inst.sizes[x]
    return spare


def _components(members: Sequence[int], adjacency: Sequence[Sequence[int]]) -> list[set[int]]:
    sub = nx.Graph()
    sub.add_nodes_from(members)
    inside = set(members)
    sub.add_edges_from((i, j) for i in members for j in adjacency[i] if j in inside)
    return [set(p) for p in nx.connected_components(sub)]


def unrepairable_reasons(
    inst: Instance,
    labels: Sequence[int],
    ids: Mapping[int, str],
    rules: RepairRules,
    *,
    breaks: Sequence[str] = ("below",),
    proven: bool,
) -> dict[str, str]:
    """Return, per group a repair leaves breaking the band (by PCN id), why it is not mended.

    The figures are the repaired plan's: the group's total, what taking it in would do to
    each neighbouring group, and the patients the neighbours can spare next to it.
    ``proven`` says whether the first stage proved no repair within the rules mends more.
    """
    groups = members_of(labels)
    total = {g: sum(inst.sizes[i] for i in m) for g, m in groups.items()}
    band = inst.rules.band
    locked = {tuple(group) for group in inst.locked}
    notes: dict[str, str] = {}
    for g, members in groups.items():
        status = inst.status(members)
        if status not in breaks:
            continue
        head = f"{ids[g]} ({total[g]:,} patients in {len(members)} practice(s))"
        if tuple(members) in locked:
            notes[ids[g]] = f"{head} is an agreed (locked) group, kept as agreed"
            continue
        near = _neighbours(inst, labels, members)
        parts = []
        if status == "below":
            head += f" stays below the floor of {band.low:,}"
            joins = []
            for h in sorted(near, key=lambda h: ids[h]):
                merged = total[g] + total[h]
                if len(groups[h]) == 1 and inst.big[groups[h][0]]:
                    joins.append(f"{ids[h]} is a practice over {band.high:,} standing alone")
                elif tuple(groups[h]) in locked:
                    joins.append(f"{ids[h]} is agreed (locked)")
                elif not rules.group_ok([*members, *groups[h]]) or merged > band.high:
                    joins.append(f"{ids[h]} {total[h]:,} → {merged:,}")
                else:
                    joins = []
                    break
            if joins:
                parts.append("no neighbouring PCN can take it in: " + "; ".join(joins))
            short = band.low - total[g]
            spare = sum(_spare(inst, groups, h, near[h]) for h in near if tuple(groups[h]) not in locked)
            if spare < short:
                parts.append(
                    f"the practices next to it that its neighbours can spare and stay whole and in band "
                    f"hold {spare:,} patients, short of the {short:,} it needs"
                )
            if not near:
                parts.append("it has no neighbouring PCN in its CCG")
        else:
            head += f" stays above the ceiling of {band.high:,}"
            big = [i for i in members if inst.sizes[i] > band.high]
            rest = total[g] - sum(inst.sizes[i] for i in big)
            if big and rest < band.low:
                who = ", ".join(f"{inst.names[i]} ({inst.codes[i]}, {inst.sizes[i]:,})" for i in big)
                parts.append(
                    f"it holds {who}, over the ceiling on its own: alone it would be exempt, but its other "
                    f"practices ({rest:,} patients) would fall below the floor"
                )
            else:
                parts.append(
                    "no cut of it into connected PCNs in band, and no practices on its edge that its "
                    "neighbours can take in under the ceiling, were found"
                )
        if not parts:
            parts.append(
                "no mend keeps every in-band PCN in band and no PCN above the ceiling growing"
                if rules.active
                else "no mend was found"
            )
        proof = (
            "proven: no repair within the rules mends more groups"
            if proven
            else "not proven: no mend was found within the time limit"
        )
        notes[ids[g]] = f"{head}: {'; '.join(parts)} ({proof})"
    return notes
