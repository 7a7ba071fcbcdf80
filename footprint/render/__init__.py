"""Draw plans as interactive maps that open offline, and print one page per PCN.

:func:`plan_map` draws a plan of some practices as a :class:`folium.Map`: each PCN's area
(the union of its members' cells) coloured so that neighbouring PCNs differ, CCG boundary
lines, practice markers sized by list size with a popup each, and switchable layers for the
current PCNs, the adjacency edges and practices with a problem; a finder zooms to a practice
by name, ODS code or postcode. :func:`overview_map` draws every PCN of England at generalised
resolution, and :func:`pcn_pages` returns printable pages (members, ODS codes, list sizes and
a map of the area drawn as inline SVG) for a registration pack. :func:`write_maps` writes
one map and one printable pack per CCG plus an index page; :func:`compare_page` puts the
maps of two or more plans side by side on one page, panned and zoomed together, and
:func:`write_compare_pages` writes one such page per CCG.

The pages need no network: Leaflet's script and style come from the installed
``folium-offline`` package (inlined, or written beside the pages), and the background is
drawn from the CCG boundaries instead of web tiles. Areas are drawn from practice locations
(cells), not real catchments; every page says so.

Render draws what the caller hands it: the plan, its group table (every figure about a
PCN: name, total, band verdict, centre, far members, funded clinical-director time, from
``footprint.evaluate.group_table``), ``problems``, the current PCNs, place names
(``footprint.places.read_places``) and generic :class:`Overlay` layers (lines and
highlighted practices with notes and a legend entry: the changes from the current PCNs,
a repair's moves, a comparison's differences, clinical-director sharing). It judges
nothing itself and imports no solver, evaluation or sharing. The HTML, CSS and scripts are
jinja2 templates in ``templates/``, rendered with autoescaping.

Modules: :mod:`~footprint.render.assets` (Leaflet offline), :mod:`~footprint.render.elements`
(panels, finder, scripts), :mod:`~footprint.render.ccg_map` (a CCG's map and its layers),
:mod:`~footprint.render.pages` (printable pages) and :mod:`~footprint.render.site`
(overview, index and :func:`write_maps`), :mod:`~footprint.render.compare` (plans side by side).
"""

from footprint.render._base import (
    ATTRIBUTION,
    CAVEAT,
    PALETTE,
    Assets,
    Links,
    MapOptions,
    Overlay,
    OverlayLine,
    colour_groups,
)
from footprint.render.assets import write_assets
from footprint.render.ccg_map import plan_map
from footprint.render.compare import Compared, compare_page, write_compare_pages
from footprint.render.pages import pcn_pages
from footprint.render.site import overview_map, write_maps

__all__ = [
    "ATTRIBUTION",
    "CAVEAT",
    "PALETTE",
    "Assets",
    "Compared",
    "Links",
    "MapOptions",
    "Overlay",
    "OverlayLine",
    "colour_groups",
    "compare_page",
    "overview_map",
    "pcn_pages",
    "plan_map",
    "write_assets",
    "write_compare_pages",
    "write_maps",
]
