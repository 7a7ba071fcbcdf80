"""Network areas from where patients live: LSOAs given to networks by their registered patients.

A PCN's "network area" is drawn, in NHS England's maps and commissioners' look-ups, from
where its registered patients live, not from its practices' points. This stage gives every
network of a plan such an area (see :func:`network_areas` for the rule), says how many of
each network's patients live inside it and how many of each CCG's live in another CCG, and
judges the areas (:func:`area_findings`): areas in several pieces, areas enclosed by one
other network's (donuts), LSOAs left to no network.

Inputs: LSOA polygons (:func:`read_lsoas`; the shipped England LSOAs of 2011) and practices'
patients by LSOA (:func:`read_registrations`; the shipped July 2022 file, or any month's
converted by :func:`registrations_from_nhs`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from footprint._io import cache_folder, file_key, pickled
from footprint.areas._assign import (
    HOW,
    NetworkAreas,
    area_pieces,
    assign_lsoas,
    dissolve,
    lsoa_ccgs,
    positions,
)
from footprint.errors import DataError
from footprint.evaluate import FINDING_COLUMNS
from footprint.load import CRS
from footprint.lsoas import (
    LSOA_FILE,
    REGISTRATION_COLUMNS,
    REGISTRATIONS_FILE,
    lsoa_adjacency,
    lsoa_edges,
    read_lsoas,
    read_registrations,
    registrations_from_nhs,
    write_lsoas,
    write_registrations,
)
from footprint.plan import Plan

__all__ = [
    "HOW",
    "LSOA_FILE",
    "REGISTRATIONS_FILE",
    "REGISTRATION_COLUMNS",
    "AreaInputs",
    "AreaSources",
    "NetworkAreas",
    "area_findings",
    "area_inputs",
    "area_summary",
    "areas_of",
    "lsoa_adjacency",
    "lsoa_ccgs",
    "lsoa_edges",
    "network_areas",
    "read_lsoas",
    "read_registrations",
    "registrations_from_nhs",
    "write_lsoas",
    "write_registrations",
]

logger = logging.getLogger(__name__)
#: The registrations read in this process, by cache path (see :func:`_held`).
_HELD: dict[str, pd.DataFrame] = {}

#: Bump when the way areas are made changes, so cached areas are rebuilt.
_AREAS_VERSION = 3
#: Pseudo-network of the sea, other countries and LSOAs outside the CCGs in scope.
_OUTSIDE = "\0outside"


@dataclass(frozen=True)
class AreaSources:
    """Where network areas come from: LSOA polygons and practices' patients by LSOA.

    Each is a table (as :func:`read_lsoas`, :func:`read_registrations` return them), a file
    (read then; a registrations file is kept parsed in the cache), or ``None``: the shipped
    England LSOAs of 2011 and registrations of 1 July 2022.
    """

    lsoas: gpd.GeoDataFrame | str | os.PathLike[str] | None = None
    registrations: pd.DataFrame | str | os.PathLike[str] | None = None


def network_areas(
    plan: Plan,
    practices: gpd.GeoDataFrame,
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    ccgs: Sequence[str] | None = None,
    sources: AreaSources | None = None,
    cells: gpd.GeoSeries | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> NetworkAreas:
    """Return every network's area: the LSOAs its practices' patients mostly live in.

    Rule: an LSOA belongs to the CCG holding its population-weighted centroid (else the
    nearest CCG) and goes to that CCG's network whose practices have most of its registered
    patients; ties go to the nearest of the tied networks, LSOAs with none of their residents
    at the CCG's networks to the nearest network (member practice nearest the centroid). So
    the networks of a CCG cover its LSOAs with no gap and no overlap; LSOAs are left to no
    network only in CCGs where the plan has no network. Open practices count for no network.
    A network none of whose practices are in the registrations keeps the union of its cells.

    Parameters
    ----------
    plan
        The plan; its groups are the networks.
    practices
        As :func:`footprint.load.read_practices` returns them (EPSG:27700): the practices of
        the CCGs in scope. Only their CCGs' LSOAs are given out.
    boundaries
        CCG polygons (:func:`footprint.load.read_boundaries`; ``None``: the shipped ones).
    ccgs
        The CCGs whose LSOAs are given out (default: every CCG of the practices). Give the
        CCGs asked for when ``practices`` also holds members of their networks from others.
    sources
        The LSOAs and registrations (default: the shipped files; see :class:`AreaSources`).
    cells
        Practice cells by code (:func:`footprint.graph.cells`), the area of a network the
        registrations do not cover; without them such a network has no area.
    cache_dir, use_cache
        As for :func:`footprint.graph.graph_from_practices`: areas are kept keyed by a hash of
        every input.

    Returns
    -------
    NetworkAreas

    Raises
    ------
    DataError
        If the practices are not in EPSG:27700 or lack ``ccg_code``.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.plan import plan_from_practices
    >>> practices = select_ccgs(read_practices(), ["00Q"])
    >>> result = network_areas(plan_from_practices(practices), practices, use_cache=False)
    >>> sorted(result.areas.index) == sorted(plan_from_practices(practices).groups)
    True
    >>> result.unassigned
    []
    """
    inputs = area_inputs(
        practices, boundaries=boundaries, ccgs=ccgs, sources=sources, cache_dir=cache_dir, use_cache=use_cache
    )
    return areas_of(plan, inputs, cells=cells)


@dataclass(frozen=True)
class AreaInputs:
    """What network areas depend on besides the plan (:func:`area_inputs`), read once."""

    practices: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    lsoas: gpd.GeoDataFrame
    registrations: pd.DataFrame
    #: The CCGs whose LSOAs are given out.
    ccgs: list[str]
    #: Each LSOA's CCG, the CCGs' figures and the unknown codes: all the plan-free figures.
    base: _Base
    #: Where the plan's areas are cached, keyed by a hash of these inputs (``None``: not cached).
    folder: Path | None = None
    key: str = ""


def area_inputs(
    practices: gpd.GeoDataFrame,
    *,
    boundaries: gpd.GeoDataFrame | None = None,
    ccgs: Sequence[str] | None = None,
    sources: AreaSources | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> AreaInputs:
    """Read and work out what network areas need besides the plan: for :func:`areas_of`.

    The LSOAs, the registrations, and each LSOA's CCG with the CCGs' figures (cached, keyed
    by a hash of every input). A command reads them while its plan is solved. Parameters as
    :func:`network_areas`'s.

    Raises
    ------
    DataError
        If the practices are not in EPSG:27700 or lack ``ccg_code``.
    """
    if practices.crs is None or practices.crs.to_string() != CRS or "ccg_code" not in practices:
        msg = f"practices must be in {CRS} with a ccg_code column (as read_practices returns them)"
        raise DataError(msg)
    if boundaries is None:
        from footprint.load import read_boundaries

        boundaries = read_boundaries()
    sources = sources or AreaSources()
    lsoas = sources.lsoas if isinstance(sources.lsoas, gpd.GeoDataFrame) else read_lsoas(sources.lsoas)
    registrations = sources.registrations
    if not isinstance(registrations, pd.DataFrame):
        registrations = _registrations(registrations, cache_dir, use_cache=use_cache)
    ccgs = sorted(set(practices["ccg_code"]) if ccgs is None else set(ccgs))
    if not use_cache:
        base = _base(practices, boundaries, lsoas, registrations, ccgs)
        return AreaInputs(practices, boundaries, lsoas, registrations, ccgs, base)
    key = _base_key(practices, boundaries, lsoas, registrations)  # hashed once: both caches use it
    folder = cache_folder(cache_dir)
    based = hashlib.sha256(f"{key}|{_short(ccgs)}".encode()).hexdigest()[:24]
    base = pickled(
        folder / f"areas-base-{based}.pickle",
        lambda: _base(practices, boundaries, lsoas, registrations, ccgs),
        kind=_Base,
        what="areas",
        log=logger,
    )
    return AreaInputs(practices, boundaries, lsoas, registrations, ccgs, base, folder, key)


def areas_of(plan: Plan, inputs: AreaInputs, *, cells: gpd.GeoSeries | None = None) -> NetworkAreas:
    """Return every network's area (:func:`network_areas`) from inputs read beforehand (:func:`area_inputs`).

    Cached, keyed by the inputs, the plan's groups and the cells, where the inputs are.
    """
    plan = plan.restrict(inputs.practices.index)

    def build() -> NetworkAreas:
        return _build(plan, inputs, cells)

    if inputs.folder is None:
        return build()
    path = inputs.folder / f"areas-{_short(inputs.ccgs)}-{_plan_digest(inputs.key, plan, cells)}.pickle"
    return pickled(path, build, kind=NetworkAreas, what="areas", log=logger)


def _short(ccgs: list[str]) -> str:
    return hashlib.sha256(",".join(ccgs).encode()).hexdigest()[:8]


def _registrations(
    path: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None, *, use_cache: bool
) -> pd.DataFrame:
    """Read a registrations file, through a parsed copy in the cache keyed by its path, size and time."""
    source = Path(path) if path is not None else REGISTRATIONS_FILE
    if not use_cache or not source.exists():
        return read_registrations(source)
    key = file_key(source, "v1")

    def read() -> pd.DataFrame:
        frame = read_registrations(source)
        frame.attrs["digest"] = key
        return frame

    path = cache_folder(cache_dir) / f"registrations-{key}.pickle"
    return _held(str(path), read).copy()


def _held(path: str, read: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Return the registrations pickled at ``path`` (else read and pickled), once per process."""
    if path not in _HELD:
        _HELD.clear()  # one file at a time: a process reads one registrations file
        _HELD[path] = pickled(Path(path), read, kind=pd.DataFrame, what="registrations", log=logger)
    return _HELD[path]


