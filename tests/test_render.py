from __future__ import annotations

import html
import itertools
import re
from pathlib import Path

import folium
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from footprint.cli import main
from footprint.config import Rules, SizeBand
from footprint.errors import DataError
from footprint.evaluate import group_problems, group_table
from footprint.graph import graph_from_practices
from footprint.load import DATA_DIR, read_boundaries, read_practices, select_ccgs
from footprint.places import display_name, read_places
from footprint.plan import Plan, plan_from_practices, write_plan
from footprint.render import (
    ATTRIBUTION,
    CAVEAT,
    PALETTE,
    Links,
    MapOptions,
    Overlay,
    OverlayLine,
    colour_groups,
    overview_map,
    pcn_pages,
    plan_map,
    write_maps,
)
from tests.conftest import DATA, grid_rows, write_practices

#: Script, style and tile addresses that would need the network.
WEB_ASSET = re.compile(
    r"""<script[^>]*\ssrc\s*=\s*["']?(https?:)?//"""
    r"""|<link[^>]*\shref\s*=\s*["']?(https?:)?//"""
    r"""|url\(\s*["']?(https?:)?//"""
    r"""|@import"""
    r"""|tileLayer\("""
    r"""|\{s\}\.|\{z\}/\{x\}/\{y\}""",
    re.IGNORECASE,
)


def layer(m: folium.Map, name: str) -> folium.GeoJson:
    """Return the GeoJson layer of ``m`` called ``name``."""
    found = [c for c in m._children.values() if isinstance(c, folium.GeoJson) and c.layer_name == name]
    assert len(found) == 1, [getattr(c, "layer_name", None) for c in m._children.values()]
    return found[0]


def features(m: folium.Map, name: str) -> list[dict]:
    return layer(m, name).data["features"]


def text(fragment: str) -> str:
    """Return the visible text of an HTML fragment, tags dropped and spaces squeezed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip())


@pytest.fixture(scope="module")
def slice_maps(slice_practices, slice_graph, slice_boundaries, tmp_path_factory) -> tuple[Path, list[Path]]:
    """The maps of the slice's current PCNs, written as the command line writes them."""
    plan = plan_from_practices(slice_practices)
    out = tmp_path_factory.mktemp("maps")
    groups = group_table(plan, slice_practices)
    paths = write_maps(
        slice_practices,
        slice_graph,
        plan,
        out,
        groups=groups,
        problems=group_problems(groups),
        options=MapOptions(boundaries=slice_boundaries, name="Current PCNs"),
    )
    return out, paths


@pytest.fixture(scope="module")
def map_99f(slice_practices, slice_graph, slice_boundaries) -> folium.Map:
    practices = select_ccgs(slice_practices, ["99F"])
    plan = plan_from_practices(practices)
    groups = group_table(plan, practices)
    return plan_map(
        practices,
        plan,
        graph=slice_graph,
        groups=groups,
        problems=group_problems(groups),
        options=MapOptions(boundaries=slice_boundaries, current=groups),
    )


def draw(practices, plan, graph, **kwds) -> folium.Map:
    """Draw ``plan`` with its group table, as a caller does."""
    return plan_map(practices, plan, graph=graph, groups=group_table(plan, practices), **kwds)


# --------------------------------------------------------------------------- colours


def assert_neighbours_differ(graph: nx.Graph, plan: Plan, colours: dict[str, str]) -> int:
    pairs = 0
    for a, b in graph.edges:
        pa, pb = plan.assignment.get(a), plan.assignment.get(b)
        if pa is not None and pb is not None and pa != pb:
            assert colours[pa] != colours[pb], (a, b, pa, pb)
            pairs += 1
    return pairs


def test_neighbouring_groups_never_share_a_colour_on_the_slice(slice_practices, slice_graph):
    plan = plan_from_practices(slice_practices)
    colours = colour_groups(slice_graph, plan)
    assert set(colours) == set(plan.groups)
    assert assert_neighbours_differ(slice_graph, plan, colours) > 10
    assert set(colours.values()) <= set(PALETTE)


def test_neighbouring_areas_on_the_drawn_map_differ(slice_practices, slice_graph):
    m = draw(slice_practices, plan_from_practices(slice_practices), slice_graph)
    areas = [f for f in features(m, "Proposed plan") if f["properties"]["pcn"] is not None]
    assert len(areas) == 10
    touching = 0
    for f, g in itertools.combinations(areas, 2):
        border = shapely.intersection(shape(f["geometry"]), shape(g["geometry"])).length
        if border > 1e-4:  # degrees, about 10 m: they share a border, not just a corner
            touching += 1
            assert f["properties"]["style"]["fillColor"] != g["properties"]["style"]["fillColor"]
    assert touching >= 10


def test_grid_colours(grid3, build):
    """Plan on the 3 x 3 grid (conftest)::

        p1 p1 p2
        p3 p4 p2
        p3 p4 p4

    p1 and p4 touch every other group; p2 and p3 do not touch.
    """
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    layout = {"A1": "p1", "A2": "p1", "A3": "p2", "B1": "p3", "B2": "p4", "B3": "p2", "C1": "p3"}
    plan = Plan({**layout, "C2": "p4", "C3": "p4"})
    colours = colour_groups(graph, plan)
    assert_neighbours_differ(graph, plan, colours)
    assert len({colours["p1"], colours["p4"], colours["p2"]}) == 3
    assert colours["p2"] == colours["p3"]  # DSatur needs only three colours here


def test_colours_never_run_out():
    graph = nx.complete_graph([f"X{i}" for i in range(15)])
    plan = Plan({code: code.lower() for code in graph})
    colours = colour_groups(graph, plan, palette=PALETTE[:3])
    assert len(set(colours.values())) == 15


# --------------------------------------------------------------------------- popups


