"""Start-up time: `unmo --help` as a whole process against `python -c "import typer"`.

    python benchmarks/bench_startup.py [--runs N]

Prints the median wall-clock time of N runs of each (after one warm-up run, so the page cache
is hot for both) and the ratio; the goal is a ratio of at most 1.5. Also prints `unmo --version`
and `unmo customer --help`, and the slowest imports of `unmo --help` (python -X importtime)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.5


def _unmo_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m unmo_cli`."""
    script = Path(sys.executable).with_name("unmo")
    if script.exists():
        return [str(script)]
    found = shutil.which("unmo")
    return [found] if found else [sys.executable, "-m", "unmo_cli"]


def _median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _slowest_imports(command: list[str], env: dict[str, str], count: int = 8) -> list[str]:
    ran = subprocess.run([sys.executable, "-X", "importtime", "-m", "unmo_cli", *command[1:]],
                         env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in ran.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if cumulative.strip().isdigit() and name.startswith(" ") and name[1] != " ":
            rows.append((int(cumulative), name.strip()))  # top-level imports only
    return [f"{us / 1000:7.1f} ms  {name}" for us, name in sorted(rows, reverse=True)[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per command (default 21)")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    options = parser.parse_args()
    runs = options.runs

    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
        env.update(UNMO_WORKSPACE=folder, NO_COLOR="1")
        unmo = _unmo_command()
        typer_s = _median_seconds([sys.executable, "-c", "import typer"], runs, env)
        help_s = _median_seconds([*unmo, "--help"], runs, env)
        version_s = _median_seconds([*unmo, "--version"], runs, env)
        noun_s = _median_seconds([*unmo, "customer", "--help"], runs, env)
        # What the help costs without Rich formatting (Typer's rich_utils and markdown-it).
        plain_s = _median_seconds([*unmo, "--help"], runs, {**env, "TYPER_USE_RICH": "0"})
        slowest = _slowest_imports([*unmo, "--help"], env)

    ratio = help_s / typer_s
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}")
    print(f"median of {runs} runs (whole process, wall clock):")
    print(f"  python -c 'import typer'   {typer_s * 1000:7.1f} ms")
    print(f"  unmo --help                {help_s * 1000:7.1f} ms   "
          f"{ratio:.2f}x typer (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'})")
    print(f"  unmo --version             {version_s * 1000:7.1f} ms   {version_s / typer_s:.2f}x")
    print(f"  unmo customer --help       {noun_s * 1000:7.1f} ms   {noun_s / typer_s:.2f}x")
    print(f"  unmo --help, plain         {plain_s * 1000:7.1f} ms   {plain_s / typer_s:.2f}x   "
          "(TYPER_USE_RICH=0: help without Rich formatting)")
    print("slowest top-level imports of `unmo --help` (cumulative):")
    for row in slowest:
        print(f"  {row}")
    if options.json:
        print(json.dumps({"runs": runs, "typer_s": typer_s, "help_s": help_s, "ratio": ratio,
                          "version_s": version_s, "goal_ratio": GOAL}))


if __name__ == "__main__":
    main()
