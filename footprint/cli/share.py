"""``footprint share``: which neighbouring PCNs could share a clinical director, and the best arrangement."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd

from footprint._io import atomic_write
from footprint.cli._common import (
    MAX_KM,
    MAX_PATIENTS,
    add_plan_argument,
    cli_words,
    kilometres,
    load_inputs,
    out_dir,
    progress_bar,
    provenance,
    read_whole_plan,
    whole_number,
)
from footprint.config import Rules
from footprint.errors import DataError
from footprint.plan import Plan
from footprint.share import ShareOptions, ShareResult, base_links, share_plan

if TYPE_CHECKING:
    from footprint.render import Overlay

#: Library option names in messages, as this command spells them.
_FLAGS = {
    "max_km": "--max-km",
    "max_patients": "--max-patients",
    "max_practices": "--max-practices",
    "cluster_size": "--cluster-size",
    "base practice(s)": "--base practice(s)",
    "a rates file": "a --rates file",
    "year ": "--year ",
}
#: Where the maps of the shared clinical directors go unless ``--maps`` says.
MAPS = Path("maps") / "share"


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``share`` command."""
    parser = commands.add_parser(
        "share",
        parents=parents,
        help="which neighbouring PCNs could share a clinical director: candidates and the optimal pairing",
    )
    add_plan_argument(parser, verb="analyse")
    defaults = ShareOptions()
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-km",
        type=kilometres,
        default=defaults.max_km,
        metavar="D",
        help=f"largest base-to-member distance, 0.1 to {MAX_KM:,.0f} km (default %(default)s)",
    )
    limits.add_argument(
        "--max-patients",
        type=whole_number(1, MAX_PATIENTS),
        metavar="N",
        help=f"largest combined list size, 1 to {MAX_PATIENTS:,}",
    )
    limits.add_argument(
        "--max-practices",
        type=whole_number(1, 10_000),
        metavar="K",
        help="largest number of practices, 1 to 10,000",
    )
    limits.add_argument(
        "--cluster-size",
        type=int,
        default=defaults.cluster_size,
        metavar="S",
        help="share CDs in connected clusters of up to S PCNs (default %(default)s: pairs)",
    )
    limits.add_argument(
        "--sensitivity",
        type=distances,
        default=defaults.sensitivity_km,
        metavar="KM,...",
        help="distance limits of the sensitivity table (default 5 to 30 km by 2.5; with --cluster-size "
        "above 2 each is a proven cluster arrangement, so fewer limits run faster)",
    )
    limits.add_argument("--base", metavar="CODE,...", help="practices named as CD bases")
    limits.add_argument(
        "--across-ccgs", action="store_true", help="PCNs meeting across a CCG boundary are neighbours too"
    )
    money = parser.add_argument_group("funding")
    money.add_argument(
        "--year", default=defaults.year, metavar="YYYY/YY", help="payment year (default %(default)s)"
    )
    money.add_argument("--rates", type=Path, metavar="FILE", help="CD payment rates CSV (default: shipped)")
    parser.add_argument(
        "--no-maps", action="store_true", help="do not write the maps of the shared clinical directors"
    )
    parser.add_argument(
        "--maps", metavar="DIR", type=Path, help=f"folder for the HTML maps, one per CCG (default: {MAPS})"
    )
    parser.set_defaults(func=run)


def distances(text: str) -> tuple[float, ...]:
    """Parse ``--sensitivity``: comma-separated distances, each as ``--max-km`` (one-line error if not)."""
    parts = [part for part in text.split(",") if part.strip()] or [text]  # nothing given: its error
    return tuple(sorted({kilometres(part) for part in parts}))


def options_from_args(args: argparse.Namespace) -> ShareOptions:
    """Return the :class:`ShareOptions` the command's options ask for (bad ones: one-line error)."""
    try:
        return ShareOptions(
            max_km=args.max_km,
            max_patients=args.max_patients,
            max_practices=args.max_practices,
            cluster_size=args.cluster_size,
            bases=tuple(c for c in (args.base or "").split(",") if c.strip()),
            across_ccgs=args.across_ccgs,
            year=args.year,
            sensitivity_km=args.sensitivity,
        )
    except DataError as exc:
        raise DataError(cli_words(str(exc), _FLAGS)) from None


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_write(path) as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")


