"""Every bad option or path of every command: exit 2, one line on stderr, no traceback, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from footprint.cli import main
from tests.conftest import DATA

SLICE = ["--practices", str(DATA / "practices_slice.csv"), "--boundaries", str(DATA / "ccg_slice.geojson")]
SLICE += ["--impute-missing"]


def _cases(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, a fragment the one-line error must hold); ``{tmp}`` is a scratch folder."""
    afile = tmp / "a-file.txt"
    geojson = DATA / "ccg_slice.geojson"
    return [
        # numbers out of range, not numbers, not whole
        (["plan", "--band", "30000,1e9"], "not LOW,HIGH"),
        (["plan", "--band", "30000,inf"], "not LOW,HIGH"),
        (["plan", "--band", "1e30,1e31"], "not LOW,HIGH"),
        (["plan", "--band", "30000.5,50000"], "not LOW,HIGH"),
        (["plan", "--band=-5,50000"], "not LOW,HIGH"),
        (["plan", "--band", "30000"], "not LOW,HIGH"),
        (["plan", "--band", "10000,50000"], "--rural-floor 20,000 must lie between 1 and the band's low end"),
        (["plan", "--time-limit", "inf"], "not a number of seconds"),
        (["plan", "--time-limit", "nan"], "not a number of seconds"),
        (["plan", "--time-limit", "0"], "not a number of seconds"),
        (["plan", "--proof-limit", "-1"], "not a number of seconds"),
        (["plan", "--seed", "-1"], "not a whole number from 0"),
        (["plan", "--seed", "2147483648"], "not a whole number from 0"),
        (["plan", "--workers", "0"], "not a whole number from 1"),
        (["plan", "--processes", "1.5"], "not a whole number from 1"),
        (["plan", "--rural-floor", "abc"], "not a whole number"),
        (["plan", "--rural", "ZZZ"], "--rural names CCG(s) ZZZ not in the practices file"),
        # paths
        (["plan", "--practices", str(tmp)], "is a folder, not a file"),
        (["plan", "--practices", str(geojson)], "is not a .csv file"),
        (["plan", "--practices", str(tmp / "none.csv")], "does not exist"),
        (["graph", "--boundaries", str(DATA / "practices_slice.csv")], "is not a .geojson"),
        (["graph", "--boundaries", str(tmp)], "is a folder, not a file"),
        (["plan", "--lock", str(tmp)], "--lock"),
        (["plan", "--allow-cross", str(geojson)], "--allow-cross"),
        (["plan", "--out", str(afile)], "is a file, not a folder"),
        (["plan", "--maps", str(afile)], "is a file, not a folder"),
        (["plan", "--out", str(afile / "sub")], "cannot be written"),
        (["plan", "--out", "/proc/footprint-x"], "--out /proc/footprint-x cannot be written"),
        (["graph", "--out", "/proc/footprint-x"], "--out /proc/footprint-x cannot be written"),
        (["map", "--maps", "/proc/footprint-x"], "--maps /proc/footprint-x cannot be written"),
        (["plan", "--params", "num_workers:-5"], "parameter 'num_workers' should be in"),
        (["check", "--icb", "QZZ"], "no practice is in ICB QZZ; ICB codes look like"),
        (["check", "--data", "2031-01"], "invalid choice: '2031-01'"),
        (["map", str(tmp)], "PLAN.csv"),
        (["map", "--out", str(afile)], "is a file, not a folder"),
        (["map", "--maps", str(tmp / "m1"), "--out", str(tmp / "m2")], "both name the maps folder"),
        (["alternatives", "--n", "0"], "not a whole number from 1"),
        (["alternatives", "--min-diff", "0"], "not a whole number from 1"),
        (["alternatives", "--ccg", "01F", "--lock", str(DATA / "lock_99F.csv")], "it is for another area"),
        (["check", "--approved", str(tmp)], "is a folder, not a file"),
        (["check", "--band", "abc"], "not LOW,HIGH"),
        (["check", str(tmp / "none.csv")], "does not exist"),
        (["repair", "--seed", "-5"], "not a whole number from 0"),
        (["repair", "--apart", str(tmp / "none.csv")], "none.csv"),
        (["compare", "current"], "compare needs two or more plans"),
        (["compare", "current", str(tmp / "none.csv")], "does not exist"),
        (["share", "--year", "1999/00"], "1999/00"),
        (["share", "--max-km", "0"], "not a distance"),
        (["import", "--registrations", str(tmp / "none.csv"), "--map", str(tmp / "none.csv")], "none.csv"),
        (["edit", "--ccg", "99F", "--port", "70000"], "--port"),
        # usage
        (["plan", "--no-such-option"], "unrecognized arguments"),
        (["nonsense"], "invalid choice"),
    ]


@pytest.mark.parametrize("case", range(len(_cases(Path("/tmp")))))
def test_bad_option_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "a-file.txt").write_text("not a folder\n")
    argv, fragment = _cases(scratch)[case]
    command, rest = argv[0], argv[1:]
    data = [] if command == "import" or any(a in rest for a in ("--practices", "--boundaries")) else SLICE
    if "--practices" in rest and "--boundaries" not in rest:
        data = ["--boundaries", str(DATA / "ccg_slice.geojson")]
    before = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    maps = ["--no-maps"] if command in ("plan", "alternatives", "check", "repair", "share") else []
    code = main([command, *rest, *data, *maps])
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err, err
    after = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    assert after == before, "nothing written"


def test_unwritable_out_folder_is_refused(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root can write into any folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code = main(["graph", *SLICE, "--out", str(locked / "x")])
    assert code == 2 and "cannot be written" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["plan", "repair"])
def test_a_solve_that_fails_leaves_no_process_and_no_network_file(command, tmp_path, capsys, monkeypatch):
    # plan and repair fork the network areas' process before they solve: a solve that fails
    # must stop it, leaving neither it nor a half-written pcns.geojson behind.
    import psutil

    import footprint.partition
    from footprint.errors import PlanError

    def fails(*_args, **_kwargs):
        msg = "the lock of 99F-01 cannot be honoured: free A81001"
        raise PlanError(msg)

    monkeypatch.setattr(footprint.partition, "solve_plan" if command == "plan" else "repair_plan", fails)
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = main([command, *SLICE, "--no-maps", "--out", str(out)])
    assert code == 2
    assert "cannot be honoured" in capsys.readouterr().err
    assert psutil.Process().children() == []
    assert not out.exists() or not list(out.iterdir())
