"""``footprint compare``: plans side by side, the practices moved between them and where they differ."""

from __future__ import annotations

import argparse
from pathlib import Path

from footprint._io import atomic_write
from footprint.cli._common import (
    Inputs,
    add_band_options,
    in_scope,
    load_inputs,
    maps_dir,
    metrics_table,
    out_dir,
    provenance,
    read_plan_file,
    rules_from_args,
    selected_rows,
    widen_to_groups,
)
from footprint.errors import DataError
from footprint.evaluate import compare_plans, plan_differences
from footprint.plan import Plan, plan_from_practices

#: The word that stands for the current PCNs of the practices file.
CURRENT = "current"
#: Where the pages of the plans side by side go unless ``--maps`` says.
MAPS = Path("maps") / "compare"


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``compare`` command."""
    parser = commands.add_parser(
        "compare",
        parents=parents,
        help="compare plans: figures side by side, practices moved, where they differ",
    )
    parser.add_argument(
        "plans",
        metavar="PLAN.csv",
        nargs="+",
        help=f"two or more plan CSVs; the word '{CURRENT}' stands for the current PCNs",
    )
    add_band_options(parser)
    parser.add_argument(
        "--no-maps", action="store_true", help="do not write the HTML pages of the plans side by side"
    )
    parser.add_argument(
        "--maps",
        metavar="DIR",
        type=Path,
        help=f"folder for the HTML pages, one per CCG (default: {MAPS})",
    )
    parser.set_defaults(func=run)


def _plans(args: argparse.Namespace, inputs: Inputs) -> tuple[dict[str, Plan], Inputs]:
    """Read the plans, each group whole; return them and the inputs widened to all their groups."""
    if len(args.plans) < 2:
        msg = f"compare needs two or more plans (got {len(args.plans)}): add another, or '{CURRENT}'"
        raise DataError(msg)
    paths: dict[str, Path | None] = {}
    for text in args.plans:
        path = None if text == CURRENT else Path(text)
        paths[CURRENT if path is None else path.stem if path.stem not in paths else str(path)] = path
    if len(paths) < len(args.plans):
        msg = f"compare was given the same plan twice ({', '.join(args.plans)}): give different plans"
        raise DataError(msg)
    whole = {name: read_plan_file(path, inputs) for name, path in paths.items()}
    inputs = widen_to_groups(inputs, *whole.values())
    plans = {}
    for name, plan in whole.items():  # each plan keeps its own groups with a member in scope, whole
        path = paths[name]
        mine = in_scope(plan, inputs)
        plans[name] = mine if path is None else selected_rows(mine, path, inputs, what="plan", read=len(plan))
    return plans, inputs


def run(args: argparse.Namespace) -> int:
    """Write metrics.csv, distances.csv, differences.csv (and the maps side by side); print the figures."""
    rules = rules_from_args(args)
    plans, inputs = _plans(args, load_inputs(args))
    rural = frozenset(inputs.practices.index[inputs.practices["rural"]])
    current = plan_from_practices(inputs.practices)
    metrics, distances = compare_plans(
        plans, inputs.graph, rules=rules, rural=rural, current=current if current.groups else None
    )
    differences = plan_differences(plans)
    for k, column in enumerate(("ccg_code", "practice_name")):
        differences.insert(k, column, inputs.practices[column].reindex(differences.index).to_numpy())
    out = out_dir(args)
    for name, frame in (("metrics", metrics), ("distances", distances), ("differences", differences)):
        with atomic_write(out / f"{name}.csv") as fh:
            frame.to_csv(fh, lineterminator="\n")
    print(metrics_table(metrics))
    print("\npractices moved (row plan to column plan):")
    print(distances.to_string())
    print(
        f"\n{len(differences):,} practice(s) sit in different company in some plan; "
        f"written {out / 'metrics.csv'}, {out / 'distances.csv'}, {out / 'differences.csv'}"
    )
    if not args.no_maps:
        from footprint.cli.maps import draw_compare

        maps = maps_dir(args, MAPS)
        draw_compare(
            inputs.practices,
            inputs.graph,
            plans,
            maps,
            rules=rules,
            far_km=args.far_km,
            boundaries=inputs.boundaries,
            current=current if current.groups and CURRENT not in plans else None,
            ccgs=args.ccg,
            title="Plans compared",
            provenance=provenance(args, inputs.practices),
        )
        print(
            f"the plans' maps side by side, one page per CCG, written to {maps} (open {maps / 'index.html'})"
        )
    return 0
