"""Timing whole `unmo` processes on a shared, noisy machine: each figure is measured beside the
import floor of the stack it needs, in the same run, and judged as a RATIO to it.

The floor is `python -c "import typer, sqlmodel, jinja2, rich.console"` (what any unmo command
that opens the database imports before its own work; the issue's onboarding goal uses the same).
Issue 14 states its goals in seconds on a quiet machine, where this floor is REFERENCE_FLOOR_S
(the issue's own figures: onboarding 595 ms at 1.3-1.4 × the floor); a goal of G seconds is judged
as figure ÷ floor ≤ G ÷ REFERENCE_FLOOR_S, so a busy machine slows both sides of the ratio."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

REFERENCE_FLOOR_S = 0.44
FLOOR = [sys.executable, "-c", "import typer, sqlmodel, jinja2, rich.console"]
UNMO = [sys.executable, "-m", "unmo_cli"]


@dataclass
class Runs:
    """Wall and CPU seconds and peak resident memory (MB) of each run of one command."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    output_bytes: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def as_json(self) -> dict:
        return {"wall_s": self.wall, "cpu_s": self.cpu, "peak_mb": self.peak_mb,
                "output_bytes": self.output_bytes}


def run_measured(command: list[str], env: dict[str, str], into: Runs) -> None:
    """As run_once, with the process's CPU time and peak RSS from its own rusage."""
    # BENCH_CWD: run from that folder, so `python -m unmo_cli` imports the checkout there
    # (a baseline's) ahead of the installed one
    env = dict(env)
    cwd = env.pop("BENCH_CWD", None)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, cwd=cwd)
    assert process.stdout is not None
    size = 0
    while chunk := process.stdout.read(1 << 16):
        size += len(chunk)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed (exit {process.returncode})")
    into.wall.append(wall)
    into.cpu.append(usage.ru_utime + usage.ru_stime)
    into.peak_mb.append(usage.ru_maxrss / 1024)  # KiB on Linux
    into.output_bytes = size


def interleaved(commands: dict[str, list[str]], env: dict[str, str], runs: int,
                envs: dict[str, dict[str, str]] | None = None) -> dict[str, Runs]:
    """Each command `runs` times, taking turns (floor, a, b, floor, a, b, …) so that a change in
    the machine's load falls on all of them alike; one warm-up run each first (page cache, and
    the checkout's compiled modules: see clean_env)."""
    found = {name: Runs() for name in commands}
    for name, command in commands.items():
        run_measured(command, (envs or {}).get(name, env), Runs())
    for _ in range(runs):
        for name, command in commands.items():
            run_measured(command, (envs or {}).get(name, env), found[name])
    return found


def goal_ratio(goal_s: float) -> float:
    return goal_s / REFERENCE_FLOOR_S


def verdict(figure: Runs, floor: Runs, goal_s: float) -> dict:
    """The figure judged against its goal as a ratio of wall times to the floor measured beside
    it (what a user waits for). The ratio of CPU times is given beside it: on a machine with more
    runnable processes than cores the wall times measure the queue too, the CPU times do not (but
    they leave out a database server's own work)."""
    ratio = figure.median / floor.median
    cpu_ratio = statistics.median(figure.cpu) / statistics.median(floor.cpu)
    return {"figure_s": figure.median, "floor_s": floor.median, "ratio": ratio,
            "cpu_s": statistics.median(figure.cpu), "floor_cpu_s": statistics.median(floor.cpu),
            "cpu_ratio": cpu_ratio, "goal_s": goal_s, "goal_ratio": goal_ratio(goal_s),
            "met": ratio <= goal_ratio(goal_s), "met_by_cpu": cpu_ratio <= goal_ratio(goal_s)}


def describe_verdict(judged: dict) -> str:
    return (f"{seconds(judged['figure_s'])} = {judged['ratio']:.2f}× floor "
            f"{seconds(judged['floor_s'])} (CPU {seconds(judged['cpu_s'])} = "
            f"{judged['cpu_ratio']:.2f}× floor's {seconds(judged['floor_cpu_s'])})")


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's UNMO_* settings (except a database URL), NO_COLOR,
    and without PYTHONDONTWRITEBYTECODE: unmo is timed running from its compiled modules, as an
    installed copy does (pip compiles a package at install; an editable install writes its
    __pycache__ on the first run) and as the floor's packages in site-packages do. With the
    variable set (this machine's environment sets it) a checkout without a current __pycache__
    compiled its ~35 modules again on every run: 0.43 G instructions, 0.24 × the floor, added to
    every ratio. interleaved()'s warm-up run now writes them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("UNMO_") or k == "UNMO_DATABASE_URL"}
    env["NO_COLOR"] = "1"
    env.pop("COLUMNS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | extra


def add_comparison_options(parser: Any) -> None:
    """The options every benchmark that compares takes: `--baseline DIR` (with_baseline) and
    `--instructions` (count_instructions)."""
    parser.add_argument("--baseline", metavar="DIR",
                        help="also measure these commands run from another checkout (its "
                        "package first on PYTHONPATH), in the same run")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions (valgrind): ratios no load can move")


def with_baseline(commands: dict[str, list[str]], envs: dict[str, dict[str, str]],
                  checkout: str | None, names: list[str]) -> None:
    """Add `names` again, run from another checkout of unmo (`--baseline DIR`, e.g. `git
    worktree add` or `git archive | tar -x` of the commit before a change): its package first
    on PYTHONPATH and run from it (`python -m` puts the current folder first), measured in the
    same run, taking turns with the rest."""
    if checkout:
        checkout = os.path.abspath(checkout)
        for name in names:
            commands[f"{name} [baseline]"] = commands[name]
            envs[f"{name} [baseline]"] = envs[name] | {"PYTHONPATH": checkout,
                                                        "BENCH_CWD": checkout}


def count_instructions(commands: dict[str, list[str]], envs: dict[str, dict[str, str]],
                       names: list[str], env: dict[str, str]) -> dict[str, float]:
    """Instructions of one run of the floor and of each of `names` (valgrind; figures no load
    can move), as ratios to the floor's; printed as they come."""
    # lazy: benchtools is the other benchmarks' helper module; only --instructions needs it
    from benchtools import instructions

    floor = instructions(FLOOR, env)
    print(f"  instructions: import floor {floor / 1e9:.2f} G")
    ratios = {}
    for name in names:
        env = dict(envs[name])
        with contextlib.chdir(env.pop("BENCH_CWD", os.getcwd())):
            counted = instructions(commands[name], env)
        ratios[name] = counted / floor
        print(f"  instructions: {name:40} {counted / 1e9:.2f} G = {counted / floor:.2f}× floor")
    return ratios
