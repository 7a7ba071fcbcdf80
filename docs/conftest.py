"""Pytest set-up for the site's Python examples (the doctests of docs/*.md).

Each page's examples run from an empty folder holding a link to the repository's ``tests/``, so
the paths they show (``tests/data/practices_slice.csv``) work as in a checkout, anything they
write lands in that folder, and the graph cache is a private one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Python files here that are not examples: Sphinx's configuration and the screenshot script.
collect_ignore = ["conf.py", "make_screenshot.py"]


@pytest.fixture(autouse=True)
def _example_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each page's examples in a fresh folder that sees the test slice."""
    (tmp_path / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
