"""Benchmark footprint edit: the time per change, state and stranding verdict included.

For the largest CCG (W2U3Z, 354 practices) and a hard one (06N), from the current PCNs and
from a plan solved for the fewest groups out of band: moves of a practice to a neighbouring
group, moves that open a practice (the stranding verdict then has open practices to judge),
and undo (a plan already judged). Each change is timed three times: until the state is known
(the web app answers then, the verdict pending), until the first part of the stranding
verdict is known (who is stranded or at risk, and why) and until the whole verdict is (the
smallest change that frees the stranded practices included); the process's CPU seconds for
the whole verdict are given beside its wall time (the stranding thread included).
Figures beside the 1 s target; nothing is asserted.

    .venv/bin/python benchmarks/edit.py [CCG ... | all]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from footprint.config import Rules, SolveOptions
from footprint.edit import EditSession
from footprint.graph import graph_from_practices
from footprint.load import read_boundaries, read_practices, select_ccgs
from footprint.partition import solve_plan
from footprint.plan import Plan, plan_from_practices

TARGET_S = 1.0
MOVES = 3
OPENS = 2
SEED = 0


def timed(session: EditSession, action) -> tuple[float, float, float, float, dict]:
    """Return the seconds until the state, the verdict's first part and the whole verdict; its CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    action()
    state_s = time.perf_counter() - start
    while not (found := session.verdict(wait_s=0.002)).available and found.pending:
        pass
    first_s = time.perf_counter() - start
    session.verdict(wait_s=None)
    verdict_s = time.perf_counter() - start
    return state_s, first_s, verdict_s, time.process_time() - cpu, session.state()


def line(kind: str, seconds: list[float]) -> str:
    if not seconds:
        return f"  {kind:<44} none"
    worst = max(seconds)
    verdict = "met" if worst <= TARGET_S else "NOT met"
    return (
        f"  {kind:<44} n={len(seconds):<2} median {statistics.median(seconds):7.3f} s  max {worst:7.3f} s  "
        f"(target <= {TARGET_S:.0f} s: {verdict})"
    )


#: Every change timed in this run: kind ("state", "first", "whole") -> seconds.
TIMES: dict[str, list[float]] = {"state": [], "first": [], "whole": []}


def bench(name: str, session: EditSession) -> None:
    rng = random.Random(SEED)
    start = time.perf_counter()
    best = session.prepare()
    prepare_s = time.perf_counter() - start
    state_s, _, verdict_s, _, state = timed(session, lambda: None)
    print(
        f"{name}: {len(session.start)} practices, {len(state['groups'])} groups, {len(state['open'])} open; "
        f"least out-of-band {best.count} ({'proven' if best.proven else 'not proven'}) in {prepare_s:.2f} s "
        f"(once, at start); first verdict {verdict_s:.2f} s"
    )
    print(f"  verdict: {state['stranding']['message'][:160]}")
    movable = sorted(c for c, ch in state["choices"].items() if ch)
    states, firsts, verdicts, undone = [], [], [], []
    changes: list[tuple[str, str | None]] = [(c, None) for c in rng.sample(movable, min(MOVES, len(movable)))]
    assigned = sorted(c for c, p in session.plan.assignment.items() if p is not None)
    changes += [(c, "open") for c in rng.sample(assigned, min(OPENS, len(assigned)))]
    for code, to in changes:
        state_s, first_s, verdict_s, cpu_s, state = timed(
            session, lambda c=code, t=to: session.move(c, t or session.choices(c)[0])
        )
        states.append(state_s)
        firsts.append(first_s)
        verdicts.append(verdict_s)
        print(
            f"  {state['undo']}: state {state_s:.3f} s, verdict {first_s:.3f} s (first part), "
            f"{verdict_s:.3f} s whole, CPU {cpu_s:.3f} s; {state['stranding']['message'][:90]}"
        )
        undone.append(timed(session, session.undo)[2])
    print(line("state after a change (verdict pending)", states))
    print(line("verdict's first part (stranded and why)", firsts))
    print(line("whole verdict (smallest change included)", verdicts))
    print(line("undo, verdict included (plan judged before)", undone))
    TIMES["state"] += states
    TIMES["first"] += firsts
    TIMES["whole"] += verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "ccgs", nargs="*", default=["W2U3Z", "06N"], metavar="CCG", help="CCG codes or all (W2U3Z 06N)"
    )
    ccgs = parser.parse_args().ccgs
    start = time.perf_counter()
    everyone = read_practices()
    graph = graph_from_practices(everyone, read_boundaries())
    print(f"load and graph (cache) {time.perf_counter() - start:.2f} s")
    # "all": every CCG of England, each from its current PCNs and from a solved plan.
    for ccg in sorted(everyone["ccg_code"].unique()) if ccgs == ["all"] else ccgs:
        practices = select_ccgs(everyone, [ccg])
        sub = graph.subgraph(practices.index).copy()
        session = EditSession(plan_from_practices(practices), sub, practices)
        session.verdict_wait_s = 0.0  # time the state without the verdict, then the verdict apart
        bench(f"{ccg} current PCNs", session)
        rural = practices.index[practices["rural"]]
        solved = solve_plan(
            sub,
            rules=Rules(stages=("out_of_band", "out_of_band_all", "deviation")),
            options=SolveOptions(processes=1, workers=2),
            rural=rural,
        )
        session = EditSession(Plan(solved.assignment), sub, practices)
        session.verdict_wait_s = 0.0
        bench(f"{ccg} solved plan", session)
    over = sum(s > TARGET_S for s in TIMES["whole"])
    print(
        f"all {len(TIMES['state'])} changes: state max {max(TIMES['state']):.3f} s, verdict's first part max "
        f"{max(TIMES['first']):.3f} s (target <= {TARGET_S:.0f} s: "
        f"{'met' if max(TIMES['first']) <= TARGET_S else 'NOT met'}); whole verdict over {TARGET_S:.0f} s "
        f"after {over} (max {max(TIMES['whole']):.3f} s: the smallest change, shown as it comes)"
    )


if __name__ == "__main__":
    main()
