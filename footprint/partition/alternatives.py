"""Diverse good plans for a CCG: the one model, with the band stages fixed and a diversity rule.

The first plan is the partitioner's own. Every further plan meets the same hard rules
with the same least numbers of groups out of band (stages ``out_of_band`` and
``out_of_band_all`` fixed at the first plan's values) and differs from every earlier
plan in at least ``min_diff`` pairs of neighbouring practices: together in one plan and
apart in the other. That is a linear condition on one indicator per edge of the graph,
``same[i, j]`` (true exactly when ``i`` and ``j`` share a group), added to the model by
the extra builder :class:`_Diverse`. Each plan is first found by a feasibility search
from the previous plan, then improved through the remaining objective stages.
When CP-SAT proves no further plan exists, the CCG's result says so.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import networkx as nx
from ortools.sat.python import cp_model

from footprint._pool import imap_unordered, in_process
from footprint.config import Rules, SolveOptions
from footprint.errors import PlanError
from footprint.partition._instance import Instance, PlanInputs, group_ids, instances_from_graph
from footprint.partition.model import PartitionModel, add_hints, build_model
from footprint.partition.solve import check_params, run_stages, solve_instance, solver_from_options
from footprint.partition.stages import StageResult
from footprint.partition.warmstart import recombine_pair
from footprint.plan import Plan

__all__ = ["Alternatives", "CcgAlternatives", "alternative_plans", "ccg_alternatives"]

logger = logging.getLogger(__name__)

#: The stages every alternative holds at the first plan's values.
_FIXED = ("out_of_band", "out_of_band_all")
#: Recombination steps tried for each new plan before CP-SAT searches for one.
_RECOM_STEPS = 200


@dataclass(frozen=True)
class CcgAlternatives:
    """How one CCG's alternatives were found.

    ``found`` plans were found of ``requested``; when fewer, ``exhausted`` says CP-SAT
    proved that no further plan differing in ``min_diff`` pairs exists (else the search
    stopped at its time limit). ``stages`` holds each plan's stage results.
    """

    ccg_code: str
    requested: int
    found: int
    exhausted: bool
    min_diff: int
    seconds: float
    stages: tuple[tuple[StageResult, ...], ...] = field(default_factory=tuple)

    @property
    def note(self) -> str:
        """Say in words how many plans were found, and whether that is all there are."""
        if self.found >= self.requested:
            return f"{self.found} plan(s) found"
        why = (
            "CP-SAT proved no other plan differs from these in"
            if self.exhausted
            else "no other plan was found within the time limit that differs from these in"
        )
        return (
            f"{self.found} of {self.requested} plan(s): {why} at least {self.min_diff} pair(s) "
            "of neighbouring practices with as few groups out of band"
        )

    def to_dict(self) -> dict:
        """Return the result as plain data for JSON."""
        return {
            "requested": self.requested,
            "found": self.found,
            "exhausted": self.exhausted,
            "min_diff": self.min_diff,
            "seconds": round(self.seconds, 3),
            "note": self.note,
            "stages": [
                [{"stage": s.name, "value": s.value, "status": s.status} for s in p] for p in self.stages
            ],
        }


def _together(labels: Sequence[int], edges: Sequence[tuple[int, int]]) -> list[bool]:
    return [labels[i] == labels[j] for i, j in edges]


def _differing(a: Sequence[bool], b: Sequence[bool]) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class _Diverse:
    """Extra builder: differ from each earlier plan in at least ``min_diff`` neighbouring pairs."""

    edges: tuple[tuple[int, int], ...]
    earlier: tuple[tuple[bool, ...], ...]
    min_diff: int

    def __call__(self, pm: PartitionModel) -> None:
        model, label, edges = pm.model, pm.forest.label, self.edges
        same = {}
        for i, j in edges:
            # same[i, j] is true exactly when the two neighbours share a group.
            same[i, j] = model.new_bool_var(f"same[{i},{j}]")
            model.add(label[i] == label[j]).only_enforce_if(same[i, j])
            model.add(label[i] != label[j]).only_enforce_if(same[i, j].Not())
        for before in self.earlier:
            # Differ from an earlier plan in at least min_diff pairs: apart where it had them
            # together, or together where it had them apart.
            model.add(
                sum((1 - same[e]) if was else same[e] for e, was in zip(edges, before, strict=True))
                >= self.min_diff
            )
        pm.checks.append(self.holds)

    def holds(self, labels: Sequence[int]) -> bool:
        """Return whether a grouping differs enough from every earlier plan."""
        now = _together(labels, self.edges)
        return all(_differing(now, before) >= self.min_diff for before in self.earlier)


@dataclass(frozen=True)
class _FixBand:
    """Extra builder: as few groups out of band as the first plan (stages 1 and 2 fixed)."""

    not_exempt: int
    out_of_band: int

    def __call__(self, pm: PartitionModel) -> None:
        # The least numbers of groups out of band (not exempt, and all) stay as proven.
        pm.model.add(pm.band.not_exempt_count <= self.not_exempt)
        pm.model.add(pm.band.out_of_band_count <= self.out_of_band)


def _feasible(
    pm: PartitionModel, start: Sequence[int], options: SolveOptions
) -> tuple[list[int] | None, bool]:
    """Search for any grouping meeting every rule of ``pm``; return it (or None) and whether none exists."""
    model = pm.model.clone()
    model.add(pm.forest.ordered_roots == 1)
    add_hints(pm, model, start, centre_roots=False)
    solver = solver_from_options(options, limit=options.proof_limit_s, workers=max(options.workers, 2))
    solver.parameters.repair_hint = True  # the start breaks only the diversity rule: repair it
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return pm.labels(solver), False
    return None, status == cp_model.INFEASIBLE


def _recombined(
    inst: Instance, start: Sequence[int], diverse: _Diverse, rng: random.Random, *, steps: int
) -> list[int] | None:
    """Walk from ``start`` by recombination steps until the grouping differs enough; else None.

    Each step merges two neighbouring groups and re-cuts them optimally, never adding a
    group out of band, so a grouping reached this way keeps the band stages' values.
    """
    labels = list(start)
    for _ in range(steps):
        step = recombine_pair(inst, labels, rng)
        if step is None:
            continue
        labels = step
        if diverse.holds(labels):
            return labels
    return None


def _labels_of(inst: Instance, groups: dict[str, str]) -> list[int]:
    ids: dict[str, int] = {}
    return [ids.setdefault(groups[code], k) for k, code in enumerate(inst.codes)]


def ccg_alternatives(
    inst: Instance, *, n: int, min_diff: int, options: SolveOptions
) -> tuple[list[list[int]], CcgAlternatives]:
    """Return up to ``n`` diverse plans of one CCG (as labels) and how they were found."""
    start = time.perf_counter()
    groups, first = solve_instance(inst, options)
    found = [_labels_of(inst, groups)]
    stage_runs = [first.stages]
    done = {s.name: s for s in first.stages if s.name in _FIXED}
    stages = inst.rules.stages
    exhausted = False
    rng = random.Random(options.seed)
    while len(found) < n:
        earlier = tuple(tuple(_together(labels, inst.edges)) for labels in found)
        diverse = _Diverse(tuple(inst.edges), earlier, min_diff)
        fix = _FixBand(int(done["out_of_band"].value), int(done["out_of_band_all"].value))
        pm = build_model(inst, stages=stages, keep_sites=inst.rules.keep_sites, extra=[fix, diverse])
        # A start from recombination steps (as GerryChain's ReCom chain), else CP-SAT's search,
        # which also proves when no other plan exists.
        labels = _recombined(inst, found[-1], diverse, rng, steps=_RECOM_STEPS)
        if labels is None:
            labels, exhausted = _feasible(pm, found[-1], options)
        if labels is None:
            break
        labels, results = run_stages(pm, labels, stages, options, done=[done[s] for s in _FIXED])
        found.append(labels)
        stage_runs.append(tuple(results))
    summary = CcgAlternatives(
        ccg_code=inst.ccg,
        requested=n,
        found=len(found),
        exhausted=exhausted,
        min_diff=min_diff,
        seconds=time.perf_counter() - start,
        stages=tuple(tuple(s) for s in stage_runs),
    )
    return found, summary


@dataclass(frozen=True)
class Alternatives:
    """Diverse plans: ``plans[k]`` holds the ``k+1``-th plan of every CCG that has one."""

    plans: tuple[Plan, ...]
    ccgs: dict[str, CcgAlternatives]


def _solve_ccg(
    inst: Instance, *, n: int, min_diff: int, options: SolveOptions
) -> tuple[list[dict[str, str]], CcgAlternatives]:
    """Solve one CCG's alternatives and name each plan's groups ``<CCG>-<nn>`` (picklable for workers)."""
    found, summary = ccg_alternatives(inst, n=n, min_diff=min_diff, options=options)
    named = []
    for labels in found:
        ids = group_ids(inst, labels)
        named.append({code: ids[labels[i]] for i, code in enumerate(inst.codes)})
    return named, summary


def _on_cluster(
    work: Callable[[Instance], tuple[list[dict[str, str]], CcgAlternatives]],
    instances: Sequence[Instance],
    scheduler: str,
) -> Iterator[tuple[list[dict[str, str]], CcgAlternatives]]:
    """Yield each CCG's result as it finishes on the Dask cluster at ``scheduler``."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        msg = "a scheduler needs Dask distributed: pip install 'footprint[dask]'"
        raise PlanError(msg) from None
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        msg = f"cannot reach the Dask scheduler at {scheduler} ({exc}): start it, or leave the scheduler out"
        raise PlanError(msg) from None
    with client:
        futures = client.map(work, list(instances), pure=False)
        for future in as_completed(futures):
            yield future.result()


