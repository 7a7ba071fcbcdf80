"""footprint: plan Primary Care Network footprints for NHS England's GP practices.

The pipeline reads practices (:mod:`footprint.load`), builds the graph of neighbouring
practices (:mod:`footprint.graph`) and partitions it into PCNs; every stage trades in
one :class:`~footprint.plan.Plan`.
"""

from importlib.metadata import PackageNotFoundError, version

from footprint.config import SizeBand, SolveOptions
from footprint.errors import DataError, FootprintError, GraphError, InfeasibleError, PlanError
from footprint.graph import graph_from_practices
from footprint.load import read_boundaries, read_practices
from footprint.plan import Plan, plan_from_practices, read_plan, transfer_distance, write_plan

try:
    __version__ = version("footprint")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

__all__ = [
    "DataError",
    "FootprintError",
    "GraphError",
    "InfeasibleError",
    "Plan",
    "PlanError",
    "SizeBand",
    "SolveOptions",
    "__version__",
    "graph_from_practices",
    "plan_from_practices",
    "read_boundaries",
    "read_plan",
    "read_practices",
    "transfer_distance",
    "write_plan",
]
