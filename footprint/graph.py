"""Build the graph of neighbouring practices from their locations and CCG polygons.

Practices are points, so each gets a cell: the Voronoi region of its site among the
sites of its own CCG, clipped to that CCG's polygon. Practices in one building share
one cell. Two practices are neighbours (``rook``) when their cells share more than
1 m of border; practices in one building are joined as a clique (``site``). Where a
CCG still falls apart (islands, estuaries, detached parts), each piece is joined to
its nearest piece by an explicit ``bridge`` edge carrying its length. Neighbouring
cells of different CCGs are joined by ``cross_ccg`` edges, used only to judge plans
that cross a boundary.

With ``neighbours="patients"`` the cells' borders give way to where patients live
(:mod:`footprint.neighbours`): practices of one CCG sharing patients in the same or touching
LSOAs are ``patients`` neighbours, of two CCGs ``cross_ccg``; a practice with no such
neighbour in its CCG keeps its cell's neighbours; buildings and bridges are as above.

Edge attribute ``type`` is one of ``rook``, ``site``, ``bridge``, ``cross_ccg`` or ``patients``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.spatial.distance import cdist

from footprint._io import cache_folder, pickled
from footprint.errors import GraphError
from footprint.load import CRS, ccg_names
from footprint.neighbours import NEIGHBOURS, PatientRule, patient_edges

__all__ = [
    "EDGE_TYPES",
    "Bridge",
    "bridges",
    "ccg_subgraph",
    "cells",
    "graph_from_practices",
    "graph_to_gdfs",
    "pieces_before_bridging",
]

logger = logging.getLogger(__name__)

#: The kinds of edge in the adjacency graph.
EDGE_TYPES = ("rook", "site", "bridge", "cross_ccg", "patients")
#: Edge types that join practices of one CCG (all but ``cross_ccg``).
WITHIN_CCG = frozenset({"rook", "site", "bridge", "patients"})
#: Two cells are neighbours when they share more than this much border, in metres.
MIN_BORDER_M = 1.0
#: Gap tolerated between cells of neighbouring CCGs (generalised polygons leave slivers).
CROSS_CCG_GAP_M = 25.0
#: Buffer around a CCG's practices used as its area when it is not in the boundaries.
HULL_BUFFER_M = 2_000.0
#: Bump when the way graphs are built changes, so cached graphs are rebuilt.
_GRAPH_VERSION = 1


@dataclass(frozen=True)
class Bridge:
    """An edge added to join two pieces of a CCG that no cell border joins."""

    ccg_code: str
    a: str
    b: str
    length_km: float


def graph_from_practices(
    practices: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame | None = None,
    *,
    neighbours: Literal["cells", "patients"] = "cells",
    registrations: pd.DataFrame | str | os.PathLike[str] | None = None,
    lsoas: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    patient_rule: PatientRule | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> nx.Graph:
    """Return the graph of neighbouring practices.

    Parameters
    ----------
    practices
        As returned by :func:`footprint.load.read_practices` (EPSG:27700, indexed by code).
    boundaries
        As returned by :func:`footprint.load.read_boundaries`; ``None`` reads the shipped
        CCG polygons. A CCG code of the practices that the boundaries lack is clipped to a
        buffered hull of its practices instead, with a warning.
    neighbours
        What makes two practices of a CCG neighbours: ``"cells"`` (their cells share a
        border; the default) or ``"patients"`` (their patients live in the same or touching
        LSOAs, :func:`footprint.neighbours.patient_edges`; a practice with none keeps its
        cell's neighbours).
    registrations, lsoas
        For ``"patients"``: patients by practice and LSOA and the LSOAs with their
        adjacency, as tables (:func:`footprint.areas.read_registrations`,
        :func:`footprint.areas.read_lsoas`) or files; ``None`` reads the shipped ones
        (July 2022, LSOAs of 2011).
    patient_rule
        For ``"patients"``: the thresholds (default :class:`footprint.neighbours.PatientRule`).
    cache_dir
        Where built graphs are kept, keyed by a hash of the inputs. Default
        ``$FOOTPRINT_CACHE_DIR``, else ``~/.cache/footprint``.
    use_cache
        Read and write the cache (set ``False`` to always build).

    Returns
    -------
    networkx.Graph
        Nodes are practice codes with attributes ``list_size``, ``ccg_code``, ``x``, ``y``
        (metres, EPSG:27700) and ``practice_name``. Edges carry ``type`` (see
        :data:`EDGE_TYPES`); rook edges carry ``border_m``, bridges ``length_km``, edges
        by shared patients ``patients`` (how many) and ``share`` (of the smaller practice's).
        ``G.graph`` holds ``cells`` (a GeoSeries of cells by practice code),
        ``pieces`` (CCG code to its number of pieces before bridging), ``bridges``
        (a list of :class:`Bridge`), ``ccg_names`` and ``neighbours`` (the rule).

    Raises
    ------
    GraphError
        If the practices are not in EPSG:27700, or ``neighbours`` is not a rule named above.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> practices = select_ccgs(read_practices(), ["00Q"])
    >>> G = graph_from_practices(practices, use_cache=False)
    >>> nx.is_connected(G)
    True
    """
    if practices.crs is None or practices.crs.to_string() != CRS:
        msg = f"practices must be in {CRS} (as read_practices returns them), not {practices.crs}"
        raise GraphError(msg)
    if neighbours not in NEIGHBOURS:
        msg = f"neighbours {neighbours!r} is not one of {', '.join(NEIGHBOURS)}: give e.g. 'cells'"
        raise GraphError(msg)
    if boundaries is None:
        from footprint.load import read_boundaries

        boundaries = read_boundaries()
    rule = patient_rule or PatientRule()

    def build() -> nx.Graph:
        patients = _patient_edges(practices, registrations, lsoas, rule) if neighbours == "patients" else None
        return _build(practices, boundaries, patients=patients)

    if not use_cache:
        return build()
    path = _cache_path(practices, boundaries, cache_dir)
    if neighbours == "patients":  # keyed by the rule and its inputs too
        key = _patient_key(registrations, lsoas, rule)
        path = path.with_name(path.name.replace("graph-", f"graph-patients-{key}-"))
    return pickled(path, build, kind=nx.Graph, what="graph", log=logger)


def _cache_path(
    practices: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, cache_dir: str | os.PathLike[str] | None
) -> Path:
    digest = hashlib.sha256(f"footprint-graph-v{_GRAPH_VERSION}".encode())
    columns = ["ccg_code", "list_size", "practice_name"]
    digest.update(pd.util.hash_pandas_object(practices[columns], index=True).to_numpy().tobytes())
    digest.update(shapely.to_wkb(practices.geometry.to_numpy()).astype(bytes).tobytes())
    digest.update(pd.util.hash_pandas_object(boundaries[["ccg_name"]], index=True).to_numpy().tobytes())
    digest.update(b"".join(shapely.to_wkb(boundaries.geometry.to_numpy())))
    return cache_folder(cache_dir) / f"graph-{digest.hexdigest()[:24]}.pickle"


def _patient_key(
    registrations: pd.DataFrame | str | os.PathLike[str] | None,
    lsoas: gpd.GeoDataFrame | str | os.PathLike[str] | None,
    rule: PatientRule,
) -> str:
    """Return a short hash of the patient neighbours' inputs (files by path, size and time)."""
    digest = hashlib.sha256(f"{rule.core_share}|{rule.min_shared}".encode())
    for source in (registrations, lsoas):
        if isinstance(source, gpd.GeoDataFrame):
            digest.update(source.index.to_numpy().astype(str).astype(bytes).tobytes())
            digest.update(np.asarray(source.attrs.get("adjacency", [])).tobytes())
        elif isinstance(source, pd.DataFrame):
            digest.update(pd.util.hash_pandas_object(source, index=False).to_numpy().tobytes())
        else:
            digest.update(_file_key(source).encode())
    return digest.hexdigest()[:8]


def _file_key(path: str | os.PathLike[str] | None) -> str:
    if path is None:
        return "shipped"
    source = Path(path)
    if not source.exists():
        return str(source)
    stat = source.stat()
    return f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _patient_edges(
    practices: gpd.GeoDataFrame,
    registrations: pd.DataFrame | str | os.PathLike[str] | None,
    lsoas: gpd.GeoDataFrame | str | os.PathLike[str] | None,
    rule: PatientRule,
) -> pd.DataFrame:
    """Read the registrations and LSOAs given (``None``: the shipped ones); join the practices."""
    # The readers import only load; they are reached here, not at the top, because the
    # areas package imports evaluate, which imports this module.
    from footprint.lsoas import lsoa_adjacency, read_lsoas, read_registrations

    table = registrations if isinstance(registrations, pd.DataFrame) else read_registrations(registrations)
    polygons = lsoas if isinstance(lsoas, gpd.GeoDataFrame) else read_lsoas(lsoas)
    adjacency = polygons.attrs.get("adjacency")
    if adjacency is None:
        adjacency = lsoa_adjacency(polygons.geometry.to_numpy())
    return patient_edges(table, polygons.index, adjacency, practices.index, rule=rule)


def _build(
    practices: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, *, patients: pd.DataFrame | None = None
) -> nx.Graph:
    """Build cells, rook and site edges (or edges by shared patients), bridges and cross-CCG edges."""
    names = ccg_names(practices, boundaries)
    xs = practices.geometry.x.to_numpy()
    ys = practices.geometry.y.to_numpy()
    frame = pd.DataFrame(
        {"ccg_code": practices["ccg_code"].to_numpy(), "x": xs, "y": ys}, index=practices.index
    )
    # One site per building and CCG: practices at the same coordinates share a cell.
    frame["site"] = frame.groupby(["ccg_code", "x", "y"], sort=True).ngroup()
    sites = frame.groupby("site").agg(ccg_code=("ccg_code", "first"), x=("x", "first"), y=("y", "first"))
    site_cells = np.empty(len(sites), dtype=object)
    for ccg, group in sites.groupby("ccg_code", sort=True):
        area = _ccg_area(ccg, boundaries, frame, names)
        site_cells[group.index.to_numpy()] = _cells_in_area(group[["x", "y"]].to_numpy(), area)

    graph = nx.Graph(crs=CRS)
    names_col = practices.get("practice_name", pd.Series("", index=practices.index)).astype(str)
    graph.add_nodes_from(
        (code, {"list_size": int(size), "ccg_code": ccg, "x": float(x), "y": float(y), "practice_name": name})
        for code, size, ccg, x, y, name in zip(
            practices.index, practices["list_size"], practices["ccg_code"], xs, ys, names_col, strict=True
        )
    )
    members = frame.groupby("site").groups

    # Rule: practices of one building are neighbours of each other (a clique).
    for site_codes in members.values():
        codes = list(site_codes)
        for i, a in enumerate(codes):
            for b in codes[i + 1 :]:
                graph.add_edge(a, b, type="site")

    # Rule: cells sharing more than MIN_BORDER_M of border are neighbours.
    site_ccg = sites["ccg_code"].to_numpy()
    for i, j, border in _touching(site_cells, site_ccg):
        edge_type = "rook" if site_ccg[i] == site_ccg[j] else "cross_ccg"
        for a in members[i]:
            for b in members[j]:
                graph.add_edge(a, b, type=edge_type, border_m=round(float(border), 1))

    # Rule: practices of different CCGs in one building are cross_ccg neighbours too.
    mixed = frame[frame.groupby(["x", "y"])["ccg_code"].transform("nunique") > 1]
    for _, group in mixed.groupby(["x", "y"]):
        for a, ccg_a in group["ccg_code"].items():
            for b, ccg_b in group["ccg_code"].items():
                if a < b and ccg_a != ccg_b:
                    graph.add_edge(a, b, type="cross_ccg", border_m=0.0)

    if patients is not None:
        _use_patients(graph, patients)
    pieces, added = _bridge_pieces(graph, frame, practices, names)
    graph.graph["cells"] = gpd.GeoSeries(site_cells[frame["site"].to_numpy()], index=practices.index, crs=CRS)
    graph.graph["pieces"] = pieces
    graph.graph["bridges"] = added
    graph.graph["ccg_names"] = {c: names.get(c, c) for c in sorted(frame["ccg_code"].unique())}
    graph.graph["neighbours"] = "cells" if patients is None else "patients"
    counts = pd.Series([d["type"] for _, _, d in graph.edges(data=True)]).value_counts().to_dict()
    logger.info("graph: %d practices, edges %s", graph.number_of_nodes(), counts)
    return graph


def _use_patients(graph: nx.Graph, patients: pd.DataFrame) -> None:
    """Replace the cells' borders by shared patients as what makes neighbours, in place.

    Buildings stay cliques (``site``, and ``cross_ccg`` with no border). A practice that no
    patients edge joins to its own CCG (not in the registrations, or with its patients too
    scattered to hold a core LSOA) keeps its cell's neighbours, rook and cross-CCG, so that
    bridges join only what neither rule joins.
    """
    by_cells = [
        (a, b, d)
        for a, b, d in graph.edges(data=True)
        if d["type"] in {"rook", "cross_ccg"} and d.get("border_m", 0.0) > 0
    ]
    graph.remove_edges_from(by_cells)
    ccg = nx.get_node_attributes(graph, "ccg_code")
    joined: set[str] = set()
    for a, b, shared, share in patients[["a", "b", "patients", "share"]].itertuples(index=False):
        if a not in ccg or b not in ccg:
            continue
        # Rule: practices sharing patients are neighbours: patients in one CCG, cross_ccg across.
        kind = "patients" if ccg[a] == ccg[b] else "cross_ccg"
        if kind == "patients":
            joined.update((a, b))
        if graph.has_edge(a, b):  # one building: the site edge stays, with the weight
            graph.edges[a, b].update(patients=int(shared), share=float(share))
            continue
        graph.add_edge(a, b, type=kind, patients=int(shared), share=float(share))
    # Rule: a practice that no patients edge joins within its CCG keeps its cell's neighbours.
    kept = [(a, b, d) for a, b, d in by_cells if not ({a, b} <= joined or graph.has_edge(a, b))]
    graph.add_edges_from(kept)
    logger.info(
        "neighbours by shared patients: %d practices joined by patients; %d without keep %d cell edges",
        len(joined),
        graph.number_of_nodes() - len(joined),
        len(kept),
    )


def _ccg_area(
    ccg: str, boundaries: gpd.GeoDataFrame, frame: pd.DataFrame, names: dict[str, str]
) -> shapely.Geometry:
    if ccg in boundaries.index:
        return boundaries.geometry.loc[ccg]
    points = shapely.multipoints(frame.loc[frame["ccg_code"] == ccg, ["x", "y"]].to_numpy())
    logger.warning(
        "CCG %s (%s) is not in the boundaries: its cells are clipped to the hull of its practices "
        "buffered by %.0f km; give boundaries with this year's polygons to use real borders",
        ccg,
        names.get(ccg, ccg),
        HULL_BUFFER_M / 1000,
    )
    return shapely.convex_hull(points).buffer(HULL_BUFFER_M)


def _cells_in_area(xy: np.ndarray, area: shapely.Geometry) -> list[shapely.Geometry]:
    """Return one cell per site: its Voronoi region clipped to ``area``, one piece kept."""
    points = shapely.points(xy)
    if len(xy) == 1:
        regions = [area]
    else:
        envelope = shapely.box(*shapely.union(area.envelope, shapely.multipoints(xy).envelope).bounds)
        diagram = shapely.voronoi_polygons(
            shapely.multipoints(xy), extend_to=envelope.buffer(1_000), ordered=True
        )
        regions = list(shapely.get_parts(diagram))
    regions = np.array(regions, dtype=object)  # type: ignore[assignment]
    shapely.prepare(area)
    # Only regions reaching past the CCG's border need the (slow) clip.
    clipped = regions.copy()
    crossing = ~shapely.within(regions, area)
    clipped[crossing] = shapely.intersection(regions[crossing], area)
    return [_piece_at(cell, point) for cell, point in zip(clipped, points, strict=True)]


def _piece_at(cell: shapely.Geometry, point: shapely.Geometry) -> shapely.Geometry:
    """Keep the polygon of ``cell`` that holds ``point`` (else the nearest one).

    A cell cut by water keeps the piece holding its site. A site just outside its CCG
    polygon keeps the nearest piece of its region inside the polygon, so no cell
    reaches across an estuary. A region wholly outside the polygon becomes a 200 m disc
    around the site, which the bridging step then joins to the nearest piece.
    """
    parts = [p for p in shapely.get_parts(cell) if isinstance(p, shapely.Polygon) and not p.is_empty]
    if not parts:
        return point.buffer(200.0)
    distances = shapely.distance(np.array(parts, dtype=object), point)
    return parts[int(np.argmin(distances))]


def _touching(site_cells: np.ndarray, site_ccg: np.ndarray) -> Iterable[tuple[int, int, float]]:
    """Yield site pairs whose cells share more than MIN_BORDER_M of border."""
    tree = shapely.STRtree(site_cells)
    left, right = tree.query(site_cells, predicate="dwithin", distance=CROSS_CCG_GAP_M)
    keep = left < right
    left, right = left[keep], right[keep]
    same = site_ccg[left] == site_ccg[right]
    # Within a CCG the cells come from one diagram, so shared edges coincide: a
    # 0.1 m tolerance measures them while a mere corner contact stays under 1 m.
    grown = np.empty(len(left), dtype=object)
    grown[same] = shapely.buffer(site_cells, 0.1)[right[same]]
    grown[~same] = shapely.buffer(site_cells[right[~same]], CROSS_CCG_GAP_M)
    shared = shapely.intersection(shapely.boundary(site_cells[left]), grown)
    border = shapely.length(shared)
    for i, j, b in zip(left, right, border, strict=True):
        if b > MIN_BORDER_M:
            yield int(i), int(j), float(b)


def _bridge_pieces(
    graph: nx.Graph, frame: pd.DataFrame, practices: gpd.GeoDataFrame, names: dict[str, str]
) -> tuple[dict[str, int], list[Bridge]]:
    """Join the pieces of each CCG, nearest first (Kruskal over pieces), with bridges."""
    pieces: dict[str, int] = {}
    added: list[Bridge] = []
    for ccg, codes in frame.groupby("ccg_code", sort=True).groups.items():
        sub = graph.edge_subgraph(
            (a, b) for a, b, t in graph.subgraph(codes).edges(data="type") if t in WITHIN_CCG
        )
        components = [set(c) for c in nx.connected_components(sub)]
        components += [{c} for c in codes if c not in sub]
        pieces[ccg] = len(components)
        if len(components) == 1:
            continue
        comp_codes = [sorted(c) for c in components]
        xy = [frame.loc[c, ["x", "y"]].to_numpy() for c in comp_codes]
        candidates = []
        for i in range(len(components)):
            for j in range(i + 1, len(components)):
                d = cdist(xy[i], xy[j])
                k = np.unravel_index(np.argmin(d), d.shape)
                candidates.append((float(d[k]), comp_codes[i][k[0]], comp_codes[j][k[1]], i, j))
        union = nx.utils.UnionFind(range(len(components)))
        for distance, a, b, i, j in sorted(candidates):
            if union[i] == union[j]:
                continue
            union.union(i, j)
            bridge = Bridge(ccg, a, b, round(distance / 1000, 2))
            graph.add_edge(a, b, type="bridge", length_km=bridge.length_km)
            added.append(bridge)
            logger.info(
                "%s (%s): bridged %s %s (%s) to %s %s (%s), %.1f km",
                ccg,
                names.get(ccg, ccg),
                a,
                practices.at[a, "practice_name"],
                practices.at[a, "postcode"],
                b,
                practices.at[b, "practice_name"],
                practices.at[b, "postcode"],
                bridge.length_km,
            )
    return pieces, added


def cells(graph: nx.Graph) -> gpd.GeoSeries:
    """Return the practices' cells (EPSG:27700), indexed by practice code."""
    return graph.graph["cells"]


def graph_to_gdfs(graph: nx.Graph) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return the graph as two GeoDataFrames (EPSG:27700): its practices' cells and its edges.

    Parameters
    ----------
    graph
        From :func:`graph_from_practices`.

    Returns
    -------
    cells : geopandas.GeoDataFrame
        Indexed by practice code: ``practice_name``, ``ccg_code``, ``list_size``, ``x``,
        ``y`` and the cell as geometry.
    edges : geopandas.GeoDataFrame
        One row per edge: ``a``, ``b``, ``type``, ``border_m``, ``length_km`` and a line
        between the two practices' sites as geometry.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> G = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> cells_gdf, edges_gdf = graph_to_gdfs(G)
    >>> len(cells_gdf) == G.number_of_nodes(), len(edges_gdf) == G.number_of_edges()
    (True, True)
    """
    nodes = pd.DataFrame.from_dict(dict(graph.nodes(data=True)), orient="index")
    nodes = nodes.reindex(columns=["practice_name", "ccg_code", "list_size", "x", "y"])
    nodes.index.name = "practice_code"
    cell_gdf = gpd.GeoDataFrame(nodes, geometry=cells(graph).reindex(nodes.index).to_numpy(), crs=CRS)
    rows = [
        {"a": a, "b": b, "type": d["type"], "border_m": d.get("border_m"), "length_km": d.get("length_km")}
        for a, b, d in graph.edges(data=True)
    ]
    edges = pd.DataFrame(rows, columns=["a", "b", "type", "border_m", "length_km"])
    start = nodes.loc[edges["a"], ["x", "y"]].to_numpy()
    end = nodes.loc[edges["b"], ["x", "y"]].to_numpy()
    lines = shapely.linestrings(np.stack([start, end], axis=1)) if len(edges) else []
    return cell_gdf, gpd.GeoDataFrame(edges, geometry=lines, crs=CRS)


def bridges(graph: nx.Graph) -> list[Bridge]:
    """Return the bridges added to join pieces of CCGs."""
    return list(graph.graph["bridges"])


def pieces_before_bridging(graph: nx.Graph) -> dict[str, int]:
    """Return, per CCG code, how many pieces it had before bridging."""
    return dict(graph.graph["pieces"])


def ccg_subgraph(graph: nx.Graph, ccg: str) -> nx.Graph:
    """Return the subgraph of one CCG's practices, with only its within-CCG edges."""
    nodes = [n for n, c in graph.nodes(data="ccg_code") if c == ccg]
    sub = nx.Graph()
    sub.add_nodes_from((n, graph.nodes[n]) for n in nodes)
    sub.add_edges_from(
        (a, b, d) for a, b, d in graph.subgraph(nodes).edges(data=True) if d["type"] in WITHIN_CCG
    )
    return sub
