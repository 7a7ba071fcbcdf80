from __future__ import annotations

import csv

from footprint.cli import main
from tests.conftest import DATA


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_summary_on_slice(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = run(
        capsys,
        "graph",
        "--practices",
        DATA / "practices_slice.csv",
        "--boundaries",
        DATA / "ccg_slice.geojson",
        "--out",
        tmp_path,
        "--impute-missing",
    )
    assert code == 0
    assert "3 CCGs, 62 practices" in out and "every CCG connected" in out
    canvey = next(line for line in out.splitlines() if line.startswith("99F"))
    assert "Third Avenue Health Centre" in canvey and "NHS Castle Point and Rochford CCG" in canvey
    with (tmp_path / "edges.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["type"] for r in rows} == {"rook", "site", "bridge", "cross_ccg"}


def test_bad_input_is_one_line_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("practice_code,list_size,ccg_code,lat,lon\nX1,-3,70F,51.5,-0.1\n")
    code, _, err = run(capsys, "graph", "--practices", bad)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("footprint: error: 1 practice(s) have a list_size of zero or less: X1 (line 2")


def test_missing_coordinates_need_impute_option(capsys):
    code, _, err = run(capsys, "graph", "--practices", DATA / "practices_slice.csv")
    assert code == 2
    assert "N81119 (line 59)" in err and "--impute-missing" in err


def test_usage_error_exit_2(capsys):
    code, _, err = run(capsys, "graph", "--band")
    assert code == 2 and "error" in err
