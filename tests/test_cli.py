from __future__ import annotations

import csv

import pytest

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


def test_plan_writes_plan_geojson_summary(capsys, tmp_path, monkeypatch):
    import json

    import pandas as pd

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code, stdout, _ = run(
        capsys,
        "plan",
        "--practices",
        DATA / "practices_slice.csv",
        "--boundaries",
        DATA / "ccg_slice.geojson",
        "--impute-missing",
        "--ccg",
        "99F",
        "01F",
        "--out",
        out,
        "--maps",
        tmp_path / "maps",
        "--processes",
        "1",
        "--time-limit",
        "0.05",
    )
    assert code == 0
    assert "2 CCGs, 37 practices" in stdout and "stage 1 proven in 2/2 CCGs" in stdout
    plan = pd.read_csv(out / "plan.csv", dtype=str)
    assert list(plan.columns) == [
        "practice_code",
        "ccg_code",
        "pcn_id",
        "list_size",
        "pcn_name",
        "pcn_name_new",
    ]
    assert len(plan) == 37 and plan["practice_code"].is_unique
    # A group that continues a current PCN keeps its code; the others are named <CCG>-<nn>.
    current = pd.read_csv(DATA / "practices_slice.csv", dtype=str).set_index("practice_code")["pcn_code"]
    kept = plan["pcn_id"].isin(set(current))
    assert kept.any() and plan.loc[~kept, "pcn_id"].str.match(r"^(99F|01F)-\d\d$").all()
    for pcn, members in plan[kept].groupby("pcn_id")["practice_code"]:
        assert (current[members] == pcn).sum() * 2 > len(members)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["ccgs"]) == {"99F", "01F"}
    assert summary["ccgs"]["99F"]["stages"][0] == {
        "stage": "out_of_band",
        "value": 0.0,
        "bound": 0.0,
        "gap": 0.0,
        "status": "OPTIMAL",
        "seconds": summary["ccgs"]["99F"]["stages"][0]["seconds"],
    }
    areas = json.loads((out / "pcns.geojson").read_text())
    assert len(areas["features"]) == plan["pcn_id"].nunique()
    assert {"pcn_id", "list_size", "members", "in_band"} <= set(areas["features"][0]["properties"])
    assert (tmp_path / "maps" / "99F.html").exists() and (tmp_path / "maps" / "index.html").exists()


def test_plan_rejects_bad_band(capsys):
    code, _, err = run(capsys, "plan", "--band", "50000,30000", "--ccg", "99F", "--no-maps")
    assert code == 2
    assert "'50000,30000' has LOW above HIGH" in err and err.count("\n") == 1


def test_plan_lock_that_spans_ccgs_is_one_line(capsys, tmp_path):
    lock = tmp_path / "lock.csv"
    lock.write_text("practice_code,pcn_id\nF81051,x\nF81101,x\nN81057,x\n")
    code, _, err = run(
        capsys,
        "plan",
        "--practices",
        DATA / "practices_slice.csv",
        "--boundaries",
        DATA / "ccg_slice.geojson",
        "--impute-missing",
        "--lock",
        lock,
        "--no-maps",
        "--out",
        tmp_path,
    )
    assert code == 2 and err.count("\n") == 1
    assert "locked group x spans CCGs 01F, 99F" in err


SLICE_DATA = ["--practices", DATA / "practices_slice.csv", "--boundaries", DATA / "ccg_slice.geojson"]


