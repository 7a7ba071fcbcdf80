"""Benchmark: plan all England with ``footprint plan``, against spopt max-p and GerryChain.

Run: .venv/bin/python benchmarks/partition.py   (needs the ``bench`` extra for the peers)

1. Times the whole command ``footprint plan --no-maps --out DIR`` as a subprocess, after
   one warm-up call that fills the graph cache, and prints the plan's figures (practices,
   PCNs, out-of-band groups, share of patients in band, buildings split, compactness,
   CCGs proven in stage 1 and optimal in every stage) and the rules it breaks
   (:func:`footprint.evaluate.check_plan`).
2. Runs two peers on footprint's graph (within-CCG edges only), each CCG in its own
   process with a time limit: ``spopt.region.MaxPHeuristic`` (floor 30,000 on
   ``list_size``, compactness attributes ``x``, ``y``) and GerryChain's
   ``recursive_tree_part`` (k = round(patients / 40,000) parts, epsilon 0.25), and prints
   them beside footprint's plan of the same CCGs.

Figures only: nothing is asserted, targets are printed beside the figures.

    .venv/bin/python benchmarks/partition.py --ccg 00Q 01F 99F --peer-ccgs 00Q 01F 99F --peer-limit 10
    .venv/bin/python benchmarks/partition.py --skip-footprint --out DIR   # reuse DIR/plan.csv
    .venv/bin/python benchmarks/partition.py --per-ccg-only --repeat 3    # the per-CCG speed table only
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import queue
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

import networkx as nx
import numpy as np

from footprint.config import Rules, SizeBand, SolveOptions
from footprint.evaluate import check_plan, compactness_km, score_plan
from footprint.graph import ccg_subgraph, graph_from_practices
from footprint.load import read_boundaries, read_practices
from footprint.plan import Plan, read_plan

#: CCGs the peers run on by default: small to the largest, with and without practices
#: over 50,000, and 01V, on which stock spopt never finishes.
PEER_CCGS = ("00Q", "01F", "99F", "02Q", "05V", "01V", "11N", "15E", "91Q", "W2U3Z", "36L", "72Q")
BAND = SizeBand(30_000, 50_000)
RULES = Rules(band=BAND)
TARGET_SECONDS = 15.0
TARGET_OUT_OF_BAND = 17
TARGET_IN_BAND = 0.982
#: Share of patients in band when only the practices over 50,000 stand alone out of band.
BOUND_IN_BAND = 0.9829
GERRY_TARGET = 40_000
GERRY_EPSILON = 0.25
SOLVERS = ("footprint", "spopt", "gerrychain")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time footprint plan on England and compare it per CCG with spopt max-p and GerryChain.",
        epilog="All England takes minutes of both cores: on a shared machine, try --ccg first.",
    )
    parser.add_argument(
        "--ccg", metavar="CODE", nargs="+", help="plan only these CCGs (default: all England)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="folder for footprint's plan.csv and summary.json (default: a new temporary folder, kept)",
    )
    parser.add_argument(
        "--skip-footprint",
        action="store_true",
        help="do not run footprint plan; read plan.csv and summary.json from --out DIR",
    )
    parser.add_argument(
        "--peer-limit",
        type=float,
        default=20.0,
        metavar="S",
        help="wall seconds per CCG for each peer before it is stopped (default 20)",
    )
    parser.add_argument(
        "--peer-ccgs",
        metavar="CODE",
        nargs="+",
        help=f"CCGs for the peers (default: the --ccg list, else {' '.join(PEER_CCGS)})",
    )
    parser.add_argument("--no-peers", action="store_true", help="time footprint only")
    parser.add_argument(
        "--spopt-sa",
        type=int,
        default=1,
        metavar="N",
        help="spopt max_iterations_sa (default 1; spopt's own default 10 takes ~10x longer)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of every solver, footprint's and the peers' (default 0)"
    )
    parser.add_argument(
        "--per-ccg-only",
        action="store_true",
        help="print only the per-CCG speed table (footprint's first and staged plans against GerryChain); "
        "no footprint plan run, no spopt",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="with --per-ccg-only, time each solver N times per CCG (each in a fresh process) and keep "
        "the fastest (default 1)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    if args.skip_footprint and args.out is None:
        parser.error("--skip-footprint needs --out DIR, the folder of an earlier run's plan.csv")
    if args.peer_limit <= 0:
        parser.error(f"--peer-limit must be positive, not {args.peer_limit}")
    return args


# --- footprint ------------------------------------------------------------------------------------


def run_footprint(
    out: Path, ccgs: Sequence[str] | None, seed: int, data: Sequence[str] = ()
) -> tuple[float, float]:
    """Run ``footprint plan --no-maps --seed SEED --out OUT [DATA]``; return its wall and CPU seconds.

    ``data`` are further arguments (``--practices``, ``--boundaries``). CPU is user plus
    system time of the command and its worker processes.
    """
    command = [sys.executable, "-m", "footprint", "plan", "--no-maps", "--seed", str(seed), "--out", str(out)]
    command += list(data)
    if ccgs:
        command += ["--ccg", *ccgs]
    print("running: " + " ".join(["footprint", *command[3:]]), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit(f"footprint plan exited with code {done.returncode}")
    for line in done.stdout.splitlines()[-2:]:
        print(f"  footprint says: {line}")
    return seconds, cpu


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report_footprint(
    plan: Plan,
    graph: nx.Graph,
    summary: dict,
    seconds: float | None,
    *,
    england: bool,
    cpu: float | None = None,
    shipped: bool = True,
) -> None:
    """Print the figures of footprint's plan against the targets.

    The out-of-band and in-band targets are the shipped January 2022 data's (``shipped``);
    on other data the figures are printed without them.
    """
    score = score_plan(plan, graph, rules=RULES)
    ccgs = summary.get("ccgs", {})
    proven = sum(bool(r.get("stages")) and r["stages"][0]["status"] == "OPTIMAL" for r in ccgs.values())
    optimal = sum(r.get("status") == "OPTIMAL" for r in ccgs.values())
    named = f" ({' '.join(sorted(ccgs))})" if len(ccgs) <= 12 else ""
    scope = "all England" if england else f"{len(ccgs)} CCGs{named}; the targets are for all England"
    print(f"\nfootprint plan on {scope}")
    if seconds is not None:
        print(
            f"  wall {seconds:.1f} s for the whole command "
            f"(target <= {TARGET_SECONDS:.0f} s: {_mark(seconds <= TARGET_SECONDS)}); "
            f"CPU {cpu or 0:.1f} s (user + system, workers included)"
        )
    else:
        print(
            "  wall not measured (--skip-footprint); summary.json's solve_seconds "
            f"{summary.get('england', {}).get('solve_seconds', '?')}"
        )
    print(f"  practices {len(plan):,}; PCNs {score.groups:,}")
    if shipped:
        print(
            f"  out-of-band groups {score.out_of_band} "
            f"(target <= {TARGET_OUT_OF_BAND}: {_mark(score.out_of_band <= TARGET_OUT_OF_BAND)})"
        )
        print(
            f"  patients in band {score.in_band_share:.2%} (target >= {TARGET_IN_BAND:.1%}: "
            f"{_mark(score.in_band_share >= TARGET_IN_BAND)}; bound with big practices alone "
            f"{BOUND_IN_BAND:.2%})"
        )
    else:  # the targets and the bound are the shipped 2022 data's
        print(f"  out-of-band groups {score.out_of_band}; patients in band {score.in_band_share:.2%}")
    print(f"  buildings split {score.split_sites}; compactness {score.compactness_km:.3f} km")
    print(
        f"  CCGs with stage 1 proven {proven}/{len(ccgs)}; CCGs optimal in every stage {optimal}/{len(ccgs)}"
    )
    print(f"  {gap_summary(ccgs)}")
    violations = check_plan(plan, graph)
    by_rule = Counter(v.rule for v in violations)
    detail = f" ({', '.join(f'{k} {n}' for k, n in sorted(by_rule.items()))})" if violations else ""
    print(f"  violations (every practice once, groups connected, no CCG crossed): {len(violations)}{detail}")
    for v in violations[:10]:
        print(f"    {v.rule}: {v.message[:150]}")
    said = summary.get("england", {})
    if said.get("ccgs") != len(ccgs):  # summary.json's totals cover other CCGs too
        said = {}
    mismatch = {
        key: (said[key], ours)
        for key, ours in (
            ("groups", score.groups),
            ("out_of_band", score.out_of_band),
            ("split_sites", score.split_sites),
        )
        if key in said and said[key] != ours
    }
    if mismatch:
        print(f"  NOTE summary.json disagrees with plan.csv (summary, plan.csv): {mismatch}")


def gap_summary(ccgs: dict, within: float = 0.02) -> str:
    """Return how near each CCG's stages are to proven, from summary.json's per-CCG stages.

    A stage's gap is (value - bound) / value, 0 when proven; the compactness stage's gaps
    are summarised (median, largest) and the CCGs whose every stage is proven or within
    ``within`` counted.
    """

    def gap(stage: dict) -> float:
        if stage["status"] == "OPTIMAL" or stage["value"] <= 0:
            return 0.0
        return stage.get("gap", (stage["value"] - stage["bound"]) / stage["value"])

    near = sum(all(gap(s) <= within for s in r.get("stages", ())) for r in ccgs.values())
    compact = sorted(
        gap(s) for r in ccgs.values() for s in r.get("stages", ()) if s["stage"] == "compactness"
    )
    proven = sum(g == 0 for g in compact)
    median = compact[len(compact) // 2] if compact else 0.0
    return (
        f"every stage proven or within {within:.0%} in {near}/{len(ccgs)} CCGs; compactness proven in "
        f"{proven}/{len(compact)}, within {within:.0%} in {sum(g <= within for g in compact)}, gap median "
        f"{median:.1%}, largest {max(compact, default=0.0):.1%}"
    )


# --- peers ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One solver's result on one CCG."""

    status: str  # "ok", "timed out", "failed", "not run"
    seconds: float | None = None
    assignment: dict[str, str] = field(default_factory=dict)
    note: str = ""
    cpu: float | None = None  # CPU seconds of the solving process (process_time)