def write_outputs(
    result: ShareResult, out: Path, *, title: str, maps: Sequence[tuple[str, Path]] = ()
) -> list[Path]:
    """Write ``pairs.csv``, ``arrangement.csv``, ``clusters.csv`` (3+), ``summary.json``, ``report.html``.

    ``maps``: (CCG, file) of each CCG's map of the shared clusters, linked from the report.
    """
    from footprint.render.share_report import share_report_html  # render loads only to write

    paths = [out / "pairs.csv", out / "arrangement.csv", out / "summary.json", out / "report.html"]
    _write_csv(result.pairs_table(), paths[0])
    _write_csv(result.arrangement_table(), paths[1])
    links = [(ccg, Path(os.path.relpath(path, out)).as_posix()) for ccg, path in maps]
    summary = {**result.summary(), "plan": title, "maps": {ccg: str(path) for ccg, path in maps}}
    with atomic_write(paths[2]) as fh:
        json.dump(summary, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    with atomic_write(paths[3]) as fh:
        fh.write(share_report_html(result, title=title, maps=links))
    if result.options.cluster_size > 2:
        paths.append(out / "clusters.csv")
        _write_csv(result.clusters_table(), paths[-1])
    return paths


def shared_cd_overlay(result: ShareResult, plan: Plan, graph: nx.Graph) -> Overlay:
    """Return the overlay of the arrangement: each shared CD's base ringed, a line to each member."""
    from footprint.render import Overlay, OverlayLine

    links = base_links(result, plan, graph)
    names = graph.nodes
    lines = [
        OverlayLine(
            start=(row.base_x, row.base_y),
            end=(row.x, row.y),
            tip=f"{row.cluster}: {names[row.practice_code].get('practice_name', row.practice_code)} "
            f"({row.practice_code}, PCN {row.pcn_id}) is {row.km:.1f} km from the CD base "
            f"{names[row.base].get('practice_name', row.base)} ({row.base})",
            practice=row.practice_code,
        )
        for row in links.itertuples()
    ]
    bases = {}
    for (cluster, base, pcns), rows in links.groupby(["cluster", "base", "pcns"], sort=True):
        bases[str(base)] = (
            f"base of {cluster}, one clinical director for PCNs {pcns.replace(' ', ', ')} "
            f"({len(rows) + 1} practices, furthest {rows['km'].max():.1f} km)"
        )
    return Overlay(
        name="Shared clinical directors",
        legend="base of a shared clinical director, with a line to each member practice",
        practices=bases,
        lines=lines,
        label="Shared CD",
        colour="#1b7837",
    )


def _print_summary(result: ShareResult, title: str) -> None:
    summary = result.summary()
    arrangement, candidates = summary["arrangement"], summary["candidates"]
    print(
        f"{title}: {summary['pcns']:,} PCNs, {summary['patients']:,} patients, "
        f"{summary['funded_wte']:.1f} WTE of funded CD time; limits: {summary['options']['limits']}"
    )
    for note in summary["notes"]:
        print(f"  note: {note}")
    print(
        f"candidate pairs {candidates['pairs']:,} ({candidates['pairs_meeting_limits']:,} meet the limits)"
        + (
            f"; clusters of 3+ PCNs {candidates['clusters_over_two']:,}"
            if candidates["clusters_over_two"]
            else ""
        )
    )
    print(
        f"optimal arrangement ({'proven' if arrangement['proven'] else 'NOT proven: a limit ran out'}): "
        f"{arrangement['cd_posts']:,} CD posts instead of "
        f"{arrangement['cd_posts_now']:,}; {arrangement['shared_clusters']:,} shared, "
        f"{arrangement['keep_own']:,} PCNs keep their own; mean distance to the base "
        f"{arrangement['mean_km_to_base']:.2f} km (own bases {arrangement['mean_km_own_bases']:.2f} km); "
        f"{arrangement['wte_per_post']:.3f} WTE per post"
    )
    posts = ", ".join(f"{r['max_km']:g} km {r['cd_posts']:,}" for r in summary["sensitivity"])
    print(f"CD posts by distance limit: {posts}")


def run(args: argparse.Namespace) -> int:
    """Analyse clinical-director sharing for a plan and write its tables, summary and report."""
    options = options_from_args(args)
    # With --ccg a PCN across the CCG line is whole; rows of other CCGs are ignored, and said so.
    kept, inputs = read_whole_plan(args.plan, load_inputs(args))
    practices, boundaries, graph = inputs.practices, inputs.boundaries, inputs.graph
    title = "current PCNs" if args.plan is None else f"plan {args.plan.name}"
    names: dict[str, str] = {}
    if args.plan is None and "pcn_name" in practices.columns:
        names = practices.groupby("pcn_code")["pcn_name"].first().astype(str).to_dict()
    try:
        # Clusters are solved once for the arrangement and once per sensitivity limit: show them.
        steps = 1 + len(options.sensitivity_km)
        with progress_bar("share", unit="step", total=steps if options.cluster_size > 2 else 0) as update:
            result = share_plan(
                kept,
                graph,
                options=options,
                rates=args.rates,
                names=names,
                progress=lambda s: update(postfix=s),
            )
    except DataError as exc:
        raise DataError(cli_words(str(exc), _FLAGS)) from None
    _print_summary(result, title)
    maps: list[tuple[str, Path]] = []
    if not args.no_maps:
        from footprint.cli.maps import draw

        folder = args.maps if args.maps is not None else MAPS
        ccgs = inputs.ccgs
        draw(
            practices,
            graph,
            kept,
            folder,
            rules=Rules(),
            overlays=[shared_cd_overlay(result, kept, graph)],
            boundaries=boundaries,
            ccgs=ccgs,
            name="Current PCNs" if args.plan is None else f"Plan {args.plan.name}",
            provenance=provenance(args, practices),
        )
        maps = [(ccg, folder / f"{ccg}.html") for ccg in ccgs]
    paths = write_outputs(result, out_dir(args), title=title, maps=maps)
    print(f"written: {', '.join(str(p) for p in paths)}")
    if maps:
        print(
            f"maps of the shared clinical directors written to {maps[0][1].parent}, linked from report.html"
        )
    return 0
