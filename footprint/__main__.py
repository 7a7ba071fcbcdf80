"""Run the command line as ``python -m footprint``."""

from footprint.cli import console

console()
