"""Time the maps of all England: each step of ``footprint map``, the whole command, and ``scripts/run``.

Run from the checkout: ``.venv/bin/python benchmarks/maps.py [--no-run]``. Figures only; the
targets of issues 11 and 25 are printed beside them (maps <= 15 s; plan and maps <= 45 s; a CCG's
map <= 3 MB; ``index.html`` <= 5 MB; a CCG's printable pages <= 1 MB). ``--no-run`` skips the
whole ``scripts/run`` (a plan of England, about 25 s).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOOTPRINT = ROOT / ".venv" / "bin" / "footprint"


def _cpu() -> float:
    """Return the CPU seconds of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_CPU = [0.0]


def _timed(label: str, start: float) -> float:
    now, cpu = time.perf_counter(), _cpu()
    print(f"  {label:<44} {now - start:6.2f} s wall, {cpu - _CPU[0]:6.2f} s CPU")
    _CPU[0] = cpu
    return now


def steps(processes: int) -> float:
    """Time each step of drawing the current PCNs of England, in this process."""
    start = t = time.perf_counter()
    _CPU[0] = _cpu()
    from footprint.evaluate import group_problems, group_table
    from footprint.graph import graph_from_practices
    from footprint.load import read_boundaries, read_practices
    from footprint.places import group_names, read_places
    from footprint.plan import plan_from_practices
    from footprint.render import MapOptions, write_maps

    t = _timed("import", t)
    practices, boundaries = read_practices(), read_boundaries()
    graph = graph_from_practices(practices, boundaries)
    plan = plan_from_practices(practices)
    t = _timed("load practices, boundaries, graph (cached)", t)
    places = read_places()
    names = group_names(plan, practices, places=places)
    table = group_table(plan, practices, names=names.shown)
    t = _timed("places, names, group table", t)
    from footprint.areas import network_areas

    # As footprint map draws them: the pages' maps draw the areas from where patients live.
    graph.graph["areas"] = network_areas(
        plan, practices, boundaries=boundaries, cells=graph.graph["cells"]
    ).areas
    t = _timed("network areas (cached)", t)
    with tempfile.TemporaryDirectory() as out:
        paths = write_maps(
            practices,
            graph,
            plan,
            out,
            groups=table,
            problems=group_problems(table),
            options=MapOptions(boundaries=boundaries, places=places, processes=processes),
        )
        t = _timed(f"write_maps, {processes} process(es)", t)
        sizes = {p.name: p.stat().st_size for p in paths}
    maps = {
        k: v for k, v in sizes.items() if k.endswith(".html") and not k.endswith(("-pcns.html", "index.html"))
    }
    pages = {k: v for k, v in sizes.items() if k.endswith("-pcns.html")}
    largest, most = max(maps, key=maps.__getitem__), max(pages, key=pages.__getitem__)
    print(
        f"  {len(maps)} CCG maps; largest {largest} {maps[largest] / 1e6:.2f} MB (target <= 3 MB); "
        f"W2U3Z {maps['W2U3Z.html'] / 1e6:.2f} MB; "
        f"index {sizes['index.html'] / 1e6:.2f} MB (target <= 5 MB); "
        f"largest printable pages {most} {pages[most] / 1e6:.2f} MB (target <= 1 MB); "
        f"search index {sizes['practices-index.js'] / 1e6:.2f} MB"
    )
    return time.perf_counter() - start


def command(args: list[str], label: str, target_s: float) -> float:
    start, cpu = time.perf_counter(), _cpu()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    verdict = "met" if seconds <= target_s else "NOT met"
    print(f"  {label:<44} {seconds:6.2f} s wall, {cpu:6.2f} s CPU (target <= {target_s:.0f} s: {verdict})")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="skip the whole scripts/run (plan and maps)")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    print(f"maps of all England on {cpus} core(s), load average {os.getloadavg()[0]:.1f}")
    print("steps (in this process):")
    steps(processes=1)
    steps(processes=min(cpus, 4))
    print("commands (wall clock):")
    with tempfile.TemporaryDirectory() as out:
        command([str(FOOTPRINT), "map", "--maps", out], "footprint map (all England)", 15)
    if not args.no_run:
        with tempfile.TemporaryDirectory() as out:
            command(
                [str(ROOT / "scripts" / "run"), "plan", "--out", out, "--maps", f"{out}/maps"],
                "scripts/run plan (plan and maps, graph cached)",
                45,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
