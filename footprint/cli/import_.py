"""``footprint import``: this month's NHS Digital practice files into a practices (and boundaries) file."""

from __future__ import annotations

import argparse
from pathlib import Path

from footprint._io import atomic_write
from footprint.cli._common import out_dir
from footprint.load import PRACTICES_FILE
from footprint.sources import import_practices


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``import`` command (it takes only ``--out`` and ``-v`` of the shared options)."""
    del parents  # the data options name files this command writes, not reads
    parser = commands.add_parser(
        "import",
        help="turn NHS Digital's monthly practice files into a practices file (and ONS boundaries)",
        description=(
            "Join gp-reg-pat-prac-all.csv and gp-reg-pat-prac-map.csv of one month, place each practice "
            "at its postcode and write practices.csv (and boundaries.geojson) for --practices/--boundaries."
        ),
    )
    given = parser.add_argument_group("input")
    given.add_argument(
        "--registrations", metavar="CSV", type=Path, required=True, help="gp-reg-pat-prac-all.csv"
    )
    given.add_argument("--map", metavar="CSV", type=Path, required=True, help="gp-reg-pat-prac-map.csv")
    given.add_argument(
        "--postcodes",
        metavar="FILE_OR_FOLDER",
        type=Path,
        help="OS Code-Point Open (folder or ZIP), the ONS Postcode Directory CSV, or a postcode,eastings,"
        "northings CSV",
    )
    given.add_argument(
        "--ons-boundaries",
        metavar="FILE",
        type=Path,
        help="ONS sub-ICB or CCG boundaries (GeoJSON, GeoPackage, shapefile)",
    )
    given.add_argument(
        "--no-fallback",
        action="store_true",
        help="never take a missing postcode's point from the shipped practices file",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="output folder (default: out/import/)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import, print the report and write ``practices.csv`` (and ``boundaries.geojson``)."""
    practices, boundaries, report = import_practices(
        args.registrations,
        args.map,
        postcodes=args.postcodes,
        ons_boundaries=args.ons_boundaries,
        fallback=None if args.no_fallback else PRACTICES_FILE,
    )
    for line in report.lines():
        print(line)
    out = out_dir(args)
    with atomic_write(out / "practices.csv") as fh:
        practices.to_csv(fh, index=False, lineterminator="\n")
    written = [f"--practices {out / 'practices.csv'}"]
    if boundaries is not None:
        with atomic_write(out / "boundaries.geojson") as fh:
            fh.write(boundaries.to_json(drop_id=True))
        written.append(f"--boundaries {out / 'boundaries.geojson'}")
    print(f"written; plan on them with: footprint plan {' '.join(written)}")
    return 0
