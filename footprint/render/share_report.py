"""The report and workbook of a clinical-director sharing analysis, and the chart of its options.

:func:`share_report_html` draws a CD-sharing result (``footprint.share.ShareResult``) as one
readable HTML page from the template ``templates/share_report.html``, with
:func:`sensitivity_svg`, the chart of CD posts against the distance limit for each option,
inline; :func:`share_workbook` writes the same tables as an ``.xlsx`` workbook a board
secretary can open (one sheet per table, named columns, yes/no for true/false). Like the rest
of render it draws what it is handed: the result's own summary and tables, read through
:class:`ShareReport`; it computes no figure and imports neither sharing nor evaluation.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from markupsafe import Markup

from footprint.config import SESSIONS_PER_WTE
from footprint.render._base import ENV

__all__ = ["HEADERS", "ShareReport", "sensitivity_svg", "share_report_html", "share_workbook"]

#: The report's environment: render's templates and filters, without trimming block lines
#: (the report template is written for jinja2's defaults).
_ENV = ENV.overlay(trim_blocks=False, lstrip_blocks=False)


def _cell_text(value: Any) -> str:
    """Return a table value as the report shows it: whole numbers with commas, decimals trimmed."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


_ENV.filters["cell"] = _cell_text

#: Column names as a reader sees them, in the report and the workbook.
HEADERS = {
    "pcn_a": "PCN A",
    "pcn_a_name": "PCN A name",
    "pcn_b": "PCN B",
    "pcn_b_name": "PCN B name",
    "pcn_id": "PCN",
    "pcn_name": "PCN name",
    "pcns": "PCNs",
    "pcn_names": "PCN names",
    "size": "PCNs in the post",
    "cluster": "CD post",
    "ccg_code": "CCG",
    "icb_code": "ICB",
    "icb_name": "ICB name",
    "ccgs": "CCGs",
    "patients": "Patients",
    "practices": "Practices",
    "wte": "Funded CD time (WTE)",
    "sessions": "Sessions a week",
    "gbp": "£",
    "base": "Base practice",
    "base_name": "Base practice name",
    "base_pcn": "Base practice's PCN",
    "max_km": "Furthest member from the base (km)",
    "limit_km": "Distance limit, base to member (km)",
    "mean_km": "Mean distance to the base (km)",
    "meets_limits": "Meets the limits",
    "reason": "Why",
    "bridged": "Joined to the base only across a bridge (over water)",
    "shares_with": "Shares its CD with",
    "option": "Option",
    "cluster_size": "Most PCNs per CD",
    "cd_posts": "CD posts",
    "fewer_posts": "Posts fewer than now",
    "shared_posts": "Shared posts",
    "keep_own": "PCNs keeping their own CD",
    "wte_per_post": "Funded WTE per post",
    "sessions_per_post": "Sessions a week per post",
    "gbp_per_post": "£ per post",
    "furthest_km": "Furthest member from its base (km)",
    "posts_proven": "Fewest posts proven",
    "proven": "Least distance proven",
    "chosen": "The arrangement shown",
    "practice_code": "Practice",
    "practice_name": "Practice name",
    "list_size": "Patients",
    "why": "Why left out",
    "wte_per_post_now": "Funded WTE per post now",
    "mean_km_now": "Mean distance to the base now (km)",
    "part": "Part",
    "period": "Months",
    "months": "Number of months",
    "gbp_per_patient": "£ per registered patient for those months",
    "wte_per_50000": "Funded CD time while it runs (WTE per 50,000 patients)",
    "uncertain": "Uncertain",
    "source": "Source of the money",
    "wte_source": "Source of the time",
    "note": "Note",
}


