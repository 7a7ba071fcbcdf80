"""Clinical-director sharing: which neighbouring PCNs could share one director, how far, for what time.

Every PCN names an accountable clinical director (CD), funded at 0.25 WTE per 50,000
registered patients (:func:`footprint.evaluate.funded_cd_wte`). Neighbouring PCNs may share
one CD; the analyst weighs fewer, better-funded posts against distance and the number of
practices one person must know. This package

- lists the **candidates**: every pair of neighbouring PCNs (and, with ``cluster_size``, every
  connected cluster of up to that many PCNs) with combined patients and practices, the CD
  **base** (the member practice whose largest straight-line distance to the other members is
  least, or a named one), the largest and list-weighted mean base-to-member distance, funded
  WTE, sessions a week and pounds a year, and which limits it meets (:func:`share_candidates`);
- finds the **optimal arrangement**: fewest CD posts under the limits, then least
  list-weighted mean distance to the base, exactly: pairs by a maximum-weight matching
  (:func:`optimal_pairs`), clusters of up to ``cluster_size`` PCNs by the partition model;
  and says why each PCN left alone keeps its own CD;
- measures the **sensitivity** of the number of posts to the distance limit.

Distances are straight lines between practice sites (EPSG:27700 metres), like every distance
in footprint. Clusters of more than two PCNs are arranged by the partition model on the graph
of PCNs (:func:`footprint.partition.cluster_groups`, imported only when asked for), proven
optimal per component. Nothing else here imports OR-Tools, and nothing imports render: the
report and its chart are drawn by :mod:`footprint.render.share_report`.

Modules, in the order of the analysis: :mod:`~footprint.share.options` (:class:`ShareOptions`),
:mod:`~footprint.share.rates` (CD payment rates by year), :mod:`~footprint.share.candidates`
(the graph of PCNs and the candidate pairs and clusters), :mod:`~footprint.share.pairing`
(the optimal pairs and why a PCN keeps its own CD), :mod:`~footprint.share.clusters` (clusters
of more than two PCNs, by the partition model) and :mod:`~footprint.share.result`
(:func:`share_plan` and :class:`ShareResult`).

Examples
--------
>>> import networkx as nx
>>> from footprint.plan import Plan
>>> g = nx.Graph()
>>> for code, x, size in [("A", 0, 20_000), ("B", 3_000, 20_000), ("C", 7_000, 20_000)]:
...     g.add_node(code, x=float(x), y=0.0, list_size=size, ccg_code="X", practice_name=code)
>>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
>>> result = share_plan(Plan({"A": "p", "B": "q", "C": "r"}), g, options=ShareOptions(max_km=5))
>>> result.cd_posts, sorted(result.keep_own)
(2, ['r'])
"""

from __future__ import annotations

from footprint.config import SESSIONS_PER_WTE
from footprint.share.candidates import PAIR_COLUMNS, pcn_graph, share_candidates
from footprint.share.clusters import cluster_reach
from footprint.share.options import ShareOptions
from footprint.share.pairing import optimal_pairs
from footprint.share.rates import CdRate, rate_for_year, read_rates
from footprint.share.result import ARRANGEMENT_COLUMNS, ShareResult, base_links, share_plan

__all__ = [
    "ARRANGEMENT_COLUMNS",
    "PAIR_COLUMNS",
    "SESSIONS_PER_WTE",
    "CdRate",
    "ShareOptions",
    "ShareResult",
    "base_links",
    "cluster_reach",
    "optimal_pairs",
    "pcn_graph",
    "rate_for_year",
    "read_rates",
    "share_candidates",
    "share_plan",
]
