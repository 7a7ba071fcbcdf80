"""Bounds on the band stages from the pieces a CCG falls into at its cut practices.

Where taking one practice out (a cut vertex: the mainland end of the bridge to an
island, the neck of a peninsula) splits a CCG's graph, every group that holds practices
on both sides of it holds that practice too: so at most one group reaches into each
piece from outside, and within the piece only the groups holding a neighbour of the cut
practice (a *port*) can be part of it. Every other group of the piece is *closed*: it
lies wholly inside, and its figures (out of band and not exempt, out of band, patients
outside the band) are the same in any plan that forms it.

A small piece is enumerated exactly, every grouping of its practices into connected
groups (:func:`footprint.partition._connected_groups.connected_groups`, within a
budget): closed groups count as they are; the groups holding a port that reach out all
hold the cut practice, so they are parts of one group, the open part, which counts only
as far as it must, whatever else joins it: over the band's top with the cut practice,
it is above the band. What each grouping costs, closed groups and open part apart,
gives the piece's least figures (:class:`Piece`); pieces that share no practice add up,
one of them with its open part, to bounds no plan can beat (:func:`band_bounds`). The
Isle of Wight's 12 practices (145,776 patients) in 2025 are such a piece: no grouping
of them, even with one group crossing the Solent to the mainland, puts every group in
band, which CP-SAT's own search did not prove in 500 s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import networkx as nx

from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance

__all__ = ["PIECE_BUDGET", "PIECE_PRACTICES", "Piece", "band_bounds", "pieces_of"]

#: The largest piece (practices) that is enumerated.
PIECE_PRACTICES = 16
#: Connected groups all the pieces of one CCG may weigh together.
PIECE_BUDGET = 20_000

#: A grouping's figures: groups out of band and not exempt, groups out of band, patients
#: outside the band (the stages ``out_of_band``, ``out_of_band_all``, ``deviation``).
Figures = tuple[int, int, int]
logger = logging.getLogger(__name__)

_T = TypeVar("_T", bound=tuple[int, ...])


@dataclass(frozen=True)
class Piece:
    """A part of a CCG cut off by one practice, and the least figures its groupings reach.

    ``closed`` is the least of each figure over the closed groups alone (those holding
    no port); ``outcomes`` the figures of every grouping (closed groups, and the open
    parts as far as they must count), those no other grouping beats in every figure.
    """

    members: frozenset[int]
    cut: int
    closed: Figures
    outcomes: tuple[Figures, ...]


def _candidates(inst: Instance, largest: int) -> list[tuple[frozenset[int], int]]:
    """Return (members, cut practice) of each part of up to ``largest`` practices one practice cuts off.

    A whole connected part of a CCG that falls apart is a piece with no cut (``-1``).
    """
    graph = nx.Graph(inst.edges)
    graph.add_nodes_from(range(inst.n))
    adjacency = inst.neighbours()
    found: list[tuple[frozenset[int], int]] = []
    parts = list(nx.connected_components(graph))
    if len(parts) > 1:
        found += [(frozenset(part), -1) for part in parts if len(part) <= largest]
    for v in sorted(nx.articulation_points(graph)):
        seen: set[int] = {v}
        for start in adjacency[v]:
            if start in seen:
                continue
            part = _part_within(adjacency, start, v, largest)
            seen |= part or set()
            if part is not None:
                found.append((frozenset(part), v))
            else:
                seen |= _part_within(adjacency, start, v, inst.n) or set()
    # A piece may be cut off by more than one practice in turn: keep each once.
    unique: dict[frozenset[int], int] = {}
    for members, cut in found:
        unique.setdefault(members, cut)
    return list(unique.items())


def _part_within(adjacency: Sequence[Sequence[int]], start: int, cut: int, largest: int) -> set[int] | None:
    """Return the practices reached from ``start`` without passing ``cut``, or ``None`` past ``largest``."""
    part, stack = {start}, [start]
    while stack:
        for w in adjacency[stack.pop()]:
            if w != cut and w not in part:
                part.add(w)
                if len(part) > largest:
                    return None
                stack.append(w)
    return part


def pieces_of(inst: Instance, *, largest: int = PIECE_PRACTICES, budget: int = PIECE_BUDGET) -> list[Piece]:
    """Return pieces of ``inst`` that share no practice, each enumerated exactly.

    Candidates of up to ``largest`` practices are taken largest first (a larger piece
    holds its smaller ones' groupings and more), each only if it shares no practice with
    one already taken; a piece whose enumeration runs past what is left of ``budget``
    (connected groups weighed) is left out. A piece that a locked group crosses is left
    out too (that group would cross without holding the cut practice).
    """
    lock_of = {i: k for k, group in enumerate(inst.locked) for i in group}
    fixed = {i for i in range(inst.n) if inst.big[i]} | set(lock_of)
    candidates = [
        (members, cut)
        for members, cut in _candidates(inst, largest)
        if not any((cut in lock_of and lock_of[cut] == lock_of.get(i)) for i in members)
        and all(all(j in members for j in inst.locked[lock_of[i]]) for i in members if i in lock_of)
    ]
    candidates.sort(key=lambda c: (-len(c[0]), min(c[0])))
    adjacency = inst.neighbours()
    left = Budget(budget)
    taken: set[int] = set()
    pieces = []
    for members, cut in candidates:
        if taken & members:
            continue
        ports = (
            frozenset(j for j in adjacency[cut] if j in members and j not in fixed)
            if cut >= 0 and cut not in fixed
            else frozenset()
        )
        try:
            piece = _enumerate(inst, members, cut, ports, fixed, left)
        except OverBudgetError:
            logger.debug("%s: a piece of %d practices past the budget, left out", inst.ccg, len(members))
            left.left = max(left.left, 0)
            continue
        taken |= members
        pieces.append(piece)
    return pieces


def _enumerate(
    inst: Instance,
    members: frozenset[int],
    cut: int,
    ports: frozenset[int],
    fixed: set[int],
    budget: Budget,
) -> Piece:
    """Return the piece's least figures, weighing every grouping of its free practices."""
    high = inst.rules.band.high
    free = sorted(i for i in members if i not in fixed)
    bit = {i: 1 << k for k, i in enumerate(free)}
    near = [sum(bit[j] for j in inst.neighbours()[i] if j in bit) for i in free]
    sizes = [inst.sizes[i] for i in free]
    port_mask = sum(bit[i] for i in ports)
    # The one group that may reach out of the piece holds the cut practice too.
    joined = inst.sizes[cut] if ports else 0
    # The fixed groups inside the piece (practices standing alone, locked groups) are closed.
    base = [0, 0, 0]
    for group in inst.fixed_groups():
        if group[0] in members:
            for k, figure in enumerate(_figures(inst, group)):
                base[k] += figure
    if _fits_band(inst, free, near, sizes, port_mask, joined, budget):
        figures = (base[0], base[1], base[2])
        return Piece(members, cut, figures, (figures,))
    # A grouping's state: closed figures summed, and the open part's list size (0: none).
    # The groups holding a port that reach out of the piece all hold the cut practice: they
    # are parts of one group, the open part. The others are closed.
    memo: dict[int, list[tuple[int, int, int, int]]] = {0: [(0, 0, 0, 0)]}

    def frontier(mask: int) -> list[tuple[int, int, int, int]]:
        if mask in memo:
            return memo[mask]
        first = (mask & -mask).bit_length() - 1
        found = []
        for group, total in connected_groups(first, mask, near, sizes, budget):
            rest = frontier(mask & ~group)
            c1, c2, c3 = _figures(inst, [free[k] for k in range(len(free)) if group >> k & 1])
            found += [(c1 + r[0], c2 + r[1], c3 + r[2], r[3]) for r in rest]
            if group & port_mask:
                found += [(r[0], r[1], r[2], r[3] + total) for r in rest]
        memo[mask] = _pareto(found)
        return memo[mask]

    states = frontier((1 << len(free)) - 1)
    closed = tuple(base[k] + min(s[k] for s in states) for k in range(3))
    outcomes = set()
    for c1, c2, c3, part in states:
        # The open part with the cut practice over the top: its group, whatever else joins
        # it, is above the band.
        over = max(0, part + joined - high) if part else 0
        outcomes.add((base[0] + c1 + (over > 0), base[1] + c2 + (over > 0), base[2] + c3 + over))
    return Piece(members, cut, (closed[0], closed[1], closed[2]), tuple(sorted(_pareto(outcomes))))


def _fits_band(
    inst: Instance,
    free: Sequence[int],
    near: Sequence[int],
    sizes: Sequence[int],
    port_mask: int,
    joined: int,
    budget: Budget,
) -> bool:
    """Return whether some grouping puts every closed group in band, its open part not over the top.

    The open part (every group holding a port that reaches out, each holding the cut
    practice) is counted with the cut practice (``joined`` patients). Such a
    grouping costs nothing, so it settles the piece at once (most pieces).
    """
    band = inst.rules.band
    dead: set[tuple[int, int]] = set()

    def fits(mask: int, part: int) -> bool:
        if not mask:
            return True
        if (mask, part) in dead:
            return False
        first = (mask & -mask).bit_length() - 1
        for group, total in connected_groups(first, mask, near, sizes, budget, most=band.high):
            if total >= band.low and fits(mask & ~group, part):
                return True
            opens = group & port_mask and part + total <= band.high
            if opens and fits(mask & ~group, part + total):
                return True
        dead.add((mask, part))
        return False

    return fits((1 << len(free)) - 1, joined)


def _figures(inst: Instance, group: Sequence[int]) -> Figures:
    """Return one group's figures: out of band and not exempt, out of band, deviation."""
    status = inst.status(group)
    return int(status in ("below", "above")), int(status != "in_band"), inst.deviation(group)


def _pareto(vectors: Iterable[_T]) -> list[_T]:
    """Return the vectors no other vector beats or equals in every place (each once)."""
    kept: list[_T] = []
    for v in sorted(set(vectors)):
        if not any(all(a <= b for a, b in zip(k, v, strict=True)) for k in kept):
            kept.append(v)
    return kept


def band_bounds(
    inst: Instance, values: Mapping[str, float], *, forced: Iterable[Iterable[int]] = ()
) -> Figures | None:
    """Return bounds on the three band stages from the pieces, or ``None`` with no piece.

    ``values`` holds the values fixed by the stages already solved (``out_of_band``,
    ``out_of_band_all``): the bound on a stage holds for every plan that meets them.
    A plan's figures are at least those of the fixed groups outside the pieces, plus
    each piece's closed groups, plus one piece's open part (an open group may reach into
    several pieces, so only one is counted); with the earlier stages held, that one
    piece's groupings are only those that leave the rest room to meet them. ``forced``
    names parts of free practices no group enters from outside (fixed groups all round)
    that must hold a group out of band and not exempt: each sharing no practice with a
    piece counts one more.
    """
    pieces = inst.pieces
    if not pieces:
        return None
    inside = set().union(*(p.members for p in pieces))
    outside = [0, 0, 0]
    for group in inst.fixed_groups():
        if group[0] not in inside:
            for k, figure in enumerate(_figures(inst, group)):
                outside[k] += figure
    apart = sum(not inside.intersection(part) for part in forced)
    outside[0] += apart
    outside[1] += apart
    closed_sum = [sum(p.closed[k] for p in pieces) for k in range(3)]
    limits = [values.get("out_of_band"), values.get("out_of_band_all")]
    bounds = []
    for k in range(3):
        best = 0
        for piece in pieces:
            others = [outside[j] + closed_sum[j] - piece.closed[j] for j in range(3)]
            room = [limit - others[j] if limit is not None else None for j, limit in enumerate(limits[:k])]
            allowed = [o for o in piece.outcomes if all(r is None or o[j] <= r for j, r in enumerate(room))]
            # No grouping left: the values fixed are not those of a plan; bound without them.
            least = min(o[k] for o in (allowed or piece.outcomes))
            best = max(best, others[k] + least)
        bounds.append(best)
    return bounds[0], bounds[1], bounds[2]
