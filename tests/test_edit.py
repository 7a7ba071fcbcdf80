"""The what-if editor: the session (moves, locks, undo, save), its JSON API and its page in Chromium."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import footprint.partition
from footprint.cli import main
from footprint.config import Rules
from footprint.edit import (
    MOVE_COLUMNS,
    Best,
    EditError,
    EditSession,
    PartitionSeam,
    Verdict,
    agreed_pieces,
    apply_lock,
    edit_app,
    origins_for,
)
from footprint.evaluate import FINDING_COLUMNS
from footprint.load import select_ccgs
from footprint.places import display_name
from footprint.plan import Plan, plan_from_practices, read_plan
from tests.conftest import DATA, WAIT_S, headless_chromium, wait_for

CCG = "99F"
SLICE_DATA = ["--practices", DATA / "practices_slice.csv", "--boundaries", DATA / "ccg_slice.geojson"]
TOKEN = "t" * 12 + "-test-token-0123456789"
BASE = "http://127.0.0.1:8765"
HAS_STRANDS = hasattr(footprint.partition, "strands")


class FakeSeam:
    """Instant solver answers: nothing stranded, least count 0, complete puts open practices in one group."""

    # The seam's methods take (plan, locked); the fake ignores what it need not read.

    def __init__(self) -> None:
        self.calls: list[str] = []

    def best(self) -> Best:
        return Best(0, proven=True)

    def verdict(self, plan: Plan, locked: frozenset[str]) -> Verdict:  # noqa: ARG002
        self.calls.append("verdict")
        return Verdict(True, f"{len(plan.open_practices)} open, none stranded")

    def complete(self, plan: Plan, locked: frozenset[str]) -> Plan:  # noqa: ARG002
        return Plan({c: p if p is not None else "solver-1" for c, p in plan.assignment.items()})

    def repair(self, plan: Plan, locked: frozenset[str]) -> Plan:  # noqa: ARG002
        raise RuntimeError("solver crashed")


@pytest.fixture(scope="module")
def ccg(slice_practices, slice_graph):
    practices = select_ccgs(slice_practices, [CCG])
    return practices, slice_graph.subgraph(practices.index).copy()


@pytest.fixture
def session(ccg, tmp_path) -> EditSession:
    practices, graph = ccg
    return EditSession(
        plan_from_practices(practices), graph, practices, out=tmp_path / "out", seam=FakeSeam()
    )


def a_move(session: EditSession) -> tuple[str, str]:
    """Return a practice and a neighbouring group it may join."""
    choices = session.state()["choices"]
    code = next(c for c in sorted(choices) if choices[c])
    return code, choices[code][0]


def cut_vertex_move(session: EditSession) -> tuple[str, str]:
    """Return a move that leaves the mover's group in pieces."""
    import networkx as nx

    for members in session.plan.groups.values():
        for code in sorted(nx.articulation_points(session.graph.subgraph(members))):
            return code, (session.choices(code) or ["new"])[0]
    pytest.fail(f"no practice of {CCG} holds its group together")


# --------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------


def test_move_undo_redo(session):
    start = session.state()
    code, to = a_move(session)
    size = int(session.practices.at[code, "list_size"])
    before = {g["id"]: g["list_size"] for g in start["groups"]}
    state = session.move(code, to)
    after = {g["id"]: g["list_size"] for g in state["groups"]}
    source = start["assignment"][code]
    assert state["assignment"][code] == to and state["version"] == 1
    assert after[to] == before[to] + size
    assert after.get(source, 0) == before[source] - size
    (move,) = state["moves"]
    assert {k: move[k] for k in ("practice_code", "name", "from", "to", "patients")} == {
        "practice_code": code, "name": display_name(session.practices.at[code, "practice_name"]),
        "from": source, "to": to, "patients": size,
    }  # fmt: skip
    assert move["reason"] == (
        f"moved by hand: from {source} ({before[source]:,} -> {after.get(source, 0):,} patients) "
        f"to {to} ({before[to]:,} -> {after[to]:,})"
    )
    assert state["undo"] == f"move {code} from {source} to {to}" and state["redo"] is None
    undone = session.undo()
    assert undone["assignment"] == start["assignment"] and undone["moves"] == []
    assert undone["redo"] == state["undo"]
    redone = session.redo()
    assert redone["assignment"] == state["assignment"]
    session.undo()
    other = next(c for c, ch in session.state()["choices"].items() if ch and c != code)
    session.move(other, session.choices(other)[0])
    with pytest.raises(EditError, match="nothing to redo"):
        session.redo()  # a new change drops what was undone


