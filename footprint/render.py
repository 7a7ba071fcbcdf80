"""Draw plans as interactive maps that open offline, and print one page per PCN.

:func:`plan_map` draws a plan of some practices as a :class:`folium.Map`: each PCN's area
(the union of its members' cells) coloured so that neighbouring PCNs differ, CCG boundary
lines, practice markers sized by list size with a popup each, and switchable layers for the
current PCNs, the adjacency edges and practices with a problem; a finder zooms to a practice
by name, ODS code or postcode. :func:`overview_map` draws every PCN of England at generalised
resolution, and :func:`pcn_pages` returns printable pages (members, ODS codes, list sizes and
a map of the area drawn as inline SVG) for a registration pack. :func:`write_maps` writes
one map and one printable pack per CCG plus an index page.

The pages need no network: Leaflet's script and style come from the installed
``folium-offline`` package (inlined, or written beside the pages), and the background is
drawn from the CCG boundaries instead of web tiles. Areas are drawn from practice locations
(cells), not real catchments; every page says so.

Render draws plans and the overlays the caller hands it (``problems``); it does not judge
plans itself beyond the size band, and imports no later stage.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import folium
import geopandas as gpd
import jinja2
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement

from footprint._io import atomic_write
from footprint.config import SizeBand
from footprint.errors import DataError, FootprintError
from footprint.load import CRS, select_ccgs
from footprint.plan import Plan

__all__ = [
    "ATTRIBUTION",
    "CAVEAT",
    "CD_WTE_PER_PATIENT",
    "PALETTE",
    "band_problems",
    "colour_groups",
    "funded_cd_wte",
    "overview_map",
    "pcn_pages",
    "plan_map",
    "write_assets",
    "write_maps",
]

logger = logging.getLogger(__name__)

#: Funded clinical-director time per registered patient: 0.25 WTE per 50,000 patients
#: (Kent LMC PCN FAQs; see shared/POLICY.md, "Funding").
CD_WTE_PER_PATIENT = 0.25 / 50_000
#: Fill colours of PCN areas (ColorBrewer Set3 without its grey); more are made if needed.
PALETTE = (
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
)
#: What every map and printed page says about the areas it draws.
CAVEAT = "Network areas are drawn from practice locations (cells), not real catchments."
#: Attribution of the shipped data (data/ATTRIBUTION.md), kept with every output.
ATTRIBUTION = (
    "Contains public sector information licensed under the Open Government Licence v3.0 "
    "(NHS Digital, Office for National Statistics).",
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0. "
    "Contains OS data © Crown copyright and database right 2020, 2021, 2025.",
    "Contains Royal Mail data © Royal Mail copyright and database right 2018, 2025.",
    "Contains National Statistics data © Crown copyright and database right 2018, 2025.",
)
#: The short credit in the map's corner (the legend lists :data:`ATTRIBUTION` in full).
CREDIT = "NHS Digital, ONS, OS (OGL v3.0); © Crown copyright, © Royal Mail copyright"

#: Where Leaflet's files go when written beside the pages (``assets="beside"``).
ASSET_DIR = "assets"
Assets = Literal["inline", "beside"]
_ASSETS = ("inline", "beside")

_OPEN_FILL = "#d9d9d9"
_LINE = "#333333"
_CURRENT = "#5e3c99"
_PROBLEM = "#d7191c"
_LAND = "#f7f4ec"
_LAND_OTHER = "#e6e2d8"
_SEA = "#dbe6ee"
_LABEL_TAIL = re.compile(r"[^A-Za-z0-9_-]+")


# --------------------------------------------------------------------------- facts


def funded_cd_wte(list_size: float) -> float:
    """Return the clinical-director time funded for ``list_size`` patients, in WTE.

    Examples
    --------
    >>> funded_cd_wte(50_000)
    0.25
    >>> round(funded_cd_wte(42_000), 3)
    0.21
    """
    return list_size * CD_WTE_PER_PATIENT


def band_problems(practices: pd.DataFrame, plan: Plan, *, band: SizeBand | None = None) -> dict[str, str]:
    """Return practice code to a description of its group's size, for groups out of ``band``.

    Parameters
    ----------
    practices
        The practices table (indexed by code, with ``list_size``); it supplies the sizes.
    plan
        The plan whose groups are measured; practices it lacks are ignored.
    band
        The size band; default 30,000-50,000.

    Examples
    --------
    >>> practices = pd.DataFrame({"list_size": [20_000, 5_000, 40_000]}, index=["A", "B", "C"])
    >>> band_problems(practices, Plan({"A": "p", "B": "p", "C": "q"}))["A"]
    'its PCN p has 25,000 patients, 5,000 below the band 30,000-50,000'
    """
    band = SizeBand() if band is None else band
    problems: dict[str, str] = {}
    for pcn, members in plan.restrict(practices.index).groups.items():
        total = int(practices.loc[sorted(members), "list_size"].sum())
        if band.contains(total):
            continue
        side = "below" if total < band.low else "above"
        text = (
            f"its PCN {pcn} has {total:,} patients, {band.deviation(total):,.0f} {side} "
            f"the band {band.low:,}-{band.high:,}"
        )
        problems.update(dict.fromkeys(members, text))
    return problems


def colour_groups(
    graph: nx.Graph, plan: Plan, *, palette: Sequence[str] = PALETTE, codes: Iterable[str] | None = None
) -> dict[str, str]:
    """Colour the groups of ``plan`` so that groups joined by an edge of ``graph`` differ.

    Two groups are neighbours when any edge of the graph (of any type: rook, site, bridge or
    cross-CCG) joins a member of one to a member of the other. The group graph is coloured
    with DSatur (:func:`networkx.greedy_color`), deterministically; when the palette runs out
    further colours are made, so neighbours never share one.

    Parameters
    ----------
    graph
        The adjacency graph of the practices.
    plan
        The groups to colour.
    palette
        Colours to use first, as CSS colours.
    codes
        Only the practices to consider (default: every practice of the plan).

    Returns
    -------
    dict
        PCN id to colour.

    Examples
    --------
    >>> G = nx.path_graph(["A", "B", "C"])
    >>> colour_groups(G, Plan({"A": "p", "B": "q", "C": "r"}), palette=["red", "blue"])
    {'p': 'blue', 'q': 'red', 'r': 'blue'}
    """
    if not palette:
        msg = "palette is empty: give at least one colour"
        raise ValueError(msg)
    assignment = plan.assignment if codes is None else plan.restrict(codes).assignment
    groups = nx.Graph()
    groups.add_nodes_from(sorted({p for p in assignment.values() if p is not None}))
    for a, b in graph.edges(sorted(c for c in assignment if c in graph)):
        pa, pb = assignment.get(a), assignment.get(b)
        if pa is not None and pb is not None and pa != pb:
            groups.add_edge(pa, pb)
    order = nx.greedy_color(groups, strategy="DSATUR")
    return {pcn: _nth_colour(palette, order[pcn]) for pcn in groups.nodes}


def _nth_colour(palette: Sequence[str], n: int) -> str:
    if n < len(palette):
        return palette[n]
    hue = (n - len(palette)) * 137.508 % 360  # golden angle: well-spread extra hues
    return f"hsl({hue:.0f}, 55%, 72%)"


@dataclass(frozen=True)
class _Group:
    """What a map or page shows about one PCN."""

    pcn: str
    label: str
    members: tuple[str, ...]
    total: int
    ccgs: tuple[str, ...]
    centre: tuple[float, float]
    mean_km: float
    colour: str


def _labels(practices: pd.DataFrame, pcns: Iterable[str]) -> dict[str, str]:
    """Return PCN id to ``NAME (id)`` where the practices file names the current PCN."""
    names: dict[str, str] = {}
    if "pcn_name" in practices.columns and "pcn_code" in practices.columns:
        named = practices[practices["pcn_name"].astype(str).str.strip() != ""]
        names = named.groupby("pcn_code")["pcn_name"].first().astype(str).to_dict()
    return {p: f"{names[p]} ({p})" if names.get(p) else str(p) for p in pcns}


def _groups(practices: pd.DataFrame, plan: Plan, colours: Mapping[str, str]) -> dict[str, _Group]:
    xy = np.column_stack([practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()])
    position = {code: i for i, code in enumerate(practices.index)}
    groups = plan.restrict(practices.index).groups
    labels = _labels(practices, groups)
    out = {}
    for pcn, codes in groups.items():
        members = tuple(sorted(codes, key=lambda c: (str(practices.at[c, "practice_name"]), c)))
        rows = [position[c] for c in members]
        size = practices["list_size"].to_numpy()[rows].astype(float)
        centre = (size @ xy[rows]) / size.sum()
        distance_km = np.hypot(*(xy[rows] - centre).T) / 1000
        out[pcn] = _Group(
            pcn=pcn,
            label=labels[pcn],
            members=members,
            total=int(size.sum()),
            ccgs=tuple(sorted(practices.loc[list(members), "ccg_code"].unique())),
            centre=(float(centre[0]), float(centre[1])),
            mean_km=float(size @ distance_km / size.sum()),
            colour=colours.get(pcn, PALETTE[0]),
        )
    return out


# --------------------------------------------------------------------------- geometry


def _areas(
    practices: pd.DataFrame, plan: Plan, cells: gpd.GeoSeries, *, tolerance_m: float
) -> tuple[dict[str, shapely.Geometry], dict[str, shapely.Geometry]]:
    """Return each group's area and each open site's cell, simplified, in EPSG:27700.

    Practices in one building share one cell; when they are in different groups the cell is
    drawn for the group of the largest practice there, so areas never overlap. Within a CCG
    the areas form a coverage and are simplified together (shared borders stay shared).
    """
    assignment = plan.assignment
    groups: dict[str, list[shapely.Geometry]] = {}
    open_sites: dict[str, list[shapely.Geometry]] = {}
    for _, frame in practices.groupby("ccg_code", sort=True):
        sites: dict[bytes, list[str]] = {}
        for code, wkb in zip(frame.index, shapely.to_wkb(cells.loc[frame.index].to_numpy()), strict=True):
            sites.setdefault(wkb, []).append(code)
        pieces: dict[tuple[str, str], list[shapely.Geometry]] = {}
        for codes in sites.values():
            owner = max(codes, key=lambda c: (int(practices.at[c, "list_size"]), c))
            pcn = assignment.get(owner)
            key = ("pcn", pcn) if pcn is not None else ("open", owner)
            pieces.setdefault(key, []).append(cells.at[owner])
        keys = list(pieces)
        area = np.array([shapely.union_all(pieces[k]) for k in keys], dtype=object)
        if tolerance_m > 0 and len(area):
            if shapely.coverage_is_valid(area):
                area = shapely.coverage_simplify(area, tolerance_m)
            else:
                area = shapely.simplify(area, tolerance_m, preserve_topology=True)
        for (kind, name), geom in zip(keys, area, strict=True):
            (groups if kind == "pcn" else open_sites).setdefault(name, []).append(geom)
    merge = {k: v[0] if len(v) == 1 else shapely.union_all(v) for k, v in groups.items()}
    return merge, {k: v[0] for k, v in open_sites.items()}


def _lonlat(geoms: Sequence[shapely.Geometry], *, decimals: int) -> list[dict]:
    """Return GeoJSON geometries in WGS84 with coordinates rounded to ``decimals``."""
    if not len(geoms):
        return []
    series = gpd.GeoSeries(list(geoms), crs=CRS).to_crs("EPSG:4326")
    rounded = shapely.transform(series.to_numpy(), lambda c: np.round(c, decimals))
    return [shapely.geometry.mapping(g) for g in rounded]


def _features(geoms: Sequence[shapely.Geometry], props: Sequence[dict], *, decimals: int) -> dict:
    keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    shapes = _lonlat([geoms[i] for i in keep], decimals=decimals)
    features = [
        {"type": "Feature", "geometry": shape, "properties": props[i]}
        for i, shape in zip(keep, shapes, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _bounds(practices: gpd.GeoDataFrame, margin_m: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = practices.total_bounds
    return x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m


# --------------------------------------------------------------------------- HTML bits


def _e(value: object) -> str:
    return html.escape(str(value))


def _band_text(total: int, band: SizeBand) -> str:
    if band.contains(total):
        return f"in band {band.low:,}-{band.high:,}"
    side = "below" if total < band.low else "above"
    return f"out of band: {band.deviation(total):,.0f} {side} {band.low:,}-{band.high:,}"


def _practice_popup(
    code: str,
    row: pd.Series,
    *,
    group: _Group | None,
    band: SizeBand,
    neighbours: str,
    problem: str | None,
    distance_km: float | None,
) -> str:
    rows = [
        ("ODS code", _e(code)),
        ("Postcode", _e(row["postcode"]) or "&ndash;"),
        ("List size", f"{int(row['list_size']):,}"),
    ]
    if group is None:
        rows.append(("PCN", "none: open (not in a PCN)"))
    else:
        rows += [
            ("PCN", _e(group.label)),
            ("PCN total", f"{group.total:,} ({_e(_band_text(group.total, band))})"),
            ("To PCN centre", f"{distance_km:.1f} km (list-weighted centre)"),
        ]
    rows.append(("Neighbours", neighbours or "none"))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    notes = ""
    if bool(row.get("rural", False)):
        notes += f"<p>Rural: may be approved below {band.low:,}.</p>"
    if bool(row.get("imputed", False)):
        notes += "<p>Location estimated from postcode neighbours.</p>"
    if problem:
        notes += f'<p class="fp-problem">Problem: {_e(problem)}</p>'
    return (
        f'<div class="fp-popup" data-code="{_e(code)}"><h4>{_e(row["practice_name"] or code)}</h4>'
        f"<table>{table}</table>{notes}</div>"
    )


def _group_popup(group: _Group, practices: pd.DataFrame, band: SizeBand, link: str | None) -> str:
    members = "".join(
        f"<tr><td>{_e(practices.at[c, 'practice_name'])}</td><td>{_e(c)}</td>"
        f'<td class="fp-num">{int(practices.at[c, "list_size"]):,}</td></tr>'
        for c in group.members
    )
    wte = funded_cd_wte(group.total)
    in_band = "yes" if band.contains(group.total) else "no"
    page = f'<p><a href="{_e(link)}" target="_blank">Printable page</a></p>' if link else ""
    return (
        f'<div class="fp-popup" data-pcn="{_e(group.pcn)}"><h4>{_e(group.label)}</h4>'
        f"<table><tr><th>Practices</th><td>{len(group.members)}</td></tr>"
        f"<tr><th>Total list size</th><td>{group.total:,}</td></tr>"
        f"<tr><th>In band {band.low:,}-{band.high:,}</th><td>{in_band}"
        f"{'' if in_band == 'yes' else ' (' + _e(_band_text(group.total, band)) + ')'}</td></tr>"
        f"<tr><th>Funded clinical director</th><td>{wte:.2f} WTE (0.25 WTE per 50,000 patients)</td></tr>"
        f"<tr><th>Mean distance to centre</th><td>{group.mean_km:.1f} km</td></tr>"
        f"<tr><th>CCG</th><td>{_e(', '.join(group.ccgs))}</td></tr></table>"
        f'<table class="fp-members"><tr><th>Practice</th><th>Code</th><th>List</th></tr>{members}'
        f"</table>{page}</div>"
    )


def _neighbours(graph: nx.Graph, code: str) -> str:
    parts = []
    for other in sorted(graph[code], key=lambda c: (str(graph.nodes[c].get("practice_name", c)), c)):
        data = graph.edges[code, other]
        name = graph.nodes[other].get("practice_name", other)
        kind = data.get("type")
        if kind == "bridge":
            tail = f" (bridge, {data.get('length_km', 0):.1f} km)"
        elif kind == "site":
            tail = " (same building)"
        elif kind == "cross_ccg":
            tail = f" (CCG {graph.nodes[other].get('ccg_code', '?')})"
        else:
            tail = ""
        parts.append(f"{_e(name)} ({_e(other)}){tail}")
    return "; ".join(parts)


def _radius(list_size: float) -> float:
    """Return a marker radius in pixels, its area growing with the list size."""
    return round(3.0 + 1.6 * math.sqrt(list_size / 1000), 1)


_CSS = """
.leaflet-container { background: %(sea)s; font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; }
.fp-panel { background: rgba(255,255,255,.95); padding: 5px 8px; border-radius: 5px; font-size: 12px;
  box-shadow: 0 1px 5px rgba(0,0,0,.4); max-width: 300px; max-height: 60vh; overflow: auto; }
