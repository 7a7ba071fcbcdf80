"""``footprint alternatives``: diverse good plans per CCG, settled and contested practices."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

import pandas as pd

from footprint._io import atomic_write
from footprint.cli._common import (
    add_map_options,
    add_rule_options,
    add_solver_options,
    check_rural,
    load_inputs,
    maps_dir,
    metrics_table,
    out_dir,
    progress_bar,
    provenance,
    read_plan_option,
    rules_from_args,
    solve_options_from_args,
    whole_number,
)
from footprint.evaluate import compare_plans
from footprint.places import group_names
from footprint.plan import aligned_groups, keep_ids, plan_from_practices, write_plan

if TYPE_CHECKING:
    from footprint.render import Overlay

#: Most plans a CCG may be asked for.
MAX_PLANS = 1_000
#: Ring colour of a settled practice, then of contested ones from least to most (ColorBrewer RdYlBu).
SETTLED_COLOUR = "#4575b4"
CONTESTED_COLOURS = ("#fee090", "#fdae61", "#f46d43", "#d73027")


def contested_levels(others: int) -> list[tuple[int, int]]:
    """Return the ranges (low, high) of contested counts 1 .. ``others`` coloured alike, at most four.

    Examples
    --------
    >>> contested_levels(2)
    [(1, 1), (2, 2)]
    >>> contested_levels(9)
    [(1, 2), (3, 4), (5, 7), (8, 9)]
    """
    count = min(others, len(CONTESTED_COLOURS))
    edges = [1 + round(k * others / count) for k in range(count + 1)] if count else [1]
    return [(edges[k], edges[k + 1] - 1) for k in range(count)]


def contested_overlay(contested: pd.Series, plans: int) -> Overlay:
    """Return the overlay ringing each practice in the colour of how contested it is.

    ``contested``: practice code to the number of other plans in which its aligned group
    differs from the first plan's (``footprint.plan.aligned_groups``), 0 (settled) to
    ``plans - 1``. Each practice's note says it in words, so the colour is never the only cue.
    """
    from footprint.render import Overlay

    others = plans - 1
    levels = contested_levels(others)
    colour = dict.fromkeys(range(1, others + 1), CONTESTED_COLOURS[-1])
    keys = [(SETTLED_COLOUR, "settled: in the same company in every plan")]
    for (low, high), shade in zip(
        levels, CONTESTED_COLOURS[len(CONTESTED_COLOURS) - len(levels) :], strict=True
    ):
        colour.update(dict.fromkeys(range(low, high + 1), shade))
        span = f"{low}" if low == high else f"{low} to {high}"
        keys.append((shade, f"contested: in other company in {span} of the {others} other plan(s)"))
    notes, colours = {}, {}
    for code, n in contested.items():
        n = int(n)
        notes[str(code)] = (
            "settled (the same company in every plan)"
            if n == 0
            else f"contested: in other company in {n} of the {others} other plan(s)"
        )
        colours[str(code)] = SETTLED_COLOUR if n == 0 else colour[n]
    return Overlay(
        name="How contested",
        legend="how contested each practice is across the alternatives",
        practices=notes,
        label="Alternatives",
        colour=SETTLED_COLOUR,
        colours=colours,
        keys=keys,
    )


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``alternatives`` command."""
    parser = commands.add_parser(
        "alternatives",
        parents=parents,
        help="diverse good plans per CCG, each as few groups out of band as the best; where they differ",
    )
    parser.add_argument(
        "--n",
        type=whole_number(1, MAX_PLANS),
        default=3,
        metavar="K",
        help=f"plans per CCG, 1 to {MAX_PLANS:,} (%(default)s; the first is footprint plan's)",
    )
    parser.add_argument(
        "--min-diff",
        type=whole_number(1, 1_000_000),
        default=5,
        metavar="M",
        help="pairs of neighbouring practices in which each plan differs from every earlier one, "
        "together in one and apart in the other (at least 1; %(default)s)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="solve the CCGs on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (footprint[dask])",
    )
    add_rule_options(parser, stay_close=False)
    add_solver_options(parser)
    add_map_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write alt-1.csv ... alt-K.csv, alternatives.csv, distances.csv, contested.csv and summary.json."""
    from footprint.partition import PlanInputs, alternative_plans  # OR-Tools loads only here

    rules, options = rules_from_args(args), solve_options_from_args(args)
    inputs = load_inputs(args)
    check_rural(rules, inputs.everyone)
    practices = inputs.practices
    lock = read_plan_option(args.lock, inputs, what="--lock") if args.lock else None
    rural = frozenset(practices.index[practices["rural"]])
    ccgs = sorted(practices["ccg_code"].unique())
    plan_inputs = PlanInputs(rural=rural, lock=lock, ccgs=ccgs)
    with progress_bar("alternatives", total=len(ccgs)) as update:
        found = alternative_plans(
            inputs.graph,
            n=args.n,
            min_diff=args.min_diff,
            rules=rules,
            options=options,
            inputs=plan_inputs,
            scheduler=args.scheduler,
            progress=lambda result: update(postfix=f"{result.ccg_code} {result.found}"),
        )
    current = plan_from_practices(practices)
    # Every alternative's groups are named after the first plan's (which keeps current PCN codes).
    first = keep_ids(found.plans[0], current) if current.groups else found.plans[0]
    plans = {"alt-1": first} | {
        f"alt-{k + 1}": keep_ids(p, first) for k, p in enumerate(found.plans) if k > 0
    }
    out = out_dir(args)
    for name, plan in plans.items():
        names = group_names(plan, practices)  # as plan.csv and the maps name them
        write_plan(plan, out / f"{name}.csv", practices, names=names, new=names.new)
    metrics, distances = compare_plans(
        plans, inputs.graph, rules=rules, rural=rural, current=current if current.groups else None
    )
    aligned = aligned_groups(plans)
    aligned.insert(0, "ccg_code", practices["ccg_code"].reindex(aligned.index).to_numpy())
    aligned["settled"] = aligned["contested"] == 0
    for name, frame in (("alternatives", metrics.T), ("distances", distances), ("contested", aligned)):
        with atomic_write(out / f"{name}.csv") as fh:
            frame.to_csv(fh, lineterminator="\n")
    summary = {
        "ccgs": {c: r.to_dict() for c, r in found.ccgs.items()},
        "settled": int(aligned["settled"].sum()),
        "contested": int((~aligned["settled"]).sum()),
        "provenance": provenance(args, practices),
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    for code, result in found.ccgs.items():
        print(f"{code}: {result.note} ({result.seconds:.1f} s)")
    print(metrics_table(metrics))
    print(
        f"{summary['settled']:,} practices settled (same company in every plan), {summary['contested']:,} "
        f"contested; written {out / 'alternatives.csv'}, {out / 'contested.csv'} and {len(plans)} plan files"
    )
    if not args.no_maps:
        from footprint.cli.maps import draw

        maps = maps_dir(args)
        draw(
            practices,  # those of --ccg, as the graph
            inputs.graph,
            plans["alt-1"],
            maps,
            rules=rules,
            far_km=args.far_km,
            overlays=[contested_overlay(aligned["contested"], len(plans))],
            boundaries=inputs.boundaries,
            current=current if current.groups else None,
            ccgs=args.ccg,
            name="Alternative 1",
            provenance=summary["provenance"],
        )
        print(f"maps of alt-1, each practice coloured by how contested it is, written to {maps}")
    return 0
