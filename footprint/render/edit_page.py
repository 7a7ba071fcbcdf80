"""The what-if editor's page: one HTML file with Leaflet, its style, the data and the token inlined.

:func:`edit_page_html` draws the page the editor's web app (``footprint.edit``) serves at
``/`` from the templates ``templates/edit.html``, ``edit.css`` and ``edit.js``: the map and
the side panel, whose script asks the app's JSON API for each change. The page loads
nothing from anywhere else. Like the rest of render it draws what it is handed: the data
the session gives it, judging nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from footprint.render._base import ENV
from footprint.render.assets import leaflet_sources

#: The page's environment: render's templates and filters, without trimming block lines
#: (the page's templates are written for jinja2's defaults).
_ENV = ENV.overlay(trim_blocks=False, lstrip_blocks=False)


def edit_page_html(data: Mapping[str, Any], token: str) -> str:
    """Return the editor's page: Leaflet and the data inlined, so it loads nothing else.

    Parameters
    ----------
    data
        What the page draws once: the CCG (``ccg``), its ``practices`` (code, name, list
        size, position and marker radius), their ``cells`` and the CCG's ``outline`` as
        GeoJSON, and the map's ``bounds`` (``EditSession.page_data``).
    token
        The editor's token, which the page's script sends with every request.

    Returns
    -------
    str
        The page's HTML.
    """
    sources = leaflet_sources()
    return _ENV.get_template("edit.html").render(
        data=data,
        token=token,
        leaflet_css=sources["leaflet.css"],
        leaflet_js=sources["leaflet.js"].replace("</script", "<\\/script"),
        script=_ENV.get_template("edit.js").render(),
        style=_ENV.get_template("edit.css").render(),
    )