def _spopt_labels(sub: nx.Graph, seed: int, sa_iterations: int) -> tuple[list, str]:
    import geopandas as gpd
    import libpysal
    from spopt.region import MaxPHeuristic

    codes = sorted(sub)
    xs = [sub.nodes[c]["x"] for c in codes]
    ys = [sub.nodes[c]["y"] for c in codes]
    frame = gpd.GeoDataFrame(
        {"list_size": [sub.nodes[c]["list_size"] for c in codes], "x": xs, "y": ys},
        geometry=gpd.points_from_xy(xs, ys),
        crs="EPSG:27700",
    )
    # spopt looks neighbours up by row position (w.neighbors[i]), so the weights are
    # keyed 0..n-1 in the frame's row order, not by practice code.
    row = {code: i for i, code in enumerate(codes)}
    weights = libpysal.weights.W(
        {row[c]: sorted(row[n] for n in sub[c]) for c in codes}, silence_warnings=True
    )
    np.random.seed(seed)  # spopt takes no seed; this runs in the child process only
    warnings.simplefilter("ignore")  # pandas deprecations inside spopt; the child process only
    model = MaxPHeuristic(
        frame,
        weights,
        attrs_name=["x", "y"],
        threshold_name="list_size",
        threshold=BAND.low,
        top_n=2,
        max_iterations_construction=99,
        max_iterations_sa=sa_iterations,
    )
    model.solve()
    return [(code, model.labels_[row[code]]) for code in codes], f"p={model.p}"


