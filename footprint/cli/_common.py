"""What every command shares: the data options, rule and solver options, loading and output."""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from footprint._io import atomic_write
from footprint.config import DEFAULT_STAGES, Rules, SizeBand, SolveOptions
from footprint.errors import DataError
from footprint.evaluate import FAR_KM
from footprint.graph import graph_from_practices
from footprint.load import (
    DATA_DIR,
    DEFAULT_SNAPSHOT,
    SNAPSHOTS,
    icb_ccgs,
    read_allow_cross,
    read_boundaries,
    read_practices,
    select_ccgs,
)
from footprint.neighbours import NEIGHBOURS
from footprint.plan import Plan, plan_from_practices, read_plan

if TYPE_CHECKING:
    from footprint._pool import Forked
    from footprint.areas import AreaInputs, NetworkAreas

#: Largest band end, list size or floor a command accepts (England's largest PCN: about 190,000).
MAX_PATIENTS = 2_000_000
#: Largest --far-km, in km (England is about 600 km long).
MAX_KM = 1_000.0
#: Largest time limit, in (deterministic) seconds: a day.
MAX_SECONDS = 86_400.0
#: CP-SAT's random seed is a 32-bit signed integer.
MAX_SEED = 2**31 - 1
#: Most workers or processes a command accepts.
MAX_WORKERS = 64
#: Suffixes of the input files each option reads (geopandas reads the boundary formats).
INPUT_SUFFIXES = {
    "practices": (".csv",),
    "boundaries": (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".zip"),
    "lock": (".csv",),
    "allow_cross": (".csv",),
    "approved": (".csv",),
    "apart": (".csv",),
    "together": (".csv",),
    "rates": (".csv",),
    "plan": (".csv",),
    "lsoa_registrations": (".csv", ".gz"),
    "lsoa_boundaries": (".npz", ".geojson", ".json", ".gpkg", ".shp", ".fgb", ".zip"),
}
#: Options naming folders a command writes into.
OUTPUT_DIRS = ("out", "maps")


#: Library option names in error messages, as the command line spells them.
FLAGS = {
    "impute='postcode'": "--impute-missing",
    "allow-cross file": "--allow-cross file",
    "allow_cross": "--allow-cross",
    "big_may_merge": "--big-may-merge",
    "keep_sites": "--keep-sites",
    "rural_floor": "--rural-floor",
    "the lock file": "the --lock file",
    "the lock": "the --lock file",
    "the proposal": "--proposal",
}


def cli_words(message: str, flags: Mapping[str, str] = FLAGS) -> str:
    """Return a library message with its option names spelled as command-line flags.

    One pass, longest name first, and never inside a flag already spelled out, so that
    "the lock file" and "--allow-cross file" come out once each.

    Examples
    --------
    >>> cli_words("fix the lock file; --allow-cross file x; allow-cross file y")
    'fix the --lock file; --allow-cross file x; --allow-cross file y'
    >>> cli_words("no rate for year 2031/32", {"year ": "--year "})
    'no rate for --year 2031/32'
    """
    # A name that ends in a letter must end a word ("year " names its own end).
    names = [re.escape(n) + (r"(?![-\w])" if n[-1:].isalnum() else "") for n in flags]
    pattern = re.compile(r"(?<![-\w])(?:" + "|".join(sorted(names, key=len, reverse=True)) + ")")
    return pattern.sub(lambda match: flags[match.group(0)], message)


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse type: a whole number in ``[low, high]`` (underscores allowed)."""

    def parse(text: str) -> int:
        try:
            value = float(text.replace("_", ""))
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value != int(value) or not low <= value <= high:
            msg = f"{text!r} is not a whole number from {low:,} to {high:,}"
            raise argparse.ArgumentTypeError(msg)
        return int(value)

    parse.__name__ = "whole number"
    return parse


def seconds(text: str) -> float:
    """Parse a time limit: a number of seconds above 0 and at most a day."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        msg = f"{text!r} is not a number of seconds above 0 and at most {MAX_SECONDS:,.0f}"
        raise argparse.ArgumentTypeError(msg)
    return value


