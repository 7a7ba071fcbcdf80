"""The CP-SAT model of one CCG, built from small builders (as spopt's and the OR-Tools samples).

Each builder adds its variables and constraints to a ``cp_model.CpModel`` and returns them
with its objective expression(s):

- :func:`add_forest`: every group is a tree rooted at one practice; ``arc[i, j]`` says
  ``i`` is ``j``'s parent, every non-root practice has exactly one parent, and a flow
  measured in patients runs down the trees (a root supplies its group's list size,
  every practice consumes its own), so the arcs form a forest of connected groups
  (bridges included). ``label[i]`` is the index of ``i``'s root, copied along every arc.
  Objective: the tree distance (patients times 100 m along each tree to its root).
- :func:`add_band`: the one band rule of :class:`footprint.config.Rules` on each root's
  supply: in band, exempt (a big practice standing alone; rural practices between the
  rural floor and the band; an approved locked group) or out of band. Objectives: groups
  out of band and not exempt, groups out of band, patients outside the band.
- :func:`add_locks`: big practices stand alone and locked groups keep their members.
- :func:`add_sites`: practices of one building share a group (hard, or counted as split).
- :func:`add_moves`: practices not left in the group matched to their current PCN.

:func:`build_model` assembles them for an instance, then applies any extra builders
(``extra``: a callable taking the :class:`PartitionModel`), the seam for constraints
that future uses add before the stages run (diversity between alternatives, a maximum
distance for clinical-director clusters). :func:`add_hints` hints every variable from a
grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from footprint.partition._instance import Instance, forest, match_current, members_of, subtree_sizes

__all__ = [
    "Band",
    "Forest",
    "Moves",
    "PartitionModel",
    "Sites",
    "add_apart",
    "add_band",
    "add_forest",
    "add_hints",
    "add_locks",
    "add_moves",
    "add_sites",
    "add_together",
    "build_model",
    "pair_indices",
]

Arc = tuple[int, int]


@dataclass
class Forest:
    """Variables of the rooted forest: roots, parent arcs, patient flow, supplies and labels."""

    root: dict[int, cp_model.IntVar]
    arc: dict[Arc, cp_model.IntVar]
    flow: dict[Arc, cp_model.IntVar]
    supply: dict[int, cp_model.IntVar]
    label: dict[int, cp_model.IntVar]
    #: When true, each group's root is its smallest practice index (symmetry breaking).
    ordered_roots: cp_model.IntVar
    into: dict[int, list[Arc]]
    out_of: dict[int, list[Arc]]
    #: Patient-distance along each tree to its root (100 m units): the model's compactness.
    distance: cp_model.LinearExprT


def add_forest(model: cp_model.CpModel, inst: Instance) -> Forest:
    """Add the rooted forest of connected groups; return its variables and tree distance."""
    # Data
    n, sizes, arcs = inst.n, inst.sizes, inst.arcs
    total = sum(sizes)
    into: dict[int, list[Arc]] = {i: [] for i in range(n)}
    out_of: dict[int, list[Arc]] = {i: [] for i in range(n)}
    for a in arcs:
        out_of[a[0]].append(a)
        into[a[1]].append(a)

    # Variables
    root = {i: model.new_bool_var(f"root[{i}]") for i in range(n)}
    arc = {(i, j): model.new_bool_var(f"arc[{i},{j}]") for i, j in arcs}
    flow = {(i, j): model.new_int_var(0, total, f"flow[{i},{j}]") for i, j in arcs}
    supply = {i: model.new_int_var(0, total, f"supply[{i}]") for i in range(n)}
    label = {i: model.new_int_var(0, n - 1, f"label[{i}]") for i in range(n)}
    ordered_roots = model.new_bool_var("ordered_roots")

    # Constraints
    for j in range(n):
        # Each practice is a root or has exactly one parent.
        model.add_exactly_one([root[j], *(arc[a] for a in into[j])])
        # Flow conservation: a root supplies its group, each practice consumes its list size.
        model.add(sum(flow[a] for a in into[j]) - sum(flow[a] for a in out_of[j]) + supply[j] == sizes[j])
        # Only a root supplies, and at least its own list size.
        model.add(supply[j] == 0).only_enforce_if(root[j].Not())
        model.add(supply[j] >= sizes[j]).only_enforce_if(root[j])
        # A root labels itself; a non-root does not carry its own index.
        model.add(label[j] == j).only_enforce_if(root[j])
        model.add(label[j] != j).only_enforce_if(root[j].Not())
        # Symmetry breaking: the root is the smallest index of its group.
        model.add(label[j] <= j).only_enforce_if(ordered_roots)
    for a in arcs:
        i, j = a
        # Flow runs only on chosen arcs, and a chosen arc carries at least the child's list size.
        model.add(flow[a] <= total * arc[a])
        model.add(flow[a] >= sizes[j] * arc[a])
        # A child carries its parent's label.
        model.add(label[j] == label[i]).only_enforce_if(arc[a])

    # Objective: every patient "travels" the tree from the root to their practice.
    distance = sum(inst.arc_length[a] * flow[a] for a in arcs)
    return Forest(root, arc, flow, supply, label, ordered_roots, into, out_of, distance)


@dataclass
class Band:
    """Variables of the band rule, per practice (non-zero only at a group's root)."""

    in_band: dict[int, cp_model.IntVar]
    exempt: dict[int, cp_model.IntVar | int]
    out_of_band: dict[int, cp_model.IntVar]
    not_exempt: dict[int, cp_model.IntVar]
    deviation: dict[int, cp_model.IntVar]
    rural_group: dict[int, cp_model.IntVar | int]

    @property
    def not_exempt_count(self) -> cp_model.LinearExprT:
        """Groups out of band and not exempt (stage ``out_of_band``)."""
        return sum(self.not_exempt.values())

    @property
    def out_of_band_count(self) -> cp_model.LinearExprT:
        """Groups out of band, exempt or not (stage ``out_of_band_all``)."""
        return sum(self.out_of_band.values())

    @property
    def total_deviation(self) -> cp_model.LinearExprT:
        """Patients outside the band, summed over groups (stage ``deviation``)."""
        return sum(self.deviation.values())


def add_band(model: cp_model.CpModel, inst: Instance, forest: Forest) -> Band:
    """Add the band rule of ``inst.rules`` on every group's total; return its variables."""
    # Data
    rules = inst.rules
    low, high, floor = rules.band.low, rules.band.high, rules.rural_floor
    n, total = inst.n, sum(inst.sizes)
    root, supply = forest.root, forest.supply
    approved = inst.approved_members

    # Variables
    in_band = {i: model.new_bool_var(f"in_band[{i}]") for i in range(n)}
    out_band = {i: model.new_bool_var(f"out_of_band[{i}]") for i in range(n)}
    not_exempt = {i: model.new_bool_var(f"not_exempt[{i}]") for i in range(n)}
    deviation = {i: model.new_int_var(0, max(total, low), f"deviation[{i}]") for i in range(n)}
    rural_group: dict[int, cp_model.IntVar | int] = {
        i: model.new_bool_var(f"rural_group[{i}]") if inst.rural[i] and not inst.big[i] else 0
        for i in range(n)
    }
    exempt: dict[int, cp_model.IntVar | int] = {}
    for i in range(n):
        if inst.big[i]:
            exempt[i] = 1  # a practice over the band standing alone: exempt statically
        elif inst.rural[i] or i in approved:
            exempt[i] = model.new_bool_var(f"exempt[{i}]")
        else:
            exempt[i] = 0

    # Constraints
    for j in range(n):
        # A group is in band only through its root, and then its total lies in the band.
        model.add_implication(in_band[j], root[j])
        model.add(supply[j] >= low).only_enforce_if(in_band[j])
        model.add(supply[j] <= high).only_enforce_if(in_band[j])
        # A root is out of band unless in band, and out of band and not exempt unless exempt
        # (inequalities, so presolve keeps the counts as their own variables and the bound
        # stays at least zero).
        model.add(out_band[j] >= root[j] - in_band[j])
        model.add(not_exempt[j] >= root[j] - in_band[j] - exempt[j])
        if isinstance(exempt[j], cp_model.IntVar):
            # Exempt only as a root: a rural group between the floor and the band, or an
            # approved locked group (which no plan can change).
            model.add_implication(exempt[j], root[j])
            if j not in approved:
                model.add_implication(exempt[j], rural_group[j])  # type: ignore[arg-type]
                model.add(supply[j] >= floor).only_enforce_if(exempt[j])
                model.add(supply[j] <= low - 1).only_enforce_if(exempt[j])
        # Deviation: patients below or above the band, measured from the band itself.
        model.add(deviation[j] >= low * root[j] - supply[j])
        model.add(deviation[j] >= supply[j] - high)
    for i, j in inst.arcs:
        # A child carries its parent's rural status (a group is rural only if all are).
        if isinstance(rural_group[i], cp_model.IntVar) or isinstance(rural_group[j], cp_model.IntVar):
            model.add(rural_group[j] == rural_group[i]).only_enforce_if(forest.arc[i, j])
    return Band(in_band, exempt, out_band, not_exempt, deviation, rural_group)


def add_locks(model: cp_model.CpModel, inst: Instance, forest: Forest) -> None:
    """Fix the groups no plan may change: big practices alone, locked groups whole (no objective)."""
    # Practices over the band stand alone (unless the rules let them merge).
    for i in range(inst.n):
        if inst.big[i]:
            model.add(forest.root[i] == 1)
            for a in forest.into[i] + forest.out_of[i]:
                model.add(forest.arc[a] == 0)
    # Locked groups keep exactly their members.
    for group in inst.locked:
        members = set(group)
        model.add(forest.root[group[0]] == 1).only_enforce_if(forest.ordered_roots)
        for i in range(inst.n):
            if i in members:
                model.add(forest.label[i] == forest.label[group[0]])
            else:
                model.add(forest.label[i] != forest.label[group[0]])


@dataclass
class Sites:
    """Per building (its movable practices), whether it is split across groups."""

    split_of: dict[tuple[int, ...], cp_model.IntVar] = field(default_factory=dict)

    @property
    def split_count(self) -> cp_model.LinearExprT:
        """Buildings split (stage ``split_sites``)."""
        return sum(self.split_of.values())


def add_sites(model: cp_model.CpModel, inst: Instance, forest: Forest, *, keep: bool) -> Sites:
    """Keep practices of one building in one group: a hard rule with ``keep``, else counted."""
    sites = Sites()
    for site in inst.sites:
        movable = [i for i in site if not inst.big[i]]
        if len(movable) < 2:
            continue
        first = forest.label[movable[0]]
        if keep:
            # Practices in one building share a group.
            for i in movable[1:]:
                model.add(forest.label[i] == first)
            continue
        # Practices in one building share a group unless the building is counted as split.
        split = model.new_bool_var(f"split[{movable[0]}]")
        for i in movable[1:]:
            model.add(forest.label[i] == first).only_enforce_if(split.Not())
        sites.split_of[tuple(movable)] = split
    return sites


@dataclass
class Moves:
    """The matching of current PCNs to groups, and which practices lie in the group matched to which.

    ``member[i, c]`` says practice ``i`` lies in the group matched to current PCN ``c``;
    ``stay[i]`` is ``member[i, c]`` for ``i``'s own PCN ``c``.
    """

    match: dict[int, cp_model.IntVar]
    member: dict[tuple[int, int], cp_model.IntVar]
    stay: dict[int, cp_model.IntVar]
    #: Per PCN, 1 where a group is flagged for it (the flagged roots: one at most), else 0.
    flagged: dict[int, cp_model.LinearExprT]

    @property
    def moved(self) -> cp_model.LinearExprT:
        """Practices not left in the group matched to their current PCN (stage ``moves``)."""
        return len(self.stay) - sum(self.stay.values())


def add_moves(
    model: cp_model.CpModel, inst: Instance, forest: Forest, *, mixed_high: int | None = None
) -> Moves:
    """Match current PCNs to groups, one to one, and count the practices that move (transfer distance).

    Besides the matching (``match[c]``, the root of the group matched to PCN ``c``), each
    practice carries a flag per PCN, ``member[i, c]``, the same along every arc of the
    forest: a group is flagged whole for the PCN it is matched to, or not at all, and one
    root at most is flagged per PCN. The flags state the moves as sums of Booleans (a practice
    stays when flagged for its own PCN; a practice is flagged for one PCN at most) that
    CP-SAT propagates and learns from, where an equality of labels gives it nothing to bound
    the moves with (14Y's repair proven at 4 moves in 4 s with two workers, not 39 s).

    Parameters
    ----------
    mixed_high
        Where a group holding practices of two current PCNs may not exceed this many
        patients (repair's rule), a practice is flagged for a PCN only when a path of no
        more patients joins it to one of the PCN's practices: a group matched to a PCN and
        holding none of its practices keeps none of them, so it may as well go unflagged.
    """
    assert inst.current is not None
    pcns = sorted({c for c in inst.current if c >= 0})
    n = inst.n
    # match[c] is the root index of the group matched to current PCN c, or a dummy value n + k.
    match = {c: model.new_int_var(0, n + len(pcns) - 1, f"match[{c}]") for c in pcns}
    if len(pcns) > 1:
        # Each group is matched to at most one current PCN.
        model.add_all_different(list(match.values()))
    member: dict[tuple[int, int], cp_model.IntVar] = {}
    heads: dict[int, list[cp_model.IntVar]] = {}
    for c, joinable in _joinable(inst, pcns, mixed_high).items():
        for i in joinable:
            member[i, c] = flag = model.new_bool_var(f"member[{i},{c}]")
            model.add(forest.label[i] == match[c]).only_enforce_if(flag)
            # head: i is the root of the group flagged for c.
            head = model.new_bool_var(f"head[{i},{c}]")
            model.add_bool_and([flag, forest.root[i]]).only_enforce_if(head)
            model.add_bool_or([flag.Not(), forest.root[i].Not(), head])
            heads.setdefault(c, []).append(head)
        model.add_at_most_one(heads[c])
    per_practice: dict[int, list[cp_model.IntVar]] = {}
    for (i, _), flag in member.items():
        per_practice.setdefault(i, []).append(flag)
    for flags in per_practice.values():
        model.add_at_most_one(flags)
    for (i, j), arc in forest.arc.items():
        for c in pcns:
            a, b = member.get((i, c)), member.get((j, c))
            if a is not None and b is not None:
                model.add(a == b).only_enforce_if(arc)
            elif a is not None:
                model.add_implication(arc, a.Not())
            elif b is not None:
                model.add_implication(arc, b.Not())
    # A practice stays when its group is the one matched to its current PCN.
    stay = {i: member[i, c] for i, c in enumerate(inst.current) if c >= 0}
    return Moves(match, member, stay, {c: sum(heads[c]) for c in pcns})


def _joinable(inst: Instance, pcns: Sequence[int], mixed_high: int | None) -> dict[int, list[int]]:
    """Return, per current PCN, the practices a group holding one of its practices may hold."""
    assert inst.current is not None
    if mixed_high is None or inst.locked:
        # Locked groups may hold practices of two PCNs above the ceiling: no limit.
        return {c: list(range(inst.n)) for c in pcns}
    # Paths weighed by the patients of the practices they enter (one more each, so no arc weighs 0).
    tails, heads = zip(*inst.arcs, strict=True) if inst.arcs else ((), ())
    weights = [inst.sizes[j] + 1 for j in heads]
    graph = csr_matrix((weights, (tails, heads)), shape=(inst.n, inst.n))
    joinable = {}
    for c in pcns:
        own = [i for i, k in enumerate(inst.current) if k == c]
        far = dijkstra(graph, indices=own, min_only=True) + min(inst.sizes[i] for i in own)
        # The +1 per practice on a path makes it no shorter than the patients it holds.
        joinable[c] = [i for i in range(inst.n) if inst.current[i] == c or far[i] <= mixed_high + inst.n]
    return joinable


@dataclass
class PartitionModel:
    """The CP-SAT model of one CCG and the parts its builders returned."""

    inst: Instance
    model: cp_model.CpModel
    forest: Forest
    band: Band
    sites: Sites
    moves: Moves | None = None
    #: Hard rules the extra builders added, as predicates on a grouping (a label per
    #: practice): a start that breaks one is never taken as proven without search.
    checks: list[Callable[[Sequence[int]], bool]] = field(default_factory=list)
    #: Variables extra builders add, by name (e.g. repair's ``below``, stranding's ``bad``).
    parts: dict[str, dict[int, cp_model.IntVar]] = field(default_factory=dict)

    def holds(self, labels: Sequence[int]) -> bool:
        """Return whether a grouping meets every hard rule the extra builders added."""
        return all(check(labels) for check in self.checks)

    def labels(self, solver: cp_model.CpSolver) -> list[int]:
        """Read the grouping (root index per practice) from a solution."""
        return [int(solver.value(self.forest.label[i])) for i in range(self.inst.n)]


#: An extra builder: adds constraints (and variables) to a model before its stages run.
Builder = Callable[[PartitionModel], None]


def build_model(
    inst: Instance,
    *,
    stages: Sequence[str],
    keep_sites: bool = False,
    extra: Iterable[Builder] = (),
    mixed_high: int | None = None,
) -> PartitionModel:
    """Build the model of ``inst`` for the objective ``stages``, then apply the ``extra`` builders.

    ``mixed_high`` is the most patients an extra builder lets a group of two current PCNs
    hold (repair's rule), passed to :func:`add_moves`.
    """
    model = cp_model.CpModel()
    tree = add_forest(model, inst)
    band = add_band(model, inst, tree)
    add_locks(model, inst, tree)
    sites = add_sites(model, inst, tree, keep=keep_sites)
    moves = add_moves(model, inst, tree, mixed_high=mixed_high) if "moves" in stages else None
    built = PartitionModel(inst, model, tree, band, sites, moves)
    for builder in extra:
        builder(built)
    return built


def pair_indices(inst: Instance, pairs: Iterable[tuple[str, str]]) -> list[tuple[int, int]]:
    """Return the pairs of practice codes both planned in ``inst``, as practice indices."""
    index = {code: i for i, code in enumerate(inst.codes)}
    return [(index[a], index[b]) for a, b in pairs if a in index and b in index]


@dataclass(frozen=True)
class _PairCheck:
    """A grouping keeps every pair apart (``same`` false) or together (``same`` true)."""

    pairs: tuple[tuple[int, int], ...]
    same: bool

    def __call__(self, labels: Sequence[int]) -> bool:
        return all((labels[i] == labels[j]) == self.same for i, j in self.pairs)


def add_apart(pm: PartitionModel, pairs: Iterable[tuple[str, str]]) -> None:
    """Keep each pair of practices (codes) in different groups; pairs of other CCGs are skipped.

    Pass it to :func:`build_model` as ``extra=[functools.partial(add_apart, pairs=...)]``.
    """
    indices = pair_indices(pm.inst, pairs)
    for i, j in indices:
        # Two practices a planner keeps apart never share a group.
        pm.model.add(pm.forest.label[i] != pm.forest.label[j])
    pm.checks.append(_PairCheck(tuple(indices), same=False))


def add_together(pm: PartitionModel, pairs: Iterable[tuple[str, str]]) -> None:
    """Keep each pair of practices (codes) in one group; pairs of other CCGs are skipped."""
    indices = pair_indices(pm.inst, pairs)
    for i, j in indices:
        # Two practices a planner keeps together always share a group.
        pm.model.add(pm.forest.label[i] == pm.forest.label[j])
    pm.checks.append(_PairCheck(tuple(indices), same=True))


# --------------------------------------------------------------------------------------
# Hints
# --------------------------------------------------------------------------------------


def add_hints(
    pm: PartitionModel, model: cp_model.CpModel, labels: Sequence[int], *, centre_roots: bool
) -> None:
    """Hint every variable of ``model`` (a clone of ``pm.model``) from a grouping (any label values)."""
    inst, tree = pm.inst, pm.forest
    root_of, parent = forest(inst, labels, centre_roots=centre_roots)
    roots = set(root_of)
    subtree = subtree_sizes(inst, parent)
    for i in range(inst.n):
        model.add_hint(tree.root[i], i in roots)
        model.add_hint(tree.label[i], root_of[i])
        model.add_hint(tree.supply[i], subtree[i] if i in roots else 0)
    for i, j in inst.arcs:
        chosen = parent.get(j) == i
        model.add_hint(tree.arc[i, j], chosen)
        model.add_hint(tree.flow[i, j], subtree[j] if chosen else 0)
    model.add_hint(tree.ordered_roots, not centre_roots)
    _hint_band(pm.band, model, inst, labels, root_of)
    for site, split in pm.sites.split_of.items():
        model.add_hint(split, len({root_of[i] for i in site}) > 1)
    if pm.moves is not None:
        _hint_moves(pm.moves, model, inst, root_of)


def _hint_band(
    band: Band, model: cp_model.CpModel, inst: Instance, labels: Sequence[int], root_of: list[int]
) -> None:
    for members in members_of(labels).values():
        r = root_of[members[0]]
        status = inst.status(members)
        rural = inst.is_rural(members)
        gap = inst.deviation(members)
        for i in members:
            rural_group, exempt = band.rural_group[i], band.exempt[i]
            if isinstance(rural_group, cp_model.IntVar):
                model.add_hint(rural_group, rural)
            if isinstance(exempt, cp_model.IntVar):
                model.add_hint(exempt, i == r and status.startswith("exempt_"))
            model.add_hint(band.deviation[i], gap if i == r else 0)
            model.add_hint(band.in_band[i], i == r and status == "in_band")
            model.add_hint(band.out_of_band[i], i == r and status != "in_band")
            model.add_hint(band.not_exempt[i], i == r and status in ("below", "above"))


def _hint_moves(moves: Moves, model: cp_model.CpModel, inst: Instance, root_of: list[int]) -> None:
    assert inst.current is not None
    matched = match_current(inst, root_of)
    dummy = iter(range(inst.n, inst.n + len(moves.match)))
    for c, var in moves.match.items():
        model.add_hint(var, matched[c] if c in matched else next(dummy))
    # A group is flagged for the PCN matched to it where it holds one of that PCN's practices.
    held = {(root_of[i], c) for i, c in enumerate(inst.current) if c >= 0}
    for (i, c), flag in moves.member.items():
        model.add_hint(flag, matched.get(c) == root_of[i] and (root_of[i], c) in held)
