"""``footprint check``: the rules a plan breaks or strains, per group and practice, and who is stranded."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from footprint._io import atomic_write
from footprint.areas import area_findings, area_summary
from footprint.cli._common import (
    Inputs,
    add_allow_cross_option,
    add_approved_option,
    add_area_options,
    add_band_options,
    add_map_options,
    add_plan_argument,
    add_solver_options,
    areas_from_args,
    areas_line,
    check_rural,
    load_inputs,
    maps_dir,
    out_dir,
    provenance,
    read_allow_cross_option,
    read_plan_file,
    read_plan_option,
    rules_from_args,
    solve_options_from_args,
    widen_to_groups,
    write_pcns,
)
from footprint.config import Rules
from footprint.errors import DataError
from footprint.evaluate import FINDING_COLUMNS, agreed_pieces, plan_findings
from footprint.graph import cells
from footprint.icbs import icb_totals
from footprint.load import read_approved
from footprint.places import display_name
from footprint.plan import Plan, group_areas, plan_from_practices, read_plan

if TYPE_CHECKING:
    from collections.abc import Sequence

    import networkx as nx

    from footprint.partition.strand import Stranding


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``check`` command."""
    parser = commands.add_parser(
        "check",
        parents=parents,
        help="check a plan: broken rules (exit 1), warnings, and practices stranded",
    )
    add_plan_argument(parser, verb="check")
    rule = add_band_options(parser)
    rule.add_argument("--lock", type=Path, metavar="PLAN.csv", help="agreed groups (closed to joiners)")
    add_approved_option(rule)
    add_allow_cross_option(rule)
    rule.add_argument(
        "--proposal",
        metavar="CODE,CODE,...",
        help="practices proposed as one PCN: is it valid (band, connected, one CCG), and who does it "
        "strand if every other practice of its CCG is open (or as in --lock)? Exit 0 when valid and "
        "stranding no one",
    )
    add_solver_options(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print summary.json (findings, stranding per CCG, provenance) as the only standard output",
    )
    add_map_options(parser)
    add_area_options(parser)
    parser.set_defaults(func=run)


def _plan(args: argparse.Namespace, inputs: Inputs) -> tuple[Plan, Inputs]:
    """Read the plan to check, keeping duplicates and unknown codes as findings, not errors.

    The inputs come back widened to the whole of every group in scope (:func:`widen_to_groups`).
    """
    if args.plan is None:
        plan = plan_from_practices(inputs.everyone)
    else:
        plan = read_plan(args.plan, on_duplicate="first")
    inputs = widen_to_groups(inputs, plan)
    selected, everyone = set(inputs.practices.index), set(inputs.everyone.index)
    kept = {c: p for c, p in plan.assignment.items() if c in selected or c not in everyone}
    ignored = len(plan) - len(kept)
    if ignored and args.plan is not None:
        print(f"plan {args.plan}: ignored {ignored:,} row(s) of practices outside --ccg", file=sys.stderr)
    return Plan(kept, plan.info), inputs


def _stranding(args: argparse.Namespace, inputs: Inputs, plan: Plan, **common: Any) -> Stranding:
    """Judge stranding: of the plan's open practices around its groups."""
    from footprint.partition import strands  # OR-Tools loads only for the commands that solve

    options = solve_options_from_args(args)
    lock = read_plan_option(args.lock, inputs, what="--lock") if args.lock else None
    agreed = dict(agreed_pieces(plan.restrict(inputs.practices.index), inputs.graph).assignment)
    if lock is not None:
        agreed.update(lock.assignment)
    return strands(inputs.graph, lock=Plan(agreed), ccgs=inputs.ccgs, options=options, **common)


def _per_ccg(findings: pd.DataFrame, stranding: Stranding) -> list[str]:
    """Say, per CCG, its groups out of band set against the least possible number."""
    lines = []
    for ccg, result in stranding.ccgs.items():
        mine = findings[findings["ccg_code"] == ccg]
        below, above = int((mine["rule"] == "below").sum()), int((mine["rule"] == "above").sum())
        base = result.baseline
        proof = "proven" if base.proven else f"not proven; bound {base.bound:.0f}"
        lines.append(
            f"{ccg}: {below} group(s) below the floor and {above} above the ceiling where "
            f"{base.value:.0f} is unavoidable ({proof})"
        )
        if result.stranded or result.at_risk:
            lines.append(f"  {result.summary()}")
            lines += [f"  to free them: {c.text}" for c in result.changes]
    return lines


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


