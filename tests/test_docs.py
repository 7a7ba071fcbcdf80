"""The documentation site (docs/): it builds offline with no warning, and what it shows works.

- the Sphinx build, warnings as errors, into a temporary folder (9 s on a quiet 2-core machine,
  8 s of CPU; 20-30 s when the cores are shared), and the generated references cover every
  command and every public name;
- every ``footprint`` command in the pages' shell blocks parses with the real parser, every
  ``--flag`` the pages name exists, and the commands that can run on the test slice (tests/data:
  01F, 99F, 99G) run, page by page, in order, in a fresh folder, printing what the page shows
  after ``% output`` (about 15 s in all: maps are left out but for ``footprint map`` itself);
- the Python examples are doctests, collected by pytest from docs/*.md (pyproject's
  ``--doctest-glob``; docs/conftest.py runs them beside the slice).
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import footprint
from footprint.cli import COMMANDS, build_parser, main
from tests.conftest import DATA, SLICE_CCGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
#: Where the slice's commands read their data (appended to every command run).
SLICE_OPTIONS = [
    "--practices",
    str(DATA / "practices_slice.csv"),
    "--boundaries",
    str(DATA / "ccg_slice.geojson"),
    "--impute-missing",
]
#: Commands shown but not run, and why.
NOT_RUN = {"edit": "starts a web server", "import": "reads NHS Digital's downloads"}
#: The pages whose commands must (partly) run on the slice: a guide that shows none is a bug.
GUIDES = ("getting-started.md", "guides/planner.md", "guides/practice.md", "guides/analyst.md")
#: The modules the API reference documents.
API_MODULES = (
    "plan",
    "load",
    "graph",
    "partition",
    "evaluate",
    "icbs",
    "share",
    "edit",
    "render",
    "config",
    "errors",
    "sources",
)

FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


def blocks(page: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    """Yield each fenced block of a page as (language, directive options, body), in order.

    A block just after the (invisible) MyST comment ``% output`` is what the command before it
    prints: its options hold ``output``.
    """
    text = page.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
        indent = len(match["indent"])
        lines = [line[indent:] for line in match["body"].splitlines()]
        info, options = match["info"].strip(), {"output": "yes"} if before == "% output" else {}
        if info.startswith("{code-block}"):
            info = info.removeprefix("{code-block}").strip()
            while lines and lines[0].startswith(":"):
                key, _, value = lines.pop(0)[1:].partition(":")
                options[key.strip()] = value.strip()
        yield info, options, "\n".join(lines).strip("\n") + "\n"


def shell_commands(body: str) -> Iterator[list[str]]:
    """Yield the arguments of each ``footprint`` command in a shell block.

    Lines continued with a backslash are joined, comments and leading ``VAR=value`` are
    dropped, a pipe ends the command; ``scripts/run`` and ``.venv/bin/footprint`` are the
    ``footprint`` command (``scripts/run`` alone runs ``plan``). Other programs are not ours.
    """
    for line in body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if "|" in words:
            words = words[: words.index("|")]
        while words and ASSIGNMENT.fullmatch(words[0]):
            words.pop(0)
        if not words:
            continue
        if words[0] in ("footprint", ".venv/bin/footprint"):
            yield words[1:]
        elif words[0] == "scripts/run":
            yield words[1:] or ["plan"]


def documented_commands(page: Path) -> list[list[str]]:
    """Return every ``footprint`` command in a page's shell blocks, in order."""
    return [argv for info, _, body in blocks(page) if info in ("sh", "bash") for argv in shell_commands(body)]


def parse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> argparse.Namespace:
    """Parse a documented command with the real parser, failing with its message."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        _, err = capsys.readouterr()
        pytest.fail(f"documented command does not parse: footprint {shlex.join(argv)}\n{err}")


def why_not_run(argv: list[str], args: argparse.Namespace) -> str | None:
    """Return why a documented command is not run on the slice, or None to run it."""
    if args.command in NOT_RUN:
        return NOT_RUN[args.command]
    if {"--data", "--practices", "--boundaries"} & set(argv):
        return "names its own data"
    if args.ccg and not set(args.ccg) <= set(SLICE_CCGS):
        return "names CCGs outside the slice"
    if getattr(args, "scheduler", None):
        return "needs a Dask cluster"
    return None


def unmatched_lines(shown: str, printed: str) -> list[str]:
    """Return the lines of a documented output that the command did not print.

    ``...`` in a shown line stands for any text, and timings (``0.2 s``) for any timing.
    """
    timing = re.compile(r"\d+(?:\.\d+)? s\b")
    lines = [timing.sub("T s", line.rstrip()) for line in printed.splitlines()]
    missing = []
    for line in shown.splitlines():
        parts = [re.escape(timing.sub("T s", part)) for part in line.rstrip().split("...")]
        pattern = re.compile(".*".join(parts))
        if line.strip() and not any(pattern.fullmatch(printed_line) for printed_line in lines):
            missing.append(line)
    return missing


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One graph cache for every page's commands (the slice's graph built once)."""
    return tmp_path_factory.mktemp("cache")


