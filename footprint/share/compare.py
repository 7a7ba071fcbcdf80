"""The options side by side: every PCN its own CD, pairs and clusters, at each distance limit.

:func:`arrange` finds the optimal arrangement of one option (clusters of up to ``cluster_size``
PCNs within a distance limit): pairs by the matching of :mod:`~footprint.share.pairing`,
larger clusters by the partition model (:mod:`~footprint.share.clusters`), both on the same
candidates and so the same bases. :func:`option_row` gives what a board compares: CD posts,
the time, sessions and money per post, the mean and furthest distance to the base, and the
change against every PCN keeping its own CD. The money does not change with the arrangement
(it is paid per patient); what changes is how many posts share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from footprint.config import SESSIONS_PER_WTE, SolveOptions
from footprint.share.clusters import _clusters_from_model
from footprint.share.pairing import optimal_pairs

__all__ = [
    "COMPARE_COLUMNS",
    "Arrangement",
    "arrange",
    "compare_options",
    "option_name",
    "option_row",
    "solve_steps",
]

#: Columns of the options table (``options.csv``), in order.
COMPARE_COLUMNS = (
    "option",
    "cluster_size",
    "limit_km",
    "cd_posts",
    "fewer_posts",
    "shared_posts",
    "keep_own",
    "wte_per_post",
    "sessions_per_post",
    "gbp_per_post",
    "mean_km",
    "furthest_km",
    "posts_proven",
    "proven",
    "chosen",
)


def _limits(limits: Sequence[float], max_km: float | None) -> list[float | None]:
    """Return the distance limits the options are compared at: ``limits`` and ``max_km`` (``None``: none)."""
    every = sorted({*limits, *([] if max_km is None else [max_km])})
    return [*every, *([None] if max_km is None else [])]


def solve_steps(options: Any) -> int:
    """Return how many arrangements :func:`~footprint.share.share_plan` solves for ``options``.

    The arrangement, then every other size from pairs up to ``options.cluster_size`` at each
    distance limit compared: what its ``progress`` is called for.
    """
    return (options.cluster_size - 1) * len(_limits(options.sensitivity_km, options.max_km))


def option_name(cluster_size: int) -> str:
    """Return an option's name: ``'every PCN its own CD'``, ``'pairs'``, ``'clusters of up to 3'``."""
    if cluster_size < 2:
        return "every PCN its own CD"
    return "pairs" if cluster_size == 2 else f"clusters of up to {cluster_size}"


@dataclass(frozen=True)
class Arrangement:
    """One option's optimal arrangement: the shared clusters and their bases, and the proof.

    ``clusters`` maps each shared cluster (sorted PCN ids) to its base practice; PCNs in none
    keep their own CD. ``status`` is the partition model's, per component, for clusters of more
    than two PCNs (empty for pairs, which the matching proves optimal).
    """

    cluster_size: int
    max_km: float | None
    clusters: dict[tuple[str, ...], str]
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def posts_proven(self) -> bool:
        """Whether the fewest CD posts is proven in every component."""
        return all(s["posts_proven"] for s in self.status.values())

    @property
    def proven(self) -> bool:
        """Whether the fewest posts, then the least distance, is proven in every component."""
        return all(s["distance_proven"] for s in self.status.values())


def _allowed(candidates: pd.DataFrame, cluster_size: int, max_km: float | None) -> pd.DataFrame:
    """Return the candidates of up to ``cluster_size`` PCNs within every limit and ``max_km``."""
    keep = candidates["meets_other_limits"] & (candidates["size"] <= cluster_size)
    if max_km is not None:
        keep &= candidates["max_km"] <= max_km + 1e-9
    return candidates[keep]


def arrange(
    pcns: nx.Graph,
    graph: nx.Graph,
    candidates: pd.DataFrame,
    singles: pd.DataFrame,
    *,
    cluster_size: int,
    max_km: float | None,
    solve: SolveOptions | None = None,
) -> Arrangement:
    """Return the optimal arrangement of one option: fewest CD posts, then least distance to the base.

    Parameters
    ----------
    pcns, graph
        The graph of PCNs and the graph of practices.
    candidates
        The candidate clusters (:func:`~footprint.share.candidates.share_candidates`), with
        ``meets_other_limits``: whether a cluster meets every limit but the distance.
    singles
        Each PCN's own base and patient-metres (``cost``), when it keeps its own CD.
    cluster_size
        Most PCNs sharing one CD (2: pairs, by the matching; more: the partition model).
    max_km
        The distance limit, base to member (``None``: none).
    solve
        The partition model's solver options (default :class:`~footprint.config.SolveOptions`).

    Returns
    -------
    Arrangement
        The shared clusters with their bases, and per component which stage is proven.
    """
    allowed = _allowed(candidates, cluster_size, max_km)
    if cluster_size == 2 or not (allowed["size"] > 2).any():
        pairs = allowed[allowed["size"] == 2]
        chosen = set(optimal_pairs(list(pcns), pairs, singles["cost"].to_dict()))
        base = dict(zip(map(tuple, pairs["pcns"]), pairs["base"], strict=True))
        return Arrangement(cluster_size, max_km, {c: str(base[c]) for c in sorted(chosen)})
    clusters, status = _clusters_from_model(
        pcns, graph, allowed, singles, cluster_size=cluster_size, solve=solve
    )
    return Arrangement(cluster_size, max_km, dict(sorted(clusters.items())), status)


