"""``footprint repair``: an existing plan mended within repair's rules, moving the fewest practices."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from footprint._io import atomic_write
from footprint._text import plural
from footprint.cli._common import (
    Inputs,
    add_approved_option,
    add_area_options,
    add_map_options,
    add_plan_argument,
    add_rule_options,
    add_solver_options,
    areas_line,
    check_rural,
    load_inputs,
    maps_dir,
    networks_beside,
    out_dir,
    provenance,
    read_allow_cross_option,
    read_plan_option,
    read_whole_plan,
    rules_from_args,
    solve_options_from_args,
)
from footprint.errors import DataError
from footprint.evaluate import plan_summary
from footprint.icbs import icb_totals
from footprint.load import read_approved, read_pairs
from footprint.places import group_names
from footprint.plan import Plan, plan_from_practices, write_plan

#: The figures of each ICB before repair kept beside the figures after it in summary.json.
_BEFORE = ("groups", "out_of_band", "in_band_share")


def add_pair_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--apart FILE`` and ``--together FILE`` (CSV practice_a,practice_b)."""
    pairs = parser.add_argument_group("pairs")
    pairs.add_argument(
        "--apart",
        type=Path,
        metavar="FILE",
        help="CSV practice_a,practice_b: pairs that must not share a PCN",
    )
    pairs.add_argument(
        "--together", type=Path, metavar="FILE", help="CSV practice_a,practice_b: pairs that must share a PCN"
    )


def read_pair_options(args: argparse.Namespace) -> dict[str, list[tuple[str, str]]]:
    """Read ``--apart`` and ``--together`` (empty when not given)."""
    return {
        "apart": read_pairs(args.apart, what="--apart file") if args.apart else [],
        "together": read_pairs(args.together, what="--together file") if args.together else [],
    }


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``repair`` command."""
    parser = commands.add_parser(
        "repair",
        parents=parents,
        help="repair a plan (default: the current PCNs): keep what works, mend what is broken, "
        "fewest practices moved",
    )
    add_plan_argument(parser, verb="repair")
    add_rule_options(parser, stay_close=False)
    parser.add_argument(
        "--split-large",
        action="store_true",
        help="also bring PCNs above the ceiling into band where possible",
    )
    add_approved_option(parser)
    add_pair_options(parser)
    add_solver_options(parser)
    add_map_options(parser)
    add_area_options(parser)
    parser.set_defaults(func=run)


def _existing(args: argparse.Namespace, inputs: Inputs) -> tuple[Plan, Inputs]:
    """Read the plan to repair (default: the current PCNs), its groups whole; widen the inputs."""
    plan, inputs = read_whole_plan(args.plan, inputs)
    if not plan.groups:
        msg = "the plan to repair gives no practice a PCN: give a plan, or use footprint plan"
        raise DataError(msg)
    return plan, inputs


def _print_report(report: dict, england: dict, *, high: int, seconds: float) -> None:
    """Print per CCG the moves against their bound and each unrepairable group, then England's figures."""
    for ccg, f in report.items():
        proof = "proven minimal" if f["proven"] else f"gap {f['gap']}, not proven"
        rules = (
            ""
            if f["rules_kept"]
            else "; the pairs or locks leave no repair within the rules: repaired without them"
        )
        print(
            f"{ccg}: {plural(f['moves'], 'practice')} moved ({f['moved_patients']:,} patients), "
            f"bound {f['bound']} ({proof}); {f['open_placed']} open placed{rules}"
        )
        for u in f["unrepairable"]:
            print(f"  unrepairable: {u['why']}")
    before, after = england["before"], england["after"]
    print(
        f"{plural(len(report), 'CCG')}: {plural(england['moved'], 'practice')} moved in all "
        "(transfer distance; "
        f"{england['moves']:,} in the CCGs' own counts against a bound of {england['bound']:,}), "
        f"{england['open_placed']} open practices placed; PCNs {before['groups']:,} → {after['groups']:,}; "
        f"patients in band {before['in_band_share']:.2%} → {after['in_band_share']:.2%}; "
        f"above {high:,} {before['above']} → {after['above']}; below the floor {before['below']} → "
        f"{after['below']} ({plural(england['unrepairable'], 'group')} unrepairable); {seconds:.1f} s"
    )
    unproven = [ccg for ccg, f in report.items() if not f["proven"]]
    if unproven:
        named = ", ".join(unproven[:8]) + (" ..." if len(unproven) > 8 else "")
        print(
            f"moves not proven minimal in {plural(len(unproven), 'CCG')} ({named}): --time-limit S searches "
            f"their moves S deterministic seconds each, e.g. --ccg {' '.join(unproven[:3])} --time-limit 5"
        )