def _gerrychain_labels(sub: nx.Graph, seed: int) -> tuple[list, str]:
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    total = sum(size for _, size in sub.nodes(data="list_size"))
    k = max(1, round(total / GERRY_TARGET))
    target = total / k
    note = (
        f"k={k}, band {target * (1 - GERRY_EPSILON) / 1000:.1f}k-{target * (1 + GERRY_EPSILON) / 1000:.1f}k"
    )
    if k == 1:  # recursive_tree_part needs two parts at least; one part is the whole CCG
        return [(code, 0) for code in sub], note + " (trivial)"
    # A fresh graph of integer nodes and sorted edges: GerryChain follows node and edge
    # order, which for string codes in a networkx subgraph view depends on PYTHONHASHSEED,
    # so a fixed rng alone does not repeat its result.
    codes = sorted(sub)
    number = {code: i for i, code in enumerate(codes)}
    numbered = nx.Graph()
    numbered.add_nodes_from((number[c], {"list_size": sub.nodes[c]["list_size"]}) for c in codes)
    numbered.add_edges_from(sorted(tuple(sorted((number[a], number[b]))) for a, b in sub.edges))
    warnings.simplefilter("ignore")  # BipartitionWarning per 1,000 failed attempts; child process only
    try:
        assignment = recursive_tree_part(
            Graph.from_networkx(numbered),
            parts=range(k),
            pop_target=target,
            pop_col="list_size",
            epsilon=GERRY_EPSILON,
            rng=seed,
        )
    except KeyError as exc:  # name the practice, not its number
        key = exc.args[0] if exc.args else None
        name = codes[key] if isinstance(key, int) and 0 <= key < len(codes) else key
        raise KeyError(f"{name} ({sub.nodes[name]['list_size']:,} patients)" if name in sub else key) from exc
    return [(codes[cast(int, i)], part) for i, part in assignment.items()], note


