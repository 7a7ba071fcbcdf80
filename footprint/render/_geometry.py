"""Shapes to draw: group areas from cells, simplified and rounded GeoJSON, views and CCG shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from footprint.load import CRS
from footprint.plan import Plan


def areas(
    practices: pd.DataFrame, plan: Plan, cells: gpd.GeoSeries, *, tolerance_m: float
) -> tuple[dict[str, shapely.Geometry], dict[str, shapely.Geometry]]:
    """Return each group's area and each open site's cell, simplified, in EPSG:27700.

    Practices in one building share one cell; when they are in different groups the cell is
    drawn for the group of the largest practice there, so areas never overlap. Within a CCG
    the areas form a coverage and are simplified together (shared borders stay shared).
    """
    return simplified(coverages(practices, plan, cells), tolerance_m)


#: A CCG's unsimplified areas: their keys (``("pcn", id)`` or ``("open", code)``), the areas, and
#: whether they form a valid coverage (then simplified together).
Coverage = tuple[list[tuple[str, str]], np.ndarray, bool]


def coverages(practices: pd.DataFrame, plan: Plan, cells: gpd.GeoSeries) -> list[Coverage]:
    """Return each CCG's unsimplified areas of :func:`areas` (made once, simplified at each tolerance)."""
    assignment = plan.assignment
    sizes = practices["list_size"].astype("int64").to_dict()
    out = []
    for _, frame in practices.groupby("ccg_code", sort=True):
        sites: dict[bytes, list[str]] = {}
        for code, wkb in zip(frame.index, shapely.to_wkb(cells.loc[frame.index].to_numpy()), strict=True):
            sites.setdefault(wkb, []).append(code)
        pieces: dict[tuple[str, str], list[shapely.Geometry]] = {}
        for codes in sites.values():
            owner = max(codes, key=lambda c: (sizes[c], c))
            pcn = assignment.get(owner)
            key = ("pcn", pcn) if pcn is not None else ("open", owner)
            pieces.setdefault(key, []).append(cells.at[owner])
        keys = list(pieces)
        area = np.array([shapely.union_all(pieces[k]) for k in keys], dtype=object)
        out.append((keys, area, is_coverage(area)))
    return out


def is_coverage(geoms: np.ndarray) -> bool:
    """Return whether ``geoms`` (a non-empty array) tile without overlaps, so can be simplified together."""
    return bool(len(geoms)) and bool(shapely.coverage_is_valid(geoms))


def simplify_together(geoms: np.ndarray, tolerance_m: float, *, coverage: bool) -> np.ndarray:
    """Return ``geoms`` simplified by ``tolerance_m`` metres (none at 0).

    A ``coverage`` (:func:`is_coverage`) is simplified together, so shared borders stay shared;
    else (areas drawn from cells overlap their neighbours') each keeps its own topology.
    """
    if tolerance_m <= 0 or not len(geoms):
        return geoms
    if coverage:
        return shapely.coverage_simplify(geoms, tolerance_m)
    return shapely.simplify(geoms, tolerance_m, preserve_topology=True)