def _figures_of(candidates: pd.DataFrame) -> dict[tuple[str, ...], tuple[int, float]]:
    """Return each candidate cluster's patient-metres and largest km from its base."""
    return {
        tuple(p): (int(c), float(k))
        for p, c, k in zip(candidates["pcns"], candidates["cost"], candidates["max_km"], strict=True)
    }


def option_row(
    arrangement: Arrangement | None,
    figures: dict[tuple[str, ...], tuple[int, float]],
    singles: pd.DataFrame,
    *,
    chosen: bool = False,
) -> dict[str, Any]:
    """Return what a board compares of one option.

    Parameters
    ----------
    arrangement
        The option's arrangement (``None``: every PCN keeps its own CD).
    figures
        Each candidate cluster's patient-metres and largest km from its base.
    singles
        Each PCN's own figures (``patients``, ``wte``, ``gbp``, ``cost``, ``max_km``).
    chosen
        Whether it is the arrangement the tables show.

    Returns
    -------
    dict
        One row of :data:`COMPARE_COLUMNS`: CD posts and how many fewer than now, shared
        posts, PCNs keeping their own, funded WTE, sessions and pounds per post (the total is
        the same in every option), the mean and furthest distance to the base, and whether
        the fewest posts, then the least distance, is proven.
    """
    clusters = {} if arrangement is None else arrangement.clusters
    in_shared = {p for c in clusters for p in c}
    alone = singles.loc[[p for p in singles.index if p not in in_shared]]
    shared = [figures[c] for c in clusters]
    n = len(singles)
    posts = len(alone) + len(shared)
    patients = float(singles["patients"].sum())
    wte = singles["wte"].dropna()
    gbp = singles["gbp"].dropna()
    cost = float(alone["cost"].sum()) + float(sum(c for c, _ in shared))
    furthest = float(np.max([*alone["max_km"], *(k for _, k in shared), 0.0]))
    status = arrangement is None or arrangement.proven
    per_post = float(wte.sum()) / posts if posts and len(wte) == n else None
    return {
        "option": option_name(0 if arrangement is None else arrangement.cluster_size),
        "cluster_size": 1 if arrangement is None else arrangement.cluster_size,
        "limit_km": None if arrangement is None else arrangement.max_km,
        "cd_posts": posts,
        "fewer_posts": n - posts,
        "shared_posts": len(shared),
        "keep_own": len(alone),
        "wte_per_post": None if per_post is None else round(per_post, 4),
        "sessions_per_post": None if per_post is None else round(per_post * SESSIONS_PER_WTE, 2),
        "gbp_per_post": round(float(gbp.sum()) / posts, 2) if posts and len(gbp) == n else None,
        "mean_km": round(cost / patients / 1000, 3) if patients else 0.0,
        "furthest_km": round(furthest, 3),
        "posts_proven": arrangement is None or arrangement.posts_proven,
        "proven": status,
        "chosen": chosen,
    }


def compare_options(
    pcns: nx.Graph,
    graph: nx.Graph,
    candidates: pd.DataFrame,
    singles: pd.DataFrame,
    *,
    chosen: Arrangement,
    limits: Sequence[float],
    solve: SolveOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Return the options side by side, the chosen arrangement among them.

    Parameters
    ----------
    pcns, graph, candidates, singles, solve
        As for :func:`arrange`.
    chosen
        The arrangement already solved (its size and limit are not solved again).
    limits
        The distance limits to compare at (``chosen.max_km`` is added).
    progress
        Called with the name of each option solved.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARE_COLUMNS`: every PCN its own CD, then each size from pairs up to
        ``chosen.cluster_size`` at each distance limit.
    """
    figures = _figures_of(candidates)
    rows = [option_row(None, figures, singles)]
    for size in range(2, chosen.cluster_size + 1):
        for km in _limits(limits, chosen.max_km):
            if size == chosen.cluster_size and km == chosen.max_km:
                found = chosen
            else:
                found = arrange(pcns, graph, candidates, singles, cluster_size=size, max_km=km, solve=solve)
                if progress is not None:
                    progress(f"{option_name(size)}, {'no limit' if km is None else f'{km:g} km'}")
            rows.append(option_row(found, figures, singles, chosen=found is chosen))
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
