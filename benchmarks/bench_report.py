"""Times `unmo report weekly` on large workspaces, as the number of customers grows, and the
floor under it.

Generates N customers (one onboarding session each), 1,000,000 feedback rows, 1,000,000 health
checks and 2,000 alerts (benchmarks/seed.py: bulk inserts through the driver) in a temporary
workspace, for each size (default 10,000; --full: 1,000, 10,000 and 100,000), then prints,
each a fresh `unmo` process taking turns with the import floor (`python -c "import typer,
sqlmodel, jinja2, rich.console"`, benchmarks/measure.py) so the figures are ratios measured in
one run:

  * `report weekly --format json` into a pipe: wall, CPU, peak resident memory; goals: <= 1.5 s
    at 10,000 customers, <= 4 s in <= 250 MB at 100,000 (a goal of G s is met when
    median ÷ floor <= G ÷ measure.REFERENCE_FLOOR_S);
  * at sizes up to 10,000 also the other formats (table, markdown, html, csv), for scale;
  * at the largest size, every SQL statement the report runs, timed in-process, and the heaviest
    one alone as raw SQL through the driver (the floor of the queries).

    python benchmarks/bench_report.py [--customers N[,N…]] [--full] [--feedback N] [--checks N]
                                      [--weeks W] [--mrr-changes N] [--runs R] [--shuffled]
                                      [--keep] [--json] [--baseline DIR]
                                      [--workspace WS [--baseline-workspace WS]
                                       [--baseline-database-url URL]]

`--mrr-changes 10` gives every customer ten MRR changes in the ledger (issue 11's size: the
report reads customers and MRR from it); with `--baseline DIR` (an export of main) the same
workspace is reported by both checkouts, taking turns, so the ratio is measured in one run.

`--workspace WS` reports an existing workspace (one size, generated once by an earlier run with
`--keep`, or by seed.py) instead of generating one: the 100,000-customer data takes minutes to
write. A baseline at an older schema needs its own copy of the database (a file copy, or
`createdb -T`, with alembic_version and the indexes set back): `--baseline-workspace` and
`--baseline-database-url` point its runs at it.

The rows are spread evenly over the last W weeks (default 13, a quarter) before UNMO_NOW, so the
report's 8-week trend reads 8/13 of all feedback. Set UNMO_DATABASE_URL to an empty PostgreSQL
database to measure there instead of SQLite (each size starts from an emptied database).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (  # noqa: E402
    FLOOR,
    UNMO,
    clean_env,
    describe_verdict,
    interleaved,
    seconds,
    verdict,
)
from seed import NOW, Dataset, clear, describe, generate  # noqa: E402

FORMATS = ("json", "table", "markdown", "html", "csv")
GOALS = {10_000: (1.5, None), 100_000: (4.0, 250)}  # customers: (seconds, peak MB)


def statements(runs: int) -> tuple[list[tuple[float, str]], float, str]:
    """Every statement one report runs, each re-run alone as raw SQL through the driver with all
    its rows fetched (SQLite computes much of a GROUP BY while rows are fetched); the heaviest
    one's median over `runs` is the floor."""
    from sqlalchemy import event

    from unmo_cli import clock
    from unmo_cli.db import open_database
    from unmo_cli.services import reports
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    db = open_database(ws)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    now = clock.parse_instant(NOW)
    week = reports.last_complete_week(now, ws.settings.timezone)
    with db.engine.connect() as connection:
        reports.compute_report(connection, ws.settings, week, now)
    event.remove(db.engine, "before_cursor_execute", capture)

    def alone(connection, statement: str, parameters: object) -> float:
        started = time.perf_counter()
        connection.exec_driver_sql(statement, parameters).fetchall()
        return time.perf_counter() - started

    timed = []
    with db.engine.connect() as connection:
        for statement, parameters in captured:
            timed.append((min(alone(connection, statement, parameters) for _ in range(2)),
                          statement, parameters))
        _, heaviest, parameters = max(timed, key=lambda item: item[0])
        floor = statistics.median(alone(connection, heaviest, parameters) for _ in range(runs))
    db.dispose()
    return [(t, s) for t, s, _ in timed], floor, heaviest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", default="10000", help="comma-separated sizes")
    parser.add_argument("--full", action="store_true", help="sizes 1000,10000,100000")
    parser.add_argument("--feedback", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--mrr-changes", type=int, default=0, metavar="N",
                        help="MRR changes per customer in the ledger (issue 11: 10)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shuffled", action="store_true",
                        help="store feedback and checks in random time order (a backfill)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run another checkout's unmo_cli (run from DIR, e.g. the main "
                        "branch's worktree), taking turns with this one: before/after in one run")
    parser.add_argument("--workspace", metavar="WS",
                        help="report this existing workspace instead of generating one")
    parser.add_argument("--baseline-workspace", metavar="WS",
                        help="the baseline's own copy of it (its schema)")
    parser.add_argument("--baseline-database-url", metavar="URL",
                        help="the baseline's own copy of a PostgreSQL database")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    args = parser.parse_args()
    sizes = [1000, 10_000, 100_000] if args.full else [int(n) for n in args.customers.split(",")]

    root = Path(args.workspace or tempfile.mkdtemp(prefix="unmo-bench-report-"))
    if args.workspace:
        sizes = sizes[:1]
    os.environ.update({"UNMO_WORKSPACE": str(root), "UNMO_NOW": NOW})
    env = clean_env(UNMO_WORKSPACE=str(root), UNMO_NOW=NOW)
    results, goals = [], []
    try:
        for customers in sizes:
            if customers != sizes[0]:
                clear()
            dataset = Dataset(customers=customers, feedback=args.feedback, checks=args.checks,
                              alerts=2_000, weeks=args.weeks, shuffled=args.shuffled,
                              mrr_changes=args.mrr_changes)
            generated = 0.0 if args.workspace else generate(dataset)
            print(f"\n{describe(dataset)} over {args.weeks} weeks "
                  f"({'shuffled' if args.shuffled else 'in time order'}) generated in "
                  f"{generated:.1f} s; {args.mrr_changes} MRR changes per customer; median "
                  f"of {args.runs}, load average "
                  f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
            formats = FORMATS if customers <= 10_000 else ("json",)
            commands = {"floor": FLOOR} | {
                fmt: UNMO + ["report", "weekly", "--format", fmt] for fmt in formats}
            envs = {}
            if args.baseline:
                for fmt in formats:
                    commands[f"{fmt} [baseline]"] = commands[fmt]
                    envs[f"{fmt} [baseline]"] = env | {"BENCH_CWD": args.baseline} | (
                        {"UNMO_WORKSPACE": args.baseline_workspace}
                        if args.baseline_workspace else {}) | (
                        {"UNMO_DATABASE_URL": args.baseline_database_url}
                        if args.baseline_database_url else {})
            found = interleaved(commands, env, args.runs, envs)
            floor = found["floor"].median
            print(f"  {'import floor':28} {seconds(floor):>8}  CPU "
                  f"{seconds(statistics.median(found['floor'].cpu)):>8}")
            figures = {}
            for fmt in [name for name in commands if name != "floor"]:
                runs = found[fmt]
                figures[fmt] = {"median_s": runs.median, "ratio": runs.median / floor,
                                "cpu_s": statistics.median(runs.cpu),
                                "peak_mb": max(runs.peak_mb), "bytes": runs.output_bytes,
                                "wall_s": runs.wall}
                print(f"  report weekly --format {fmt:19} {seconds(runs.median):>8}  "
                      f"{runs.median / floor:5.2f}× floor  CPU "
                      f"{seconds(statistics.median(runs.cpu)):>8}  peak "
                      f"{max(runs.peak_mb):5.0f} MB  {runs.output_bytes:,} bytes")
            results.append({"customers": customers, "feedback": args.feedback,
                            "checks": args.checks, "generate_s": generated, "floor_s": floor,
                            "figures": figures})
            if True:  # every size is a point of the growth curve, judged where it has a goal
                goal_s, goal_mb = GOALS.get(customers, (None, None))
                judged = verdict(found["json"], found["floor"], goal_s or 1.0)
                peak = figures["json"]["peak_mb"]
                met = (judged["met"] and (goal_mb is None or peak <= goal_mb)) if goal_s \
                    else None
                goals.append({
                    "figure": f"`unmo report weekly --format json`, {describe(dataset)}, "
                              "whole process, into a pipe",
                    "goal": (f"≤ {goal_s:g} s (≤ {judged['goal_ratio']:.1f}× floor)"
                             + (f", ≤ {goal_mb} MB peak" if goal_mb else "")) if goal_s
                    else "— (goals at 10,000 and 100,000)",
                    "value": f"{describe_verdict(judged)}; peak {peak:.0f} MB",
                    "met": met})
                print(f"  {goals[-1]['value']}; goal {goals[-1]['goal']}"
                      + ("" if met is None else f": {'met' if met else 'MISSED'}"))
                if customers <= 10_000:
                    others = ", ".join(
                        f"{fmt} {seconds(figures[fmt]['median_s'])} "
                        f"({figures[fmt]['ratio']:.2f}×, {figures[fmt]['peak_mb']:.0f} MB)"
                        for fmt in formats if fmt != "json")
                    goals.append({"figure": f"`unmo report weekly`, the other formats, "
                                            f"{customers:,} customers",
                                  "goal": "— (no regression; printed)", "value": others,
                                  "met": None})
        each, sql_floor, heaviest = statements(args.runs)
        print(f"\nat {sizes[-1]:,} customers, the report's {len(each)} statements, each alone "
              "(raw SQL, rows fetched), slowest first:")
        for took, sql in sorted(each, reverse=True)[:8]:
            print(f"  {took * 1000:8.1f} ms  {' '.join(sql.split())[:110]}")
        print(f"  total {sum(t for t, _ in each) * 1000:.1f} ms; heaviest alone (median of "
              f"{args.runs}): {sql_floor * 1000:.1f} ms")
        print(f"  {' '.join(heaviest.split())[:300]}")
        if args.json:
            print(json.dumps({"sizes": results, "goals": goals, "runs": args.runs,
                              "statements": len(each), "sql_floor_s": sql_floor,
                              "heaviest": " ".join(heaviest.split())}))
    finally:
        if args.keep or args.workspace:
            print(f"\nworkspace kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