class ShareReport(Protocol):
    """What the report reads of a CD-sharing result (``footprint.share.ShareResult``).

    Attributes
    ----------
    names
        PCN id to name; ``practice_names`` practice code to name.
    left_out
        The practices left out and why; ``icbs`` the totals by ICB.
    """

    @property
    def names(self) -> Mapping[str, str]:
        """PCN id to name."""
        ...

    @property
    def practice_names(self) -> Mapping[str, str]:
        """Practice code to name."""
        ...

    @property
    def left_out(self) -> pd.DataFrame:
        """The practices left out, with why."""
        ...

    @property
    def icbs(self) -> pd.DataFrame:
        """The arrangement totalled by ICB."""
        ...

    def summary(self) -> Mapping[str, Any]:
        """Return the plain data of ``summary.json``."""
        ...

    def compared_table(self) -> pd.DataFrame:
        """Return the options side by side."""
        ...

    def posts_table(self) -> pd.DataFrame:
        """Return one row per CD post."""
        ...

    def arrangement_table(self) -> pd.DataFrame:
        """Return one row per PCN."""
        ...

    def pairs_table(self) -> pd.DataFrame:
        """Return the table of ``pairs.csv``."""
        ...

    def clusters_table(self) -> pd.DataFrame:
        """Return the candidate clusters of more than two PCNs."""
        ...


# --------------------------------------------------------------------------- the chart

#: Line colours of the options, pairs first.
_SERIES = ("#005eb8", "#d5281b", "#007f3b", "#7c2855", "#ed8b00")


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** np.floor(np.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))


