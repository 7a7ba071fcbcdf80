"""Partition each CCG's practices into contiguous PCNs with one OR-Tools CP-SAT model.

The package is the one place OR-Tools is imported. Its parts, in pipeline order:

- ``_instance``: one CCG's problem in plain arrays, built from the graph, locks and
  allow-cross; every question about a group's size goes to :class:`footprint.config.Rules`;
- ``warmstart``: optimal cuts of spanning trees, recombination and a compactness polish
  (the tree partitioner in ``_tree_cut``, the enumeration of connected groups in
  ``_connected_groups``, the polish in ``_polish``);
- ``model``: the CP-SAT model as builders (``add_forest``, ``add_band``, ``add_locks``,
  ``add_sites``, ``add_moves``) and hints;
- ``stages``: the one registry of objective stages (model expression, plain-Python
  evaluator, lower bound);
- ``explain``: why each group out of band is so, in planners' words;
- ``solve``: :func:`solve_plan`, the stages of one CCG, solver parameters, the process pool.

Plan, repair, stranding, alternatives and clinical-director clusters differ only in what
is locked, in extra builders and in the objective stages (:data:`footprint.config.STAGES`).
"""

from footprint.partition._instance import PlanInputs
from footprint.partition._repair_reasons import MOVES_COLUMNS
from footprint.partition.alternatives import Alternatives, CcgAlternatives, alternative_plans
from footprint.partition.clusters import cluster_groups
from footprint.partition.repair import repair_moves, repair_plan
from footprint.partition.solve import CcgResult, StageResult, solve_plan
from footprint.partition.strand import Cancel, ProposalVerdict, Stranding, judge_proposal, strands

__all__ = [
    "MOVES_COLUMNS",
    "Alternatives",
    "Cancel",
    "CcgAlternatives",
    "CcgResult",
    "PlanInputs",
    "ProposalVerdict",
    "StageResult",
    "Stranding",
    "alternative_plans",
    "cluster_groups",
    "judge_proposal",
    "repair_moves",
    "repair_plan",
    "solve_plan",
    "strands",
]