def _footprint_labels(sub: nx.Graph, rural: frozenset[str], seed: int, *, fast: bool) -> tuple[list, str]:
    """Plan one CCG with footprint in this process: its first valid plan (``fast``) or every stage."""
    from footprint.partition import solve_plan

    options = SolveOptions(processes=1, fast=fast, seed=seed)
    # The CCG's subgraph as GerryChain's function is given it (each copies what it needs).
    plan = solve_plan(sub, options=options, rural=rural & set(sub))
    result = next(iter(plan.info["ccgs"].values()))
    proven = "/".join(s.name for s in result.stages if s.proven) or "none"
    return list(plan.assignment.items()), f"proven: {proven}"


def _child(solve: Callable[[], tuple[list, str]], results: multiprocessing.Queue) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        labels, note = solve()
    except Exception as exc:  # a peer's failure is a result to report
        where = traceback.extract_tb((exc.__cause__ or exc).__traceback__)[-1].name
        message = f"{type(exc).__name__}: {exc} (in {where})"
        results.put(("failed", time.perf_counter() - t0, time.process_time() - c0, [], message))
    else:
        pairs = [(str(c), str(p)) for c, p in labels]
        results.put(("ok", time.perf_counter() - t0, time.process_time() - c0, pairs, note))


def run_limited(solve: Callable[[], tuple[list, str]], limit: float) -> Outcome:
    """Run ``solve`` in a forked process; stop it after ``limit`` wall seconds."""
    context = multiprocessing.get_context("fork")
    # The parent's objects (the England graph, the imports) are left out of the child's
    # garbage collections: else a collection in the child walks them all (~0.1 s), which
    # lands on whichever solver happens to trigger it.
    gc.freeze()
    results = context.Queue()
    process = context.Process(target=_child, args=(solve, results), daemon=True)
    deadline = time.perf_counter() + limit
    process.start()
    message = None
    # Read before join: a child blocks on exit until its queued result is read.
    while message is None:
        try:
            message = results.get(timeout=0.05)
        except queue.Empty:
            if not process.is_alive():
                try:
                    message = results.get(timeout=1.0)
                except queue.Empty:
                    return Outcome("failed", note=f"process died with exit code {process.exitcode}")
            elif time.perf_counter() > deadline:
                process.terminate()
                process.join(5)
                return Outcome("timed out", seconds=limit, note=f"stopped after {limit:g} s")
    process.join(limit)
    status, seconds, cpu, labels, note = message
    return Outcome(status, seconds, dict(labels), note, cpu)


@dataclass(frozen=True)
class Row:
    """Figures of one solver's plan of one CCG."""

    valid: bool
    groups: int
    out_of_band: int
    in_band: int
    patients: int
    over: int
    split: int
    compactness_km: float


