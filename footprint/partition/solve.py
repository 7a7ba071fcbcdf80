"""Plan every CCG: build its instance and model, run the objective stages, name the groups.

CCGs are independent; each is solved stage by stage (:func:`run_stages`): a stage is
solved, its value is fixed as a constraint, and the next starts from the previous
solution (``add_hint``). The first stage starts from the warm start; a stage whose start
already meets a bound no plan can beat is proven without search. CCGs run in a process
pool when ``options.processes > 1``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

import networkx as nx
from ortools.sat.python import cp_model

from footprint._pool import imap_unordered, in_process
from footprint.config import Rules, SolveOptions
from footprint.errors import DataError, InfeasibleError, PlanError
from footprint.partition._connected_groups import Budget, OverBudgetError, connected_groups
from footprint.partition._instance import Instance, PlanInputs, group_ids, instances_from_graph, path_lengths
from footprint.partition._stay_close import stay_close_starts
from footprint.partition.explain import explain_groups
from footprint.partition.model import Builder, PartitionModel, add_hints, build_model
from footprint.partition.pairs import pair_builders
from footprint.partition.stages import STAGE_REGISTRY, Grouping, Stage, StageResult, stage_values
from footprint.partition.warmstart import current_repaired, polish, warm_start
from footprint.plan import Plan

__all__ = [
    "CcgResult",
    "ModelOnDemand",
    "StageResult",
    "check_params",
    "run_stages",
    "solve_instance",
    "solve_plan",
]

logger = logging.getLogger(__name__)

STATUS = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
    cp_model.UNKNOWN: "UNKNOWN",
}


@dataclass(frozen=True)
class CcgResult:
    """How one CCG was planned.

    ``status`` is ``OPTIMAL`` when every stage was proven optimal, else ``FEASIBLE``.
    ``out_of_band`` counts every group out of band, ``exempt`` those of them that are
    exempt (allowed: see :meth:`footprint.config.Rules.exemption`). ``explanations`` says,
    per out-of-band group (keyed by PCN id), which practices and why.
    """

    ccg_code: str
    status: str
    stages: tuple[StageResult, ...]
    seconds: float
    groups: int
    out_of_band: int
    split_sites: int
    exempt: int = 0
    explanations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the result as plain data for JSON."""
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "groups": self.groups,
            "out_of_band": self.out_of_band,
            "exempt": self.exempt,
            "split_sites": self.split_sites,
            "stages": [
                {
                    "stage": s.name,
                    "value": s.value,
                    "bound": s.bound,
                    "gap": round(s.gap, 5),
                    "status": s.status,
                    "seconds": round(s.seconds, 3),
                }
                for s in self.stages
            ],
            "explanations": dict(self.explanations),
        }


