"""The result of a CD-sharing analysis: :func:`share_plan` and :class:`ShareResult`.

:func:`share_plan` lists the candidates, finds the optimal arrangement (pairs by matching,
larger clusters by the partition model), says why each PCN left alone keeps its own CD, puts
the options side by side and lists what it leaves out; :class:`ShareResult` holds what it finds
and turns it into the tables and summary written by ``footprint share``. :func:`base_links`
gives the lines from each shared CD's base to its member practices, for maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from footprint._text import plural
from footprint.errors import DataError
from footprint.plan import Plan
from footprint.share.candidates import (
    PAIR_COLUMNS,
    _candidates,
    _check_bases,
    _limit_breaches,
    _singles,
    _Sites,
    pcn_graph,
)
from footprint.share.compare import Arrangement, arrange, compare_options, option_name
from footprint.share.options import ShareOptions
from footprint.share.pairing import _keep_own_reason, _partners
from footprint.share.rates import CdRate, rate_for_year, read_rates
from footprint.share.scope import Areas, area_totals, areas_of, left_out, list_size_date

__all__ = [
    "ARRANGEMENT_COLUMNS",
    "CCG_COLUMNS",
    "POST_COLUMNS",
    "ShareResult",
    "base_links",
    "posts_by_ccg",
    "share_plan",
]

#: Columns of ``arrangement.csv``, in order: one row per PCN with its own figures (they sum
#: to the totals) and its CD post's base; ``max_km`` and ``mean_km`` are from that base to
#: the PCN's own practices.
ARRANGEMENT_COLUMNS = (
    "cluster",
    "pcn_id",
    "pcn_name",
    "ccg_code",
    "icb_code",
    "base",
    "base_name",
    "max_km",
    "mean_km",
    "patients",
    "practices",
    "wte",
    "sessions",
    "gbp",
    "shares_with",
    "reason",
    "bridged",
)
#: Columns of ``posts.csv``, in order: one row per CD post (a shared cluster or a PCN keeping
#: its own CD) with its totals.
POST_COLUMNS = (
    "cluster",
    "pcns",
    "pcn_names",
    "size",
    "base",
    "base_name",
    "base_pcn",
    "patients",
    "practices",
    "wte",
    "sessions",
    "gbp",
    "max_km",
    "mean_km",
    "bridged",
    "reason",
)
#: Columns of :func:`posts_by_ccg`, in order.
CCG_COLUMNS = (
    "ccg_code",
    "pcns",
    "cd_posts",
    "shared_posts",
    "keep_own",
    "furthest_km",
    "bridged",
)
#: Said on every output: how distances are measured.
STRAIGHT_LINES = (
    "Distances are straight lines between practice sites (British National Grid), not travel by road; "
    "a member joined to its base only across a bridge of the graph (over water) is named as such."
)


@dataclass(frozen=True)
class ShareResult:
    """What :func:`share_plan` finds: candidates, the optimal arrangement, the options compared.

    Attributes
    ----------
    options, rate
        The options and the year's CD funding used.
    candidates
        :func:`~footprint.share.candidates.share_candidates`' table (with
        ``meets_other_limits``: every limit but the distance).
    singles
        Each PCN keeping its own CD: base, distances, totals, funding (indexed by PCN id).
    arrangement
        One row per PCN (:data:`ARRANGEMENT_COLUMNS`, and ``cost``, ``own_cost``: its
        patient-metres to its post's base and to its own).
    posts
        One row per CD post (:data:`POST_COLUMNS`, and ``cost``).
    keep_own
        PCN id to why it keeps its own CD.
    compared
        The options side by side (:data:`~footprint.share.compare.COMPARE_COLUMNS`): every PCN
        its own CD, then pairs and clusters up to ``options.cluster_size`` at each limit.
    left_out
        Practices left out and why (:data:`~footprint.share.scope.LEFT_OUT_COLUMNS`).
    missing_ccgs
        CCG to why none of its practices is in a PCN of the plan.
    icbs
        Totals by ICB (:data:`~footprint.share.scope.AREA_COLUMNS`); empty without ICBs.
    names
        PCN id to name (where known); ``practice_names`` practice code to name.
    scope
        The CCGs asked for; ``outside`` each PCN's members in other CCGs, counted whole.
    areas
        The practices' ICBs and the names of ICBs and CCGs.
    notes
        Caveats to report (the year's funding, an uncertain rate, straight lines).
    status
        With clusters of more than two PCNs: per component of the partition model, which
        stage is proven (``posts_proven``, ``distance_proven``) and the values and bounds.
    """

    options: ShareOptions
    rate: CdRate
    candidates: pd.DataFrame
    singles: pd.DataFrame
    arrangement: pd.DataFrame
    posts: pd.DataFrame
    keep_own: dict[str, str]
    compared: pd.DataFrame
    left_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing_ccgs: dict[str, str] = field(default_factory=dict)
    icbs: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict[str, str] = field(default_factory=dict)
    practice_names: dict[str, str] = field(default_factory=dict)
    scope: tuple[str, ...] = ()
    outside: dict[str, tuple[str, ...]] = field(default_factory=dict)
    areas: Areas = field(default_factory=Areas)
    notes: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        """Whether the arrangement is proven optimal: fewest posts, then least distance."""
        return all(v["distance_proven"] for v in self.status.values())

    @property
    def posts_proven(self) -> bool:
        """Whether the fewest CD posts is proven (pairs always are; clusters per component)."""
        return all(v["posts_proven"] for v in self.status.values())

    @property
    def cd_posts(self) -> int:
        """CD posts in the optimal arrangement (one per cluster)."""
        return len(self.posts)

    @property
    def mean_km(self) -> float:
        """List-weighted mean distance from each practice to its CD base in the arrangement, km."""
        patients = self.singles["patients"].sum()
        return float(self.posts["cost"].sum() / patients / 1000) if patients else 0.0

    @property
    def sensitivity(self) -> pd.DataFrame:
        """The chosen size at each distance limit: max_km, cd_posts, shared, mean_km, proven."""
        rows = self.compared[self.compared["cluster_size"] == self.options.cluster_size]
        table = rows.rename(columns={"shared_posts": "shared", "limit_km": "max_km"})
        return table[["max_km", "cd_posts", "shared", "mean_km", "proven"]].reset_index(drop=True)

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
        return self.arrangement.loc[:, list(ARRANGEMENT_COLUMNS)].round({"max_km": 3, "mean_km": 3})

    def posts_table(self) -> pd.DataFrame:
        """Return the CD posts with the columns of ``posts.csv`` (:data:`POST_COLUMNS`)."""
        return self.posts.loc[:, list(POST_COLUMNS)].round({"max_km": 3, "mean_km": 3})

    def compared_table(self) -> pd.DataFrame:
        """Return the options side by side (``options.csv``)."""
        return self.compared.copy()

    def _method(self) -> str:
        if self.options.cluster_size == 2:
            return "pairs: maximum-weight matching of largest cardinality (networkx), proven optimal"
        posts = sum(v["posts_proven"] for v in self.status.values())
        distance = sum(v["distance_proven"] for v in self.status.values())
        of = len(self.status)
        return (
            f"clusters of up to {self.options.cluster_size} PCNs: the partition model (CP-SAT) on the graph "
            "of PCNs, fewest posts then least patient-metres to the base (each cluster based by the one "
            f"rule); fewest posts proven in {posts:,} of {plural(of, 'component')}, least distance in "
            f"{distance:,}"
        )

    def summary(self) -> dict[str, Any]:
        """Return plain data for ``summary.json``: scope, funding, the arrangement, the options."""
        pairs = self.candidates[self.candidates["size"] == 2]
        singles = self.singles
        posts = self.cd_posts
        now, chosen = self.compared.iloc[0], self.compared[self.compared["chosen"]].iloc[0]
        left = self.left_out
        return {
            "scope": {
                "ccgs": list(self.scope),
                "ccg_names": {c: self.areas.ccg_names.get(c, "") for c in self.scope},
                "icbs": sorted({self.areas.icb[c] for c in self._practices() if c in self.areas.icb}),
                "icb_names": dict(sorted(self.areas.icb_names.items())) if self.areas.icb else {},
                "icb_kind": self.areas.kind,
                "outside": {p: list(codes) for p, codes in sorted(self.outside.items())},
            },
            "options": {**asdict(self.options), "limits": self.options.limits_text()},
            "rate": {
                "year": self.rate.year,
                "months": self.rate.months,
                "gbp_per_patient": self.rate.gbp_per_patient,
                "wte_per_50000": self.rate.wte_per_50000,
                "merged_into_core": self.rate.merged_into_core,
                "uncertain": self.rate.uncertain,
                "in_words": self.rate.describe(),
                "parts": [asdict(p) | {"period": p.period()} for p in self.rate.parts],
            },
            "pcns": len(singles),
            "practices": int(singles["practices"].sum()),
            "patients": int(singles["patients"].sum()),
            "funded_wte": None if singles["wte"].isna().any() else round(float(singles["wte"].sum()), 3),
            "gbp": self.rate.gbp(int(singles["patients"].sum())),
            "gbp_for": self.rate.money_words(),
            "candidates": {
                "pairs": len(pairs),
                "pairs_meeting_limits": int(pairs["meets_limits"].sum()),
                "clusters_over_two": int((self.candidates["size"] > 2).sum()),
                "clusters_over_two_meeting_limits": int(
                    self.candidates.loc[self.candidates["size"] > 2, "meets_limits"].sum()
                ),
            },
            "arrangement": {
                "option": option_name(self.options.cluster_size),
                "method": self._method(),
                "proven": self.proven,
                "posts_proven": self.posts_proven,
                "cd_posts_now": len(singles),
                "cd_posts": posts,
                "fewer_posts": len(singles) - posts,
                "shared_clusters": int((self.posts["size"] > 1).sum()),
                "keep_own": len(self.keep_own),
                "mean_km_to_base": round(self.mean_km, 3),
                "mean_km_own_bases": float(now["mean_km"]),
                "furthest_km": float(chosen["furthest_km"]),
                "furthest_km_own_bases": float(now["furthest_km"]),
                "wte_per_post_now": _plain(now["wte_per_post"]),
                "wte_per_post": _plain(chosen["wte_per_post"]),
                "sessions_per_post_now": _plain(now["sessions_per_post"]),
                "sessions_per_post": _plain(chosen["sessions_per_post"]),
                "gbp_per_post_now": _plain(now["gbp_per_post"]),
                "gbp_per_post": _plain(chosen["gbp_per_post"]),
                "money_unchanged": "the CD money is paid per patient: sharing does not change the total, "
                "only how many posts share it",
            },
            "keep_own": dict(sorted(self.keep_own.items())),
            "compared": [_record(r) for r in self.compared.to_dict(orient="records")],
            "sensitivity": [_record(r) for r in self.sensitivity.to_dict(orient="records")],
            "by_icb": [_record(r) for r in self.icbs.to_dict(orient="records")],
            "left_out": {
                "practices": len(left),
                "patients": int(left["list_size"].sum()) if len(left) else 0,
                "by_reason": {
                    why: {"practices": len(rows), "patients": int(rows["list_size"].sum())}
                    for why, rows in left.groupby("why", sort=True)
                }
                if len(left)
                else {},
                "ccgs": dict(self.missing_ccgs),
            },
            "status": dict(sorted(self.status.items())),
            "notes": list(self.notes),
        }

    def _practices(self) -> list[str]:
        return [c for members in self.posts["members"] for c in members]


def _plain(value: Any) -> Any:
    """Return a table value as plain JSON data (NaN and numpy numbers made plain)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


def base_links(result: ShareResult, plan: Plan, graph: nx.Graph) -> pd.DataFrame:
    """Return a line per member practice of each shared cluster: from its CD base, with the distance.

    For maps of the arrangement: the shared posts of ``result.posts``, each member practice
    (of every PCN of the cluster) other than the base.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster``, ``pcns`` (the cluster's PCN ids joined by spaces), ``base``,
        ``practice_code``, ``pcn_id``, ``km`` (straight line from the base), ``bridged``
        (joined to the base only across a bridge of the graph), ``base_x``, ``base_y``,
        ``x``, ``y`` (EPSG:27700 metres), in cluster then practice order.
    """
    groups = plan.groups
    records = []
    for post in result.posts[result.posts["size"] > 1].itertuples():
        base = str(post.base)
        bx, by = graph.nodes[base]["x"], graph.nodes[base]["y"]
        bridged = set(str(post.bridged).split())
        for pcn in post.pcns.split():
            for code in sorted(groups.get(pcn, ())):
                if code == base or code not in graph:
                    continue
                x, y = graph.nodes[code]["x"], graph.nodes[code]["y"]
                records.append(
                    {
                        "cluster": post.cluster,
                        "pcns": post.pcns,
                        "base": base,
                        "practice_code": code,
                        "pcn_id": pcn,
                        "km": float(np.hypot(x - bx, y - by)) / 1000,
                        "bridged": code in bridged,
                        "base_x": float(bx),
                        "base_y": float(by),
                        "x": float(x),
                        "y": float(y),
                    }
                )
    columns = [
        "cluster",
        "pcns",
        "base",
        "practice_code",
        "pcn_id",
        "km",
        "bridged",
        "base_x",
        "base_y",
        "x",
        "y",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def posts_by_ccg(
    result: ShareResult, plan: Plan, graph: nx.Graph, ccgs: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the arrangement's CD posts as each CCG's map shows them: every post with a member there.

    A CCG's map draws every PCN with a member practice in the CCG, whole, so a post counts in
    each CCG one of its member practices is in.

    Parameters
    ----------
    result
        What :func:`share_plan` found for ``plan`` on ``graph``.
    plan
        The plan analysed (its PCNs' members).
    graph
        The graph of practices (each node's ``ccg_code``, ``x`` and ``y``).
    ccgs
        The CCGs to count (default: every CCG of a member practice), in this order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CCG_COLUMNS`: ``pcns`` with a member in the CCG, ``cd_posts`` with
        one, of which ``shared_posts`` shared by two or more PCNs and ``keep_own`` a PCN's
        own; ``furthest_km`` the furthest member practice in the CCG from its shared post's
        base (straight line; 0 without shared posts); ``bridged`` its member practices joined
        to their base only across a bridge of the graph.

    Examples
    --------
    >>> g = nx.Graph()
    >>> for code, x, ccg in [("A", 0, "X"), ("B", 3_000, "Y"), ("C", 9_000, "Y")]:
    ...     g.add_node(code, x=float(x), y=0.0, list_size=20_000, ccg_code=ccg, practice_name=code)
    >>> g.add_edges_from([("A", "B"), ("B", "C")], type="rook")
    >>> plan = Plan({"A": "p", "B": "q", "C": "r"})
    >>> result = share_plan(plan, g, options=ShareOptions(max_km=5, across_ccgs=True))
    >>> table = posts_by_ccg(result, plan, g)
    >>> table[["ccg_code", "pcns", "cd_posts", "shared_posts", "keep_own"]].to_numpy().tolist()
    [['X', 1, 1, 1, 0], ['Y', 2, 2, 1, 1]]
    """
    groups = plan.groups
    counts: dict[str, dict[str, Any]] = {}
    for post in result.posts.itertuples():
        bridged = set(str(post.bridged).split())
        base = graph.nodes[str(post.base)]
        for pcn in post.pcns.split():
            for code in sorted(c for c in groups.get(pcn, ()) if c in graph):
                row = counts.setdefault(str(graph.nodes[code]["ccg_code"]), {"pcns": set(), "posts": {}})
                row["pcns"].add(pcn)
                km = (
                    float(np.hypot(graph.nodes[code]["x"] - base["x"], graph.nodes[code]["y"] - base["y"]))
                    / 1000
                )
                far, over = row["posts"].get(post.cluster, (0.0, 0))
                row["posts"][post.cluster] = (max(far, km), over + (code in bridged))
    sizes = dict(zip(result.posts["cluster"], result.posts["size"], strict=True))
    rows = []
    for ccg in list(ccgs) if ccgs is not None else sorted(counts):
        row = counts.get(ccg, {"pcns": set(), "posts": {}})
        shared = {k: v for k, v in row["posts"].items() if sizes[k] > 1}
        rows.append(
            {
                "ccg_code": ccg,
                "pcns": len(row["pcns"]),
                "cd_posts": len(row["posts"]),
                "shared_posts": len(shared),
                "keep_own": len(row["posts"]) - len(shared),
                "furthest_km": round(max((far for far, _ in shared.values()), default=0.0), 3),
                "bridged": sum(over for _, over in shared.values()),
            }
        )
    return pd.DataFrame(rows, columns=list(CCG_COLUMNS))


def _notes(
    options: ShareOptions, rate: CdRate, posts: pd.DataFrame, list_size_date: str | None
) -> tuple[str, ...]:
    notes = [rate.describe()]
    reckoned = f"{rate.year[:4]}-01-01"
    if list_size_date and list_size_date != reckoned:
        notes.append(
            f"the list sizes are of {list_size_date}, while {rate.year}'s payments were reckoned on list "
            f"sizes of {reckoned}: the money is this year's rate applied to these patients"
        )
    notes += [f"{p.part} of {rate.year} is uncertain: {p.note}" for p in rate.parts if p.uncertain]
    if options.cluster_size > 2:
        notes.append(
            f"the arrangement shares CDs in clusters of up to {options.cluster_size} PCNs (the partition "
            "model); the options compared are solved again at each distance limit and size"
        )
    if options.across_ccgs:
        notes.append("PCNs meeting only across a CCG boundary count as neighbours")
    notes.append(STRAIGHT_LINES)
    bridged = posts[(posts["size"] > 1) & (posts["bridged"] != "")]
    if len(bridged):
        named = "; ".join(f"{r.cluster} (base {r.base}): {r.bridged}" for r in bridged.itertuples())
        notes.append(f"members joined to their base only across a bridge of the graph (over water): {named}")
    return tuple(notes)


@dataclass(frozen=True)
class _Labels:
    """What the tables name: why PCNs keep their own CD, PCN and practice names, areas."""

    reasons: Mapping[str, str]
    names: Mapping[str, str]
    practice_names: Mapping[str, str]
    areas: Areas


def _posts_and_pcns(
    chosen: Arrangement,
    singles: pd.DataFrame,
    candidates: pd.DataFrame,
    sites: _Sites,
    pcns: nx.Graph,
    labels: _Labels,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return one row per CD post (:data:`POST_COLUMNS`) and one per PCN (:data:`ARRANGEMENT_COLUMNS`)."""
    reasons, names, practice_names, areas = labels.reasons, labels.names, labels.practice_names, labels.areas
    figures = {
        tuple(p): row for p, row in zip(candidates["pcns"], candidates.to_dict("records"), strict=True)
    }
    in_shared = {p for c in chosen.clusters for p in c}
    groups = sorted([*chosen.clusters, *((p,) for p in singles.index if p not in in_shared)])
    post_rows, pcn_rows = [], []
    for k, cluster in enumerate(groups, start=1):
        row = figures[cluster] if len(cluster) > 1 else {**singles.loc[cluster[0]].to_dict(), "pcns": cluster}
        post, base = f"CD{k:04d}", str(row["base"])
        bridged = set(str(row["bridged"]).split())
        members = [c for p in cluster for c in pcns.nodes[p]["members"]]
        post_rows.append(
            {
                "cluster": post,
                "pcns": " ".join(cluster),
                "pcn_names": "; ".join(names.get(p, "") for p in cluster),
                "size": len(cluster),
                "base": base,
                "base_name": practice_names.get(base, ""),
                "base_pcn": next(p for p in cluster if base in pcns.nodes[p]["members"]),
                **{
                    c: row[c]
                    for c in ("patients", "practices", "wte", "sessions", "gbp", "max_km", "mean_km")
                },
                "bridged": " ".join(sorted(bridged)),
                "reason": "" if len(cluster) > 1 else reasons.get(cluster[0], ""),
                "cost": int(row["cost"]),
                "members": tuple(members),
            }
        )
        for pcn in cluster:
            own = singles.loc[pcn]
            km, metres = sites.from_base(base, pcn)
            patients = int(own["patients"])
            pcn_rows.append(
                {
                    "cluster": post,
                    "pcn_id": pcn,
                    "pcn_name": names.get(pcn, ""),
                    "ccg_code": str(pcns.nodes[pcn]["ccg_code"]),
                    "icb_code": " ".join(
                        sorted({areas.icb[c] for c in pcns.nodes[pcn]["members"] if c in areas.icb})
                    ),
                    "base": base,
                    "base_name": practice_names.get(base, ""),
                    "max_km": km,
                    "mean_km": metres / patients / 1000 if patients else 0.0,
                    "patients": patients,
                    "practices": int(own["practices"]),
                    "wte": own["wte"],
                    "sessions": own["sessions"],
                    "gbp": own["gbp"],
                    "shares_with": " ".join(p for p in cluster if p != pcn),
                    "reason": "" if len(cluster) > 1 else reasons.get(pcn, ""),
                    "bridged": " ".join(sorted(bridged & set(pcns.nodes[pcn]["members"]))),
                    "cost": metres,
                    "own_cost": int(own["cost"]),
                }
            )
    return pd.DataFrame(post_rows), pd.DataFrame(pcn_rows)


def _no_pcn(left: pd.DataFrame) -> str:
    counts = left["why"].value_counts()
    parts = ", ".join(f"{n:,} {why}" for why, n in sorted(counts.items()))
    return (
        f"no PCN to share a clinical director: the plan puts none of the {len(left):,} practices given "
        f"in a PCN ({parts or 'no practices'}); give a plan with PCNs in these CCGs"
    )


def share_plan(
    plan: Plan,
    graph: nx.Graph,
    *,
    options: ShareOptions | None = None,
    rates: str | os.PathLike[str] | Mapping[str, CdRate] | None = None,
    names: Mapping[str, str] | None = None,
    practices: pd.DataFrame | None = None,
    ccgs: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ShareResult:
    """Find which neighbouring PCNs could share a clinical director, and the best arrangement.

    Parameters
    ----------
    plan
        Any plan: the current PCNs or a proposed one.
    graph
        The graph of neighbouring practices: the practices given (each practice of it in no
        PCN of the plan is listed in ``left_out``, with why).
    options
        Limits and choices (default :class:`ShareOptions`).
    rates
        A rates file or table of :class:`CdRate` by year (default: the shipped file).
    names
        PCN id to name (default: the current PCNs' names in ``practices``, where ids are
        current PCN codes).
    practices
        The practices table (indexed by code): ICBs (``icb_code``, or ``stp_code`` on 2022
        data), the names of ICBs, CCGs and current PCNs, and the date of the list sizes
        (``list_size_date``, else ``data_date``: a note says so where the year's payments were
        reckoned on others, those of 1 January of the year's start); optional.
    ccgs
        The CCGs asked for (default: every CCG of ``graph``); a PCN's members in other CCGs
        are counted whole and named in ``outside``.
    progress
        Called with the name of each option solved (the arrangement, then each size and
        distance limit of the options compared).

    Returns
    -------
    ShareResult

    Raises
    ------
    DataError
        If ``options.year`` is not in the rates, the rates file is unusable, a named base
        practice is in no PCN of the plan, or the plan has no PCN among the practices given.
    """
    options = options or ShareOptions()
    table = rates if isinstance(rates, Mapping) else read_rates(rates)
    rate = rate_for_year(options.year, table)
    areas = areas_of(practices)
    pcns = pcn_graph(plan, graph, across_ccgs=options.across_ccgs)
    left, missing = left_out(plan, graph, pcns)
    if not len(pcns):
        raise DataError(_no_pcn(left))
    _check_bases(options.bases, plan, pcns)
    sites = _Sites.from_graph(pcns, graph)
    candidates = _candidates(pcns, sites, options, rate)
    free = ShareOptions(**{**asdict(options), "max_km": None})
    candidates["meets_other_limits"] = [not _limit_breaches(r, free) for r in candidates.to_dict("records")]
    singles = _singles(pcns, sites, options, rate)
    chosen = arrange(
        pcns, graph, candidates, singles, cluster_size=options.cluster_size, max_km=options.max_km
    )
    if progress is not None:
        progress("arrangement")
    pairs = candidates[candidates["size"] == 2]
    by_pair = {tuple(p): row for p, row in zip(pairs["pcns"], pairs.to_dict("records"), strict=True)}
    partners = _partners(candidates) if options.cluster_size > 2 else None
    in_shared = {p for c in chosen.clusters for p in c}
    keep_own = {p: _keep_own_reason(p, pcns, by_pair, partners) for p in sorted(pcns) if p not in in_shared}
    pcn_names = {**{p: areas.pcn_names[p] for p in pcns if p in areas.pcn_names}, **dict(names or {})}
    practice_names = {c: str(d.get("practice_name", "")) for c, d in graph.nodes(data=True)}
    posts, per_pcn = _posts_and_pcns(
        chosen,
        singles,
        candidates,
        sites,
        pcns,
        _Labels(keep_own, pcn_names, practice_names, areas),
    )
    compared = compare_options(
        pcns, graph, candidates, singles, chosen=chosen, limits=options.sensitivity_km, progress=progress
    )
    in_pcn = {c for _, m in pcns.nodes(data="members") for c in m}
    scope = tuple(sorted(ccgs)) if ccgs else tuple(sorted({str(graph.nodes[c]["ccg_code"]) for c in in_pcn}))
    outside = {
        p: tuple(c for c in sorted(m) if str(graph.nodes[c]["ccg_code"]) not in scope)
        for p, m in pcns.nodes(data="members")
    }
    return ShareResult(
        options=options,
        rate=rate,
        candidates=candidates,
        singles=singles,
        arrangement=per_pcn,
        posts=posts,
        keep_own=keep_own,
        compared=compared,
        left_out=left,
        missing_ccgs=missing,
        icbs=area_totals(per_pcn, posts, graph, pcns, areas),
        names=pcn_names,
        practice_names=practice_names,
        scope=scope,
        outside={p: codes for p, codes in outside.items() if codes},
        areas=areas,
        notes=_notes(options, rate, posts, list_size_date(practices)),
        status=chosen.status,
    )