def figures(plan: Plan, sub: nx.Graph) -> Row:
    score = score_plan(plan, sub, rules=RULES)
    sizes = [sum(sub.nodes[m]["list_size"] for m in members) for members in plan.groups.values()]
    return Row(
        valid=not check_plan(plan, sub),
        groups=score.groups,
        out_of_band=score.out_of_band,
        in_band=score.in_band_patients,
        patients=score.patients,
        over=sum(s > BAND.high for s in sizes),
        split=score.split_sites,
        compactness_km=score.compactness_km,
    )


def _plan(outcome: Outcome, ccg: str) -> Plan:
    return Plan({code: f"{ccg}-{label}" for code, label in outcome.assignment.items()})


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


HEADER = (
    f"{'CCG':<6}{'practices':>10}{'patients':>11}  {'solver':<11}{'valid':>6}{'groups':>7}{'oob':>5}"
    f"{'in band':>9}{'>50k':>6}{'split':>6}{'km':>7}{'s':>8}{'fp/peer s':>10}{'fp/peer km':>11}  note"
)


def _line(lead: str, name: str, outcome: Outcome, row: Row | None, ratios: tuple[str, str]) -> str:
    if row is None:
        return f"{lead}  {name:<11}  {outcome.status}: {outcome.note[:120]}"
    share = row.in_band / row.patients if row.patients else 0.0
    return (
        f"{lead}  {name:<11}{'yes' if row.valid else 'NO':>6}{row.groups:>7}{row.out_of_band:>5}"
        f"{share:>8.1%} {row.over:>6}{row.split:>6}{row.compactness_km:>7.2f}"
        f"{outcome.seconds if outcome.seconds is not None else float('nan'):>8.2f}"
        f"{ratios[0]:>10}{ratios[1]:>11}  {outcome.note}"
    )


def run_peers(
    graph: nx.Graph,
    ccgs: Sequence[str],
    footprint: Plan | None,
    summary: dict,
    args: argparse.Namespace,
    rural: frozenset[str] = frozenset(),
) -> None:
    """Run the peers per CCG and print them beside footprint's plan of the same CCGs."""
    try:
        import gerrychain  # noqa: F401
        import libpysal  # noqa: F401
        import spopt.region  # noqa: F401  (imported once here, so forked children inherit it)
    except ImportError as exc:
        print(f"\npeers skipped: {exc} (pip install -e '.[bench]')")
        return
    # Imports are made once here (forked children inherit them), and each solver's one-off
    # set-up (footprint's tables, GerryChain's first call) done once by an untimed run.
    _warm_up(graph, ccgs[0], rural, args.seed)
    print(
        f"\npeers on {len(ccgs)} CCGs ({' '.join(ccgs)}), each CCG in its own process, "
        f"{args.peer_limit:g} s limit, seed {args.seed}; spopt MaxPHeuristic(threshold {BAND.low:,}, "
        f"top_n 2, max_iterations_construction 99, max_iterations_sa {args.spopt_sa}); GerryChain "
        f"recursive_tree_part(k = round(patients / {GERRY_TARGET:,}), epsilon {GERRY_EPSILON})"
    )
    print(
        "seconds: solve per CCG on the built graph; footprint's are summary.json's per-CCG seconds "
        "(CP-SAT with footprint plan's default workers), the peers' are one Python process each\n"
    )
    print(HEADER)
    solved: dict[str, dict[str, Outcome]] = {name: {} for name in SOLVERS}
    rows: dict[str, dict[str, Row]] = {name: {} for name in SOLVERS}
    subs: dict[str, nx.Graph] = {}
    timed: dict[str, dict[str, Outcome]] = {"first": {}, "staged": {}}
    for ccg in ccgs:
        sub = subs[ccg] = ccg_subgraph(graph, ccg)
        patients = sum(size for _, size in sub.nodes(data="list_size"))
        outcomes: dict[str, Outcome] = {}
        own = footprint.restrict(sub) if footprint is not None else Plan({})
        if len(own) and ccg in summary.get("ccgs", {}):
            result = summary["ccgs"][ccg]
            outcomes["footprint"] = Outcome(
                "ok",
                result.get("seconds"),
                {c: p for c, p in own.assignment.items() if p is not None},
                result.get("status", ""),
            )
        else:
            outcomes["footprint"] = Outcome("not run", note="CCG not in footprint's plan (see --ccg)")
        outcomes["spopt"] = run_limited(
            partial(_spopt_labels, sub, args.seed, args.spopt_sa), args.peer_limit
        )
        outcomes["gerrychain"] = run_limited(partial(_gerrychain_labels, sub, args.seed), args.peer_limit)
        # footprint timed as the peers are (one process per CCG): first valid plan, every stage.
        for name, fast in (("first", True), ("staged", False)):
            solve = partial(_footprint_labels, sub, rural, args.seed, fast=fast)
            timed[name][ccg] = run_limited(solve, args.peer_limit)
        fp_row = None
        for i, name in enumerate(SOLVERS):
            outcome = outcomes[name]
            solved[name][ccg] = outcome
            row = (
                figures(Plan(outcome.assignment) if name == "footprint" else _plan(outcome, ccg), sub)
                if outcome.status == "ok"
                else None
            )
            if row is not None:
                rows[name][ccg] = row
            if name == "footprint":
                fp_row = row
            ratios = ("", "")
            if name != "footprint" and row is not None and fp_row is not None:
                fp_seconds = outcomes["footprint"].seconds
                ratios = (
                    _ratio(fp_seconds, outcome.seconds),
                    _ratio(fp_row.compactness_km, row.compactness_km),
                )
            lead = f"{ccg:<6}{sub.number_of_nodes():>10,}{patients:>11,}" if i == 0 else " " * 27
            print(_line(lead, name, outcome, row, ratios), flush=True)
    print_totals(solved, rows, subs)
    print_speed(timed, solved["gerrychain"], subs)
    print(
        "\nnotes: spopt's max-p enforces only the 30,000 floor and ignores the 50,000 cap (it maximises "
        "the number of regions, then minimises unweighted within-region x/y distance);\n"
        "GerryChain's band is pop_target +/- 25 %, which is 30,000-50,000 only where patients / k is "
        "exactly 40,000 (each CCG's band is in its note); neither keeps buildings together."
    )


