"""``footprint plan``: new PCN footprints per CCG, with plan.csv, pcns.geojson, summary.json and maps."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd

from footprint._io import atomic_write
from footprint._text import plural
from footprint.cli._common import (
    add_area_options,
    add_map_options,
    add_rule_options,
    add_solver_options,
    areas_line,
    check_rural,
    load_inputs,
    maps_dir,
    networks_beside,
    out_dir,
    progress_bar,
    provenance,
    read_allow_cross_option,
    read_plan_option,
    rules_from_args,
    solve_options_from_args,
)
from footprint.cli.repair import add_pair_options, read_pair_options
from footprint.config import COMPACTNESS_GAP, Rules
from footprint.errors import DataError
from footprint.evaluate import plan_summary
from footprint.icbs import icb_totals
from footprint.places import display_name, group_names
from footprint.plan import Plan, name_groups, plan_from_practices, write_plan

if TYPE_CHECKING:
    from footprint.partition import CcgResult


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``plan`` command."""
    parser = commands.add_parser("plan", parents=parents, help="plan new PCN footprints per CCG (CP-SAT)")
    add_rule_options(parser)
    add_pair_options(parser)
    add_solver_options(parser)
    parser.add_argument(
        "--fast",
        action="store_true",
        help="return the first valid plan of every CCG (the later stages evaluated, not searched)",
    )
    add_map_options(parser)
    add_area_options(parser)
    parser.set_defaults(func=run)


def _write_moves(
    current: Plan, plan: Plan, graph: nx.Graph, out: Path, rules: Rules, practices: pd.DataFrame
) -> dict[str, int]:
    """Write moves.csv: the practices moved from their current PCNs (with --stay-close).

    Moves are counted per CCG (the transfer distance of each CCG's plan from its current
    PCNs, as the moves stage counts them); returns the count per CCG.
    """
    from footprint.partition import repair_moves

    frames, counts = [], {}
    names = group_names(plan, practices)  # as plan.csv names them (to_name)
    for ccg, codes in practices.groupby("ccg_code").groups.items():
        mine = plan.restrict(codes)
        if not mine.assignment:
            continue
        moves = repair_moves(current.restrict(codes), mine, graph, rules=rules, names=names)
        counts[str(ccg)] = int((moves["from"] != "").sum())
        frames.append(moves)
    table = pd.concat(frames, ignore_index=True).sort_values("practice_code", kind="stable")
    with atomic_write(out / "moves.csv") as fh:
        table.to_csv(fh, index=False, lineterminator="\n")
    return counts


def _summary(
    plan: Plan,
    graph: nx.Graph,
    practices: pd.DataFrame,
    *,
    rules: Rules,
    rural: frozenset[str],
    far_km: float,
    moves: dict[str, int] | None,
) -> dict:
    """Return summary.json's figures of the plan: per CCG and England, with the moves, and per ICB."""
    summary = plan_summary(plan, graph, rules=rules, rural=rural, far_km=far_km)
    if moves is not None:
        for ccg, count in moves.items():
            summary["ccgs"][ccg]["moves"] = count
        summary["england"]["moves"] = sum(moves.values())
    summary["icbs"] = icb_totals(plan, practices, rules=rules)
    return summary


def _print_summary(summary: dict, *, seconds: float, far_km: float) -> None:
    """Print each explanation, the England line and the far-flung practices."""
    results = summary["ccgs"]
    for report in results.values():
        for pcn, why in report["explanations"].items():
            print(f"{pcn}: {why}")
    england = summary["england"]
    moved = f"moved from current PCNs {england['moves']:,}; " if "moves" in england else ""
    print(
        f"{plural(len(results), 'CCG')}, {england['practices']:,} practices in {england['groups']:,} PCNs; "
        f"out of band {england['out_of_band']} ({england['exempt']} exempt; "
        f"{england['in_band_share']:.2%} of patients in band); {moved}"
        f"buildings split {england['split_sites']}; compactness {england['compactness_km']:.2f} km; "
        f"stage 1 proven in {len(results) - len(england['stage1_unproven'])}/{len(results)} CCGs; "
        f"{plural(england['ccgs_optimal'], 'CCG')} optimal in every stage, "
        f"{england['ccgs_within_gap']} proven or within {COMPACTNESS_GAP:.0%} "
        f"(compactness within {england['compactness_gap_median']:.0%} of its bound in the median CCG); "
        f"{seconds:.1f} s"
    )
    far = england["far_flung"]
    if far:
        furthest = ", ".join(
            f"{display_name(f['practice_name'])} ({f['practice_code']}) {f['km']} km" for f in far[:3]
        )
        print(
            f"{len(far)} practice(s) lie more than {far_km:g} km from their PCN's centre "
            f"(furthest: {furthest}); all are in summary.json"
        )