def test_practice_popup_holds_the_right_figures(map_99f, slice_practices, slice_graph):
    props = {f["properties"]["code"]: f["properties"] for f in features(map_99f, "Practices")}
    assert set(props) == set(select_ccgs(slice_practices, ["99F"]).index)
    popup = text(props["F81001"]["popup"])
    assert popup.startswith("Dr Khan & Partners ODS code F81001 Postcode SS7 4EA List size 12,699")
    assert "PCN Benfleet PCN (U27924)" in popup
    assert "PCN total 47,700 (in band 30,000-50,000)" in popup
    # distance to the list-weighted centre of Benfleet PCN
    members = slice_practices[slice_practices["pcn_code"] == "U27924"]
    w = members["list_size"].to_numpy()
    cx, cy = w @ members.geometry.x.to_numpy() / w.sum(), w @ members.geometry.y.to_numpy() / w.sum()
    point = slice_practices.geometry["F81001"]
    assert f"To PCN centre {np.hypot(point.x - cx, point.y - cy) / 1000:.1f} km" in popup
    for other in slice_graph["F81001"]:
        assert f"({other})" in popup
    assert "F81142) (same building)" in popup
    assert "Problem" not in popup


def test_popups_of_out_of_band_and_open_practices(map_99f):
    props = {f["properties"]["code"]: f["properties"] for f in features(map_99f, "Practices")}
    # Rayleigh and District PCN (U30335): 6 practices, 55,949 patients
    rayleigh = [c for c, p in props.items() if "(U30335)" in p["popup"]]
    assert len(rayleigh) == 6
    popup = text(props[rayleigh[0]]["popup"])
    assert "PCN total 55,949 (out of band: 5,949 above 30,000-50,000)" in popup
    assert "Problem: its PCN U30335 has 55,949 patients, out of band: 5,949 above 30,000-50,000" in popup
    assert "PCN none: open (not in a PCN)" in text(props["F81700"]["popup"])
    rings = features(map_99f, "Practices with a problem (6)")
    assert len(rings) == 6


def test_group_popup_holds_members_total_band_and_cd_time(map_99f, slice_practices):
    areas = {f["properties"]["pcn"]: f["properties"] for f in features(map_99f, "Proposed plan")}
    popup = text(areas["U27924"]["popup"])
    assert popup.startswith("Benfleet PCN (U27924) Practices 7 Total list size 47,700")
    assert "Band in band 30,000-50,000" in popup
    assert "Funded clinical director 0.24 WTE (0.25 WTE per 50,000 patients)" in popup
    for code, row in slice_practices[slice_practices["pcn_code"] == "U27924"].iterrows():
        assert f"{display_name(row['practice_name'])} {code} {row['list_size']:,}" in popup
    rayleigh = text(areas["U30335"]["popup"])
    assert "Total list size 55,949 Band out of band: 5,949 above 30,000-50,000" in rayleigh
    assert "Funded clinical director 0.28 WTE" in rayleigh
    assert areas[None]["tip"] == "Rahman Practice: open (not in a PCN)"


def test_map_rings_the_members_of_groups_out_of_the_band_of_the_table(
    slice_practices, slice_graph, slice_boundaries
):
    plan = plan_from_practices(slice_practices)
    groups = group_table(plan, slice_practices, rules=Rules(band=SizeBand(30_000, 60_000)))
    problems = group_problems(groups)
    sizes = slice_practices.groupby("pcn_code")["list_size"].sum()
    out = {c for c, pcn in plan.assignment.items() if pcn is not None and sizes[pcn] > 60_000}
    assert set(problems) == out and len(out) == 14  # Halton's two PCNs of 67,076 and 68,107
    m = plan_map(
        slice_practices,
        plan,
        graph=slice_graph,
        groups=groups,
        problems=problems,
        options=MapOptions(boundaries=slice_boundaries),
    )
    assert len(features(m, "Practices with a problem (14)")) == 14
    props = {f["properties"]["code"]: f["properties"] for f in features(m, "Practices")}
    for code in out:
        popup = text(props[code]["popup"])
        assert "Problem: its PCN" in popup and popup.split("Problem: ")[1].split(" Link to this practice")[
            0
        ].endswith("above 30,000-60,000")
    rayleigh = next(c for c, p in props.items() if "(U30335)" in p["popup"])
    assert "PCN total 55,949 (in band 30,000-60,000)" in text(props[rayleigh]["popup"])


@pytest.fixture
def big_grid(tmp_path, build):
    """A 3 x 3 grid whose corner A1 has 60,000 patients and, in a proposed plan, stands alone::

        A1 | A2 A3        60k | 10k 10k
        ---+                  +
        B1   B2 B3        10k   20k 10k
        C1   C2 C3        10k   10k 10k

    A1 is exempt (a practice over the band standing alone), the rest (90,000) above the band.
    """
    rows = grid_rows([[60_000, 10_000, 10_000], [10_000, 20_000, 10_000], [10_000, 10_000, 10_000]])
    rows[1]["practice_name"] = "<script>alert(1)</script>"  # A2: a name that must be escaped
    practices = read_practices(write_practices(tmp_path / "big.csv", rows))
    plan = Plan({c: "alone" if c == "A1" else "rest" for c in practices.index})
    return practices, build(practices), plan


def test_exempt_groups_are_shown_as_exempt_and_not_ringed(big_grid):
    practices, graph, plan = big_grid
    groups = group_table(plan, practices)
    assert groups.at["alone", "status"] == "exempt_large"
    problems = group_problems(groups)
    assert set(problems) == set(practices.index) - {"A1"}
    m = plan_map(practices, plan, graph=graph, groups=groups, problems=problems)
    areas = {f["properties"]["pcn"]: f["properties"] for f in features(m, "Proposed plan")}
    assert "Band exempt (a practice over 50,000 standing alone as its own PCN)" in text(
        areas["alone"]["popup"]
    )
    props = {f["properties"]["code"]: f["properties"] for f in features(m, "Practices")}
    assert "Problem" not in props["A1"]["popup"] and "PCN total 60,000 (exempt (" in text(
        props["A1"]["popup"]
    )
    assert len(features(m, "Practices with a problem (8)")) == 8
    panels = [c.content for c in m._children.values() if hasattr(c, "content")]
    summary = text(next(p for p in panels if "Open practices" in p))
    assert "PCNs 2 In band 0 Exempt 1 Below / above band 0 / 1" in summary
    pages = pcn_pages(practices, plan, graph=graph, groups=groups)
    alone = pages[pages.index('id="pcn-alone"') :].split("</section>")[0]
    assert (
        "Exempt (a practice over 50,000 standing alone as its own PCN); 10,000 above 30,000-50,000."
        in text(alone)
    )


