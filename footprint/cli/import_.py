"""``footprint import``: NHS Digital's practice files into a practices (and boundaries) file."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from footprint._io import atomic_write
from footprint.cli._common import cli_words, out_dir
from footprint.errors import DataError
from footprint.load import PRACTICES_FILE
from footprint.sources import MAX_IMPUTED_KM, POSTCODES_FILE, ImportReport, import_practices

#: Library option names in messages, as this command spells them.
_FLAGS = {
    "months_apart='allow'": "--allow-months-apart",
    "far_imputed='keep'": "--allow-far-imputed",
    "code_field": "--boundary-code-field",
}


def add_parser(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register the ``import`` command (it takes only ``--out`` and ``-v`` of the shared options)."""
    del parents  # the data options name files this command writes, not reads
    parser = commands.add_parser(
        "import",
        help="turn NHS Digital's monthly practice files into a practices file (and ONS boundaries)",
        description=(
            "Join gp-reg-pat-prac-all.csv and gp-reg-pat-prac-map.csv, place each practice at its "
            "postcode (the shipped England lookup, OS Code-Point Open 2025.4, unless --postcodes) and "
            "write practices.csv (and boundaries.geojson) for --practices/--boundaries, and summary.json."
        ),
    )
    given = parser.add_argument_group("input")
    given.add_argument(
        "--registrations",
        metavar="CSV",
        type=Path,
        required=True,
        help="gp-reg-pat-prac-all.csv (or its ZIP)",
    )
    given.add_argument("--map", metavar="CSV", type=Path, required=True, help="gp-reg-pat-prac-map.csv")
    given.add_argument(
        "--postcodes",
        metavar="FILE_OR_FOLDER",
        type=Path,
        help="OS Code-Point Open (folder or ZIP), the ONS Postcode Directory CSV, or a postcode,eastings,"
        "northings CSV (default: the shipped England lookup, OS Code-Point Open 2025.4)",
    )
    given.add_argument(
        "--ons-boundaries",
        metavar="FILE",
        type=Path,
        help="ONS sub-ICB or CCG boundaries (GeoJSON, GeoPackage, shapefile)",
    )
    given.add_argument(
        "--boundary-code-field",
        metavar="FIELD",
        help="the boundaries' field holding the E38 code, the NHS code or a name ending in it "
        "(default: SICBLyyCD/CCGyyCD, else found by content)",
    )
    given.add_argument(
        "--no-fallback",
        action="store_true",
        help="never take a missing postcode's point from the shipped practices file",
    )
    allow = parser.add_argument_group("allow")
    allow.add_argument(
        "--allow-months-apart",
        action="store_true",
        help="join files of different months: areas and PCNs from the map file, patients from the "
        "registrations; practices in one file only are left out and listed",
    )
    allow.add_argument(
        "--allow-far-imputed",
        action="store_true",
        help=f"keep a practice placed from its postcode neighbours more than {MAX_IMPUTED_KM:g} km from its "
        "postcode district's centre (default: stop naming it)",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="output folder (default: out/import/)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    parser.set_defaults(func=run)


def _summary(args: argparse.Namespace, report: ImportReport) -> dict[str, Any]:
    """Return what the import did and what made it: the report, inputs, options and footprint's version."""
    from footprint import __version__

    postcodes = args.postcodes if args.postcodes is not None else f"shipped: {POSTCODES_FILE.name}"
    return {
        "provenance": {
            "footprint_version": __version__,
            "command": shlex.join(["footprint", *args.argv]) if "argv" in args else "footprint import",
            "data_date": report.extract_date,
            "list_size_date": report.list_size_date,
            "months_apart": report.months_apart,
            "days_apart": report.days_apart,
            "registrations": str(args.registrations),
            "map": str(args.map),
            "postcodes": str(postcodes),
            "ons_boundaries": None if args.ons_boundaries is None else str(args.ons_boundaries),
            "fallback": None if args.no_fallback else f"shipped: {PRACTICES_FILE.name}",
            "allow_months_apart": args.allow_months_apart,
            "allow_far_imputed": args.allow_far_imputed,
        },
        "report": report.to_dict(),
    }


def run(args: argparse.Namespace) -> int:
    """Import, print the report and write ``practices.csv`` (and ``boundaries.geojson``), ``summary.json``."""
    try:
        practices, boundaries, report = import_practices(
            args.registrations,
            args.map,
            postcodes=args.postcodes if args.postcodes is not None else POSTCODES_FILE,
            ons_boundaries=args.ons_boundaries,
            fallback=None if args.no_fallback else PRACTICES_FILE,
            months_apart="allow" if args.allow_months_apart else "raise",
            far_imputed="keep" if args.allow_far_imputed else "raise",
            code_field=args.boundary_code_field,
        )
    except DataError as exc:
        raise DataError(cli_words(str(exc), _FLAGS)) from None
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
    with atomic_write(out / "summary.json") as fh:
        json.dump(_summary(args, report), fh, indent=2)
        fh.write("\n")
    print(f"written; plan on them with: footprint plan {' '.join(written)}")
    return 0
