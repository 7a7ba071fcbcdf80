"""Plans side by side: one page per CCG with a map of each plan, panned and zoomed together."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import pandas as pd
from branca.element import MacroElement

from footprint.load import select_ccgs
from footprint.plan import Plan
from footprint.render import _geometry as geo
from footprint.render._base import (
    ENV,
    Links,
    MapOptions,
    Overlay,
    check_groups,
    check_inputs,
    colour_groups,
    fragment,
    provenance_rows,
    write_text,
)
from footprint.render.assets import write_assets
from footprint.render.ccg_map import TOLERANCE_M, Scene, draw_scene
from footprint.render.elements import Raw, new_map, page_html, root

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Compared:
    """One plan of a comparison: its name, the plan, its group table and what to draw over it.

    Parameters
    ----------
    name
        The plan's name, heading its map (e.g. ``"current"`` or ``"alt-2"``).
    plan
        Practice code to PCN id.
    groups
        The plan's group table (``footprint.evaluate.group_table``), holding every PCN of the plan.
    overlays
        Layers drawn over this plan only (see :class:`~footprint.render.Overlay`), e.g. the
        practices whose group differs between the plans.
    problems
        Practice code to a problem to ring (see :func:`~footprint.render.plan_map`).

    Examples
    --------
    >>> Compared(name="current", plan=Plan({"A": "p"}), groups=pd.DataFrame()).overlays
    ()
    """

    name: str
    plan: Plan
    groups: pd.DataFrame
    overlays: Sequence[Overlay] = ()
    problems: Mapping[str, str] = dataclasses.field(default_factory=dict)


class SyncViews(MacroElement):
    """Make the maps named pan and zoom together (added to the last map drawn)."""

    _template = ENV.get_template("compare.js")

    def __init__(self, maps: Sequence[folium.Map]) -> None:
        super().__init__()
        self._name = "FootprintSync"
        self.names = [m.get_name() for m in maps]


@dataclasses.dataclass(frozen=True)
class _Plans:
    """The plans of a comparison with their shapes (made once for every page) and colours."""

    items: Sequence[Compared]
    shapes: Sequence[geo.Shapes]
    colours: Sequence[Mapping[str, str]]


def _prepare(
    practices: gpd.GeoDataFrame, graph: nx.Graph, plans: Sequence[Compared], options: MapOptions
) -> _Plans:
    check_inputs(practices, graph)
    if len(plans) < 2:
        msg = f"a comparison needs two or more plans, not {len(plans)}: give another Compared"
        raise ValueError(msg)
    bad = [type(p).__name__ for p in plans if not isinstance(p, Compared)]
    if bad:
        msg = f"plans must be Compared objects, not {bad[0]}: see footprint.render.Compared"
        raise TypeError(msg)
    items = [dataclasses.replace(p, plan=p.plan.restrict(practices.index)) for p in plans]
    for item in items:
        check_groups(item.groups, item.plan.groups)
    cells = graph.graph["cells"]
    shapes = [geo.Shapes(practices, item.plan, cells, options.boundaries) for item in items]
    colours = [colour_groups(graph, item.plan) for item in items]
    return _Plans(items, shapes, colours)


def compare_page(
    practices: gpd.GeoDataFrame,
    plans: Sequence[Compared],
    *,
    graph: nx.Graph,
    options: MapOptions | None = None,
    links: Links | None = None,
) -> str:
    """Return one HTML page with a map of each plan of ``practices``, side by side, panned together.

    Each map is drawn as :func:`~footprint.render.plan_map` draws a plan (areas, current
    PCNs, practices, far-flung members, problems), with the options' overlays and the
    plan's own; moving or zooming one map moves the others to the same view. The page
    needs no network, as the CCG maps.

    Parameters
    ----------
    practices
        The practices to draw (EPSG:27700), e.g. one CCG's with their PCNs' other members.
    plans
        Two or more plans (see :class:`Compared`), drawn left to right.
    graph
        The adjacency graph built from these practices (or more).
    options
        As for :func:`~footprint.render.plan_map`; ``title`` heads the page, ``colours``
        is ignored (each plan is coloured so that its neighbouring PCNs differ).
    links
        ``index``: the address of the index page.

    Returns
    -------
    str
        The page's HTML.

    Raises
    ------
    DataError
        If the practices are not in EPSG:27700, the graph was built from others or a
        group table lacks a PCN of its plan.
    ValueError
        If fewer than two plans are given.
    TypeError
        If a plan is not a :class:`Compared`.
    """
    options = options or MapOptions()
    prepared = _prepare(practices, graph, plans, options)
    return _page(practices, graph, prepared, options, links or Links())


def _page(
    practices: gpd.GeoDataFrame, graph: nx.Graph, plans: _Plans, options: MapOptions, links: Links
) -> str:
    """Draw each plan's map into one figure, each in its cell, and return the page."""
    names = [item.name for item in plans.items]
    title = options.title or "Plans compared"
    assets = options.assets or "inline"
    view = geo.view(practices, options.boundaries)
    first = new_map(view, tiles=options.tiles, assets=assets, title=title)
    figure = root(first)
    css = ENV.get_template("compare.css").render()
    figure.header.add_child(Raw(f"<style>{css}</style>"), name="footprint_compare_css")
    differ = {c for o in options.overlays for c in o.practices}
    for item in plans.items:
        differ |= {c for o in item.overlays for c in o.practices if c in practices.index}
    differ &= set(practices.index)
    head = fragment("compare.html", "head", title=title, names=names, index=links.index, count=len(differ))
    figure.html.add_child(Raw(head), name="fp_compare_head")
    maps: list[folium.Map] = []
    for k, item in enumerate(plans.items):
        m = first if k == 0 else new_map(view, tiles=options.tiles, assets=assets, title=title)
        if k:
            figure.add_child(m)  # every map on the first one's page
        figure.html.add_child(Raw(fragment("compare.html", "cell_open", name=item.name)), name=f"fp_cell_{k}")
        figure.html.add_child(Raw(""), name=m.get_name())  # where the map's own <div> goes
        figure.html.add_child(Raw(fragment("compare.html", "cell_close")), name=f"fp_cell_end_{k}")
        scene = Scene(
            practices=practices,
            plan=item.plan.restrict(practices.index),
            graph=graph,
            groups=item.groups,
            problems=item.problems,
            options=dataclasses.replace(
                options,
                name=item.name,
                title=item.name,
                colours=plans.colours[k],
                overlays=[*options.overlays, *item.overlays],
                assets=None,
            ),
            links=Links(index=links.index),
            shapes=plans.shapes[k],
        )
        draw_scene(scene, m=m)
        maps.append(m)
    figure.html.add_child(Raw(fragment("compare.html", "maps_close")), name="fp_compare_end")
    SyncViews(maps).add_to(maps[-1])
    figure.title = title
    return page_html(first)


