"""The tree partitioner: a group's cost under the band rule, and the optimal cut of a tree of units.

Every group is costed by the one band rule (:class:`footprint.config.Rules`), in the
order of the objective stages: a group out of band and not exempt weighs far more than an
exempt one, which weighs far more than any number of patients of deviation
(:func:`group_cost`).

A spanning tree over units (buildings, practices, locked groups) is cut into the groups of
least total cost by a dynamic programme over list sizes (:func:`cut_tree`). The warm
start, recombination and the compactness polish all cut trees so; the spanning trees they
draw are built here too, as networkx would build them but without its overhead
(:func:`_induced_edges`, :func:`_minimum_tree`), with random weights drawn one by one
(:func:`_draws`).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache, partial

import networkx as nx

from footprint.config import Rules

__all__ = ["GROUP_BONUS", "NOT_EXEMPT_WEIGHT", "OUT_WEIGHT", "cut_tree", "group_cost"]


#: Patients per step of the tree partitioner's size grid.
_GRID = 250
#: Weight of a group out of band that is not exempt (stage ``out_of_band``).
NOT_EXEMPT_WEIGHT = 1e13
#: Weight of any group out of band (stage ``out_of_band_all``); above any CCG's deviation.
OUT_WEIGHT = 1e8
#: The tree partitioner's reward per group formed: below one patient of deviation over
#: any CCG's groups, so it only breaks ties, towards more (smaller, more compact) groups.
GROUP_BONUS = 1e-3


def group_cost(rules: Rules, list_size: int, *, practices: int, rural: bool, approved: bool = False) -> float:
    """Return the warm start's cost of one group under the band rule.

    ``NOT_EXEMPT_WEIGHT`` if out of band and not exempt, plus ``OUT_WEIGHT`` if out of
    band at all, plus the patients outside the band (:meth:`Rules.deviation`).

    Examples
    --------
    >>> group_cost(Rules(), 42_000, practices=4, rural=False)
    0.0
    >>> group_cost(Rules(), 25_000, practices=3, rural=True) == OUT_WEIGHT + 5_000
    True
    """
    status = rules.group_status(list_size, practices=practices, rural=rural, approved=approved)
    cost = float(rules.deviation(list_size))
    if status != "in_band":
        cost += OUT_WEIGHT
        if status in ("below", "above"):
            cost += NOT_EXEMPT_WEIGHT
    return cost


#: List sizes up to which a group's cost is read from a table (:func:`_closing_table`).
def _table_size(rules: Rules) -> int:
    return 10_000 * (rules.band.high // 10_000 + 4)


@lru_cache(maxsize=8)
def _closing_table(rules: Rules, rural: bool) -> array[float]:
    """Return :func:`group_cost` less :data:`GROUP_BONUS` of a free group of every list size in the table.

    A group the tree partitioner forms is never a big practice standing alone (those
    are fixed units), so it is costed as a group of several practices. The table is an
    array of doubles, not a list of float objects: reading it writes nothing (no
    reference counts), so a process forked after it was built shares its pages.
    """
    return array(
        "d", [group_cost(rules, s, practices=2, rural=rural) - GROUP_BONUS for s in range(_table_size(rules))]
    )


def _closing_cost(rules: Rules, table: Sequence[float], exact: float, *, rural: bool) -> float:
    """Return the cost of closing a free group of list size ``exact``, less :data:`GROUP_BONUS`."""
    size = round(exact)
    if size < len(table):
        return table[size]
    return group_cost(rules, size, practices=2, rural=rural) - GROUP_BONUS  # rare: past the table


def _draws(rng: random.Random, count: int) -> list[float]:
    """Return ``count`` random weights in [0, 1), drawn one after another."""
    return [rng.random() for _ in range(count)]


def _induced_edges(adjacency: Mapping[int, Iterable[int]], nodes: Iterable[int]) -> list[tuple[int, int]]:
    """Return ``sorted(graph.subgraph(nodes).edges)`` of the graph of ``adjacency``, without networkx.

    Each edge is oriented as networkx's subgraph view reports it (the end it visits first
    comes first), so that the sorted list, and the random weights drawn along it, are the
    same.
    """
    show = {u for u in nodes if u in adjacency}  # as networkx's show_nodes filter builds it
    order = show if 2 * len(show) < len(adjacency) else [u for u in adjacency if u in show]
    seen: set[int] = set()
    edges: list[tuple[int, int]] = []
    for u in order:
        edges.extend((u, v) for v in adjacency[u] if v in show and v not in seen)
        seen.add(u)
    return sorted(edges)


def _minimum_tree(nodes: Iterable[int], edges: Sequence[tuple[int, int, float]]) -> dict[int, list[int]]:
    """Return the minimum spanning forest of weighted ``edges`` over ``nodes`` (Kruskal), as adjacency.

    Nodes in the order given and each node's neighbours in order of the edges' weight, as
    networkx's ``minimum_spanning_tree`` would build the graph, without its overhead, which
    dominates on small areas.
    """
    tree: dict[int, list[int]] = {u: [] for u in nodes}
    root = {u: u for u in tree}

    def find(u: int) -> int:
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    for a, b, _ in sorted(edges, key=lambda edge: edge[2]):
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
            tree[a].append(b)
            tree[b].append(a)
    return tree


def _postorder(tree: Mapping[int, Iterable[int]], root: int) -> tuple[dict[int, int], list[int]]:
    """Return each unit's parent and the units in depth-first postorder from ``root``.

    Neighbours are visited in the tree's order, as networkx's ``dfs_postorder_nodes`` does.
    """
    parent: dict[int, int] = {root: root}
    order: list[int] = []
    stack = [(root, iter(tree[root]))]
    while stack:
        v, children = stack[-1]
        for c in children:
            if c not in parent:
                parent[c] = v
                stack.append((c, iter(tree[c])))
                break
        else:
            stack.pop()
            order.append(v)
    del parent[root]
    return parent, order


#: The open groups of a unit's subtree by grid step: (least cost of the closed groups,
#: the open group's exact list size); only reachable steps are kept.
_States = dict[int, tuple[float, float]]


def cut_tree(
    tree: Mapping[int, Iterable[int]] | nx.Graph,
    sizes: Mapping[int, int],
    rural: Mapping[int, bool],
    rules: Rules,
    *,
    below: float = float("inf"),
) -> tuple[float, dict[int, int]] | None:
    """Cut a tree of units into subtrees of least total :func:`group_cost`.

    A dynamic programme from the leaves up: a state is the size, in grid steps, of the
    group still open at a unit; each child's open group is either closed (the edge cut)
    or joined. A group is rural when all its units are; each group formed earns
    :data:`GROUP_BONUS`, so of cuts alike under the band rule the one with the most groups
    wins. Ties go to the smallest state, and to a cut over a join. ``tree`` is a
    networkx graph or an adjacency mapping (unit to neighbouring units). Returns the cost
    and a group label (a unit) per unit.

    Only the states a subtree can reach are kept (sparse), which on England's trees is
    several times faster than dense arrays over the whole grid.

    With ``below``, only a cut costing less than ``below`` is wanted: states whose closed
    groups cost so much that no such cut can follow are dropped. A cut costing less is
    still found exactly (the same cut, ties broken alike); otherwise the cut returned
    costs at least ``below``, or is ``None``.
    """
    # A state's closed groups cost at most its cut's cost plus what the groups still to
    # close can take off (a bonus each, a group per unit at most), with room for rounding.
    ceiling = below + GROUP_BONUS * len(tree) + 1.0 + abs(below) * 1e-12 * len(tree)
    top = max(rules.band.high + rules.band.low // 2, max(sizes.values()) + _GRID)
    steps = top // _GRID + 1
    tables = (_closing_table(rules, False), _closing_table(rules, True))
    closings = tuple(partial(_closing_cost, rules, tables[r], rural=bool(r)) for r in (0, 1))
    root = min(tree)
    parent, order = _postorder(tree, root)
    best: dict[int, _States] = {}
    records: dict[int, list[tuple[int, dict[int, int], int]]] = {}
    rural_open: dict[int, bool] = {}
    for v in order:
        # states[s]: least cost of closed groups when the open group has s grid steps, and
        # that open group's exact list size (the grid only indexes states).
        states: _States = {round(sizes[v] / _GRID): (0.0, float(sizes[v]))}
        is_rural = rural[v]
        records[v] = []
        for c in tree[v]:
            if parent.get(c) != v:
                continue
            r = rural_open[c]
            states, join_from, cut_state = _absorb(states, best.pop(c), closings[r], tables[r], steps)
            records[v].append((c, join_from, cut_state))
            if ceiling < float("inf"):
                states = {s: state for s, state in states.items() if state[0] <= ceiling}
                if not states:
                    return None
            is_rural = is_rural and rural_open[c]
        best[v] = states
        rural_open[v] = is_rural
    state, final = -1, float("inf")
    for s, (cost, exact) in sorted(best[root].items()):
        value = cost + closings[rural_open[root]](exact)
        if value < final:
            state, final = s, value
    return final, _walk_back(root, state, records)


def _absorb(
    states: _States, child: _States, closing: Callable[[float], float], table: Sequence[float], steps: int
) -> tuple[_States, dict[int, int], int]:
    """Return a unit's states once a child's open group is closed or joined to its own.

    ``closing`` costs closing the child's open group; ``table`` holds its values up to
    the table's end. Also returns, per state, the child state joined (where a join was
    taken) and the child state closed when the edge is cut. Ties go to the smallest
    state, and to a cut over a join.
    """
    if len(child) == 1:  # a leaf, say: one way to close it, and joins that never compete
        ((s2, (cost2, exact2)),) = child.items()
        size = round(exact2)
        closed = cost2 + (table[size] if size < len(table) else closing(exact2))
        leaf_after: _States = {s1: (cost1 + closed, exact1) for s1, (cost1, exact1) in states.items()}
        leaf_from: dict[int, int] = {}
        for s1, (cost1, exact1) in states.items():
            if s1 + s2 < steps:
                value, cut = cost1 + cost2, leaf_after.get(s1 + s2)
                if cut is None or value < cut[0]:
                    leaf_after[s1 + s2] = (value, exact1 + exact2)
                    leaf_from[s1 + s2] = s2
        return leaf_after, leaf_from, s2
    inf = float("inf")
    ordered = sorted(child.items())
    # Close the child's open group (the edge cut): its cheapest state.
    cut_state, closed, end = -1, inf, len(table)
    for s2, (cost2, exact2) in ordered:
        size = round(exact2)
        value = cost2 + (table[size] if size < end else closing(exact2))
        if value < closed:
            cut_state, closed = s2, value
    # Or join it to this unit's open group (a min-plus convolution; groups past the top
    # of the grid are never worth forming). Of joins alike, the smallest child state.
    opened = sorted(states.items())
    joined: dict[int, float] = {}
    joined_from: dict[int, tuple[int, float]] = {}
    for s2, (cost2, exact2) in ordered:
        room = steps - s2
        for s1, (cost1, exact1) in opened:
            if s1 >= room:
                break
            value = cost1 + cost2
            if value < joined.get(s1 + s2, inf):
                joined[s1 + s2] = value
                joined_from[s1 + s2] = (s2, exact1 + exact2)
    after: _States = {s1: (cost1 + closed, exact1) for s1, (cost1, exact1) in opened}
    join_from: dict[int, int] = {}
    for s, value in joined.items():
        if value < after.get(s, (inf,))[0]:
            s2, exact = joined_from[s]
            after[s] = (value, exact)
            join_from[s] = s2
    return after, join_from, cut_state


def _walk_back(
    root: int, state: int, records: Mapping[int, list[tuple[int, dict[int, int], int]]]
) -> dict[int, int]:
    """Walk the programme's records back down the tree: undo each child's merge in reverse order."""
    groups: dict[int, int] = {}
    stack = [(root, state, root)]
    while stack:
        v, s, label = stack.pop()
        groups[v] = label
        for c, join_from, cut_state in reversed(records[v]):
            s2 = join_from.get(s, -1)
            if s2 < 0:
                stack.append((c, cut_state, c))
            else:
                stack.append((c, s2, label))
                s -= s2
    return groups
