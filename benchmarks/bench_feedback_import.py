"""Figure: `unmo feedback import` of a 100,000-row CSV, whole process (goal ≤ 3 s), and its
growth: rows per second and peak memory at 10,000 / 100,000 (/ 1,000,000) rows.

Makes a temporary workspace with a few customers (through `unmo onboard`, as a user would),
writes a survey export with an id per row, then times the import as a subprocess — interpreter
start-up, imports, parsing, checking, the bulk insert and the alerts included — and a second,
idempotent re-import of the same file. Prints the figures; asserts nothing about time.

    python benchmarks/bench_feedback_import.py [--rows N] [--runs N] [--json]
    python benchmarks/bench_feedback_import.py --growth [--million]

--growth imports 10,000 and 100,000 rows (and 1,000,000 with --million: about a minute and
~100 MB of file) in one run, each into a fresh workspace, and prints for each the rows per
second, the peak RSS of the import process (its own ru_maxrss, from wait4) and the time per row
against the smallest size, and the time per added row between sizes (equal = linear; goal at
1,000,000 rows: ≤ 300 MB).

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
    elapsed, cpu, _peak, summary = measured_import(path, env)
    return elapsed, cpu, summary


def measured_import(path: Path, env: dict[str, str]) -> tuple[float, float, float, dict]:
    """Wall-clock seconds, CPU seconds, peak RSS in MB of the import process itself (wait4
    gives that one child's rusage), and its JSON."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "unmo_cli", "feedback", "import",
                                  str(path), "--json"], env=env, stdout=out, stderr=err,
                                 text=True)
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"import failed ({child.returncode}): {err.read().strip()[:500]}")
        summary = json.loads(out.read())
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, summary


def growth(sizes: list[int], database_url: str | None, as_json: bool) -> None:
    """One import per size, each into a fresh workspace, in one run (so the ratios compare
    like with like on a busy machine)."""
    figures = []
    for rows in sizes:
        root = Path(tempfile.mkdtemp(prefix="unmo-bench-import-"))
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
            env.update(UNMO_WORKSPACE=str(root), NO_COLOR="1", UNMO_NOW="2026-11-27T12:00:00Z")
            if database_url:
                env["UNMO_DATABASE_URL"] = database_url
            make_workspace(root, env)
            export = root / "survey.csv"
            write_export(export, rows)
            elapsed, cpu, peak, summary = measured_import(export, env)
            assert summary["imported"] == rows, summary
            figures.append({"rows": rows, "import_s": elapsed, "cpu_s": cpu,
                            "peak_rss_mb": peak, "file_mb": export.stat().st_size / 2**20})
        finally:
            shutil.rmtree(root, ignore_errors=True)
    base = figures[0]["import_s"] / figures[0]["rows"]
    print("feedback import growth, CSV, whole process, one run:")
    for f in figures:
        f["rows_per_s"] = f["rows"] / f["import_s"]
        f["time_per_row_ratio"] = (f["import_s"] / f["rows"]) / base
        print(f"  {f['rows']:>9,} rows ({f['file_mb']:6.1f} MB file): {f['import_s']:7.2f} s, "
              f"{f['rows_per_s']:9,.0f} rows/s, peak RSS {f['peak_rss_mb']:6.0f} MB, "
              f"time per row x{f['time_per_row_ratio']:.2f} of {figures[0]['rows']:,}")
    # The fixed cost (start-up, the workspace) hides in the small size; the cost per added row
    # between two sizes does not: equal figures mean linear growth.
    for before, after in zip(figures, figures[1:], strict=False):
        after["marginal_us_per_row"] = ((after["import_s"] - before["import_s"])
                                        / (after["rows"] - before["rows"]) * 1e6)
        print(f"  {before['rows']:,} -> {after['rows']:,}: {after['marginal_us_per_row']:.1f} µs "
              "per added row")
    if len(figures) > 2:
        ratio = figures[-1]["marginal_us_per_row"] / figures[-2]["marginal_us_per_row"]
        print(f"  linearity: the last interval costs x{ratio:.2f} per row of the one before "
              "(1.00 = linear)")
    if as_json:
        print(json.dumps({"growth": figures}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    parser.add_argument("--growth", action="store_true",
                        help="10,000 and 100,000 rows in one run: rows/s, peak RSS, linearity")
    parser.add_argument("--million", action="store_true",
                        help="with --growth, 1,000,000 rows too (about a minute)")
    options = parser.parse_args()
    database_url = os.environ.get("UNMO_DATABASE_URL")
    if options.growth:
        if database_url:
            sys.exit("--growth makes one workspace per size; it measures on SQLite only.")
        growth([10_000, 100_000] + ([1_000_000] if options.million else []), None, options.json)
        return
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
