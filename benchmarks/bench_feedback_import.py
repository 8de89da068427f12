"""Figure: `unmo feedback import` of a 100,000-row CSV, whole process (goal ≤ 3 s), and its
growth: time and peak memory at 1,000 / 10,000 / 100,000 (/ 1,000,000) rows.

Makes a temporary workspace with a few customers (through `unmo onboard`, as a user would),
writes a survey export with an id per row, then times the import as a subprocess — interpreter
start-up, imports, parsing, checking, the bulk insert and the alerts included — and a second,
idempotent re-import of the same file. Prints the figures; asserts nothing about time.

    python benchmarks/bench_feedback_import.py [--rows N] [--runs N] [--json]
    python benchmarks/bench_feedback_import.py --growth [--million] [--postgres-url URL]

--growth imports 1,000, 10,000 and 100,000 rows (and 1,000,000 with --million: about a minute
and 79 MB of file per database) in one run, each into a fresh workspace (and, with
--postgres-url, a fresh database on that server as well: SQLite first, then PostgreSQL), and
prints for each the time, the rows per second, the peak RSS of the import process (its own
ru_maxrss, from wait4), the ratios of time and peak RSS to the size before (x10 rows: a time
ratio of 10 and a memory ratio of 1 are linear time in bounded memory) and the time per added
row between sizes (equal = linear; goal at 1,000,000 rows: ≤ 300 MB).

UNMO_DATABASE_URL (an empty database) measures the single-size figure on that database instead
of the workspace's SQLite file; each run needs an empty one, so use --runs 1 there
(benchmarks/run_all.py makes a fresh database per run). --growth takes --postgres-url instead
(a server whose role may CREATE DATABASE; each size gets its own, dropped afterwards).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchtools import fresh_database  # noqa: E402 (the benchmarks folder, put on the path)

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


def growth(sizes: list[int], server_url: str | None) -> list[dict]:
    """One import per size, each into a fresh workspace (and a fresh database on the server
    when `server_url` is given), in one run, so the ratios compare like with like on a busy
    machine."""
    figures = []
    for rows in sizes:
        root = Path(tempfile.mkdtemp(prefix="unmo-bench-import-"))
        try:
            with fresh_database(server_url) as database_url:
                env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
                env.update(UNMO_WORKSPACE=str(root), NO_COLOR="1",
                           UNMO_NOW="2026-11-27T12:00:00Z")
                if database_url:
                    env["UNMO_DATABASE_URL"] = database_url
                make_workspace(root, env)
                export = root / "survey.csv"
                write_export(export, rows)
                elapsed, cpu, peak, summary = measured_import(export, env)
                assert summary["imported"] == rows, summary
                figures.append({"rows": rows, "import_s": elapsed, "cpu_s": cpu,
                                "peak_rss_mb": peak, "alerts": summary["alerts"],
                                "file_mb": export.stat().st_size / 2**20})
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return figures


def print_growth(label: str, figures: list[dict]) -> None:
    print(f"feedback import growth, {label}, CSV, whole process, one run:")
    print("  | rows | file | time | CPU | rows/s | peak RSS | time ÷ the size before | "
          "peak RSS ÷ the size before | µs per added row |")
    print("  |---|---|---|---|---|---|---|---|---|")
    for before, f in zip([None, *figures], figures, strict=False):
        f["rows_per_s"] = f["rows"] / f["import_s"]
        ratios, marginal = "— | —", "—"
        if before is not None:
            f["time_ratio"] = f["import_s"] / before["import_s"]
            f["rss_ratio"] = f["peak_rss_mb"] / before["peak_rss_mb"]
            f["marginal_us_per_row"] = ((f["import_s"] - before["import_s"])
                                        / (f["rows"] - before["rows"]) * 1e6)
            ratios = f"x{f['time_ratio']:.2f} | x{f['rss_ratio']:.2f}"
            marginal = f"{f['marginal_us_per_row']:.1f}"
        print(f"  | {f['rows']:,} | {f['file_mb']:.1f} MB | {f['import_s']:.2f} s | "
              f"{f['cpu_s']:.2f} s | {f['rows_per_s']:,.0f} | {f['peak_rss_mb']:.0f} MB | "
              f"{ratios} | {marginal} |")
    # The fixed cost (start-up, the workspace) hides in the small sizes; the cost per added
    # row between two sizes does not: equal figures mean linear growth.
    if len(figures) > 2:
        ratio = figures[-1]["marginal_us_per_row"] / figures[-2]["marginal_us_per_row"]
        print(f"  linearity: the last interval costs x{ratio:.2f} per row of the one before "
              f"(1.00 = linear); peak RSS at {figures[-1]['rows']:,} rows "
              f"{figures[-1]['peak_rss_mb']:.0f} MB (goal at 1,000,000: ≤ 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    parser.add_argument("--growth", action="store_true",
                        help="1,000, 10,000 and 100,000 rows in one run: time, peak RSS, "
                             "ratios")
    parser.add_argument("--million", action="store_true",
                        help="with --growth, 1,000,000 rows too (about a minute a database)")
    parser.add_argument("--postgres-url", metavar="URL",
                        help="with --growth, measure on PostgreSQL too: a server URL whose "
                             "role may CREATE DATABASE")
    options = parser.parse_args()
    database_url = os.environ.get("UNMO_DATABASE_URL")
    if options.growth:
        if database_url:
            sys.exit("--growth makes one workspace (and database) per size; pass the server as "
                     "--postgres-url instead of UNMO_DATABASE_URL.")
        sizes = [1_000, 10_000, 100_000] + ([1_000_000] if options.million else [])
        found = {"SQLite": growth(sizes, None)}
        if options.postgres_url:
            found["PostgreSQL"] = growth(sizes, options.postgres_url)
        for label, figures in found.items():
            print_growth(label, figures)
        if options.json:
            print(json.dumps({"growth": found}))
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
