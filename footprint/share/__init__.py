"""Clinical-director sharing: which neighbouring PCNs could share one director, how far, for what time.

Every PCN names an accountable clinical director (CD), funded by the year's CD payment per
registered patient for a time of 0.25 WTE per 50,000 patients (more in the months of a
temporary uplift; :mod:`~footprint.share.rates`). Neighbouring PCNs may share one CD; the
analyst weighs fewer, better-funded posts against distance and the number of practices one
person must know. The money is paid per patient, so sharing never changes the total: it
changes how many posts share it. This package

- lists the **candidates**: every pair of neighbouring PCNs (and, with ``cluster_size``, every
  connected cluster of up to that many PCNs) with combined patients and practices, the CD
  **base** by one rule used in every mode and output (a named base among the members, else the
  member practice whose furthest member is closest, what ``max_km`` limits; ties by the least
  list-weighted mean distance, then the code), the largest and list-weighted mean
  base-to-member distance, funded WTE, sessions a week and pounds for the year, which limits
  it meets and which members are joined to the base only across a bridge of the graph
  (:func:`share_candidates`);
- finds the **optimal arrangement**: fewest CD posts under the limits, then least
  list-weighted mean distance to the base, exactly: pairs by a maximum-weight matching
  (:func:`optimal_pairs`), clusters of up to ``cluster_size`` PCNs by the partition model
  (:func:`cluster_bases`); and says why each PCN left alone keeps its own CD;
- puts the **options side by side**: every PCN its own CD, pairs and clusters up to
  ``cluster_size`` at each distance limit, with posts, time, sessions and money per post and
  the mean and furthest distance to the base;
- lists what it **leaves out** (open practices, practices not in the plan, CCGs with no PCN)
  and totals by **ICB**.

Distances are straight lines between practice sites (EPSG:27700 metres), like every distance
in footprint. Clusters of more than two PCNs are arranged by the partition model on the graph
of PCNs (:func:`footprint.partition.cluster_groups`, imported only when asked for), proven
optimal per component. Nothing else here imports OR-Tools, and nothing imports render: the
report, chart and workbook are drawn by :mod:`footprint.render.share_report`.

Modules, in the order of the analysis: :mod:`~footprint.share.options` (:class:`ShareOptions`),
:mod:`~footprint.share.rates` (CD funding by year), :mod:`~footprint.share.candidates`
(the graph of PCNs and the candidate pairs and clusters), :mod:`~footprint.share.pairing`
(the optimal pairs and why a PCN keeps its own CD), :mod:`~footprint.share.clusters` (clusters
of more than two PCNs, by the partition model), :mod:`~footprint.share.compare` (the options
side by side), :mod:`~footprint.share.scope` (what is left out; totals by ICB) and
:mod:`~footprint.share.result` (:func:`share_plan` and :class:`ShareResult`).

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
from footprint.share.clusters import ClusterBases, cluster_bases
from footprint.share.compare import COMPARE_COLUMNS
from footprint.share.options import ShareOptions
from footprint.share.pairing import optimal_pairs
from footprint.share.rates import CdRate, RatePart, rate_for_year, read_rates
from footprint.share.result import (
    ARRANGEMENT_COLUMNS,
    CCG_COLUMNS,
    POST_COLUMNS,
    STRAIGHT_LINES,
    ShareResult,
    base_links,
    posts_by_ccg,
    share_plan,
)
from footprint.share.scope import AREA_COLUMNS, LEFT_OUT_COLUMNS

__all__ = [
    "AREA_COLUMNS",
    "ARRANGEMENT_COLUMNS",
    "CCG_COLUMNS",
    "COMPARE_COLUMNS",
    "LEFT_OUT_COLUMNS",
    "PAIR_COLUMNS",
    "POST_COLUMNS",
    "SESSIONS_PER_WTE",
    "STRAIGHT_LINES",
    "CdRate",
    "ClusterBases",
    "RatePart",
    "ShareOptions",
    "ShareResult",
    "base_links",
    "cluster_bases",
    "optimal_pairs",
    "pcn_graph",
    "posts_by_ccg",
    "rate_for_year",
    "read_rates",
    "share_candidates",
    "share_plan",
]
