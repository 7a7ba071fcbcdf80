"""Printable pages, one per PCN, with a map of its area drawn as inline SVG (:func:`pcn_pages`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from footprint._text import plural
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    ENV,
    GroupRow,
    Links,
    MapOptions,
    anchors,
    check_inputs,
    colour_groups,
    data_date,
    group_rows,
    provenance_rows,
)
from footprint.render.ccg_map import records

#: Simplification of the drawn areas on printable pages, in metres, unless the options say.
TOLERANCE_M = 20.0
#: Width over height of a printed PCN map: it fills the page's width, 186 mm by 69 mm on A4.
ASPECT = 2.7
#: A printed map's width over the size of its practices' labels (ODS codes) and of its place names.
CODE_FONT, PLACE_FONT = 68.0, 70.0


def pcn_pages(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    groups: pd.DataFrame,
    options: MapOptions | None = None,
    links: Links | None = None,
) -> str:
    """Return an HTML document with one printable page per PCN of ``plan``.

    Each page lists the member practices with their ODS codes, postcodes and list sizes,
    the total, the band verdict, the funded clinical-director time and a map of the area as
    inline SVG (so it prints with no script), with blanks for the named clinical director
    and nominated payee: what a registration pack asks for. Printing the document prints
    every PCN; opening it at ``#pcn-<id>`` and printing prints that PCN alone.

    Parameters
    ----------
    practices, plan, graph, groups
        As for :func:`~footprint.render.plan_map`.
    options
        ``boundaries``, ``title`` (default ``"PCN pages"``), ``colours``, ``tolerance_m``
        and ``attribution`` are used (see :class:`~footprint.render.MapOptions`).
    links
        ``back``: the map to link back to.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    DataError
        As for :func:`~footprint.render.plan_map`.
    """
    options = options or MapOptions()
    check_inputs(practices, graph)
    shapes = geo.Shapes(practices, plan, graph.graph["cells"], options.boundaries)
    return pages_html(
        practices, plan, graph=graph, groups=groups, shapes=shapes, options=options, links=links
    )


def pages_html(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    groups: pd.DataFrame,
    shapes: geo.Shapes,
    options: MapOptions,
    links: Links | None = None,
) -> str:
    """Return the pages of :func:`pcn_pages`, drawn from ``shapes`` (which may be shared)."""
    plan = plan.restrict(practices.index)
    colours = dict(options.colours) if options.colours is not None else colour_groups(graph, plan)
    rows = group_rows(practices, plan, groups, colours)
    tolerance = options.tolerance(TOLERANCE_M)
    areas, _ = shapes.areas(tolerance, codes=list(practices.index))
    handed = graph.graph.get("areas")  # network areas from where patients live, when the caller made them
    drawn = _AreasByScale(areas, handed, tolerance)
    near = shapes.ccg_shapes(tolerance, within=shapely.box(*geo.bounds(practices, 20_000)))
    names = graph.graph.get("ccg_names", {})
    ids = anchors(rows)
    xy = np.column_stack([practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()])
    info = records(practices)
    row_of = {code: k for k, code in enumerate(practices.index)}
    place_arrays = _place_arrays(options.places)
    pages = []
    for pcn, group in rows.items():
        members = [info[c] for c in group.members]
        pages.append(
            {
                "anchor": ids[pcn],
                "group": group,
                "ccgs": ", ".join(f"{names.get(c, c)} ({c})" for c in group.ccgs),
                "svg": _svg(group, drawn.for_page(group, row_of, xy), row_of, xy, near, places=place_arrays),
                "sheets": _sheets(members),
                "count": plural(len(group.members), "practice"),
                "title": f"{group.label}: PCN page",
            }
        )
    return ENV.get_template("pages.html").render(
        title=options.title or "PCN pages",
        pages=pages,
        back=(links or Links()).back,
        date=data_date(practices),
        attribution=options.attribution,
        made=provenance_rows(options.provenance),
        **({"CAVEAT": AREA_CAVEAT} if handed is not None else {}),
    )


#: Simplification of areas drawn from LSOAs on a page, as a share of its map's width: some 0.9 mm
#: on the printed map (LSOA borders are far more detailed than cells' straight edges).
AREA_TOLERANCE_SHARE = 1 / 200
#: The simplifications (metres) areas drawn from LSOAs are made at; a page takes the largest under its share.
AREA_TOLERANCES_M = (20.0, 40.0, 80.0, 160.0, 320.0)


class _AreasByScale:
    """The areas a page draws: cells, or areas from where patients live simplified to the page's scale.

    The areas from where patients live are those of ``cells``' networks that ``handed`` holds
    (each network's cells otherwise); drawn together, they are simplified together, so shared
    borders stay shared.
    """

    def __init__(
        self, cells: Mapping[str, shapely.Geometry], handed: gpd.GeoDataFrame | None, tolerance_m: float
    ) -> None:
        self.cells, self.tolerance_m = cells, tolerance_m
        self.made: dict[float, dict[str, shapely.Geometry]] = {}
        self.pcns, self.geoms = geo.present(handed, list(cells))
        self.bounds = dict(zip(self.pcns, shapely.bounds(self.geoms).tolist(), strict=True))
        self.coverage = geo.is_coverage(self.geoms)

    def at(self, tolerance_m: float) -> Mapping[str, shapely.Geometry]:
        """Return the areas simplified by ``tolerance_m`` (each scale made once)."""
        if not self.pcns:
            return self.cells
        if tolerance_m not in self.made:
            geoms = geo.simplify_together(self.geoms, tolerance_m, coverage=self.coverage)
            self.made[tolerance_m] = {**self.cells, **dict(zip(self.pcns, geoms, strict=True))}
        return self.made[tolerance_m]

    def for_page(
        self, group: GroupRow, row_of: Mapping[str, int], xy: np.ndarray
    ) -> Mapping[str, shapely.Geometry]:
        """Return the areas to draw on ``group``'s page, simplified to its map's width."""
        if not self.pcns:
            return self.cells
        own = self.bounds.get(group.pcn)
        rows = np.array([row_of[c] for c in group.members])
        x0, _, x1, _ = _frame(shapely.box(*own) if own else self.cells.get(group.pcn), xy[rows], ASPECT)
        wanted = max(self.tolerance_m, (x1 - x0) * AREA_TOLERANCE_SHARE)
        return self.at(max([t for t in AREA_TOLERANCES_M if t <= wanted], default=AREA_TOLERANCES_M[0]))


#: The pages' caveat when their maps draw network areas from where patients live.
AREA_CAVEAT = (
    "Network areas are drawn from where the networks' registered patients live (each LSOA to the "
    "network with most of its patients), as NHS England draws them; networks no registrations cover, "
    "from practice locations (cells)."
)


#: Member rows (each with room to sign) on a PCN's first page, under its map, and on each page after it.
FIRST_ROWS, MORE_ROWS = 12, 22


def _sheets(members: list[dict]) -> list[list[dict]]:
    """Split the member rows into printed pages: up to 12 under the map, 22 on each page after."""
    sheets = [members[:FIRST_ROWS]]
    for start in range(FIRST_ROWS, len(members), MORE_ROWS):
        sheets.append(members[start : start + MORE_ROWS])
    return sheets


def _svg_path(geom: shapely.Geometry, x0: float, y1: float, unit: float) -> str:
    """Return SVG path data of a (multi)polygon, y flipped, in ``unit`` metres from (x0, y1)."""
    parts = []
    for polygon in getattr(geom, "geoms", [geom]):
        if polygon.geom_type != "Polygon":
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            parts.append(f"{_points(shapely.get_coordinates(ring)[:-1], x0, y1, unit)}Z")
    return "".join(parts)


def _points(xy: np.ndarray, x0: float, y1: float, unit: float) -> str:
    """Return ``"Mx y l dx dy ..."``: the points in whole units of ``unit`` metres from (x0, y1), y flipped.

    The first point is absolute and each next one relative to the one before, with points that
    round onto the one before left out: short numbers, most of one or two digits.

    >>> _points(np.array([[0.0, 0.0], [30.0, 0.0], [31.0, 0.0], [30.0, 20.0]]), 0.0, 100.0, 10.0)
    'M0 10l3 0 0-2'
    """
    ints = np.rint(np.column_stack([xy[:, 0] - x0, y1 - xy[:, 1]]) / unit).astype(np.int64)
    steps = np.diff(ints, axis=0)
    steps = steps[steps.any(axis=1)]
    head = f"M{ints[0, 0]} {ints[0, 1]}"
    if not len(steps):
        return head
    return f"{head}l{' '.join(map(str, steps.ravel().tolist())).replace(' -', '-')}"


def _svg_lines(geom: shapely.Geometry, x0: float, y1: float, unit: float) -> list[str]:
    """Return SVG path data of the line strings of ``geom``, y flipped, in whole units of ``unit`` metres."""
    out = []
    for line in getattr(geom, "geoms", [geom]):
        if line.geom_type == "LineString" and not line.is_empty:
            out.append(_points(shapely.get_coordinates(line), x0, y1, unit))
    return out


def _frame(
    own: shapely.Geometry | None, points: np.ndarray, aspect: float
) -> tuple[float, float, float, float]:
    """Return the box to draw: the area (or the members' ``points``), padded and grown to ``aspect``."""
    if own is not None:
        x0, y0, x1, y1 = own.bounds
    else:
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    pad = max(x1 - x0, y1 - y0, 1_000) * 0.06
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    grow_x = max((y1 - y0) * aspect - (x1 - x0), 0) / 2
    grow_y = max((x1 - x0) / aspect - (y1 - y0), 0) / 2
    return x0 - grow_x, y0 - grow_y, x1 + grow_x, y1 + grow_y


#: Shapes on a printed map are drawn in steps of a power of ten metres, at least this many across it
#: (some 0.1 mm on paper at most).
SHAPE_STEPS = 1_500


#: Width of a printed map (metres of ground) up to which places of at least this many people are named on it.
PLACE_FLOORS = ((8_000, 0), (20_000, 1_000), (50_000, 3_000), (120_000, 10_000))
#: At most this many places are named on a printed map, the largest first.
MAX_PLACES = 16


def _places_in(
    places: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    box: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the places to name in ``box`` (x, y and name, the largest first): large enough for its width.

    ``places``: the places' x, y, population and name arrays, largest first (:func:`_place_arrays`).
    """
    if places is None:
        return np.empty(0), np.empty(0), np.empty(0, dtype=object)
    x, y, people, names = places
    x0, y0, x1, y1 = box
    floor = next((n for wide, n in PLACE_FLOORS if x1 - x0 <= wide), 30_000)
    mx, my = (x1 - x0) * 0.03, (y1 - y0) * 0.05
    keep = (x >= x0 + mx) & (x <= x1 - mx) & (y >= y0 + my) & (y <= y1 - my) & (people >= floor)
    rows = np.flatnonzero(keep)[:MAX_PLACES]
    return x[rows], y[rows], names[rows]


def _place_arrays(
    places: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Return the places' x, y, population and name as arrays, the largest first (``None`` for none)."""
    if places is None or not len(places):
        return None
    ordered = places.sort_values("population", ascending=False, kind="stable")
    return (
        ordered["x"].to_numpy(dtype=float),
        ordered["y"].to_numpy(dtype=float),
        ordered["population"].to_numpy(),
        ordered["name"].astype(str).to_numpy(dtype=object),
    )


def _svg(
    group: GroupRow,
    areas: Mapping[str, shapely.Geometry],
    row_of: Mapping[str, int],
    xy: np.ndarray,
    shapes: gpd.GeoSeries | None,
    *,
    places: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    aspect: float = ASPECT,
) -> dict:
    """Return what the SVG map of ``group``'s area draws: its neighbours, CCG lines, practices and places."""
    own = areas.get(group.pcn)
    rows = np.array([row_of[c] for c in group.members])
    x0, y0, x1, y1 = _frame(own, xy[rows], aspect)
    view = shapely.box(x0, y0, x1, y1)
    width, height = x1 - x0, y1 - y0
    near = [g for g in shapes if g.intersects(view)] if shapes is not None else []
    r, font = width / 170, width / CODE_FONT
    inside = shapely.contains_xy(view, xy[:, 0], xy[:, 1])
    inside[rows] = False
    sites: dict[tuple[float, float], list[str]] = {}
    for code, (x, y) in zip(group.members, xy[rows].tolist(), strict=True):
        sites.setdefault((x, y), []).append(code)
    step = 10 ** math.floor(math.log10(width / 5))
    unit = 10 ** max(math.floor(math.log10(width / SHAPE_STEPS)), 0)  # whole metres, or tens, ...
    bar = max(k * step for k in (1, 2, 5) if k * step <= width / 5)
    clip = (x0, y0, x1, y1)
    dots = [(x - x0, y1 - y) for x, y in sites]
    others = [(x - x0, y1 - y) for x, y in xy[inside].tolist()]
    taken: list[tuple[float, ...]] = [(x - r * 0.6, y - r * 0.6, x + r * 0.6, y + r * 0.6) for x, y in others]
    taken.append((0, height * 0.95 - font * 1.6, width * 0.03 + bar + font * 4, height))  # the scale bar
    placed = place_labels(
        dots,
        [", ".join(codes) for codes in sites.values()],
        r=r,
        font=font,
        size=(width, height),
        taken=taken,
    )
    px, py, pnames = _places_in(places, (x0, y0, x1, y1))
    place_font = width / PLACE_FONT
    towns = place_names(
        [(x - x0, y1 - y) for x, y in zip(px.tolist(), py.tolist(), strict=True)],
        [str(n) for n in pnames],
        r=r * 0.45,
        font=place_font,
        size=(width, height),
        taken=taken,
    )
    return {
        "width": f"{width:.0f}",
        "height": f"{height:.0f}",
        "label": group.label,
        "colour": group.colour,
        "font": f"{font:.0f}",
        "place_font": f"{place_font:.0f}",
        "unit": f"{unit:g}",
        "land": [_svg_path(shapely.clip_by_rect(g, *clip), x0, y1, unit) for g in near],
        "neighbours": [
            _svg_path(shapely.clip_by_rect(g, *clip), x0, y1, unit)
            for pcn, g in areas.items()
            if pcn != group.pcn and g.intersects(view)
        ],
        "own": _svg_path(own, x0, y1, unit) if own is not None else None,
        "lines": [d for g in near for d in _svg_lines(shapely.clip_by_rect(g.boundary, *clip), x0, y1, unit)],
        "others": [{"x": f"{x:.0f}", "y": f"{y:.0f}", "r": f"{r * 0.6:.0f}"} for x, y in others],
        "sites": [
            {"x": f"{dx:.0f}", "y": f"{dy:.0f}", "r": f"{r:.0f}", **label}
            for (dx, dy), label in zip(dots, placed, strict=True)
        ],
        "places": [{**town, "r": f"{r * 0.45:.0f}"} for town in towns],
        "bar": {
            "d": f"M{width * 0.03:.0f} {height * 0.95:.0f}h{bar:.0f}",
            "x": f"{width * 0.03:.0f}",
            "y": f"{height * 0.95 - font * 0.6:.0f}",
            "label": f"{bar / 1000:g} km",
        },
    }


#: Directions to try for a label, as (dx, dy, text-anchor): right, left, above, below, diagonals.
_DIRECTIONS = (
    (1, 0, "start"),
    (-1, 0, "end"),
    (0, -1, "middle"),
    (0, 1, "middle"),
    (1, -1, "start"),
    (-1, -1, "end"),
    (1, 1, "start"),
    (-1, 1, "end"),
)


def _box(x: float, y: float, anchor: str, w: float, font: float) -> tuple[float, ...]:
    left = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
    return left, y - font * 0.8, left + w, y + font * 0.25


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _spot(
    x: float,
    y: float,
    w: float,
    *,
    r: float,
    font: float,
    size: tuple[float, float],
    taken: list[tuple[float, ...]],
    rings: tuple[float, ...] = (1.0, 2.2, 3.6, 5.2, 7.0),
) -> tuple[float, tuple[float, ...], float, float, str, float]:
    """Return the least crowded spot for a label of width ``w`` beside the dot at (x, y).

    Tries eight directions at growing distances (``rings``) and stops at the first ring
    with a free spot; returns (overlap, box, text x, text y, text-anchor, ring).
    """
    width, height = size
    pad = r * 0.4
    boxes = np.array(taken, dtype=float).reshape(-1, 4)
    best: tuple[float, tuple[float, ...], float, float, str, float] | None = None
    for ring in rings:
        gap = r * 1.4 * ring
        spots = []
        for dx, dy, anchor in _DIRECTIONS:
            tx = x + dx * gap
            ty = y + dy * gap + (font * 0.35 if dy == 0 else font * 0.9 if dy > 0 else 0)
            spots.append((_box(tx, ty, anchor, w, font), tx, ty, anchor))
        grown = np.array([b for b, *_ in spots]) + np.array([-pad, -pad, pad, pad])
        dx_ = np.minimum(grown[:, None, 2], boxes[None, :, 2]) - np.maximum(
            grown[:, None, 0], boxes[None, :, 0]
        )
        dy_ = np.minimum(grown[:, None, 3], boxes[None, :, 3]) - np.maximum(
            grown[:, None, 1], boxes[None, :, 1]
        )
        costs = (np.clip(dx_, 0, None) * np.clip(dy_, 0, None)).sum(axis=1)
        for k, (box, tx, ty, anchor) in enumerate(spots):
            cost = float(costs[k])
            if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                cost += w * font * 10
            if best is None or cost < best[0]:
                best = (cost, box, tx, ty, anchor, ring)
        if best is not None and best[0] == 0:
            break
    assert best is not None
    return best


def place_labels(
    dots: list[tuple[float, float]],
    texts: list[str],
    *,
    r: float,
    font: float,
    size: tuple[float, float],
    taken: list[tuple[float, ...]] | None = None,
) -> list[dict[str, Any]]:
    """Place a label beside each dot so that no two labels (or a label and a dot) collide.

    Greedy: dots are labelled from the most crowded; each label takes the first of eight
    directions, at growing distances, whose box is free and inside the map, with a leader
    line when it is set away from its dot; if none is free, the least crowded spot.
    ``taken``: boxes already drawn (x0, y0, x1, y1), to which the dots and labels are added.

    Returns
    -------
    list of dict
        Per dot: ``text``, ``text_x``, ``text_y``, ``anchor`` and ``leader`` (SVG path data
        or ``""``), as formatted numbers.
    """
    taken = [] if taken is None else taken
    taken.extend((x - r, y - r, x + r, y + r) for x, y in dots)
    crowd = [sum(math.hypot(x - a, y - b) < 12 * font for a, b in dots) for x, y in dots]
    out: list[dict[str, Any]] = [{} for _ in dots]
    for i in sorted(range(len(dots)), key=lambda k: (-crowd[k], dots[k])):
        x, y = dots[i]
        w = len(texts[i]) * font * 0.58
        _, box, tx, ty, anchor, ring = _spot(x, y, w, r=r, font=font, size=size, taken=taken)
        taken.append(box)
        leader = ""
        if ring > 1:
            cx = min(max(x, box[0]), box[2])
            cy = min(max(y, box[1]), box[3])
            leader = f"M{x:.0f} {y:.0f}L{cx:.0f} {cy:.0f}"
        out[i] = {
            "text": texts[i],
            "text_x": f"{tx:.0f}",
            "text_y": f"{ty:.0f}",
            "anchor": anchor,
            "leader": leader,
        }
    return out


def place_names(
    dots: list[tuple[float, float]],
    texts: list[str],
    *,
    r: float,
    font: float,
    size: tuple[float, float],
    taken: list[tuple[float, ...]],
) -> list[dict[str, Any]]:
    """Name the places at ``dots`` (largest first) where a name fits clear of everything ``taken``.

    Each name sits right beside its place's dot, in the first of eight directions that is
    free; a place with no free spot is left out. Returns, per place named: ``x``, ``y``
    (the dot), ``text``, ``text_x``, ``text_y`` and ``anchor``.
    """
    out = []
    for (x, y), text in zip(dots, texts, strict=True):
        dot = (x - r, y - r, x + r, y + r)
        boxes = np.array(taken, dtype=float).reshape(-1, 4)
        if (
            (boxes[:, 0] < dot[2]) & (dot[0] < boxes[:, 2]) & (boxes[:, 1] < dot[3]) & (dot[1] < boxes[:, 3])
        ).any():
            continue
        w = len(text) * font * 0.55
        cost, box, tx, ty, anchor, _ = _spot(
            x, y, w, r=r, font=font, size=size, taken=taken, rings=(1.0, 1.6)
        )
        if cost > 0:
            continue
        taken.extend([dot, box])
        out.append(
            {
                "x": f"{x:.0f}",
                "y": f"{y:.0f}",
                "text": text,
                "text_x": f"{tx:.0f}",
                "text_y": f"{ty:.0f}",
                "anchor": anchor,
            }
        )
    return out