def present(areas: gpd.GeoDataFrame | None, pcns: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Return those of ``pcns`` that ``areas`` holds a non-empty geometry for, and the geometries."""
    held = [p for p in pcns if p in areas.index] if areas is not None else []
    geoms = np.array(areas.geometry.reindex(held).to_numpy() if areas is not None else [], dtype=object)
    keep = [i for i, g in enumerate(geoms) if g is not None and not shapely.is_empty(g)]
    return [held[i] for i in keep], geoms[keep]


def simplified(
    ccgs: Sequence[Coverage], tolerance_m: float
) -> tuple[dict[str, shapely.Geometry], dict[str, shapely.Geometry]]:
    """Return the groups' areas and open sites' cells of ``ccgs`` simplified by ``tolerance_m``."""
    groups: dict[str, list[shapely.Geometry]] = {}
    open_sites: dict[str, list[shapely.Geometry]] = {}
    for keys, area, valid in ccgs:
        area = simplify_together(area, tolerance_m, coverage=valid)
        for (kind, name), geom in zip(keys, area, strict=True):
            (groups if kind == "pcn" else open_sites).setdefault(name, []).append(geom)
    merge = {k: v[0] if len(v) == 1 else shapely.union_all(v) for k, v in groups.items()}
    return merge, {k: v[0] for k, v in open_sites.items()}


#: From the British National Grid to longitude and latitude (WGS84), made once.
TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def lonlat(geoms: Sequence[shapely.Geometry], *, decimals: int) -> list[dict]:
    """Return GeoJSON geometries in WGS84 with coordinates rounded to ``decimals``."""
    if not len(geoms):
        return []

    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), decimals)

    rounded = shapely.transform(np.asarray(list(geoms), dtype=object), project)
    return [shapely.geometry.mapping(g) for g in rounded]


#: Geometry's id and decimals to (the geometry, kept alive so the id stays its own; its GeoJSON).
LonlatCache = dict[tuple[int, int], tuple[shapely.Geometry, dict]]


def features(
    geoms: Sequence[shapely.Geometry],
    props: Sequence[dict[str, Any]],
    *,
    decimals: int,
    cache: LonlatCache | None = None,
) -> dict:
    """Return a GeoJSON FeatureCollection of the non-empty ``geoms`` with their ``props``.

    With a ``cache`` (see :attr:`Shapes.cache`), a geometry drawn again (a CCG's shape on
    its neighbours' maps) is projected once.
    """
    keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    if cache is None:
        shapes = lonlat([geoms[i] for i in keep], decimals=decimals)
    else:
        missing = [i for i in keep if (id(geoms[i]), decimals) not in cache]
        for i, shape in zip(missing, lonlat([geoms[i] for i in missing], decimals=decimals), strict=True):
            cache[id(geoms[i]), decimals] = (geoms[i], shape)
        shapes = [cache[id(geoms[i]), decimals][1] for i in keep]
    found = [
        {"type": "Feature", "geometry": shape, "properties": props[i]}
        for i, shape in zip(keep, shapes, strict=True)
    ]
    return {"type": "FeatureCollection", "features": found}


def bounds(practices: gpd.GeoDataFrame, margin_m: float) -> tuple[float, float, float, float]:
    """Return the practices' bounding box grown by ``margin_m``."""
    x0, y0, x1, y1 = practices.total_bounds
    return x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m


def view(practices: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame | None) -> tuple[float, ...]:
    """Return the box to show first: the practices' CCGs, else the practices (EPSG:27700)."""
    if boundaries is not None:
        own = boundaries.index.intersection(practices["ccg_code"].unique())
        if len(own):  # a practice registered far away (e.g. a digital provider's site) stays out
            return tuple(boundaries.loc[own].total_bounds)
    return bounds(practices, 1_000)


def ccg_shapes(
    boundaries: gpd.GeoDataFrame, *, within: shapely.Geometry | None, tolerance_m: float
) -> gpd.GeoSeries:
    """Return the simplified CCG polygons that meet ``within`` (all when ``None``)."""
    near = boundaries if within is None else boundaries[boundaries.intersects(within)]
    geoms = shapely.simplify(near.geometry.to_numpy(), tolerance_m, preserve_topology=True)
    return gpd.GeoSeries(geoms, index=near.index, crs=CRS)


class Shapes:
    """Group areas and CCG shapes of one plan, simplified once per tolerance and shared.

    :func:`~footprint.render.write_maps` makes one for all England, so each tolerance is
    simplified once (and before the worker processes fork), not once per CCG page.
    Areas are computed for every practice given; a PCN drawn anywhere is drawn whole.
    """

    def __init__(
        self,
        practices: pd.DataFrame,
        plan: Plan,
        cells: gpd.GeoSeries,
        boundaries: gpd.GeoDataFrame | None,
    ) -> None:
        self.practices = practices
        self.plan = plan.restrict(practices.index)
        self.cells = cells
        self.boundaries = boundaries
        self._areas: dict[float, tuple[dict[str, shapely.Geometry], dict[str, shapely.Geometry]]] = {}
        self._ccgs: dict[float, gpd.GeoSeries] = {}
        self._coverages: list[Coverage] | None = None
        #: Each drawn geometry's GeoJSON in longitude and latitude, made once.
        self.cache: LonlatCache = {}
        #: The plan's groups (PCN id to member codes), made once.
        self.groups = self.plan.groups

    def areas(
        self, tolerance_m: float, *, codes: Sequence[str] | None = None
    ) -> tuple[dict[str, shapely.Geometry], dict[str, shapely.Geometry]]:
        """Return the areas of the groups and open sites among ``codes`` (default all)."""
        if tolerance_m not in self._areas:
            if self._coverages is None:
                self._coverages = coverages(self.practices, self.plan, self.cells)
            self._areas[tolerance_m] = simplified(self._coverages, tolerance_m)
        groups, open_sites = self._areas[tolerance_m]
        if codes is None:
            return groups, open_sites
        wanted = set(codes)
        pcns = {p for c in wanted if (p := self.plan.assignment.get(c)) is not None}
        return (
            {p: g for p, g in groups.items() if p in pcns},
            {c: g for c, g in open_sites.items() if c in wanted},
        )

    def ccg_shapes(self, tolerance_m: float, *, within: shapely.Geometry | None) -> gpd.GeoSeries | None:
        """Return the simplified CCG polygons that meet ``within`` (all when ``None``)."""
        if self.boundaries is None:
            return None
        if tolerance_m not in self._ccgs:
            self._ccgs[tolerance_m] = ccg_shapes(self.boundaries, within=None, tolerance_m=tolerance_m)
        shapes = self._ccgs[tolerance_m]
        return shapes if within is None else shapes[shapes.intersects(within)]