def _plan_digest(base_key: str, plan: Plan, cells: gpd.GeoSeries | None) -> str:
    """Return the areas' cache key: the inputs' (``base_key``), the plan's groups and the cells."""
    digest = hashlib.sha256(base_key.encode())
    digest.update(repr(sorted((c, p or "") for c, p in plan.assignment.items())).encode())
    if cells is not None:
        digest.update(b"".join(shapely.to_wkb(cells.to_numpy())))
    return digest.hexdigest()[:24]


def _base_key(
    practices: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame,
    lsoas: gpd.GeoDataFrame,
    registrations: pd.DataFrame,
) -> str:
    """Return a hash of every input but the plan: what the plan-free figures depend on."""
    digest = hashlib.sha256(f"footprint-areas-v{_AREAS_VERSION}".encode())
    digest.update(pd.util.hash_pandas_object(practices[["ccg_code"]], index=True).to_numpy().tobytes())
    digest.update(shapely.to_wkb(practices.geometry.to_numpy()).astype(bytes).tobytes())
    digest.update(b"".join(shapely.to_wkb(boundaries.geometry.to_numpy())))
    digest.update(boundaries.index.to_numpy().astype(str).astype(bytes).tobytes())
    if "digest" in lsoas.attrs:  # read from a file: its path, size and time name it
        digest.update(str(lsoas.attrs["digest"]).encode())
    else:
        digest.update(pd.util.hash_pandas_object(lsoas[["cx", "cy"]], index=True).to_numpy().tobytes())
        digest.update(shapely.get_coordinates(lsoas.geometry.to_numpy()).tobytes())
    if "digest" in registrations.attrs:
        digest.update(str(registrations.attrs["digest"]).encode())
    else:
        digest.update(pd.util.hash_pandas_object(registrations, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _build(plan: Plan, inputs: AreaInputs, cells: gpd.GeoSeries | None) -> NetworkAreas:
    practices, lsoas, registrations, ccgs = inputs.practices, inputs.lsoas, inputs.registrations, inputs.ccgs
    base = inputs.base
    lsoa_ccg = base.lsoa_ccg
    table, uncovered = assign_lsoas(plan, practices, lsoas, lsoa_ccg, registrations, ccgs=ccgs)
    codes = set(practices.index)
    groups = {p: m for p, m in plan.groups.items() if m & codes}
    ids = sorted(groups)
    # Patients of each network, and of them those living in its own area: networks by their
    # position in ``ids``, LSOAs by theirs in ``lsoas`` (-1: none).
    network = pd.Series(plan.assignment, dtype=object).dropna()
    at = positions(network.index, registrations["practice_code"])
    mine = registrations[at >= 0]
    net = pd.Index(ids).get_indexer(network.to_numpy())[at[at >= 0]]
    place = positions(lsoas.index, mine["lsoa_code"])
    area_of = np.full(len(lsoas) + 1, -1)
    area_of[positions(lsoas.index, pd.Series(table.index))] = pd.Index(ids).get_indexer(table["pcn_id"])
    weight = mine["patients"].to_numpy()
    home = net == area_of[place]
    patients = np.bincount(net, weights=weight, minlength=len(ids)).astype(np.int64)
    inside = np.bincount(net[home], weights=weight[home], minlength=len(ids)).astype(np.int64)
    own = np.bincount(place[home], weights=weight[home], minlength=len(lsoas)).astype(np.int64)
    own = pd.Series(own, index=lsoas.index)
    pieces = area_pieces(table, lsoas, own)

    geometry = dissolve(table, lsoas)
    area_from = pd.Series("patients", index=ids, dtype=object)
    shapes = geometry.reindex(ids)
    missing = set(uncovered)
    covered_none = [p for p in ids if not (groups[p] - missing)]
    for pcn in covered_none:
        area_from[pcn] = "cells"
        if cells is not None:
            shapes[pcn] = shapely.union_all(cells.reindex(sorted(groups[pcn])).dropna().to_numpy())
    counts = pieces.groupby("pcn_id").size()
    ccg_of = practices["ccg_code"].to_dict()
    areas = gpd.GeoDataFrame(
        {
            "ccg_code": [",".join(sorted({ccg_of[c] for c in groups[p] & codes})) for p in ids],
            "patients": patients,
            "inside": inside,
            "lsoas": table.groupby("pcn_id").size().reindex(ids, fill_value=0).astype(np.int64).to_numpy(),
            "pieces": counts.reindex(ids, fill_value=0).astype(np.int64).to_numpy(),
            "area_from": area_from.to_numpy(),
        },
        geometry=shapes.to_numpy(),
        index=pd.Index(ids, name="pcn_id"),
        crs=CRS,
    )
    areas.insert(
        3, "share_inside", (areas["inside"] / areas["patients"].where(areas["patients"] > 0)).round(4)
    )

    enclosed = _enclosed(table, lsoas)
    logger.info(
        "areas: %d networks, %d LSOAs (%d left to no network), %d in several pieces, %d enclosed",
        len(areas),
        len(table),
        int((table["pcn_id"] == "").sum()),
        int((areas["pieces"] > 1).sum()),
        len(enclosed),
    )
    return NetworkAreas(
        areas=areas,
        lsoas=table,
        pieces=pieces,
        ccgs=base.ccgs,
        uncovered=uncovered,
        unknown_codes=base.unknown_codes,
        enclosed=enclosed,
    )


@dataclass(frozen=True)
class _Base:
    """What does not depend on the plan: each LSOA's CCG, the CCGs' figures, the unknown codes."""

    lsoa_ccg: pd.Series
    ccgs: pd.DataFrame
    unknown_codes: pd.DataFrame


def _base(
    practices: gpd.GeoDataFrame,
    boundaries: gpd.GeoDataFrame,
    lsoas: gpd.GeoDataFrame,
    registrations: pd.DataFrame,
    ccgs: list[str],
) -> _Base:
    lsoa_ccg = lsoa_ccgs(lsoas, boundaries)
    in_scope = practices[practices["ccg_code"].isin(ccgs)]
    ccg_table = _ccg_table(registrations, in_scope, lsoa_ccg, known_codes=lsoas.index)
    ours = registrations[positions(practices.index, registrations["practice_code"]) >= 0]
    unknown = ours[positions(lsoas.index, ours["lsoa_code"]) < 0]
    unknown_codes = unknown.groupby("lsoa_code", observed=True).agg(
        patients=("patients", "sum"), practices=("practice_code", "nunique")
    )
    return _Base(lsoa_ccg, ccg_table, unknown_codes.sort_values("patients", ascending=False))


def _ccg_table(
    registrations: pd.DataFrame, practices: pd.DataFrame, lsoa_ccg: pd.Series, *, known_codes: pd.Index
) -> pd.DataFrame:
    """Per CCG of the practices: patients, those living in another CCG, those in unknown LSOAs."""
    at = positions(practices.index, registrations["practice_code"])
    reg = registrations[at >= 0]
    ccg = practices["ccg_code"].to_numpy()[at[at >= 0]]
    place = positions(known_codes, reg["lsoa_code"])
    known = place >= 0
    where = np.append(lsoa_ccg.reindex(known_codes).to_numpy(), np.array([None], dtype=object))[place]
    frame = pd.DataFrame(
        {
            "ccg_code": ccg,
            "patients": reg["patients"].to_numpy(),
            "other_ccg": np.where(known & (where != ccg), reg["patients"].to_numpy(), 0),
            "unknown": np.where(~known, reg["patients"].to_numpy(), 0),
        }
    )
    table = frame.groupby("ccg_code").sum()
    table["share_other_ccg"] = (table["other_ccg"] / table["patients"]).round(4)
    return table


def _enclosed(table: pd.DataFrame, lsoas: gpd.GeoDataFrame) -> dict[str, str]:
    """Return PCN id to the one network its area's outer boundary touches (a donut).

    Networks are nodes of a graph with an ``outside`` node (sea, other countries, LSOAs of
    CCGs out of scope or left to no network); neighbours share an LSOA border. Networks in a
    network's holes are those cut off from outside when it is removed; the others it
    touches are on its outer boundary.
    """
    position = pd.Series(np.arange(len(lsoas)), index=lsoas.index)
    net = np.full(len(lsoas), _OUTSIDE, dtype=object)
    assigned = table[table["pcn_id"] != ""]
    net[position.loc[assigned.index].to_numpy()] = assigned["pcn_id"].to_numpy()
    adjacency = lsoas.attrs["adjacency"]
    a, b = net[adjacency[:, 0]], net[adjacency[:, 1]]
    differ = a != b
    graph = nx.Graph()
    graph.add_nodes_from(set(assigned["pcn_id"]))
    graph.add_edges_from(zip(a[differ], b[differ], strict=True))
    edge = lsoas.attrs.get("edge")
    if edge is not None:
        graph.add_edges_from((p, _OUTSIDE) for p in set(net[np.asarray(edge, dtype=bool)]) - {_OUTSIDE})
    if _OUTSIDE not in graph:
        graph.add_node(_OUTSIDE)
    cut = set(nx.articulation_points(graph))
    enclosed = {}
    for pcn in sorted(graph):
        if pcn == _OUTSIDE or graph.has_edge(pcn, _OUTSIDE):
            continue
        outer = set(graph[pcn])
        if pcn in cut and len(outer) > 1:
            rest = graph.subgraph(n for n in graph if n != pcn)
            reach = nx.node_connected_component(rest, _OUTSIDE)
            outer &= reach
        if len(outer) == 1:
            enclosed[pcn] = next(iter(outer))
    return enclosed


def area_findings(areas: NetworkAreas) -> pd.DataFrame:
    """Return the warnings the areas raise, in :data:`footprint.evaluate.FINDING_COLUMNS`.

    ``area_pieces``: a network's area in several pieces (each piece's patients);
    ``area_enclosed``: an area whose outer boundary touches only one other network's area
    (a donut); ``area_gap``: LSOAs of a CCG in scope left to no network, per CCG.

    Examples
    --------
    >>> lsoas = pd.DataFrame({"ccg_code": ["X", "X"], "pcn_id": ["", ""]}, index=["L1", "L2"])
    >>> pieces = pd.DataFrame(columns=["pcn_id", "piece", "lsoas", "patients"])
    >>> gap = NetworkAreas(gpd.GeoDataFrame(), lsoas, pieces, pd.DataFrame())
    >>> area_findings(gap)[["ccg_code", "rule", "severity"]].to_numpy().tolist()
    [['X', 'area_gap', 'warning']]
    """
    rows = []
    ccg_of = areas.areas["ccg_code"] if "ccg_code" in areas.areas else pd.Series(dtype=object)
    split = areas.pieces[areas.pieces.groupby("pcn_id")["piece"].transform("size") > 1]
    for pcn, group in split.groupby("pcn_id", sort=True):
        total = int(group["patients"].sum())
        outside = total - int(group["patients"].iloc[0])
        share = outside / total if total else 0.0
        each = "; ".join(
            f"{int(r.patients):,} patients in {int(r.lsoas)} LSOA(s)" for r in group.itertuples()
        )
        detail = (
            f"{pcn}'s area is in {len(group)} pieces ({share:.0%} of its resident patients outside the "
            f"largest): {each}"
        )
        rows.append((ccg_of.get(pcn, ""), pcn, "", "area_pieces", "warning", detail))
    for pcn, outer in sorted(areas.enclosed.items()):
        detail = f"{pcn}'s area is enclosed by {outer}'s: its outer boundary touches no other network's area"
        rows.append((ccg_of.get(pcn, ""), pcn, "", "area_enclosed", "warning", detail))
    gaps = areas.lsoas[areas.lsoas["pcn_id"] == ""]
    for ccg, group in gaps.groupby("ccg_code", sort=True):
        codes = sorted(group.index)
        shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
        detail = f"{len(codes)} LSOA(s) of {ccg} are left to no network (the CCG has no network): {shown}"
        rows.append((str(ccg), "", "", "area_gap", "warning", detail))
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS))