def test_new_group_and_open(session):
    code, _ = a_move(session)
    state = session.move(code, "new")
    fresh = state["assignment"][code]
    assert fresh == f"{CCG}-new1" and {g["id"]: g["practices"] for g in state["groups"]}[fresh] == 1
    with pytest.raises(EditError, match=f"{code} is already alone in group {fresh}"):
        session.move(code, "new")
    state = session.move(code, "open")
    assert state["assignment"][code] is None and code in state["open"]
    assert any(f["rule"] == "open" and f["practice_code"] == code for f in state["findings"])
    assert state["moves"][0]["to"] == ""
    with pytest.raises(EditError, match=f"{code} is already open"):
        session.move(code, "open")


def test_bad_moves_name_what_and_change_nothing(session):
    code, to = a_move(session)
    far = next(
        g
        for g in session.plan.groups
        if g not in session.choices(code) and g != session.plan.assignment[code]
    )
    cases = [
        ("ZZZ999", to, 404, "no practice ZZZ999 in CCG 99F"),
        ("N81011", to, 404, "no practice N81011 in CCG 99F"),  # a practice of Halton (01F)
        (code, "U55035", 404, "no group U55035 in CCG 99F"),  # a PCN of Halton
        (code, far, 409, f"{far} is not a neighbouring group of {code}: choose from"),
        (code, session.plan.assignment[code], 409, f"{code} is already in"),
        (code, "", 400, "to must be"),
        (3, to, 400, "practice must be a practice code"),
    ]
    for practice, target, status, message in cases:
        with pytest.raises(EditError, match=message) as caught:
            session.move(practice, target)
        assert caught.value.status == status
    assert session.state()["version"] == 0


def test_a_move_that_cuts_a_group_is_allowed_but_flagged(session):
    code, to = cut_vertex_move(session)
    source = session.plan.assignment[code]
    state = session.move(code, to)
    group = next(g for g in state["groups"] if g["id"] == source)
    assert group["contiguous"] is False
    assert any(
        f["rule"] == "contiguity" and f["group"] == source and f["severity"] == "error"
        for f in state["findings"]
    )
    assert state["errors"] >= 1


def test_locked_groups_refuse_joiners_and_leavers(session):
    code, to = a_move(session)
    source = session.plan.assignment[code]
    state = session.lock(to, True)
    assert next(g for g in state["groups"] if g["id"] == to)["locked"]
    with pytest.raises(EditError, match=f"group {to} is locked: unlock it before {code} may join"):
        session.move(code, to)
    assert to not in session.choices(code)
    session.lock(to, False)
    session.lock(source, True)
    with pytest.raises(EditError, match=f"{code} is in locked group {source}: unlock {source} first"):
        session.move(code, to)
    with pytest.raises(EditError, match=f"group {source} is already locked"):
        session.lock(source, True)
    with pytest.raises(EditError, match="no group nowhere in CCG 99F"):
        session.lock("nowhere", True)
    with pytest.raises(EditError, match="locked must be true or false"):
        session.lock(source, "yes")  # type: ignore[arg-type]
    assert session.undo()["undo"] == f"unlock {to}"  # locking is a change like any other
    assert source not in session.locked


def test_apply_lock_and_starting_locks(ccg):
    practices, graph = ccg
    current = plan_from_practices(practices)
    pcn = sorted(current.groups)[0]
    members = sorted(current.groups[pcn])
    plan, locked = apply_lock(current, Plan(dict.fromkeys(members[:-1], pcn)))
    assert locked == {pcn} and plan.assignment[members[-1]] is None
    session = EditSession(plan, graph, practices, locked=locked, seam=FakeSeam())
    assert session.state()["groups"][0]["locked"] is (sorted(plan.groups)[0] == pcn)
    with pytest.raises(EditError, match="locked group\\(s\\) nowhere hold no practice of CCG 99F"):
        EditSession(plan, graph, practices, locked={"nowhere"}, seam=FakeSeam())