def kilometres(text: str) -> float:
    """Parse a distance in km between 0.1 and :data:`MAX_KM` (``--far-km``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.1 <= value <= MAX_KM:
        msg = f"{text!r} is not a distance from 0.1 to {MAX_KM:,.0f} km: give e.g. 20"
        raise argparse.ArgumentTypeError(msg)
    return value


def band(text: str) -> SizeBand:
    """Parse ``LOW,HIGH``: two whole numbers, 1 <= LOW <= HIGH <= :data:`MAX_PATIENTS`."""
    parts = text.split(",")
    number = whole_number(1, MAX_PATIENTS)
    try:
        if len(parts) != 2:
            raise argparse.ArgumentTypeError("")
        low, high = (number(p.strip()) for p in parts)
    except argparse.ArgumentTypeError:
        msg = f"{text!r} is not LOW,HIGH: two whole numbers of patients from 1 to {MAX_PATIENTS:,}"
        raise argparse.ArgumentTypeError(msg) from None
    if low > high:
        msg = f"{text!r} has LOW above HIGH: give e.g. 30000,50000"
        raise argparse.ArgumentTypeError(msg)
    return SizeBand(low, high)


def check_paths(args: argparse.Namespace) -> None:
    """Check every path option before any work: inputs are readable files, outputs writable folders.

    Raises
    ------
    DataError
        Naming the option, the path, what is wrong and the fix.
    """
    inputs = [(o, getattr(args, o, None)) for o in INPUT_SUFFIXES]
    inputs += [("plan", Path(p)) for p in getattr(args, "plans", None) or () if p != "current"]
    for option, path in inputs:
        if path is None or str(path) == "current":
            continue
        suffixes = INPUT_SUFFIXES[option]
        flag = "PLAN.csv" if option == "plan" else "--" + option.replace("_", "-")
        if not path.exists():
            msg = f"{flag} {path} does not exist: give the path of an existing file"
            raise DataError(msg)
        if not path.is_file():
            msg = f"{flag} {path} is a folder, not a file: give the file itself"
            raise DataError(msg)
        if path.suffix.lower() not in suffixes:
            msg = f"{flag} {path} is not a {' or '.join(suffixes)} file: give {_what(option)}"
            raise DataError(msg)
    for option in OUTPUT_DIRS:
        path = getattr(args, option, None)
        if path is None:
            continue
        existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
        if existing == path and not path.is_dir():
            msg = f"--{option} {path} is a file, not a folder: give a folder to write into"
            raise DataError(msg)
        if not existing.is_dir() or not _can_create_in(existing):
            msg = (
                f"--{option} {path} cannot be written ({existing} is not a writable folder): "
                "give another folder"
            )
            raise DataError(msg)


def _can_create_in(folder: Path) -> bool:
    """Return whether a folder can really be made in ``folder`` (access bits lie for root and /proc)."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".footprint-check-"))
    except OSError:
        return False
    return True


def _what(option: str) -> str:
    return {
        "practices": "a practices CSV (see README, 'Practices file')",
        "boundaries": "polygons geopandas reads (GeoJSON, GeoPackage, shapefile) with a ccg_code column",
        "plan": "a plan CSV with columns practice_code,pcn_id",
        "lock": "a plan CSV with columns practice_code,pcn_id",
        "allow_cross": "a CSV with columns practice_code,ccg_code",
        "approved": "a CSV with columns pcn_id,reason",
        "apart": "a CSV with columns practice_a,practice_b",
        "together": "a CSV with columns practice_a,practice_b",
        "rates": "a CD payment rates CSV (see README, footprint share)",
        "lsoa_registrations": "a patients-by-LSOA file made by footprint import --lsoa",
        "lsoa_boundaries": "LSOA polygons (the shipped .npz, GeoJSON, GeoPackage or shapefile)",
    }[option]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"footprint: error: {message} (see {self.prog} --help)\n")


class _Codes(argparse.Action):
    """Collect codes given as ``A B``, as ``A,B`` or with the option repeated (``--ccg A --ccg B``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,  # noqa: ARG002 - argparse's signature
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,  # noqa: ARG002 - argparse's signature
    ) -> None:
        given = [values] if isinstance(values, str) else list(values or ())
        codes = [code.strip() for value in given for code in str(value).split(",") if code.strip()]
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), *codes])


def data_options() -> Parser:
    """Return the parent parser of the options every command takes (data, CCGs, output, -v)."""
    shared = Parser(add_help=False)
    group = shared.add_argument_group("data")
    group.add_argument(
        "--practices", metavar="CSV", type=Path, help="practices file (default: the shipped England file)"
    )
    group.add_argument(
        "--boundaries", metavar="FILE", type=Path, help="CCG/sub-ICB polygons (default: the shipped 106 CCGs)"
    )
    group.add_argument(
        "--impute-missing",
        action="store_true",
        help="place practices without coordinates from their postcode neighbours instead of stopping",
    )
    group.add_argument(
        "--data",
        choices=sorted(SNAPSHOTS),
        default=DEFAULT_SNAPSHOT,
        help="shipped snapshot of England: "
        + "; ".join(f"{name}: {snap.about}" for name, snap in SNAPSHOTS.items())
        + f" (default {DEFAULT_SNAPSHOT}; --practices and --boundaries override it)",
    )
    group.add_argument(
        "--ccg", metavar="CODE", nargs="+", action=_Codes, help="only these CCGs (default: all)"
    )
    group.add_argument(
        "--icb",
        metavar="CODE",
        nargs="+",
        action=_Codes,
        help="only the CCGs (sub-ICB locations) of these ICBs, by code (QHM) or ONS code (E54...); "
        "on 2022 data the STP",
    )
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="read and build everything again (graph, CCG polygons, network areas), ignoring the cache",
    )
    group.add_argument(
        "--neighbours",
        choices=NEIGHBOURS,
        help="what makes practices of a CCG neighbours in the graph every command works on: cells "
        "(their Voronoi cells share a border; the default) or patients (the two share at least half "
        "the smaller practice's patients in the same or touching LSOAs: the shipped July 2022 "
        "registrations, or --lsoa-registrations where the command takes it; see docs/guides/areas.md)",
    )
    group.add_argument("--out", metavar="DIR", type=Path, help="output folder (default: out/<command>/)")
    shared.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    return shared


def add_plan_argument(parser: argparse.ArgumentParser, *, verb: str) -> None:
    """Add the optional ``PLAN.csv`` argument (default: the current PCNs of the practices file)."""
    parser.add_argument(
        "plan",
        metavar="PLAN.csv",
        nargs="?",
        type=Path,
        help=f"plan to {verb}, given before --ccg (default: the current PCNs of the practices file)",
    )


def add_approved_option(group: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--approved FILE``: groups a commissioner approved as exceptions to the band."""
    group.add_argument(
        "--approved", type=Path, metavar="FILE", help="CSV pcn_id,reason: groups approved as exceptions"
    )