def _warm_up(graph: nx.Graph, ccg: str, rural: frozenset[str], seed: int) -> None:
    """Run footprint and GerryChain once on ``ccg``, untimed, so that neither's one-off set-up is timed."""
    sub = ccg_subgraph(graph, ccg)
    _footprint_labels(sub, rural, seed, fast=False)
    with contextlib.suppress(Exception):  # a CCG GerryChain cannot cut still warms it up
        _gerrychain_labels(sub, seed)


def run_speed(
    graph: nx.Graph, ccgs: Sequence[str], args: argparse.Namespace, rural: frozenset[str] = frozenset()
) -> None:
    """Time footprint's first and staged plans and GerryChain per CCG (fastest of ``args.repeat``)."""
    try:
        import gerrychain  # noqa: F401  (imported once here, so forked children inherit it)
    except ImportError as exc:
        print(f"\nGerryChain missing: {exc} (pip install -e '.[bench]')")
        return
    _warm_up(graph, ccgs[0], rural, args.seed)  # as in run_peers
    timed: dict[str, dict[str, Outcome]] = {"first": {}, "staged": {}}
    gerry: dict[str, Outcome] = {}
    subs: dict[str, nx.Graph] = {}
    for ccg in ccgs:
        sub = subs[ccg] = ccg_subgraph(graph, ccg)
        runs: dict[str, Callable[[], tuple[list, str]]] = {
            "gerry": partial(_gerrychain_labels, sub, args.seed),
            "first": partial(_footprint_labels, sub, rural, args.seed, fast=True),
            "staged": partial(_footprint_labels, sub, rural, args.seed, fast=False),
        }
        best: dict[str, Outcome] = {}
        for _ in range(args.repeat):  # interleaved, so that both face the same load
            for name, solve in runs.items():
                outcome = run_limited(solve, args.peer_limit)
                kept = best.get(name)
                if kept is None or (
                    outcome.status == "ok"
                    and (kept.status != "ok" or (outcome.seconds or 0) < (kept.seconds or 0))
                ):
                    best[name] = outcome
        gerry[ccg], timed["first"][ccg], timed["staged"][ccg] = best["gerry"], best["first"], best["staged"]
    print_speed(timed, gerry, subs, repeat=args.repeat)


