"""Figure: `unmo feedback import` of a 100,000-row CSV, whole process (goal ≤ 3 s).

Makes a temporary workspace with a few customers (through `unmo onboard`, as a user would),
writes a survey export with an id per row, then times the import as a subprocess — interpreter
start-up, imports, parsing, checking, the bulk insert and the alerts included — and a second,
idempotent re-import of the same file. Prints the figures; asserts nothing about time.

    python benchmarks/bench_feedback_import.py [--rows N] [--runs N] [--json]

UNMO_DATABASE_URL (an empty database) measures on that database instead of the workspace's SQLite
file; each run needs an empty one, so use --runs 1 there (benchmarks/run_all.py makes a fresh
database per run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CUSTOMERS = ["TechStart Mobile", "EcomGrowth Labs", "FinanceTrack Pro", "Pixel Forge Games"]
GOAL_S = 3.0


def unmo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unmo_cli", *args], env=env, text=True,
                          capture_output=True, check=False)


def make_workspace(root: Path, env: dict[str, str]) -> None:
    for name in CUSTOMERS:
        ran = unmo("onboard", name, "--contact-name", "Dana Lee", "--contact-email",
                   "dana@example.com", "--industry", "gaming", "--integration", "s2s",
                   "--events-per-day", "1000", "--provider", "adjust", "--mrr", "100", "--yes",
                   env=env)
        if ran.returncode != 0:
            sys.exit(f"onboard {name!r} failed: {ran.stderr.strip()}")


def write_export(path: Path, rows: int, seed: int = 7) -> None:
    """A survey export like a real one: mostly happy customers, some detractors, comments."""
    rng = random.Random(seed)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    # customers by slug and, for one of them, by exact name, as survey tools export them
    slugs = ["techstart-mobile", "ecomgrowth-labs", "financetrack-pro", "Pixel Forge Games"]
    comments = ["", "great support", "setup took a while", "dashboards are slow, please fix",
                "love the SDK", "missing installs on android"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "received_at", "satisfaction", "nps", "category",
                         "comment"])
        for n in range(rows):
            satisfaction = rng.choices(range(1, 11), weights=[1, 1, 1, 1, 2, 3, 8, 20, 30, 33])[0]
            nps = "" if rng.random() < 0.2 else min(10, max(0, satisfaction + rng.randint(-1, 1)))
            received = start + timedelta(seconds=n * 97)
            writer.writerow([f"resp-{n:07d}", slugs[n % len(slugs)],
                             received.isoformat().replace("+00:00", "Z"), satisfaction, nps,
                             rng.choice(["technical", "business", "support", "other"]),
                             rng.choice(comments)])


def timed_import(path: Path, env: dict[str, str]) -> tuple[float, float, dict]:
    """Wall-clock seconds, CPU seconds (user + system) of the child, and its JSON."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    ran = unmo("feedback", "import", str(path), "--json", env=env)
    elapsed = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if ran.returncode != 0:
        sys.exit(f"import failed ({ran.returncode}): {ran.stderr.strip()[:500]}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return elapsed, cpu, json.loads(ran.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    options = parser.parse_args()
    database_url = os.environ.get("UNMO_DATABASE_URL")
    if database_url and options.runs != 1:
        sys.exit("with UNMO_DATABASE_URL every run needs an empty database: use --runs 1 "
                 "(benchmarks/run_all.py makes a fresh database per run).")

    firsts: list[float] = []
    cpus: list[float] = []
    agains: list[float] = []
    summary: dict = {}
    for _ in range(options.runs):
        root = Path(tempfile.mkdtemp(prefix="unmo-bench-import-"))
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
            env.update(UNMO_WORKSPACE=str(root), NO_COLOR="1", UNMO_NOW="2026-11-27T12:00:00Z")
            if database_url:
                env["UNMO_DATABASE_URL"] = database_url
            make_workspace(root, env)
            export = root / "survey.csv"
            write_export(export, options.rows)
            first, cpu, summary = timed_import(export, env)
            again, _cpu, repeat = timed_import(export, env)
            assert summary["imported"] == options.rows, summary
            assert repeat["imported"] == 0 and repeat["duplicates"] == options.rows, repeat
            firsts.append(first)
            cpus.append(cpu)
            agains.append(again)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    best, median = min(firsts), statistics.median(firsts)
    print(f"feedback import, {options.rows:,} CSV rows, whole process ({options.runs} runs):")
    print(f"  first import: median {median:.2f} s, best {best:.2f} s wall-clock "
          f"(goal ≤ {GOAL_S:.0f} s: {'met' if median <= GOAL_S else 'NOT met'}); "
          f"CPU median {statistics.median(cpus):.2f} s; {summary['alerts']} alerts raised")
    print(f"  re-import (all duplicates): median {statistics.median(agains):.2f} s")
    if options.json:
        print(json.dumps({"rows": options.rows, "runs": options.runs, "import_s": firsts,
                          "cpu_s": cpus, "reimport_s": agains, "alerts": summary["alerts"]}))


if __name__ == "__main__":
    main()