def test_templates_escape_what_they_draw(big_grid, tmp_path):
    practices, graph, plan = big_grid
    groups = group_table(plan, practices)
    m = plan_map(practices, plan, graph=graph, groups=groups, problems={"A2": "<b>bold</b> & more"})
    props = {f["properties"]["code"]: f["properties"] for f in features(m, "Practices")}
    assert '<h4 tabindex="-1">&lt;Script&gt;Alert(1)&lt;/Script&gt;</h4>' in props["A2"]["popup"]
    assert "Problem: &lt;b&gt;bold&lt;/b&gt; &amp; more" in props["A2"]["popup"]
    assert props["A2"]["tip"].startswith("&lt;Script&gt;Alert(1)&lt;/Script&gt; (A2)")
    page = m.get_root().render()
    assert "<script>alert(1)" not in page and "<b>bold" not in page
    pages = pcn_pages(practices, plan, graph=graph, groups=groups)
    assert "<td>&lt;Script&gt;Alert(1)&lt;/Script&gt; <span" in pages and "<script>alert" not in pages.lower()
    write_maps(practices, graph, plan, tmp_path, groups=groups)
    for path in tmp_path.glob("*.html"):
        assert "<script>alert" not in path.read_text().lower(), path.name


def test_a_group_table_of_another_plan_is_refused(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    plan = Plan(dict.fromkeys(practices.index, "all"))
    other = group_table(Plan(dict.fromkeys(practices.index, "other")), practices)
    with pytest.raises(DataError, match=r"the group table lacks PCN\(s\) all of the plan drawn: make it"):
        plan_map(practices, plan, graph=graph, groups=other)
    with pytest.raises(DataError, match=r"the group table lacks column\(s\) verdict"):
        plan_map(practices, plan, graph=graph, groups=group_table(plan, practices).drop(columns="verdict"))


# --------------------------------------------------------------------------- layers and pages


def test_layers_and_marker_sizes(map_99f, slice_practices):
    names = [
        c.layer_name
        for c in map_99f._children.values()
        if isinstance(c, folium.GeoJson) and not c.layer_name.startswith("Out of band")
    ]
    assert names == [
        "Background",
        "Proposed plan",
        "CCG boundaries",
        "Current PCNs",
        "Neighbour links (bridges dashed)",
        "Practices",
        "Practices with a problem (6)",
    ]
    hatched = [c for c in map_99f._children.values() if str(getattr(c, "layer_name", ""))[:6] == "Out of"]
    assert [c.layer_name for c in hatched] == ["Out of band, hatched (1)"]  # Rayleigh and District
    edges = features(map_99f, "Neighbour links (bridges dashed)")
    bridges = [f for f in edges if f["properties"]["tip"].startswith("Bridge")]
    assert len(bridges) == 1 and bridges[0]["properties"]["style"]["dashArray"]
    assert "Third Avenue Health Centre" in bridges[0]["properties"]["tip"]  # Canvey Island
    radius = {
        f["properties"]["code"]: f["properties"]["style"]["radius"] for f in features(map_99f, "Practices")
    }
    sizes = select_ccgs(slice_practices, ["99F"])["list_size"]
    assert radius[sizes.idxmax()] == max(radius.values()) and radius[sizes.idxmin()] == min(radius.values())


def test_neighbour_links_draw_the_patients_graphs_edges(slice_practices, slice_graph):
    """A graph built with ``--neighbours patients`` has its own kind of edge: drawn, with its rule."""
    practices = select_ccgs(slice_practices, ["99F"])
    graph = slice_graph.subgraph(practices.index).copy()
    rook = [(a, b) for a, b, d in graph.edges(data=True) if d["type"] == "rook"]
    for a, b in rook[:3]:
        graph.edges[a, b].update(type="patients", patients=1_000, share=0.5)
    plan = plan_from_practices(practices)
    tips = {
        f["properties"]["tip"]: f
        for f in features(draw(practices, plan, graph), "Neighbour links (bridges dashed)")
    }
    drawn = tips["Neighbours: their patients live in the same or touching LSOAs"]
    assert len(drawn["geometry"]["coordinates"]) == 3
    assert len(tips["Neighbours: their cells share a border"]["geometry"]["coordinates"]) == len(rook) - 3


def attribution_bullets() -> list[str]:
    block = (DATA_DIR / "ATTRIBUTION.md").read_text().split("Attribution, to be kept with any output:")[1]
    return [" ".join(bullet.split()) for bullet in re.split(r"^- ", block, flags=re.MULTILINE)[1:]]


def test_map_says_cells_not_catchments_and_credits_the_data(map_99f, slice_maps):
    assert list(ATTRIBUTION) == attribution_bullets()
    panels = [c.content for c in map_99f._children.values() if hasattr(c, "content")]
    legend = next(p for p in panels if "Legend" in p)
    assert CAVEAT in legend
    for sentence in ATTRIBUTION:
        assert sentence in legend
    out, _ = slice_maps
    pages = " ".join((out / "99F-pcns.html").read_text().split())
    for sentence in ATTRIBUTION:
        assert sentence in pages


def test_written_files(slice_maps, slice_practices):
    out, paths = slice_maps
    assert [p.name for p in paths] == [
        "01F.html",
        "01F-pcns.html",
        "99F.html",
        "99F-pcns.html",
        "99G.html",
        "99G-pcns.html",
        "practices-index.js",
        "index.html",
    ]
    index = (out / "index.html").read_text()
    for ccg in ("01F", "99F", "99G"):
        assert f'href="{ccg}.html"' in index and f'href="{ccg}-pcns.html"' in index
    assert "NHS Castle Point and Rochford CCG" in index and CAVEAT in index
    # CCGs listed under their ICB (2022: the STP), each ICB headed by its totals, in order
    heads = re.findall(r'<tr class="fp-icb"><th[^>]*>([^<]*)</th>', index)
    essex = slice_practices[slice_practices["stp_code"] == "QH8"]
    assert heads == [  # by ICB code
        f"Mid and South Essex (QH8): 2 CCGs, {len(essex)} practices, {essex['list_size'].sum():,} patients",
        "Cheshire and Merseyside (QYG): 1 CCG, 14 practices, "
        f"{slice_practices.loc[slice_practices['stp_code'] == 'QYG', 'list_size'].sum():,} patients",
    ]
    assert index.index("(QH8)") < index.index('href="99F.html"') < index.index('href="99G.html"')
    assert (out / "99F.html").stat().st_mode & 0o444 == 0o444
    pages = (out / "99F-pcns.html").read_text()
    # prints with no script: its one script only names the page after the PCN it is opened at
    assert pages.count("<script") == 1 and "document.title = shown" in pages
    assert pages.count('<article class="pcn"') == 4 and pages.count("<svg") == 4
    benfleet = pages[pages.index('id="pcn-U27924"') :].split("</section>")[0]
    for code, row in slice_practices[slice_practices["pcn_code"] == "U27924"].iterrows():
        assert f"<td>{code}</td>" in benfleet and f"{row['list_size']:,}" in benfleet
    assert "Total (7 practices)" in text(benfleet) and "47,700" in benfleet
    assert "0.24 WTE" in benfleet and CAVEAT in benfleet and "Clinical director" in benfleet
    assert "99F-pcns.html#pcn-U27924" in (out / "99F.html").read_text()


def test_no_web_address_for_scripts_styles_or_tiles(slice_maps):
    out, paths = slice_maps
    for path in paths:
        html = path.read_text()
        assert not WEB_ASSET.search(html), (path.name, WEB_ASSET.search(html))
        assert not re.search(r"cdn\.|cdnjs|jsdelivr|unpkg|bootstrapcdn", html)
    leaflet = (out / "99F.html").read_text()
    assert "Leaflet 1.9" in leaflet and ".leaflet-container" in leaflet  # script and style inlined


def test_assets_beside_the_pages(slice_practices, slice_graph, tmp_path):
    practices = select_ccgs(slice_practices, ["01F"])
    plan = plan_from_practices(practices)
    groups = group_table(plan, practices)
    paths = write_maps(
        practices, slice_graph, plan, tmp_path, groups=groups, options=MapOptions(assets="beside")
    )
    assert {p.name for p in paths} >= {"leaflet.js", "leaflet.css", "01F.html", "index.html"}
    html = (tmp_path / "01F.html").read_text()
    assert '<script src="assets/leaflet.js"></script>' in html and "Leaflet 1.9" not in html
    assert not WEB_ASSET.search(html)
    assert (tmp_path / "assets" / "leaflet.js").read_text().startswith("\n/* @preserve\n * Leaflet 1.9")


def test_largest_ccg_pages_are_within_their_budgets(tmp_path):
    """Kent and Medway (91Q, 194 practices) and the largest, North West London (W2U3Z, 354).

    Drawn as ``footprint map`` draws them: with place names and the network areas from where
    patients live (the printable pages of W2U3Z were 1.17 MB so).
    """
    from footprint.areas import network_areas

    practices = read_practices()
    assert practices["ccg_code"].value_counts().idxmax() == "W2U3Z"
    big = select_ccgs(practices, ["91Q", "W2U3Z"])
    assert big["ccg_code"].value_counts().to_dict() == {"W2U3Z": 354, "91Q": 194}
    boundaries = read_boundaries()
    graph = graph_from_practices(big, boundaries, cache_dir=tmp_path / "cache")
    plan = plan_from_practices(big)
    graph.graph["areas"] = network_areas(
        plan, big, boundaries=boundaries, cells=graph.graph["cells"], use_cache=False
    ).areas
    groups = group_table(plan, big)
    out = tmp_path / "maps"
    paths = write_maps(
        big,
        graph,
        plan,
        out,
        groups=groups,
        problems=group_problems(groups),
        options=MapOptions(boundaries=boundaries, places=read_places()),
    )
    assert "patients live" in (out / "W2U3Z-pcns.html").read_text()  # the pages draw the areas
    for path in paths:
        # the budgets: a CCG's map 3 MB, its printable pages 1 MB, the index 5 MB
        budget = (
            1_000_000 if path.name.endswith("-pcns.html") else 3_000_000 if path.name != "index.html" else 5e6
        )
        assert path.stat().st_size < budget, (path.name, path.stat().st_size)
    assert (out / "91Q.html").stat().st_size > 200_000


def test_printed_map_paths_are_relative_steps_that_add_up_to_the_shape():
    """A page's path: one absolute point, then steps; summed, they give each vertex within a unit."""
    from footprint.render.pages import _svg_path

    square = shapely.Polygon([(1_000, 2_000), (1_994, 2_000), (1_994, 2_996), (1_000, 2_996)])
    hole = shapely.Polygon(square.exterior, [[(1_200, 2_200), (1_300, 2_200), (1_300, 2_300)]])
    d = _svg_path(shapely.MultiPolygon([hole]), 1_000.0, 3_000.0, 10.0)
    rings = []
    for part in d.split("Z")[:-1]:
        head, _, steps = part[1:].partition("l")
        numbers = [int(n) for n in head.split()] + [int(n) for n in re.findall(r"-?\d+", steps)]
        rings.append(np.cumsum(np.array(numbers).reshape(-1, 2), axis=0))
    assert [len(r) for r in rings] == [4, 3]
    expected = shapely.get_coordinates(square.exterior)[:-1]
    got = np.column_stack([rings[0][:, 0] * 10 + 1_000, 3_000 - rings[0][:, 1] * 10])
    assert np.abs(got - expected).max() <= 5  # half a unit
    assert rings[1][0].tolist() == [20, 80]


def test_overview_map(slice_practices, slice_graph, slice_boundaries):
    plan = plan_from_practices(slice_practices)
    m = overview_map(
        slice_practices,
        plan,
        graph=slice_graph,
        groups=group_table(plan, slice_practices),
        options=MapOptions(boundaries=slice_boundaries),
        links=Links(ccg_maps={"99F": "99F.html"}),
    )
    areas = features(m, "Proposed plan")
    assert len(areas) == len(plan.groups) + 1  # and the open practice's cell
    lines = {f["properties"]["tip"]: f["properties"] for f in features(m, "CCG boundaries")}
    assert 'href="99F.html"' in lines["NHS Castle Point and Rochford CCG (99F)"]["popup"]


def test_pcn_pages_on_a_proposed_plan(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    plan = Plan({c: ("north" if c[0] == "A" else "south") for c in practices.index})
    html = pcn_pages(
        practices,
        plan,
        graph=graph,
        groups=group_table(plan, practices),
        options=MapOptions(boundaries=boundaries, title="Grid"),
    )
    assert html.count('<article class="pcn"') == 2
    north = html[html.index('id="pcn-north"') :].split("</section>")[0]
    assert "Total (3 practices)" in text(north) and "30,000" in north
    assert "In band 30,000-50,000." in text(north) and "0.15 WTE" in north
    south = html[html.index('id="pcn-south"') :].split("</section>")[0]
    assert "70,000" in south and "Out of band: 20,000 above 30,000-50,000." in text(south)


def test_existing_map_is_drawn_on(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    m = folium.Map(tiles=None)
    plan = Plan(dict.fromkeys(practices.index, "all"))
    assert draw(practices, plan, graph, m=m, options=MapOptions(assets="inline")) is m
    html = m.get_root().render()
    assert not WEB_ASSET.search(html) and "Grid Practice B2" in html


# --------------------------------------------------------------------------- errors


def test_practices_outside_the_graph_are_refused(grid3, build, slice_graph):
    practices, _ = grid3
    with pytest.raises(DataError, match=r"graph was not built from these practices \(it lacks A1, A2"):
        draw(practices, Plan({}), slice_graph)
    with pytest.raises(DataError, match="practices must be in EPSG:27700"):
        draw(practices.to_crs("EPSG:4326"), Plan({}), build(practices))


def test_clashing_arguments_are_refused(grid3, build):
    practices, boundaries = grid3
    graph = build(practices, boundaries)
    with pytest.raises(TypeError, match="tiles are set when a map is made"):
        draw(practices, Plan({}), graph, m=folium.Map(tiles=None), options=MapOptions(tiles="OpenStreetMap"))
    with pytest.raises(TypeError, match=r"style option\(s\) fillColor clash with the colouring"):
        draw(practices, Plan({}), graph, fill_color="red")
    with pytest.raises(ValueError, match="tolerance_m=-1 is not a distance"):
        MapOptions(tolerance_m=-1)
    with pytest.raises(TypeError, match="groups must be the group table"):
        plan_map(practices, Plan({}), graph=graph, groups=None)
    empty = group_table(Plan({}), practices)
    with pytest.raises(ValueError, match="assets='cdn' is not an option: give 'inline' or 'beside'"):
        MapOptions(assets="cdn")
    with pytest.raises(DataError, match=r"no practice has CCG code\(s\) XXX"):
        write_maps(practices, graph, Plan({}), "unused", groups=empty, options=MapOptions(ccgs=["XXX"]))
    with pytest.raises(ValueError, match="palette is empty"):
        colour_groups(graph, Plan({}), palette=[])


# --------------------------------------------------------------------------- command line


def run_map(capsys, tmp_path, monkeypatch, *argv):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    common = ["--practices", DATA / "practices_slice.csv", "--boundaries", DATA / "ccg_slice.geojson"]
    code = main([str(a) for a in ["map", *argv, *common, "--impute-missing", "--maps", tmp_path / "maps"]])
    out, err = capsys.readouterr()
    return code, out, err


def test_map_command_draws_the_current_pcns(capsys, tmp_path, monkeypatch):
    code, out, _ = run_map(capsys, tmp_path, monkeypatch, "--ccg", "99F")
    assert code == 0
    assert "\nCurrent PCNs: 1 CCG maps with printable PCN pages written to" in out
    assert out.startswith("note: 1 of 23 practices have no PCN in the plan: drawn as open")
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [
        "99F-pcns.html",
        "99F.html",
        "index.html",
        "practices-index.js",
    ]
    html = (tmp_path / "maps" / "99F.html").read_text()
    assert '"Current PCNs"' in html and "Practices with a problem (6)" in html
    assert '"Proposed plan"' not in html


def test_map_command_draws_a_plan_file(capsys, tmp_path, monkeypatch, slice_practices):
    plan = Plan(
        {c: ("north" if row.geometry.y > 188_000 else "south") for c, row in slice_practices.iterrows()}
    )
    plan_csv = write_plan(
        plan.restrict(select_ccgs(slice_practices, ["99F"]).index), tmp_path / "plan.csv", slice_practices
    )
    code, out, _ = run_map(capsys, tmp_path, monkeypatch, plan_csv, "--ccg", "99F", "--assets", "beside")
    assert code == 0 and out.startswith("Proposed plan: 1 CCG maps")
    html = (tmp_path / "maps" / "99F.html").read_text()
    assert '"Proposed plan"' in html and '"Current PCNs"' in html
    assert (tmp_path / "maps" / "assets" / "leaflet.js").exists()


def test_map_command_bad_plan_is_one_line(capsys, tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"practice_code": ["ZZZ999"], "pcn_id": ["x"]}).to_csv(bad, index=False)
    code, _, err = run_map(capsys, tmp_path, monkeypatch, bad)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(
        "footprint: error: 1 practice code(s) in the plan are not in the practices file: ZZZ999"
    )


# --------------------------------------------------------------------------- issue 11


def test_overlay_and_option_errors():
    with pytest.raises(ValueError, match="processes=0 is not a count of processes"):
        MapOptions(processes=0)
    with pytest.raises(TypeError, match="overlays must be Overlay objects, not dict"):
        MapOptions(overlays=[{"name": "x"}])


def test_names_far_members_overlays_and_provenance_are_drawn(slice_practices, slice_graph, slice_boundaries):
    practices = select_ccgs(slice_practices, ["99F"])
    plan = plan_from_practices(practices)
    groups = group_table(plan, practices, far_km=2.0, names={"U27924": "Benfleet & Canvey <b>"})
    far = {c for members in groups["far_members"] for c in members}
    assert far
    point = practices.geometry.loc["F81075"]
    overlay = Overlay(
        name="Sharing",
        legend="clinical director's base",
        practices={"F81075": "base of the shared CD"},
        lines=[OverlayLine(start=(point.x, point.y), end=(point.x + 1_000, point.y), tip="to a member")],
        label="Shared CD",
        others="none",
    )
    m = plan_map(
        practices,
        plan,
        graph=slice_graph,
        groups=groups,
        options=MapOptions(
            boundaries=slice_boundaries,
            places=read_places(),
            overlays=[overlay],
            provenance={"footprint version": "9.9.9"},
        ),
    )
    assert len(features(m, f"Far-flung members ({len(far)})")) == len(far)
    assert len(features(m, "Sharing (1)")) == 2  # the line and the ring
    props = {f["properties"]["code"]: f["properties"] for f in features(m, "Practices")}
    assert "Shared CD base of the shared CD" in text(props["F81075"]["popup"])
    assert "Shared CD none" in text(props["F81001"]["popup"])
    assert "<th>PCN</th><td>Benfleet &amp; Canvey &lt;b&gt; (U27924)</td>" in props["F81001"]["popup"]
    some_far = sorted(far)[0]
    assert "Far-flung:" in text(props[some_far]["popup"])
    page = m.get_root().render()
    assert '<html lang="en">' in page and "9.9.9" in page and "Rayleigh" in page


def test_labels_on_printed_maps_do_not_collide():
    from footprint.render.pages import place_labels

    dots = [(100.0 + 3 * i, 100.0) for i in range(8)] + [(50.0, 50.0)]
    placed = place_labels(dots, [f"F8100{i}" for i in range(9)], r=2.0, font=6.0, size=(400.0, 200.0))
    boxes = []
    for label in placed:
        x, y, w = float(label["text_x"]), float(label["text_y"]), len(label["text"]) * 6.0 * 0.58
        left = x if label["anchor"] == "start" else x - w if label["anchor"] == "end" else x - w / 2
        boxes.append((left, y - 4.8, left + w, y + 1.5))
    for a, b in itertools.combinations(boxes, 2):
        assert min(a[2], b[2]) <= max(a[0], b[0]) + 1 or min(a[3], b[3]) <= max(a[1], b[1]) + 1, (a, b)
    assert any(label["leader"] for label in placed)  # crowded dots get leader lines


def test_parallel_maps_match_serial_ones(slice_practices, slice_graph, slice_boundaries, tmp_path):
    plan = plan_from_practices(slice_practices)
    groups = group_table(plan, slice_practices)
    written = {}
    for processes in (1, 2):
        out = tmp_path / str(processes)
        paths = write_maps(
            slice_practices,
            slice_graph,
            plan,
            out,
            groups=groups,
            options=MapOptions(boundaries=slice_boundaries, processes=processes),
        )
        written[processes] = {p.name: len(re.sub(r"_[0-9a-f]{32}", "", p.read_text())) for p in paths}
    assert written[1] == written[2]
    assert list(written[1])[-1] == "index.html"


def test_map_command_far_km_names_far_flung_practices_and_writes_provenance(capsys, tmp_path, monkeypatch):
    code, out, _ = run_map(capsys, tmp_path, monkeypatch, "--ccg", "99F", "--far-km", "3")
    assert code == 0 and "km from their PCN's list-weighted centre, ringed on the maps as far-flung" in out
    assert "more than 3 km" in out
    html = (tmp_path / "maps" / "99F.html").read_text()
    assert "Far-flung members (" in html and "How this map was made" in html and "--far-km 3" in html
    pages = (tmp_path / "maps" / "99F-pcns.html").read_text()
    assert (
        pages.count("Made by footprint version:") == pages.count('<section class="sheet"') + 1
    )  # + contents
    code, _, err = run_map(capsys, tmp_path, monkeypatch, "--far-km", "0")
    assert code == 2 and "'0' is not a distance from 0.1 to 1,000 km: give e.g. 20" in err


# --------------------------------------------------------------------------- overlays and comparisons


def test_overlay_lines_show_only_with_their_practice_and_rings_take_their_own_colours():
    overlay = Overlay(
        name="Shared",
        legend="shared",
        practices={"A1": "base", "B1": "member"},
        lines=[
            OverlayLine(start=(0, 0), end=(1, 1), practice="B1"),
            OverlayLine(start=(0, 0), end=(2, 2)),
        ],
        colours={"A1": "#123456"},
        keys=[("#123456", "a key")],
    )
    codes, lines = overlay.shown_on(["A1", "C9"])
    assert codes == ["A1"] and [line.practice for line in lines] == [None]
    codes, lines = overlay.shown_on(["B1"])
    assert codes == ["B1"] and len(lines) == 2


def test_compare_page_draws_each_plan_side_by_side_and_syncs_them(
    slice_practices, slice_graph, slice_boundaries
):
    from footprint.render import Compared, compare_page

    practices = select_ccgs(slice_practices, ["99F"])
    current = plan_from_practices(practices)
    other = Plan({**current.assignment, "F81032": "U30335"})
    ring = Overlay(
        name="Differs", legend="differs", practices={"F81032": "moved"}, colours={"F81032": "#abcdef"}
    )
    page = compare_page(
        practices,
        [
            Compared(name="now", plan=current, groups=group_table(current, practices)),
            Compared(name="then", plan=other, groups=group_table(other, practices), overlays=[ring]),
        ],
        graph=slice_graph,
        options=MapOptions(boundaries=slice_boundaries, title="Two <plans>"),
    )
    assert page.count('class="folium-map"') == 2 and page.count('class="fp-cell"') == 2
    assert "Two &lt;plans&gt;" in page and "Two <plans>" not in page
    assert "window.fpCompareMaps" in page and "1 practice(s) in different company" in page
    assert "#abcdef" in page and "cdn.jsdelivr" not in page
    assert page.count("leaflet.js") <= 2 and page.count("L.map(") == 2


def test_compare_page_needs_two_compared_plans(slice_practices, slice_graph):
    from footprint.render import Compared, compare_page

    plan = plan_from_practices(slice_practices)
    one = Compared(name="one", plan=plan, groups=group_table(plan, slice_practices))
    with pytest.raises(ValueError, match="a comparison needs two or more plans, not 1"):
        compare_page(slice_practices, [one], graph=slice_graph)
    with pytest.raises(TypeError, match="plans must be Compared objects, not Plan"):
        compare_page(slice_practices, [one, plan], graph=slice_graph)  # type: ignore[list-item]


def test_map_of_one_ccg_leaves_the_others_and_lists_them_as_earlier(capsys, tmp_path, monkeypatch):
    code, _, _ = run_map(capsys, tmp_path, monkeypatch, "--ccg", "99G")
    assert code == 0
    earlier = (tmp_path / "maps" / "99G.html").read_text()
    code, _, _ = run_map(capsys, tmp_path, monkeypatch, "--ccg", "99F")
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert names == [
        "99F-pcns.html",
        "99F.html",
        "99G-pcns.html",
        "99G.html",
        "index.html",
        "practices-index.js",
    ]
    assert (tmp_path / "maps" / "99G.html").read_text() == earlier  # another CCG's map is left as it was
    index = (tmp_path / "maps" / "index.html").read_text()
    assert "Other maps in this folder come from an earlier run" in index and 'href="99G.html"' in index
    # The index is written last, after every map it links to.
    folder = tmp_path / "maps"
    assert (folder / "index.html").stat().st_mtime_ns >= (folder / "99F-pcns.html").stat().st_mtime_ns


# --------------------------------------------------------------------------- issue 25


def test_no_verdict_is_said_twice(big_grid, slice_maps):
    practices, graph, plan = big_grid
    pages = pcn_pages(practices, plan, graph=graph, groups=group_table(plan, practices))
    out, _ = slice_maps
    both = text(pages) + " " + text((out / "99F-pcns.html").read_text())
    assert "exempt: exempt" not in both and "out of band: out of band" not in both
    assert "(exempt (a practice over 50,000 standing alone as its own PCN); 10,000 above" in text(pages)
    assert "\u26a0 out of band: 5,949 above 30,000-50,000" in both  # Rayleigh and District, in the contents


def test_printable_page_has_a_row_to_sign_per_member_and_the_directors_line(slice_practices, slice_graph):
    practices = select_ccgs(slice_practices, ["99G"])
    codes = sorted(practices.index)
    plan = Plan({c: ("twelve" if i < 12 else "more") for i, c in enumerate(codes)})
    pages = pcn_pages(practices, plan, graph=slice_graph, groups=group_table(plan, practices))
    twelve = pages[pages.index('id="pcn-twelve"') :].split("</article>")[0]
    assert twelve.count('<section class="sheet"') == 1  # up to 12 members: one page
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", twelve.split("<tbody>")[0])
    assert heads == ["Member practice", "ODS code", "List size", "Signature", "Name of signatory", "Date"]
    rows = twelve.split("<tbody>")[1].split("</tbody>")[0].count("<tr>")
    assert rows == 12 and twelve.count('<td class="blank"></td>') == 12 * 3 + 3  # and the director's line
    assert "<th>Clinical director</th>" in twelve and "<th>Nominated payee</th>" in twelve
    more = pages[pages.index('id="pcn-more"') :].split("</article>")[0]
    assert more.count('<section class="sheet"') == 2 and "(continued, page 2 of 2)" in more


def test_printed_map_names_towns_and_villages_and_the_page_its_network(slice_practices, slice_graph):
    practices = select_ccgs(slice_practices, ["99F"])
    plan = plan_from_practices(practices)
    options = MapOptions(places=read_places())
    pages = pcn_pages(
        practices, plan, graph=slice_graph, groups=group_table(plan, practices), options=options
    )
    benfleet = pages[pages.index('id="pcn-U27924"') :].split("</article>")[0]
    assert 'data-title="Benfleet PCN (U27924): PCN page"' in benfleet
    assert re.findall(r'<text class="place"[^>]*>([^<]+)</text>', benfleet)  # places are named on its map
    assert "South Benfleet" in benfleet


def test_changes_from_the_current_pcns_start_switched_off(slice_practices):
    from footprint.cli.maps import changes_overlay

    current = plan_from_practices(slice_practices)
    plan = Plan({**current.assignment, "F81032": "U30335"})
    tables = {name: group_table(p, slice_practices) for name, p in (("current", current), ("plan", plan))}
    overlay = changes_overlay(current, plan, slice_practices, tables["current"], tables["plan"])
    assert overlay.show is False and set(overlay.practices) == {"F81032"}


def test_a_ccgs_towns_are_labelled_at_every_zoom(slice_boundaries):
    from footprint.render._map_layers import OWN_TOWN_POPULATION, place_rows

    rows = place_rows(
        read_places(), tuple(slice_boundaries.total_bounds), own=slice_boundaries.loc["99F", "geometry"]
    )
    own = {name for _, _, name, zoom, kind, mine in rows if mine}
    assert {"South Benfleet", "Canvey Island", "Rayleigh", "Hadleigh", "Rochford"} == own
    assert all(zoom == 0 and kind == "town" for *_, zoom, kind, mine in rows if mine)
    assert OWN_TOWN_POPULATION == 10_000
    others = {name: zoom for _, _, name, zoom, _, mine in rows if not mine}
    assert others["Southend-on-Sea"] == 8 and others["Runcorn"] == 10  # other CCGs' places by their size


def test_one_search_index_for_every_page(slice_maps, slice_practices):
    import json

    out, _ = slice_maps
    script = (out / "practices-index.js").read_text()
    assert script.startswith("window.fpEngland = ") and "</" not in script
    data = json.loads(script.removeprefix("window.fpEngland = ").rstrip().removesuffix(";"))
    assert data["ccgs"]["99F"] == "NHS Castle Point and Rochford CCG"
    rows = {row[0]: row for row in data["practices"]}
    assert set(rows) == set(slice_practices.index)
    assert rows["F81001"][1:4] == ["Dr Khan & Partners", "SS7 4EA", "99F"]
    for page in ("99F.html", "01F.html", "index.html"):
        assert '<script src="practices-index.js"></script>' in (out / page).read_text()


def test_a_networks_name_is_the_same_on_every_page(slice_practices, slice_graph, slice_boundaries, tmp_path):
    """A new network is named after its place, marked (new), in its popups, its printed page and the index."""
    from footprint.cli.maps import draw

    current = plan_from_practices(slice_practices)
    assignment = {**current.assignment, "F81032": "U30335"}
    plan = Plan({c: "99F-new" if p == "U30335" else p for c, p in assignment.items()})
    draw(
        slice_practices,
        slice_graph,
        plan,
        tmp_path,
        rules=Rules(),
        boundaries=slice_boundaries,
        current=current,
        ccgs=["99F"],
        processes=1,
    )
    label = "Rayleigh PCN (new) (99F-new)"
    for page in ("99F.html", "99F-pcns.html", "index.html"):
        assert label in (tmp_path / page).read_text(), page
    assert "Benfleet PCN (U27924)" in (tmp_path / "99F.html").read_text()  # a current PCN: its published name


# --------------------------------------------------------------------------- issue 26: the share map


def share_like_overlay(practices) -> Overlay:
    """An overlay as ``footprint share`` hands one: solid star lines, one over water, figures for 99F."""
    base, member, far = (practices.geometry.loc[c] for c in ("F81075", "F81001", "F81032"))
    return Overlay(
        name="Shared clinical directors",
        legend="base of a shared clinical director (straight lines)",
        practices={"F81075": "base of CD0001"},
        lines=[
            OverlayLine(start=(base.x, base.y), end=(member.x, member.y), tip="m", colour="#2166ac"),
            OverlayLine(start=(base.x, base.y), end=(far.x, far.y), tip="f", colour="#2166ac", dash="6 5"),
        ],
        colours={"F81075": "#2166ac"},
        dash="",
        summary={"99F": [("CD posts", "1 for 2 PCNs"), ("Distances", "straight lines, not roads")]},
        links=[("Report of the CD sharing", "../out/report.html")],
    )


def test_share_map_draws_stars_on_a_casing_and_keeps_judgements_off(slice_practices, slice_graph):
    """Issue 26: tangled dashed lines in one colour, and problems and hatching shown on a sharing map."""
    practices = select_ccgs(slice_practices, ["99F"])
    plan = plan_from_practices(practices)
    groups = group_table(plan, practices)
    m = plan_map(
        practices,
        plan,
        graph=slice_graph,
        groups=groups,
        problems=group_problems(groups),
        options=MapOptions(overlays=[share_like_overlay(practices)], show_problems=False),
    )
    drawn = features(m, "Shared clinical directors (1)")
    casing, *lines, ring = drawn
    assert (
        casing["geometry"]["type"] == "MultiLineString"
        and casing["properties"]["style"]["color"] == "#ffffff"
    )
    assert [f["properties"]["style"]["color"] for f in lines] == ["#2166ac", "#2166ac"]
    assert [f["properties"]["style"]["dashArray"] for f in lines] == [None, "6 5"]  # solid; over water dashed
    assert (
        len({tuple(f["geometry"]["coordinates"][0]) for f in lines}) == 1
    )  # a star: every line from the base
    assert ring["properties"]["style"]["color"] == "#2166ac"
    problems = [c for c in m._children.values() if getattr(c, "layer_name", "").startswith("Practices with")]
    assert problems and all(c.show is False for c in problems)
    hatch = [c for c in m._children.values() if getattr(c, "layer_name", "").startswith("Out of band")]
    assert all(c.show is False for c in hatch)
    assert layer(m, "Shared clinical directors (1)").show is True
    # the default is unchanged: a plan's map shows its problems
    default = plan_map(practices, plan, graph=slice_graph, groups=groups, problems=group_problems(groups))
    assert all(
        c.show
        for c in default._children.values()
        if getattr(c, "layer_name", "").startswith("Practices with")
    )


def test_share_map_summary_gives_the_ccgs_posts_and_links_the_report(slice_practices, slice_graph, tmp_path):
    """Issue 26: the info box had no post count and no link back to the report; the index no sharing list."""
    plan = plan_from_practices(slice_practices)
    overlay = share_like_overlay(select_ccgs(slice_practices, ["99F"]))
    write_maps(
        slice_practices,
        slice_graph,
        plan,
        tmp_path,
        groups=group_table(plan, slice_practices),
        options=MapOptions(overlays=[overlay], ccgs=["99F", "99G"], show_problems=False),
    )
    page = (tmp_path / "99F.html").read_text()
    summary = re.sub(r"\\u00(3c|3e|26)", lambda g: chr(int(g.group(1), 16)), page).replace('\\"', '"')
    assert "<th>CD posts</th><td>1 for 2 PCNs</td>" in summary
    assert (
        '<a class="fp-overlay-link" href="../out/report.html" aria-label="Report of the CD sharing">'
        in summary
    )
    assert "L.latLngBounds([[51.5" in page  # 99F's own box, fitted clear of the panels
    other = (tmp_path / "99G.html").read_text()
    assert "1 for 2 PCNs" not in other and "L.latLngBounds([[" not in other  # no figures for 99G: not fitted
    index = (tmp_path / "index.html").read_text()
    section = index[index.index('<section class="fp-index-overlay"') : index.index("</section>")]
    assert '<a href="99F.html">' in section and '<a href="99G.html">' in section
    assert (
        "1 for 2 PCNs" in section and '<a href="../out/report.html">Report of the CD sharing</a>' in section
    )
    assert "straight lines, not roads" in section
