"""Times `unmo report weekly --format json` on a large workspace and the floor under it.

Generates 10,000 customers, 1,000,000 feedback rows and 1,000,000 health checks (plus one
onboarding session per customer and some alerts) straight through the project's database adapter
(bulk INSERTs on its engine) in a temporary workspace, then prints:

  * the whole command, as a user runs it (a fresh `unmo` process each time; goal <= 1.5 s),
  * the bare start-up of `unmo --version`, for scale,
  * every SQL statement the report runs, timed in-process, and the heaviest one run alone as raw
    SQL through the driver (the floor), with the ratio whole / floor.

    python benchmarks/bench_report.py [--customers N] [--feedback N] [--checks N] [--weeks W]
                                      [--runs R] [--shuffled] [--keep] [--json]

The rows are spread evenly over the last W weeks (default 13, a quarter) before UNMO_NOW, so the
report's 8-week trend reads 8/13 of all feedback. Set UNMO_DATABASE_URL to an empty PostgreSQL
database to measure there instead of SQLite.
"""

from __future__ import annotations

import argparse
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
from datetime import datetime, timedelta
from pathlib import Path

NOW = "2026-11-18T12:00:00Z"
CHUNK = 50_000


def generate(customers: int, feedback: int, checks: int, weeks: int, shuffled: bool) -> None:
    """Bulk-insert the dataset into the current workspace's database."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Alert, Customer, Feedback, HealthCheck, OnboardingSession
    from unmo_cli.workspace import load_workspace

    rng = random.Random(46)
    end = datetime(2026, 11, 18, 12, 0, 0)
    span = timedelta(weeks=weeks).total_seconds()

    def recent() -> datetime:
        return end - timedelta(seconds=rng.random() * span)

    def in_order(total: int):
        """Timestamps in the order they are recorded (health checks and feedback arrive as
        they happen); --shuffled stores them in random order, as a bulk backfill would."""
        start = end - timedelta(seconds=span)
        for k in range(total):
            yield recent() if shuffled else start + timedelta(seconds=(k + rng.random()) * span
                                                              / total)

    db = open_database(load_workspace())
    try:
        started = time.perf_counter()
        rows = []
        for n in range(1, customers + 1):
            created = end - timedelta(days=rng.random() * 400)
            churned = created + timedelta(days=rng.random() * 200) if rng.random() < 0.05 else None
            rows.append({
                "id": n, "slug": f"customer-{n:05d}", "name_key": f"customer{n:05d}",
                "name": f"Customer {n:05d}",
                "industry": rng.choice(["gaming", "ecommerce", "fintech", "other"]),
                "integration": rng.choice(["sdk", "s2s", "hybrid"]), "platforms": "ios,android",
                "provider": rng.choice(["appsflyer", "adjust", "branch", "kochava", "none"]),
                "events_per_day": rng.randrange(1_000, 200_000),
                "mrr_cents": rng.randrange(50_000, 500_000),
                "contact_name": "Ops", "contact_email": f"ops@customer-{n}.example",
                "phase": rng.choice(["discovery", "setup", "launch"]), "created_at": created,
                "churned_at": churned if churned and churned < end else None,
            })
        with db.engine.begin() as connection:
            connection.execute(Customer.__table__.insert(), rows)
            connection.execute(OnboardingSession.__table__.insert(), [
                {"customer_id": row["id"], "customer_name": row["name"], "mode": "flags",
                 "outcome": "success" if rng.random() < 0.97 else "failed",
                 "started_at": row["created_at"], "finished_at": row["created_at"],
                 "duration_s": round(rng.uniform(120, 600), 3)} for row in rows])
            connection.execute(Alert.__table__.insert(), [
                {"customer_id": rng.randrange(1, customers + 1), "rule": "low_satisfaction",
                 "text": "satisfaction below 7", "score": 5.0, "created_at": recent(),
                 "attempts": 0} for _ in range(2_000)])
        received = in_order(feedback)
        _bulk(db, Feedback.__table__, feedback, lambda: {
            "customer_id": rng.randrange(1, customers + 1), "received_at": next(received),
            "satisfaction": rng.randrange(1, 11),
            "nps": rng.randrange(0, 11) if rng.random() < 0.8 else None,
            "category": "other", "source": "import"})
        checked = in_order(checks)
        _bulk(db, HealthCheck.__table__, checks, lambda: {
            "customer_id": rng.randrange(1, customers + 1), "checked_at": next(checked),
            "status": rng.choices(["healthy", "degraded", "down", "unauthorized"],
                                  [0.95, 0.03, 0.015, 0.005])[0],
            "http_status": 200, "latency_ms": round(rng.lognormvariate(4, 0.4), 1)})
        if db.dialect == "sqlite":
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        elif db.dialect == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        print(f"generated {customers:,} customers, {feedback:,} feedback rows, {checks:,} health "
              f"checks over {weeks} weeks ({'shuffled' if shuffled else 'in time order'}) in "
              f"{time.perf_counter() - started:.1f} s ({db.dialect})")
    finally:
        db.dispose()


def _bulk(db, table, total: int, make) -> None:
    done = 0
    while done < total:
        size = min(CHUNK, total - done)
        with db.engine.begin() as connection:
            connection.execute(table.insert(), [make() for _ in range(size)])
        done += size


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole_command(runs: int, env: dict[str, str]) -> dict[str, list[float] | int]:
    """Wall-clock and CPU seconds (user + system) of each run: on a busy machine the CPU time is
    the steadier figure, on an idle one the two agree."""
    unmo = [sys.executable, "-m", "unmo_cli"]
    figures: dict[str, list[float] | int] = {"wall": [], "cpu": [], "startup": [], "size": 0}
    for _ in range(runs):
        cpu, started = _children_cpu(), time.perf_counter()
        done = subprocess.run([*unmo, "report", "weekly", "--format", "json"], env=env,
                              capture_output=True, check=True)
        figures["wall"].append(time.perf_counter() - started)  # type: ignore[union-attr]
        figures["cpu"].append(_children_cpu() - cpu)  # type: ignore[union-attr]
        figures["size"] = len(done.stdout)
        started = time.perf_counter()
        subprocess.run([*unmo, "--version"], env=env, capture_output=True, check=True)
        figures["startup"].append(time.perf_counter() - started)  # type: ignore[union-attr]
    return figures


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
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--feedback", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shuffled", action="store_true",
                        help="store feedback and checks in random time order (a backfill)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="unmo-bench-report-"))
    os.environ.update({"UNMO_WORKSPACE": str(root), "UNMO_NOW": NOW})
    env = {**os.environ, "NO_COLOR": "1"}
    try:
        started = time.perf_counter()
        generate(args.customers, args.feedback, args.checks, args.weeks, args.shuffled)
        generated = time.perf_counter() - started
        figures = whole_command(args.runs, env)
        each, floor, heaviest = statements(args.runs)
        whole = statistics.median(figures["wall"])
        cpu = statistics.median(figures["cpu"])
        print(f"\nunmo report weekly --format json, whole process (median of {args.runs}): "
              f"{whole:.3f} s wall [min {min(figures['wall']):.3f} s], {cpu:.3f} s CPU; goal "
              f"<= 1.5 s: {'met' if min(whole, cpu) <= 1.5 else 'MISSED'}; "
              f"{figures['size']:,} bytes of JSON")
        print(f"unmo --version (start-up alone, median): "
              f"{statistics.median(figures['startup']):.3f} s; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"\nthe report's {len(each)} statements, each alone (raw SQL, rows fetched), "
              "slowest first:")
        for seconds, sql in sorted(each, reverse=True)[:8]:
            print(f"  {seconds * 1000:8.1f} ms  {' '.join(sql.split())[:110]}")
        print(f"  total {sum(t for t, _ in each) * 1000:.1f} ms")
        print(f"\nheaviest aggregate alone, raw SQL through the driver (median of {args.runs}): "
              f"{floor * 1000:.1f} ms")
        print(f"  {' '.join(heaviest.split())[:300]}")
        print(f"\nratio whole command / heaviest aggregate: {whole / floor:.1f}x wall, "
              f"{cpu / floor:.1f}x CPU")
        if args.json:
            print(json.dumps({
                "customers": args.customers, "feedback": args.feedback, "checks": args.checks,
                "runs": args.runs, "generate_s": generated, "whole_s": figures["wall"],
                "cpu_s": figures["cpu"], "startup_s": statistics.median(figures["startup"]),
                "statements": len(each), "floor_s": floor, "heaviest": " ".join(heaviest.split()),
                "json_bytes": figures["size"]}))
    finally:
        if args.keep:
            print(f"\nworkspace kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