def test_the_site_builds_offline_with_no_warning(tmp_path):
    out = tmp_path / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0 and "WARNING" not in done.stderr, done.stderr[-4000:]
    # The command reference is the parser's: every command has its section.
    cli = (out / "cli.html").read_text(encoding="utf-8")
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = list(subparsers.choices)
    assert len(commands) == len(COMMANDS)
    missing = [c for c in commands if f'id="footprint-{c}"' not in cli]
    assert not missing, f"commands without a section in the command reference: {missing}"
    # The API reference documents every public module and every name of footprint.__all__.
    api = "".join(p.read_text(encoding="utf-8") for p in (out / "api").glob("*.html"))
    missing = [m for m in API_MODULES if f'id="module-footprint.{m}"' not in api]
    assert not missing, f"modules without an API page: {missing}"
    undocumented = [
        name
        for name in footprint.__all__
        if name != "__version__" and not re.search(rf'id="footprint\.[a-z_.]+\.{name}"', api)
    ]
    assert not undocumented, f"public names missing from the API reference: {undocumented}"
    # Nothing is fetched when a page opens: no script or style sheet from elsewhere.
    remote = re.compile(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//', re.I)
    fetching = [p.name for p in out.rglob("*.html") if remote.search(p.read_text(encoding="utf-8"))]
    assert not fetching, f"pages that load from the network: {fetching}"


def test_every_documented_command_parses(capsys):
    seen = 0
    for page in PAGES:
        for argv in documented_commands(page):
            parse(argv, capsys)
            seen += 1
    assert seen >= 30, (
        f"only {seen} footprint commands found in docs/: is the shell block syntax still ```sh?"
    )


def test_every_flag_the_pages_name_exists():
    """A ``--flag`` named anywhere (prose too) is footprint's, a benchmark script's, or a tool's."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = set(parser._option_string_actions)
    for command in subparsers.choices.values():
        flags |= set(command._option_string_actions)
    benchmarks = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "benchmarks").glob("*.py"))
    tools = {"--check", "--keep-going"}  # ruff format --check, sphinx-build --keep-going
    unknown = {
        page_id(page): sorted(
            flag
            for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", page.read_text(encoding="utf-8")))
            if flag not in flags and flag not in tools and f'"{flag}"' not in benchmarks
        )
        for page in PAGES
    }
    assert not {k: v for k, v in unknown.items() if v}, unknown


@pytest.mark.parametrize("page", [DOCS / p for p in GUIDES], ids=page_id)
def test_each_guide_shows_commands_that_run_on_the_slice(page, capsys):
    runnable = [a for a in documented_commands(page) if why_not_run(a, parse(a, capsys)) is None]
    assert runnable, f"{page_id(page)} shows no command that runs on the slice"


@pytest.mark.parametrize("page", [p for p in PAGES if documented_commands(p)], ids=page_id)
def test_the_page_commands_run_on_the_slice(page, tmp_path, monkeypatch, capsys, cache_dir):
    """Run a page's commands in order (files shown with a caption written first), as a reader would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOOTPRINT_CACHE_DIR", str(cache_dir))
    printed: str | None = None  # what the last command run printed
    for info, options, body in blocks(page):
        if "caption" in options and options["caption"].endswith(".csv"):
            (tmp_path / options["caption"]).write_text(body, encoding="utf-8")
            continue
        if "output" in options:
            if printed is not None:  # else the output of a command that needs more than the slice
                missing = unmatched_lines(body, printed)
                assert not missing, f"{page_id(page)} shows output the command does not print: {missing}"
            printed = None
            continue
        if info not in ("sh", "bash"):
            continue
        for argv in shell_commands(body):
            args = parse(argv, capsys)
            printed = None
            if why_not_run(argv, args) is not None:
                continue
            extra = ["--no-maps"] if hasattr(args, "no_maps") and "--maps" not in argv else []
            code = main([*argv, *SLICE_OPTIONS, *extra])
            out, err = capsys.readouterr()
            printed = out + err
            allowed = {0, 1} if args.command in ("check", "graph") else {0}  # 1: a rule broken
            assert code in allowed, (
                f"footprint {shlex.join(argv)} exited {code}:\n{out[-2000:]}\n{err[-2000:]}"
            )


def test_python_examples_are_doctests_pytest_collects():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
    ini = options["ini_options"]
    globs = [a.split("=", 1)[1] for a in ini["addopts"].split() if a.startswith("--doctest-glob=")]
    assert "docs" in ini["testpaths"], "pytest does not look in docs/"
    with_examples = []
    for page in PAGES:
        python = [body for info, _, body in blocks(page) if info in ("python", "pycon")]
        for body in python:
            assert body.lstrip().startswith(">>> "), f"{page_id(page)}: a Python block that is no doctest"
        if python:
            with_examples.append(page)
            assert any(fnmatch.fnmatch(page.name, g) for g in globs), f"{page_id(page)} is not collected"
    assert len(with_examples) >= 4, [page_id(p) for p in with_examples]
