"""Times `unmo report sla` over a month of checks: 1,000 customers checked every 15 minutes
through November 2026 (2,880 checks each, 2,880,000 in all; about 1 % not healthy, and a 2-hour
maintenance window for one customer in ten), and the import floor beside it.

Seeds a temporary workspace through the driver (benchmarks/seed.py: customers, their ledger,
then the checks in the order `unmo health` records them: every customer at each instant), then
runs, each a fresh `unmo` process taking turns with the import floor (`python -c "import typer,
sqlmodel, jinja2, rich.console"`, benchmarks/measure.py) so the figures are ratios measured in
one run:

  * `report sla --month 2026-11 --format json` into a pipe (goal: ≤ 3 s on the reference
    machine, i.e. median ÷ floor ≤ 3 ÷ measure.REFERENCE_FLOOR_S), and the table format;
  * each query step of one report, timed in-process (where the time goes).

    python benchmarks/bench_sla.py [--customers N] [--days D] [--runs R] [--keep] [--json]

Set UNMO_DATABASE_URL to an empty PostgreSQL database to measure there instead of SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
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
from seed import Dataset, analyze, generate, insert  # noqa: E402

NOW = "2026-12-07T12:00:00Z"
MONTH_START = datetime(2026, 11, 1)
GOAL_S = 3.0


def seed_checks(customers: int, days: int, seed: int = 12) -> int:
    """Every customer checked every 15 minutes for `days` days from MONTH_START, in time order;
    the number of rows written."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import HealthCheck
    from unmo_cli.workspace import load_workspace

    rng = random.Random(seed)
    instants = days * 96
    in_maintenance = {c for c in range(1, customers + 1) if c % 10 == 0}
    window = range(400, 408)  # two hours on day 5

    def rows():
        for k in range(instants):
            at = MONTH_START + timedelta(minutes=15 * k, seconds=rng.random())
            for customer in range(1, customers + 1):
                if customer in in_maintenance and k in window:
                    yield customer, at, "maintenance", None, None
                    continue
                draw = rng.random()
                status = ("healthy" if draw < 0.99 else "degraded" if draw < 0.995 else "down")
                yield (customer, at, status, 200 if status != "down" else None,
                       round(rng.lognormvariate(4, 0.4), 1) if status != "down" else None)

    db = open_database(load_workspace())
    try:
        insert(db, HealthCheck.__table__, ("customer_id", "checked_at", "status", "http_status",
                                           "latency_ms"), rows())
        analyze(db)
    finally:
        db.dispose()
    return instants * customers


def phases() -> list[tuple[float, str]]:
    """Where one report's time goes, in-process: each query step of services/sla.py timed with
    its rows fetched (SQLite does much of an aggregate while rows are fetched, so timing the
    statements alone would hide it)."""
    from unmo_cli.services import sla
    from unmo_cli.workspace import load_workspace

    spent: dict[str, float] = {}
    originals = {name: getattr(sla, name) for name in ("_p95", "outage_gaps", "_tiers_at",
                                                        "_fees", "compute_sla")}

    def timed(name):
        def run(*args, **kwargs):
            began = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - began
        return run

    for name in originals:
        setattr(sla, name, timed(name))
    try:
        began = time.perf_counter()
        sla.sla_report(month="2026-11", fmt="json", workspace=load_workspace())
        total = time.perf_counter() - began
    finally:
        for name, function in originals.items():
            setattr(sla, name, function)
    parts = {"_p95": "p95 latency per customer (1 query each, from the covering index)",
             "outage_gaps": "checks not healthy, each with its next check (downtime)",
             "_tiers_at": "tiers as of the month's end", "_fees": "fees from the MRR ledger"}
    rest = spent["compute_sla"] - sum(spent.get(name, 0.0) for name in parts)
    return ([(total, "the whole sla_report() in-process"),
             (rest, "per-customer counts (one GROUP BY) and the customers")]
            + [(spent.get(name, 0.0), text) for name, text in parts.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="unmo-bench-sla-"))
    os.environ.update({"UNMO_WORKSPACE": str(root), "UNMO_NOW": NOW})
    env = clean_env(UNMO_WORKSPACE=str(root), UNMO_NOW=NOW)
    database = "PostgreSQL" if os.environ.get("UNMO_DATABASE_URL") else "SQLite"
    try:
        began = time.perf_counter()
        generate(Dataset(customers=args.customers))
        rows = seed_checks(args.customers, args.days)
        print(f"{args.customers:,} customers, {rows:,} checks ({args.days} days at 15-minute "
              f"spacing) on {database}, seeded in {time.perf_counter() - began:.0f} s; median of "
              f"{args.runs}, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        commands = {"floor": FLOOR,
                    "json": UNMO + ["report", "sla", "--month", "2026-11", "--format", "json"],
                    "table": UNMO + ["report", "sla", "--month", "2026-11"]}
        found = interleaved(commands, env, args.runs)
        judged = verdict(found["json"], found["floor"], GOAL_S)
        print(f"  import floor        {seconds(found['floor'].median):>8}")
        print(f"  report sla (json)   {describe_verdict(judged)}; peak "
              f"{max(found['json'].peak_mb):.0f} MB; goal ≤ {GOAL_S:g} s = ratio ≤ "
              f"{judged['goal_ratio']:.2f}: {'met' if judged['met'] else 'NOT met'}")
        table = verdict(found["table"], found["floor"], GOAL_S)
        print(f"  report sla (table)  {describe_verdict(table)}")
        print("  in-process, by step:")
        for spent, text in phases():
            print(f"    {seconds(spent):>8}  {text}")
        if args.json:
            print(json.dumps({"benchmark": "sla", "database": database,
                              "customers": args.customers, "checks": rows,
                              "json": judged, "table": table}))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