def test_one_ccg_at_a_time(slice_practices, slice_graph):
    with pytest.raises(
        EditError, match="the editor edits one CCG at a time; the graph holds 3: 01F, 99F, 99G"
    ):
        EditSession(plan_from_practices(slice_practices), slice_graph, slice_practices, seam=FakeSeam())


def test_complete_and_a_crashing_solver(session):
    code, _ = a_move(session)
    session.move(code, "open")
    state = session.complete()
    assert not state["open"] and state["undo"] == "complete the rest"
    assert state["assignment"][code].startswith(f"{CCG}-new")  # the solver's id becomes a new group's
    with pytest.raises(EditError, match="no practice is open: there is nothing to complete"):
        session.complete()
    with pytest.raises(RuntimeError, match="solver crashed"):
        session.repair()  # the session passes it on; the web app turns it into a 500


def test_save_writes_plan_and_moves_atomically(session, ccg, monkeypatch):
    practices, _ = ccg
    code, to = a_move(session)
    session.move(code, to)
    saved = session.save()["saved"]
    plan_path, moves_path = Path(saved["plan"]), Path(saved["moves"])
    assert read_plan(plan_path, practices).assignment == session.plan.assignment
    frame = pd.read_csv(plan_path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == [
        "practice_code",
        "ccg_code",
        "pcn_id",
        "list_size",
        "pcn_name",
        "pcn_name_new",
    ]
    moves = pd.read_csv(moves_path, dtype={"patients": int}, keep_default_na=False)
    assert tuple(moves.columns) == MOVE_COLUMNS and moves.loc[0, "practice_code"] == code
    # The columns of repair's moves file, the destination named as plan.csv names it.
    assert list(moves.columns) == footprint.partition.MOVES_COLUMNS
    assert moves.loc[0, "to_name"] == frame.set_index("practice_code").at[code, "pcn_name"]
    assert moves.loc[0, "reason"].startswith("moved by hand: from ")
    first = plan_path.read_bytes()
    other = next(c for c, ch in session.state()["choices"].items() if ch and c != code)
    session.move(other, session.choices(other)[0])

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        session.save()
    assert plan_path.read_bytes() == first  # never half written
    assert sorted(p.name for p in plan_path.parent.iterdir()) == ["moves.csv", "plan.csv"]


def test_no_output_folder_means_no_saving(ccg):
    practices, graph = ccg
    session = EditSession(plan_from_practices(practices), graph, practices, seam=FakeSeam())
    with pytest.raises(EditError, match="no output folder") as caught:
        session.save()
    assert caught.value.status == 409


def test_verdict_runs_in_the_background_and_is_cached(ccg):
    practices, graph = ccg
    release = threading.Event()

    class SlowSeam(FakeSeam):
        def verdict(self, plan, locked):
            release.wait(10)
            return super().verdict(plan, locked)

    seam = SlowSeam()
    session = EditSession(plan_from_practices(practices), graph, practices, seam=seam)
    session.verdict_wait_s = 0.05
    started = time.perf_counter()
    state = session.state()
    assert state["stranding"]["pending"] and "checking" in state["stranding"]["message"]
    assert time.perf_counter() - started < 1
    release.set()
    session.verdict_wait_s = None
    assert session.state()["stranding"]["message"] == "1 open, none stranded"
    code, to = a_move(session)
    session.move(code, to)
    calls = len(seam.calls)
    session.undo()  # back to a plan already judged: no new verdict
    assert len(seam.calls) == calls


def test_a_verdict_in_two_parts_shows_who_first(ccg):
    """Who is stranded comes first (pending, the state not cached); the smallest change after."""
    practices, graph = ccg
    release = threading.Event()

    class TwoPartSeam(FakeSeam):
        def verdict(self, plan, locked, *, changes=True):  # noqa: ARG002
            self.calls.append(f"verdict changes={changes}")
            if not changes:
                return Verdict(
                    True, "X stranded; the smallest change: computing ...", pending=True, stranded=("X",)
                )
            release.wait(10)
            return Verdict(True, "X stranded", stranded=("X",), detail={"changes": ["g takes in X"]})

    seam = TwoPartSeam()
    session = EditSession(plan_from_practices(practices), graph, practices, seam=seam)
    session.verdict_wait_s = 0.05
    deadline = time.monotonic() + WAIT_S
    while not (first := session.verdict(wait_s=0.05)).available and time.monotonic() < deadline:
        pass
    assert first.pending and first.stranded == ("X",)
    state = session.state()
    assert state["stranding"]["pending"] and state["stranding"]["stranded"] == ["X"]
    release.set()
    whole = session.verdict(wait_s=None)
    assert not whole.pending and whole.detail["changes"] == ["g takes in X"]
    assert session.state()["stranding"]["changes"] == ["g takes in X"]
    assert seam.calls == ["verdict changes=False", "verdict changes=True"]


def test_a_superseded_verdict_is_abandoned_not_waited_for(ccg):
    """A verdict still being worked out when the plan changes is cancelled; the new plan's comes at once."""
    practices, graph = ccg
    from footprint.partition.strand import Cancel

    class StuckSeam(FakeSeam):
        """Judges the starting plan for as long as it is let (until cancelled); any other at once."""

        def __init__(self, start: Plan) -> None:
            super().__init__()
            self.start = start
            self.cancelled = threading.Event()

        def cancel_token(self) -> Cancel:
            return Cancel()

        def verdict(self, plan, locked, *, changes=True, cancel=None):  # noqa: ARG002
            if plan.assignment == self.start.assignment:
                while not cancel.is_set():
                    time.sleep(0.01)
                self.cancelled.set()
                cancel.check()
            return super().verdict(plan, locked)

    start = plan_from_practices(practices)
    seam = StuckSeam(start)
    session = EditSession(start, graph, practices, seam=seam)
    session.verdict_wait_s = 0.05
    assert session.state()["stranding"]["pending"]
    code, to = a_move(session)
    started = time.perf_counter()
    session.move(code, to)
    found = session.verdict(wait_s=WAIT_S)
    assert time.perf_counter() - started < 5 and seam.cancelled.is_set()
    assert found.available and found.message == "1 open, none stranded"
    session.undo()  # the abandoned plan was never judged: it is judged again (and sticks again)
    assert session.verdict(wait_s=0.1).pending
    session.redo()  # and is abandoned again
    assert session.verdict(wait_s=WAIT_S).available


@pytest.mark.skipif(not HAS_STRANDS, reason="the partition package has no strands yet")
def test_the_real_verdict_comes_in_two_parts(ccg):
    """99F's current PCNs: the Rahman Practice stranded first, then the change that frees it."""
    practices, graph = ccg
    seam = PartitionSeam(graph, rules=Rules())
    plan = plan_from_practices(practices)
    first = seam.verdict(plan, frozenset(), changes=False)
    assert first.pending and first.available and first.stranded == ("F81700",)
    assert first.detail["changes_pending"] and first.detail["changes"] == []
    assert "the smallest change that frees them: computing" in first.message
    whole = seam.verdict(plan, frozenset())
    assert not whole.pending and whole.stranded == ("F81700",) and whole.detail["changes"]
    assert not whole.detail["changes_pending"]
    session = EditSession(plan, graph, practices, seam=seam)
    assert session.verdict(wait_s=None).detail["changes"] == whole.detail["changes"]


def test_stranding_unavailable_without_the_partition_function(ccg, monkeypatch):
    practices, graph = ccg
    monkeypatch.setattr(PartitionSeam, "_function", staticmethod(lambda _name: None))
    session = EditSession(plan_from_practices(practices), graph, practices)
    state = session.state()
    assert state["stranding"] == {
        "available": False,
        "pending": False,
        "message": "stranding check unavailable (the partition package has no strands)",
        "stranded": [],
        "at_risk": [],
    }
    assert session.prepare().status == "unavailable"
    assert (
        session.state()["out_of_band"]["text"] == "1 group out of band (least out-of-band count unavailable)"
    )
    with pytest.raises(EditError, match="repair unavailable") as caught:
        session.repair()
    assert caught.value.status == 503


def test_agreed_pieces_split_a_broken_group(session):
    code, to = cut_vertex_move(session)
    source = session.plan.assignment[code]
    session.move(code, to)
    pieces = agreed_pieces(session.plan, session.graph)
    names = {p for p in pieces.assignment.values() if p and p.startswith(source)}
    assert {f"{source} (99F, part 1)", f"{source} (99F, part 2)"} <= names


@pytest.mark.skipif(not HAS_STRANDS, reason="the partition package has no strands yet")
def test_saved_plan_checks_as_the_page_says(ccg, tmp_path, monkeypatch, capsys):
    """The verdict and findings the page shows are those `footprint check` gives the saved file."""
    practices, graph = ccg
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    session = EditSession(plan_from_practices(practices), graph, practices, out=tmp_path / "edit")
    session.prepare()
    state = session.state()
    assert state["stranding"]["available"] and state["stranding"]["stranded"] == ["F81700"]
    assert state["out_of_band"]["best"] == 0 and state["out_of_band"]["proven"]
    code, to = cut_vertex_move(session)
    state = session.move(code, to)
    state = session.save()
    out = tmp_path / "check"
    code_, printed, _ = _run(
        capsys, "check", state["saved"]["plan"], *SLICE_DATA, "--impute-missing", "--ccg", CCG,
        "--no-maps", "--json", "--out", out,
    )  # fmt: skip
    assert code_ == 1
    # check also judges network areas from where patients live (area_*): the editor judges the rules
    checked = [
        {k: f[k] for k in FINDING_COLUMNS}
        for f in json.loads(printed)["findings"]
        if not f["rule"].startswith("area_")
    ]
    shown = [{k: f[k] for k in FINDING_COLUMNS} for f in state["findings"]]
    assert checked == shown
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stranding"][CCG]["stranded"] == state["stranding"]["stranded"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------
# The JSON API
# --------------------------------------------------------------------------------------


@pytest.fixture
def client(session):
    from starlette.testclient import TestClient

    hosts, origins = origins_for("127.0.0.1", 8765)
    app = edit_app(session, token=TOKEN, hosts=hosts, origins=origins)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as test_client:
        yield test_client


def auth(**extra: str) -> dict[str, str]:
    return {"X-Footprint-Token": TOKEN, **extra}


def refused(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "\n" not in error and text in error, error


def test_api_moves_and_answers_the_state(client, session):
    code, to = a_move(session)
    response = client.post("/move", json={"practice": code, "to": to}, headers=auth())
    assert response.status_code == 200 and response.json()["assignment"][code] == to
    assert client.get("/state", headers=auth()).json()["version"] == 1
    assert client.post("/undo", headers=auth()).json()["assignment"][code] != to
    assert client.post("/redo", headers=auth()).json()["assignment"][code] == to
    group = response.json()["groups"][0]["id"]
    assert client.post("/lock", json={"group": group, "locked": True}, headers=auth()).json()["groups"][0][
        "locked"
    ]
    saved = client.post("/save", headers=auth()).json()["saved"]
    assert Path(saved["plan"]).exists() and Path(saved["moves"]).exists()


def test_api_answers_where_a_practice_over_50000_stands_alone(ccg, tmp_path):
    """15E, 11J, W2U3Z and ten more CCGs: an exempt group made /state, /move and /save answer 500."""
    from starlette.testclient import TestClient

    practices, graph = ccg
    practices = practices.copy()
    big = practices.index[0]
    practices.loc[big, ["list_size", "pcn_code"]] = [60_000, "BIG"]
    session = EditSession(
        plan_from_practices(practices), graph, practices, out=tmp_path / "out", seam=FakeSeam()
    )
    hosts, origins = origins_for("127.0.0.1", 8765)
    app = edit_app(session, token=TOKEN, hosts=hosts, origins=origins)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        state = client.get("/state", headers=auth())
        assert state.status_code == 200, state.text
        exempt = {g["id"]: g["exempt"] for g in state.json()["groups"]}
        assert exempt.pop("BIG") == "large" and set(exempt.values()) == {None}
        code, to = a_move(session)
        assert client.post("/move", json={"practice": code, "to": to}, headers=auth()).status_code == 200
        assert client.post("/save", headers=auth()).status_code == 200


@pytest.mark.skipif(not HAS_STRANDS, reason="the partition package has no strands yet")
def test_api_repairs_with_the_real_solver(ccg, tmp_path):
    """99F's current PCNs (the Rahman Practice open and stranded) repaired through the API by repair_plan."""
    from starlette.testclient import TestClient

    practices, graph = ccg
    session = EditSession(plan_from_practices(practices), graph, practices, out=tmp_path / "out")
    hosts, origins = origins_for("127.0.0.1", 8765)
    app = edit_app(session, token=TOKEN, hosts=hosts, origins=origins)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        before = client.get("/state", headers=auth()).json()
        assert before["open"] == ["F81700"] and before["stranding"]["stranded"] == ["F81700"]
        assert before["errors"] > 0
        response = client.post("/repair", headers=auth())
        assert response.status_code == 200, response.text
        state = response.json()
    assert state["errors"] == 0 and state["open"] == [] and state["undo"] == "repair"
    # No group below the floor or in pieces (a group above the ceiling may stay: a warning).
    assert all(g["status"] != "below" and g["contiguous"] for g in state["groups"])
    assert state["stranding"]["stranded"] == [] and "no practice is open" in state["stranding"]["message"]
    moved = {m["practice_code"] for m in state["moves"]}
    assert "F81700" in moved and len(moved) <= 3  # the open practice placed, few others moved


@pytest.mark.parametrize(
    "how",
    [
        {"params": {"token": TOKEN}},
        {"headers": {"Authorization": f"token {TOKEN}"}},
        {"headers": {"Authorization": f"Bearer {TOKEN}"}},
        {"headers": {"X-Footprint-Token": TOKEN, "Origin": BASE, "Sec-Fetch-Site": "same-origin"}},
        {"headers": {"X-Footprint-Token": TOKEN, "Origin": "http://localhost:8765"}},
    ],
)
def test_api_accepts_the_token_however_given(client, how):
    assert client.get("/state", **how).status_code == 200


@pytest.mark.parametrize(
    ("headers", "params", "text"),
    [
        ({}, {}, "token is missing or wrong"),
        ({"X-Footprint-Token": "x" * 40}, {}, "token is missing or wrong"),
        ({}, {"token": TOKEN[:-1]}, "token is missing or wrong"),
        (auth(Origin="http://evil.example"), {}, "requests from http://evil.example may not use this editor"),
        (auth(Origin="null"), {}, "requests from null"),
        (auth(Origin="http://127.0.0.1:9999"), {}, "requests from http://127.0.0.1:9999"),
        (auth(Host="evil.example:8765"), {}, "Host evil.example:8765 is not this server's address"),
        (auth(Host="127.0.0.1.nip.io:8765"), {}, "is not this server's address"),  # DNS rebinding
        (auth(**{"Sec-Fetch-Site": "cross-site"}), {}, "a cross-site request may not use this editor"),
    ],
)
def test_api_refuses_strangers_and_changes_nothing(client, session, headers, params, text):
    code, to = a_move(session)
    for method, path, body in [
        ("POST", "/move", {"practice": code, "to": to}),
        ("POST", "/lock", {"group": to, "locked": True}),
        ("POST", "/save", None),
        ("GET", "/state", None),
    ]:
        response = client.request(method, path, json=body, headers=headers, params=params)
        refused(response, 403, text)
    assert session.state()["version"] == 0 and session.locked == frozenset()
    assert not (session.out / "plan.csv").exists()


def test_api_refuses_bad_requests_in_one_line_and_keeps_serving(client, session):
    code, to = a_move(session)
    post = client.post
    refused(
        post("/move", content=b"{bad", headers=auth(**{"Content-Type": "application/json"})),
        400,
        "malformed JSON",
    )
    refused(
        post("/move", content=b"[1, 2]", headers=auth(**{"Content-Type": "application/json"})),
        400,
        "JSON object",
    )
    refused(
        post("/move", content=b"practice=X", headers=auth(**{"Content-Type": "text/plain"})),
        415,
        "application/json",
    )
    refused(post("/move", json={"practice": code}, headers=auth()), 400, "missing field(s) to")
    refused(post("/move", json={"practice": "ZZZ999", "to": to}, headers=auth()), 404, "no practice ZZZ999")
    refused(
        post("/move", json={"practice": code, "to": "U55035"}, headers=auth()),
        404,
        "no group U55035 in CCG 99F",
    )
    refused(
        post("/move", json={"practice": code, "to": "x" * 20_000}, headers=auth()), 413, "larger than 16,384"
    )
    refused(client.get("/move", headers=auth()), 405, "Method Not Allowed")
    refused(client.get("/nowhere", headers=auth()), 404, "Not Found")
    refused(post("/undo", headers=auth()), 409, "nothing to undo")
    refused(post("/repair", headers=auth()), 500, "internal error: RuntimeError: solver crashed")
    assert session.state()["version"] == 0
    cut, target = cut_vertex_move(session)
    response = post("/move", json={"practice": cut, "to": target}, headers=auth())
    assert response.status_code == 200  # allowed, but flagged
    assert any(f["rule"] == "contiguity" for f in response.json()["findings"])


def test_page_is_self_contained(client, session):
    refused(client.get("/"), 403, "token")
    response = client.get("/", params={"token": TOKEN})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert (
        response.headers["referrer-policy"] == "no-referrer"
        and response.headers["cache-control"] == "no-store"
    )
    html = response.text
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", html)  # nothing fetched
    data = json.loads(html.split('<script type="application/json" id="fp-data">')[1].split("</script>")[0])
    assert data["ccg"] == CCG and len(data["practices"]) == len(session.practices)


def test_edit_app_wants_a_long_token(session):
    with pytest.raises(EditError, match="at least 16 characters"):
        edit_app(session, token="short", hosts=["127.0.0.1:1"])


def test_origins_for_addresses():
    hosts, origins = origins_for("192.168.1.5", 80)
    assert hosts == {"192.168.1.5:80"} and origins == {"http://192.168.1.5:80"}
    hosts, _ = origins_for("::1", 8)
    assert "[::1]:8" in hosts and "localhost:8" in hosts
    hosts, _ = origins_for("0.0.0.0", 8)
    assert {"127.0.0.1:8", f"{socket.gethostname().lower()}:8"} <= hosts


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def test_cli_refuses_bad_options_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    args = [*SLICE_DATA, "--impute-missing", "--no-browser", "--out", tmp_path]
    for extra, text in [
        ([], "footprint edit edits one CCG at a time: give --ccg CODE"),
        (["--ccg", "99F", "99G"], "one CCG at a time"),
        (["--ccg", "99F", "--allow-origin", "evil"], "--allow-origin 'evil' is not an origin"),
        (["--ccg", "99F", "--port", "70000"], "--port: '70000' is not a whole number from 0 to 65,535"),
    ]:
        code, _, err = _run(capsys, "edit", *args, *extra)
        assert code == 2 and err.count("\n") == 1 and text in err, err
    monkeypatch.setenv("FOOTPRINT_EDIT_TOKEN", "short")
    code, _, err = _run(capsys, "edit", *args, "--ccg", "99F")
    assert code == 2 and "FOOTPRINT_EDIT_TOKEN must be at least 16" in err


def test_cli_refuses_a_port_in_use(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(tmp_path / "cache"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = _run(
            capsys, "edit", *SLICE_DATA, "--impute-missing", "--ccg", "99F", "--no-browser", "--port", port,
            "--out", tmp_path,
        )  # fmt: skip
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err


# --------------------------------------------------------------------------------------
# The page in headless Chromium, against a real server
# --------------------------------------------------------------------------------------


@pytest.fixture
def server(ccg, tmp_path) -> Iterator[tuple[str, EditSession]]:
    import uvicorn

    practices, graph = ccg
    session = EditSession(
        plan_from_practices(practices), graph, practices, out=tmp_path / "out", seam=FakeSeam()
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    hosts, origins = origins_for("127.0.0.1", port)
    app = edit_app(session, token=TOKEN, hosts=hosts, origins=origins, practices=practices)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started
    yield f"http://127.0.0.1:{port}", session
    uv.should_exit = True
    thread.join(WAIT_S)
    sock.close()


@pytest.fixture
def browser(tmp_path) -> Iterator:
    driver = headless_chromium(tmp_path / "chromium", window="1400,900")
    yield driver
    driver.quit()


def test_browser_moves_a_practice_by_clicking_and_saves(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains

    base, session = server
    browser.get_log("performance")  # drop what the browser's own start-up pages logged
    browser.get(f"{base}/?token={TOKEN}")
    n = len(session.practices)
    wait_for(browser, "return document.querySelectorAll('path.fp-practice').length === arguments[0];", n)
    wait_for(browser, "return document.body.dataset.version === '0';")
    code, to = a_move(session)
    marker = browser.find_element("css selector", f"path.fp-p-{code}")
    ActionChains(browser).move_to_element(marker).click().perform()
    button = wait_for(
        browser, "return document.querySelector('.fp-popup button[data-to=\"' + arguments[0] + '\"]');", to
    )
    button.click()
    wait_for(browser, "return document.body.dataset.version === '1';")
    moves = browser.find_element("id", "fp-moves").text
    assert code in moves and to in moves
    why = browser.find_element("css selector", "#fp-moves li").get_attribute("title")
    assert why.startswith("moved by hand: from ") and to in why  # the move's reason, as moves.csv gives it
    # The verdict is redrawn after the move (its element replaced): read it as it settles.
    verdict = "return document.getElementById('fp-verdict')?.innerText;"
    wait_for(browser, verdict.replace(";", " === arguments[0];"), "Stranding: 1 open, none stranded")
    row = browser.find_element("css selector", f'#fp-groups tr[data-group="{to}"]').text
    assert f"{next(g['list_size'] for g in session.state()['groups'] if g['id'] == to):,}" in row
    fill = browser.execute_script("return arguments[0].getAttribute('fill');", marker)
    assert fill == session.state()["colours"][to]
    assert "Done: move" in browser.find_element("id", "fp-message").text
    browser.find_element("id", "fp-save").click()
    wait_for(browser, "return document.getElementById('fp-message').textContent.startsWith('Saved');")
    saved = read_plan(session.out / "plan.csv")
    assert saved.assignment[code] == to and saved.assignment == session.plan.assignment
    browser.find_element("id", "fp-undo").click()
    wait_for(browser, "return document.body.dataset.version === '2';")
    assert session.plan.assignment[code] != to
    requested = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    pages = [url for url in requested if not url.startswith("chrome")]  # the browser's own new-tab page
    assert pages and all(url.startswith((base, "data:")) for url in pages), pages
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_ctrl_c_stops_the_editor_and_reports_unsaved_changes(tmp_path):
    """Ctrl+C while a verdict is worked out: exit 0, no abort, and the unsaved change is reported."""
    import signal
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "FOOTPRINT_CACHE_DIR": str(tmp_path / "cache")}
    args = [*SLICE_DATA, "--impute-missing", "--ccg", CCG, "--no-browser", "--port", "0", "--out", tmp_path]
    process = subprocess.Popen(
        [sys.executable, "-m", "footprint", "edit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = next(m.group(1) for line in process.stdout if (m := re.search(r"open (http://\S+)", line)))
        base, token = url.split("/?token=")

        def call(path: str, body: dict | None = None) -> dict:
            data = None if body is None else json.dumps(body).encode()
            headers = {"X-Footprint-Token": token, "Content-Type": "application/json", "Origin": base}
            with urllib.request.urlopen(urllib.request.Request(base + path, data, headers), timeout=60) as r:
                return json.load(r)

        choices = call("/state")["choices"]
        code = next(c for c in sorted(choices) if choices[c])
        call("/move", {"practice": code, "to": choices[code][0]})  # its verdict starts now
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "terminate called" not in err and "Traceback" not in err
    assert "stopped with changes not saved (1 practice(s) moved" in out


def test_a_pcn_across_the_ccg_line_is_whole_and_its_outside_members_stay(slice_practices, slice_graph):
    """F81159 (99G) in 99F's U27924 (47,700): the group counts 53,663; F81159 cannot be moved."""
    practices = slice_practices.copy()
    practices.loc["F81159", "pcn_code"] = "U27924"
    codes = sorted({*practices.index[practices["ccg_code"] == CCG], "F81159"})
    graph = slice_graph.subgraph(codes).copy()
    session = EditSession(
        plan_from_practices(practices.loc[codes]), graph, practices.loc[codes], seam=FakeSeam(), ccg=CCG
    )
    state = session.state()
    group = next(g for g in state["groups"] if g["id"] == "U27924")
    assert (group["list_size"], group["practices"]) == (53_663, 8)
    assert state["outside"] == {"F81159": "99G"} and state["choices"]["F81159"] == []
    assert {f["practice_code"] for f in state["findings"] if f["rule"] == "ccg"} >= {"F81159"}
    with pytest.raises(EditError, match="F81159 is in CCG 99G, outside CCG 99F: it stays in U27924"):
        session.move("F81159", "U30335")
    assert session.complete()["assignment"]["F81159"] == "U27924"
    with pytest.raises(
        EditError, match=r"practice\(s\) F81007, F81051, .* are not in CCG 99G nor in one of its"
    ):
        EditSession(plan_from_practices(practices.loc[codes]), graph, practices.loc[codes], ccg="99G")