def write_compare_pages(
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    plans: Sequence[Compared],
    out_dir: str | os.PathLike[str],
    *,
    options: MapOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write one comparison page per CCG (:func:`compare_page`) and an index into ``out_dir``.

    Files (each written atomically): ``<CCG>.html``, ``index.html`` (every CCG linked, with
    the number of practices the plans' overlays highlight there), and with ``assets="beside"``
    Leaflet in ``assets/``. A CCG's page holds every PCN of any plan with a member in the
    CCG, whole.

    Parameters
    ----------
    practices
        Every practice (EPSG:27700).
    graph
        The adjacency graph of ``practices``.
    plans
        Two or more plans (see :class:`Compared`).
    out_dir
        The folder to write, created if needed.
    options
        As for :func:`compare_page`; ``ccgs`` limits the CCGs written.
    progress
        Called with (done, total, CCG code) after each CCG.

    Returns
    -------
    list of pathlib.Path
        The files written, the index last.

    Raises
    ------
    DataError, ValueError, TypeError
        As for :func:`compare_page`; a CCG code naming no practice is a ``DataError``.
    """
    options = options or MapOptions()
    options = dataclasses.replace(options, assets=options.assets or "inline")
    prepared = _prepare(practices, graph, plans, options)
    for shapes in prepared.shapes:
        shapes.areas(options.tolerance(TOLERANCE_M))
    wanted = select_ccgs(practices, options.ccgs)
    out = Path(out_dir)
    written: list[Path] = write_assets(out) if options.assets == "beside" else []
    names = graph.graph.get("ccg_names", {})
    if options.boundaries is not None:
        names = {**options.boundaries["ccg_name"].astype(str).to_dict(), **names}
    codes = sorted(wanted["ccg_code"].unique())
    highlighted = {c for item in prepared.items for o in item.overlays for c in o.practices}
    rows: list[dict[str, Any]] = []
    for i, ccg in enumerate(codes, 1):
        own = wanted.index[wanted["ccg_code"] == ccg]
        shown = _with_partners(practices, prepared, own)
        title = f"{names.get(ccg, ccg)} ({ccg}): {' and '.join(p.name for p in prepared.items)}"
        html = _page(
            shown, graph, prepared, dataclasses.replace(options, title=title), Links(index="index.html")
        )
        written.append(write_text(out / f"{ccg}.html", html))
        rows.append(
            {
                "ccg": ccg,
                "name": names.get(ccg, ccg),
                "page": f"{ccg}.html",
                "practices": len(own),
                "differ": len(highlighted & set(own)),
            }
        )
        if progress is not None:
            progress(i, len(codes), ccg)
    index = fragment(
        "compare.html",
        "index",
        title=options.title or "Plans compared",
        names=[p.name for p in prepared.items],
        rows=rows,
        made=provenance_rows(options.provenance),
    )
    written.append(write_text(out / "index.html", index + "\n"))
    logger.info("wrote %d comparison pages and %s", len(codes), written[-1])
    return written


def _with_partners(practices: gpd.GeoDataFrame, plans: _Plans, codes: Sequence[str]) -> gpd.GeoDataFrame:
    """Return the practices ``codes`` and every other member of their PCNs in any plan."""
    keep = set(codes)
    for item, shapes in zip(plans.items, plans.shapes, strict=True):
        pcns = {p for c in codes if (p := item.plan.assignment.get(c)) is not None}
        keep.update(c for pcn in pcns for c in shapes.groups[pcn])
    return practices.loc[practices.index.isin(keep)]