.fp-panel summary { font-weight: 600; cursor: pointer; }
.fp-panel h3 { margin: 2px 0 4px; font-size: 14px; }
.fp-panel table, .fp-popup table { border-collapse: collapse; }
.fp-panel th, .fp-popup th { text-align: left; padding: 1px 8px 1px 0; font-weight: 600;
  vertical-align: top; }
.fp-panel td, .fp-popup td { padding: 1px 6px 1px 0; vertical-align: top; }
.fp-num { text-align: right; }
.fp-popup h4 { margin: 0 0 4px; font-size: 14px; }
.fp-popup .fp-members { margin-top: 6px; font-size: 12px; }
.fp-problem { color: %(problem)s; font-weight: 600; }
.fp-caveat { font-style: italic; margin: 4px 0; }
.fp-finder input { width: 210px; font: inherit; }
.fp-finder button { font: inherit; }
.fp-finder .fp-find-result button { display: block; margin: 2px 0; text-align: left; font-size: 12px; }
.fp-key { display: inline-block; width: 14px; height: 10px; border: 1px solid %(line)s; margin-right: 5px; }
.leaflet-control-attribution { max-width: 60vw; white-space: normal; }
"""


class _Html(MacroElement):
    """A Leaflet control holding fixed HTML (a panel, a legend)."""

    _template = jinja2.Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var control = L.control({position: {{ this.position|tojson }}});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
    div.innerHTML = {{ this.content|tojson }};
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  control.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
"""
    )

    def __init__(self, content: str, *, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "FootprintPanel"
        self.content = content
        self.position = position
        self.css_class = css_class


class _Finder(MacroElement):
    """A box that finds a practice by name, ODS code or postcode and opens its popup."""

    _template = jinja2.Template(
        """
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var layer = {{ this.layer.get_name() }};
  var entries = [];
  layer.eachLayer(function (marker) {
    var p = marker.feature.properties;
    entries.push({code: p.code, name: p.name, postcode: p.postcode, marker: marker});
  });
  entries.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
  function norm(text) { return (text || "").toUpperCase().replace(/[^A-Z0-9]/g, ""); }
  function search(text) {
    var q = norm(text);
    if (!q) { return []; }
    var exact = entries.filter(function (e) { return norm(e.code) === q || norm(e.postcode) === q; });
    if (exact.length) { return exact; }
    return entries.filter(function (e) {
      return (norm(e.name) + "|" + norm(e.code) + "|" + norm(e.postcode)).indexOf(q) >= 0;
    });
  }
  function show(entry) {
    if (!map.hasLayer(layer)) { map.addLayer(layer); }
    map.setView(entry.marker.getLatLng(), Math.max(map.getZoom(), 14), {animate: false});
    entry.marker.openPopup();
  }
  var control = L.control({position: "topleft"});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", "fp-panel fp-finder");
    var id = {{ this.get_name()|tojson }};
    div.innerHTML = '<form><label for="' + id + '"><b>Find a practice</b></label><br>' +
      '<input id="' + id + '" type="search" list="' + id + '-list" autocomplete="off" ' +
      'placeholder="name, ODS code or postcode"> <button type="submit">Find</button></form>' +
      '<div class="fp-find-result" role="status"></div>';
    var list = document.createElement("datalist");
    list.id = id + "-list";
    entries.forEach(function (e) {
      var option = document.createElement("option");
      option.value = e.code;
      option.label = e.name + " \u00b7 " + e.postcode;
      list.appendChild(option);
    });
    div.appendChild(list);
    var form = div.querySelector("form");
    var input = div.querySelector("input");
    var result = div.querySelector(".fp-find-result");
    function go() {
      var found = search(input.value);
      result.textContent = "";
      if (found.length === 1) { show(found[0]); return; }
      if (!found.length) {
        result.textContent = "No practice matches \u201c" + input.value + "\u201d.";
        return;
      }
      result.textContent = found.length + " practices match; choose one:";
      found.slice(0, 8).forEach(function (e) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = e.name + " (" + e.code + ", " + e.postcode + ")";
        L.DomEvent.on(button, "click", function () { show(e); });
        result.appendChild(button);
      });
    }
    L.DomEvent.on(form, "submit", function (ev) { L.DomEvent.preventDefault(ev); go(); });
    L.DomEvent.on(input, "input", function () {
      if (entries.some(function (e) { return e.code === input.value; })) { go(); }
    });
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  control.addTo(map);
})();
{% endmacro %}
"""
    )

    def __init__(self, layer: folium.GeoJson) -> None:
        super().__init__()
        self._name = "FootprintFinder"
        self.layer = layer


class _Script(MacroElement):
    """Plain script run after the map's layers exist (attribution, layer order)."""

    _template = jinja2.Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "FootprintScript"
        self.code = code


_ON_EACH_FEATURE = folium.JsCode(
    """function (feature, layer) {
  var p = feature.properties || {};
  if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 380, maxHeight: 360}); }
  if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
}"""
)


# --------------------------------------------------------------------------- assets


@functools.cache
def _leaflet_sources() -> dict[str, str]:
    """Return Leaflet's ``leaflet.js`` and ``leaflet.css`` from the installed folium-offline."""
    try:
        from offlinefolium import elements  # 3.5 MB of embedded web assets: import when needed
    except ImportError:  # pragma: no cover - a declared dependency
        msg = "the maps need Leaflet from the folium-offline package: pip install folium-offline"
        raise FootprintError(msg) from None
    sources = getattr(elements, "_res", {})
    found = {}
    for name in ("leaflet.js", "leaflet.css"):
        urls = sorted(u for u in sources if re.search(rf"/leaflet@[0-9.]+/dist/{re.escape(name)}$", u))
        if not urls:
            msg = (
                f"the installed folium-offline has no {name}: reinstall it "
                "(pip install --force-reinstall 'folium-offline>=0.20')"
            )
            raise FootprintError(msg)
        found[name] = sources[urls[-1]]
    return found


def write_assets(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write Leaflet's script and style into ``out_dir/assets`` for pages made with ``assets="beside"``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    return [_write(Path(out_dir) / ASSET_DIR / name, text) for name, text in _leaflet_sources().items()]


def _root(m: folium.Map) -> Figure:
    """Return the page (figure) that holds ``m``."""
    root = m.get_root()
    assert isinstance(root, Figure)  # folium.Map always makes one
    return root


def _use_offline_assets(m: folium.Map, assets: Assets) -> None:
    """Make ``m`` load only Leaflet, from the installed package rather than a CDN."""
    if assets not in _ASSETS:
        msg = f"assets={assets!r} is not an option: give 'inline' or 'beside'"
        raise ValueError(msg)
    m.default_js = []  # folium's CDN list (Leaflet, jQuery, Bootstrap, fonts) is not needed
    m.default_css = []
    header = _root(m).header
    if assets == "beside":
        header.add_child(
            Element(f'<link rel="stylesheet" href="{ASSET_DIR}/leaflet.css"/>'), name="leaflet_css"
        )
        header.add_child(Element(f'<script src="{ASSET_DIR}/leaflet.js"></script>'), name="leaflet")
        return
    sources = _leaflet_sources()
    script = sources["leaflet.js"].replace("</script", "<\\/script")
    header.add_child(Element(f"<style>{sources['leaflet.css']}</style>"), name="leaflet_css")
    header.add_child(Element(f"<script>{script}</script>"), name="leaflet")


def _view(practices: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame | None) -> tuple[float, ...]:
    """Return the box to show first: the practices' CCGs, else the practices (EPSG:27700)."""
    if boundaries is not None:
        own = boundaries.index.intersection(practices["ccg_code"].unique())
        if len(own):  # a practice registered far away (e.g. a digital provider's site) stays out
            return tuple(boundaries.loc[own].total_bounds)
    return _bounds(practices, 1_000)


def _new_map(
    view: tuple[float, ...],
    *,
    tiles: str | None,
    assets: Assets | None,
    title: str | None,
    width: str = "100%",
) -> folium.Map:
    m = folium.Map(tiles=tiles, width=width, control_scale=True, zoom_snap=0.25, zoom_delta=0.5)
    _use_offline_assets(m, "inline" if assets is None else assets)
    root = _root(m)
    root.title = title
    root.header.add_child(
        Element(
            "<style>"
            + _CSS % {"sea": _SEA if tiles is None else "#ddd", "problem": _PROBLEM, "line": _LINE}
            + "</style>"
        ),
        name="footprint_css",
    )
    _Script(f"{m.get_name()}.attributionControl.addAttribution({json.dumps(_e(CREDIT))});").add_to(m)
    x0, y0, x1, y1 = view
    corners = gpd.GeoSeries(shapely.points([x0, x1], [y0, y1]), crs=CRS).to_crs("EPSG:4326")
    m.fit_bounds([[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]])
    return m


# --------------------------------------------------------------------------- maps


def _check(practices: gpd.GeoDataFrame, graph: nx.Graph) -> None:
    if practices.crs is None or practices.crs.to_string() != CRS:
        msg = f"practices must be in {CRS} (as read_practices returns them), not {practices.crs}"
        raise DataError(msg)
    cells = graph.graph.get("cells")
    missing = sorted(set(practices.index) - set(graph.nodes))
    if cells is not None:
        missing = sorted(set(missing) | (set(practices.index) - set(cells.index)))
    if cells is None or missing:
        some = ", ".join(missing[:10]) if missing else "its cells"
        msg = (
            f"the graph was not built from these practices (it lacks {some}"
            f"{' ...' if len(missing) > 10 else ''}): build it with "
            "graph_from_practices(practices, boundaries)"
        )
        raise DataError(msg)


def _check_style(style_kwds: Mapping[str, Any]) -> dict[str, Any]:
    style = {_camel(k): v for k, v in style_kwds.items()}
    clash = sorted({"fillColor", "color"} & set(style))
    if clash:
        msg = (
            f"style option(s) {', '.join(clash)} clash with the colouring of PCN areas "
            "(neighbours always differ): give weight, opacity or fill_opacity instead"
        )
        raise TypeError(msg)
    return style


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def plan_map(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    m: folium.Map | None = None,
    boundaries: gpd.GeoDataFrame | None = None,
    current: Plan | None = None,
    problems: Mapping[str, str] | None = None,
    band: SizeBand | None = None,
    name: str = "Proposed plan",
    title: str | None = None,
    colours: Mapping[str, str] | None = None,
    page_links: Mapping[str, str] | None = None,
    home: str | None = None,
    tiles: str | None = None,
    assets: Assets | None = None,
    tolerance_m: float = 50.0,
    attribution: Sequence[str] = ATTRIBUTION,
    **style_kwds: Any,
) -> folium.Map:
    """Draw a plan of ``practices`` on an interactive map that opens with no network.

    Parameters
    ----------
    practices
        The practices to draw (EPSG:27700, indexed by code), e.g. one CCG's.
    plan
        Practice code to PCN id; practices it leaves open are drawn grey.
    graph
        The adjacency graph built from these practices (or more): its cells give the areas,
        its edges the neighbours and the adjacency layer.
    m
        A map to draw on (made offline by this function unless ``assets`` is ``None``);
        default a new one. Give ``tiles`` only when making a new map.
    boundaries
        CCG polygons (as :func:`footprint.load.read_boundaries` returns): the plain
        background and the CCG boundary lines. ``None`` draws neither.
    current
        The current PCNs, drawn as a switchable layer of dashed outlines.
    problems
        Practice code to a description of its problem (e.g. stranded, out of band): these
        practices are ringed in red in their own layer and their popups say why. Codes
        of other practices are ignored.
    band
        The list-size band of the popups; default 30,000-50,000.
    name
        Name of the plan's layer, e.g. ``"Proposed plan"`` or ``"Current PCNs"``.
    title
        Heading of the summary panel and title of the page.
    colours
        PCN id to fill colour; default :func:`colour_groups` on the graph.
    page_links
        PCN id to the address of its printable page, linked from the PCN's popup.
    home
        Address of the index page, linked from the summary panel.
    tiles
        A folium tile set to show under the areas (needs the network); default none,
        the background is drawn from ``boundaries``.
    assets
        Where Leaflet comes from: ``"inline"`` (default; embedded, so one file works on
        its own) or ``"beside"`` (``assets/leaflet.js`` beside the page; see
        :func:`write_assets`).
    tolerance_m
        Simplification of areas and boundaries in metres (0 keeps every vertex).
    attribution
        Lines of data attribution shown on the map.
    **style_kwds
        Leaflet path options of the PCN areas (``weight``, ``opacity``, ``fill_opacity``).

    Returns
    -------
    folium.Map
        The map, with layers "<name>", "CCG boundaries", "Current PCNs", "Neighbour links
        (bridges dashed)", "Practices" and "Practices with a problem (N)" (those with data),
        a practice finder, a legend and a summary panel.

    Raises
    ------
    DataError
        If the practices are not in EPSG:27700 or the graph was built from others.
    TypeError
        If ``tiles`` is given with ``m``, or a style option clashes with the colouring.

    Examples
    --------
    >>> from footprint.graph import graph_from_practices
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.plan import plan_from_practices
    >>> practices = select_ccgs(read_practices(), ["00Q"])
    >>> graph = graph_from_practices(practices, use_cache=False)
    >>> m = plan_map(practices, plan_from_practices(practices), graph=graph, name="Current PCNs")
    >>> "cdn.jsdelivr" in m.get_root().render()
    False
    """
    if m is not None and tiles is not None:
        msg = "tiles are set when a map is made: give tiles=None with m=, or no m"
        raise TypeError(msg)
    style = {"weight": 1.2, "opacity": 0.9, "fillOpacity": 0.6, **_check_style(style_kwds)}
    _check(practices, graph)
    band = SizeBand() if band is None else band
    practices = practices.copy()
    problems = {c: t for c, t in (problems or {}).items() if c in practices.index}
    plan = plan.restrict(practices.index)
    colours = dict(colours) if colours is not None else colour_groups(graph, plan)
    groups = _groups(practices, plan, colours)
    cells = graph.graph["cells"]

    if m is None:
        m = _new_map(_view(practices, boundaries), tiles=tiles, assets=assets, title=title)
    elif assets is not None:
        _use_offline_assets(m, assets)

    own = sorted(practices["ccg_code"].unique())
    shapes = None
    if boundaries is not None:
        shapes = _ccg_shapes(
            boundaries, within=shapely.box(*_bounds(practices, 15_000)), tolerance_m=tolerance_m
        )
        if tiles is None:
            _draw_land(m, shapes, own, decimals=5)
    layers = [_draw_areas(m, practices, plan, groups, cells, band, name, style, page_links, tolerance_m)]
    if boundaries is not None and shapes is not None:
        names = {**boundaries["ccg_name"].astype(str).to_dict(), **graph.graph.get("ccg_names", {})}
        layers.append(_draw_ccg_lines(m, shapes, own, names=names, decimals=5))
    if current is not None:
        layers.append(_draw_current(m, practices, current, cells, tolerance_m))
    layers.append(_draw_edges(m, practices, graph))
    practice_layer = _draw_practices(m, practices, plan, groups, graph, band, problems)
    layers.append(practice_layer)
    if problems:
        layers.append(_draw_problems(m, practices, problems))

    _Finder(practice_layer).add_to(m)
    summary = _summary_html(practices, plan, groups, band, problems, title=title, name=name, home=home)
    _Html(summary, position="bottomleft", css_class="fp-panel fp-summary").add_to(m)
    legend = _legend_html(
        current=current is not None, problems=bool(problems), markers=True, attribution=attribution
    )
    _Html(legend, position="bottomright", css_class="fp-panel fp-legend").add_to(m)
    _keep_order(m, layers)
    if not any(isinstance(child, folium.LayerControl) for child in m._children.values()):
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
    logger.info(
        "drew %d practices in %d PCNs (%d open, %d with a problem)",
        len(practices),
        len(groups),
        len(plan.open_practices) + len(set(practices.index) - set(plan.assignment)),
        len(problems),
    )
    return m


def _keep_order(m: folium.Map, layers: Sequence[folium.GeoJson]) -> None:
    """Keep ``layers`` stacked in this order (areas under markers) when one is switched back on."""
    order = ", ".join(layer.get_name() for layer in layers)
    name = m.get_name()
    _Script(
        f"{name}.on('overlayadd', function () {{ [{order}].forEach(function (layer) {{"
        f" if ({name}.hasLayer(layer)) {{ layer.bringToFront(); }} }}); }});"
    ).add_to(m)


def _ccg_shapes(
    boundaries: gpd.GeoDataFrame, *, within: shapely.Geometry | None, tolerance_m: float
) -> gpd.GeoSeries:
    """Return the simplified CCG polygons that meet ``within`` (all when ``None``)."""
    near = boundaries if within is None else boundaries[boundaries.intersects(within)]
    geoms = shapely.simplify(near.geometry.to_numpy(), tolerance_m, preserve_topology=True)
    return gpd.GeoSeries(geoms, index=near.index, crs=CRS)


def _draw_land(m: folium.Map, shapes: gpd.GeoSeries, own: Iterable[str], *, decimals: int) -> None:
    """Draw CCG polygons as a plain background (no tiles needed); the CCGs in ``own`` lighter."""
    own = set(own)
    props = [
        {"style": {"stroke": False, "fillColor": _LAND if c in own else _LAND_OTHER, "fillOpacity": 1}}
        for c in shapes.index
    ]
    folium.GeoJson(
        _features(list(shapes), props, decimals=decimals), name="Background", control=False, interactive=False
    ).add_to(m)


def _draw_ccg_lines(
    m: folium.Map,
    shapes: gpd.GeoSeries,
    own: Iterable[str],
    *,
    names: Mapping[str, str],
    links: Mapping[str, str] | None = None,
    decimals: int,
) -> folium.GeoJson:
    """Draw CCG boundaries as lines, those in ``own`` thicker, with their names (and links)."""
    own = set(own)
    props = []
    for code in shapes.index:
        label = f"{_e(names.get(code, code))} ({_e(code)})"
        link = (links or {}).get(code)
        props.append(
            {
                "tip": label,
                "popup": f'<div class="fp-popup"><h4>{label}</h4><a href="{_e(link)}">Open its map</a></div>'
                if link
                else None,
                "style": {
                    "color": _LINE,
                    "weight": 2.5 if code in own else 1.2,
                    "opacity": 0.9,
                    "fill": False,
                },
            }
        )
    layer = folium.GeoJson(
        _features(list(shapes), props, decimals=decimals),
        name="CCG boundaries",
        on_each_feature=_ON_EACH_FEATURE,
        className="fp-ccg",
    )
    layer.add_to(m)
    return layer


def _draw_areas(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    plan: Plan,
    groups: Mapping[str, _Group],
    cells: gpd.GeoSeries,
    band: SizeBand,
    name: str,
    style: Mapping[str, Any],
    page_links: Mapping[str, str] | None,
    tolerance_m: float,
) -> folium.GeoJson:
    areas, open_sites = _areas(practices, plan, cells, tolerance_m=tolerance_m)
    geoms: list[shapely.Geometry] = []
    props: list[dict[str, Any]] = []
    for pcn, group in groups.items():
        if pcn not in areas:  # every member shares a building with a bigger practice of another PCN
            logger.info("PCN %s has no area of its own: its practices share buildings", pcn)
            continue
        geoms.append(areas[pcn])
        props.append(
            {
                "pcn": pcn,
                "tip": f"{_e(group.label)}: {group.total:,} patients",
                "popup": _group_popup(group, practices, band, (page_links or {}).get(pcn)),
                "style": {"color": _LINE, "fillColor": group.colour, **style},
            }
        )
    for code, geom in open_sites.items():
        geoms.append(geom)
        props.append(
            {
                "pcn": None,
                "tip": f"{_e(practices.at[code, 'practice_name'])}: open (not in a PCN)",
                "style": {"color": _LINE, "fillColor": _OPEN_FILL, **style, "dashArray": "4 3"},
            }
        )
    layer = folium.GeoJson(
        _features(geoms, props, decimals=5),
        name=name,
        on_each_feature=_ON_EACH_FEATURE,
        className="fp-area",
    )
    layer.add_to(m)
    return layer


def _draw_current(
    m: folium.Map, practices: gpd.GeoDataFrame, current: Plan, cells: gpd.GeoSeries, tolerance_m: float
) -> folium.GeoJson:
    current = current.restrict(practices.index)
    areas, _ = _areas(practices, current, cells, tolerance_m=tolerance_m)
    labels = _labels(practices, areas)
    sizes = {
        pcn: int(practices.loc[sorted(codes), "list_size"].sum()) for pcn, codes in current.groups.items()
    }
    props = [
        {
            "tip": f"Current PCN {_e(labels[pcn])}: {sizes[pcn]:,} patients",
            "style": {"color": _CURRENT, "weight": 2.5, "dashArray": "6 4", "fill": False},
        }
        for pcn in areas
    ]
    layer = folium.GeoJson(
        _features(list(areas.values()), props, decimals=5),
        name="Current PCNs",
        show=False,
        on_each_feature=_ON_EACH_FEATURE,
        className="fp-current",
    )
    layer.add_to(m)
    return layer


def _draw_edges(m: folium.Map, practices: gpd.GeoDataFrame, graph: nx.Graph) -> folium.GeoJson:
    xy = dict(zip(practices.index, zip(practices.geometry.x, practices.geometry.y, strict=True), strict=True))
    lines: dict[str, list] = {"rook": [], "cross_ccg": []}
    geoms, props = [], []
    for a, b, data in sorted(graph.subgraph(practices.index).edges(data=True)):
        kind = data.get("type")
        if kind == "bridge":
            geoms.append(shapely.LineString([xy[a], xy[b]]))
            names = f"{_e(graph.nodes[a]['practice_name'])} to {_e(graph.nodes[b]['practice_name'])}"
            props.append(
                {
                    "tip": f"Bridge {names}: {data.get('length_km', 0):.1f} km (no shared border)",
                    "style": {"color": "#222222", "weight": 2.5, "dashArray": "8 6", "opacity": 0.9},
                }
            )
        elif kind in lines:
            lines[kind].append([xy[a], xy[b]])
    for kind, tip, colour in (
        ("rook", "Neighbours: their cells share a border", "#555555"),
        ("cross_ccg", "Neighbours across a CCG boundary", "#9e9e9e"),
    ):
        if lines[kind]:
            geoms.append(shapely.MultiLineString(lines[kind]))
            props.append({"tip": tip, "style": {"color": colour, "weight": 1.2, "opacity": 0.8}})
    layer = folium.GeoJson(
        _features(geoms, props, decimals=5),
        name="Neighbour links (bridges dashed)",
        show=False,
        on_each_feature=_ON_EACH_FEATURE,
        className="fp-edge",
    )
    layer.add_to(m)
    return layer


def _draw_practices(
    m: folium.Map,
    practices: gpd.GeoDataFrame,
    plan: Plan,
    groups: Mapping[str, _Group],
    graph: nx.Graph,
    band: SizeBand,
    problems: Mapping[str, str],
) -> folium.GeoJson:
    geoms, props = [], []
    for code, row in practices.sort_values("list_size", ascending=False).iterrows():
        pcn = plan.assignment.get(code)
        group = groups.get(pcn) if pcn is not None else None
        distance = (
            math.hypot(row.geometry.x - group.centre[0], row.geometry.y - group.centre[1]) / 1000
            if group is not None
            else None
        )
        geoms.append(row.geometry)
        props.append(
            {
                "code": code,
                "name": str(row["practice_name"]),
                "postcode": str(row["postcode"]),
                "tip": f"{_e(row['practice_name'])} ({_e(code)}): {int(row['list_size']):,}",
                "popup": _practice_popup(
                    code,
                    row,
                    group=group,
                    band=band,
                    neighbours=_neighbours(graph, code),
                    problem=problems.get(code),
                    distance_km=distance,
                ),
                "style": {
                    "radius": _radius(row["list_size"]),
                    "color": "#1f1f1f",
                    "weight": 1.5,
                    "fill": True,
                    "fillColor": "#ffffff",
                    "fillOpacity": 0.9,
                },
            }
        )
    layer = folium.GeoJson(
        _features(geoms, props, decimals=5),
        name="Practices",
        on_each_feature=_ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=5, className="fp-practice"),
    )
    layer.add_to(m)
    return layer


def _draw_problems(m: folium.Map, practices: gpd.GeoDataFrame, problems: Mapping[str, str]) -> folium.GeoJson:
    codes = sorted(problems)
    props = [
        {
            "tip": f"{_e(practices.at[c, 'practice_name'])} ({_e(c)}): {_e(problems[c])}",
            "style": {
                "radius": _radius(practices.at[c, "list_size"]) + 4,
                "color": _PROBLEM,
                "weight": 3,
                "fill": False,
            },
        }
        for c in codes
    ]
    layer = folium.GeoJson(
        _features(list(practices.geometry.loc[codes]), props, decimals=5),
        name=f"Practices with a problem ({len(codes)})",
        on_each_feature=_ON_EACH_FEATURE,
        marker=folium.CircleMarker(radius=8, className="fp-problem-ring"),
    )
    layer.add_to(m)
    return layer


def _summary_html(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    groups: Mapping[str, _Group],
    band: SizeBand,
    problems: Mapping[str, str],
    *,
    title: str | None,
    name: str,
    home: str | None,
) -> str:
    totals = [g.total for g in groups.values()]
    below = sum(t < band.low for t in totals)
    above = sum(t > band.high for t in totals)
    open_codes = [c for c in practices.index if plan.assignment.get(c) is None]
    rows = [
        ("Practices", f"{len(practices):,}"),
        ("Patients", f"{int(practices['list_size'].sum()):,}"),
        ("PCNs", f"{len(groups):,}"),
        (f"In band {band.low:,}-{band.high:,}", f"{len(groups) - below - above:,}"),
        ("Below / above band", f"{below:,} / {above:,}"),
        ("Open practices", f"{len(open_codes):,}"),
        ("Practices with a problem", f"{len(problems):,}"),
        ("Funded clinical directors", f"{sum(funded_cd_wte(t) for t in totals):.2f} WTE"),
    ]
    if "data_date" in practices.columns and practices["data_date"].astype(str).str.strip().any():
        rows.append(("List sizes of", _e(practices["data_date"].astype(str).max())))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    links = f'<p><a href="{_e(home)}">All CCGs (index)</a></p>' if home else ""
    return f"<details open><summary>{_e(title or name)}</summary><table>{table}</table>{links}</details>"


def _legend_html(*, current: bool, problems: bool, markers: bool, attribution: Sequence[str]) -> str:
    def circle(r: float) -> str:
        size = 2 * r + 2
        return (
            f'<svg width="{size}" height="{size}" style="vertical-align:middle">'
            f'<circle cx="{r + 1}" cy="{r + 1}" r="{r}" fill="#ffffff" stroke="#1f1f1f"/></svg>'
        )

    def line(colour: str, dash: str = "", width: float = 2) -> str:
        return (
            f'<svg width="26" height="10" style="vertical-align:middle"><line x1="1" y1="5" x2="25" y2="5" '
            f'stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/></svg>'
        )

    swatches = "".join(f'<span class="fp-key" style="background:{c}"></span>' for c in PALETTE[:5])
    items = [
        f"{swatches}<br>PCN areas; colours only tell neighbours apart",
        f'<span class="fp-key" style="background:{_OPEN_FILL}"></span>open practice (not in a PCN)',
        f"{line(_LINE, width=2.5)} CCG boundary",
    ]
    if markers:
        items[2:2] = [
            f"{circle(_radius(2_000))} {circle(_radius(10_000))} {circle(_radius(30_000))} "
            "practices of 2,000, 10,000, 30,000 patients"
        ]
        items.append(f"{line('#555555', width=1.2)} neighbours {line('#222222', '8 6', 2.5)} bridge")
    if current:
        items.append(f"{line(_CURRENT, '6 4', 2.5)} current PCN")
    if problems:
        items.append(
            f'<svg width="18" height="18" style="vertical-align:middle"><circle cx="9" cy="9" r="7" '
            f'fill="none" stroke="{_PROBLEM}" stroke-width="3"/></svg> practice with a problem'
        )
    notes = "".join(f"<li>{_e(a)}</li>" for a in attribution)
    return (
        "<details open><summary>Legend</summary>"
        f'<p class="fp-caveat">{_e(CAVEAT)}</p>' + "<br>".join(items) + "</details>"
        f'<details><summary>Data sources</summary><ul style="padding-left:16px;margin:2px 0">{notes}</ul>'
        "</details>"
    )


def overview_map(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    boundaries: gpd.GeoDataFrame | None = None,
    links: Mapping[str, str] | None = None,
    band: SizeBand | None = None,
    name: str = "Proposed plan",
    title: str | None = None,
    colours: Mapping[str, str] | None = None,
    tiles: str | None = None,
    assets: Assets | None = None,
    tolerance_m: float = 250.0,
    width: str = "100%",
    attribution: Sequence[str] = ATTRIBUTION,
) -> folium.Map:
    """Draw every PCN of ``practices`` at generalised resolution, e.g. for all of England.

    Parameters
    ----------
    practices, plan, graph, band, name, title, colours, tiles, assets, attribution
        As for :func:`plan_map`.
    boundaries
        CCG polygons: the background, and lines that link to each CCG's map.
    links
        CCG code to the address of its map.
    tolerance_m
        Simplification in metres; the default keeps the page small for all of England.
    width
        Width of the map on its page (CSS), e.g. ``"62%"`` beside a list.

    Returns
    -------
    folium.Map
        Layers "<name>" (PCN areas with a tooltip and a popup each) and "CCG boundaries"
        (each linking to its CCG's map).
    """
    _check(practices, graph)
    band = SizeBand() if band is None else band
    plan = plan.restrict(practices.index)
    colours = dict(colours) if colours is not None else colour_groups(graph, plan)
    groups = _groups(practices, plan, colours)
    links = links or {}
    names = graph.graph.get("ccg_names", {})
    m = _new_map(_view(practices, boundaries), tiles=tiles, assets=assets, title=title, width=width)
    ccg_codes = sorted(practices["ccg_code"].unique())
    shapes = None
    if boundaries is not None:
        shapes = _ccg_shapes(
            boundaries[boundaries.index.isin(ccg_codes)], within=None, tolerance_m=tolerance_m
        )
        if tiles is None:
            _draw_land(m, shapes, ccg_codes, decimals=4)
    areas, open_sites = _areas(practices, plan, graph.graph["cells"], tolerance_m=tolerance_m)
    geoms, props = [], []
    for pcn, group in groups.items():
        if pcn not in areas:
            continue
        ccgs = ", ".join(group.ccgs)
        open_link = "".join(
            f'<p><a href="{_e(links[c])}">Open the map of CCG {_e(c)}</a></p>'
            for c in group.ccgs
            if c in links
        )
        geoms.append(areas[pcn])
        props.append(
            {
                "tip": f"{_e(group.label)} ({_e(ccgs)}): {group.total:,} patients",
                "popup": (
                    f'<div class="fp-popup"><h4>{_e(group.label)}</h4><table>'
                    f"<tr><th>CCG</th><td>{_e(ccgs)}</td></tr>"
                    f"<tr><th>Practices</th><td>{len(group.members)}</td></tr>"
                    f"<tr><th>Total list size</th><td>{group.total:,}</td></tr>"
                    f"<tr><th>Band</th><td>{_e(_band_text(group.total, band))}</td></tr>"
                    f"<tr><th>Funded clinical director</th><td>{funded_cd_wte(group.total):.2f} WTE</td></tr>"
                    f"</table>{open_link}</div>"
                ),
                "style": {"color": _LINE, "weight": 0.6, "fillColor": group.colour, "fillOpacity": 0.65},
            }
        )
    for geom in open_sites.values():
        geoms.append(geom)
        props.append({"style": {"color": _LINE, "weight": 0.6, "fillColor": _OPEN_FILL, "fillOpacity": 0.65}})
    areas_layer = folium.GeoJson(
        _features(geoms, props, decimals=4), name=name, on_each_feature=_ON_EACH_FEATURE, className="fp-area"
    )
    areas_layer.add_to(m)
    layers = [areas_layer]
    if boundaries is not None and shapes is not None:
        names = {**boundaries["ccg_name"].astype(str).to_dict(), **names}
        layers.append(_draw_ccg_lines(m, shapes, (), names=names, links=links, decimals=4))
    _keep_order(m, layers)
    totals = [g.total for g in groups.values()]
    in_band = sum(band.contains(t) for t in totals)
    summary = (
        f"<details open><summary>{_e(title or name)}</summary><table>"
        f"<tr><th>CCGs</th><td>{len(ccg_codes):,}</td></tr>"
        f"<tr><th>Practices</th><td>{len(practices):,}</td></tr>"
        f"<tr><th>Patients</th><td>{int(practices['list_size'].sum()):,}</td></tr>"
        f"<tr><th>PCNs</th><td>{len(groups):,}</td></tr>"
        f"<tr><th>In band {band.low:,}-{band.high:,}</th><td>{in_band:,}</td></tr>"
        f"<tr><th>Funded clinical directors</th><td>{sum(funded_cd_wte(t) for t in totals):.1f} WTE</td></tr>"
        "</table><p>Click a CCG's boundary or a PCN to open its map.</p></details>"
    )
    _Html(summary, position="bottomleft", css_class="fp-panel fp-summary").add_to(m)
    _Html(
        _legend_html(current=False, problems=False, markers=False, attribution=attribution),
        position="bottomright",
        css_class="fp-panel fp-legend",
    ).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


# --------------------------------------------------------------------------- printable pages


_PAGE_CSS = """
body { font: 11pt/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px auto; max-width: 180mm;
  color: #111; }
h1 { font-size: 16pt; margin: 0 0 4px; } h2 { font-size: 12pt; margin: 10px 0 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #bbb; padding: 3px 6px; text-align: left; }
td.num, th.num { text-align: right; }
tfoot td { font-weight: 700; border-top: 2px solid #333; }
svg.area { width: 100%; height: auto; border: 1px solid #999; background: #dbe6ee; }
.caveat { font-style: italic; }
.small { font-size: 8.5pt; color: #444; }
.blank { display: inline-block; min-width: 90mm; border-bottom: 1px solid #333; }
section.pcn { break-after: page; padding-top: 8px; }
@page { size: A4; margin: 14mm; }
@media print {
  .toc { display: none; }
  body:has(section.pcn:target) section.pcn:not(:target) { display: none; }
}
"""


def _anchors(pcns: Iterable[str]) -> dict[str, str]:
    """Return PCN id to a unique HTML id built from it."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for pcn in pcns:
        base = "pcn-" + (_LABEL_TAIL.sub("-", str(pcn)).strip("-") or "x")
        anchor, n = base, 1
        while anchor in used:
            n += 1
            anchor = f"{base}-{n}"
        used.add(anchor)
        out[pcn] = anchor
    return out


def _svg_path(geom: shapely.Geometry, x0: float, y1: float) -> str:
    """Return SVG path data of a (multi)polygon, y flipped, in whole metres from (x0, y1)."""
    parts = []
    for polygon in getattr(geom, "geoms", [geom]):
        if polygon.geom_type != "Polygon":
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)[:-1]
            pts = " ".join(f"{x - x0:.0f} {y1 - y:.0f}" for x, y in xy)
            parts.append(f"M{pts}Z")
    return "".join(parts)


def _svg(
    group: _Group,
    areas: Mapping[str, shapely.Geometry],
    practices: gpd.GeoDataFrame,
    shapes: gpd.GeoSeries | None,
    *,
    aspect: float = 1.5,
) -> str:
    """Return an SVG map of ``group``'s area, its neighbours, CCG lines and practices."""
    own = areas.get(group.pcn)
    members = practices.loc[list(group.members)]
    x0, y0, x1, y1 = (own if own is not None else shapely.MultiPoint(list(members.geometry))).bounds
    pad = max(x1 - x0, y1 - y0, 1_000) * 0.06
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    grow_x = max((y1 - y0) * aspect - (x1 - x0), 0) / 2
    grow_y = max((x1 - x0) / aspect - (y1 - y0), 0) / 2
    x0, y0, x1, y1 = x0 - grow_x, y0 - grow_y, x1 + grow_x, y1 + grow_y
    view = shapely.box(x0, y0, x1, y1)
    width, height = x1 - x0, y1 - y0
    fixed = 'vector-effect="non-scaling-stroke"'
    out = [
        f'<svg class="area" viewBox="0 0 {width:.0f} {height:.0f}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" aria-label="Map of {_e(group.label)}">'
    ]
    near = shapes[shapes.intersects(view)] if shapes is not None else gpd.GeoSeries([], crs=CRS)
    for geom in near:
        out.append(f'<path d="{_svg_path(shapely.intersection(geom, view), x0, y1)}" fill="{_LAND}"/>')
    for pcn, geom in areas.items():
        if pcn != group.pcn and geom.intersects(view):
            out.append(
                f'<path d="{_svg_path(shapely.intersection(geom, view), x0, y1)}" fill="#ececec" '
                f'stroke="#8a8a8a" stroke-width="0.8" {fixed}/>'
            )
    if own is not None:
        out.append(
            f'<path d="{_svg_path(own, x0, y1)}" fill="{group.colour}" fill-opacity="0.85" '
            f'stroke="#111" stroke-width="1.6" {fixed}/>'
        )
    for geom in near:
        lines = shapely.intersection(geom.boundary, view)
        for line in getattr(lines, "geoms", [lines]):
            if line.geom_type == "LineString" and not line.is_empty:
                pts = " ".join(f"{x - x0:.0f} {y1 - y:.0f}" for x, y in line.coords)
                out.append(f'<path d="M{pts}" fill="none" stroke="{_LINE}" stroke-width="2" {fixed}/>')
    r, font = width / 160, width / 70
    others = practices[practices.geometry.within(view) & ~practices.index.isin(group.members)]
    for point in others.geometry:
        out.append(
            f'<circle cx="{point.x - x0:.0f}" cy="{y1 - point.y:.0f}" r="{r * 0.6:.0f}" '
            f'fill="#fff" stroke="#666" stroke-width="0.8" {fixed}/>'
        )
    sites: dict[tuple[float, float], list[str]] = {}
    for code, point in members.geometry.items():
        sites.setdefault((point.x, point.y), []).append(code)
    for (x, y), codes in sites.items():
        cx, cy = x - x0, y1 - y
        out.append(
            f'<circle cx="{cx:.0f}" cy="{cy:.0f}" r="{r:.0f}" fill="#111" stroke="#fff" '
            f'stroke-width="1" {fixed}/>'
            f'<text x="{cx + r * 1.4:.0f}" y="{cy + font * 0.35:.0f}" font-size="{font:.0f}" '
            f'paint-order="stroke" stroke="#fff" stroke-width="3" {fixed}>{_e(", ".join(codes))}</text>'
        )
    step = 10 ** math.floor(math.log10(width / 5))
    bar = max(m * step for m in (1, 2, 5) if m * step <= width / 5)
    out.append(
        f'<path d="M{width * 0.03:.0f} {height * 0.95:.0f}h{bar:.0f}" stroke="#111" '
        f'stroke-width="3" {fixed}/>'
        f'<text x="{width * 0.03:.0f}" y="{height * 0.95 - font * 0.6:.0f}" font-size="{font:.0f}" '
        f'paint-order="stroke" stroke="#fff" stroke-width="3" {fixed}>{bar / 1000:g} km</text></svg>'
    )
    return "".join(out)


def pcn_pages(
    practices: gpd.GeoDataFrame,
    plan: Plan,
    *,
    graph: nx.Graph,
    boundaries: gpd.GeoDataFrame | None = None,
    band: SizeBand | None = None,
    title: str = "PCN pages",
    colours: Mapping[str, str] | None = None,
    back: str | None = None,
    tolerance_m: float = 20.0,
    attribution: Sequence[str] = ATTRIBUTION,
) -> str:
    """Return an HTML document with one printable page per PCN of ``plan``.

    Each page lists the member practices with their ODS codes, postcodes and list sizes,
    the total, whether it is in band, the funded clinical-director time and a map of the
    area as inline SVG (so it prints with no script), with blanks for the named clinical
    director and nominated payee: what a registration pack asks for. Printing the document
    prints every PCN; opening it at ``#pcn-<id>`` and printing prints that PCN alone.

    Parameters
    ----------
    practices, plan, graph, boundaries, band, colours, attribution
        As for :func:`plan_map`.
    title
        Heading of the document.
    back
        Address of the map to link back to.
    tolerance_m
        Simplification of the drawn areas in metres.

    Returns
    -------
    str
        The HTML document.
    """
    _check(practices, graph)
    band = SizeBand() if band is None else band
    plan = plan.restrict(practices.index)
    colours = dict(colours) if colours is not None else colour_groups(graph, plan)
    groups = _groups(practices, plan, colours)
    areas, _ = _areas(practices, plan, graph.graph["cells"], tolerance_m=tolerance_m)
    shapes = None
    if boundaries is not None:
        within = shapely.box(*_bounds(practices, 20_000))
        shapes = _ccg_shapes(boundaries, within=within, tolerance_m=tolerance_m)
    anchors = _anchors(groups)
    names = graph.graph.get("ccg_names", {})
    date = ""
    if "data_date" in practices.columns and practices["data_date"].astype(str).str.strip().any():
        date = f" on {_e(practices['data_date'].astype(str).max())}"
    toc = "".join(
        f'<li><a href="#{anchors[p]}">{_e(g.label)}</a>: '
        f"{len(g.members)} practices, {g.total:,} patients</li>"
        for p, g in groups.items()
    )
    back_link = f'<p><a href="{_e(back)}">Back to the map</a></p>' if back else ""
    sources = "".join(f"<li>{_e(a)}</li>" for a in attribution)
    out = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_PAGE_CSS}</style></head><body>"
        f'<div class="toc"><h1>{_e(title)}</h1><p>One page per PCN for its registration pack. Print this '
        "document for all of them; follow a link and print for that PCN alone.</p>"
        f"<ol>{toc}</ol>{back_link}</div>"
    ]
    for pcn, group in groups.items():
        rows = "".join(
            f"<tr><td>{_e(practices.at[c, 'practice_name'])}</td><td>{_e(c)}</td>"
            f"<td>{_e(practices.at[c, 'postcode'])}</td>"
            f'<td class="num">{int(practices.at[c, "list_size"]):,}</td></tr>'
            for c in group.members
        )
        ccgs = ", ".join(f"{names.get(c, c)} ({c})" for c in group.ccgs)
        shared = "" if pcn in areas else "<p>Its practices share buildings with a larger PCN's practices.</p>"
        out.append(
            f'<section class="pcn" id="{anchors[pcn]}"><h1>{_e(group.label)}</h1>'
            f"<p>Primary Care Network in {_e(ccgs)}; registered patients{date}.</p>"
            f"{_svg(group, areas, practices, shapes)}{shared}"
            f'<p class="caveat small">{_e(CAVEAT)} Member practices are black dots labelled with their '
            "ODS codes; other practices are white.</p>"
            "<h2>Member practices</h2><table><thead><tr><th>Practice</th><th>ODS code</th><th>Postcode</th>"
            f'<th class="num">List size</th></tr></thead><tbody>{rows}</tbody>'
            f'<tfoot><tr><td colspan="3">Total ({len(group.members)} practices)</td>'
            f'<td class="num">{group.total:,}</td></tr></tfoot></table>'
            f"<p>{_e(_band_text(group.total, band)).capitalize()}. Funded clinical-director time: "
            f"{funded_cd_wte(group.total):.2f} WTE (0.25 WTE per 50,000 patients). Member practices "
            f"lie on average (weighted by list size) {group.mean_km:.1f} km from the PCN's "
            "list-weighted centre.</p>"
            '<h2>To complete</h2><p>Named clinical director: <span class="blank"></span></p>'
            '<p>Nominated payee: <span class="blank"></span></p>'
            '<p>Network agreement signed by every member: <span class="blank"></span></p>'
            f'<ul class="small">{sources}</ul></section>'
        )
    out.append("</body></html>\n")
    return "".join(out)