def area_summary(areas: NetworkAreas) -> dict:
    """Return the areas' figures for summary.json: per network, per CCG, and England's totals."""
    frame = areas.areas
    split = areas.pieces.groupby("pcn_id")["patients"].agg(["sum", "first", "size"])
    split = split[split["size"] > 1]
    outside_largest = ((split["sum"] - split["first"]) / split["sum"].where(split["sum"] > 0)).dropna()
    return {
        "networks": len(frame),
        "in_several_pieces": int((frame["pieces"] > 1).sum()),
        "median_share_outside_largest_piece": round(float(outside_largest.median()), 4)
        if len(outside_largest)
        else 0.0,
        "enclosed": len(areas.enclosed),
        "lsoas_left_to_no_network": len(areas.unassigned),
        "median_share_inside": round(float(frame["share_inside"].median()), 4) if len(frame) else 0.0,
        "practices_not_in_registrations": list(areas.uncovered),
        "networks_drawn_from_cells": sorted(frame.index[frame["area_from"] == "cells"]),
        "patients_in_unknown_lsoas": int(areas.unknown_codes["patients"].sum())
        if len(areas.unknown_codes)
        else 0,
        "per_network": {
            str(p): {
                "patients": int(r.patients),
                "inside": int(r.inside),
                "share_inside": _num(r.share_inside),
            }
            for p, r in frame.iterrows()
        },
        "per_ccg": {
            str(c): {"patients": int(r.patients), "other_ccg": int(r.other_ccg), "unknown": int(r.unknown)}
            for c, r in areas.ccgs.iterrows()
        },
    }


def _num(value: float) -> float | None:
    return None if pd.isna(value) else float(value)
