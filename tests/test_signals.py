"""SIGTERM and SIGINT on a running plan: exit within 2 s, no worker left, the output folder untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).parent.parent


def _start_plan(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.csv").write_text("from an earlier run\n")
    env = {**os.environ, "FOOTPRINT_CACHE_DIR": str(tmp_path / "cache")}
    # All England with a long proof limit: far more work than the few seconds allowed here.
    cmd = [
        sys.executable,
        "-m",
        "footprint",
        "plan",
        "--no-maps",
        "--out",
        str(out),
        "--processes",
        "2",
        "--time-limit",
        "30",
        "--proof-limit",
        "300",
    ]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return process, out


def _wait_for_workers(process: subprocess.Popen, timeout: float = 60.0) -> list:
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = parent.children(recursive=True)
        if len(children) >= 2:
            time.sleep(1.0)  # let the workers start solving
            return parent.children(recursive=True)
        if process.poll() is not None:
            pytest.fail(process.communicate()[1].decode())
        time.sleep(0.2)
    pytest.fail("the plan never started its worker processes")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_plan_at_once(tmp_path, sig, code):
    process, out = _start_plan(tmp_path)
    workers = _wait_for_workers(process)
    sent = time.monotonic()
    process.send_signal(sig)  # to the main process alone, as a supervisor would
    try:
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    elapsed = time.monotonic() - sent
    stderr = err.decode()
    assert process.returncode == code, stderr
    assert elapsed < 2.0, f"took {elapsed:.1f} s to stop"
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("footprint: ")
    time.sleep(0.5)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert sorted(p.name for p in out.iterdir()) == ["plan.csv"]
    assert (out / "plan.csv").read_text() == "from an earlier run\n"


def test_ctrl_c_as_the_program_exits_changes_nothing():
    # The outputs are complete; a Ctrl-C while the interpreter shuts down exited -2 with no message.
    script = (
        "import atexit, os, signal\n"
        "import footprint.cli as cli\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        "cli.main = lambda: 0\n"
        "cli.console()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    # footprint check | head: the pipe closed under a long output gave a BrokenPipeError traceback.
    script = (
        "import footprint.cli as cli\n"
        "def many():\n"
        "    for i in range(100_000):\n"
        "        print(f'finding {i}')\n"
        "    return 0\n"
        "cli.main = many\n"
        "cli.console()\n"
    )
    with subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as reader:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, stdout=reader.stdin, stderr=subprocess.PIPE, timeout=60
        )
        reader.stdin.close()
        assert reader.stdout.read() == b"finding 0\n"
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr.decode()
    assert done.returncode == 141


def test_ctrl_c_before_the_exit_is_reported(monkeypatch, capsys):
    import footprint.cli as cli

    def interrupted() -> int:
        raise KeyboardInterrupt

    def exit_(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(cli, "main", interrupted)
    monkeypatch.setattr(os, "_exit", exit_)  # the console ends its process at once: not this one
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.console()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert exit_.value.code == 130
    assert capsys.readouterr().err.startswith("footprint: interrupted (Ctrl-C)")


def test_ctrl_c_after_a_solve_is_still_an_interrupt():
    # CP-SAT's own Ctrl+C handler left SIGINT at the C default after a solve: the editor, or any
    # command solving in-process, then died of the next Ctrl+C with no message (exit -2).
    script = (
        "import os, signal, time\n"
        # Python's own handler, as a terminal starts it: a suite run in the background by a
        # shell starts with SIGINT ignored, and Python then leaves it so.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from footprint.config import SolveOptions\n"
        "from footprint.partition.solve import solver_from_options\n"
        "from ortools.sat.python import cp_model\n"
        "model = cp_model.CpModel()\n"
        "model.maximize(model.new_int_var(0, 10, 'x'))\n"
        "solver_from_options(SolveOptions(), limit=1.0, workers=1).solve(model)\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == b"interrupted", done
