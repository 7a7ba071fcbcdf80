"""Leaflet and branca elements: HTML panels, the practice finder, small scripts and new maps.

Every element renders from a template of ``templates/`` through the autoescaping
environment; HTML put into a panel is escaped when it is made, and is passed to
Leaflet as a JSON string.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator, Sequence
from typing import Any

import branca.element
import folium
import geopandas as gpd
import jinja2
import shapely
from branca.element import Element, Figure, MacroElement

from footprint.load import CRS
from footprint.render._base import ASSETS, COLOURS, CREDIT, ENV, Assets
from footprint.render.assets import leaflet_head

#: The page around a map: branca's, with the language said (``lang="en"``).
PAGE = jinja2.Template(
    "<!DOCTYPE html>\n"
    '<html lang="en">\n'
    "<head>\n"
    "{% if this.title %}<title>{{this.title|e}}</title>{% endif %}"
    "    {{this.header.render(**kwargs)}}\n"
    "</head>\n"
    "<body>\n"
    "    {{this.html.render(**kwargs)}}\n"
    "</body>\n"
    "<script>\n"
    "    {{this.script.render(**kwargs)}}\n"
    "</script>\n"
    "</html>\n",
)

#: Binds each feature's ``popup`` and ``tip`` properties (HTML, escaped when made).
ON_EACH_FEATURE = folium.JsCode(ENV.get_template("on_each_feature.js").render().strip())


class Raw(Element):
    """Text put into a page as it is (not read again as a template, unlike :class:`Element`)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "FootprintRaw"
        self.text = text

    def render(self, **kwargs: Any) -> str:  # noqa: ARG002 - branca's signature
        """Return the text."""
        return self.text


class HtmlControl(MacroElement):
    """A Leaflet control holding fixed HTML (a panel, a legend)."""

    _template = ENV.get_template("control.js")

    def __init__(self, content: str, *, position: str, css_class: str) -> None:
        super().__init__()
        self._name = "FootprintPanel"
        self.content = content
        self.position = position
        self.css_class = css_class


class Finder(MacroElement):
    """A box that finds a practice by name, ODS code, postcode or town as you type and opens its popup.

    It is put before the map in the page (first in tab order), says what it found in a
    live region, marks the practice found "You are here", moves the focus into its popup,
    and opens the practice named in the address (``11J.html#J81017``). With ``search``
    (the address of the England search index, see
    :func:`~footprint.render.site.search_index`), a practice not on this map is found there
    and linked on its own CCG's map.
    """

    _template = ENV.get_template("finder.js")

    def __init__(self, layer: folium.GeoJson, *, search: str | None = None) -> None:
        super().__init__()
        self._name = "FootprintFinder"
        self.layer = layer
        self.search = search

    def add_to(self, parent: Element, name: str | None = None, index: int | None = None) -> Finder:
        """Add the finder to the map ``parent``, and the England search index to its page's head."""
        super().add_to(parent, name=name, index=index)
        if self.search and isinstance(parent, folium.Map):
            script = f'<script src="{html.escape(self.search, quote=True)}"></script>'
            root(parent).header.add_child(Raw(script), name="fp_search_index")
        return self


