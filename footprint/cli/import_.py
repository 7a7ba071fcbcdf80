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
        help="gp-reg-pat-prac-all.csv (or its ZIP); with --map, needed unless --lsoa is given alone",
    )
    given.add_argument("--map", metavar="CSV", type=Path, help="gp-reg-pat-prac-map.csv")
    lsoa = parser.add_argument_group("patients by LSOA (network areas)")
    lsoa.add_argument(
        "--lsoa",
        metavar="FILE",
        type=Path,
        help="gp-reg-pat-prac-lsoa-all.csv of any month (or the zipped male/female release): written as "
        "registrations_lsoa.csv.gz for --lsoa-registrations",
    )
    lsoa.add_argument(
        "--lsoa-boundaries",
        metavar="FILE",
        type=Path,
        help="LSOA polygons of the file's vintage, to count the codes they lack (default: the shipped "
        "England LSOAs of 2011; files since 2023 use 2021 codes)",
    )
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


def _import_lsoa(args: argparse.Namespace) -> str:
    """Convert ``--lsoa`` to the compact form, print what it holds and the codes the LSOAs lack."""
    from footprint.areas import read_lsoas, registrations_from_nhs, write_registrations

    table = registrations_from_nhs(args.lsoa)
    known = read_lsoas(args.lsoa_boundaries).index
    unknown = table[~table["lsoa_code"].isin(known)]
    by_code = unknown.groupby("lsoa_code")["patients"].sum().sort_values(ascending=False)
    date = table.attrs.get("extract_date", "not given")
    print(
        f"patients by LSOA: {len(table):,} rows, {table['practice_code'].nunique():,} practices, "
        f"{int(table['patients'].sum()):,} patients (extract date {date})"
    )
    if len(by_code):
        shown = ", ".join(f"{c} ({int(n):,})" for c, n in by_code.head(5).items())
        print(
            f"{len(by_code):,} LSOA code(s) the LSOA boundaries lack, holding {int(by_code.sum()):,} "
            f"patients (kept; counted outside every area): {shown}; give --lsoa-boundaries of the "
            "file's vintage if they are 2021 codes"
        )
    out = out_dir(args)
    write_registrations(table, out / "registrations_lsoa.csv.gz")
    with atomic_write(out / "lsoa_summary.json") as fh:
        json.dump(
            {
                "lsoa": str(args.lsoa),
                "extract_date": date,
                "rows": len(table),
                "practices": int(table["practice_code"].nunique()),
                "patients": int(table["patients"].sum()),
                "unknown_codes": {str(c): int(n) for c, n in by_code.items()},
            },
            fh,
            indent=2,
        )
        fh.write("\n")
    return f"--lsoa-registrations {out / 'registrations_lsoa.csv.gz'}"


def run(args: argparse.Namespace) -> int:
    """Import, print the report and write ``practices.csv`` (and ``boundaries.geojson``), ``summary.json``.

    With ``--lsoa``, also (or, given alone, only) convert patients by LSOA to ``registrations_lsoa.csv.gz``.
    """
    if args.registrations is None or args.map is None:
        if args.lsoa is None or args.registrations is not None or args.map is not None:
            msg = (
                "give --registrations and --map (gp-reg-pat-prac-all.csv and gp-reg-pat-prac-map.csv), "
                "or --lsoa alone"
            )
            raise DataError(msg)
        print(f"written; use it with: footprint plan {_import_lsoa(args)}")
        return 0
    lsoa = _import_lsoa(args) if args.lsoa is not None else None
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
    if lsoa is not None:
        written.append(lsoa)
    print(f"written; plan on them with: footprint plan {' '.join(written)}")
    return 0