def print_totals(
    solved: dict[str, dict[str, Outcome]], rows: dict[str, dict[str, Row]], subs: dict[str, nx.Graph]
) -> None:
    """Print per-solver totals, and footprint/peer ratios on the CCGs both solved."""
    print("\ntotals over the CCGs each solver finished")
    print(
        f"{'solver':<11}{'solved':>7}{'timed out':>10}{'failed':>7}{'valid':>6}{'groups':>7}{'oob':>5}"
        f"{'in band':>9}{'>50k':>6}{'split':>6}{'km':>7}{'s':>9}"
    )
    for name in SOLVERS:
        done = rows[name]
        counts = Counter(o.status for o in solved[name].values())
        patients = sum(r.patients for r in done.values())
        in_band = sum(r.in_band for r in done.values())
        km = sum(r.compactness_km * r.patients for r in done.values()) / patients if patients else 0.0
        seconds = sum(solved[name][c].seconds or 0.0 for c in done)
        print(
            f"{name:<11}{len(done):>7}{counts['timed out']:>10}{counts['failed']:>7}"
            f"{sum(r.valid for r in done.values()):>6}{sum(r.groups for r in done.values()):>7}"
            f"{sum(r.out_of_band for r in done.values()):>5}{(in_band / patients if patients else 0):>8.1%} "
            f"{sum(r.over for r in done.values()):>6}{sum(r.split for r in done.values()):>6}"
            f"{km:>7.2f}{seconds:>9.2f}"
        )
    for name in SOLVERS[1:]:
        for status in ("timed out", "failed"):
            codes = [c for c, o in solved[name].items() if o.status == status]
            if codes:
                print(f"{name} {status} on {len(codes)} CCG(s): {' '.join(codes)}")
    for name in SOLVERS[1:]:
        both = [c for c in rows[name] if c in rows["footprint"]]
        if not both:
            print(f"footprint/{name}: no CCG solved by both")
            continue
        fp_s = sum(solved["footprint"][c].seconds or 0.0 for c in both)
        peer_s = sum(solved[name][c].seconds or 0.0 for c in both)
        fp_km = _weighted_km(solved["footprint"], subs, both)
        peer_km = _weighted_km({c: solved[name][c] for c in both}, subs, both, relabel=True)
        print(
            f"footprint/{name} on the {len(both)} CCG(s) both solved: seconds {fp_s:.2f}/{peer_s:.2f} = "
            f"{_ratio(fp_s, peer_s)}; compactness {fp_km:.3f}/{peer_km:.3f} km = {_ratio(fp_km, peer_km)}"
        )


def print_speed(
    timed: dict[str, dict[str, Outcome]],
    gerry: dict[str, Outcome],
    subs: dict[str, nx.Graph],
    *,
    repeat: int = 1,
) -> None:
    """Print, per CCG, footprint's first valid plan and fully staged plan against GerryChain's time."""
    fastest = f", fastest of {repeat} runs each" if repeat > 1 else ""
    print(
        "\nper CCG, one process each: footprint's first valid plan (--fast: warm start, and stage 1 where "
        "it misses the bound) and fully staged plan, against GerryChain's recursive_tree_part\n"
        "timed inside the process, from the CCG's subgraph to the labels (footprint: solve_plan on the "
        "subgraph; GerryChain: a numbered copy, Graph.from_networkx, recursive_tree_part); each solver "
        "run once untimed before (imports, tables, first-call set-up)\n"
        f"(wall s, CPU s in brackets{fastest}; targets: first/gerry <= 1, staged/gerry <= 2)"
    )
    print(
        f"{'CCG':<6}{'practices':>10}{'first s':>16}{'staged s':>16}{'gerry s':>16}"
        f"{'first/gerry':>12}{'staged/gerry':>13}  stages proven by the first plan"
    )
    met_first = met_staged = both = 0
    for ccg, sub in subs.items():
        first, staged, peer = timed["first"][ccg], timed["staged"][ccg], gerry.get(ccg, Outcome("not run"))

        def cell(o: Outcome) -> str:
            if o.status != "ok" or o.seconds is None:
                return o.status
            return f"{o.seconds:.3f} ({o.cpu or 0:.3f})"

        ratios = ("-", "-")
        if peer.status == "ok" and first.status == staged.status == "ok":
            both += 1
            r1, r2 = _ratio(first.seconds, peer.seconds), _ratio(staged.seconds, peer.seconds)
            met_first += (first.seconds or 0) <= (peer.seconds or 0)
            met_staged += (staged.seconds or 0) <= 2 * (peer.seconds or 0)
            ratios = (r1, r2)
        print(
            f"{ccg:<6}{sub.number_of_nodes():>10,}{cell(first):>16}{cell(staged):>16}{cell(peer):>16}"
            f"{ratios[0]:>12}{ratios[1]:>13}  {first.note.removeprefix('proven: ')}"
        )
    if both:
        total = {
            k: sum(timed[k][c].seconds or 0 for c in subs if gerry.get(c, Outcome("x")).status == "ok")
            for k in timed
        }
        peer_s = sum(o.seconds or 0 for o in gerry.values() if o.status == "ok")
        print(
            f"on the {both} CCG(s) GerryChain solved: first valid plan no slower than GerryChain in "
            f"{met_first}/{both}, fully staged within 2x in {met_staged}/{both}; totals first "
            f"{total['first']:.2f} s, staged {total['staged']:.2f} s, GerryChain {peer_s:.2f} s"
        )