class PlaceLabels(folium.map.Layer):
    """Town and village names that show by zoom level: ``[lat, lon, name, min zoom, kind, own]`` rows.

    Each label is placed clear of the panels, the open popup and larger places' labels, or
    hidden; an ``own`` town (one of the map's CCG) is never hidden under a panel, and the
    map opens zoomed out just enough for that (see ``templates/places.js``).
    """

    _template = ENV.get_template("places.js")

    def __init__(
        self, places: Sequence[Sequence[Any]], *, name: str = "Place names", show: bool = True
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "FootprintPlaces"
        self.places = [list(p) for p in places]


class Ui(MacroElement):
    """Label the map; collapse panels on small screens and while a popup is open; close popups with Esc.

    ``label``: what the map is, said by screen readers when it takes the focus.
    """

    _template = ENV.get_template("ui.js")

    def __init__(self, label: str = "Map") -> None:
        super().__init__()
        self._name = "FootprintUi"
        self.label = label


class Credit(MacroElement):
    """The short data credit in the map's attribution corner."""

    _template = ENV.get_template("credit.js")

    def __init__(self, credit: str = CREDIT) -> None:
        super().__init__()
        self._name = "FootprintScript"
        self.credit = credit


class KeepOrder(MacroElement):
    """Keep layers stacked in order (areas under markers) when one is switched back on."""

    _template = ENV.get_template("keep_order.js")

    def __init__(self, layers: Sequence[folium.GeoJson]) -> None:
        super().__init__()
        self._name = "FootprintScript"
        self.layer_names = [layer.get_name() for layer in layers]


def root(m: folium.Map) -> Figure:
    """Return the page (figure) that holds ``m``."""
    figure = m.get_root()
    assert isinstance(figure, Figure)  # folium.Map always makes one
    return figure


def use_offline_assets(m: folium.Map, assets: Assets) -> None:
    """Make ``m`` load only Leaflet, from the installed package rather than a CDN."""
    if assets not in ASSETS:
        msg = f"assets={assets!r} is not an option: give 'inline' or 'beside'"
        raise ValueError(msg)
    m.default_js = []  # folium's CDN list (Leaflet, jQuery, Bootstrap, fonts) is not needed
    m.default_css = []
    header = root(m).header
    for name, text in leaflet_head(assets).items():
        header.add_child(Raw(text), name=name)


def new_map(
    view: tuple[float, ...],
    *,
    tiles: str | None,
    assets: Assets,
    title: str | None,
    width: str = "100%",
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> folium.Map:
    """Return a map that shows ``view`` (EPSG:27700), loads Leaflet offline and carries the credit.

    ``padding``: pixels kept clear around ``view`` at the top left and the bottom right.
    """
    m = folium.Map(tiles=tiles, width=width, control_scale=True, zoom_snap=0.25, zoom_delta=0.5)
    use_offline_assets(m, assets)
    figure = root(m)
    figure.title = title
    figure._template = PAGE  # the page says its language: <html lang="en">
    css = ENV.get_template("map.css").render(sea=COLOURS["sea"] if tiles is None else "#ddd")
    figure.header.add_child(Raw(f"<style>{css}</style>"), name="footprint_css")
    Credit().add_to(m)
    x0, y0, x1, y1 = view
    corners = gpd.GeoSeries(shapely.points([x0, x1], [y0, y1]), crs=CRS).to_crs("EPSG:4326")
    top_left, bottom_right = padding or (None, None)
    m.fit_bounds(
        [[corners.y[0], corners.x[0]], [corners.y[1], corners.x[1]]],
        padding_top_left=top_left,
        padding_bottom_right=bottom_right,
    )
    return m


def keep_order(m: folium.Map, layers: Sequence[folium.GeoJson]) -> None:
    """Keep ``layers`` stacked in this order (areas under markers) when one is switched back on."""
    KeepOrder(layers).add_to(m)


def add_panel(m: folium.Map, content: str, *, position: str, kind: str) -> None:
    """Add a panel of HTML ``content`` (``kind`` ``"summary"`` or ``"legend"``) to ``m``."""
    HtmlControl(content, position=position, css_class=f"fp-panel fp-{kind}").add_to(m)


class _Text(Element):
    """What a branca ``MacroElement`` puts into the page, kept as text.

    branca wraps each element's rendered script in a new ``Element``, which compiles it
    as a jinja2 template: slow for large GeoJSON (a third of the time of a CCG's map) and
    a second, unescaped pass over data. While :func:`page_html` renders, that text is
    kept as it is instead.
    """

    def __init__(self, template: str | None = None, template_name: str | None = None) -> None:
        super().__init__(template_name=template_name)
        self.text = template

    def render(self, **kwargs: Any) -> str:
        """Return the text (or render the children, as an empty ``Element`` does)."""
        return self.text if self.text is not None else super().render(**kwargs)


@contextlib.contextmanager
def _text_elements() -> Iterator[None]:
    saved = branca.element.Element
    branca.element.Element = _Text  # type: ignore[misc]
    try:
        yield
    finally:
        branca.element.Element = saved  # type: ignore[misc]


def page_html(m: folium.Map) -> str:
    """Return the whole page of ``m`` as HTML."""
    with _text_elements():
        return root(m).render()