def test_check_current_pcns_of_the_slice_has_warnings_only(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = run(capsys, "check", *SLICE_DATA, "--impute-missing", "--no-maps", "--out", tmp_path)
    # The open Rahman Practice is stranded by the agreed PCNs around it (issue 10): the one error.
    assert code == 1
    # 7 warnings: the 6 before network areas (issue 27), and U02453's area in 2 pieces.
    assert "1 error(s), 7 warning(s)" in out and "Rahman Practice (F81700) is in no PCN yet" in out
    assert "Rahman Practice (F81700, 4,287) is stranded" in out
    assert "99F: 0 group(s) below the floor and 1 above the ceiling where 0 is unavoidable (proven)" in out
    findings = list(csv.DictReader((tmp_path / "findings.csv").read_text().splitlines()))
    assert {(f["group"], f["rule"]) for f in findings if f["rule"] == "above"} >= {("U09643", "above")}
    icbs = json.loads((tmp_path / "summary.json").read_text())["icbs"]  # totals by ICB (2022: the STP)
    assert icbs["QYG"]["ccgs"] == ["01F"] and icbs["QYG"]["practices"] == 14
    assert icbs["QH8"]["out_of_band"] >= 1  # U09643, above the ceiling


def test_check_a_broken_plan_exits_1_and_names_what(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    plan = tmp_path / "plan.csv"
    # Halton (01F): a small group of two, one practice repeated, one unknown code, the rest missing.
    plan.write_text("practice_code,pcn_id\nN81011,a\nN81019,a\nN81011,a\nZZZ999,b\n")
    code, out, _ = run(
        capsys,
        "check",
        plan,
        *SLICE_DATA,
        "--impute-missing",
        "--ccg",
        "01F",
        "--no-maps",
        "--json",
        "--out",
        tmp_path / "out",
    )
    assert code == 1
    printed = json.loads(out)  # the whole summary, and nothing else on standard output
    rules = {(f["rule"], f["severity"]) for f in printed["findings"]}
    assert printed["errors"] >= 4 and "01F" in printed["stranding"]
    assert {("duplicated", "error"), ("unknown", "error"), ("missing", "error"), ("below", "error")} <= rules
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["errors"] >= 4 and summary["provenance"]["command"].startswith("footprint check")
    approved = tmp_path / "approved.csv"
    approved.write_text("pcn_id,reason\na,a test exception\n")
    args = [
        plan,
        *SLICE_DATA,
        "--impute-missing",
        "--ccg",
        "01F",
        "--no-maps",
        "--json",
        "--approved",
        approved,
    ]
    code, out, _ = run(capsys, "check", *args, "--out", tmp_path / "out2")
    assert "below" not in {f["rule"] for f in json.loads(out)["findings"]}


def test_alternatives_write_plans_scores_and_contested(capsys, tmp_path, monkeypatch):
    import json

    import pandas as pd

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "alts"
    args = [
        *SLICE_DATA,
        "--impute-missing",
        "--ccg",
        "01F",
        "--n",
        "3",
        "--min-diff",
        "2",
        "--processes",
        "1",
    ]
    code, stdout, _ = run(capsys, "alternatives", *args, "--no-maps", "--out", out)
    assert code == 0
    assert "01F: 3 plan(s) found" in stdout
    plans = [pd.read_csv(out / f"alt-{k}.csv", dtype=str) for k in (1, 2, 3)]
    assert all(len(p) == 14 and p["practice_code"].is_unique for p in plans)
    scores = pd.read_csv(out / "alternatives.csv", index_col=0)
    assert list(scores.index) == ["alt-1", "alt-2", "alt-3"]
    assert scores["out_of_band"].nunique() == 1  # as few out of band in every plan
    contested = pd.read_csv(out / "contested.csv", dtype={"contested": int})
    assert contested["contested"].max() >= 1 and (contested["settled"] == (contested["contested"] == 0)).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ccgs"]["01F"]["found"] == 3 and summary["contested"] >= 1


def test_check_a_proposal_names_who_it_strands(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    plan = tmp_path / "plan.csv"
    plan.write_text("practice_code,pcn_id\n")
    args = [*SLICE_DATA, "--impute-missing", "--ccg", "99F", "--no-maps", "--out", tmp_path / "out"]
    code, out, _ = run(capsys, "check", *args, "--proposal", "F81700")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["stranding"]) == {"99F"}
    assert "99F" in out
    code, _, err = run(capsys, "check", *args, "--proposal", "F81700,ZZZ999")
    assert code == 2 and "--proposal names practice(s) not in the practices file: ZZZ999" in err


def test_repair_writes_plan_moves_summary(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    args = [*SLICE_DATA, "--impute-missing", "--no-maps", "--processes", "1", "--out", tmp_path]
    code, out, _ = run(capsys, "repair", *args)
    assert code == 0
    assert "99F:" in out and "open placed" in out and "practices moved in all" in out
    assert "proven minimal" in out and "not proven" not in out  # nothing to search longer
    moves = list(csv.DictReader((tmp_path / "moves.csv").read_text().splitlines()))
    assert list(moves[0]) == ["practice_code", "name", "from", "to", "to_name", "patients", "reason"]
    assert any(m["practice_code"] == "F81700" and m["from"] == "" for m in moves)
    repaired = list(csv.DictReader((tmp_path / "plan.csv").read_text().splitlines()))
    assert all(r["pcn_name"] for r in repaired)  # each network named, as plan names them
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["provenance"]["command"].startswith("footprint repair")
    assert summary["england"]["open_placed"] == 1
    # totals by ICB (2022: the STP), before and after
    assert set(summary["icbs"]) == {"QH8", "QYG"}
    essex = summary["icbs"]["QH8"]
    assert essex["ccgs"] == ["99F", "99G"] and essex["before"]["groups"] >= 1
    assert sum(i["practices"] for i in summary["icbs"].values()) == len(repaired)
    code, out, _ = run(capsys, "check", tmp_path / "plan.csv", *args[:-2], "--out", tmp_path / "check")
    assert code == 0, out


def test_repair_says_how_to_search_longer_where_moves_are_not_proven(capsys, tmp_path):
    """04C's moves are not proven minimal at the default limit: the run says so and how to search on."""
    code, out, _ = run(
        capsys, "repair", "--ccg", "04C", "11N", "--no-maps", "--processes", "1", "--out", tmp_path
    )
    assert code == 0
    assert "04C: 20 practices moved" in out and "not proven" in out
    assert (
        "moves not proven minimal in 1 CCG (04C): --time-limit S searches their moves S deterministic "
        "seconds each, e.g. --ccg 04C --time-limit 5"
    ) in out.splitlines()


def test_repair_and_plan_pair_file_errors_are_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("practice_a,practice_b\nF81700,F81700\n")
    args = [*SLICE_DATA, "--impute-missing", "--no-maps", "--out", tmp_path]
    code, _, err = run(capsys, "repair", *args, "--apart", pairs)
    assert code == 2 and err.count("\n") == 1 and "pairs a practice with itself" in err
    both = tmp_path / "both.csv"
    both.write_text("practice_a,practice_b\nF81001,F81032\n")
    code, _, err = run(capsys, "plan", *args, "--ccg", "99F", "--apart", both, "--together", both)
    assert code == 2 and "kept both apart and together" in err


def test_compare_writes_a_page_per_ccg_with_the_maps_side_by_side(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    plan = tmp_path / "moved.csv"
    rows = (DATA / "practices_slice.csv").read_text().splitlines()
    header = rows[0].split(",")
    code, pcn = header.index("practice_code"), header.index("pcn_code")
    lines = ["practice_code,pcn_id"]
    for row in csv.reader(rows[1:]):
        lines.append(f"{row[code]},{'U30335' if row[code] == 'F81032' else row[pcn]}")
    plan.write_text("\n".join(lines) + "\n")
    args = [
        *SLICE_DATA,
        "--impute-missing",
        "--ccg",
        "99F",
        "--out",
        tmp_path / "out",
        "--maps",
        tmp_path / "maps",
    ]
    status, out, _ = run(capsys, "compare", "current", plan, *args)
    assert status == 0 and "one page per CCG" in out
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["99F.html", "index.html"]
    page = (tmp_path / "maps" / "99F.html").read_text()
    assert page.count('class="folium-map"') == 2 and "Changes between the plans" in page
    assert "footprint compare current" in page  # provenance
    status, _, _ = run(
        capsys, "compare", "current", plan, *args[:-2], "--no-maps", "--maps", tmp_path / "none"
    )
    assert status == 0 and not (tmp_path / "none").exists()


def test_check_maps_carry_provenance(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    args = [*SLICE_DATA, "--impute-missing", "--ccg", "99F", "--far-km", "3", "--out", tmp_path / "out"]
    run(capsys, "check", *args, "--maps", tmp_path / "maps")
    page = (tmp_path / "maps" / "99F.html").read_text()
    assert "How this map was made" in page and "footprint check" in page and "far_km 3" in page


def test_plan_stay_close_reports_moves_in_the_headline_summary_and_moves_csv(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = [*SLICE_DATA, "--impute-missing", "--ccg", "99F", "01F", "--no-maps", "--out", out]
    code, stdout, _ = run(capsys, "plan", *args, "--stay-close")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    moves = list(csv.DictReader((out / "moves.csv").read_text().splitlines()))
    moved = [m for m in moves if m["from"]]
    assert summary["england"]["moves"] == len(moved) == sum(r["moves"] for r in summary["ccgs"].values())
    for ccg, report in summary["ccgs"].items():
        stage = next(s for s in report["stages"] if s["stage"] == "moves")
        assert stage["value"] == report["moves"], ccg
    assert f"moved from current PCNs {len(moved)}" in stdout
    # each move names its destination as plan.csv does
    named = {r["pcn_id"]: r["pcn_name"] for r in csv.DictReader((out / "plan.csv").read_text().splitlines())}
    assert moved and all(m["to_name"] == named[m["to"]] for m in moved)


def test_plan_fast_says_which_stages_are_proven(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = [*SLICE_DATA, "--impute-missing", "--ccg", "99F", "--no-maps", "--out", out]
    code, _, _ = run(capsys, "plan", *args, "--fast")
    assert code == 0
    stages = json.loads((out / "summary.json").read_text())["ccgs"]["99F"]["stages"]
    assert stages[0]["status"] == "OPTIMAL"
    assert all(s["status"] in ("OPTIMAL", "FEASIBLE") and s["seconds"] == 0 for s in stages[1:])
    assert all((s["status"] == "OPTIMAL") == (s["value"] <= s["bound"]) for s in stages)


def _crossing_slice(tmp_path):
    """The slice with F81159 (99G) in 99F's U27924 (47,700 patients): a PCN across a CCG line."""
    import pandas as pd

    practices = pd.read_csv(DATA / "practices_slice.csv", dtype=str)
    practices.loc[practices["practice_code"] == "F81159", "pcn_code"] = "U27924"
    path = tmp_path / "crossing.csv"
    practices.to_csv(path, index=False)
    return ["--practices", path, "--boundaries", DATA / "ccg_slice.geojson", "--impute-missing"]


@pytest.mark.parametrize("ccgs", [["99F"], ["99F", "01F"], ["99F", "99G"]])
def test_ccg_keeps_a_pcn_across_its_line_whole(capsys, tmp_path, monkeypatch, ccgs):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    data = _crossing_slice(tmp_path)
    code, out, err = run(
        capsys, "check", *data, "--ccg", *ccgs, "--no-maps", "--json", "--out", tmp_path / "c"
    )
    assert code == 1
    mine = [f for f in json.loads(out)["findings"] if f["group"] == "U27924"]
    # whatever --ccg selects: 53,663 patients in 8 practices, and the crossing is a finding
    assert {f["detail"] for f in mine if f["rule"] == "above"} == {
        "U27924 has 53,663 patients in 8 practice(s): out of band: 3,663 above 30,000-50,000"
    }
    assert {f["practice_code"] for f in mine if f["rule"] == "ccg"} >= {"F81159"}
    if "99G" not in ccgs:
        assert "U27924 crosses --ccg: counted whole, with F81159 (99G) outside it" in err


def test_share_and_repair_keep_a_pcn_across_the_ccg_line_whole(capsys, tmp_path, monkeypatch):
    import json

    import pandas as pd

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    data = _crossing_slice(tmp_path)
    code, _, err = run(capsys, "share", *data, "--ccg", "99F", "--no-maps", "--out", tmp_path / "s")
    assert code == 0, err
    practices = pd.read_csv(data[1])
    in_99f = int(
        practices.loc[practices["ccg_code"].eq("99F") & practices["pcn_code"].ne("U"), "list_size"].sum()
    )
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["patients"] == in_99f + 5_963  # F81159 (99G) counted with U27924
    code, _, err = run(capsys, "repair", *data, "--ccg", "99F", "--no-maps", "--out", tmp_path / "r")
    assert code == 0, err
    moves = pd.read_csv(tmp_path / "r" / "moves.csv")
    # F81159 (99G) is named, not repaired: --ccg 99F judges 99F alone
    assert "F81159" not in set(moves["practice_code"])
    assert "U27924 crosses --ccg" in err


def test_plan_ids_are_stable_on_a_round_trip_through_lock(capsys, tmp_path, monkeypatch):
    # plan, then plan again with its own plan.csv as --lock: every id comes back as it went in
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    args = [*SLICE_DATA, "--impute-missing", "--no-maps", "--processes", "1"]
    assert run(capsys, "plan", *args, "--out", tmp_path / "a")[0] == 0
    first = (tmp_path / "a" / "plan.csv").read_text()
    ids = {line.split(",")[2] for line in first.splitlines()[1:]}
    assert any(i.startswith("U") for i in ids) and any("-" in i for i in ids)  # kept codes and new ids
    assert run(capsys, "plan", *args, "--lock", tmp_path / "a" / "plan.csv", "--out", tmp_path / "b")[0] == 0
    assert (tmp_path / "b" / "plan.csv").read_text() == first


def test_icb_selects_its_ccgs_and_the_plan_totals_by_icb(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    args = [*SLICE_DATA, "--impute-missing", "--no-maps", "--processes", "1", "--out", tmp_path]
    code, _, err = run(capsys, "plan", *args, "--icb", "qh8")  # 2022 data: the STP; any case
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["ccgs"]) == {"99F", "99G"} and summary["provenance"]["options"]["ccg"] == [
        "99F",
        "99G",
    ]
    qh8 = summary["icbs"]["QH8"]
    assert qh8["ccgs"] == ["99F", "99G"] and qh8["groups"] == summary["england"]["groups"]
    assert qh8["patients"] == sum(
        int(line.split(",")[3]) for line in (tmp_path / "plan.csv").read_text().splitlines()[1:]
    )


def test_the_2025_snapshot_is_one_option(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run(
        capsys, "check", "--data", "2025-10", "--icb", "E54000050", "--no-maps", "--json", "--out", tmp_path
    )
    assert code in (0, 1), err
    summary = json.loads(out)
    assert set(summary["stranding"]) == {"00L", "00N", "00P", "01H", "13T", "16C", "84H", "99C"}
    provenance = summary["provenance"]
    assert provenance["practices_file"] == "shipped 2025-10: data/2025-10/practices.csv"
    assert (provenance["data_date"], provenance["list_size_date"]) == ("2025-10-01", "2025-04-01")


AREA_INPUTS = (
    "--practices",
    DATA / "practices_slice.csv",
    "--boundaries",
    DATA / "ccg_slice.geojson",
    "--impute-missing",
    "--lsoa-registrations",
    DATA / "lsoa_registrations_slice.csv.gz",
    "--lsoa-boundaries",
    DATA / "lsoa_slice.npz",
)


def test_areas_line_names_the_practices_the_registrations_miss():
    from footprint.cli._common import areas_line

    figures = {
        "median_share_inside": 0.77,
        "in_several_pieces": 2,
        "networks": 10,
        "median_share_outside_largest_piece": 0.18,
        "enclosed": 0,
        "lsoas_left_to_no_network": 0,
        "practices_not_in_registrations": [],
        "networks_drawn_from_cells": [],
    }
    assert areas_line(figures).endswith("0 LSOA(s) left to no network")
    figures.update(
        practices_not_in_registrations=[f"Y0000{i}" for i in range(7)], networks_drawn_from_cells=["U1"]
    )
    assert areas_line(figures).endswith(
        "; 7 practice(s) not in the registrations (Y00000, Y00001, Y00002, Y00003, Y00004 ...): "
        "counted for no LSOA, 1 network(s) with none of theirs drawn from cells"
    )


def test_plan_draws_network_areas_from_where_patients_live(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out, maps = tmp_path / "out", tmp_path / "maps"
    code, stdout, err = run(
        capsys, "plan", *AREA_INPUTS, "--ccg", "99F", "--out", out, "--maps", maps, "--processes", "1"
    )
    assert code == 0
    assert (
        "network areas (where patients live): median" in stdout and "0 LSOA(s) left to no network" in stdout
    )
    # Patients of 99F's practices living in LSOAs outside the slice: said, not dropped.
    assert "LSOA code(s) the LSOA boundaries lack" in err
    areas = json.loads((out / "pcns.geojson").read_text())
    cells = json.loads((out / "pcns_cells.geojson").read_text())
    assert [f["properties"]["pcn_id"] for f in areas["features"]] == [
        f["properties"]["pcn_id"] for f in cells["features"]
    ]
    first = areas["features"][0]["properties"]
    assert {"pcn_name", "in_band", "area_from", "patients_registered", "share_inside", "pieces"} <= set(first)
    assert {f["properties"]["area_from"] for f in areas["features"]} == {"patients"}
    assert areas["features"][0]["geometry"] != cells["features"][0]["geometry"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["areas"]["networks"] == len(areas["features"])
    assert set(summary["areas"]["per_ccg"]) == {"99F"}
    files = summary["provenance"]
    assert files["registrations_file"] == str(DATA / "lsoa_registrations_slice.csv.gz")
    assert files["lsoa_boundaries_file"] == str(DATA / "lsoa_slice.npz")
    assert "Network areas (where patients live)" in (maps / "99F.html").read_text()
    assert "where the networks&#39; registered patients live" in (maps / "99F-pcns.html").read_text()


def test_shipped_registrations_far_from_the_practices_date_are_said(capsys):
    import argparse

    import pandas as pd

    from footprint.cli._common import far_registrations_note

    args = argparse.Namespace(lsoa_registrations=None)
    far_registrations_note(args, pd.DataFrame({"data_date": ["2022-01-01"]}))
    assert capsys.readouterr().err == ""  # six months from July 2022: nothing to say
    far_registrations_note(args, pd.DataFrame({"data_date": ["2025-10-01", "2025-04-01"]}))
    assert (
        "registrations of 2022-07, 39 months from the practices' date 2025-10-01" in capsys.readouterr().err
    )
    args.lsoa_registrations = "given.csv.gz"
    far_registrations_note(args, pd.DataFrame({"data_date": ["2025-10-01"]}))
    assert capsys.readouterr().err == ""  # a file given: its month is the user's choice


def test_check_warns_of_an_area_in_pieces(capsys, tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    code, stdout, _ = run(capsys, "check", *AREA_INPUTS, "--no-maps", "--out", tmp_path, "--processes", "1")
    assert code == 1  # the slice's stranded practice, as before
    findings = pd.read_csv(tmp_path / "findings.csv", dtype=str, keep_default_na=False)
    pieces = findings[findings["rule"] == "area_pieces"]
    assert pieces[["ccg_code", "group", "severity"]].to_numpy().tolist() == [["99G", "U02453", "warning"]]
    assert "14,221 patients in 13 LSOA(s); 2,405 patients in 3 LSOA(s)" in pieces["detail"].iloc[0]
    assert "1 of 10 areas in more than one piece" in stdout and (tmp_path / "pcns.geojson").exists()


def test_import_lsoa_converts_and_counts_codes_the_boundaries_lack(capsys, tmp_path):
    import pandas as pd

    code, stdout, _ = run(
        capsys,
        "import",
        "--lsoa",
        DATA / "gp-reg-pat-prac-lsoa-all_slice.csv",
        "--lsoa-boundaries",
        DATA / "lsoa_slice.npz",
        "--out",
        tmp_path,
    )
    assert code == 0
    assert "209 rows, 3 practices, 18,027 patients" in stdout
    assert "21 LSOA code(s) the LSOA boundaries lack, holding 7,598 patients (kept" in stdout
    written = pd.read_csv(tmp_path / "registrations_lsoa.csv.gz")
    assert list(written.columns) == ["practice_code", "lsoa_code", "patients"]
    assert len(written) == 209 and written["patients"].sum() == 18_027
    code, _, err = run(capsys, "import", "--map", tmp_path / "x.csv")
    assert code == 2 and err.count("\n") == 1 and "or --lsoa alone" in err


@pytest.mark.parametrize(
    "given",
    [["--ccg", "00Q", "00R", "00T"], ["--ccg", "00Q,00R", "--ccg", "00T"], ["--ccg", "00Q, 00R,00T"]],
)
def test_codes_may_be_listed_with_commas_or_the_option_repeated(given):
    # "--ccg 78H,52R" was one code no practice has; a repeated --ccg kept only the last.
    from footprint.cli import build_parser

    args = build_parser().parse_args(["check", *given, "--icb", "QHM,QOP"])
    assert args.ccg == ["00Q", "00R", "00T"] and args.icb == ["QHM", "QOP"]


def test_check_and_repair_draw_network_areas_too(capsys, tmp_path, monkeypatch):
    # The areas reach the maps from the command that made them: check made them and drew
    # maps without them once pcns.geojson's writer stopped handing them over.
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    for command in ("check", "repair"):
        out, maps = tmp_path / command, tmp_path / f"{command}-maps"
        code, _, _ = run(capsys, command, *AREA_INPUTS, "--ccg", "99F", "--out", out, "--maps", maps)
        assert code in (0, 1)
        assert "Network areas (where patients live)" in (maps / "99F.html").read_text(), command


def test_a_network_with_no_area_is_drawn_from_its_cells_in_pcns_geojson(capsys, tmp_path, monkeypatch):
    # A network that wins no LSOA has no area: pcns.geojson draws it from its practices' cells
    # (the areas' process joins the cells of those networks alone).
    import json

    import footprint.cli._common as common

    made = common.areas_from_args

    def one_without(*args, **kwargs):
        areas = made(*args, **kwargs)
        areas.areas.loc[areas.areas.index[0], "geometry"] = None
        return areas

    monkeypatch.setattr(common, "areas_from_args", one_without)
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code, _, _ = run(capsys, "plan", *AREA_INPUTS, "--ccg", "99F", "--out", out, "--no-maps")
    assert code == 0
    areas = json.loads((out / "pcns.geojson").read_text())["features"]
    cells = json.loads((out / "pcns_cells.geojson").read_text())["features"]
    assert areas[0]["geometry"] is not None and areas[0]["geometry"] == cells[0]["geometry"]
    assert all(a["geometry"] != c["geometry"] for a, c in zip(areas[1:], cells[1:], strict=True))