def run(args: argparse.Namespace) -> int:
    """Repair the plan; write plan.csv, moves.csv, summary.json (and maps)."""
    rules, options = rules_from_args(args), solve_options_from_args(args)
    inputs = load_inputs(args)
    check_rural(rules, inputs.everyone)
    existing, inputs = _existing(args, inputs)
    practices, graph = inputs.practices, inputs.graph
    lock = read_plan_option(args.lock, inputs, what="--lock") if args.lock else None
    allow_cross = read_allow_cross_option(args.allow_cross, inputs) if args.allow_cross else None
    approved = read_approved(args.approved) if args.approved else {}
    rural = frozenset(practices.index[practices["rural"]])
    from footprint.partition import repair_moves, repair_plan  # OR-Tools loads only when solving

    pairs = read_pair_options(args)
    # pcns.geojson draws each network from where its patients live, in a process that reads
    # the areas' inputs while the plan is repaired.
    with networks_beside(args, inputs, rules=rules) as networks:
        start = time.perf_counter()
        repaired = repair_plan(
            graph,
            existing,
            rules=rules,
            options=options,
            split_large=args.split_large,
            rural=rural,
            lock=lock,
            allow_cross=allow_cross,
            ccgs=inputs.ccgs,
            approved=approved,
            apart=pairs["apart"],
            together=pairs["together"],
        )
        seconds = time.perf_counter() - start
        out = out_dir(args)
        networks.write(repaired, out)
        names = group_names(repaired, practices)  # as plan.csv and the maps name them
        write_plan(repaired, out / "plan.csv", practices, names=names, new=names.new)
        moves = repair_moves(existing, repaired, graph, rules=rules, names=names, together=pairs["together"])
        with atomic_write(out / "moves.csv") as fh:
            moves.to_csv(fh, index=False, lineterminator="\n")
        summary = plan_summary(repaired, graph, rules=rules, rural=rural, approved=approved)
        report = repaired.info["repair"]
        for ccg, figures in report.items():
            summary["ccgs"][ccg]["repair"] = figures
        figures = repaired.info["figures"]
        placed = sum(f["open_placed"] for f in report.values())
        unrepairable = [(ccg, u) for ccg, f in report.items() for u in f["unrepairable"]]
        summary["england"].update(
            moved=repaired.info["moved"],
            moves=sum(f["moves"] for f in report.values()),
            bound=sum(f["bound"] for f in report.values()),
            open_placed=placed,
            unrepairable=len(unrepairable),
            before=figures["before"],
            after=figures["after"],
            split_large=args.split_large,
            seconds=round(seconds, 2),
        )
        before = icb_totals(existing, practices, rules=rules, approved=approved)
        summary["icbs"] = {
            code: {**totals, "before": {k: before[code][k] for k in _BEFORE}}
            for code, totals in icb_totals(repaired, practices, rules=rules, approved=approved).items()
        }
        summary["areas"] = networks.figures(names=names)
    summary["provenance"] = provenance(args, practices)
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    _print_report(report, summary["england"], high=rules.band.high, seconds=seconds)
    print(areas_line(summary["areas"]))
    print(f"written {out / 'plan.csv'}, {out / 'moves.csv'}, {out / 'pcns.geojson'}, {out / 'summary.json'}")
    if not args.no_maps:
        from footprint.cli.maps import draw

        maps = maps_dir(args)
        current = plan_from_practices(practices)
        draw(
            practices,
            graph,
            repaired,
            maps,
            rules=rules,
            far_km=args.far_km,
            # the moves of the repair: from the plan repaired (the current PCNs unless PLAN.csv)
            changes_from=None if args.plan is None else (f"the plan repaired ({args.plan.name})", existing),
            boundaries=inputs.boundaries,
            current=current if current.groups else None,
            ccgs=args.ccg,
            name="Repaired plan",
            provenance=summary["provenance"],
        )
        print(f"maps written to {maps} (open {maps / 'index.html'})", file=sys.stdout)
    return 0