def _proposal_codes(args: argparse.Namespace, inputs: Inputs) -> list[str]:
    """Return the proposal's practice codes: known ones, whatever ``--ccg`` selects (a line says so)."""
    codes = sorted({c.strip().upper() for c in args.proposal.split(",") if c.strip()})
    if not codes:
        msg = "--proposal names no practice: give the practice codes of the proposed PCN, comma-separated"
        raise DataError(msg)
    unknown = [c for c in codes if c not in inputs.everyone.index]
    if unknown:
        msg = f"--proposal names practice(s) not in the practices file: {', '.join(unknown[:10])}"
        raise DataError(msg)
    if inputs.scope:
        outside = [c for c in codes if c not in inputs.practices.index]
        if outside:
            where = ", ".join(f"{c} ({inputs.everyone.at[c, 'ccg_code']})" for c in outside)
            print(
                f"--proposal names practice(s) outside --ccg: {where}; judged in their own CCG",
                file=sys.stderr,
            )
    return codes


def _run_proposal(args: argparse.Namespace, rules: Rules, inputs: Inputs) -> int:
    """Judge a proposed PCN about itself; write findings.csv and summary.json.

    Exit 0 when the proposal is valid and strands no one, else 1.
    """
    from footprint.partition import judge_proposal  # OR-Tools loads only for the commands that solve

    codes = _proposal_codes(args, inputs)
    everyone = inputs.everyone
    ccgs = sorted(set(everyone.loc[codes, "ccg_code"]))
    mine = set(everyone.index[everyone["ccg_code"].isin(ccgs)])
    current = read_plan_file(args.plan, inputs)
    # The proposal's CCGs, with every member of the PCNs it touches: a PCN is whole in every figure.
    wanted = mine | {c for members in current.groups.values() if members & set(codes) for c in members}
    home = everyone[everyone.index.isin(wanted & set(everyone.index))]
    graph = inputs.whole_graph.subgraph(home.index).copy()
    local = inputs._replace(practices=home, graph=graph, scope=tuple(ccgs))
    current = current.restrict(home.index)
    lock = read_plan_option(args.lock, local, what="--lock") if args.lock else None
    allow_cross = read_allow_cross_option(args.allow_cross, local) if args.allow_cross else {}
    approved = read_approved(args.approved) if args.approved else {}
    verdict = judge_proposal(
        graph,
        codes,
        current=current,
        lock=lock,
        rules=rules,
        options=solve_options_from_args(args),
        rural=frozenset(home.index[home["rural"]]),
        allow_cross=allow_cross,
        approved=approved,
    )
    rows = [(",".join(verdict.ccgs), "proposal", "", rule, "error", d) for rule, d in verdict.errors]
    rows += [(",".join(verdict.ccgs), "proposal", "", rule, "warning", d) for rule, d in verdict.warnings]
    if verdict.stranding is not None:
        rows += [
            (verdict.ccgs[0], "", code, "stranded", "error", verdict.stranding.details[code])
            for code in verdict.stranded
        ]
    findings = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    out = out_dir(args)
    with atomic_write(out / "findings.csv") as fh:
        findings.to_csv(fh, index=False, lineterminator="\n")
    summary = {
        "errors": int((findings["severity"] == "error").sum()),
        "warnings": int((findings["severity"] == "warning").sum()),
        "proposal": verdict.to_dict(),
        "findings": findings.to_dict(orient="records"),
        "stranding": {} if verdict.stranding is None else {verdict.ccgs[0]: verdict.stranding.to_dict()},
        "provenance": provenance(args, inputs.practices),
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        names = _pcn_names(home)
        print("\n".join(verdict.lines(names)))
        print(f"written {out / 'findings.csv'}")
    if not args.no_maps:
        problems = dict.fromkeys(codes, f"proposed PCN: {verdict.patients:,} patients, {verdict.band}")
        if verdict.stranding is not None:
            problems.update({c: verdict.stranding.details[c] for c in verdict.stranded})
        _draw(args, inputs, home, graph, current, problems, ccgs=ccgs, name="Proposed PCN", summary=summary)
    return 0 if verdict.ok else 1


def _pcn_names(practices: pd.DataFrame) -> dict[str, str]:
    """Return the existing PCNs' published names (``pcn_name``), by code."""
    if not {"pcn_code", "pcn_name"} <= set(practices.columns):
        return {}
    named = practices.dropna(subset=["pcn_code", "pcn_name"])
    return {str(c): display_name(n) for c, n in zip(named["pcn_code"], named["pcn_name"], strict=True)}


def _draw(
    args: argparse.Namespace,
    inputs: Inputs,
    practices: pd.DataFrame,
    graph: nx.Graph,
    plan: Plan,
    problems: dict[str, str],
    *,
    ccgs: Sequence[str] | None,
    name: str,
    summary: dict,
) -> None:
    """Draw the maps of a check (``--maps``, default ``maps/``) and say where they are."""
    from footprint.cli.maps import draw

    maps = maps_dir(args)
    draw(
        practices,
        graph,
        plan,
        maps,
        rules=rules_from_args(args),
        problems=problems,
        far_km=args.far_km,
        boundaries=inputs.boundaries,
        ccgs=ccgs,
        name=name,
        provenance=summary["provenance"],
    )
    print(f"maps written to {maps} (open {maps / 'index.html'})", file=sys.stderr if args.json else None)


def run(args: argparse.Namespace) -> int:
    """Check the plan (or a proposed PCN); write findings.csv (and maps); exit 1 when a rule is broken."""
    rules = rules_from_args(args)
    inputs = load_inputs(args)
    check_rural(rules, inputs.everyone)
    if args.proposal is not None:
        return _run_proposal(args, rules, inputs)
    plan, inputs = _plan(args, inputs)
    approved = read_approved(args.approved) if args.approved else {}
    allow_cross = read_allow_cross_option(args.allow_cross, inputs) if args.allow_cross else {}
    if args.lock:
        read_plan_option(args.lock, inputs, what="--lock")  # checked now; stranding uses it
    rural = frozenset(inputs.practices.index[inputs.practices["rural"]])
    known = plan.restrict(inputs.practices.index)
    areas = group_areas(known, cells(inputs.graph), inputs.practices).geometry
    network = areas_from_args(args, inputs, known)
    inputs.graph.graph["areas"] = network.areas  # the maps draw them
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
    stranding = _stranding(
        args, inputs, plan, rules=rules, rural=rural, allow_cross=allow_cross, approved=approved
    )
    extra = pd.DataFrame(stranding.findings(), columns=findings.columns)
    found = [f for f in (findings, extra, area_findings(network)) if len(f)]
    findings = pd.concat(found, ignore_index=True) if found else findings  # none: the empty table
    order = {"error": 0, "warning": 1}
    findings = findings.sort_values(
        ["severity", "ccg_code", "group", "practice_code"],
        key=lambda c: c.map(order) if c.name == "severity" else c,
    ).reset_index(drop=True)
    out = out_dir(args)
    with atomic_write(out / "findings.csv") as fh:
        findings.to_csv(fh, index=False, lineterminator="\n")
    errors = int((findings["severity"] == "error").sum())
    summary = {
        "errors": errors,
        "warnings": int((findings["severity"] == "warning").sum()),
        "findings": findings.to_dict(orient="records"),
        "stranding": {ccg: r.to_dict() for ccg, r in stranding.ccgs.items()},
        "icbs": icb_totals(known, inputs.practices, rules=rules, approved=approved),
        "areas": area_summary(network),
        "provenance": provenance(args, inputs.practices),
    }
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=1)
    write_pcns(known, inputs.practices, inputs.graph, out, rules=rules, areas=network)
    if args.json:  # standard output holds the JSON alone; anything else goes to stderr
        print(json.dumps(summary, indent=1))
    else:
        print("\n".join(_per_ccg(findings, stranding)))
        print(_table(findings))
        print(areas_line(summary["areas"]))
        print(
            f"{errors} error(s), {summary['warnings']} warning(s); written {out / 'findings.csv'}, "
            f"{out / 'pcns.geojson'}"
        )
    if not args.no_maps:
        problems: dict[str, str] = {}
        # Area findings are drawn by the areas layer, not as practices with a problem.
        for row in findings[~findings["rule"].str.startswith("area_")].itertuples():
            members = [row.practice_code] if row.practice_code else sorted(known.groups.get(row.group, ()))
            for code in members:
                problems[code] = f"{problems[code]}; {row.detail}" if code in problems else row.detail
        # the practices of --ccg, as the graph
        _draw(
            args,
            inputs,
            inputs.practices,
            inputs.graph,
            known,
            problems,
            ccgs=args.ccg,
            name="Checked plan",
            summary=summary,
        )
    return 1 if errors else 0
