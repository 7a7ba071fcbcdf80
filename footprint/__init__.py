"""footprint: plan Primary Care Network footprints for NHS England's GP practices.

The pipeline reads practices (:mod:`footprint.load`), builds the graph of neighbouring
practices (:mod:`footprint.graph`), partitions it into PCNs with one CP-SAT model
(:mod:`footprint.partition`), judges plans (:mod:`footprint.evaluate`) and draws them
(:mod:`footprint.render`); every stage trades in one :class:`~footprint.plan.Plan`.

The names below are the notebook API. The map functions load folium only when first
used, so ``import footprint`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from footprint.config import Rules, SizeBand, SolveOptions
from footprint.errors import DataError, FootprintError, GraphError, InfeasibleError, PlanError
from footprint.evaluate import check_plan, group_table, plan_summary, score_plan
from footprint.graph import graph_from_practices, graph_to_gdfs
from footprint.load import read_boundaries, read_practices, select_ccgs
from footprint.plan import Plan, plan_from_practices, read_plan, transfer_distance, write_plan

try:
    __version__ = version("footprint")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

#: Names loaded on first use: name -> module.
_LAZY = {
    "solve_plan": "footprint.partition",
    "strands": "footprint.partition",
    "repair_plan": "footprint.partition",
    "alternative_plans": "footprint.partition",
    "plan_map": "footprint.render",
    "overview_map": "footprint.render",
    "pcn_pages": "footprint.render",
    "write_maps": "footprint.render",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    msg = f"module 'footprint' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "DataError",
    "FootprintError",
    "GraphError",
    "InfeasibleError",
    "Plan",
    "PlanError",
    "Rules",
    "SizeBand",
    "SolveOptions",
    "__version__",
    "alternative_plans",
    "check_plan",
    "graph_from_practices",
    "graph_to_gdfs",
    "group_table",
    "overview_map",
    "pcn_pages",
    "plan_from_practices",
    "plan_map",
    "plan_summary",
    "read_boundaries",
    "read_plan",
    "read_practices",
    "repair_plan",
    "score_plan",
    "select_ccgs",
    "solve_plan",
    "strands",
    "transfer_distance",
    "write_maps",
    "write_plan",
]