def sensitivity_svg(table: pd.DataFrame, *, width: int = 640, height: int = 320) -> str:
    """Return a line chart of CD posts against the distance limit, one line per option, as SVG text.

    Parameters
    ----------
    table
        Rows with ``limit_km`` (or ``max_km``) and ``cd_posts``, and optionally ``option`` (one line each) and
        ``cluster_size``: a row of size 1 (every PCN its own CD, no limit) is drawn as a
        dashed level line. The axis of posts starts at 0 and is marked in whole posts.
    width, height
        Size in pixels.

    Examples
    --------
    >>> svg = sensitivity_svg(pd.DataFrame({"max_km": [5.0, 10.0], "cd_posts": [12, 9]}))
    >>> svg.startswith("<svg") and "<polyline" in svg
    True
    """
    left, right, top, bottom = 64, 180, 28, 44
    table = table.rename(columns={"max_km": "limit_km"})
    if "option" not in table.columns:
        table["option"] = "CD posts"
    if "cluster_size" not in table.columns:
        table["cluster_size"] = 2
    level = table[table["cluster_size"] < 2]
    lines = table[(table["cluster_size"] >= 2) & table["limit_km"].notna()]
    xs = lines["limit_km"].to_numpy(float) if len(lines) else np.array([0.0, 1.0])
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))
    high = float(max([*table["cd_posts"].to_numpy(float), 1.0]))
    step = max(1.0, math.ceil(_nice_step(high)))
    y1 = math.ceil(high / step) * step
    if y1 <= high:  # room above the highest line, so that no line lies on the frame
        y1 += step

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - y / y1 * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        "<title>CD posts needed as the distance limit grows, for each option</title>",
    ]
    for y in np.arange(0, y1 + step / 2, step):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:,.0f}</text>'
        )
    for x in sorted(set(xs.tolist())):
        parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x:g}</text>')
    parts += [
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" '
        'stroke="#333"/>',
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#333"/>',
    ]
    key_y = top + 4
    for row in level.itertuples():
        y = py(float(row.cd_posts))
        parts += [
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#425563" '
            f'stroke-width="2" stroke-dasharray="6 4"><title>{escape(str(row.option))}: '
            f"{int(row.cd_posts):,} posts</title></line>",
            f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{key_y}" y2="{key_y}" '
            'stroke="#425563" stroke-width="2" stroke-dasharray="6 4"/>',
            f'<text x="{width - right + 42}" y="{key_y + 4}">{escape(str(row.option))}</text>',
        ]
        key_y += 18
    for k, (option, rows) in enumerate(lines.groupby("option", sort=False)):
        colour = _SERIES[k % len(_SERIES)]
        rows = rows.sort_values("limit_km")
        xy = list(zip(rows["limit_km"].to_numpy(float), rows["cd_posts"].to_numpy(float), strict=True))
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in xy)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"><title>{escape(str(option))}, '
            f"{x:g} km: {y:,.0f} posts</title></circle>"
            for x, y in xy
        ]
        parts += [
            f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{key_y}" y2="{key_y}" '
            f'stroke="{colour}" stroke-width="2"/>',
            f'<text x="{width - right + 42}" y="{key_y + 4}">{escape(str(option))}</text>',
        ]
        key_y += 18
    parts += [
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">'
        "largest base-to-member distance allowed (km, straight line)</text>",
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">CD posts</text>',
        "</svg>",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------- tables for people


def _named_pairs(result: ShareReport, table: pd.DataFrame) -> pd.DataFrame:
    """Return the pairs or clusters with the names of their PCNs and bases beside the codes."""
    names, practices = result.names, result.practice_names
    out = table.copy()
    if "pcn_a" in out.columns:
        out.insert(1, "pcn_a_name", out["pcn_a"].map(lambda p: names.get(p, "")))
        out.insert(3, "pcn_b_name", out["pcn_b"].map(lambda p: names.get(p, "")))
    else:
        out.insert(
            1, "pcn_names", out["pcns"].map(lambda ps: "; ".join(names.get(p, "") for p in ps.split()))
        )
    out.insert(
        list(out.columns).index("base") + 1, "base_name", out["base"].map(lambda c: practices.get(c, ""))
    )
    return out


def _people(frame: pd.DataFrame, money: str) -> pd.DataFrame:
    """Return ``frame`` for people: named columns, yes/no for true/false, blank for missing."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == bool or set(out[column].dropna().map(type)) == {bool}:
            out[column] = out[column].map(lambda v: "" if v is None else ("yes" if v else "no"))
    headers = {**HEADERS, "gbp": f"£ {money}"}
    return out.rename(columns=lambda c: headers.get(c, c.replace("_", " ")))


def _rate_parts(summary: Mapping[str, Any]) -> pd.DataFrame:
    columns = [
        "part",
        "period",
        "gbp_per_patient",
        "wte_per_50000",
        "uncertain",
        "source",
        "wte_source",
        "note",
    ]
    return pd.DataFrame(summary["rate"]["parts"]).reindex(columns=columns)


def _summary_rows(summary: Mapping[str, Any], provenance: Mapping[str, Any]) -> pd.DataFrame:
    """Return the key figures as (item, value) rows, as the report's summary shows them."""
    arrangement = summary["arrangement"]
    scope = summary["scope"]
    rows = [
        ("CCGs", ", ".join(f"{c} {scope['ccg_names'].get(c, '')}".strip() for c in scope["ccgs"])),
        ("ICBs", ", ".join(f"{c} {scope['icb_names'].get(c, '')}".strip() for c in scope["icbs"])),
        *((k.replace("_", " ").capitalize(), _text(v)) for k, v in provenance.items()),
        ("Year of the CD funding", summary["rate"]["in_words"]),
        ("Option shown", f"{arrangement['option']}, {summary['options']['limits']}"),
        ("PCNs (CD posts now)", summary["pcns"]),
        ("Practices", summary["practices"]),
        ("Patients", summary["patients"]),
        ("CD posts", arrangement["cd_posts"]),
        ("Posts fewer than now", arrangement["fewer_posts"]),
        ("Funded CD time (WTE)", summary["funded_wte"]),
        (f"£ {summary['gbp_for']}", summary["gbp"]),
        (
            "Funded WTE per post, now and shared",
            f"{arrangement['wte_per_post_now']} → {arrangement['wte_per_post']}",
        ),
        ("£ per post, now and shared", f"{arrangement['gbp_per_post_now']} → {arrangement['gbp_per_post']}"),
        (
            "Mean km to the base, now and shared",
            f"{arrangement['mean_km_own_bases']} → {arrangement['mean_km_to_base']}",
        ),
        ("What sharing saves", arrangement["money_unchanged"]),
        ("Method", arrangement["method"]),
        *(("Note", note) for note in summary["notes"]),
    ]
    return pd.DataFrame(rows, columns=["Item", "Value"])


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(map(str, value))
    return str(value)


def share_tables(
    result: ShareReport, *, provenance: Mapping[str, Any] | None = None
) -> dict[str, pd.DataFrame]:
    """Return the result's tables as people read them: sheet name to table (named columns, yes/no)."""
    summary = result.summary()
    money = summary["gbp_for"]
    sheets = {
        "Summary": _summary_rows(summary, provenance or {}),
        "Options compared": _people(result.compared_table(), money),
        "CD posts": _people(result.posts_table(), money),
        "PCNs": _people(result.arrangement_table(), money),
        "By ICB": _people(result.icbs, money),
        "Left out": _people(result.left_out, money),
        "Funding": _people(_rate_parts(summary), money),
        "Pairs": _people(_named_pairs(result, result.pairs_table()), money),
    }
    clusters = result.clusters_table()
    if len(clusters):
        sheets["Clusters of 3+"] = _people(_named_pairs(result, clusters), money)
    return sheets


# --------------------------------------------------------------------------- the workbook

_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_STAMP = (1980, 1, 1, 0, 0, 0)  # a fixed time in the zip: the same tables give the same bytes


def _cell(value: Any, style: int = 0) -> str:
    """Return one cell's XML: a number, or text written inline; a missing value is an empty cell.

    Cells carry no reference: each row lists every cell in order, so they fall in place.
    """
    styled = f' s="{style}"' if style else ""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "<c/>"
    if isinstance(value, bool):
        value = "yes" if value else "no"
    elif isinstance(value, int | float):
        return f"<c{styled}><v>{value!r}</v></c>" if math.isfinite(value) else "<c/>"
    text = escape(_BAD_XML.sub("", str(value)))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c t="inlineStr"{styled}><is><t{space}>{text}</t></is></c>'


def _cells(column: pd.Series) -> list[str]:
    """Return the XML of every cell of ``column``, numbers written at once where the column is numeric."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=float)
        whole = pd.api.types.is_integer_dtype(column)
        return [
            f"<c><v>{int(v) if whole else v!r}</v></c>" if math.isfinite(v) else "<c/>"
            for v in values.tolist()
        ]
    return [_cell(v) for v in column.tolist()]


def _column(n: int) -> str:
    """Return the letters of the ``n``-th column (0: ``A``, 26: ``AA``)."""
    name = ""
    while n >= 0:
        name = chr(65 + n % 26) + name
        n = n // 26 - 1
    return name


def _sheet(frame: pd.DataFrame) -> str:
    widths = [
        min(60, max([len(str(c)), *(len(str(v)) for v in frame[c].head(200))]) + 2) for c in frame.columns
    ]
    cols = "".join(
        f'<col min="{k + 1}" max="{k + 1}" width="{w}" customWidth="1"/>' for k, w in enumerate(widths)
    )
    columns = [_cells(frame[c]) for c in frame.columns]
    rows = ["<row>" + "".join(_cell(c, 1) for c in frame.columns) + "</row>"]
    rows += ["<row>" + "".join(cells) + "</row>" for cells in zip(*columns, strict=True)]
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:{_column(max(len(frame.columns), 1) - 1)}{len(frame) + 1}"/>'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/></sheetView></sheetViews>'
        f"<cols>{cols}</cols><sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def _sheet_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", name)[:31] or "Sheet"
    out, k = base, 2
    while out.lower() in taken:
        out = f"{base[:28]} {k}"
        k += 1
    taken.add(out.lower())
    return out


def share_workbook(result: ShareReport, *, provenance: Mapping[str, Any] | None = None) -> bytes:
    """Return the result's tables as an ``.xlsx`` workbook: one sheet per table, named columns.

    Written with the standard library (Office Open XML, inline strings, the header row bold
    and frozen); the same result gives the same bytes.
    """
    sheets = share_tables(result, provenance=provenance)
    taken: set[str] = set()
    names = [_sheet_name(n, taken) for n in sheets]
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{k}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for k in range(1, len(names) + 1)
            )
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{main}" '
            f'xmlns:r="{rel}"><sheets>'
            + "".join(
                f'<sheet name="{escape(n, {chr(34): "&quot;"})}" sheetId="{k}" r:id="rId{k}"/>'
                for k, n in enumerate(names, start=1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{package}">'
            + "".join(
                f'<Relationship Id="rId{k}" Type="{rel}/worksheet" Target="worksheets/sheet{k}.xml"/>'
                for k in range(1, len(names) + 1)
            )
            + f'<Relationship Id="rId{len(names) + 1}" Type="{rel}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{main}">'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        ),
        **{f"xl/worksheets/sheet{k}.xml": _sheet(frame) for k, frame in enumerate(sheets.values(), start=1)},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in files.items():
            book.writestr(zipfile.ZipInfo(name, date_time=_STAMP), text.encode("utf-8"), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the page


def _date_words(text: str) -> str:
    """Return ``2022-01-01`` as ``1 January 2022`` (other text as it is)."""
    found = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(text).strip())
    if not found:
        return str(text)
    months = [
        *("January", "February", "March", "April", "May", "June"),
        *("July", "August", "September", "October", "November", "December"),
    ]
    year, month, day = (int(g) for g in found.groups())
    return f"{day} {months[month - 1]} {year}" if 1 <= month <= 12 else str(text)


def share_report_html(
    result: ShareReport,
    *,
    title: str = "current PCNs",
    maps_note: str = "",
    maps: Sequence[tuple[str, str]] = (),
    provenance: Mapping[str, Any] | None = None,
    workbook: str = "",
    maps_index: str = "",
) -> str:
    """Return a readable HTML report of ``result``: what sharing saves, the options side by side, tables.

    Built with jinja2 (autoescape on) from ``templates/share_report.html``; the chart is inline
    SVG, so the file needs nothing else. ``result``: a ``footprint.share.ShareResult``, or
    anything with what :class:`ShareReport` names. ``maps``: (CCG, address) of each CCG's map
    of the shared clusters, linked from the report. ``provenance``: what made it (the data's
    dates, footprint's version, the command, when it was made), shown at the top.
    ``workbook``: the address of the workbook of the same tables, linked; ``maps_index``: the
    address of the maps' index page (every CCG's posts), linked beside the maps.
    """
    summary = result.summary()
    money = summary["gbp_for"]
    posts = result.posts_table()
    shared = posts[posts["size"] > 1].drop(columns=["reason"])
    own = posts[posts["size"] == 1][["pcns", "pcn_names", "patients", "base", "max_km", "reason"]]
    made = dict(provenance or {})
    dates = {
        "list sizes of": _date_words(made.get("list_size_date", made.get("data_date", "unknown"))),
        "PCNs of": _date_words(made.get("data_date", "unknown")),
    }
    template = _ENV.get_template("share_report.html")
    return template.render(
        title=title,
        summary=summary,
        arrangement=summary["arrangement"],
        sessions_per_wte=SESSIONS_PER_WTE,
        svg=Markup(sensitivity_svg(result.compared_table())),  # our own SVG text: numbers and escaped names
        compared=_people(result.compared_table(), money),
        shared=_people(shared, money),
        own=_people(own.rename(columns={"pcns": "pcn_id", "pcn_names": "pcn_name"}), money),
        icbs=_people(result.icbs, money),
        left=_people(result.left_out, money),
        funding=_people(_rate_parts(summary), money),
        pairs=_people(_named_pairs(result, result.pairs_table()), money),
        maps=maps_note,
        map_links=list(maps),
        made=made,
        dates=dates,
        workbook=workbook,
        maps_index=maps_index,
    )
