"""ONS CCG and sub-ICB boundaries for an import: the field holding each area's code, found by content.

:func:`boundaries_from_ons` reads ONS polygons of any vintage and keys them by the NHS codes
of the practices file (``SICBLyyCD``/``CCGyyCD``, else a field of E38 codes, NHS codes or
names ending in the code, or the field named).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd

from footprint.errors import DataError
from footprint.load import read_vector

__all__ = ["boundaries_from_ons"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


#: What a boundary field may hold, as :func:`_field_kind` names it.
_KINDS = {"ons": "ONS E38 codes", "nhs": "NHS codes", "name": "names ending in the NHS code"}


def _field_kind(values: pd.Series, nhs_codes: set[str]) -> str | None:
    """Return what a boundary field holds: ``"ons"`` (E38 codes), ``"nhs"`` codes, ``"name"``, or None."""
    text = values.astype(str).str.strip().str.upper()
    if text.empty:
        return None
    if text.str.fullmatch(r"E38\d{6}").all():
        return "ons"
    if text.str.fullmatch(r"[0-9A-Z]{3,5}").all() and text.isin(nhs_codes).mean() >= 0.5:
        return "nhs"
    ends = text.str.extract(r"\s-\s*([0-9A-Z]{3,5})$")[0]
    if ends.notna().all() and ends.isin(nhs_codes).mean() >= 0.5:
        return "name"
    return None


def _code_field(
    frame: gpd.GeoDataFrame, path: Path, nhs_codes: set[str], code_field: str | None
) -> tuple[str, str, str]:
    """Return the boundary field holding the area code, what it holds and how it was found."""
    fields = [str(c) for c in frame.columns if c != frame.geometry.name]
    if code_field is not None:
        chosen = next((c for c in fields if c.lower() == code_field.strip().lower()), None)
        if chosen is None:
            msg = (
                f"ONS boundaries {path} have no field {code_field!r} (found: {', '.join(fields)}): "
                "name one of those"
            )
            raise DataError(msg)
        kind = _field_kind(frame[chosen], nhs_codes)
        if kind is None:
            msg = (
                f"field {chosen!r} of ONS boundaries {path} holds neither E38 codes, the map file's NHS "
                f"codes nor names ending in them (e.g. {str(frame[chosen].iloc[0])!r}): name the field "
                "holding the sub-ICB or CCG code"
            )
            raise DataError(msg)
        return chosen, kind, "as given"
    named = [c for c in fields if re.fullmatch(r"(SICBL|CCG)\d\dCD", c, re.I)]
    if named:
        return named[0], "ons", "by name"
    kinds = {c: _field_kind(frame[c], nhs_codes) for c in fields}
    for kind in _KINDS:
        found = [c for c, k in kinds.items() if k == kind]
        if found:
            return found[0], kind, "recognised by content"
    msg = (
        f"ONS boundaries {path} have no SICBLyyCD or CCGyyCD column, nor a field holding E38 codes, the "
        f"map file's NHS codes or names ending in them ('... - 16C') (found: {', '.join(fields)}); give ONS "
        "sub-ICB or CCG boundaries, or name the field holding the code with code_field"
    )
    raise DataError(msg)


def _read_boundaries(
    path: PathLike, areas: pd.DataFrame, code_field: str | None
) -> tuple[gpd.GeoDataFrame, tuple[str, ...], tuple[str, ...], str]:
    """Do :func:`boundaries_from_ons`, also saying which field keyed the polygons and how."""
    path = Path(path)
    frame = read_vector(
        path,
        missing=(
            f"ONS boundaries {path} do not exist: give the GeoJSON, GeoPackage or shapefile ONS publishes"
        ),
        unreadable=lambda exc: (
            f"ONS boundaries {path} cannot be read as a vector file ({exc}); give GeoJSON or GeoPackage"
        ),
    )
    pairs = areas[["ccg_ons_code", "ccg_code", "ccg_name"]].drop_duplicates()
    for column in ("ccg_ons_code", "ccg_code"):
        twice = pairs[column][pairs[column].duplicated()]
        if len(twice):
            some = ", ".join(sorted(set(twice))[:10])
            msg = f"the map file pairs {column} {some} with more than one area code"
            raise DataError(msg + ": give the file as published")
    column, kind, how = _code_field(frame, path, set(pairs["ccg_code"]), code_field)
    text = frame[column].astype(str).str.strip().str.upper()
    given = text.str.extract(r"\s-\s*([0-9A-Z]{3,5})$")[0] if kind == "name" else text
    by_nhs = pairs.set_index("ccg_code")
    nhs = given.map(pairs.set_index("ccg_ons_code")["ccg_code"]) if kind == "ons" else given
    keep = nhs.isin(by_nhs.index).to_numpy()
    unmatched = tuple(sorted(set(given[~keep])))
    missing = tuple(sorted(set(by_nhs.index) - set(nhs[keep])))
    matched = by_nhs.reindex(nhs[keep])
    out = gpd.GeoDataFrame(
        {
            "ccg_code": matched.index.to_numpy(),
            "ccg_name": matched["ccg_name"].to_numpy(),
            "ccg_ons_code": matched["ccg_ons_code"].to_numpy(),
        },
        geometry=frame.geometry[keep].to_numpy(),
        crs=frame.crs,
    )
    out = out.to_crs("EPSG:4326") if out.crs is not None else out.set_crs("EPSG:4326")
    logger.info("boundaries %s keyed by field %s (%s, %s)", path, column, _KINDS[kind], how)
    keyed = f"field {column} ({_KINDS[kind]}, {how})"
    return out.sort_values("ccg_code").reset_index(drop=True), unmatched, missing, keyed


def boundaries_from_ons(
    path: PathLike, areas: pd.DataFrame, *, code_field: str | None = None
) -> tuple[gpd.GeoDataFrame, tuple[str, ...], tuple[str, ...]]:
    """Read ONS CCG or sub-ICB boundaries and key them by the NHS code of the practices' areas.

    Parameters
    ----------
    path
        A GeoJSON, GeoPackage or shapefile of ONS sub-ICB locations or CCGs. The field
        holding each polygon's area is, in this order: ``code_field`` when given; a
        ``SICBLyyCD`` or ``CCGyyCD`` column (ONS ``E38...`` code), as ONS publishes them;
        else the first field whose values are all ``E38...`` codes, else the first holding
        the map file's NHS codes (``16C``), else the first holding names that end in them
        (``"NHS North East and North Cumbria ICB - 16C"``), as in republished copies whose
        properties were renamed ``code`` and ``name``.
    areas
        Practices (or areas) with columns ``ccg_code``, ``ccg_ons_code`` and ``ccg_name``:
        how the map file pairs the NHS code with the ONS one.
    code_field
        The field holding the code (case-insensitive): E38 codes, NHS codes or names ending
        in the NHS code, recognised by content; ``None`` finds it as above.

    Returns
    -------
    tuple
        The polygons in EPSG:4326 with columns ``ccg_code``, ``ccg_name`` (the map file's)
        and ``ccg_ons_code``; the codes, as the field gives them, of polygons no area has
        (left out); and the NHS codes of areas without a polygon.

    Raises
    ------
    DataError
        If the file is missing or unreadable, has no field holding the code (or
        ``code_field`` names none, or one holding no code), or the map file pairs one code
        with two others.

    Examples
    --------
    >>> from footprint.sources import boundaries_from_ons
    >>> areas = pd.DataFrame(
    ...     {"ccg_code": ["99C"], "ccg_ons_code": ["E38000127"], "ccg_name": ["North Tyneside"]}
    ... )
    >>> polygons, _, _ = boundaries_from_ons("tests/data/import/months_apart/sub-icbs.geojson", areas)
    >>> list(polygons["ccg_code"])
    ['99C']
    """
    boundaries, unmatched, missing, _ = _read_boundaries(path, areas, code_field)
    return boundaries, unmatched, missing