# --------------------------------------------------------------------------- writing


def _write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, readable by all like any web page."""
    with atomic_write(path) as fh:
        fh.write(text)
    path.chmod(0o644)
    return path


def _index_html(
    practices: gpd.GeoDataFrame,
    wanted: gpd.GeoDataFrame,
    plan: Plan,
    band: SizeBand,
    names: Mapping[str, str],
    maps: Mapping[str, tuple[str, str]],
) -> str:
    """Return the list of CCG maps; PCN totals count members in every CCG."""
    sizes = practices["list_size"]
    totals = {pcn: int(sizes.loc[sorted(codes)].sum()) for pcn, codes in plan.groups.items()}
    rows = []
    for ccg, frame in wanted.groupby("ccg_code", sort=True):
        own = {p for c in frame.index if (p := plan.assignment.get(c)) is not None}
        link, pack = maps.get(ccg, ("", ""))
        rows.append(
            f'<tr><td>{_e(ccg)}</td><td><a href="{_e(link)}">{_e(names.get(ccg, ccg))}</a></td>'
            f'<td class="fp-num">{len(frame):,}</td><td class="fp-num">{int(frame["list_size"].sum()):,}</td>'
            f'<td class="fp-num">{len(own):,}</td>'
            f'<td class="fp-num">{sum(band.contains(totals[p]) for p in own):,}</td>'
            f'<td><a href="{_e(pack)}">pages</a></td></tr>'
        )
    return (
        '<div class="fp-index"><h1>PCN maps by CCG</h1>'
        f"<p>{len(maps):,} CCGs. Each map opens offline; click a practice or an area for details. "
        f"{_e(CAVEAT)}</p>"
        f'<table><thead><tr><th>CCG</th><th>Name</th><th class="fp-num">Practices</th>'
        f'<th class="fp-num">Patients</th><th class="fp-num">PCNs</th>'
        '<th class="fp-num">In band</th><th>Print</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


_INDEX_CSS = """
.fp-index { position: absolute; top: 0; right: 0; width: 38%; height: 100%; overflow: auto;
  box-sizing: border-box; padding: 10px 14px;
  font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; }
