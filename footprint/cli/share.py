"""``footprint share``: which neighbouring PCNs could share a clinical director, and the best arrangement."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd

from footprint._io import atomic_write
from footprint._text import plural
from footprint.cli._common import (
    MAX_KM,
    MAX_PATIENTS,
    add_plan_argument,
    cli_words,
    kilometres,
    load_inputs,
    maps_dir,
    out_dir,
    progress_bar,
    provenance,
    read_whole_plan,
    whole_number,
)
from footprint.config import Rules
from footprint.errors import DataError
from footprint.plan import Plan
from footprint.share import ShareOptions, ShareResult, base_links, posts_by_ccg, share_plan
from footprint.share.compare import option_name, solve_steps

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
        help="distance limits at which the options (pairs, and clusters of up to S) are compared "
        "(default 5 to 30 km by 2.5; each limit and size is a proven arrangement, so fewer run faster)",
    )
    limits.add_argument("--base", metavar="CODE,...", help="practices named as CD bases")
    limits.add_argument(
        "--across-ccgs", action="store_true", help="PCNs meeting across a CCG boundary are neighbours too"
    )
    money = parser.add_argument_group("funding")
    money.add_argument(
        "--year",
        default=defaults.year,
        metavar="YYYY/YY",
        help="year of the CD funding (default %(default)s, reckoned on list sizes of 1 January 2022)",
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
    result: ShareResult,
    out: Path,
    *,
    title: str,
    maps: Sequence[tuple[str, Path]] = (),
    provenance: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the tables (CSV and one ``share.xlsx`` workbook), ``summary.json`` and ``report.html``.

    ``pairs.csv``, ``arrangement.csv`` (one row per PCN), ``posts.csv`` (one row per CD post),
    ``options.csv`` (the options side by side), ``left_out.csv``, ``icbs.csv``, ``clusters.csv``
    (with clusters of 3 or more). ``maps``: (CCG, file) of each CCG's map of the shared
    clusters, linked from the report; ``provenance``: what made the outputs, recorded in the
    summary and shown in the report and workbook.
    """
    from footprint.render.share_report import share_report_html, share_workbook  # render loads only to write

    tables = {
        "pairs.csv": result.pairs_table(),
        "arrangement.csv": result.arrangement_table(),
        "posts.csv": result.posts_table(),
        "options.csv": result.compared_table(),
        "left_out.csv": result.left_out,
        "icbs.csv": result.icbs,
    }
    if result.options.cluster_size > 2:
        tables["clusters.csv"] = result.clusters_table()
    paths = []
    for name, frame in tables.items():
        paths.append(out / name)
        _write_csv(frame, paths[-1])
    links = [(ccg, Path(os.path.relpath(path, out)).as_posix()) for ccg, path in maps]
    made = dict(provenance or {})
    summary = {
        **result.summary(),
        "plan": title,
        "maps": {ccg: str(path) for ccg, path in maps},
        "provenance": made,
    }
    paths.append(out / "summary.json")
    with atomic_write(paths[-1]) as fh:
        json.dump(summary, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    paths.append(out / "share.xlsx")
    with atomic_write(paths[-1], mode="wb") as fh:
        fh.write(share_workbook(result, provenance=_made_words(made)))
    paths.append(out / "report.html")
    with atomic_write(paths[-1]) as fh:
        index = Path(links[0][1]).parent.joinpath("index.html").as_posix() if links else ""
        fh.write(
            share_report_html(
                result, title=title, maps=links, provenance=made, workbook="share.xlsx", maps_index=index
            )
        )
    return paths


def _made_words(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Return the provenance for the workbook's summary sheet, the options left out."""
    return {k: v for k, v in provenance.items() if k != "options"}


#: Colours of the shared CD posts' lines and base rings: dark on every PCN fill, neighbouring
#: posts told apart (their meaning is in each line's tooltip, not in the colour).
POST_COLOURS = ("#1b7837", "#2166ac", "#762a83", "#b2182b", "#8c510a", "#01665e", "#4d4d4d")


def _post_colours(result: ShareResult, graph: nx.Graph) -> dict[str, str]:
    """Return each shared post's colour, neighbouring posts (member practices adjacent) apart."""
    shared = result.posts[result.posts["size"] > 1]
    post_of = {
        c: post for post, members in zip(shared["cluster"], shared["members"], strict=True) for c in members
    }
    touching = nx.Graph()
    touching.add_nodes_from(sorted(shared["cluster"]))
    touching.add_edges_from(
        sorted(
            {tuple(sorted((post_of[a], post_of[b]))) for a, b in graph.edges if a in post_of and b in post_of}
        )
    )
    touching.remove_edges_from(nx.selfloop_edges(touching))
    found = nx.greedy_color(touching, strategy="largest_first")
    return {post: POST_COLOURS[k % len(POST_COLOURS)] for post, k in found.items()}


def shared_cd_overlay(
    result: ShareResult,
    plan: Plan,
    graph: nx.Graph,
    *,
    ccgs: Sequence[str] = (),
    report: str | None = None,
) -> Overlay:
    """Return the overlay of the arrangement: each shared CD's base ringed, a line to each member.

    Each post is a star: a straight line from its base to every member practice, in the post's
    colour (neighbouring posts differ), dashed where the member is joined to the base only
    across a bridge of the graph (over water). ``ccgs``: the CCGs mapped, each given its posts
    for the summary panel and the index; ``report``: the report's address from the maps.
    """
    from footprint.render import Overlay, OverlayLine

    links = base_links(result, plan, graph)
    colours = _post_colours(result, graph)
    names = graph.nodes
    lines = [
        OverlayLine(
            start=(row.base_x, row.base_y),
            end=(row.x, row.y),
            tip=f"{row.cluster}: {names[row.practice_code].get('practice_name', row.practice_code)} "
            f"({row.practice_code}, PCN {row.pcn_id}) is {row.km:.1f} km in a straight line from the CD base "
            f"{names[row.base].get('practice_name', row.base)} ({row.base})"
            + (", joined to it only across a bridge of the graph (over water)" if row.bridged else ""),
            practice=row.practice_code,
            colour=colours.get(row.cluster),
            dash="6 5" if row.bridged else None,
        )
        for row in links.itertuples()
    ]
    bases, rings = {}, {}
    for (cluster, base, pcns), rows in links.groupby(["cluster", "base", "pcns"], sort=True):
        bases[str(base)] = (
            f"base of {cluster}, one clinical director for PCNs {pcns.replace(' ', ', ')} "
            f"({plural(len(rows) + 1, 'practice')}, furthest {rows['km'].max():.1f} km in a straight line)"
        )
        rings[str(base)] = colours.get(str(cluster), POST_COLOURS[0])
    option = f"{option_name(result.options.cluster_size)}, {result.options.limits_text()}"
    summary = {}
    for row in posts_by_ccg(result, plan, graph, ccgs).itertuples():
        summary[row.ccg_code] = [
            ("Shared CDs", option),
            ("CD posts", f"{row.cd_posts:,} for {plural(row.pcns, 'PCN')}"),
            ("Shared posts", f"{row.shared_posts:,}"),
            ("PCNs keeping their own", f"{row.keep_own:,}"),
            ("Furthest from a base", f"{row.furthest_km:.1f} km"),
            ("Distances", "straight lines, not roads"),
            *(
                [("Over water", f"{plural(row.bridged, 'practice')} joined to the base only across a bridge")]
                if row.bridged
                else []
            ),
        ]
    return Overlay(
        name="Shared clinical directors",
        legend="base of a shared clinical director, with a line to each member practice "
        "(straight lines, not roads; dashed: only across a bridge, over water; colours only tell "
        "neighbouring posts apart)",
        practices=bases,
        lines=lines,
        label="Shared CD",
        colour=POST_COLOURS[0],
        colours=rings,
        dash="",
        summary=summary,
        links=[("Report of the CD sharing", report)] if report else [],
    )


def _print_summary(result: ShareResult, title: str) -> None:
    summary = result.summary()
    arrangement, candidates = summary["arrangement"], summary["candidates"]
    wte = "" if summary["funded_wte"] is None else f", {summary['funded_wte']:.1f} WTE of funded CD time"
    print(
        f"{title}: {plural(summary['pcns'], 'PCN')}, {summary['patients']:,} patients{wte}; "
        f"limits: {summary['options']['limits']}"
    )
    for note in summary["notes"]:
        print(f"  note: {note}")
    left = summary["left_out"]
    for why, counts in left["by_reason"].items():
        print(
            f"  left out: {plural(counts['practices'], 'practice')} ({counts['patients']:,} patients), {why}"
        )
    for ccg, why in left["ccgs"].items():
        print(f"  left out: CCG {ccg}: {why}")
    print(
        f"candidate pairs {candidates['pairs']:,} ({candidates['pairs_meeting_limits']:,} meet the limits)"
        + (
            f"; clusters of 3+ PCNs {candidates['clusters_over_two']:,}"
            if candidates["clusters_over_two"]
            else ""
        )
    )
    alone = arrangement["keep_own"]
    print(
        f"optimal arrangement ({_proof_words(result)}): {plural(arrangement['cd_posts'], 'CD post')} "
        f"instead of {arrangement['cd_posts_now']:,}; "
        f"{plural(arrangement['shared_clusters'], 'shared post')}, "
        f"{plural(alone, 'PCN')} keeping {'its' if alone == 1 else 'their'} own; "
        f"mean distance to the base {arrangement['mean_km_to_base']:.2f} km "
        f"(own bases {arrangement['mean_km_own_bases']:.2f} km)"
        + (
            f"; {arrangement['wte_per_post']:.3f} WTE per post (now {arrangement['wte_per_post_now']:.3f})"
            if arrangement["wte_per_post"] is not None
            else ""
        )
    )
    rows = summary["compared"]
    for size in sorted({r["cluster_size"] for r in rows if r["cluster_size"] > 1}):
        posts = ", ".join(
            f"{'no limit' if r['limit_km'] is None else format(r['limit_km'], 'g') + ' km'} {r['cd_posts']:,}"
            for r in rows
            if r["cluster_size"] == size
        )
        print(f"CD posts by distance limit, {option_name(size)}: {posts}")


def _proof_words(result: ShareResult) -> str:
    """Say which stage of the arrangement is proven."""
    if result.proven:
        return "proven"
    components = len(result.status)
    posts = sum(s["posts_proven"] for s in result.status.values())
    distance = sum(s["distance_proven"] for s in result.status.values())
    if posts == components:
        return (
            f"fewest CD posts proven; least distance to the base proven in {distance:,} of "
            f"{plural(components, 'component')}, the rest within the limit"
        )
    return f"fewest CD posts proven in {posts:,} of {plural(components, 'component')}: a limit ran out"


def _pcn_names(plan: Plan, practices: pd.DataFrame) -> dict[str, str]:
    """Return a name for each PCN of the plan: its published name, else footprint's (marked new)."""
    from footprint.places import group_names, read_places

    try:
        return dict(group_names(plan, practices, places=read_places()).shown)
    except (DataError, OSError, KeyError, ValueError):  # no places: the published names alone
        if "pcn_name" not in practices.columns:
            return {}
        return practices.groupby("pcn_code")["pcn_name"].first().astype(str).to_dict()


def run(args: argparse.Namespace) -> int:
    """Analyse clinical-director sharing for a plan and write its tables, summary and report."""
    options = options_from_args(args)
    # With --ccg a PCN across the CCG line is whole; rows of other CCGs are ignored, and said so.
    kept, inputs = read_whole_plan(args.plan, load_inputs(args))
    practices, boundaries, graph = inputs.practices, inputs.boundaries, inputs.graph
    title = "current PCNs" if args.plan is None else f"plan {args.plan.name}"
    made = {
        **provenance(args, practices),
        "made": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
    }
    try:
        with progress_bar("share", unit="option", total=solve_steps(options)) as update:
            result = share_plan(
                kept,
                graph,
                options=options,
                rates=args.rates,
                names=_pcn_names(kept, practices),
                practices=practices,
                ccgs=inputs.scope or None,
                progress=lambda s: update(postfix=s),
            )
    except DataError as exc:
        raise DataError(cli_words(str(exc), _FLAGS)) from None
    _print_summary(result, title)
    maps: list[tuple[str, Path]] = []
    if not args.no_maps:
        from footprint.cli.maps import draw

        folder = maps_dir(args, MAPS)
        ccgs = inputs.ccgs
        arrangement = result.summary()["arrangement"]
        report = Path(os.path.relpath(out_dir(args).resolve() / "report.html", folder.resolve())).as_posix()
        draw(
            practices,
            graph,
            kept,
            folder,
            rules=Rules(),
            overlays=[shared_cd_overlay(result, kept, graph, ccgs=ccgs, report=report)],
            boundaries=boundaries,
            ccgs=ccgs,
            # Each page's heading and title is its CCG and this name; its posts are in the summary.
            name=("Current PCNs" if args.plan is None else f"Plan {args.plan.name}") + ", shared CDs",
            provenance={
                **made,
                "arrangement": f"{plural(arrangement['cd_posts'], 'CD post')} for "
                f"{plural(arrangement['cd_posts_now'], 'PCN')} ({option_name(options.cluster_size)}, "
                f"{options.limits_text()})",
                "report": str(out_dir(args) / "report.html"),
                "distances": "straight lines",
            },
            show_problems=False,  # a map of sharing: the band's verdicts stay in the switcher, off
        )
        maps = [(ccg, folder / f"{ccg}.html") for ccg in ccgs]
    paths = write_outputs(result, out_dir(args), title=title, maps=maps, provenance=made)
    print(f"written: {', '.join(str(p) for p in paths)}")
    if maps:
        print(
            f"maps of the shared clinical directors written to {maps[0][1].parent}, linked from report.html"
        )
    return 0