def add_allow_cross_option(group: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--allow-cross FILE``: practices that may join a network of another CCG."""
    group.add_argument(
        "--allow-cross",
        type=Path,
        metavar="FILE",
        help="CSV practice_code,ccg_code: may join that CCG's network",
    )


def add_band_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the band rule's options (band, rural waiver, big practices); return their group."""
    defaults = Rules()
    rule = parser.add_argument_group("rules")
    rule.add_argument(
        "--band",
        type=band,
        default=defaults.band,
        metavar="LOW,HIGH",
        help=f"list-size band: whole numbers, 1 <= LOW <= HIGH <= {MAX_PATIENTS:,} "
        f"(default {defaults.band.low},{defaults.band.high})",
    )
    rule.add_argument(
        "--rural", metavar="CCG,...", help="CCGs whose practices may form groups below the band"
    )
    rule.add_argument(
        "--rural-floor",
        type=whole_number(1, MAX_PATIENTS),
        default=defaults.rural_floor,
        metavar="N",
        help="smallest list size of a group of rural practices, 1 to the band's LOW (%(default)s)",
    )
    rule.add_argument(
        "--big-may-merge",
        action="store_true",
        help="let practices over the band absorb neighbours (else each stands alone, exempt)",
    )
    rule.add_argument(
        "--far-km",
        type=kilometres,
        default=FAR_KM,
        metavar="KM",
        help=f"flag members further than this from their PCN's list-weighted centre, 0.1 to "
        f"{MAX_KM:,.0f} km (default %(default)s)",
    )
    return rule


def add_rule_options(parser: argparse.ArgumentParser, *, stay_close: bool = True) -> None:
    """Add the planning-rule options: the band rule, buildings, locks and CCG crossings."""
    rule = add_band_options(parser)
    rule.add_argument("--keep-sites", action="store_true", help="never split practices of one building")
    rule.add_argument("--lock", type=Path, metavar="PLAN.csv", help="agreed groups that keep their members")
    add_allow_cross_option(rule)
    if stay_close:
        rule.add_argument(
            "--stay-close", action="store_true", help="prefer fewest practices moved from current PCNs"
        )


def add_solver_options(parser: argparse.ArgumentParser) -> None:
    """Add the CP-SAT options (seed, workers, processes, limits, raw parameters)."""
    defaults = SolveOptions()
    solve = parser.add_argument_group("solver")
    solve.add_argument(
        "--seed",
        type=whole_number(0, MAX_SEED),
        default=defaults.seed,
        help=f"CP-SAT random seed, 0 to {MAX_SEED:,} (%(default)s)",
    )
    solve.add_argument(
        "--workers",
        type=whole_number(1, MAX_WORKERS),
        default=defaults.workers,
        help=f"CP-SAT workers per CCG, 1 to {MAX_WORKERS} (%(default)s; stage 1 uses at least 2)",
    )
    solve.add_argument(
        "--processes",
        type=whole_number(1, MAX_WORKERS),
        default=defaults.processes,
        help=f"CCGs solved at once, 1 to {MAX_WORKERS} (%(default)s)",
    )
    solve.add_argument(
        "--time-limit",
        type=seconds,
        default=defaults.time_limit_s,
        metavar="S",
        help="deterministic seconds per CCG for each stage after the first (repair: for the moves "
        f"where longer than their 1 to 1.5 s), above 0 and at most {MAX_SECONDS:,.0f} (%(default)s)",
    )
    solve.add_argument(
        "--proof-limit",
        type=seconds,
        default=defaults.proof_limit_s,
        metavar="S",
        help="deterministic seconds per CCG to prove the fewest out-of-band groups, above 0 and at "
        f"most {MAX_SECONDS:,.0f} (%(default)s)",
    )
    solve.add_argument("--params", metavar="TEXT", help="raw CP-SAT parameters, e.g. 'linearization_level:2'")


def add_map_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-maps`` and ``--maps DIR`` for commands that also draw maps."""
    parser.add_argument("--no-maps", action="store_true", help="do not write the HTML maps")
    parser.add_argument("--maps", metavar="DIR", type=Path, help="folder for the HTML maps (default: maps/)")


def write_pcns(
    plan: Plan,
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    out: Path,
    *,
    rules: Rules,
    areas: NetworkAreas,
    names: Any = None,
) -> None:
    """Write pcns.geojson and pcns_cells.geojson of ``plan``: one row per network, named.

    Each row: ``pcn_id``, ``ccg_code``, ``list_size``, ``members``, ``in_band``, ``status``,
    ``pcn_name``, ``pcn_name_new`` (``names`` as :func:`footprint.places.group_names` returns;
    made when not given); pcns.geojson adds the area figures of :func:`write_areas`.
    """
    shapes = _network_cells(plan, practices, graph, rules=rules, names=names)
    write_areas(areas, shapes, out)
    _write_geojson(shapes, out / "pcns_cells.geojson")


def _network_cells(
    plan: Plan,
    practices: gpd.GeoDataFrame,
    graph: nx.Graph,
    *,
    rules: Rules,
    names: Any,
    drawn: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """Return the rows of pcns_cells.geojson (see :func:`write_pcns`): each network with its cells.

    ``drawn``: only these networks' cells are joined (the others' geometry is ``None``).
    """
    from footprint.evaluate import group_table
    from footprint.graph import cells
    from footprint.places import group_names
    from footprint.plan import group_areas

    names = names if names is not None else group_names(plan, practices)
    table = group_table(plan, practices, rules=rules)
    shapes = group_areas(plan, cells(graph), practices, drawn=drawn)
    shapes["in_band"] = table.loc[shapes.index, "in_band"].to_numpy()
    shapes["status"] = table.loc[shapes.index, "status"].to_numpy()
    shapes["pcn_name"] = [names[p] for p in shapes.index]
    shapes["pcn_name_new"] = [p in names.new for p in shapes.index]
    return shapes


class Networks:
    """A plan's network files, written while the command does its own work (:func:`networks_beside`)."""

    def __init__(self, task: Forked[tuple[dict[str, Any], Any]], inputs: Inputs, *, rules: Rules) -> None:
        self._task, self._inputs, self._rules = task, inputs, rules
        self._given: tuple[Plan, Path] | None = None

    def write(self, plan: Plan, out: Path) -> None:
        """Hand ``plan`` to the forked process, which works out its areas for pcns.geojson in ``out``."""
        self._given = (plan, out)
        self._task.send(self._given)

    def figures(self, *, names: Any) -> dict[str, Any]:
        """Hand over the names; write pcns_cells.geojson, wait for pcns.geojson, return the areas' figures.

        ``names`` as :func:`write_pcns`. Where maps are drawn (no ``--no-maps``), the areas
        are handed to them too (``graph.graph["areas"]``).
        """
        if self._given is None:
            msg = "Networks.figures needs Networks.write first"
            raise RuntimeError(msg)
        self._task.send(names)
        plan, out = self._given
        inputs = self._inputs
        cells = _network_cells(plan, inputs.practices, inputs.graph, rules=self._rules, names=names)
        _write_geojson(cells, out / "pcns_cells.geojson")
        summary, table = self._task.result()
        if table is not None:
            inputs.graph.graph["areas"] = table
        return summary


