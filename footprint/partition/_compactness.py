"""The compactness stage solved over its connected groups by column generation, with a real bound.

Where the stages before compactness leave every group of free practices in band (most
CCGs), a plan is a partition of the free units (buildings and practices outside them; the
groups no plan changes kept) into connected groups in band, each costing its least tree
distance through its own practices (the model's figure). Where the stage before splits
buildings, the practices are the units instead and a partition may split no more buildings
than that stage's value (a constraint of the set partitioning below; the relaxation
ignores it, so its bound holds). The stage is then a set partitioning over those groups,
far too many to list
in most CCGs. Its linear relaxation is solved by column generation instead:

- GLOP (OR-Tools' linear solver, re-solved from its last basis) solves the relaxation
  over the groups found so far: the plan's own, then those of negative reduced cost among
  every regrouping of two neighbouring groups of the plan (:func:`_pairs_regrouped`);
- *pricing* finds groups of negative reduced cost (their cost less the duals of their
  units) by growing connected groups from each root practice, each once, and dropping
  every group grown from one that cannot reach a negative reduced cost: a group's cost
  from a root is at least its members' list sizes times their shortest distance from the
  root through any free practice, and what further units can take off is at most their
  negative terms, within what the ceiling leaves (a fractional knapsack);
- when a full pass finds none, the relaxation's value is a bound no plan beats
  (certified from the duals as a Lagrangian bound, whatever the solver's tolerances).

Where the relaxation's solution takes each group whole, it is the least partition. Else
the groups within ``value - bound`` of zero reduced cost hold every plan better than the
one found (a plan costs the bound plus its groups' reduced costs), so CP-SAT solves the
set partitioning over those (the :data:`KEPT_GROUPS` of least reduced cost where they are
more; then the bound rises to what the rest must cost at least), the cheapest fifth
first. Where the plan is still more than :data:`GAP` above the bound, CP-SAT solves the
set partitioning over the relaxation's own groups (a restricted master: a good plan,
most often the least or near it), and then over every group that can better that plan
(its reduced cost within the new, narrower gap), which proves it or betters it. Where
pricing overruns its budget before the relaxation is solved, or the stages leave groups
out of band, the bound comes from
:func:`footprint.partition._compact_bound.compactness_bound` and the plan is left as
found. Either way :func:`footprint.partition.solve.run_stages` reports a gap for every CCG.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model
from scipy.sparse import csr_matrix, vstack

from footprint.config import COMPACTNESS_GAP
from footprint.partition._compact_bound import compactness_bound, root_costs
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance, least_tree, members_of, model_compactness
from footprint.partition.warmstart import units_of

if TYPE_CHECKING:
    from footprint.partition.stages import StageResult

__all__ = ["COVER_LIMIT_S", "GAP", "KEPT_GROUPS", "PRICING_NODES", "least_compactness"]

#: Groups weighed by pricing per CCG, at most (over all its passes); beyond, the weaker bound.
PRICING_NODES = 100_000
#: Regroupings of two neighbouring groups of the plan the relaxation may start from, at most.
POOL_GROUPS = 20_000
#: Groups of negative reduced cost a pricing pass collects before the relaxation is re-solved.
NEW_PER_PASS = 400
#: Groups of least reduced cost the set partitioning is solved over, at most.
KEPT_GROUPS = 2_000
#: Deterministic seconds for the set partitioning over them (one worker).
COVER_LIMIT_S = 0.2
#: The search stops once the bound is within this share of the plan (the gap the stage reports).
GAP = COMPACTNESS_GAP
#: Rounds of subset-row cuts where the relaxation is further than the gap from the plan, at most,
#: and cuts added per round (the most violated).
CUT_ROUNDS = 5
CUTS_PER_ROUND = 30
#: Groups weighed by pricing for the cuts and the searches after them, per CCG, at most.
CUT_NODES = PRICING_NODES // 2
#: How far the relaxation's solution must break a cut for it to be added.
_VIOLATION = 1e-3
#: Reduced costs within this share of the relaxation's value count as zero (the LP's tolerance).
_TOLERANCE = 1e-7


#: What pricing finds: a group (bit mask), or a group and what it is matched to.
Key = TypeVar("Key", int, tuple[int, int])


class _OverBudgetError(Exception):
    """Pricing weighed more groups than its budget."""


class _Room(NamedTuple):
    """What the stages before compactness leave to the free groups outside the band, at most."""

    #: Groups out of band and not exempt (stage ``out_of_band``).
    breaking: int
    #: Groups out of band (stage ``out_of_band_all``).
    out: int
    #: Patients outside the band (stage ``deviation``).
    deviation: int

    def rows(self, status: str, deviation: int) -> tuple[int, int, int]:
        """Return what one group of ``status`` takes of each (its side rows' coefficients)."""
        if status == "in_band":
            return (0, 0, 0)
        return (int(not status.startswith("exempt_")), 1, deviation)


#: No room: every free group in band.
_NO_ROOM = _Room(0, 0, 0)


class _Groups:
    """A CCG's free units: sizes, adjacency (bit masks), each group's least cost, and pricing."""

    def __init__(self, inst: Instance, *, sites: bool = True) -> None:
        self.inst = inst
        unit, fixed = units_of(inst, sites=sites)
        free = sorted({u for u in unit if u not in fixed})
        bit = {u: k for k, u in enumerate(free)}
        self.unit, self.bit, self.m = unit, bit, len(free)
        self.practices = [i for i in range(inst.n) if unit[i] in bit]
        self.practices_of: list[list[int]] = [[] for _ in free]
        for i in self.practices:
            self.practices_of[bit[unit[i]]].append(i)
        self.sizes = [sum(inst.sizes[i] for i in ps) for ps in self.practices_of]
        self.near = [0] * self.m
        for i, j in inst.edges:
            a, b = bit.get(unit[i]), bit.get(unit[j])
            if a is not None and b is not None and a != b:
                self.near[a] |= 1 << b
                self.near[b] |= 1 << a
        self.free = free
        self.root_unit = [bit[unit[i]] for i in self.practices]
        self.practice_unit = np.array(self.root_unit, dtype=np.int64)  # the unit of each free practice
        self.cost: dict[int, float] = {}
        self.left = PRICING_NODES
        #: The root a pricing pass that may stop early starts at (where the last one stopped).
        self.turn = 0
        #: Where buildings may be split: each building of free practices (a mask) and how
        #: many of them a cover may split (``None``: buildings are units, none split).
        self.buildings: list[int] = []
        self.splits: int | None = None
        #: What the stages before leave to groups outside the band (side rows where any).
        self.room = _NO_ROOM
        #: Subset-row cuts: three units (a mask) of which a partition's groups holding two or
        #: more number at most one.
        self.cuts: list[int] = []

    @property
    def sides(self) -> int:
        """Return how many side rows the room adds (0 where there is none)."""
        return 0 if self.room == _NO_ROOM else len(self.room)

    @property
    def cap(self) -> int:
        """Return the most patients a group may hold: the ceiling, and the deviation left."""
        return self.inst.rules.band.high + self.room.deviation

    @property
    def rhs(self) -> np.ndarray:
        """Return the right-hand sides of the rows: each unit once, the room's where any, each cut's one."""
        side = list(self.room) if self.room != _NO_ROOM else []
        return np.array([1.0] * self.m + side + [1.0] * len(self.cuts))

    def side(self, mask: int, total: int) -> tuple[int, int, int] | None:
        """Return a group's side rows' coefficients, or ``None`` where it cannot fit the room."""
        band = self.inst.rules.band
        if band.low <= total <= band.high:
            return (0, 0, 0)
        if self.room == _NO_ROOM:
            return None
        members = [i for k in _bits(mask) for i in self.practices_of[k]]
        rows = self.room.rows(self.inst.status(members), self.inst.deviation(members))
        return rows if all(r <= most for r, most in zip(rows, self.room, strict=True)) else None

    def allow_splits(self, labels: Sequence[int], allowed: int) -> None:
        """Let covers split at most ``allowed`` buildings, those split in every plan counted.

        A building with a practice in a fixed group is split where ``labels`` split it,
        whatever the cover.
        """
        self.splits = allowed
        for site in self.inst.sites:
            movable = [i for i in site if not self.inst.big[i]]
            if len(movable) < 2:
                continue
            if all(self.unit[i] in self.bit for i in movable):
                self.buildings.append(self.mask_of(movable))
            elif len({labels[i] for i in movable}) > 1:
                self.splits -= 1

    @cached_property
    def weight(self) -> np.ndarray:
        """Per root practice, each unit's least cost from it (list sizes times shortest distance)."""
        return root_costs(self.inst, self.unit, self.free)[1]

    @cached_property
    def arc(self) -> np.ndarray:
        """The arc lengths between free practices (``inf``: no arc), for the groups' trees."""
        row = {i: k for k, i in enumerate(self.practices)}
        arc = np.full((len(row), len(row)), np.inf)
        np.fill_diagonal(arc, 0.0)
        for i, j in self.inst.edges:
            if i in row and j in row:
                arc[row[i], row[j]] = arc[row[j], row[i]] = self.inst.arc_length[i, j]
        return arc

    def split_within(self, cover: Sequence[int]) -> bool:
        """Return whether a cover splits no more buildings than allowed."""
        whole = sum(any(mask & b == b for mask in cover) for b in self.buildings)
        return self.splits is None or len(self.buildings) - whole <= self.splits

    def side_rows(self, mask: int, total: int | None = None) -> tuple[int, int, int]:
        """Return a group's side rows' coefficients (zeros where the room cannot hold it: never a column)."""
        if total is None:
            total = sum(self.sizes[k] for k in _bits(mask))
        return self.side(mask, total) or (0, 0, 0)

    def _outside(self, mask: int, total: int, bound: float, side_duals: np.ndarray) -> float:
        """Return the reduced cost of a group outside the band from its bound (``inf``: not allowed)."""
        if (rows := self.side(mask, total)) is None:
            return math.inf
        return bound - float(np.dot(rows, side_duals))

    def mask_of(self, members: Sequence[int]) -> int:
        """Return the bit mask of the free units among ``members``."""
        mask = 0
        for i in members:
            if self.unit[i] in self.bit:
                mask |= 1 << self.bit[self.unit[i]]
        return mask

    def holds(self, masks: Sequence[int]) -> np.ndarray:
        """Return which units (columns) each group (row) holds, as booleans."""
        width = (self.m + 7) // 8
        data = b"".join(mask.to_bytes(width, "little") for mask in masks)
        rows = np.frombuffer(data, dtype=np.uint8).reshape(len(masks), width)
        return np.unpackbits(rows, axis=1, count=self.m, bitorder="little").astype(bool)

    def costs(self, masks: Sequence[int]) -> np.ndarray:
        """Return each group's least tree distance over its roots, paths within the group (the model's)."""
        new = [mask for mask in masks if mask not in self.cost]
        if new:
            # Each group's practices, in index order (a row per group), grouped by how many.
            practices = self.holds(new)[:, self.practice_unit]
            count = practices.sum(axis=1)
            size = np.array([self.inst.sizes[i] for i in self.practices], dtype=float)
            for n in np.unique(count):
                which = np.flatnonzero(count == n)
                for chunk in range(0, len(which), 2048):
                    part = which[chunk : chunk + 2048]
                    p = np.nonzero(practices[part])[1].reshape(len(part), n)
                    # Shortest paths within each group (Floyd-Warshall on its own arcs), then the
                    # least, over its roots, of list size times distance from the root.
                    d = self.arc[p[:, :, None], p[:, None, :]]
                    for k in range(n):
                        np.minimum(d, d[:, :, k : k + 1] + d[:, k : k + 1, :], out=d)
                    least = (d * size[p][:, None, :]).sum(axis=2).min(axis=1)
                    for g, cost in zip(part.tolist(), least.tolist(), strict=True):
                        self.cost[new[g]] = cost
        return np.array([self.cost[mask] for mask in masks])

    def total(self, cover: Sequence[int]) -> float:
        """Return the cost of a cover (its groups' least costs summed)."""
        return float(self.costs(cover).sum())

    def incidence(self, masks: Sequence[int]) -> csr_matrix:
        """Return which units (rows) each group (column) holds, then its side rows and cuts where any."""
        holds = self.holds(masks) if masks else np.zeros((0, self.m), dtype=bool)
        holder, units = np.nonzero(holds)
        blocks = [csr_matrix((np.ones(len(units)), (units, holder)), shape=(self.m, len(masks)))]
        if self.room != _NO_ROOM:
            totals = holds.astype(float) @ np.array(self.sizes, dtype=float)
            rows = [self.side_rows(mask, int(total)) for mask, total in zip(masks, totals, strict=True)]
            blocks.append(csr_matrix(np.array(rows, dtype=float).reshape(len(masks), self.sides).T))
        if self.cuts:
            triples = self.holds(self.cuts).T.astype(float)  # units by cuts
            blocks.append(csr_matrix((holds.astype(float) @ triples >= 2).astype(float).T))
        return vstack(blocks).tocsr() if len(blocks) > 1 else blocks[0]

    def reduced(self, masks: Sequence[int], duals: np.ndarray) -> np.ndarray:
        """Return each group's reduced cost: its cost less the duals of its units."""
        return self.costs(masks) - self.incidence(masks).T @ duals

    def _roots_from(self, start: int) -> Iterator[tuple[int, int]]:
        """Yield each root practice's index and unit, from ``start`` round to the one before it."""
        for r in _in_turn(len(self.root_unit), start):
            yield r, self.root_unit[r]

    def price(
        self, duals: np.ndarray, most: float, *, keep: int | None = None, enough: int | None = None
    ) -> tuple[dict[int, float], float, bool]:
        """Return the groups in band whose reduced cost from some root may be ``most`` or less.

        Each connected group of free units holding a root practice's unit is grown once
        from that root (as :func:`~footprint.partition._connected_groups.connected_groups`),
        with a lower bound on its reduced cost (its units' least costs from the root less
        their duals); a group whose bound, with what any further units can take off, is
        above ``most`` is dropped with all grown from it. A group's reduced cost is at least
        its bound from its best root, so every group of reduced cost ``most`` or less is
        found (with its bound).

        ``keep``: only the ``keep`` groups of least bound are kept, ``most`` lowered as
        others are dropped. ``enough``: stop once that many are found (a pass not
        complete). Returns the groups and their bounds, ``most`` as lowered (every group
        of reduced cost up to it is among them, whatever the rounding of the bounds), and
        whether the pass was complete. Raises :class:`_OverBudgetError` past the groups
        left to weigh.
        """
        low, high, cap = self.inst.rules.band.low, self.inst.rules.band.high, self.cap
        # Groups outside the band (where the room lets any) pay their side rows' duals (at most 0).
        side_duals, duals = duals[self.m : self.m + self.sides], duals[: self.m]
        outside = self._outside if self.room != _NO_ROOM else None
        # The bounds are sums of floats: a group is weighed within a rounding allowance of ``most``.
        slack = 1e-9 * max(1.0, float(np.abs(duals).sum()), abs(most))
        limit = most + slack
        found: dict[int, float] = {}
        heap: list[tuple[float, int]] = []
        near, sizes, knapsacks, left = self.near, self.sizes, _Knapsacks(self, duals), self.left
        # A pass that may stop early starts at the root the last one stopped at, so that each
        # root's groups are weighed in turn (not those of the first roots again and again).
        for r, own in self._roots_from(self.turn if enough is not None else 0):
            if enough is not None and len(found) >= enough:
                self.left, self.turn = left, r
                return found, limit - slack, False
            if knapsacks.least_root[r] > limit or sizes[own] > cap:
                continue  # no group of this root can reach ``most``, or be in band
            rates, filled, taken = knapsacks.of(r)
            count, most_off = len(rates), taken[-1]
            profits, gain = knapsacks.profit[r].tolist(), knapsacks.gains[r].tolist()
            first = 1 << own
            stack = [(first, near[own] & ~first, first, sizes[own], profits[own], knapsacks.rest[r])]
            while stack:
                mask, frontier, barred, total, bound, rest = stack.pop()
                if bound + most_off > limit:
                    continue  # more than all further units can take off
                # What further units take off within the ceiling: the units that fit whole,
                # then part of the next (a fractional knapsack; inlined, as this loop is
                # pricing's whole cost).
                room = cap - total
                k = bisect.bisect_right(filled, room) - 1
                if k < count and bound + taken[k] + (room - filled[k]) * rates[k] > limit:
                    continue
                left -= 1
                if left < 0:
                    raise _OverBudgetError
                if low <= total <= high:
                    reduced = bound
                else:  # outside the band: only where the room lets it (a call, so not in most CCGs)
                    reduced = outside(mask, total, bound, side_duals) if outside else math.inf
                if reduced <= limit and reduced < found.get(mask, math.inf):
                    found[mask] = reduced
                    if keep is not None:
                        heapq.heappush(heap, (-reduced, mask))
                        if len(heap) > keep:
                            limit = min(limit, _drop_worst(found, heap, keep) - slack)
                while frontier:
                    low_bit = frontier & -frontier
                    frontier ^= low_bit
                    barred |= low_bit
                    v = low_bit.bit_length() - 1
                    rest -= gain[v]
                    # A group over the ceiling, or whose bound with all further gains passes the
                    # limit, is dropped with all grown from it before it is stacked.
                    grown_total, grown_bound = total + sizes[v], bound + profits[v]
                    if grown_total <= cap and grown_bound + rest <= limit:
                        grown = mask | low_bit
                        stack.append(
                            (
                                grown,
                                (frontier | near[v]) & ~(grown | barred),
                                barred,
                                grown_total,
                                grown_bound,
                                rest,
                            )
                        )
        self.left = left
        return found, limit - slack, True


def _in_turn(count: int, start: int) -> Iterator[int]:
    """Yield ``0 .. count - 1`` from ``start`` round to the one before it (a pass taking its items in turn).

    Examples
    --------
    >>> list(_in_turn(5, 3))
    [3, 4, 0, 1, 2]
    """
    return itertools.chain(range(start, count), range(start))


def _drop_worst(found: dict[Key, float], heap: list[tuple[float, Key]], keep: int) -> float:
    """Drop from ``found`` the groups of largest bound past the ``keep`` least; return the least dropped.

    ``heap`` holds the groups found, largest bound first (a group found again at a lower
    bound stands in it twice: its old entry is passed over).
    """
    least = math.inf
    while len(heap) > keep:
        worst, dropped = heapq.heappop(heap)
        if found.get(dropped) == -worst:
            del found[dropped]
            least = min(least, -worst)
    return least


class _Knapsacks:
    """Per root, the most its units of negative least reduced cost can take off within a number of patients.

    A fractional knapsack: the units by gain per patient, most first (numpy, every root at once).
    """

    def __init__(self, groups: _Groups, duals: np.ndarray) -> None:
        roots = np.arange(len(groups.root_unit))
        own = np.array(groups.root_unit)
        sizes = np.array(groups.sizes, dtype=float)
        self.profit = groups.weight - duals[None, : groups.m]
        gains = np.minimum(self.profit, 0.0)
        gains[roots, own] = 0.0
        self.gains = gains
        self.rest = gains.sum(axis=1).tolist()
        order = np.argsort(gains / sizes[None, :], axis=1, kind="stable")
        self.rate = np.take_along_axis(gains / sizes[None, :], order, axis=1)
        zero = np.zeros((len(roots), 1))
        self.sizes = np.concatenate([zero, np.cumsum(sizes[order], axis=1)], axis=1)
        self.cum = np.concatenate([zero, np.cumsum(np.take_along_axis(gains, order, axis=1), axis=1)], axis=1)
        # The units that fit whole, then part of the next (past the last one: all of it, a bound).
        room = groups.cap - sizes[own]
        k = np.clip((self.sizes <= room[:, None]).sum(axis=1) - 1, 0, len(sizes) - 1)
        most = self.cum[roots, k] + (room - self.sizes[roots, k]) * self.rate[roots, k]
        #: Per root, a bound on the reduced cost of its groups: its own unit's, less what others take off.
        self.least_root = (self.profit[roots, own] + np.maximum(gains.sum(axis=1), most)).tolist()

    def of(self, r: int) -> tuple[list[float], list[float], list[float]]:
        """Return root ``r``'s units of negative gain by gain per patient, most first.

        Their gains per patient, then (from none) the cumulative patients and gains.
        """
        count = int((self.rate[r] < 0).sum())
        return (
            self.rate[r, :count].tolist(),
            self.sizes[r, : count + 1].tolist(),
            self.cum[r, : count + 1].tolist(),
        )


class _Relaxation:
    """The set partitioning's linear relaxation over the groups found so far.

    GLOP, re-solved from its last basis as groups are added. Each unit lies in one group;
    where the stages before leave room outside the band, the groups outside it take no
    more than the room (side rows).
    """

    def __init__(self, groups: _Groups) -> None:
        self.groups = groups
        self.solver = pywraplp.Solver.CreateSolver("GLOP")
        # Re-solved from its last basis as groups are added: GLOP's presolve would redo its
        # work on every solve for nothing.
        self.solver.SetSolverSpecificParametersAsString("use_preprocessing: false")
        self.rows = [self.solver.Constraint(1.0, 1.0) for _ in range(groups.m)]
        room = groups.room if groups.room != _NO_ROOM else ()
        self.side = [self.solver.Constraint(-self.solver.infinity(), float(most)) for most in room]
        self.cut_rows: list[pywraplp.Constraint] = []
        self.solver.Objective().SetMinimization()
        self.masks: list[int] = []
        self.columns: list[pywraplp.Variable] = []

    def add(self, masks: Sequence[int], costs: np.ndarray) -> None:
        """Add groups (bit masks) and their costs as columns."""
        objective = self.solver.Objective()
        for mask, cost in zip(masks, costs, strict=True):
            x = self.solver.NumVar(0.0, self.solver.infinity(), "")
            objective.SetCoefficient(x, float(cost))
            units = _bits(mask)
            for k in units:
                self.rows[k].SetCoefficient(x, 1.0)
            if self.side:
                total = sum(self.groups.sizes[k] for k in units)
                for row, coefficient in zip(self.side, self.groups.side_rows(mask, total), strict=True):
                    row.SetCoefficient(x, float(coefficient))
            for triple, row in zip(self.groups.cuts, self.cut_rows, strict=True):
                if (mask & triple).bit_count() >= 2:
                    row.SetCoefficient(x, 1.0)
            self.masks.append(mask)
            self.columns.append(x)

    def leave(self, cost: float) -> None:
        """Let each unit be left in no group at ``cost`` (a column per unit, not a group)."""
        objective = self.solver.Objective()
        for row in self.rows:
            x = self.solver.NumVar(0.0, self.solver.infinity(), "")
            objective.SetCoefficient(x, cost)
            row.SetCoefficient(x, 1.0)

    def cut(self, triples: Sequence[int]) -> None:
        """Add subset-row cuts (three units each; ``groups.cuts`` must already hold them)."""
        for triple in triples:
            row = self.solver.Constraint(-self.solver.infinity(), 1.0)
            for mask, x in zip(self.masks, self.columns, strict=True):
                if (mask & triple).bit_count() >= 2:
                    row.SetCoefficient(x, 1.0)
            self.cut_rows.append(row)

    def values(self) -> np.ndarray:
        """Return the last solution's value of each group."""
        return np.array([x.solution_value() for x in self.columns])

    def dive(self) -> list[int] | None:
        """Return a partition found by diving from the last solution (``None`` where none is found).

        The groups the solution takes more than half of (they are disjoint) are fixed in,
        or, where that leaves no solution, the one it takes most of (fixed out instead where
        that too leaves none), and the relaxation over the groups it holds is solved again,
        until its solution is a partition. The relaxation is left as it was.
        """
        changed: list[pywraplp.Variable] = []
        found = None
        try:
            for _ in range(len(self.rows) + 1):
                values = self.values()
                fractional = np.flatnonzero((values > 1e-6) & (values < 1 - 1e-6))
                if not len(fractional):
                    found = [mask for mask, v in zip(self.masks, values, strict=True) if v > 0.5]
                    break
                over = fractional[values[fractional] > 0.5]
                most = fractional[[int(np.argmax(values[fractional]))]]
                if not any(self._fixed(chosen, changed) for chosen in (over, most) if len(chosen)):
                    x = self.columns[int(most[0])]
                    x.SetBounds(0.0, 0.0)
                    changed.append(x)
                    if self.solver.Solve() != pywraplp.Solver.OPTIMAL:
                        break
        finally:
            for x in changed:
                x.SetBounds(0.0, self.solver.infinity())
            self.solver.Solve()
        return found

    def _fixed(self, chosen: np.ndarray, changed: list[pywraplp.Variable]) -> bool:
        """Fix the groups ``chosen`` in and solve; return whether a solution remains (else undo)."""
        columns = [self.columns[k] for k in chosen.tolist()]
        for x in columns:
            x.SetLb(1.0)
        if self.solver.Solve() == pywraplp.Solver.OPTIMAL:
            changed.extend(columns)
            return True
        for x in columns:
            x.SetLb(0.0)
        return False

    def whole(self) -> list[int] | None:
        """Return the groups of the last solution where it takes each whole or not at all (else ``None``)."""
        values = [x.solution_value() for x in self.columns]
        if any(1e-6 < v < 1 - 1e-6 for v in values):
            return None
        return [mask for mask, v in zip(self.masks, values, strict=True) if v > 0.5]

    def duals(self) -> tuple[np.ndarray, float] | None:
        """Return the rows' duals and the relaxation's value (``None``: not solved).

        The duals of "each unit in one group", then the side rows' and the cuts' (at most
        zero, as a bound needs them, whatever the solver's tolerances).
        """
        if self.solver.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        side = [min(row.dual_value(), 0.0) for row in self.side + self.cut_rows]
        return np.array([row.dual_value() for row in self.rows] + side), self.solver.Objective().Value()


def least_compactness(
    inst: Instance,
    done: Mapping[str, StageResult],
    labels: Sequence[int],
    *,
    limit_s: float = COVER_LIMIT_S,
    seed: int = 0,
) -> tuple[list[int] | None, float]:
    """Return a grouping of less compactness than ``labels`` (or ``None``) and a bound no plan beats.

    Parameters
    ----------
    inst
        The CCG.
    done
        The stages before compactness, their values held.
    labels
        A grouping that meets them (the set partitioning starts from it).
    limit_s, seed
        The set partitioning's deterministic time limit and CP-SAT's random seed.

    Returns
    -------
    tuple
        A grouping meeting ``done`` whose model compactness is less than that of ``labels``
        (groups of the CCG's free units only: the caller checks its own hard rules), else
        ``None``; and a bound on the model's compactness of any plan meeting ``done``, no
        more than the better grouping's.
    """
    start = model_compactness(inst, labels)
    room = _room(inst, done)
    if room is None:
        return None, compactness_bound(inst, done, labels, start)
    # Where buildings may be split, the practices are the units, and covers split no more
    # buildings than the stage before allows; where it allows only those every plan splits
    # (their practices total more than the ceiling), their practices are units and every
    # other building is one: a far stronger relaxation (27D of 2022: proven, where over
    # practices with one split allowed it was 5.8% from its bound, 31-38% on varied years).
    split = done.get("split_sites")
    over = [] if inst.rules.keep_sites else inst.oversize_sites()
    whole_sites = inst.rules.keep_sites or (split is not None and split.value == len(over))
    kept = [site for site in inst.sites if site not in over]
    groups = _Groups(replace(inst, sites=kept) if whole_sites and over else inst, sites=whole_sites)
    if split is not None and not whole_sites:
        groups.allow_splits(labels, int(split.value))
    groups.room = room
    if not groups.m:
        return None, start  # every group fixed: the plan is the only one
    own = sorted({mask for members in members_of(labels).values() if (mask := groups.mask_of(members))})
    # The groups no plan changes cost what they cost in every plan.
    fixed = sum(least_tree(inst, group) for group in inst.fixed_groups() if len(group) > 1)
    try:
        found = _least(groups, own, start - fixed, fixed=fixed, limit_s=limit_s, seed=seed)
    except _OverBudgetError:
        found = None
    if found is None:
        return None, compactness_bound(inst, done, labels, start)
    cover, bound = found
    if groups.total(cover) >= start - fixed:
        return None, fixed + bound
    return _grouping(groups.practices_of, cover, labels), fixed + bound


def _least(
    groups: _Groups, own: list[int], value: float, *, fixed: float, limit_s: float, seed: int
) -> tuple[list[int], float] | None:
    """Return the least cover found (``own`` if none better) and a bound on every cover.

    ``value`` is the cost of ``own``; ``fixed`` what the groups no plan changes add to every
    plan (the gap is the plan's, theirs included). ``None`` where GLOP fails. Raises
    :class:`_OverBudgetError` where pricing overruns its budget before the relaxation is solved.
    """
    solved = _relaxation(groups, own, _pairs_regrouped(groups, own))
    if solved is None:
        return None
    duals, relaxed = solved.duals, solved.bound
    if _whole(relaxed) >= value:
        return own, value  # the plan is the least
    if solved.whole is not None and groups.split_within(solved.whole):
        # The relaxation's solution is a partition: the least, with no search.
        return solved.whole, min(_whole(relaxed), groups.total(solved.whole))

    def within(best: list[int], bound: float) -> bool:
        return (1 - GAP) * (fixed + groups.total(best)) <= fixed + bound

    # A plan costs the relaxation's bound plus its groups' reduced costs: one better than
    # ``value`` holds only groups whose reduced cost is less than the gap; CP-SAT weighs those.
    try:
        found, most, _ = groups.price(
            duals, _within(value - relaxed, solved.known, KEPT_GROUPS), keep=KEPT_GROUPS
        )
    except _OverBudgetError:
        # No windows: the restricted master alone, over the groups a cover within the gap
        # may hold (A3A8R: 12.8M to 11.2M).
        most = _allowance(relaxed, fixed=fixed)
        return _master(groups, solved, own, most=most, limit_s=limit_s, seed=seed), _whole(relaxed)
    masks = sorted(set(found) | set(own))
    reduced = groups.reduced(masks, duals)
    # The groups within ``most`` of zero, in two windows: the cheapest fifth first (where its
    # least is within the window's own limit, the least of all), then all of them.
    order = np.argsort(reduced, kind="stable")
    narrow = KEPT_GROUPS // 5
    limits = [most]
    if len(masks) > narrow and reduced[order[narrow]] <= most:
        limits.insert(0, float(np.nextafter(reduced[order[narrow]], -math.inf)))
    bound, best = _whole(relaxed), own
    for limit in limits:
        kept = [masks[k] for k in order if reduced[k] <= limit]
        cover, least = _least_cover(groups, kept, best, limit_s=limit_s, seed=seed)
        # A plan holding a group outside the window costs more than the relaxation plus ``limit``.
        bound = max(bound, min(least, _whole(relaxed + limit)))
        best = min((best, cover or best), key=groups.total)
        if within(best, bound):
            return best, min(bound, groups.total(best))
    # Still apart: the best cover of the relaxation's own groups (a restricted master; those
    # that can better the plan) is most often near the least; then CP-SAT weighs every group
    # that can better that cover (its reduced cost within the new gap, listed by pricing
    # where past ``most``).
    listed = (masks, reduced, most)
    best, bound = _narrowed(groups, solved, best, bound, listed, fixed=fixed, limit_s=limit_s, seed=seed)
    if within(best, bound):
        return best, min(bound, groups.total(best))
    if groups.splits is not None:
        # The relaxation leaves out how many buildings may be split, and cuts do not bring
        # that back (00P: 17 % apart with them or without).
        return best, min(bound, groups.total(best))
    # Still apart: subset-row cuts raise the relaxation towards the least partition, with a
    # pricing budget of their own; then the same searches at the stronger duals.
    groups.left = CUT_NODES
    cut = _cut(groups, solved, groups.total(best), fixed=fixed)
    bound = max(bound, _whole(cut.bound))
    if cut.whole is not None and groups.split_within(cut.whole):
        best = min((best, cut.whole), key=groups.total)  # the least partition
    elif not within(best, bound):
        best, bound = _narrowed(groups, cut, best, bound, None, fixed=fixed, limit_s=limit_s, seed=seed)
    return best, min(bound, groups.total(best))


def _narrowed(
    groups: _Groups,
    solved: _Relaxed,
    best: list[int],
    bound: float,
    listed: tuple[list[int], np.ndarray, float] | None,
    *,
    fixed: float,
    limit_s: float,
    seed: int,
) -> tuple[list[int], float]:
    """Return a cover no worse than ``best`` and a bound no lower than ``bound``: two searches.

    The restricted master (:func:`_master`), then CP-SAT over every group whose reduced
    cost (at ``solved``'s duals) is within the gap the better cover leaves: priced, or
    taken from ``listed`` (groups, their reduced costs, and the limit up to which they are
    all there) where that list reaches far enough or pricing overruns its budget. Where
    there is no list (the pass after the cuts), a dive in the relaxation first
    (:meth:`_Relaxation.dive`): a cover near the least most often, where the master's
    0.2 s finds none better than a poor plan (91Q on July 2022's list sizes: 41.0M to 29.7M).
    """
    dived = solved.lp.dive() if listed is None else None
    if dived is not None and groups.split_within(dived):
        best = min((best, dived), key=groups.total)
    # After the cuts, only the groups a cover within the gap of the bound may hold (their
    # reduced costs sum to at most what it costs above the bound): far fewer where the plan
    # is poor, so CP-SAT's 0.2 s finds a cover among them (July 2022's B2M3M: 15.84M, where
    # over all the relaxation's groups it found none better than the plan's 18.0M).
    most = math.inf if listed is not None else _allowance(solved.bound, fixed=fixed)
    best = _master(groups, solved, best, most=most, limit_s=limit_s, seed=seed)
    limit = groups.total(best) - solved.bound
    if listed is not None and limit <= listed[2]:
        masks, reduced, _ = listed
    else:
        try:
            found, limit, _ = groups.price(
                solved.duals, _within(limit, solved.known, 2 * KEPT_GROUPS), keep=2 * KEPT_GROUPS
            )
        except _OverBudgetError:
            if listed is None:
                return best, bound
            masks, reduced, limit = listed
        else:
            masks = sorted(set(found) | set(best))
            reduced = groups.reduced(masks, solved.duals)
    kept = [mask for mask, r in zip(masks, reduced, strict=True) if r <= limit]
    cover, least = _least_cover(groups, kept, best, limit_s=limit_s, seed=seed)
    # A plan holding a group outside the window costs more than the relaxation plus ``limit``.
    bound = max(bound, min(least, _whole(solved.bound + limit)))
    return min((best, cover or best), key=groups.total), bound


def _master(
    groups: _Groups, solved: _Relaxed, best: list[int], *, most: float, limit_s: float, seed: int
) -> list[int]:
    """Return the least cover CP-SAT finds over the relaxation's groups that can better ``best``.

    ``best`` itself where it finds none better. ``most``: only groups of reduced cost up to
    it are weighed.
    """
    limit = min(groups.total(best) - solved.bound, most)
    reduced = groups.reduced(solved.columns, solved.duals)
    useful = [mask for mask, r in zip(solved.columns, reduced, strict=True) if r <= limit]
    cover, _ = _least_cover(groups, sorted(set(useful) | set(best)), best, limit_s=limit_s, seed=seed)
    return min((best, cover or best), key=groups.total)


def _cut(groups: _Groups, solved: _Relaxed, value: float, *, fixed: float) -> _Relaxed:
    """Return the relaxation re-solved with rounds of subset-row cuts (``solved`` where it breaks none).

    Rounds of the cuts the last solution breaks most (:func:`_subset_row_cuts`), each
    followed by column generation, until the bound is within the gap of ``value`` (a
    cover's cost, ``fixed`` the fixed groups'), the solution is a partition, or the rounds
    left (of :data:`CUT_ROUNDS`), each raising the bound as much as the last, would not
    bring it within the gap (the cuts tail off). Where pricing overruns its budget (or GLOP
    fails) in a round, the relaxation as the round before left it.
    """
    for round_ in range(CUT_ROUNDS):
        cuts = _subset_row_cuts(groups, solved)
        if not cuts:
            break
        before = solved.bound
        groups.cuts += cuts
        solved.lp.cut(cuts)
        try:
            again = _generate(groups, solved.lp, [])
        except _OverBudgetError:
            again = None
        if again is None:
            # The round could not be solved: the last round's duals, the new cuts' at zero
            # (any duals of at most zero certify a bound), and what they certify.
            return solved._replace(duals=np.concatenate([solved.duals, np.zeros(len(cuts))]))
        solved = again
        needed = (1 - GAP) * (fixed + value) - (fixed + _whole(solved.bound))
        if solved.whole is not None or needed <= 0:
            break
        if (solved.bound - before) * (CUT_ROUNDS - 1 - round_) < needed:
            break  # the rounds left, each raising the bound as much as this one, would not do
    return solved


def _within(most: float, known: np.ndarray, keep: int) -> float:
    """Return the limit a pricing pass keeping the ``keep`` least groups starts from.

    ``most``, or less: the ``keep``-th least reduced cost of distinct groups ``known``. A
    group's bound is at most its reduced cost, so at least ``keep`` groups have a bound up
    to it, and the ``keep`` least bounds are those a pass from ``most`` keeps; it only
    prunes sooner (England's windows weighed 17% fewer groups, with the same ones kept).
    """
    if len(known) < keep:
        return most
    return min(most, float(np.partition(known, keep - 1)[keep - 1]))


def _allowance(bound: float, *, fixed: float) -> float:
    """Return the most a cover within the gap of ``bound`` costs above it (``fixed`` counted in the gap).

    So also the most reduced cost a group of such a cover has, at the duals certifying ``bound``.
    """
    return (fixed + bound) * GAP / (1 - GAP)


def _whole(bound: float) -> float:
    """Return a bound rounded up, less a rounding allowance: plans cost whole numbers."""
    return float(math.ceil(bound - 1e-9 * max(abs(bound), 1.0)))


class _Relaxed(NamedTuple):
    """The relaxation solved: its duals, the bound they certify, and its groups."""

    duals: np.ndarray
    bound: float
    #: The solution's groups where it takes each whole or not at all (a partition), else ``None``.
    whole: list[int] | None
    #: Every group the relaxation was solved over.
    columns: list[int]
    #: The relaxation itself (cuts are added to it).
    lp: _Relaxation
    #: The solution: each group's value, in the relaxation's order.
    values: np.ndarray
    #: The reduced costs of distinct groups known at these duals (the pool's and the last
    #: pass's): pricing's ``keep`` least bounds are at most the ``keep``-th least of them.
    known: np.ndarray


def _relaxation(
    groups: _Groups,
    own: list[int],
    pool: list[int],
    *,
    uncovered: float | None = None,
    above: float | None = None,
) -> _Relaxed | None:
    """Solve the linear relaxation by column generation.

    The bound is the one the duals certify; where the solution takes each group whole or
    not at all, it is a partition, then the least. The relaxation starts from the plan's
    groups (``own``); each round adds the groups of ``pool`` (groups known beforehand) of
    negative reduced cost, else those pricing finds. ``uncovered``: each unit may be left in
    no group at this cost (a column of its own, not a group). ``above``: stop, returning
    ``None``, as soon as the relaxation's value is ``above`` or less (more groups only lower
    it, and the bound lies under it). ``None`` also where GLOP fails. Raises
    :class:`_OverBudgetError` where pricing overruns its budget.
    """
    lp = _Relaxation(groups)
    if uncovered is not None:
        lp.leave(uncovered)
    lp.add(own, groups.costs(own))
    return _generate(groups, lp, pool, uncovered=uncovered, above=above)


def _generate(
    groups: _Groups,
    lp: _Relaxation,
    pool: list[int],
    *,
    uncovered: float | None = None,
    above: float | None = None,
) -> _Relaxed | None:
    """Solve ``lp`` by column generation, from the groups it holds (see :func:`_relaxation`)."""
    have = set(lp.masks)
    pool = sorted(set(pool) - have)
    pool_cost, pool_units = groups.costs(pool), groups.incidence(pool)
    waiting = np.ones(len(pool), dtype=bool)  # not yet in the relaxation
    complete = False
    while True:
        solved = lp.duals()
        if solved is None:
            return None
        duals, value = solved
        if above is not None and value <= above:
            return None
        tolerance = _TOLERANCE * max(abs(value), 1.0)
        pool_reduced = pool_cost - pool_units.T @ duals
        pooled = np.flatnonzero(waiting & (pool_reduced < -tolerance))
        if len(pooled):
            lp.add([pool[k] for k in pooled], pool_cost[pooled])
            waiting[pooled] = False
            have.update(pool[k] for k in pooled)
            complete = False
            continue
        # A pass that stops early is followed by a full one where it found nothing new.
        found, _, complete = groups.price(duals, 0.0, enough=None if complete else NEW_PER_PASS)
        fresh = sorted(mask for mask in found if mask not in have)
        reduced = groups.reduced(fresh, duals)
        new = [mask for mask, r in zip(fresh, reduced, strict=True) if r < -tolerance]
        if new:
            lp.add(new, groups.costs(new))
            have.update(new)
            complete = False
        elif complete:
            # A full pass finds every group of reduced cost zero or less (pricing's bounds
            # leave out the cuts, which only add to it): the Lagrangian bound of these duals
            # (each group at most once, each side row and cut within its right-hand side)
            # holds whatever the solver's tolerances.
            listed = sorted(found)
            reduced = groups.reduced(listed, duals)
            slack = reduced if uncovered is None else np.concatenate([reduced, uncovered - duals[: groups.m]])
            bound = float(duals @ groups.rhs + slack[slack < 0].sum())
            in_pool = set(pool)
            known = np.concatenate(
                [
                    pool_reduced,
                    [r for mask, r in zip(listed, reduced, strict=True) if mask not in in_pool],
                ]
            )
            return _Relaxed(duals, bound, lp.whole(), lp.masks, lp, lp.values(), known)
        else:
            complete = True


def _subset_row_cuts(groups: _Groups, solved: _Relaxed) -> list[int]:
    """Return the subset-row cuts the relaxation's last solution breaks most, :data:`CUTS_PER_ROUND` at most.

    For three units, the groups holding two or more of them are taken once at most
    together (a partition holds one such group at most); a fractional solution may take
    more. Weighed over every three units its fractional groups hold.
    """
    values = solved.values
    support = np.flatnonzero((values > 1e-6) & (values < 1 - 1e-6))
    held = groups.holds([solved.columns[k] for k in support]).astype(float)
    units = np.flatnonzero(held.sum(axis=0))
    if len(units) < 3:
        return []
    held, weight = held[:, units], values[support]
    u = len(units)
    pairs = (weight[:, None] * held).T @ held  # pairs[i, j]: the groups holding both
    both = (held[:, :, None] * held[:, None, :]).reshape(len(support), u * u)
    three = ((weight[:, None] * held).T @ both).reshape(u, u, u)  # the groups holding all three
    taken = pairs[:, :, None] + pairs[:, None, :] + pairs[None, :, :] - 2 * three
    i, j, k = np.nonzero(taken > 1 + _VIOLATION)
    ordered = (i < j) & (j < k)
    i, j, k = i[ordered], j[ordered], k[ordered]
    order = np.argsort(-taken[i, j, k], kind="stable")[:CUTS_PER_ROUND]
    return [(1 << int(units[i[n]])) | (1 << int(units[j[n]])) | (1 << int(units[k[n]])) for n in order]


def _pairs_regrouped(groups: _Groups, own: list[int]) -> list[int]:
    """Return the connected groups in band within two neighbouring groups of the plan (a budget).

    Every way of regrouping two neighbours, :data:`POOL_GROUPS` at most: the relaxation
    takes those of negative reduced cost first, which brings it far nearer its end than
    pricing from the plan's own groups alone (a few rounds of pricing, not dozens).
    """
    band, budget = groups.inst.rules.band, Budget(POOL_GROUPS)
    found: set[int] = set()
    try:
        for a in own:
            reach = 0
            for k in _bits(a):
                reach |= groups.near[k]
            for b in own:
                if a < b and reach & b:
                    both = a | b
                    for k in _bits(both):
                        after = both & ~((1 << k) - 1)
                        for mask, total in connected_groups(
                            k, after, groups.near, groups.sizes, budget, most=band.high
                        ):
                            if total >= band.low:
                                found.add(mask)
    except OverBudgetError:
        pass
    return sorted(found)


def _least_cover(
    groups: _Groups, kept: list[int], hint: list[int], *, limit_s: float, seed: int, linearization: int = 2
) -> tuple[list[int] | None, float]:
    """Return the least cover CP-SAT finds over the groups ``kept`` (or ``None``), and its bound.

    Each unit in exactly one group, groups priced at their cost rounded down (so the bound
    holds for the true costs), started from the cover ``hint`` where all its groups are kept.
    ``linearization``: CP-SAT's ``linearization_level`` (its LP's cuts pay where the groups
    have costs; a cover of groups costing nothing is found sooner with 1).
    """
    model = cp_model.CpModel()
    take = [model.new_bool_var("") for _ in kept]
    holding: list[list[cp_model.IntVar]] = [[] for _ in range(groups.m)]
    for mask, x in zip(kept, take, strict=True):
        for k in _bits(mask):
            holding[k].append(x)
    for xs in holding:
        model.add_exactly_one(xs)
    if groups.room != _NO_ROOM:
        # Groups outside the band take no more than the stages before leave them.
        rows = [groups.side_rows(mask) for mask in kept]
        for r, most in enumerate(groups.room):
            model.add(sum(row[r] * x for row, x in zip(rows, take, strict=True) if row[r]) <= most)
    if groups.splits is not None:
        # A building is whole only where a group taken holds all of it.
        whole = [model.new_bool_var(f"whole[{b}]") for b in range(len(groups.buildings))]
        for building, w in zip(groups.buildings, whole, strict=True):
            model.add(w <= sum(x for mask, x in zip(kept, take, strict=True) if mask & building == building))
        model.add(sum(whole) >= len(whole) - groups.splits)
    model.minimize(cp_model.LinearExpr.weighted_sum(take, [math.floor(groups.cost[mask]) for mask in kept]))
    start = set(hint)
    if start <= set(kept):
        for mask, x in zip(kept, take, strict=True):
            model.add_hint(x, mask in start)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers, params.random_seed, params.max_deterministic_time = 1, seed, limit_s
    # A set partitioning is all linear: presolve's probing does not pay.
    params.cp_model_presolve, params.linearization_level = False, linearization
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return None, math.inf
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, -math.inf
    return [
        mask for mask, x in zip(kept, take, strict=True) if solver.boolean_value(x)
    ], solver.best_objective_bound


def _grouping(
    practices_of: Sequence[Sequence[int]], chosen: Sequence[int], labels: Sequence[int]
) -> list[int]:
    """Return ``labels`` with the units grouped as the groups ``chosen`` say (each unit's practices given)."""
    out = list(labels)
    base = max(labels, default=0) + 1
    for k, mask in enumerate(chosen):
        for bit in _bits(mask):
            for i in practices_of[bit]:
                out[i] = base + k
    return out


def _room(inst: Instance, done: Mapping[str, StageResult]) -> _Room | None:
    """Return what the stages in ``done`` leave to free groups outside the band (``None``: repair's)."""
    if "moves" in done or any(name not in done for name in ("out_of_band_all", "deviation")):
        return None
    fixed = [_NO_ROOM.rows(inst.status(group), inst.deviation(group)) for group in inst.fixed_groups()]
    out = round(done["out_of_band_all"].value) - sum(row[1] for row in fixed)
    breaking = (
        round(done["out_of_band"].value) - sum(row[0] for row in fixed) if "out_of_band" in done else out
    )
    return _Room(
        max(breaking, 0), max(out, 0), max(round(done["deviation"].value) - sum(row[2] for row in fixed), 0)
    )


def _room_left(inst: Instance, done: Mapping[str, StageResult]) -> bool:
    """Return whether the stages in ``done`` leave free groups out of band (or are repair's)."""
    return _room(inst, done) != _NO_ROOM


def _bits(mask: int) -> list[int]:
    """Return the positions of a mask's set bits, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out
