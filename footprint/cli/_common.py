"""What every command shares: the data options, rule and solver options, loading and output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import networkx as nx

from footprint.config import DEFAULT_STAGES, Rules, SizeBand, SolveOptions
from footprint.errors import DataError
from footprint.graph import graph_from_practices
from footprint.load import read_boundaries, read_practices, select_ccgs


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"footprint: error: {message} (see {self.prog} --help)\n")


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
    group.add_argument("--ccg", metavar="CODE", nargs="+", help="only these CCGs (default: all)")
    group.add_argument(
        "--no-cache", action="store_true", help="rebuild the adjacency graph, ignoring the cache"
    )
    group.add_argument("--out", metavar="DIR", type=Path, help="output folder (default: out/<command>/)")
    shared.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    return shared


def add_band_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the band rule's options (band, rural waiver, big practices); return their group."""
    defaults = Rules()
    rule = parser.add_argument_group("rules")
    rule.add_argument(
        "--band",
        default=f"{defaults.band.low},{defaults.band.high}",
        metavar="LOW,HIGH",
        help="list-size band (default %(default)s)",
    )
    rule.add_argument(
        "--rural", metavar="CCG,...", help="CCGs whose practices may form groups below the band"
    )
    rule.add_argument(
        "--rural-floor",
        type=int,
        default=defaults.rural_floor,
        metavar="N",
        help="rural groups' floor (%(default)s)",
    )
    rule.add_argument(
        "--big-may-merge",
        action="store_true",
        help="let practices over the band absorb neighbours (else each stands alone, exempt)",
    )
    return rule


def add_rule_options(parser: argparse.ArgumentParser, *, stay_close: bool = True) -> None:
    """Add the planning-rule options: the band rule, buildings, locks and CCG crossings."""
    rule = add_band_options(parser)
    rule.add_argument("--keep-sites", action="store_true", help="never split practices of one building")
    rule.add_argument("--lock", type=Path, metavar="PLAN.csv", help="agreed groups that keep their members")
    rule.add_argument(
        "--allow-cross",
        type=Path,
        metavar="FILE",
        help="CSV practice_code,ccg_code: may join that CCG's network",
    )
    if stay_close:
        rule.add_argument(
            "--stay-close", action="store_true", help="prefer fewest practices moved from current PCNs"
        )


def add_solver_options(parser: argparse.ArgumentParser) -> None:
    """Add the CP-SAT options (seed, workers, processes, limits, raw parameters)."""
    defaults = SolveOptions()
    solve = parser.add_argument_group("solver")
    solve.add_argument("--seed", type=int, default=defaults.seed, help="CP-SAT random seed (%(default)s)")
    solve.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="CP-SAT workers per CCG (%(default)s; stage 1 >= 2)",
    )
    solve.add_argument(
        "--processes", type=int, default=defaults.processes, help="CCGs solved at once (%(default)s)"
    )
    solve.add_argument(
        "--time-limit",
        type=float,
        default=defaults.time_limit_s,
        metavar="S",
        help="deterministic seconds per CCG for each stage after the first (%(default)s)",
    )
    solve.add_argument(
        "--proof-limit",
        type=float,
        default=defaults.proof_limit_s,
        metavar="S",
        help="deterministic seconds per CCG to prove the fewest out-of-band groups (%(default)s)",
    )
    solve.add_argument("--params", metavar="TEXT", help="raw CP-SAT parameters, e.g. 'linearization_level:2'")


def add_map_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-maps`` and ``--maps DIR`` for commands that also draw maps."""
    parser.add_argument("--no-maps", action="store_true", help="do not write the HTML maps")
    parser.add_argument("--maps", metavar="DIR", type=Path, help="folder for the HTML maps (default: maps/)")


def rules_from_args(args: argparse.Namespace) -> Rules:
    """Return the :class:`Rules` the rule options ask for."""
    stages = list(DEFAULT_STAGES)
    if getattr(args, "stay_close", False):
        stages.insert(stages.index("compactness"), "moves")
    try:
        return Rules(
            band=SizeBand.from_string(args.band),
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


def load(args: argparse.Namespace, *, all_ccgs: bool = False) -> tuple[gpd.GeoDataFrame, Any, nx.Graph]:
    """Read practices (of the CCGs asked for, unless ``all_ccgs``) and boundaries; build the graph."""
    impute: Literal["postcode"] | None = "postcode" if args.impute_missing else None
    practices = read_practices(args.practices, impute=impute)
    boundaries = read_boundaries(args.boundaries)
    graph = graph_from_practices(practices, boundaries, use_cache=not args.no_cache)
    if all_ccgs or not args.ccg:
        return practices, boundaries, graph
    practices = select_ccgs(practices, args.ccg)
    return practices, boundaries, graph.subgraph(practices.index).copy()


def out_dir(args: argparse.Namespace) -> Path:
    """Return (and create) the command's output folder: ``--out`` or ``out/<command>/``."""
    out = args.out if args.out is not None else Path("out") / args.command
    out.mkdir(parents=True, exist_ok=True)
    return out


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