def _weighted_km(
    outcomes: dict[str, Outcome], subs: dict[str, nx.Graph], ccgs: Sequence[str], *, relabel: bool = False
) -> float:
    assignment: dict[str, str | None] = {}
    for ccg in ccgs:
        plan = _plan(outcomes[ccg], ccg) if relabel else Plan(outcomes[ccg].assignment)
        assignment.update(plan.assignment)
    return compactness_km(Plan(assignment), nx.union_all([subs[c] for c in ccgs]))


# --- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    t0 = time.perf_counter()
    practices = read_practices()
    graph = graph_from_practices(practices, read_boundaries())  # warm-up: fills the graph cache
    print(f"warm-up: practices and graph read (cache filled) in {time.perf_counter() - t0:.1f} s")
    known = set(practices["ccg_code"])
    for option, codes in (("--ccg", args.ccg), ("--peer-ccgs", args.peer_ccgs)):
        unknown = sorted(set(codes or ()) - known)
        if unknown:
            sys.exit(f"{option}: unknown CCG code(s) {', '.join(unknown)}; e.g. {', '.join(PEER_CCGS[:4])}")

    rural = frozenset(practices.index[practices["rural"]])
    if args.per_ccg_only:
        run_speed(graph, list(args.peer_ccgs or args.ccg or PEER_CCGS), args, rural)
        return
    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="footprint-bench-"))
    seconds = cpu = None
    if not args.skip_footprint:
        out.mkdir(parents=True, exist_ok=True)
        seconds, cpu = run_footprint(out, args.ccg, args.seed)
    missing = [name for name in ("plan.csv", "summary.json") if not (out / name).is_file()]
    if missing:
        sys.exit(f"{out} lacks {' and '.join(missing)}: give --out DIR of an earlier footprint plan run")
    summary = json.loads((out / "summary.json").read_text())
    plan = read_plan(out / "plan.csv", practices)
    print(f"plan.csv and summary.json in {out}")

    # Judge the CCGs planned: --ccg, else those of summary.json (all England on a full run).
    planned = set(args.ccg or summary.get("ccgs") or known)
    england = planned >= known
    scope = graph
    if not england:  # as footprint plan --ccg does
        scope = graph.subgraph(practices.index[practices["ccg_code"].isin(planned)]).copy()
        plan = plan.restrict(scope)
        summary = {**summary, "ccgs": {c: r for c, r in summary.get("ccgs", {}).items() if c in planned}}
    report_footprint(plan, scope, summary, seconds, england=england, cpu=cpu)

    if not args.no_peers:
        peers = list(args.peer_ccgs or args.ccg or PEER_CCGS)
        run_peers(graph, peers, plan, summary, args, rural)


if __name__ == "__main__":
    main()
