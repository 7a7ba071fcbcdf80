"""Give every network an area of LSOAs: the CCG's LSOAs to the network most of whose residents it has.

Rule (issue 27): an LSOA belongs to the CCG that holds its population-weighted centroid
(the nearest CCG when the generalised polygons miss it), and goes to that CCG's network
whose practices have the most of its registered patients; ties, and LSOAs none of whose
residents are registered with a network of the CCG, go to the nearest network (the one
with the member practice nearest the centroid; among tied networks only). So a CCG's
networks cover its LSOAs with no gap and no overlap. A network crossing a CCG line is a
network of each CCG where it has a member.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from footprint.load import CRS
from footprint.plan import Plan

logger = logging.getLogger(__name__)

#: Farthest an LSOA's centroid may lie outside every CCG polygon and still take the nearest, in
#: metres (England's generalised CCGs miss 5 centroids, by at most 41 m); farther, it is in none.
MAX_OUTSIDE_M = 200.0
#: How an LSOA came to its network (``lsoas["how"]``).
HOW = ("patients", "tie", "nearest", "none")


@dataclass(frozen=True)
class NetworkAreas:
    """Network areas from where patients live, and what they show.

    Attributes
    ----------
    areas
        By ``pcn_id``: ``ccg_code``, ``patients`` (registered with its practices that the
        registrations cover), ``inside`` (of them, living in its own area), ``share_inside``,
        ``lsoas``, ``pieces``, ``area_from`` (``patients``, or ``cells`` when no member is in
        the registrations) and the area as geometry (EPSG:27700).
    lsoas
        By LSOA code, the LSOAs of the CCGs in scope: ``ccg_code``, ``pcn_id`` (``""``: left to
        no network), ``how`` (see :data:`HOW`), ``patients`` (registered with the winning
        network) and ``piece`` (the piece of its network's area it lies in; 0 is the piece with
        most of the network's patients).
    pieces
        One row per piece of every area: ``pcn_id``, ``piece``, ``lsoas``, ``patients`` (of
        the network, living there).
    ccgs
        By CCG code: ``patients`` of its practices, ``other_ccg`` (living in another CCG's
        LSOAs), ``unknown`` (living in LSOAs the boundaries lack: Welsh, unknown, another
        vintage) and ``share_other_ccg``.
    uncovered
        Practices of the plan's networks absent from the registrations: their networks' areas
        lack them, and a network with no member covered keeps its cells.
    unknown_codes
        By LSOA code the boundaries lack: ``patients`` and ``practices`` (of the practices in
        scope) registered there.
    enclosed
        PCN id to the id of the one network whose area its outer boundary touches (a donut).
    """

    areas: gpd.GeoDataFrame
    lsoas: pd.DataFrame
    pieces: pd.DataFrame
    ccgs: pd.DataFrame
    uncovered: tuple[str, ...] = ()
    unknown_codes: pd.DataFrame = field(default_factory=pd.DataFrame)
    enclosed: dict[str, str] = field(default_factory=dict)

    @property
    def unassigned(self) -> list[str]:
        """Codes of the LSOAs in scope left to no network."""
        return sorted(self.lsoas.index[self.lsoas["pcn_id"] == ""])

    def geometry(self, pcn_ids: list[str] | None = None) -> gpd.GeoSeries:
        """Return the areas as a GeoSeries by PCN id (all, or those of ``pcn_ids`` it has)."""
        series = self.areas.geometry
        return series if pcn_ids is None else series[series.index.isin(pcn_ids)]


def positions(index: pd.Index, values: pd.Series) -> np.ndarray:
    """Return each value's position in ``index`` (-1 where absent); fast for categorical values.

    Examples
    --------
    >>> positions(pd.Index(["a", "b"]), pd.Series(["b", "c", "a"], dtype="category")).tolist()
    [1, -1, 0]
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        found = np.append(index.get_indexer(values.cat.categories), -1)
        return found[codes]
    return index.get_indexer(values.to_numpy())


def lsoa_ccgs(lsoas: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame) -> pd.Series:
    """Return each LSOA's CCG: the one holding its centroid, else the nearest within :data:`MAX_OUTSIDE_M`.

    LSOAs farther from every polygon (those of CCGs the boundaries leave out) get ``None``.

    Examples
    --------
    >>> b = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
    ...                      index=pd.Index(["A", "B"], name="ccg_code"))
    >>> l = pd.DataFrame({"cx": [5.0, 15.0, 25.0, 900.0], "cy": 5.0}, index=["l1", "l2", "l3", "l4"])
    >>> lsoa_ccgs(l, b).tolist()
    ['A', 'B', 'B', None]
    """
    points = shapely.points(lsoas["cx"].to_numpy(), lsoas["cy"].to_numpy())
    polygons = boundaries.geometry.to_numpy()
    # The polygons are the queries, so GEOS prepares each once (fast point-in-polygon).
    poly_i, point_i = shapely.STRtree(points).query(polygons, predicate="contains")
    found = np.full(len(points), -1, dtype=np.int64)
    found[point_i[::-1]] = poly_i[::-1]  # the first polygon listed wins
    missing = np.flatnonzero(found < 0)
    if len(missing):
        given, nearest = shapely.STRtree(polygons).query_nearest(
            points[missing], max_distance=MAX_OUTSIDE_M, all_matches=False
        )
        found[missing[given]] = nearest
    codes = np.append(boundaries.index.to_numpy().astype(object), np.array([None], dtype=object))
    return pd.Series(codes[found], index=lsoas.index, name="ccg_code", dtype=object)


def assign_lsoas(
    plan: Plan,
    practices: pd.DataFrame,
    lsoas: gpd.GeoDataFrame,
    lsoa_ccg: pd.Series,
    registrations: pd.DataFrame,
    *,
    ccgs: Sequence[str],
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Return the LSOAs of ``ccgs`` with their network, and the uncovered practices.

    ``practices`` needs ``ccg_code`` and point geometry (EPSG:27700).
    """
    network = pd.Series(
        {c: p for c, p in plan.assignment.items() if p is not None and c in practices.index}, dtype=object
    )
    covered = set(registrations["practice_code"].unique())
    uncovered = tuple(sorted(set(network.index) - covered))
    # Networks with no member in the registrations cannot win an LSOA: they keep their cells.
    live = network[network.index.isin(covered)]
    members = practices.loc[live.index, ["ccg_code"]].assign(pcn_id=live.to_numpy())
    members["x"] = practices.geometry.loc[live.index].x.to_numpy()
    members["y"] = practices.geometry.loc[live.index].y.to_numpy()

    scope = lsoa_ccg[lsoa_ccg.isin(set(ccgs))]
    table = pd.DataFrame({"ccg_code": scope, "pcn_id": "", "how": "none", "patients": 0}, index=scope.index)

    # Rule: the CCG's network whose practices have most of the LSOA's registered patients.
    pcns = pd.Index(sorted(set(live)))
    ccg_index = pd.Index(sorted(set(scope) | set(members["ccg_code"])))
    pcn_of = pcns.get_indexer(live.to_numpy())
    practice = positions(live.index, registrations["practice_code"])
    place = positions(scope.index, registrations["lsoa_code"])
    keep = (practice >= 0) & (place >= 0)
    net, place = pcn_of[practice[keep]], place[keep]
    weight = registrations["patients"].to_numpy()[keep]
    # Only networks with a member in the LSOA's CCG take part there.
    allowed = np.unique(
        pcns.get_indexer(members["pcn_id"]) * len(ccg_index) + ccg_index.get_indexer(members["ccg_code"])
    )
    lsoa_ccg_i = ccg_index.get_indexer(scope.to_numpy())
    mine = np.isin(net * len(ccg_index) + lsoa_ccg_i[place], allowed)
    key, total = np.unique(place[mine] * len(pcns) + net[mine], return_inverse=True)
    votes = np.bincount(total, weights=weight[mine]).astype(np.int64)
    v_lsoa, v_net = key // len(pcns), key % len(pcns)
    order = np.lexsort((v_net, -votes, v_lsoa))
    v_lsoa, v_net, votes = v_lsoa[order], v_net[order], votes[order]
    first = np.r_[True, v_lsoa[1:] != v_lsoa[:-1]]
    top = np.repeat(votes[first], np.diff(np.r_[np.flatnonzero(first), len(votes)]))
    best = votes == top
    tied_lsoas = np.unique(v_lsoa[best & ~first])
    winner = first & ~np.isin(v_lsoa, tied_lsoas)
    codes = scope.index[v_lsoa[winner]]
    table.loc[codes, "pcn_id"] = pcns[v_net[winner]].to_numpy()
    table.loc[codes, "patients"] = votes[winner]
    table.loc[codes, "how"] = "patients"
    tied = best & np.isin(v_lsoa, tied_lsoas)
    ties = pd.DataFrame(
        {
            "lsoa_code": scope.index[v_lsoa[tied]],
            "pcn_id": pcns[v_net[tied]].to_numpy(),
            "patients": votes[tied],
        }
    )

    # Rule: ties go to the nearest of the tied networks; LSOAs with none to the nearest network.
    _nearest_of_ties(table, ties, members, lsoas)
    _nearest_network(table, members, lsoas)
    table["patients"] = table["patients"].astype(np.int64)
    return table, uncovered


def _nearest_of_ties(
    table: pd.DataFrame, ties: pd.DataFrame, members: pd.DataFrame, lsoas: gpd.GeoDataFrame
) -> None:
    if ties.empty:
        return
    tied = members[members["pcn_id"].isin(set(ties["pcn_id"]))]
    xy = {p: f[["x", "y"]].to_numpy() for p, f in tied.groupby("pcn_id")}
    for code, group in ties.groupby("lsoa_code", sort=True):
        centre = lsoas.loc[code, ["cx", "cy"]].to_numpy(dtype=float)
        dist = {p: float(np.hypot(*(xy[p] - centre).T).min()) for p in group["pcn_id"]}
        pcn = min(dist, key=lambda p: (dist[p], p))
        table.loc[code, ["pcn_id", "how", "patients"]] = [pcn, "tie", int(group["patients"].iloc[0])]


def _nearest_network(table: pd.DataFrame, members: pd.DataFrame, lsoas: gpd.GeoDataFrame) -> None:
    left = table.index[table["how"] == "none"]
    if not len(left):
        return
    for ccg, codes in table.loc[left].groupby("ccg_code").groups.items():
        mine = members[members["ccg_code"] == ccg]
        if mine.empty:
            continue
        tree = cKDTree(mine[["x", "y"]].to_numpy())
        _, nearest = tree.query(lsoas.loc[codes, ["cx", "cy"]].to_numpy())
        table.loc[codes, "pcn_id"] = mine["pcn_id"].to_numpy()[nearest]
        table.loc[codes, "how"] = "nearest"


def area_pieces(table: pd.DataFrame, lsoas: gpd.GeoDataFrame, own: pd.Series) -> pd.DataFrame:
    """Return each network's pieces (LSOAs joined by shared borders), largest by own patients first.

    ``own`` holds, by LSOA code, the patients of the LSOA's network living there. Adds a
    ``piece`` column to ``table`` and returns one row per piece.
    """
    position = pd.Series(np.arange(len(lsoas)), index=lsoas.index)
    adjacency = lsoas.attrs.get("adjacency")
    if adjacency is None:
        from footprint.lsoas import lsoa_adjacency

        adjacency = lsoa_adjacency(lsoas.geometry.to_numpy())
        lsoas.attrs["adjacency"] = adjacency
    net = np.full(len(lsoas), "", dtype=object)
    net[position.loc[table.index].to_numpy()] = table["pcn_id"].to_numpy()
    a, b = adjacency[:, 0], adjacency[:, 1]
    same = (net[a] == net[b]) & (net[a] != "")
    graph = coo_matrix((np.ones(int(same.sum())), (a[same], b[same])), shape=(len(lsoas), len(lsoas)))
    _, label = connected_components(graph, directed=False)
    frame = pd.DataFrame(
        {
            "pcn_id": table["pcn_id"].to_numpy(),
            "component": label[position.loc[table.index].to_numpy()],
            "patients": own.reindex(table.index, fill_value=0).to_numpy(),
        },
        index=table.index,
    )
    frame = frame[frame["pcn_id"] != ""]
    pieces = (
        frame.groupby(["pcn_id", "component"], sort=True)
        .agg(lsoas=("patients", "size"), patients=("patients", "sum"))
        .reset_index()
        .sort_values(["pcn_id", "patients", "lsoas", "component"], ascending=[True, False, False, True])
    )
    pieces["piece"] = pieces.groupby("pcn_id").cumcount()
    number = pieces.set_index(["pcn_id", "component"])["piece"]
    table["piece"] = -1
    keys = pd.MultiIndex.from_arrays([frame["pcn_id"], frame["component"]])
    table.loc[frame.index, "piece"] = number.loc[keys].to_numpy()
    return pieces[["pcn_id", "piece", "lsoas", "patients"]].reset_index(drop=True)


def dissolve(table: pd.DataFrame, lsoas: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Return each network's area: the union of its LSOAs (exact, as they form a coverage)."""
    geoms = lsoas.geometry.reindex(table.index).to_numpy()
    assigned = table["pcn_id"].to_numpy() != ""
    order = pd.Series(np.flatnonzero(assigned)).groupby(table["pcn_id"].to_numpy()[assigned]).agg(list)
    unions = [shapely.coverage_union_all(geoms[idx]) for idx in order]
    return gpd.GeoSeries(unions, index=pd.Index(order.index, name="pcn_id"), crs=CRS)