def run(args: argparse.Namespace) -> int:
    """Plan new PCNs per CCG and write plan.csv, pcns.geojson, summary.json (and maps)."""
    rules, options = rules_from_args(args), solve_options_from_args(args)
    if args.fast:
        options = replace(options, fast=True)
    inputs = load_inputs(args)
    practices, boundaries, graph = inputs[:3]
    check_rural(rules, inputs.everyone)
    lock = read_plan_option(args.lock, inputs, what="--lock") if args.lock else None
    allow_cross = read_allow_cross_option(args.allow_cross, inputs) if args.allow_cross else None
    current = plan_from_practices(practices) if args.stay_close else None
    if current is not None and not current.groups:
        msg = "--stay-close needs the current PCNs, but the practices file has no pcn_code: drop --stay-close"
        raise DataError(msg)
    ccgs = sorted(practices["ccg_code"].unique())
    rural = frozenset(practices.index[practices["rural"]])
    from footprint.partition import solve_plan  # OR-Tools loads only for the commands that solve

    pairs = read_pair_options(args)
    # pcns.geojson draws each network from where its patients live, in a process that reads
    # the areas' inputs while the plan is solved; pcns_cells.geojson from its practices' cells.
    with networks_beside(args, inputs, rules=rules) as networks:
        start = time.perf_counter()
        with progress_bar("plan", total=len(ccgs)) as update:

            def progress(result: CcgResult) -> None:
                update(postfix=f"{result.ccg_code} {result.status.lower()}")

            plan = solve_plan(
                graph,
                rules=rules,
                options=options,
                rural=rural,
                lock=lock,
                current=current,
                allow_cross=allow_cross,
                ccgs=ccgs,
                progress=progress,
                apart=pairs["apart"],
                together=pairs["together"],
            )
        seconds = time.perf_counter() - start
        plan = name_groups(plan, agreed=lock, current=plan_from_practices(practices))
        out = out_dir(args)
        networks.write(plan, out)
        names = group_names(plan, practices)  # the maps and pages name them the same way
        write_plan(plan, out / "plan.csv", practices, names=names, new=names.new)
        moves = _write_moves(current, plan, graph, out, rules, practices) if current is not None else None
        summary = _summary(plan, graph, practices, rules=rules, rural=rural, far_km=args.far_km, moves=moves)
        summary["england"]["solve_seconds"] = round(seconds, 2)
        summary["areas"] = networks.figures(names=names)
    summary["provenance"] = provenance(args, practices)
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    _print_summary(summary, seconds=seconds, far_km=args.far_km)
    print(areas_line(summary["areas"]))
    files = ("plan.csv", "pcns.geojson", "pcns_cells.geojson", "summary.json")
    written = ", ".join(str(out / f) for f in files)
    print(f"written {written}")
    if not args.no_maps:
        from footprint.cli.maps import draw

        maps = maps_dir(args)
        draw(
            practices,
            graph,
            plan,
            maps,
            rules=rules,
            boundaries=boundaries,
            current=plan_from_practices(practices),
            ccgs=ccgs,
            name="Proposed plan",
            far_km=args.far_km,
            provenance=summary["provenance"],
        )
        print(f"maps written to {maps} (open {maps / 'index.html'})")
    return 0
