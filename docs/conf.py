"""Sphinx configuration of footprint's documentation site (``sphinx-build -W -b html docs DIR``).

The site builds offline: no intersphinx, no remote images, the theme's assets from the
installed package. Pages are Markdown (MyST); the command reference is generated from
``footprint.cli.build_parser`` (sphinx-argparse) and the API reference from the numpydoc
docstrings (autodoc).
"""

from __future__ import annotations

import footprint

project = "footprint"
author = "footprint contributors"
copyright = "footprint contributors; data under the Open Government Licence v3.0 and CC-BY 4.0"
release = footprint.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinxarg.ext",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "conftest.py", "make_screenshot.py"]
smartquotes = False  # keep "--flag" as typed (no en dashes) in the generated command reference
templates_path: list[str] = []

# MyST: Markdown pages; ``{include}`` brings in data/ATTRIBUTION.md and the 2025 provenance.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc and numpydoc: types in the signatures (the hints), descriptions from the docstrings.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False  # the API pages are written by hand; nothing is generated into docs/
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Nothing is fetched while building, and no page loads anything from elsewhere.
html_theme = "pydata_sphinx_theme"
html_title = f"footprint {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
# The section navigation only where a section has pages (the API reference); elsewhere none.
html_sidebars = {
    page: []
    for page in (
        "index",
        "getting-started",
        "guides/*",
        "conventions",
        "cli",
        "design",
        "benchmarks",
        "data",
        "changelog",
    )
}