def alternative_plans(
    graph: nx.Graph,
    *,
    n: int = 3,
    min_diff: int = 5,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    inputs: PlanInputs | None = None,
    scheduler: str | None = None,
    progress: Callable[[CcgAlternatives], None] | None = None,
) -> Alternatives:
    """Return up to ``n`` diverse plans of each CCG, each as good as the partitioner's on the band.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`.
    n
        Plans wanted per CCG (the first is :func:`~footprint.partition.solve_plan`'s).
    min_diff
        Pairs of neighbouring practices in which each plan must differ from every earlier
        one (together in one, apart in the other).
    rules, options
        As for :func:`~footprint.partition.solve_plan`.
    inputs
        Rural practices, locks, CCGs to plan and the rest (:class:`PlanInputs`).
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``): each CCG is then
        solved on that cluster (needs the ``footprint[dask]`` extra); the plans are the
        same as with the local process pool for the same seed.
    progress
        Called with each CCG's result as it finishes.

    Returns
    -------
    Alternatives
        ``plans[k]`` covers every CCG with at least ``k + 1`` plans; ``ccgs`` says per
        CCG how many were found and whether that is proven to be all.

    Raises
    ------
    PlanError
        If ``n`` or ``min_diff`` is below 1, or a lock cannot be honoured.

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> graph = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> alts = alternative_plans(graph, n=2, min_diff=3, options=SolveOptions(processes=1))
    >>> len(alts.plans), alts.ccgs["00Q"].found
    (2, 2)
    """
    if n < 1 or min_diff < 1:
        msg = f"alternatives need n >= 1 and min_diff >= 1 (got n={n}, min_diff={min_diff})"
        raise PlanError(msg)
    rules = rules or Rules()
    options = options or SolveOptions()
    check_params(options.params)
    instances = sorted(instances_from_graph(graph, rules, inputs or PlanInputs()), key=lambda i: -i.n)
    work = partial(_solve_ccg, n=n, min_diff=min_diff, options=options)
    results: Iterator[tuple[list[dict[str, str]], CcgAlternatives]]
    if scheduler is not None:
        results = _on_cluster(work, instances, scheduler)
    elif options.processes > 1:
        results = imap_unordered(work, instances, processes=options.processes)
    else:
        results = in_process(work, instances)
    assignments: list[dict[str, str | None]] = [{} for _ in range(n)]
    ccgs: dict[str, CcgAlternatives] = {}
    for named, summary in results:
        for k, groups in enumerate(named):
            assignments[k].update(groups)
        ccgs[summary.ccg_code] = summary
        if progress is not None:
            progress(summary)
    plans = tuple(Plan(a, {"alternative": k + 1}) for k, a in enumerate(assignments) if a)
    return Alternatives(plans, dict(sorted(ccgs.items())))