def solve_plan(  # noqa: PLR0913 - the public keyword-only options, as osmnx's entry points
    graph: nx.Graph,
    *,
    rules: Rules | None = None,
    options: SolveOptions | None = None,
    rural: Iterable[str] = (),
    lock: Plan | None = None,
    current: Plan | None = None,
    allow_cross: Mapping[str, str] | None = None,
    ccgs: Sequence[str] | None = None,
    approved: Iterable[str] = (),
    apart: Iterable[tuple[str, str]] = (),
    together: Iterable[tuple[str, str]] = (),
    progress: Callable[[CcgResult], None] | None = None,
) -> Plan:
    """Return a plan of contiguous PCNs for every practice of the graph's CCGs.

    Parameters
    ----------
    graph
        From :func:`footprint.graph.graph_from_practices`.
    rules
        Band, rural and building rules and the objective stages.
    options
        Time limits, workers, processes, seed and raw CP-SAT parameters.
    rural
        Codes of practices flagged rural (may form an exempt group down to ``rules.rural_floor``).
    lock
        Agreed groups: every practice with a PCN id here keeps exactly that group.
    current
        The current PCNs, needed by the ``moves`` stage.
    allow_cross
        Practice code to the code of a neighbouring CCG whose network it may join.
    ccgs
        Only plan these CCGs (default: every CCG in the graph).
    approved
        PCN ids of ``lock`` a commissioner approved as exceptions: exempt when out of band.
    apart, together
        Pairs of practice codes that must not share a group, or must.
    progress
        Called with each CCG's result as it finishes.

    Returns
    -------
    Plan
        Every practice of the CCGs planned, with PCN ids ``<CCG>-<nn>`` unique across
        England; ``plan.info["ccgs"]`` maps CCG code to :class:`CcgResult`.

    Raises
    ------
    DataError
        If ``options.params`` is not valid CP-SAT text format (names the parameter), or a
        pair names an unknown practice or is both apart and together.
    PlanError
        If a lock, a pair or an ``allow_cross`` entry cannot be honoured (names the
        practices; for a lock, the group and why).
    InfeasibleError
        If no plan meets the hard rules (e.g. ``keep_sites`` with a lock that splits a building).

    Examples
    --------
    >>> from footprint.load import read_practices, select_ccgs
    >>> from footprint.graph import graph_from_practices
    >>> graph = graph_from_practices(select_ccgs(read_practices(), ["00Q"]))
    >>> plan = solve_plan(graph, options=SolveOptions(processes=1))
    >>> plan.info["ccgs"]["00Q"].stages[0].status
    'OPTIMAL'
    """
    rules = rules or Rules()
    options = options or SolveOptions()
    check_params(options.params)
    if "moves" in rules.stages and current is None:
        msg = "the moves stage needs the current PCNs: pass current=plan_from_practices(practices)"
        raise PlanError(msg)
    inputs = PlanInputs(
        rural=frozenset(rural),
        lock=lock,
        current=current,
        allow_cross=allow_cross or {},
        ccgs=ccgs,
        approved=frozenset(approved),
    )
    instances = instances_from_graph(graph, rules, inputs)
    extra = pair_builders(graph, instances, apart=apart, together=together, allow_cross=allow_cross)
    instances.sort(key=lambda inst: -inst.n)  # largest first balances the processes
    assignment: dict[str, str | None] = {}
    info: dict[str, CcgResult] = {}
    for groups, result in _solve_all(instances, options, progress, extra):
        assignment.update(groups)
        info[result.ccg_code] = result
    return Plan(assignment, {"ccgs": dict(sorted(info.items()))})


def _solve_all(
    instances: list[Instance],
    options: SolveOptions,
    progress: Callable[[CcgResult], None] | None,
    extra: Sequence[Builder] = (),
) -> Iterator[tuple[dict[str, str], CcgResult]]:
    """Yield each instance's groups and result as it finishes (in worker processes if asked).

    With ``processes`` above 1 even a single CCG is solved in a worker process, so that an
    interrupted run stops at once: a CP-SAT search in the main process would hold off a
    signal until its time limit.
    """
    job = partial(solve_instance, options=options, extra=extra)
    if options.processes == 1:
        solved = in_process(job, instances)
    else:
        solved = imap_unordered(job, instances, processes=options.processes)
    for done in solved:
        if progress is not None:
            progress(done[1])
        yield done


