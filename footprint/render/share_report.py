"""The report of a clinical-director sharing analysis: summary, sensitivity chart and tables.

:func:`share_report_html` draws a CD-sharing result (``footprint.share.ShareResult``) as one
readable HTML page from the template ``templates/share_report.html``, with
:func:`sensitivity_svg`, the chart of CD posts against the distance limit, inline. Like the
rest of render it draws what it is handed: the result's own summary and tables, read through
:class:`ShareReport`; it computes no figure and imports neither sharing nor evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from markupsafe import Markup

from footprint.config import SESSIONS_PER_WTE
from footprint.render._base import ENV

__all__ = ["ShareReport", "sensitivity_svg", "share_report_html"]

#: The report's environment: render's templates and filters, without trimming block lines
#: (the report template is written for jinja2's defaults).
_ENV = ENV.overlay(trim_blocks=False, lstrip_blocks=False)


class ShareReport(Protocol):
    """What the report reads of a CD-sharing result (``footprint.share.ShareResult``).

    Attributes
    ----------
    sensitivity
        CD posts at each distance limit: columns ``max_km`` and ``cd_posts``.
    arrangement
        One row per PCN, with ``pcns``: the number of PCNs in its cluster.
    """

    @property
    def sensitivity(self) -> pd.DataFrame:
        """CD posts at each distance limit."""
        ...

    @property
    def arrangement(self) -> pd.DataFrame:
        """One row per PCN with its cluster's figures."""
        ...

    def summary(self) -> Mapping[str, Any]:
        """Return the plain data of ``summary.json``."""
        ...

    def arrangement_table(self) -> pd.DataFrame:
        """Return the table of ``arrangement.csv``, in the arrangement's row order."""
        ...

    def pairs_table(self) -> pd.DataFrame:
        """Return the table of ``pairs.csv``."""
        ...


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** np.floor(np.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))


def sensitivity_svg(table: pd.DataFrame, *, width: int = 560, height: int = 300) -> str:
    """Return a line chart of CD posts against the distance limit as standalone SVG text.

    Parameters
    ----------
    table
        A result's :attr:`~ShareReport.sensitivity` (columns ``max_km`` and ``cd_posts``).
    width, height
        Size in pixels.

    Examples
    --------
    >>> svg = sensitivity_svg(pd.DataFrame({"max_km": [5.0, 10.0], "cd_posts": [12, 9]}))
    >>> svg.startswith("<svg") and "<polyline" in svg
    True
    """
    left, right, top, bottom = 64, 16, 28, 44
    xs, ys = table["max_km"].to_numpy(float), table["cd_posts"].to_numpy(float)
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))
    step = _nice_step(float(ys.max() - ys.min()) or 1.0)
    y0 = np.floor(ys.min() / step) * step
    y1 = max(np.ceil(ys.max() / step) * step, y0 + step)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        "<title>CD posts needed as the distance limit grows</title>",
    ]
    for y in np.arange(y0, y1 + step / 2, step):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:,.0f}</text>'
        )
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x:g}</text>')
    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    parts += [
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" '
        'stroke="#333"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#333"/>',
        f'<polyline points="{points}" fill="none" stroke="#005eb8" stroke-width="2"/>',
        *(
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="#005eb8"><title>{x:g} km: {y:,.0f} posts'
            "</title></circle>"
            for x, y in zip(xs, ys, strict=True)
        ),
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
        "largest base-to-member distance allowed (km)</text>",
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">CD posts</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def share_report_html(
    result: ShareReport,
    *,
    title: str = "current PCNs",
    maps_note: str = "",
    maps: Sequence[tuple[str, str]] = (),
) -> str:
    """Return a readable HTML report of ``result``: summary, sensitivity plot and tables.

    Built with jinja2 (autoescape on) from ``templates/share_report.html``; the plot is inline
    SVG, so the file needs nothing else. ``result``: a ``footprint.share.ShareResult``, or
    anything with what :class:`ShareReport` names. ``maps``: (CCG, address) of each CCG's map
    of the shared clusters, linked from the report.
    """
    arrangement = result.arrangement_table()
    shared = arrangement[result.arrangement["pcns"] > 1].drop(columns="reason")
    own = arrangement[result.arrangement["pcns"] == 1][["pcn_id", "pcn_name", "patients", "reason"]]
    template = _ENV.get_template("share_report.html")
    return template.render(
        title=title,
        summary=result.summary(),
        sessions_per_wte=SESSIONS_PER_WTE,
        svg=Markup(sensitivity_svg(result.sensitivity)),  # our own SVG text: numbers only
        shared=shared,
        own=own,
        pairs=result.pairs_table(),
        maps=maps_note,
        map_links=list(maps),
    )
