"""``footprint check``: the rules a plan breaks or strains, per group and practice, and who is stranded."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from footprint._io import atomic_write
from footprint.cli._common import (
    Inputs,
    add_band_options,
    add_map_options,
    check_rural,
    load_inputs,
    out_dir,
    provenance,
    read_allow_cross_option,
    read_plan_option,
    rules_from_args,
)
from footprint.evaluate import plan_findings
from footprint.graph import cells
from footprint.load import read_approved
from footprint.plan import Plan, group_areas, plan_from_practices, read_plan


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``check`` command."""
    parser = commands.add_parser(
        "check",
        parents=parents,
        help="check a plan: broken rules (exit 1), warnings, and practices stranded",
    )
    parser.add_argument(
        "plan",
        metavar="PLAN.csv",
        nargs="?",
        type=Path,
        help="plan to check, given before --ccg (default: the current PCNs of the practices file)",
    )
    rule = add_band_options(parser)
    rule.add_argument("--lock", type=Path, metavar="PLAN.csv", help="agreed groups (closed to joiners)")
    rule.add_argument(
        "--approved", type=Path, metavar="FILE", help="CSV pcn_id,reason: groups approved as exceptions"
    )
    rule.add_argument(
        "--allow-cross",
        type=Path,
        metavar="FILE",
        help="CSV practice_code,ccg_code: may join that CCG's network",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    add_map_options(parser)
    parser.set_defaults(func=run)


def _plan(args: argparse.Namespace, inputs: Inputs) -> Plan:
    """Read the plan to check, keeping duplicates and unknown codes as findings, not errors."""
    if args.plan is None:
        return plan_from_practices(inputs.practices)
    plan = read_plan(args.plan, on_duplicate="first")
    selected, everyone = set(inputs.practices.index), set(inputs.everyone.index)
    kept = {c: p for c, p in plan.assignment.items() if c in selected or c not in everyone}
    ignored = len(plan) - len(kept)
    if ignored:
        print(f"plan {args.plan}: ignored {ignored:,} row(s) of practices outside --ccg", file=sys.stderr)
    return Plan(kept, plan.info)


def _table(findings: pd.DataFrame) -> str:
    """Return the findings as a readable terminal table, errors first."""
    if findings.empty:
        return "no findings: every rule is met"
    lines = []
    for severity, part in findings.groupby("severity", sort=False):
        lines.append(f"{severity.upper()}S ({len(part)})")
        for row in part.itertuples():
            where = " ".join(x for x in (row.ccg_code, row.group, row.practice_code) if x)
            lines.append(f"  {row.rule:<11} {where:<24} {row.detail}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Check the plan; write findings.csv (and maps); exit 1 when a rule is broken."""
    rules = rules_from_args(args)
    inputs = load_inputs(args)
    check_rural(rules, inputs.everyone)
    plan = _plan(args, inputs)
    approved = read_approved(args.approved) if args.approved else {}
    allow_cross = read_allow_cross_option(args.allow_cross, inputs) if args.allow_cross else {}
    if args.lock:
        read_plan_option(args.lock, inputs, what="--lock")  # checked now; stranding uses it
    rural = frozenset(inputs.practices.index[inputs.practices["rural"]])
    known = plan.restrict(inputs.practices.index)
    areas = group_areas(known, cells(inputs.graph), inputs.practices).geometry
    findings = plan_findings(
        plan,
        inputs.graph,
        rules=rules,
        rural=rural,
        approved=approved,
        allow_cross=allow_cross,
        duplicates=plan.info.get("duplicates", ()),
        areas=areas,
    )
    out = out_dir(args)
    with atomic_write(out / "findings.csv") as fh:
        findings.to_csv(fh, index=False, lineterminator="\n")
    errors = int((findings["severity"] == "error").sum())
    summary = {
        "errors": errors,
        "warnings": int((findings["severity"] == "warning").sum()),
        "findings": findings.to_dict(orient="records"),
        "provenance": provenance(args, inputs.practices),
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    if args.json:
        print(json.dumps(summary["findings"], indent=1))
    else:
        print(_table(findings))
        print(f"{errors} error(s), {summary['warnings']} warning(s); written {out / 'findings.csv'}")
    if not args.no_maps:
        from footprint.cli.maps import draw

        problems: dict[str, str] = {}
        for row in findings.itertuples():
            members = [row.practice_code] if row.practice_code else sorted(known.groups.get(row.group, ()))
            for code in members:
                problems[code] = f"{problems[code]}; {row.detail}" if code in problems else row.detail
        maps = args.maps if args.maps is not None else Path("maps")
        draw(
            inputs.everyone,
            inputs.graph,
            known,
            maps,
            rules=rules,
            problems=problems,
            boundaries=inputs.boundaries,
            ccgs=args.ccg,
            name="Checked plan",
        )
        print(f"maps written to {maps} (open {maps / 'index.html'})")
    return 1 if errors else 0
