"""Figure (issue 12): `unmo audit verify` over 1,000,000 events in under 5 s, whole process.

Makes a temporary workspace whose trail holds N events (default 1,000,000): a real `unmo
onboard` starts it (genesis and the onboarding's own events), then synthetic events shaped like
a feedback import's — chained with the project's own canonical form and hash
(unmo_cli.audit), bulk-inserted — so the chain is one `audit verify` must walk whole. Then
`unmo audit verify` runs as a user runs it, taking turns with the import floor
(`python -c "import typer, sqlmodel, jinja2, rich.console"`, benchmarks/measure.py): the figure
is the ratio of the two, measured in one run, judged against 5 s on a quiet machine
(measure.REFERENCE_FLOOR_S). Each verify must exit 0 (the chain holds).

    python benchmarks/bench_audit.py [--events N] [--runs R] [--json]

UNMO_DATABASE_URL (an empty PostgreSQL database) measures there instead of a SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (  # noqa: E402
    FLOOR,
    UNMO,
    Runs,
    clean_env,
    describe_verdict,
    interleaved,
    run_measured,
    verdict,
)

GOAL_S = 5.0


def seed(workspace: Path, events: int, env: dict[str, str]) -> float:
    """The trail of `events` events; returns the seconds it took (not part of the figure)."""
    from sqlalchemy import insert, select

    from unmo_cli import audit, clock
    from unmo_cli.db import open_database
    from unmo_cli.db.models import AuditEvent
    from unmo_cli.workspace import load_workspace

    started = time.perf_counter()
    command = [*UNMO, "onboard", "Bench Audit", "--contact-name", "Ops", "--contact-email",
               "ops@bench.example", "--industry", "gaming", "--integration", "s2s",
               "--events-per-day", "1000", "--provider", "adjust", "--mrr", "2500", "--yes"]
    run_measured(command, env, Runs())
    os.environ.update({k: v for k, v in env.items() if k.startswith("UNMO_")})
    db = open_database(load_workspace())
    try:
        table = AuditEvent.__table__
        with db.engine.begin() as connection:
            last_id, previous = connection.execute(
                select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1)).one()
            at_base = clock.to_db(clock.now())
            batch = []
            for n in range(last_id + 1, events + 1):
                at = at_base + timedelta(microseconds=n)
                details = audit.details_json({
                    "rows": 1, "table": "feedback", "values": [{
                        "category": "other", "comment": audit.REDACTED, "customer_id": 1,
                        "external_id": f"survey-{n}", "nps": n % 11,
                        "received_at": clock.iso(at), "satisfaction": n % 10 + 1,
                        "source": "import"}]})
                command_line = "unmo feedback import survey.csv"
                digest = audit.chain_hash(previous, audit.canonical(
                    n, clock.iso(at) or "", "bench@unmo", command_line, "bench-audit",
                    "feedback.insert", details))
                batch.append({"id": n, "at": at, "actor": "bench@unmo",
                              "command": command_line, "customer": "bench-audit",
                              "action": "feedback.insert", "details": details,
                              "hash": digest})
                previous = digest
                if len(batch) == 20_000:
                    connection.execute(insert(table), batch)
                    batch = []
            if batch:
                connection.execute(insert(table), batch)
    finally:
        db.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    workspace = Path(tempfile.mkdtemp(prefix="unmo-bench-audit-"))
    try:
        env = clean_env(UNMO_WORKSPACE=str(workspace))
        seconds_seeding = seed(workspace, args.events, env)
        runs = interleaved({"floor": FLOOR, "verify": [*UNMO, "audit", "verify"]}, env,
                           args.runs)
        judged = verdict(runs["verify"], runs["floor"], GOAL_S)
        load = os.getloadavg()[0]
        if args.json:
            print(json.dumps({"events": args.events, "seed_s": seconds_seeding,
                              "load": load, **judged,
                              "runs": {k: v.as_json() for k, v in runs.items()}}))
            return
        print(f"audit verify over {args.events:,} events (load {load:.1f}; seeded in "
              f"{seconds_seeding:.0f} s): {describe_verdict(judged)}; peak "
              f"{max(runs['verify'].peak_mb):.0f} MB")
        print(f"goal {GOAL_S:g} s on a quiet machine = {judged['goal_ratio']:.2f}× the floor: "
              f"{'met' if judged['met'] else 'missed'} by wall time, "
              f"{'met' if judged['met_by_cpu'] else 'missed'} by CPU time")
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
