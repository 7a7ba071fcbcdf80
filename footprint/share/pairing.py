"""The optimal arrangement of pairs: fewest CD posts, then least distance.

:func:`optimal_pairs` finds the pairs of neighbouring PCNs sharing a CD by a maximum-weight
matching of largest cardinality, proven optimal; the private helpers say why a PCN left alone
keeps its own CD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import pandas as pd

__all__ = ["optimal_pairs"]


def optimal_pairs(
    pcns: Sequence[str], pairs: pd.DataFrame, single_cost: Mapping[str, int]
) -> list[tuple[str, str]]:
    """Return the pairs sharing a CD in an optimal arrangement: fewest posts, then least distance.

    Parameters
    ----------
    pcns
        Every PCN id.
    pairs
        The allowed pairs: columns ``pcn_a``, ``pcn_b`` and ``cost`` (whole patient-metres
        from the pair's base to its practices).
    single_cost
        Each PCN's patient-metres from its own base, when it keeps its own CD.

    Returns
    -------
    list of tuple
        The sharing pairs, each sorted, in sorted order.

    Notes
    -----
    An arrangement is a matching ``M`` of the graph ``H`` whose edges are the allowed pairs:
    matched PCNs share a CD and the rest keep their own. It has ``n - |M|`` CD posts and
    total cost ``T(M) = sum(single_cost) - sum_{(a,b) in M} d(a,b)``, where
    ``d(a,b) = single_cost[a] + single_cost[b] - cost(a,b)``; total patients are fixed, so
    least ``T`` is least list-weighted mean distance to the base.

    Each edge gets the integer weight ``w(a,b) = C + d(a,b)`` with ``C = 1 + max(0, -min d)``,
    so every weight is positive. :func:`networkx.max_weight_matching` with
    ``maxcardinality=True`` returns, among the matchings of maximum cardinality ``nu``, one of
    maximum weight. (1) Maximum cardinality means fewest posts, ``n - nu``. (2) Every matching
    of that cardinality weighs ``nu * C + sum d = nu * C + sum(single_cost) - T(M)``, so the
    heaviest is the one of least ``T``. The blossom algorithm is exact, and with integer
    weights it runs in integer arithmetic, so the result is optimal for costs in whole
    patient-metres, not approximately so. Components of ``H`` are independent and solved
    one at a time. ``tests/test_share.py`` checks this against brute force.

    Examples
    --------
    >>> pairs = pd.DataFrame({"pcn_a": ["p", "q"], "pcn_b": ["q", "r"], "cost": [10, 4]})
    >>> optimal_pairs(["p", "q", "r"], pairs, {"p": 0, "q": 0, "r": 0})
    [('q', 'r')]
    """
    if pairs.empty:
        return []
    gain = {
        (a, b): single_cost[a] + single_cost[b] - int(c)
        for a, b, c in zip(pairs["pcn_a"], pairs["pcn_b"], pairs["cost"], strict=True)
    }
    shift = 1 + max(0, -min(gain.values()))
    h = nx.Graph()
    h.add_nodes_from(pcns)
    h.add_weighted_edges_from((a, b, shift + d) for (a, b), d in sorted(gain.items()))
    chosen: list[tuple[str, str]] = []
    for component in nx.connected_components(h):
        if len(component) < 2:
            continue
        matching = nx.max_weight_matching(h.subgraph(component), maxcardinality=True, weight="weight")
        chosen.extend(tuple(sorted(e)) for e in matching)  # type: ignore[misc]
    return sorted(chosen)


def _keep_own_reason(
    pcn: str,
    pcns: nx.Graph,
    by_pair: Mapping[tuple[str, str], pd.Series],
    partners: Mapping[str, set[str]] | None = None,
) -> str:
    """Say why ``pcn`` keeps its own CD in the optimal arrangement.

    ``partners`` maps a PCN to the others of the allowed clusters holding it (clusters of
    more than two PCNs); without it, the allowed pairs are the partners.
    """
    neighbours = sorted(pcns[pcn])
    if not neighbours:
        return "no neighbouring PCN"
    rows = {n: by_pair[tuple(sorted((pcn, n)))] for n in neighbours}  # type: ignore[index]
    if partners is None:
        allowed = [n for n, row in rows.items() if row["meets_limits"]]
    else:
        allowed = sorted(partners.get(pcn, set()))
    if allowed:
        return (
            f"its possible partner(s) {', '.join(allowed)} share with others in the optimum: "
            "no arrangement has fewer CD posts with it shared"
        )
    broken = "; ".join(f"{n}: {row['reason']}" for n, row in rows.items())
    if partners is not None:
        return f"every cluster holding it breaks a limit (with each neighbouring PCN: {broken})"
    return f"every neighbouring PCN breaks a limit ({broken})"


def _partners(candidates: pd.DataFrame) -> dict[str, set[str]]:
    """Return each PCN's partners in the candidate clusters that meet the limits."""
    partners: dict[str, set[str]] = {}
    for cluster in candidates.loc[candidates["meets_limits"], "pcns"]:
        for p in cluster:
            partners.setdefault(p, set()).update(set(cluster) - {p})
    return partners