@contextmanager
def networks_beside(args: argparse.Namespace, inputs: Inputs, *, rules: Rules) -> Iterator[Networks]:
    """Write :func:`write_pcns`'s files of a plan while the command does its own work.

    A forked process (:func:`footprint._pool.forked`) reads the network areas' inputs at
    once, while the plan is solved; handed the plan (:meth:`Networks.write`), it works out
    the areas, while the command names the networks and writes plan.csv and its summary
    (England's areas take one to three seconds); handed the names
    (:meth:`Networks.figures`), it writes pcns.geojson while the command writes
    pcns_cells.geojson; then the command takes the areas' figures
    (:func:`footprint.areas.area_summary`).
    """
    from footprint._pool import forked
    from footprint.areas import area_summary

    maps = not getattr(args, "no_maps", True)

    def areas(receive: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
        prepared = area_inputs_from_args(args, inputs)  # read while the plan is solved
        plan, out = receive()
        network = areas_from_args(args, inputs, plan, prepared=prepared)
        shapes = network.areas.geometry
        # Only the networks the registrations do not cover are drawn from their cells.
        drawn = set(plan.groups) - set(shapes.index[~shapes.isna() & ~shapes.is_empty])
        names = receive()
        cells = _network_cells(plan, inputs.practices, inputs.graph, rules=rules, names=names, drawn=drawn)
        write_areas(network, cells, out)
        return area_summary(network), network.areas if maps else None

    with forked(areas) as task:
        yield Networks(task, inputs, rules=rules)


def write_areas(areas: NetworkAreas, cells: gpd.GeoDataFrame, out: Path) -> None:
    """Write pcns.geojson: each network's area from where its patients live.

    ``cells`` is the plan's table of networks with their cells as geometry (as pcns_cells.geojson
    has it); pcns.geojson has the same columns plus ``area_from``, ``patients_registered``,
    ``inside``, ``share_inside`` and ``pieces``, and for a network the registrations do not
    cover, its cells.
    """
    table = areas.areas.reindex(cells.index)
    shapes = table.geometry.where(~table.geometry.isna() & ~table.geometry.is_empty, cells.geometry)
    frame = cells.drop(columns="geometry").assign(
        area_from=table["area_from"].fillna("cells").to_numpy(),
        patients_registered=table["patients"].fillna(0).astype("int64").to_numpy(),
        inside=table["inside"].fillna(0).astype("int64").to_numpy(),
        share_inside=table["share_inside"].to_numpy(),
        pieces=table["pieces"].fillna(0).astype("int64").to_numpy(),
    )
    _write_geojson(gpd.GeoDataFrame(frame, geometry=shapes.to_numpy(), crs=cells.crs), out / "pcns.geojson")


def _write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as GeoJSON (:func:`_geojson`), its index a column."""
    with atomic_write(path) as fh:
        fh.write(_geojson(frame.reset_index()))


def areas_line(figures: dict) -> str:
    """Say in one line what the network areas from where patients live show."""
    return (
        f"network areas (where patients live): median {figures['median_share_inside']:.0%} of a network's "
        f"patients live in its area; {figures['in_several_pieces']:,} of {figures['networks']:,} areas in "
        f"more than one piece (median {figures['median_share_outside_largest_piece']:.0%} of their patients "
        f"outside the largest), {figures['enclosed']} enclosed by another, "
        f"{figures['lsoas_left_to_no_network']} LSOA(s) left to no network{_uncovered(figures)}"
    )


def _uncovered(figures: dict) -> str:
    """Say which practices the registrations miss, and how many networks are drawn from cells."""
    missed, cells = figures["practices_not_in_registrations"], figures["networks_drawn_from_cells"]
    if not missed:
        return ""
    shown = ", ".join(missed[:5]) + (" ..." if len(missed) > 5 else "")
    return (
        f"; {len(missed):,} practice(s) not in the registrations ({shown}): counted for no LSOA, "
        f"{len(cells):,} network(s) with none of theirs drawn from cells"
    )


def _geojson(frame: gpd.GeoDataFrame) -> str:
    """Return ``frame`` as GeoJSON in WGS84, coordinates to six decimals (about 0.1 m).

    Written by GEOS (``shapely.to_geojson``), some four times faster than ``GeoDataFrame.to_json``
    on England's areas, with the same properties.
    """
    lonlat = frame.to_crs("EPSG:4326")
    geoms = shapely.transform(lonlat.geometry.to_numpy(), lambda xy: np.round(xy, 6))
    shapes = ["null" if g is None else g for g in shapely.to_geojson(geoms)]
    properties = pd.DataFrame(lonlat.drop(columns=lonlat.geometry.name)).to_json(orient="records", lines=True)
    features = [
        f'{{"type": "Feature", "properties": {props}, "geometry": {shape}}}'
        for props, shape in zip(properties.splitlines(), shapes, strict=True)
    ]
    return '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"


def add_area_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--lsoa-registrations`` and ``--lsoa-boundaries``: the inputs of network areas."""
    group = parser.add_argument_group("network areas (where patients live)")
    group.add_argument(
        "--lsoa-registrations",
        metavar="FILE",
        type=Path,
        help="patients of each practice by LSOA, made by footprint import --lsoa (default: the shipped "
        "July 2022 file)",
    )
    group.add_argument(
        "--lsoa-boundaries",
        metavar="FILE",
        type=Path,
        help="LSOA polygons of the registrations' vintage, with a LSOA11CD/LSOA21CD/code column (default: "
        "the shipped England LSOAs of 2011)",
    )


def area_inputs_from_args(args: argparse.Namespace, inputs: Inputs) -> AreaInputs:
    """Return what network areas need besides the plan, for the CCGs asked for.

    See :func:`footprint.areas.area_inputs`.
    """
    from footprint.areas import AreaSources, area_inputs

    return area_inputs(
        inputs.practices,
        boundaries=inputs.boundaries,
        ccgs=inputs.ccgs,
        sources=AreaSources(
            lsoas=getattr(args, "lsoa_boundaries", None),
            registrations=getattr(args, "lsoa_registrations", None),
        ),
        use_cache=not args.no_cache,
    )


def areas_from_args(
    args: argparse.Namespace, inputs: Inputs, plan: Plan, *, prepared: AreaInputs | None = None
) -> NetworkAreas:
    """Return the plan's network areas (:func:`footprint.areas.network_areas`) for the CCGs asked for.

    From ``prepared`` where given (:func:`area_inputs_from_args`). Codes the LSOA boundaries
    do not know are said on stderr with their patients, never dropped silently.
    """
    from footprint.areas import areas_of

    prepared = prepared if prepared is not None else area_inputs_from_args(args, inputs)
    areas = areas_of(plan, prepared, cells=inputs.graph.graph.get("cells"))
    far_registrations_note(args, inputs.practices)
    unknown = areas.unknown_codes
    if len(unknown):
        shown = ", ".join(f"{c} ({int(n):,})" for c, n in unknown["patients"].head(3).items())
        print(
            f"network areas: {int(unknown['patients'].sum()):,} patients live in {len(unknown):,} "
            f"LSOA code(s) the LSOA boundaries lack (e.g. {shown}): counted as living outside every area",
            file=sys.stderr,
        )
    return areas


#: Months between the practices' date and the shipped registrations' beyond which a command says so.
FAR_REGISTRATIONS_MONTHS = 12


def far_registrations_note(args: argparse.Namespace, practices: pd.DataFrame) -> None:
    """Say on stderr when the shipped registrations are over a year from the practices' date."""
    from footprint.lsoas import REGISTRATIONS_MONTH

    if getattr(args, "lsoa_registrations", None) is not None or "data_date" not in practices:
        return
    dates = pd.to_datetime(practices["data_date"], errors="coerce").dropna()
    if dates.empty:
        return
    newest = dates.max()
    shipped = pd.Timestamp(f"{REGISTRATIONS_MONTH}-01")
    months = abs((newest.year - shipped.year) * 12 + newest.month - shipped.month)
    if months > FAR_REGISTRATIONS_MONTHS:
        print(
            f"network areas: drawn from the shipped registrations of {REGISTRATIONS_MONTH}, "
            f"{months} months from the practices' date {newest.date()}: practices not in them count "
            "for no LSOA; give --lsoa-registrations FILE of a nearer month (footprint import --lsoa)",
            file=sys.stderr,
        )


def rules_from_args(args: argparse.Namespace) -> Rules:
    """Return the :class:`Rules` the rule options ask for."""
    stages = list(DEFAULT_STAGES)
    if getattr(args, "stay_close", False):
        stages.insert(stages.index("compactness"), "moves")
    try:
        return Rules(
            band=args.band,
            rural_ccgs=frozenset(c for c in (args.rural or "").split(",") if c.strip()),
            rural_floor=args.rural_floor,
            big_may_merge=args.big_may_merge,
            keep_sites=getattr(args, "keep_sites", False),
            stages=tuple(stages),
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None


def solve_options_from_args(args: argparse.Namespace) -> SolveOptions:
    """Return the :class:`SolveOptions` the solver options ask for."""
    try:
        return SolveOptions(
            time_limit_s=args.time_limit,
            proof_limit_s=args.proof_limit,
            workers=args.workers,
            processes=args.processes,
            seed=args.seed,
            params=args.params or "",
        )
    except ValueError as exc:
        raise DataError(str(exc)) from None


class Inputs(NamedTuple):
    """What a command reads: the practices of the CCGs asked for, boundaries, graph, and everyone.

    ``practices`` and ``graph`` hold the CCGs asked for (``scope``; empty for all) and, once
    :func:`widen_to_groups` has seen a plan, the members ``outside`` them of its groups that
    cross the line, so that a PCN is whole in every figure. ``everyone`` and ``whole_graph``
    keep every practice of the file.
    """

    practices: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame
    graph: nx.Graph
    everyone: gpd.GeoDataFrame
    whole_graph: nx.Graph
    scope: tuple[str, ...] = ()
    outside: frozenset[str] = frozenset()

    @property
    def ccgs(self) -> list[str]:
        """The CCGs asked for (every CCG of the file when ``--ccg`` is not given)."""
        return list(self.scope) or sorted(set(self.everyone["ccg_code"]))


def load_inputs(args: argparse.Namespace, *, all_ccgs: bool = False) -> Inputs:
    """Read practices and boundaries and build the graph, limited to ``--ccg`` unless ``all_ccgs``.

    ``everyone`` keeps every practice of the file, so that files naming practices of other
    CCGs can be told apart from files naming unknown practices.
    """
    impute: Literal["postcode"] | None = "postcode" if args.impute_missing else None
    everyone = read_practices(practices_path(args), impute=impute)
    boundaries = read_boundaries(boundaries_path(args), use_cache=not args.no_cache)
    graph = graph_from_practices(
        everyone,
        boundaries,
        neighbours=getattr(args, "neighbours", None) or "cells",
        registrations=getattr(args, "lsoa_registrations", None),
        lsoas=getattr(args, "lsoa_boundaries", None),
        use_cache=not args.no_cache,
    )
    if getattr(args, "icb", None):  # an ICB is its CCGs: every command then reads --ccg alone
        args.ccg = sorted({*(args.ccg or ()), *icb_ccgs(everyone, args.icb)})
    if all_ccgs or not args.ccg:
        return Inputs(everyone, boundaries, graph, everyone, graph)
    practices = select_ccgs(everyone, args.ccg)
    scope = tuple(sorted(set(practices["ccg_code"])))
    return Inputs(practices, boundaries, graph.subgraph(practices.index).copy(), everyone, graph, scope)


def widen_to_groups(inputs: Inputs, *plans: Plan) -> Inputs:
    """Return ``inputs`` with every member of the plans' groups that have a member in scope.

    A PCN that crosses the line of the CCGs asked for (U41591: two practices in 11N, two in
    15N) is whole in every figure; a line on stderr names its members outside ``--ccg``.
    Only groups with a member in the CCGs asked for count: a member outside brings in no more.
    """
    if not inputs.scope:
        return inputs
    scope, known = _scope(inputs), set(inputs.everyone.index)
    outside = set(inputs.outside)
    for plan in plans:
        for group, members in sorted(plan.groups.items()):
            extra = sorted((members & known) - scope - outside)
            if extra and members & scope:
                outside.update(extra)
                ccgs = inputs.everyone.loc[extra, "ccg_code"]
                named = ", ".join(f"{c} ({ccg})" for c, ccg in ccgs.items())
                print(f"{group} crosses --ccg: counted whole, with {named} outside it", file=sys.stderr)
    if outside == inputs.outside:
        return inputs
    practices = inputs.everyone[inputs.everyone.index.isin(scope | outside)]
    graph = inputs.whole_graph.subgraph(practices.index).copy()
    return inputs._replace(practices=practices, graph=graph, outside=frozenset(outside))


def _scope(inputs: Inputs) -> set[str]:
    """Return the codes of the practices of the CCGs asked for."""
    return set(inputs.practices.index) - inputs.outside


def in_scope(plan: Plan, inputs: Inputs) -> Plan:
    """Return ``plan``'s rows of the CCGs asked for and of every member of their groups."""
    scope = _scope(inputs)
    keep = set(scope)
    for members in plan.groups.values():
        if members & scope:
            keep |= members
    return plan.restrict(sorted(keep))


def practices_path(args: argparse.Namespace) -> Path | None:
    """Return the practices file: ``--practices``, else the ``--data`` snapshot's (``None``: the default)."""
    if args.practices is not None:
        return Path(args.practices)
    name = getattr(args, "data", DEFAULT_SNAPSHOT)
    return None if name == DEFAULT_SNAPSHOT else SNAPSHOTS[name].practices


def boundaries_path(args: argparse.Namespace) -> Path | None:
    """Return the boundaries file: ``--boundaries``, else the ``--data`` snapshot's."""
    if args.boundaries is not None:
        return Path(args.boundaries)
    name = getattr(args, "data", DEFAULT_SNAPSHOT)
    return None if name == DEFAULT_SNAPSHOT else SNAPSHOTS[name].boundaries


def load(args: argparse.Namespace, *, all_ccgs: bool = False) -> tuple[gpd.GeoDataFrame, Any, nx.Graph]:
    """Read practices (of the CCGs asked for, unless ``all_ccgs``) and boundaries; build the graph."""
    return load_inputs(args, all_ccgs=all_ccgs)[:3]


def read_plan_option(path: Path, inputs: Inputs, *, what: str) -> Plan:
    """Read a plan-shaped file (``--lock``, a plan argument) for the practices selected.

    Rows of practices in the file's other CCGs (outside ``--ccg``) are ignored, and a
    line says how many; practices in no CCG of the practices file are an error, and so is
    a file with no practice of the CCGs asked for.
    """
    return selected_rows(read_plan(path, inputs.everyone), path, inputs, what=what)


def selected_rows(plan: Plan, path: Path, inputs: Inputs, *, what: str, read: int | None = None) -> Plan:
    """Return ``plan``'s rows of the practices selected; say how many others were ignored.

    ``read``: how many rows the file had, where ``plan`` is already cut down.
    """
    kept = plan.restrict(inputs.practices.index)
    ignored = (len(plan) if read is None else read) - len(kept)
    if (read or len(plan)) and not len(kept):
        ccgs = ", ".join(sorted(set(inputs.practices["ccg_code"])))
        msg = f"{what} {path} names no practice of the CCGs asked for ({ccgs}): it is for another area"
        raise DataError(msg)
    if ignored:
        print(f"{what} {path}: ignored {ignored:,} row(s) of practices outside --ccg", file=sys.stderr)
    return kept


def read_plan_file(path: Path | None, inputs: Inputs) -> Plan:
    """Read a plan file for every practice of the file (``None``: the current PCNs)."""
    return plan_from_practices(inputs.everyone) if path is None else read_plan(path, inputs.everyone)


def read_whole_plan(path: Path | None, inputs: Inputs, *, what: str = "PLAN.csv") -> tuple[Plan, Inputs]:
    """Read the plan a command judges (``None``: the current PCNs), with its groups whole.

    Returns the plan for the practices selected and the inputs widened to the whole of its
    groups in scope (:func:`widen_to_groups`): members outside ``--ccg`` are kept, and named.
    """
    plan = read_plan_file(path, inputs)
    widened = widen_to_groups(inputs, plan)
    if path is None:
        return in_scope(plan, widened), widened
    return selected_rows(in_scope(plan, widened), path, widened, what=what, read=len(plan)), widened


def read_allow_cross_option(path: Path, inputs: Inputs) -> dict[str, str]:
    """Read ``--allow-cross`` for the practices selected, ignoring (and counting) the rest."""
    allow = read_allow_cross(path)
    unknown = sorted(set(allow) - set(inputs.everyone.index))
    if unknown:
        msg = (
            f"--allow-cross file {path} names practice(s) not in the practices file: "
            f"{', '.join(unknown[:10])}; remove those rows"
        )
        raise DataError(msg)
    kept = {c: t for c, t in allow.items() if c in inputs.practices.index}
    if len(kept) < len(allow):
        print(
            f"--allow-cross {path}: ignored {len(allow) - len(kept):,} row(s) of practices outside --ccg",
            file=sys.stderr,
        )
    return kept


def check_rural(rules: Rules, practices: pd.DataFrame) -> None:
    """Refuse ``--rural`` codes that are no CCG of the practices file."""
    unknown = sorted(rules.rural_ccgs - set(practices["ccg_code"]))
    if unknown:
        known = ", ".join(sorted(set(practices["ccg_code"]))[:12])
        msg = f"--rural names CCG(s) {', '.join(unknown)} not in the practices file (its CCGs: {known}, ...)"
        raise DataError(msg)


def out_dir(args: argparse.Namespace) -> Path:
    """Return (and create) the command's output folder: ``--out`` or ``out/<command>/``."""
    out = args.out if args.out is not None else Path("out") / args.command
    out.mkdir(parents=True, exist_ok=True)
    return out


def maps_dir(args: argparse.Namespace, default: Path = Path("maps")) -> Path:
    """Return the folder the command's maps go into: ``--maps``, else ``default``."""
    return args.maps if args.maps is not None else default


@contextmanager
def progress_bar(desc: str, *, unit: str = "CCG", total: int | None = None) -> Iterator[Callable[..., None]]:
    """Yield a callback ``update(done=None, total=None, postfix="")`` drawing a tqdm bar on stderr."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr) as bar:

        def update(done: int | None = None, of: int | None = None, postfix: str = "") -> None:
            if of is not None:
                bar.total = of
            if postfix:
                bar.set_postfix_str(postfix)
            bar.update((done - bar.n) if done is not None else 1)

        yield update


def provenance(args: argparse.Namespace, practices: pd.DataFrame) -> dict[str, Any]:
    """Return what made an output: footprint's version, the data's date and files, and the options.

    Written into every summary and printed on maps and pages, so a file found later can be traced.
    """
    from footprint import __version__

    dates = sorted(set(practices["data_date"].dropna().astype(str))) if "data_date" in practices else []
    sizes = (
        sorted(set(practices["list_size_date"].dropna().astype(str))) if "list_size_date" in practices else []
    )
    options = {
        k: (str(v) if isinstance(v, Path | SizeBand) else v)
        for k, v in sorted(vars(args).items())
        if k not in {"func", "verbose", "argv"} and v not in (None, False)
    }
    if isinstance(args.band if "band" in args else None, SizeBand):
        options["band"] = f"{args.band.low},{args.band.high}"
    return {
        "footprint_version": __version__,
        "data_date": ", ".join(dates) or "unknown",
        **({"list_size_date": ", ".join(sizes)} if sizes and sizes != dates else {}),
        "practices_file": _shipped_or(args.practices, args, "practices"),
        "boundaries_file": _shipped_or(args.boundaries, args, "boundaries"),
        **(_area_files(args) if "lsoa_registrations" in args else {}),
        "command": shlex.join(["footprint", *args.argv]),
        "options": options,
    }


def _area_files(args: argparse.Namespace) -> dict[str, str]:
    """Name the registrations and LSOA polygons the network areas are drawn from."""
    from footprint.lsoas import LSOA_FILE, REGISTRATIONS_FILE, REGISTRATIONS_MONTH

    root = DATA_DIR.parent
    return {
        "registrations_file": str(args.lsoa_registrations)
        if args.lsoa_registrations is not None
        else f"shipped {REGISTRATIONS_MONTH}: {REGISTRATIONS_FILE.relative_to(root)}",
        "lsoa_boundaries_file": str(args.lsoa_boundaries)
        if args.lsoa_boundaries is not None
        else f"shipped: {LSOA_FILE.relative_to(root)}",
    }


def _shipped_or(path: Path | None, args: argparse.Namespace, what: Literal["practices", "boundaries"]) -> str:
    """Name a file given, or the shipped snapshot's file it defaulted to."""
    if path is not None:
        return str(path)
    name = getattr(args, "data", DEFAULT_SNAPSHOT)
    shipped = getattr(SNAPSHOTS[name], what)
    return f"shipped {name}: {shipped.relative_to(DATA_DIR.parent)}"


def metrics_table(metrics: pd.DataFrame) -> str:
    """Return plan figures (as :func:`footprint.evaluate.compare_plans` gives them) for the terminal."""
    shown = metrics.astype(object)
    for row in shown.index:
        shown.loc[row] = [
            f"{v:.2%}" if row == "in_band_share" else f"{v:,.3f}" if v != int(v) else f"{int(v):,}"
            for v in metrics.loc[row]
        ]
    return shown.to_string()
