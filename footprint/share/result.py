"""The result of a CD-sharing analysis: :func:`share_plan` and :class:`ShareResult`.

:func:`share_plan` lists the candidates, finds the optimal arrangement (pairs by matching,
larger clusters by the partition model), says why each PCN left alone keeps its own CD and
measures the sensitivity to the distance limit; :class:`ShareResult` holds what it finds and
turns it into the tables and summary written by ``footprint share``. :func:`base_links` gives
the lines from each shared CD's base to its member practices, for maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from footprint.plan import Plan
from footprint.share.candidates import (
    PAIR_COLUMNS,
    _limit_breaches,
    _singles,
    _Sites,
    pcn_graph,
    share_candidates,
)
from footprint.share.clusters import _cluster_figures, _cluster_sensitivity, _clusters_from_model
from footprint.share.options import ShareOptions
from footprint.share.pairing import _keep_own_reason, _partners, _sensitivity, optimal_pairs
from footprint.share.rates import CdRate, rate_for_year, read_rates

__all__ = ["ARRANGEMENT_COLUMNS", "ShareResult", "base_links", "share_plan"]

#: Columns of ``arrangement.csv``, in order (one row per PCN; the figures are its cluster's).
ARRANGEMENT_COLUMNS = (
    "cluster",
    "pcn_id",
    "pcn_name",
    "base",
    "max_km",
    "mean_km",
    "patients",
    "practices",
    "wte",
    "reason",
)


@dataclass(frozen=True)
class ShareResult:
    """What :func:`share_plan` finds: candidates, the optimal arrangement and its sensitivity.

    Attributes
    ----------
    options, rate
        The options and the year's payment rate used.
    candidates
        :func:`~footprint.share.candidates.share_candidates`' table.
    singles
        Each PCN keeping its own CD: base, distances, totals, funding (indexed by PCN id).
    arrangement
        One row per PCN: its cluster (``CD0001`` ...) and the cluster's base, ``max_km``,
        ``mean_km``, ``patients``, ``practices``, ``wte``, ``sessions``, ``gbp``, ``cost``,
        ``pcns`` (PCNs in the cluster) and ``reason`` (why a PCN keeps its own CD).
    keep_own
        PCN id to why it keeps its own CD.
    sensitivity
        :data:`~footprint.share.pairing.SENSITIVITY_COLUMNS` at each distance limit: the
        arrangement (pairs, or clusters of up to ``cluster_size`` by the partition model)
        re-solved at each.
    names
        PCN id to name (where known).
    notes
        Caveats to report (a merged payment year, an uncertain rate).
    status
        With clusters of more than two PCNs: the partition model's status per component
        (``OPTIMAL`` when both stages are proven), as in ``cluster_groups``.
    """

    options: ShareOptions
    rate: CdRate
    candidates: pd.DataFrame
    singles: pd.DataFrame
    arrangement: pd.DataFrame
    keep_own: dict[str, str]
    sensitivity: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        """Whether the arrangement is proven optimal (pairs always are; clusters per component)."""
        return all(v["status"] == "OPTIMAL" for v in self.status.values())

    @property
    def cd_posts(self) -> int:
        """CD posts in the optimal arrangement (one per cluster)."""
        return int(self.arrangement["cluster"].nunique())

    @property
    def mean_km(self) -> float:
        """List-weighted mean distance from each practice to its CD base in the arrangement, km."""
        patients = self.singles["patients"].sum()
        cost = self.arrangement.drop_duplicates("cluster")["cost"].sum()
        return float(cost / patients / 1000) if patients else 0.0

    def pairs_table(self) -> pd.DataFrame:
        """Return the candidate pairs with the columns of ``pairs.csv`` (:data:`PAIR_COLUMNS`)."""
        pairs = self.candidates[self.candidates["size"] == 2]
        return pairs.loc[:, list(PAIR_COLUMNS)].round({"max_km": 3, "mean_km": 3}).reset_index(drop=True)

    def clusters_table(self) -> pd.DataFrame:
        """Return the candidate clusters of more than two PCNs (``pcns`` joined by spaces)."""
        clusters = self.candidates[self.candidates["size"] > 2].copy()
        clusters["pcns"] = clusters["pcns"].map(" ".join)
        columns = ["pcns", *PAIR_COLUMNS[2:]]
        return clusters.loc[:, columns].round({"max_km": 3, "mean_km": 3}).reset_index(drop=True)

    def arrangement_table(self) -> pd.DataFrame:
        """Return the arrangement with the columns of ``arrangement.csv`` (:data:`ARRANGEMENT_COLUMNS`)."""
        table = self.arrangement.assign(
            pcn_name=self.arrangement["pcn_id"].map(lambda p: self.names.get(p, ""))
        )
        return table.loc[:, list(ARRANGEMENT_COLUMNS)].round({"max_km": 3, "mean_km": 3})

    def _method(self) -> str:
        if self.options.cluster_size == 2:
            return "pairs: maximum-weight matching of largest cardinality (networkx), proven optimal"
        proven = sum(v["status"] == "OPTIMAL" for v in self.status.values())
        return (
            f"clusters of up to {self.options.cluster_size} PCNs: the partition model (CP-SAT) on the graph "
            "of PCNs, fewest posts then least patient-metres to the base; proven optimal in "
            f"{proven:,} of {len(self.status):,} components"
        )

    def summary(self) -> dict[str, Any]:
        """Return plain data for ``summary.json``: options, rate, counts, arrangement, sensitivity."""
        pairs = self.candidates[self.candidates["size"] == 2]
        singles = self.singles
        posts = self.cd_posts
        gbp = self.rate.gbp(int(singles["patients"].sum()))
        return {
            "options": {**asdict(self.options), "limits": self.options.limits_text()},
            "rate": asdict(self.rate),
            "pcns": len(singles),
            "practices": int(singles["practices"].sum()),
            "patients": int(singles["patients"].sum()),
            "funded_wte": round(float(singles["wte"].sum()), 3),
            "gbp_a_year": gbp,
            "candidates": {
                "pairs": len(pairs),
                "pairs_meeting_limits": int(pairs["meets_limits"].sum()),
                "clusters_over_two": int((self.candidates["size"] > 2).sum()),
                "clusters_over_two_meeting_limits": int(
                    self.candidates.loc[self.candidates["size"] > 2, "meets_limits"].sum()
                ),
            },
            "arrangement": {
                "method": self._method(),
                "proven": self.proven,
                "cd_posts_now": len(singles),
                "cd_posts": posts,
                "shared_clusters": int((self.arrangement.drop_duplicates("cluster")["pcns"] > 1).sum()),
                "keep_own": len(self.keep_own),
                "mean_km_to_base": round(self.mean_km, 3),
                "mean_km_own_bases": round(float(singles["cost"].sum() / singles["patients"].sum() / 1000), 3)
                if len(singles)
                else 0.0,
                "wte_per_post": round(float(singles["wte"].sum()) / posts, 4) if posts else 0.0,
            },
            "keep_own": dict(sorted(self.keep_own.items())),
            "sensitivity": self.sensitivity.to_dict(orient="records"),
            "notes": list(self.notes),
        }


def base_links(result: ShareResult, plan: Plan, graph: nx.Graph) -> pd.DataFrame:
    """Return a line per member practice of each shared cluster: from its CD base, with the distance.

    For maps of the arrangement: the clusters of more than one PCN in ``result.arrangement``,
    each member practice (of every PCN of the cluster) other than the base.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster``, ``pcns`` (the cluster's PCN ids joined by spaces), ``base``,
        ``practice_code``, ``pcn_id``, ``km`` (straight line from the base), ``base_x``,
        ``base_y``, ``x``, ``y`` (EPSG:27700 metres), in cluster then practice order.
    """
    shared = result.arrangement[result.arrangement["pcns"] > 1]
    groups = plan.groups
    records = []
    for cluster, rows in shared.groupby("cluster", sort=True):
        base = str(rows["base"].iloc[0])
        bx, by = graph.nodes[base]["x"], graph.nodes[base]["y"]
        pcns = " ".join(sorted(rows["pcn_id"].astype(str)))
        for pcn in sorted(rows["pcn_id"].astype(str)):
            for code in sorted(groups.get(pcn, ())):
                if code == base or code not in graph:
                    continue
                x, y = graph.nodes[code]["x"], graph.nodes[code]["y"]
                records.append(
                    {
                        "cluster": cluster,
                        "pcns": pcns,
                        "base": base,
                        "practice_code": code,
                        "pcn_id": pcn,
                        "km": float(np.hypot(x - bx, y - by)) / 1000,
                        "base_x": float(bx),
                        "base_y": float(by),
                        "x": float(x),
                        "y": float(y),
                    }
                )
    columns = ["cluster", "pcns", "base", "practice_code", "pcn_id", "km", "base_x", "base_y", "x", "y"]
    return pd.DataFrame.from_records(records, columns=columns)


def _notes(options: ShareOptions, rate: CdRate) -> tuple[str, ...]:
    notes = [rate.describe()]
    if rate.uncertain:
        notes.append(f"the {rate.year} rate is uncertain: {rate.note}")
    if options.cluster_size > 2:
        notes.append(
            f"the arrangement and the sensitivity table share CDs in clusters of up to "
            f"{options.cluster_size} PCNs (the partition model, solved at each distance limit)"
        )
    if options.across_ccgs:
        notes.append("PCNs meeting only across a CCG boundary count as neighbours")
    return tuple(notes)


def _arrangement(
    shared: Mapping[tuple[str, ...], Mapping[str, Any]], singles: pd.DataFrame, reasons: Mapping[str, str]
) -> pd.DataFrame:
    """Return one row per PCN with its cluster's figures (:data:`ARRANGEMENT_COLUMNS` and more)."""
    in_shared = {p for cluster in shared for p in cluster}
    groups = sorted([*shared, *((p,) for p in singles.index if p not in in_shared)])
    records = []
    for k, cluster in enumerate(groups, start=1):
        row = shared[cluster] if cluster in shared else singles.loc[cluster[0]]
        figures = {c: row[c] for c in ("base", "max_km", "mean_km", "patients", "practices", "wte")}
        for pcn in cluster:
            records.append(
                {
                    "cluster": f"CD{k:04d}",
                    "pcn_id": pcn,
                    **figures,
                    "sessions": row["sessions"],
                    "gbp": row["gbp"],
                    "cost": int(row["cost"]),
                    "pcns": len(cluster),
                    "reason": "" if len(cluster) > 1 else reasons.get(pcn, ""),
                }
            )
    return pd.DataFrame.from_records(records)


def share_plan(
    plan: Plan,
    graph: nx.Graph,
    *,
    options: ShareOptions | None = None,
    rates: str | os.PathLike[str] | Mapping[str, CdRate] | None = None,
    names: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ShareResult:
    """Find which neighbouring PCNs could share a clinical director, and the best arrangement.

    Parameters
    ----------
    plan
        Any plan: the current PCNs or a proposed one.
    graph
        The graph of neighbouring practices.
    options
        Limits and choices (default :class:`ShareOptions`).
    rates
        A rates file or table of :class:`CdRate` by year (default: the shipped file).
    names
        PCN id to name, for the arrangement table.
    progress
        With clusters of more than two PCNs, called with the name of each step solved (the
        arrangement, then each distance limit of the sensitivity table): ``1 +
        len(options.sensitivity_km)`` calls.

    Returns
    -------
    ShareResult

    Raises
    ------
    DataError
        If ``options.year`` is not in the rates, the rates file is unusable or a named base
        practice is in no PCN of the plan.
    """
    options = options or ShareOptions()
    table = rates if isinstance(rates, Mapping) else read_rates(rates)
    rate = rate_for_year(options.year, table)
    candidates = share_candidates(plan, graph, options=options, rate=rate)
    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    singles = _singles(pcns, _Sites.from_graph(pcns, graph), options, rate)
    pairs = candidates[candidates["size"] == 2]
    chosen = optimal_pairs(list(pcns), pairs[pairs["meets_limits"]], singles["cost"].to_dict())
    shared: dict[tuple[str, ...], Mapping[str, Any]] = {
        tuple(row["pcns"]): row for _, row in pairs.iterrows() if tuple(row["pcns"]) in set(chosen)
    }
    status: dict[str, Any] = {}
    clusters: dict[tuple[str, ...], str] = {}
    partners = None
    if options.cluster_size > 2:
        clusters, status = _clusters_from_model(pcns, graph, options, singles)
        if progress is not None:
            progress("arrangement")
        shared = _cluster_figures(clusters, pcns, graph, rate)
        partners = _partners(candidates)
    in_shared = {p for c in shared for p in c}
    by_pair = {tuple(p): row for p, (_, row) in zip(pairs["pcns"], pairs.iterrows(), strict=True)}
    keep_own = {p: _keep_own_reason(p, pcns, by_pair, partners) for p in sorted(pcns) if p not in in_shared}
    free = ShareOptions(**{**asdict(options), "max_km": None})
    allowed = pairs.loc[np.array([not _limit_breaches(r, free) for _, r in pairs.iterrows()], dtype=bool)]
    return ShareResult(
        options=options,
        rate=rate,
        candidates=candidates,
        singles=singles,
        arrangement=_arrangement(shared, singles, keep_own),
        keep_own=keep_own,
        sensitivity=_cluster_sensitivity(pcns, graph, options, singles, (clusters, status), progress)
        if options.cluster_size > 2
        else _sensitivity(pcns, allowed, singles, options.sensitivity_km),
        names=dict(names or {}),
        notes=_notes(options, rate),
        status=status,
    )