# --------------------------------------------------------------------------------------
# Solver parameters
# --------------------------------------------------------------------------------------


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (CP-SAT's C++ parser logs its own error line there)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _merge_params(params: object, text: str) -> bool:
    """Merge CP-SAT text-format ``text`` into ``params``; return whether it parsed."""
    merge = getattr(params, "merge_text_format", None)
    if merge is not None:  # ortools >= 9.15: parameters are a C++ object
        with _quiet_stderr():
            return bool(merge(text))
    from google.protobuf import text_format  # ortools < 9.15: a protobuf message

    try:
        text_format.Merge(text, params)
    except text_format.ParseError:
        return False
    return True


def check_params(text: str) -> None:
    """Check raw CP-SAT parameters in text format (e.g. ``"linearization_level:2"``).

    Raises
    ------
    DataError
        Naming the first parameter that is unknown or has a bad value.

    Examples
    --------
    >>> check_params("linearization_level:2 num_workers:3")
    >>> check_params("linearization_level:x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    footprint.errors.DataError: CP-SAT parameter 'linearization_level:x' is not valid: ...
    >>> check_params("num_workers:-5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    footprint.errors.DataError: CP-SAT parameters 'num_workers:-5' are not valid: parameter 'num_workers' ...
    """
    if not text.strip():
        return
    solver = cp_model.CpSolver()
    if _merge_params(solver.parameters, text):
        # A value the text format takes may still be out of range (num_workers:-5): CP-SAT
        # validates its parameters before any search and says which, on an empty model.
        if solver.solve(cp_model.CpModel()) != cp_model.MODEL_INVALID:
            return
        msg = (
            f"CP-SAT parameters {text!r} are not valid: {solver.solution_info()}; "
            "give values in the range CP-SAT's documentation states"
        )
        raise DataError(msg)
    pieces = [p for p in text.replace(",", " ").split() if p]
    # Name the first piece that fails on its own ("name:value" or "name: value").
    merged = []
    for k, piece in enumerate(pieces):
        if piece.endswith(":") and k + 1 < len(pieces):
            continue
        merged.append(f"{pieces[k - 1]} {piece}" if k and pieces[k - 1].endswith(":") else piece)
    bad = next((p for p in merged if not _merge_params(cp_model.CpSolver().parameters, p)), text)
    name = bad.split(":")[0].strip()
    known = hasattr(cp_model.CpSolver().parameters, name)
    why = "bad value" if known else f"no CP-SAT parameter is called {name!r}"
    msg = (
        f"CP-SAT parameter {bad!r} is not valid: {why}; give name:value pairs in CP-SAT's text format, "
        "e.g. 'linearization_level:2 cp_model_probing_level:0'"
    )
    raise DataError(msg)


def solver_from_options(options: SolveOptions, *, limit: float, workers: int) -> cp_model.CpSolver:
    """Return a CP-SAT solver set up from ``options`` with a time ``limit`` and ``workers``."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = workers
    params.random_seed = options.seed
    # CP-SAT's own Ctrl+C handler leaves SIGINT at the C default when a solve ends, so the next
    # Ctrl+C would kill the process with no message: footprint handles Ctrl+C itself.
    params.catch_sigint_signal = False
    if options.deterministic:
        params.max_deterministic_time = limit
        if workers > 1:
            params.interleave_search = True
    else:
        params.max_time_in_seconds = limit
    if logger.isEnabledFor(logging.DEBUG):
        params.log_search_progress = True
        params.log_to_stdout = False
        solver.log_callback = logger.debug
    if options.params and not _merge_params(params, options.params):
        check_params(options.params)  # raises, naming the parameter
    return solver


# --------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------


def _solve_stage(
    pm: PartitionModel,
    labels: list[int],
    stage: Stage,
    solver: cp_model.CpSolver,
    *,
    centre_roots: bool,
    bound: float | None = None,
) -> tuple[list[int], StageResult]:
    """Minimise one stage from a hinted start; return the grouping and the stage's result.

    Roots are ordered (symmetry breaking) unless ``centre_roots`` lets them move to the centre.
    ``bound`` is the stage's own lower bound (:attr:`Stage.lower_bound`), if known.
    """
    stage_model = pm.model.clone()
    stage_model.add(pm.forest.ordered_roots == int(not centre_roots))
    add_hints(pm, stage_model, labels, centre_roots=centre_roots)
    if bound:
        # Redundant: no plan beats the stage's lower bound (the search stops on meeting it).
        stage_model.add(stage.expression(pm) >= math.ceil(bound))
    stage_model.minimize(stage.expression(pm))
    t0 = time.perf_counter()
    status = solver.solve(stage_model)
    seconds = time.perf_counter() - t0
    name = STATUS.get(status, str(status))
    if status in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
        msg = (
            f"CCG {pm.inst.ccg}: no plan meets the hard rules (CP-SAT says {name} at stage {stage.name}); "
            "the likely binding rule is a lock, a pair of practices kept apart or together, or keeping "
            "buildings together where a lock or a big practice splits a building: relax one"
        )
        raise InfeasibleError(msg)
    if status == cp_model.UNKNOWN:  # no solution within the limit: keep the previous one
        if not pm.holds(labels):
            msg = (
                f"CCG {pm.inst.ccg}: no plan keeping the pairs of practices apart and together was found "
                f"within the time limit at stage {stage.name}: raise the time limits"
            )
            raise InfeasibleError(msg)
        value = stage.evaluate(Grouping(pm.inst, labels))
        bound = max(float(solver.best_objective_bound), bound or 0.0)
        return labels, StageResult(stage.name, value, min(bound, value), _status(value, bound), seconds)
    found = pm.labels(solver)
    # The value is the grouping's own figure (the model's can be higher in a solution not
    # proven optimal, e.g. a matching of current PCNs that is not the best); a search cut
    # short never returns worse than its start.
    value = min(float(solver.objective_value), stage.evaluate(Grouping(pm.inst, found)))
    start = stage.evaluate(Grouping(pm.inst, labels))
    if start < value and pm.holds(labels):
        found, value = list(labels), start
    bound = min(max(float(solver.best_objective_bound), bound or 0.0), value)
    return found, StageResult(stage.name, value, bound, _status(value, bound), seconds)


def _status(value: float, bound: float) -> str:
    """Return a stage's status: optimal where its value meets its bound."""
    return "OPTIMAL" if value <= bound else "FEASIBLE"


class ModelOnDemand:
    """The model of one CCG with no extra builders, built only when a stage needs a search.

    Most CCGs settle every stage without CP-SAT (the warm start meets the bounds, the
    compactness polish needs no model): for them the model is never built. Until it is,
    every grouping holds (only extra builders add hard rules to check), and the values
    fixed by settled stages wait to be added.
    """

    def __init__(self, inst: Instance, build: Callable[[], PartitionModel]) -> None:
        self.inst = inst
        self._build = build
        self._built: PartitionModel | None = None
        self._pending: list[tuple[Stage, float]] = []

    def holds(self, labels: Sequence[int]) -> bool:
        """Return whether a grouping meets the hard rules of the extra builders (there are none)."""
        return self._built is None or self._built.holds(labels)

    def get(self) -> PartitionModel:
        """Return the model, building it (with every value fixed so far) at the first call."""
        if self._built is None:
            self._built = self._build()
            for stage, value in self._pending:
                self._built.model.add(stage.expression(self._built) <= round(value))
        return self._built

    def fix(self, stage: Stage, value: float) -> None:
        """Fix a stage's value (at most ``value``) for the stages after it."""
        if self._built is None:
            self._pending.append((stage, value))
        else:
            self._built.model.add(stage.expression(self._built) <= round(value))


def run_stages(
    pm: PartitionModel | ModelOnDemand,
    labels: Sequence[int],
    stages: Sequence[str],
    options: SolveOptions,
    *,
    done: Sequence[StageResult] = (),
    registry: Mapping[str, Stage] = STAGE_REGISTRY,
    proof_stages: int = 1,
) -> tuple[list[int], list[StageResult]]:
    """Minimise ``stages`` one after another on ``pm`` from the grouping ``labels``.

    Each stage's value is fixed (as a constraint on ``pm.model``) for the stages after it;
    a :class:`ModelOnDemand` is built only if a stage needs a search.
    A stage whose start meets its lower bound (and the hard rules of the extra builders)
    is proven without search. Before the compactness stage, boundary practices are moved
    between in-band groups (polish); where every stage is the registry's own, the
    compactness stage gets a bound from the plan found
    (:func:`footprint.partition._compactness.least_compactness`, which solves the stage over
    the CCG's connected groups by column generation), so its gap is known.
    A stage searched by CP-SAT carries its bound as a redundant constraint. ``done`` holds
    the results of the first stages when they were already run on ``pm`` (their values
    already fixed); the run continues after them. ``registry`` names the stages (default
    :data:`STAGE_REGISTRY`; repair adds its own); the first ``proof_stages`` stages get
    ``options.proof_limit_s``, the rest ``options.time_limit_s``.

    Returns
    -------
    tuple
        The final grouping and each stage's :class:`StageResult` (``done`` included).
    """
    inst, labels = pm.inst, list(labels)
    results: dict[str, StageResult] = {r.name: r for r in done}
    settled_on: dict[str, list[int]] = {}  # the grouping each stage's value was found on
    for k, stage in enumerate(stages):
        if stage in results:
            continue
        exact = None
        if _enumerable(pm, stages[: k + 1], options, registry):
            # A tiny CCG: every grouping weighed, faster than building and searching the model.
            exact = _least_compactness(inst, {s: results[s].value for s in stages[:k]}, labels)
        bound_s = 0.0
        if stage == "compactness" and not options.fast and exact is None:
            values = partial(stage_values, inst, stages=stages[:k], registry=registry)
            polished = polish(inst, labels, values=values, keep=stages[:k], seed=options.seed)
            labels = polished if pm.holds(polished) else labels
        value = registry[stage].evaluate(Grouping(inst, labels)) if exact is None else exact[1]
        bound = _lower_bound(registry[stage], inst, results, labels, value, fast=options.fast)
        searchable = (
            registry[stage].search is not None
            and not options.fast
            and exact is None
            and (registry[stage] is not STAGE_REGISTRY.get(stage) or _own_stages(registry, stages[: k + 1]))
        )
        if searchable and registry[stage].search_first and (bound is None or value > bound):
            t0 = time.perf_counter()
            searched = _searched(pm, labels, value, bound, stages[: k + 1], results, registry, options)
            labels, value, bound = searched
            bound_s = time.perf_counter() - t0
        if exact is not None:
            labels = exact[0]
            results[stage] = StageResult(stage, exact[1], exact[1], "OPTIMAL", exact[2])
        elif bound is not None and value <= bound and pm.holds(labels):
            # The start meets a bound no plan can beat: proven without search.
            results[stage] = StageResult(stage, value, value, "OPTIMAL", bound_s)
        elif k > 0 and pm.holds(labels) and _no_search(stage, inst.n, options):
            # Evaluated, not searched: the first valid plan (fast), or a large CCG's polished plan.
            results[stage] = StageResult(stage, value, min(value, bound or 0.0), "FEASIBLE", bound_s)
        else:
            # Stage 1 reaches the solver only where the warm start missed the bound: there the
            # portfolio (large-neighbourhood search beside the tree search) needs two workers.
            first = k == 0
            solver = solver_from_options(
                options,
                limit=options.proof_limit_s if k < proof_stages else options.time_limit_s,
                workers=max(options.workers, 2) if first else options.workers,
            )
            centre = "compactness" in stages[: k + 1]
            model = pm.get() if isinstance(pm, ModelOnDemand) else pm
            labels, results[stage] = _solve_stage(
                model, labels, registry[stage], solver, centre_roots=centre, bound=bound
            )
            if searchable and not registry[stage].search_first and not results[stage].proven:
                labels = _searched_after(pm, labels, stages[: k + 1], results, registry, options)
        settled_on[stage] = labels
        # Fix this stage's value for the stages after it.
        if isinstance(pm, ModelOnDemand):
            pm.fix(registry[stage], results[stage].value)
        else:
            pm.model.add(registry[stage].expression(pm) <= round(results[stage].value))
        result = results[stage]
        logger.debug(
            "%s stage %s: %s value %s bound %s", inst.ccg, stage, result.status, result.value, result.bound
        )
    # A later stage may lower an earlier one's figure (each is fixed as at most its value):
    # report what the final grouping achieves.
    changed = [stage for stage in stages if settled_on.get(stage) is not labels]
    final = stage_values(inst, labels, changed, registry=registry)
    for stage, value in final.items():
        result = results[stage]
        if value < result.value:
            # Lowered to its bound (the patients moved may lower the moves), it is proven.
            bound = min(result.bound, value)
            results[stage] = replace(result, value=value, bound=bound, status=_status(value, result.bound))
    return labels, [results[stage] for stage in stages]


def _lower_bound(
    stage: Stage,
    inst: Instance,
    done: Mapping[str, StageResult],
    labels: Sequence[int],
    value: float,
    *,
    fast: bool,
) -> float | None:
    """Return the stage's bound: its plain one, or its stronger one where the plan lies above it.

    ``labels`` is the plan found so far and ``value`` its figure for the stage.
    """
    bound = stage.lower_bound(inst, done)
    if stage.stronger is not None and not fast and bound is not None and value > bound:
        bound = max(bound, stage.stronger(inst, done, labels))
    return bound


#: Stages an enumeration checks per grouping before the compactness stage (see
#: :func:`_least_compactness`); any other (moves, a repair stage) needs the model.
_ENUMERABLE = ("out_of_band", "out_of_band_all", "deviation", "split_sites")
#: Groups an enumeration may weigh before it gives way to the model.
ENUMERATION_BUDGET = 20_000


def _searched(
    pm: PartitionModel | ModelOnDemand,
    labels: list[int],
    value: float,
    bound: float | None,
    stages: Sequence[str],
    results: Mapping[str, StageResult],
    registry: Mapping[str, Stage],
    options: SolveOptions,
) -> tuple[list[int], float, float]:
    """Run the last stage's own search over the CCG's connected groups (:attr:`Stage.search`).

    Return the plan (the search's where it finds a better one that keeps the model's own
    rules and the values of the stages before), its value, and the bound (compactness gets
    its only bound here).
    """
    inst, (*before, name) = pm.inst, stages
    stage = registry[name]
    assert stage.search is not None
    better, found = stage.search(inst, results, labels, seed=options.seed)
    if better is not None and pm.holds(better) and _meets(inst, better, results, before, registry):
        labels, value = better, stage.evaluate(Grouping(inst, better))
    elif better is not None:
        logger.debug("%s stage %s: the plan found breaks a rule or a stage before", inst.ccg, name)
    return labels, value, min(found if bound is None else max(bound, found), value)


def _searched_after(
    pm: PartitionModel | ModelOnDemand,
    labels: list[int],
    stages: Sequence[str],
    results: dict[str, StageResult],
    registry: Mapping[str, Stage],
    options: SolveOptions,
) -> list[int]:
    """Run the last stage's own search from the plan CP-SAT left unproven; update its result."""
    name, t0 = stages[-1], time.perf_counter()
    result = results[name]
    labels, value, bound = _searched(
        pm, labels, result.value, result.bound, stages, results, registry, options
    )
    seconds = result.seconds + time.perf_counter() - t0
    results[name] = StageResult(name, value, bound, _status(value, bound), seconds)
    return labels


def _meets(
    inst: Instance,
    labels: Sequence[int],
    results: Mapping[str, StageResult],
    stages: Sequence[str],
    registry: Mapping[str, Stage],
) -> bool:
    """Return whether a grouping is no worse than the values settled for ``stages``."""
    values = stage_values(inst, labels, stages, registry=registry)
    return all(values[s] <= results[s].value for s in stages)


def _own_stages(registry: Mapping[str, Stage], stages: Sequence[str]) -> bool:
    """Return whether every stage is the plan's own (:data:`STAGE_REGISTRY`), none of repair's."""
    return all(registry[s] is STAGE_REGISTRY.get(s) for s in stages)


def _enumerable(
    pm: PartitionModel | ModelOnDemand,
    stages: Sequence[str],
    options: SolveOptions,
    registry: Mapping[str, Stage],
) -> bool:
    """Return whether the last of ``stages``, compactness, may be found by enumeration instead of CP-SAT.

    Only where the model would search it (a CCG of at most ``options.compactness_search``
    practices, not ``fast``), holds no rule but the builders' own (no extra builders: a
    :class:`ModelOnDemand`) and every stage before it is one the enumeration checks.
    """
    *before, stage = stages
    return (
        stage == "compactness"
        and not options.fast
        and pm.inst.n <= options.compactness_search
        and isinstance(pm, ModelOnDemand)
        and all(s in _ENUMERABLE and registry[s] is STAGE_REGISTRY[s] for s in before)
        and registry[stage] is STAGE_REGISTRY[stage]
    )


class _Enumeration:
    """Every grouping of a tiny CCG's free practices into connected groups, weighed as the model would.

    Groups are bit masks of practice indices; each group's figures (out of band and not
    exempt, out of band, patients outside the band, buildings split) and its tree distance
    are computed once.
    """

    def __init__(self, inst: Instance, fixed: Mapping[str, float], budget: int) -> None:
        self.inst, self.budget = inst, Budget(budget)
        self.adjacency = inst.neighbours()
        self.neighbours = [0] * inst.n
        for i, j in inst.edges:
            self.neighbours[i] |= 1 << j
            self.neighbours[j] |= 1 << i
        sites = [[i for i in site if not inst.big[i]] for site in inst.sites]
        self.site_masks = [sum(1 << i for i in site) for site in sites if len(site) > 1]
        # Each stage before compactness is fixed at most at its value (None: not fixed).
        self.limits = tuple(round(fixed[s]) if s in fixed else None for s in _ENUMERABLE)
        self._figures: dict[int, tuple[int, int, int, int]] = {}
        self._distance: dict[int, int] = {}
        self.best: tuple[float, list[int] | None] = (0.0, None)

    def members(self, mask: int) -> list[int]:
        """Return the practice indices of a group."""
        return [i for i in range(self.inst.n) if mask >> i & 1]

    def figures(self, mask: int) -> tuple[int, int, int, int]:
        """Return a group's out of band and not exempt, out of band, deviation, buildings split (mask)."""
        if mask not in self._figures:
            members = self.members(mask)
            status = self.inst.status(members)
            split = sum(
                1 << k for k, site in enumerate(self.site_masks) if mask & site and mask & site != site
            )
            self._figures[mask] = (
                int(status in ("below", "above")),
                int(status != "in_band"),
                self.inst.deviation(members),
                split,
            )
        return self._figures[mask]

    def distance(self, mask: int) -> int:
        """Return a group's least tree distance: list size times shortest path from the best root."""
        if mask not in self._distance:
            members, sizes, length = self.members(mask), self.inst.sizes, self.inst.arc_length
            best = None
            for root in members:  # the shortest paths within the group from each root
                reach = path_lengths(self.adjacency, length, members, root)
                total = sum(sizes[v] * reach[v] for v in members)
                best = total if best is None else min(best, total)
            self._distance[mask] = best or 0
        return self._distance[mask]

    def _fits(self, counts: tuple[int, int, int, int], g_split: int) -> bool:
        """Return whether figures summed over groups (buildings split as a mask) stay within the limits."""
        values = (*counts[:3], counts[3].bit_count())
        within = all(
            limit is None or value <= limit for value, limit in zip(values, self.limits, strict=True)
        )
        return within and not (self.inst.rules.keep_sites and g_split)

    def search(self, free: int, counts: tuple[int, int, int, int], dist: int, chosen: list[int]) -> None:
        """Complete the grouping ``chosen`` over the ``free`` practices, keeping the least distance found."""
        if not free:
            if self.best[1] is None or dist < self.best[0]:
                self.best = (dist, list(chosen))
            return
        first = (free & -free).bit_length() - 1
        # A group more patients above the band than the deviation left is no use.
        room = math.inf if self.limits[2] is None else self.limits[2] - counts[2]
        most = self.inst.rules.band.high + room
        groups = connected_groups(first, free, self.neighbours, self.inst.sizes, self.budget, most=most)
        for mask, _ in groups:
            g = self.figures(mask)
            summed = (counts[0] + g[0], counts[1] + g[1], counts[2] + g[2], counts[3] | g[3])
            if not self._fits(summed, g[3]):
                continue
            d = dist + self.distance(mask)
            if d > self.best[0] or (self.best[1] is not None and d >= self.best[0]):
                continue  # no better than the best found (at first: the start)
            chosen.append(mask)
            self.search(free & ~mask, summed, d, chosen)
            chosen.pop()


def _least_compactness(
    inst: Instance, fixed: Mapping[str, float], start: Sequence[int], *, budget: int = ENUMERATION_BUDGET
) -> tuple[list[int], float, float] | None:
    """Return the grouping of least compactness as the model counts it, by enumeration; its value and seconds.

    The model's compactness of a group is its least, over roots, of list size times the
    shortest path (the model's arc lengths, within the group) to every member: the tree
    distance of the best forest the model can choose. Every partition of the practices
    outside the fixed groups into connected groups is weighed, the fixed groups kept,
    each stage before compactness held at most at its value in ``fixed`` (groups out of
    band and not exempt, out of band, patients outside the band, buildings split; with
    ``keep_sites`` no building split), pruned by the best found so far (at first the
    ``start`` grouping's compactness, which meets ``fixed``). Of groupings alike, the
    first in the enumeration's order is kept. Returns ``None`` past ``budget`` groups
    weighed (the model searches instead).
    """
    t0 = time.perf_counter()
    enum = _Enumeration(inst, fixed, budget)
    fixed_masks = [sum(1 << i for i in group) for group in inst.fixed_groups()]
    counts, split, dist = (0, 0, 0), 0, 0
    for mask in fixed_masks:
        g = enum.figures(mask)
        counts = (counts[0] + g[0], counts[1] + g[1], counts[2] + g[2])
        split |= g[3]
        dist += enum.distance(mask)
    free = (1 << inst.n) - 1
    for mask in fixed_masks:
        free &= ~mask
    enum.best = (STAGE_REGISTRY["compactness"].evaluate(Grouping(inst, start)), None)
    try:
        enum.search(free, (*counts, split), dist, [])
    except OverBudgetError:
        logger.debug("%s: compactness enumeration past %d groups; CP-SAT searches instead", inst.ccg, budget)
        return None
    value, groups = enum.best
    if groups is None:
        return None
    labels = [0] * inst.n
    for mask in [*fixed_masks, *groups]:
        members = enum.members(mask)
        for i in members:
            labels[i] = members[0]
    return labels, float(value), time.perf_counter() - t0


def _no_search(stage: str, practices: int, options: SolveOptions) -> bool:
    """Return whether a stage after the first keeps its start without a CP-SAT search."""
    return options.fast or (stage == "compactness" and practices > options.compactness_search)


def _solve_stages(
    inst: Instance, options: SolveOptions, extra: Iterable[Builder], *, unless_breaking: bool = False
) -> tuple[list[int], list[StageResult]] | None:
    """Warm-start, build and run every stage of ``inst``.

    With ``unless_breaking``, give up (``None``) as soon as the first stage proves that
    some group must break the band rule.
    """
    stages = inst.rules.stages
    # The warm start searches wider where it misses the first stage's bound.
    target = STAGE_REGISTRY[stages[0]].lower_bound(inst, {}) if stages[0] == "out_of_band" else None
    labels = warm_start(inst, seed=options.seed, target=target)
    extra = list(extra)
    build = partial(build_model, inst, stages=stages, keep_sites=inst.rules.keep_sites, extra=extra)
    pm: PartitionModel | ModelOnDemand = build() if extra or "moves" in stages else ModelOnDemand(inst, build)
    done: list[StageResult] = []
    if unless_breaking:
        labels, done = run_stages(pm, labels, stages[:1], options)
        if done[0].value > 0:
            return None
    if isinstance(pm, PartitionModel) and "moves" in stages and not options.fast:
        before = stages[: stages.index("moves")]
        labels, done = run_stages(pm, labels, before, options, done=done)
        labels = _moves_start(pm, labels, done, options)
    return run_stages(pm, labels, stages, options, done=done)


def _moves_start(
    pm: PartitionModel, labels: list[int], done: Sequence[StageResult], options: SolveOptions
) -> list[int]:
    """Return the start of the moves stage: the grouping that moves fewest practices.

    The candidates are the plan made without the moves stage (its later stages run on a
    copy of the model), the grouping of the stages before it, and, where they meet those
    stages, the current PCNs repaired, the current PCNs mended as repair mends them and
    both plans with practices walked back to their current PCNs
    (:func:`~footprint.partition._stay_close.stay_close_starts`): so a short limit on the
    moves stage never does worse than the plan made without it.
    """
    inst = pm.inst
    rest = [s for s in inst.rules.stages if s != "moves"]
    copy = replace(pm, model=pm.model.clone(), checks=list(pm.checks))
    without, _ = run_stages(copy, labels, rest, options, done=done)
    before = [r.name for r in done]
    fixed = {r.name: r.value for r in done}
    starts = [without, labels]
    repaired = current_repaired(inst, seed=options.seed)
    if repaired is not None and pm.holds(repaired):
        values = stage_values(inst, repaired, before)
        if all(values[s] <= fixed[s] for s in before):
            starts.append(repaired)
    starts += [start for start in stay_close_starts(inst, without, fixed) if pm.holds(start)]
    moves = STAGE_REGISTRY["moves"].evaluate
    return min(starts, key=lambda start: moves(Grouping(inst, start)))


def solve_instance(
    inst: Instance, options: SolveOptions, *, extra: Iterable[Builder] = ()
) -> tuple[dict[str, str], CcgResult]:
    """Solve one CCG stage by stage; return practice code to PCN id, and the result.

    ``extra`` builders add constraints to the model before the stages run (they must
    pickle to run in a process pool). Where rural practices may form exempt groups, the
    CCG is first solved without that waiver; if no group then has to break the band rule,
    that plan stands (the waiver changes nothing), else the CCG is solved with it.
    """
    start = time.perf_counter()
    outcome = None
    if any(inst.rural):
        # The rural waiver only turns otherwise impossible groups into exempt ones: where
        # every group can meet the band without it, the plan is the one made without it.
        outcome = _solve_stages(replace(inst, rural=[False] * inst.n), options, extra, unless_breaking=True)
    if outcome is None:
        outcome = _solve_stages(inst, options, extra)
    assert outcome is not None  # without unless_breaking every stage runs
    labels, stages = outcome
    if not stages[0].proven:
        logger.warning(
            "%s: fewest out-of-band groups not proven within %g s (found %s, bound %s)",
            inst.ccg,
            options.proof_limit_s,
            stages[0].value,
            stages[0].bound,
        )
    return ccg_result(inst, labels, stages, start=start)


def ccg_result(
    inst: Instance, labels: Sequence[int], stages: Sequence[StageResult], *, start: float
) -> tuple[dict[str, str], CcgResult]:
    """Name one CCG's groups ``<CCG>-<nn>`` and report how it was planned (started at ``start``)."""
    ids = group_ids(inst, labels)
    grouping = Grouping(inst, labels)
    result = CcgResult(
        ccg_code=inst.ccg,
        status="OPTIMAL" if all(s.proven for s in stages) else "FEASIBLE",
        stages=tuple(stages),
        seconds=time.perf_counter() - start,
        groups=len(ids),
        out_of_band=sum(s != "in_band" for s in grouping.statuses),
        exempt=sum(s.startswith("exempt_") for s in grouping.statuses),
        split_sites=int(STAGE_REGISTRY["split_sites"].evaluate(grouping)),
        explanations=explain_groups(inst, labels, ids, stages[0]),
    )
    return {code: ids[labels[i]] for i, code in enumerate(inst.codes)}, result
