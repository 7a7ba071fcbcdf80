"""Repair's moves as a set partitioning: a bound from its relaxation, and covers near it.

A repair of a CCG is a partition of its practices into connected groups that keep repair's
rules (:meth:`RepairRules.group_ok <footprint.partition._repair_start.RepairRules.group_ok>`:
a practice of an in-band piece ends in a group in band, a group above the ceiling holds
the practices of one existing group), no more groups breaking the band than the first
stage leaves (``left``), each group matched to one existing PCN at most and each PCN to one
group at most; a practice moves where its group is not the one matched to its PCN. So the
moves are a set partitioning over (group, PCN) pairs, each costing the group's practices of
other PCNs (of any PCN where it is matched to none), with a row per unit (each in one
group), per PCN (matched once at most) and for the groups breaking the band. Its linear
relaxation bounds the moves, and is far stronger than what each broken group must lose
(:mod:`footprint.partition._repair_bound`), which cannot see a group's loss become its
neighbour's excess: 36J's repair is proven at 10 moves here (that bound: 4).

The relaxation is solved by column generation: HiGHS over the pairs found so far (from the
repair's own groups, each with every PCN it holds), then *pricing* finds pairs of negative
reduced cost by growing connected groups from each unit holding a practice of the PCN
(each pair once, from its lowest such unit; a PCN matched to none: from its lowest unit),
dropping every group grown from one that cannot reach a negative reduced cost (its units'
costs less their duals, and what further units within the ceiling's reach can take off, a
fractional knapsack); groups above the ceiling are grown from one PCN's practices alone.
A pass stops at :data:`NEW_PER_PASS` pairs (each starting after the PCN the last one stopped
at) until fewer price out; a pass that weighs every group certifies a bound from the duals (a
Lagrangian bound, whatever the solver's tolerances: the duals' sum less what the pairs'
reduced costs can take off), priced at a point between the best duals so far and the
relaxation's (smoothing).

Once the bound, rounded up, meets the relaxation's value rounded up, the pairs within ``t``
less the duals' sum (and the takeoff) hold every repair of ``t`` moves: for each ``t`` from
the bound up, CP-SAT's exact cover of them finds the least repair, or proves none has ``t``
moves, so the bound rises by one. Over its budget (:data:`MOVES_PRICING` groups weighed, a
quarter kept for the covers once the bound is certified), the bound is the last certified.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import math
from collections.abc import Sequence
from functools import cached_property
from typing import NamedTuple

import numpy as np
from ortools.sat.python import cp_model
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from footprint.config import GroupStatus
from footprint.partition._compactness import _bits, _drop_worst, _in_turn
from footprint.partition._instance import Instance, match_current, members_of
from footprint.partition._repair_start import RepairRules
from footprint.partition.warmstart import units_of

__all__ = ["MOVES_PRICING", "least_moves"]

logger = logging.getLogger(__name__)

#: Groups pricing may weigh per CCG, over all its passes, at most.
MOVES_PRICING = 500_000
#: Pairs of least reduced cost a pricing pass keeps for the relaxation.
NEW_PER_PASS = 300
#: Groups of the pricing budget kept for the covers once the bound is certified.
COVER_NODES = MOVES_PRICING // 4
#: Pairs within the gap the set partitioning is solved over, at most.
COVER_PAIRS = 10_000
#: Deterministic seconds for the set partitioning (one worker).
COVER_LIMIT_S = 5.0
#: Pricing's duals: this share of the best so far, the rest the relaxation's.
SMOOTHING = 0.7
#: Reduced costs below minus this are negative (the solver's tolerance).
_EPS = 1e-7

#: A column: a group (bit mask of units) and the PCN it is matched to (-1: none).
_Pair = tuple[int, int]


class _Pricer:
    """A CCG's units for repair's set partitioning: sizes, adjacency, costs, rules and pricing."""

    def __init__(self, inst: Instance, rules: RepairRules, breaks: Sequence[GroupStatus], left: int) -> None:
        assert inst.current is not None
        self.inst, self.rules, self.breaks, self.left = inst, rules, tuple(breaks), left
        unit, fixed = units_of(inst, sites=inst.rules.keep_sites)
        units = sorted(set(unit))
        bit = {u: k for k, u in enumerate(units)}
        self.m = len(units)
        self.practices_of: list[list[int]] = [[] for _ in units]
        for i in range(inst.n):
            self.practices_of[bit[unit[i]]].append(i)
        self.sizes = [sum(inst.sizes[i] for i in ps) for ps in self.practices_of]
        self.fixed = [bit[u] for u in sorted(fixed)]
        fixed_mask = sum(1 << k for k in self.fixed)
        self.near = [0] * self.m
        for i, j in inst.edges:
            a, b = bit[unit[i]], bit[unit[j]]
            if a != b and not (fixed_mask >> a) & 1 and not (fixed_mask >> b) & 1:
                self.near[a] |= 1 << b
                self.near[b] |= 1 << a
        self.bit_of = [bit[unit[i]] for i in range(inst.n)]
        self.pcns = sorted({c for c in inst.current if c >= 0})
        self.pcn_row = {c: k for k, c in enumerate(self.pcns)}
        # Per unit: its practices counted as moves where it leaves them (those of a PCN),
        # and per PCN, how many of them are that PCN's.
        self.counted = np.zeros(self.m)
        self.own = np.zeros((len(self.pcns), self.m))
        for i, c in enumerate(inst.current):
            if c >= 0:
                self.counted[self.bit_of[i]] += 1
                self.own[self.pcn_row[c], self.bit_of[i]] += 1
        #: Per PCN, the units holding one of its practices whose practices are all of it,
        #: where they total more than the ceiling (else none: no group of them lies above it).
        counts = np.array([len(ps) for ps in self.practices_of])
        self.pure = (self.own == counts[None, :]) & (self.own > 0)
        self.pure[(self.pure * np.array(self.sizes)[None, :]).sum(axis=1) <= inst.rules.band.high] = False
        self.fixed_mask = fixed_mask
        self.reach = self._reach(inst.rules.band.high)
        self.nodes = MOVES_PRICING
        #: Pricing stops where fewer groups are left (the covers' share, once the bound is certified).
        self.floor = 0
        self.keep = NEW_PER_PASS
        #: The context (PCN) the next partial pass starts with.
        self.turn = 0
        self.heap: list[tuple[float, _Pair]] = []
        self.statuses: dict[int, GroupStatus | None] = {}

    def _reach(self, high: int) -> np.ndarray:
        """Return, per unit, the units a group within ``high`` patients holding it may hold.

        Those joined to it by a path of ``high`` patients at most, both ends counted (a
        group's members are joined to each other within it): a shortest-path search.
        """
        reach = np.zeros((self.m, self.m), dtype=bool)
        for first in range(self.m):
            reach[first, first] = True
            least = {first: self.sizes[first]}
            heap = [(self.sizes[first], first)]
            while heap:
                d, u = heapq.heappop(heap)
                if d > least[u]:
                    continue
                for v in _bits(self.near[u]):
                    step = d + self.sizes[v]
                    if step <= high and step < least.get(v, math.inf):
                        least[v] = step
                        reach[first, v] = True
                        heapq.heappush(heap, (step, v))
        return reach

    def members(self, mask: int) -> list[int]:
        """Return the practices of a group (a bit mask of units)."""
        return [i for k in _bits(mask) for i in self.practices_of[k]]

    def status(self, mask: int) -> GroupStatus | None:
        """Return a group's status under the band rule, or ``None`` where it breaks repair's rules."""
        if mask not in self.statuses:
            members = self.members(mask)
            ok = self.rules.group_ok(members)
            self.statuses[mask] = self.inst.status(members) if ok else None
        return self.statuses[mask]

    def cost(self, pair: _Pair) -> float:
        """Return the practices of a group that move where it is matched to ``pair[1]``."""
        mask, c = pair
        units = _bits(mask)
        counted = float(self.counted[units].sum())
        return counted - (float(self.own[self.pcn_row[c], units].sum()) if c >= 0 else 0.0)

    def options(self, mask: int) -> list[_Pair]:
        """Return a group's pairs: matched to each PCN it holds a practice of, and to none."""
        rows = np.flatnonzero(self.own[:, _bits(mask)].sum(axis=1) > 0)
        return [(mask, self.pcns[r]) for r in rows.tolist()] + [(mask, -1)]

    def rows_of(self, pair: _Pair) -> tuple[list[int], list[int]]:
        """Return the rows a pair takes part in: its units', then its PCN's and the band row where it does."""
        mask, c = pair
        upper = [self.pcn_row[c]] if c >= 0 else []
        if self.status(mask) in self.breaks:
            upper.append(len(self.pcns))
        return _bits(mask), upper

    @cached_property
    def most_groups(self) -> int:
        """Return how many groups a repair has at most.

        Each group in band or above it holds the floor at least, and the rest break the band
        (``left`` at most), stand alone (fixed) or are rural.
        """
        band = self.inst.rules.band
        rural = sum(all(self.inst.rural[i] for i in ps) for ps in self.practices_of)
        return min(self.m, sum(self.sizes) // band.low + self.left + len(self.fixed) + rural)

    def rows(self, duals: np.ndarray) -> float:
        """Return what any repair costs at least, less its pairs' reduced costs at ``duals``.

        The duals of its rows: each unit once; each PCN and the band row at most their
        right-hand sides, the duals at most 0.
        """
        return float(duals[: self.m].sum() + duals[self.m : -1].sum() + duals[-1] * self.left)

    def takeoff(self, found: dict[_Pair, float], limit: float) -> float:
        """Return the most (a negative number) a repair's pairs' reduced costs take off in all.

        ``found`` are the pairs of reduced cost ``limit`` or less (the others' are above it),
        after a complete pass. A repair holds :attr:`most_groups` pairs at most, none below
        the least found; and each pair's reduced cost shared out among its units is no less,
        on each unit, than the least share of a pair holding it, each unit in one pair.
        """
        limit = min(limit, -_EPS)
        groups = self.most_groups * min(min(found.values(), default=0.0), limit)
        share = np.full(self.m, limit)
        for (mask, _), reduced in found.items():
            units = _bits(mask)
            share[units] = np.minimum(share[units], reduced / len(units))
        return max(groups, float(share.sum()))

    def price(
        self, duals: np.ndarray, *, most: float = -_EPS, keep: int = NEW_PER_PASS, partial: bool = False
    ) -> tuple[dict[_Pair, float], float]:
        """Return the ``keep`` pairs of least reduced cost at ``duals``, at most ``most`` (all weighed).

        Returns them with their reduced costs, and ``most`` as lowered where more were
        found (every pair of reduced cost up to it is among them). Raises
        :class:`_OverBudgetError` past the groups left to weigh.
        """
        high = self.inst.rules.band.high
        found: dict[_Pair, float] = {}
        limit, self.keep, self.heap, self.partial = most, keep, [], partial
        self.complete = True
        duals, pcn_duals, band_dual = duals[: self.m], duals[self.m : -1], float(duals[-1])
        free = ((1 << self.m) - 1) & ~self.fixed_mask
        # The fixed groups' pairs (no pricing grows them), then each PCN's, then none's.
        for k in self.fixed:
            for pair in self.options(1 << k):
                upper = self.rows_of(pair)[1]
                reduced = (
                    self.cost(pair)
                    - duals[k]
                    - sum(pcn_duals[r] if r < len(pcn_duals) else band_dual for r in upper)
                )
                if reduced <= limit:
                    limit = self._record(found, pair, reduced, limit)
        contexts = [(r, c) for r, c in enumerate(self.pcns)] + [(-1, -1)]
        # A partial pass starts after the PCN the last one stopped at, so each PCN's pairs come in turn.
        for at in _in_turn(len(contexts), self.turn if partial else 0):
            r, c = contexts[at]
            if not self.complete:
                break
            self.turn = (at + 1) % len(contexts)
            weight = self.counted - (self.own[r] if r >= 0 else 0.0)
            profit = (weight - duals).tolist()
            gains = np.minimum(weight - duals, 0.0)
            holders = (self.own[r] > 0) if r >= 0 else np.ones(self.m, dtype=bool)
            starts = [k for k in np.flatnonzero(holders).tolist() if (free >> k) & 1]
            offset = -float(pcn_duals[r]) if r >= 0 else 0.0
            # Groups above the ceiling: of the PCN's own units alone (where they total more).
            pure = self.pure[r] if r >= 0 else np.zeros(self.m, dtype=bool)
            pure_mask, pure_gains = _mask_of(pure), np.where(pure, gains, 0.0)
            earlier = 0
            for first in starts:
                if not self.complete:
                    break
                pool = free & ~earlier
                earlier |= 1 << first
                within = np.where(self.reach[first], gains, 0.0)
                limit = self._grow(first, pool, high, profit, within, offset, c, band_dual, found, limit)
                if pure[first]:
                    limit = self._grow(
                        first,
                        pool & pure_mask,
                        math.inf,
                        profit,
                        pure_gains,
                        offset,
                        c,
                        band_dual,
                        found,
                        limit,
                        above=high,
                    )
        return found, limit

    def _record(self, found: dict[_Pair, float], pair: _Pair, reduced: float, limit: float) -> float:
        """Keep a pair of reduced cost ``limit`` or less among the best; return the limit as lowered.

        A partial pass is complete no more once it has kept :attr:`keep` pairs.
        """
        if reduced < found.get(pair, math.inf):
            found[pair] = reduced
            heapq.heappush(self.heap, (-reduced, pair))
            if len(self.heap) > self.keep:
                limit = min(limit, _drop_worst(found, self.heap, self.keep))
            if self.partial and len(found) >= self.keep:
                self.complete = False
        return limit

    def _grow(  # noqa: PLR0913 - pricing's one loop, its state passed in
        self,
        first: int,
        pool: int,
        cap: float,
        profit: list[float],
        gains: np.ndarray,
        offset: float,
        c: int,
        band_dual: float,
        found: dict[_Pair, float],
        limit: float,
        *,
        above: float | None = None,
    ) -> float:
        """Grow every connected group of ``pool`` holding ``first`` and record those of least reduced cost.

        Groups over ``cap`` patients are dropped; with ``above``, only groups over it are
        recorded. ``gains`` are the units' negative profits, 0 for those no group grown
        here can hold. Returns the limit, lowered as pairs past the :data:`NEW_PER_PASS`
        best are dropped.
        """
        knapsack = _Knapsack(gains, np.array(self.sizes, dtype=float))
        rates, filled, taken, count = knapsack.rates, knapsack.filled, knapsack.taken, len(knapsack.rates)
        most_off, empty = knapsack.taken[-1] + knapsack.free, knapsack.free
        near, sizes, gain = self.near, self.sizes, gains.tolist()
        rest = float(gains.sum()) - gain[first]
        mask = 1 << first
        stack = [(mask, near[first] & pool & ~mask, mask, sizes[first], profit[first] + offset, rest)]
        while stack:
            mask, frontier, barred, total, bound, rest = stack.pop()
            room = cap - total
            if room < 0:
                continue
            # What further units take off within the room (the knapsack's, inlined: pricing's cost).
            k = bisect.bisect_right(filled, room) - 1
            off = most_off if k >= count else empty + taken[k] + (room - filled[k]) * rates[k]
            if bound + off > limit:
                continue
            self.nodes -= 1
            if self.nodes < self.floor:
                raise _OverBudgetError
            if bound <= limit and (above is None or total > above):
                status = self.status(mask)
                if status is not None:
                    reduced = bound - (band_dual if status in self.breaks else 0.0)
                    if reduced <= limit:
                        limit = self._record(found, (mask, c), reduced, limit)
                        if not self.complete:
                            return limit
            while frontier:
                low = frontier & -frontier
                frontier ^= low
                barred |= low
                v = low.bit_length() - 1
                rest -= gain[v]
                grown_total, grown_bound = total + sizes[v], bound + profit[v]
                if grown_total <= cap and grown_bound + rest <= limit:
                    grown = mask | low
                    stack.append(
                        (
                            grown,
                            (frontier | near[v]) & pool & ~(grown | barred),
                            barred,
                            grown_total,
                            grown_bound,
                            rest,
                        )
                    )
        return limit


class _OverBudgetError(Exception):
    """Pricing weighed more groups than its budget."""


class _Knapsack:
    """The most units of negative gain can take off within a number of patients (a fractional knapsack).

    Units of no patients take off their gains whatever the room.
    """

    def __init__(self, gains: np.ndarray, sizes: np.ndarray) -> None:
        empty = sizes <= 0
        self.free = float(gains[empty].sum())
        gains, sizes = gains[~empty], sizes[~empty]
        order = np.argsort(gains / sizes, kind="stable")[: int((gains < 0).sum())]
        self.rates = (gains[order] / sizes[order]).tolist()
        self.filled = np.concatenate([[0.0], np.cumsum(sizes[order])]).tolist()
        self.taken = np.concatenate([[0.0], np.cumsum(gains[order])]).tolist()


def least_moves(
    inst: Instance,
    rules: RepairRules,
    labels: Sequence[int],
    *,
    breaks: Sequence[GroupStatus],
    left: int,
    seed: int = 0,
    limit_s: float = COVER_LIMIT_S,
) -> tuple[list[int] | None, float]:
    """Return a repair of fewer moves than ``labels`` (or ``None``) and a bound on every repair's.

    ``labels`` is the repair found so far: its groups keep the rules and leave ``left``
    groups breaking the band at most (the statuses ``breaks``). The bound is 0 where none
    is certified within the budget. ``limit_s``: CP-SAT's deterministic seconds for the set
    partitionings, in all.
    """
    pricer = _Pricer(inst, rules, breaks, left)
    most = _cost(pricer, _start(pricer, labels))
    relaxed, best = _relaxed(pricer, labels, most)
    if relaxed is None or relaxed.bound >= most:
        return None, min(best, most)
    logger.debug(
        "%s moves' relaxation: bound %s, takeoff %.4f, %s groups left",
        inst.ccg,
        relaxed.bound,
        relaxed.takeoff,
        pricer.nodes,
    )
    better, bound = _covers(pricer, relaxed, round(most), seed=seed, limit_s=limit_s)
    logger.debug("%s moves: bound %s, %s groups weighed", inst.ccg, bound, MOVES_PRICING - pricer.nodes)
    if better is None:
        return None, bound
    found = [0] * inst.n
    for mask, _ in better:
        members = pricer.members(mask)
        for i in members:
            found[i] = members[0]
    if not rules.pairs_ok(found) or _cost(pricer, _start(pricer, found)) >= most:
        return None, bound
    return found, bound


def _covers(
    pricer: _Pricer, relaxed: _Relaxed, most: int, *, seed: int, limit_s: float
) -> tuple[list[_Pair] | None, float]:
    """Return a cover of fewer than ``most`` moves (or ``None``) and a bound, from the relaxation's.

    A repair of ``t`` moves costs the duals' sum and its pairs' reduced costs, which take
    off no more than ``relaxed.takeoff`` in all: only pairs within ``t`` less the sum and the
    takeoff can be in it. For each ``t`` from the bound up, the set partitioning over those
    finds the least repair (the least of all, where it is ``t`` or less) or proves none has
    ``t`` moves.
    """
    bound, better, slack = relaxed.bound, None, -relaxed.takeoff
    pricer.floor = 0
    for t in range(round(relaxed.bound), most):
        gap = t - relaxed.rows + slack
        try:
            kept, within = pricer.price(relaxed.duals, most=gap, keep=COVER_PAIRS)
        except _OverBudgetError:
            logger.debug("%s moves of %s: pricing over its budget", pricer.inst.ccg, t)
            break
        # A repair holding a pair not kept (its reduced cost above ``within``) has more moves.
        beyond = math.ceil(relaxed.rows + within - slack - 1e-6) if within < gap else math.inf
        if beyond <= t:
            break  # too many pairs within the gap: their covers prove nothing more
        cover, least, spent = _least_cover(pricer, list(kept), t, limit_s, seed)
        limit_s -= spent
        logger.debug(
            "%s moves of %s: %s pairs, cover %s (%.2f s), past them %s",
            pricer.inst.ccg,
            t,
            len(kept),
            least,
            spent,
            beyond,
        )
        if cover is not None and _cost(pricer, cover) < most:
            better = cover
        # Every repair of ``t`` moves or fewer is among the pairs kept: none has fewer moves
        # than the least cover of them, or ``t + 1`` where that is more.
        bound = max(bound, min(least, t + 1, beyond, most))
        if bound <= t or beyond <= t + 1 or limit_s <= 0:
            break  # the least repair found, or one may hold a pair past those kept, or no time
    return better, bound


def _cost(pricer: _Pricer, pairs: Sequence[_Pair]) -> float:
    return sum(pricer.cost(pair) for pair in pairs)


class _Relaxed(NamedTuple):
    """The relaxation's duals, the bound they certify, and its parts."""

    duals: np.ndarray
    #: What any repair costs at least, less its pairs' reduced costs (:meth:`_Pricer.rows`).
    rows: float
    #: The most a repair's pairs' reduced costs take off in all (:meth:`_Pricer.takeoff`).
    takeoff: float
    bound: float


def _relaxed(pricer: _Pricer, labels: Sequence[int], most: float) -> tuple[_Relaxed | None, float]:
    """Solve the relaxation by column generation from ``labels``; return it and the best bound certified.

    Stops once the bound certified reaches ``most``, or reaches the relaxation's value
    rounded up and no pair prices out (over the budget then, the duals of least takeoff
    that certified it). ``None`` where the budget ran out first (the bound may be lower).
    """
    start = _start(pricer, labels)
    pairs: list[_Pair] = []
    for mask, _ in start:
        pairs += pricer.options(mask)
    pairs = list(dict.fromkeys(pairs))
    costs: list[float] = []
    # The pairs' entries in the rows (each unit once; each PCN and the band row at most), by column.
    eq: tuple[list[int], list[int]] = ([], [])
    ub: tuple[list[int], list[int]] = ([], [])
    best, centre, reached, added = 0.0, None, -math.inf, pairs
    found: _Relaxed | None = None
    while True:
        for pair in added:
            units, upper = pricer.rows_of(pair)
            col = len(costs)
            eq[0].extend(units)
            eq[1].extend([col] * len(units))
            ub[0].extend(upper)
            ub[1].extend([col] * len(upper))
            costs.append(pricer.cost(pair))
        shape = (len(pricer.pcns) + 1, len(costs))
        solved = linprog(
            np.array(costs),
            A_eq=csr_matrix((np.ones(len(eq[0])), eq), shape=(pricer.m, len(costs))),
            b_eq=np.ones(pricer.m),
            A_ub=csr_matrix((np.ones(len(ub[0])), ub), shape=shape),
            b_ub=np.array([1.0] * len(pricer.pcns) + [float(pricer.left)]),
            bounds=(0, None),
            method="highs-ds",
            options={"presolve": False},
        )
        if solved.status != 0:
            logger.debug("%s moves' relaxation: %s", pricer.inst.ccg, solved.message)
            return found, best
        out = np.concatenate([solved.eqlin.marginals, np.minimum(solved.ineqlin.marginals, 0.0)])
        target = min(most, math.ceil(solved.fun - 1e-6))
        # Priced at a point between the best duals so far and the relaxation's (smoothing: the
        # relaxation's own duals swing from pass to pass), then at its own where that finds none;
        # once the bound is certified, at its own only, until no pair prices out (the covers
        # then take the fewest pairs).
        points = [out]
        if centre is not None and found is None:
            points.insert(0, SMOOTHING * centre + (1 - SMOOTHING) * out)
        held = set(pairs)
        for duals in points:
            try:
                new, limit = pricer.price(duals, partial=True)
            except _OverBudgetError:
                logger.debug("%s moves' pricing over its budget: bound %s", pricer.inst.ccg, best)
                return found, best
            fresh = [pair for pair in new if pair not in held]
            if not pricer.complete:
                break
            takeoff = pricer.takeoff(new, limit)
            bound = math.ceil(pricer.rows(duals) + takeoff - 1e-6)
            if bound > reached:
                reached, centre = bound, duals
            best = max(best, bound)
            if best >= most:
                return _Relaxed(duals, pricer.rows(duals), takeoff, most), most
            if best >= target and (found is None or takeoff > found.takeoff):
                found = _Relaxed(duals, pricer.rows(duals), takeoff, best)
                # What is left of the budget past the covers' share may lower the takeoff.
                pricer.floor = min(COVER_NODES, pricer.nodes)
            if found is not None and not new:
                return found, best  # no pair prices out

            if fresh:
                break
        else:
            return found, best
        pairs += fresh
        added = fresh


def _least_cover(
    pricer: _Pricer, pairs: list[_Pair], most: int, limit_s: float, seed: int
) -> tuple[list[_Pair] | None, float, float]:
    """Return the least cover CP-SAT finds over ``pairs`` of ``most`` moves at most (or ``None``), its bound.

    Each unit in one pair, each PCN in one at most, and no more pairs breaking the band
    than ``pricer.left``. The bound is ``inf`` where there is no such cover.
    """
    model = cp_model.CpModel()
    take = [model.new_bool_var("") for _ in pairs]
    holding: list[list[cp_model.IntVar]] = [[] for _ in range(pricer.m)]
    matched: dict[int, list[cp_model.IntVar]] = {}
    breaking = []
    for (mask, c), x in zip(pairs, take, strict=True):
        for k in _bits(mask):
            holding[k].append(x)
        if c >= 0:
            matched.setdefault(c, []).append(x)
        if pricer.status(mask) in pricer.breaks:
            breaking.append(x)
    for xs in holding:
        model.add_exactly_one(xs)
    for xs in matched.values():
        model.add_at_most_one(xs)
    model.add(sum(breaking) <= pricer.left)
    moves = sum(round(pricer.cost(pair)) * x for pair, x in zip(pairs, take, strict=True))
    model.add(moves <= most)
    model.minimize(moves)
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers, params.random_seed, params.max_deterministic_time = 1, seed, limit_s

    # Presolve and the linear relaxation's cuts pay here: the covers are near the relaxation's bound.
    params.cp_model_presolve, params.linearization_level = True, 2
    status = solver.solve(model)
    spent = solver.response_proto.deterministic_time
    if status == cp_model.INFEASIBLE:
        return None, math.inf, spent
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, -math.inf, spent
    cover = [pair for pair, x in zip(pairs, take, strict=True) if solver.boolean_value(x)]
    return cover, math.ceil(solver.best_objective_bound - 1e-6), spent


def _start(pricer: _Pricer, labels: Sequence[int]) -> list[_Pair]:
    """Return the groups of ``labels`` as pairs, matched to PCNs as their moves are counted."""
    matched = {root: c for c, root in match_current(pricer.inst, labels).items()}
    return [(_mask(pricer, members), matched.get(g, -1)) for g, members in members_of(labels).items()]


def _mask(pricer: _Pricer, members: Sequence[int]) -> int:
    mask = 0
    for i in members:
        mask |= 1 << pricer.bit_of[i]
    return mask


def _mask_of(units: np.ndarray) -> int:
    """Return the bit mask of the units marked true."""
    return sum(1 << k for k in np.flatnonzero(units).tolist())