.fp-index h1 { font-size: 18px; margin: 4px 0; }
.fp-index table { border-collapse: collapse; width: 100%; }
.fp-index th, .fp-index td { border-bottom: 1px solid #ddd; padding: 2px 5px; text-align: left; }
.fp-index .fp-num { text-align: right; }
"""


def write_maps(
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    boundaries: gpd.GeoDataFrame | None,
    current: Plan | None = None,
    problems: Mapping[str, str] | None = None,
    ccgs: Sequence[str] | None = None,
    band: SizeBand | None = None,
    name: str = "Proposed plan",
    tiles: str | None = None,
    assets: Assets = "inline",
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write one map and one printable pack per CCG, and an index page, into ``out_dir``.

    Files (each written atomically): ``<CCG>.html`` (the map of :func:`plan_map`),
    ``<CCG>-pcns.html`` (the pages of :func:`pcn_pages`), ``index.html`` (every CCG listed
    and linked, beside :func:`overview_map`), and with ``assets="beside"`` Leaflet in
    ``assets/``. A CCG's map and pages hold every PCN with a member in the CCG, whole,
    so a PCN that crosses a CCG boundary shows its true total.

    Parameters
    ----------
    practices
        Every practice (EPSG:27700): PCNs that cross a CCG boundary need their members
        of other CCGs.
    graph
        The adjacency graph of ``practices``.
    plan
        The plan to draw.
    out_dir
        The folder to write, created if needed (the command line's default is ``maps/``).
    boundaries
        CCG polygons for the background and boundary lines, or ``None``.
    current
        The current PCNs, drawn as a switchable layer.
    problems
        Practice code to the problem to show (see :func:`plan_map`).
    ccgs
        Only these CCGs (default all of ``practices``).
    band, name, tiles, assets
        As for :func:`plan_map`.
    progress
        Called with (done, total, CCG code) after each CCG.

    Returns
    -------
    list of pathlib.Path
        The files written, the index last.

    Raises
    ------
    DataError
        If a CCG code names no practice, or the graph was built from other practices.
    """
    _check(practices, graph)
    if assets not in _ASSETS:
        msg = f"assets={assets!r} is not an option: give 'inline' or 'beside'"
        raise ValueError(msg)
    out = Path(out_dir)
    band = SizeBand() if band is None else band
    wanted = select_ccgs(practices, ccgs)
    full = plan.restrict(practices.index)
    groups = full.groups

    def with_partners(codes: Iterable[str]) -> gpd.GeoDataFrame:
        keep = set(codes)
        pcns = {p for code in keep if (p := full.assignment.get(code)) is not None}
        keep.update(c for pcn in pcns for c in groups[pcn])
        return practices.loc[practices.index.isin(keep)]

    colours = colour_groups(graph, full)
    names = graph.graph.get("ccg_names", {})
    written: list[Path] = write_assets(out) if assets == "beside" else []
    maps: dict[str, tuple[str, str]] = {}
    codes = sorted(wanted["ccg_code"].unique())
    for i, ccg in enumerate(codes, 1):
        shown = with_partners(wanted.index[wanted["ccg_code"] == ccg])
        ccg_plan = full.restrict(shown.index)
        title = f"{names.get(ccg, ccg)} ({ccg}): {name}"
        map_file, pack_file = f"{ccg}.html", f"{ccg}-pcns.html"
        anchors = _anchors(ccg_plan.groups)
        m = plan_map(
            shown,
            ccg_plan,
            graph=graph,
            boundaries=boundaries,
            current=current,
            problems=problems,
            band=band,
            name=name,
            title=title,
            colours=colours,
            page_links={p: f"{pack_file}#{a}" for p, a in anchors.items()},
            home="index.html",
            tiles=tiles,
            assets=assets,
        )
        pages = pcn_pages(
            shown,
            ccg_plan,
            graph=graph,
            boundaries=boundaries,
            band=band,
            title=f"{title}: PCN pages",
            colours=colours,
            back=map_file,
        )
        written += [_write(out / map_file, m.get_root().render()), _write(out / pack_file, pages)]
        maps[ccg] = (map_file, pack_file)
        logger.info(
            "wrote %s (%.2f MB) and %s", out / map_file, (out / map_file).stat().st_size / 1e6, pack_file
        )
        if progress is not None:
            progress(i, len(codes), ccg)
    shown = with_partners(wanted.index)
    overview = overview_map(
        shown,
        full.restrict(shown.index),
        graph=graph,
        boundaries=boundaries,
        links={c: files[0] for c, files in maps.items()},
        band=band,
        name=name,
        title=f"PCN maps: {name}",
        colours=colours,
        tiles=tiles,
        assets=assets,
        width="62%",
    )
    root = _root(overview)
    root.header.add_child(Element(f"<style>{_INDEX_CSS}</style>"), name="footprint_index_css")
    root.html.add_child(Element(_index_html(practices, wanted, full, band, names, maps)))
    index = _write(out / "index.html", root.render())
    written.append(index)
    logger.info("wrote %d CCG maps and %s", len(maps), index)
    return written
