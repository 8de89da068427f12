"""Times `unmo customer timeline` of a customer with 10,000 events (issue 11: under 0.5 s, whole
process), among 1,000 customers with 100,000 feedback rows and 100,000 health checks of their
own, so each source query must find one customer's rows through its index.

    python benchmarks/bench_timeline.py [--events 10000] [--runs R] [--baseline DIR]
        [--instructions] [--json]

The customer (customer-00001) gets its events spread over the sources, written by bulk inserts
(benchmarks/seed.py): about a quarter feedback, 15 % alerts (half of them acknowledged: an
event each), 15 % notes, 5 % each phase changes, MRR changes and record changes, tasks (half
done), e-mails and key rotations, and 15 times as many health checks as health transitions (a
check changes the status with probability 1/15), so the LAG() query reads far more checks than
it returns. Fresh processes as a user runs them, taking turns with the import floor
(benchmarks/measure.py): the table into a pipe (80 columns), at 120 columns, `--json`,
`--since` (the last 30 days) and `--limit 50`, and `customer show --json` of the same customer
for reference (what a one-customer read costs before its own work). A goal of G seconds is
met when median ÷ floor <= G ÷ measure.REFERENCE_FLOOR_S. UNMO_DATABASE_URL (an empty
PostgreSQL database) measures there instead of a SQLite file."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (  # noqa: E402
    FLOOR,
    UNMO,
    add_comparison_options,
    clean_env,
    count_instructions,
    describe_verdict,
    interleaved,
    seconds,
    verdict,
    with_baseline,
)
from seed import END, NOW, Dataset, analyze, describe, generate, insert  # noqa: E402

SLUG, CUSTOMER_ID = "customer-00001", 1
COMMANDS = {
    "timeline (pipe, 80 columns)": (["customer", "timeline", SLUG], {}),
    "timeline (120 columns)": (["customer", "timeline", SLUG], {"COLUMNS": "120"}),
    "timeline --json": (["customer", "timeline", SLUG, "--json"], {}),
    "timeline --since (30 days) --json": (
        ["customer", "timeline", SLUG, "--since", (END - timedelta(days=30)).date().isoformat(),
         "--json"], {}),
    "timeline --limit 50": (["customer", "timeline", SLUG, "--limit", "50"], {}),
}
# Not judged: the same customer's `customer show`, what any one-customer read costs (the stack's
# imports, opening the database, finding the customer) before its own work.
REFERENCE = {"customer show --json (reference)": (["customer", "show", SLUG, "--json"], {})}
GOAL_S = 0.5
# The share of the events each source gets (health: transitions; alerts and tasks count twice
# for the half acknowledged or done).
SHARES = {"feedback": 0.25, "alerts": 0.10, "health": 0.15, "notes": 0.15, "phases": 0.05,
          "mrr": 0.05, "changes": 0.05, "tasks": 0.10, "emails": 0.05, "keys": 0.05}
CHECKS_PER_TRANSITION = 15


def seed_customer(events: int, seed: int = 11) -> dict[str, int]:
    """customer-00001's history: about `events` timeline events; the rows written per table."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import (
        Alert,
        ApiKey,
        CustomerChange,
        EmailSending,
        Feedback,
        HealthCheck,
        MrrChange,
        Note,
        PhaseChange,
        Task,
    )
    from unmo_cli.workspace import load_workspace

    rng = random.Random(seed)
    db = open_database(load_workspace())
    try:
        with db.engine.connect() as connection:
            created = connection.exec_driver_sql(
                f"SELECT created_at FROM customers WHERE id = {CUSTOMER_ID}").scalar()
        created = created if isinstance(created, datetime) else datetime.fromisoformat(created)
        span = (END - created).total_seconds()

        def times(count: int) -> list[datetime]:
            return sorted(created + timedelta(seconds=1 + rng.random() * (span - 2))
                          for _ in range(count))

        def share(name: str) -> int:
            return max(1, round(events * SHARES[name]))

        written: dict[str, int] = {}

        def put(model, columns, rows):
            rows = list(rows)
            insert(db, model.__table__, columns, rows)
            written[model.__tablename__] = written.get(model.__tablename__, 0) + len(rows)

        c = CUSTOMER_ID
        put(Feedback, ("customer_id", "received_at", "satisfaction", "nps", "category", "comment",
                       "source"),
            ((c, t, rng.randrange(1, 11), rng.randrange(0, 11), "other",
              "the dashboards are slow on Mondays" if rng.random() < 0.3 else None, "import")
             for t in times(share("feedback"))))
        put(Alert, ("customer_id", "rule", "text", "score", "created_at", "acked_at",
                    "attempts"),
            ((c, "low_satisfaction", "unmo alert · low_satisfaction · Customer 00001 "
              f"({SLUG})\nSatisfaction 3/10, below the alert threshold of 7.", 3.0, t,
              t + timedelta(hours=2) if k % 2 == 0 else None, 0)
             for k, t in enumerate(times(round(share("alerts") / 1.5)))))
        transitions = share("health")
        checks, status, statuses = [], "healthy", ["degraded", "down", "unauthorized"]
        for t in times(transitions * CHECKS_PER_TRANSITION):
            if rng.random() < 1 / CHECKS_PER_TRANSITION:
                status = "healthy" if status != "healthy" else rng.choice(statuses)
            checks.append((c, t, status, 200 if status == "healthy" else 503,
                           round(rng.lognormvariate(4, 0.4), 1)))
        put(HealthCheck, ("customer_id", "checked_at", "status", "http_status", "latency_ms"),
            checks)
        put(Note, ("customer_id", "at", "text", "author", "recorded_at"),
            ((c, t, "Call with the growth team:\nrenewal talk next quarter, wants SSO.",
              "kim@unmogrowp.example", t) for t in times(share("notes"))))
        phases = ["discovery", "setup", "launch"]
        put(PhaseChange, ("customer_id", "changed_at", "from_phase", "to_phase"),
            ((c, t, phases[k % 3], phases[(k + 1) % 3])
             for k, t in enumerate(times(share("phases")))))
        put(MrrChange, ("customer_id", "kind", "mrr_cents", "effective_at", "recorded_at"),
            ((c, "change", rng.randrange(50_000, 500_000), t, t) for t in times(share("mrr"))))
        put(CustomerChange, ("customer_id", "field", "old_value", "new_value", "effective_at",
                             "recorded_at"),
            ((c, "tier", f"tier-{k}", f"tier-{k + 1}", t, t)
             for k, t in enumerate(times(share("changes")))))
        put(Task, ("customer_id", "title", "owner", "status", "playbook", "fired", "created_at",
                   "updated_at", "done_at"),
            ((c, "Check in after the SDK upgrade", "kim@unmogrowp.example",
              "done" if k % 2 == 0 else "open", None, 1, t, t,
              t + timedelta(days=1) if k % 2 == 0 else None)
             for k, t in enumerate(times(round(share("tasks") / 1.5)))))
        put(EmailSending, ("customer_id", "kind", "request_key", "message_id",
                           "recipient_digest", "outcome", "attempts", "requested_at",
                           "attempted_at", "sent_at"),
            ((c, "survey", f"survey:{k:08d}", f"<bench-{k}@unmogrowp.example>", "0" * 64,
              "sent", 1, t, t, t) for k, t in enumerate(times(share("emails")))))
        # one rotation per instant: the key in use is revoked and the next one issued
        rotations = times(share("keys"))
        starts, ends = [created, *rotations], [*rotations, None]
        keys = [(c, "secret", "live", f"{k:064x}", f"unmo_sk_live_…{k % 10_000:04d}", start, end)
                for k, (start, end) in enumerate(zip(starts, ends, strict=True))]
        put(ApiKey, ("customer_id", "kind", "environment", "key_hash", "hint", "created_at",
                     "revoked_at"), keys)
    finally:
        db.dispose()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    add_comparison_options(parser)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="unmo-bench-timeline-"))
    os.environ.update({"UNMO_WORKSPACE": str(root), "UNMO_NOW": NOW})
    env = clean_env(UNMO_WORKSPACE=str(root), UNMO_NOW=NOW)
    try:
        dataset = Dataset(customers=options.customers, feedback=options.customers * 100,
                          checks=options.customers * 100)
        took = generate(dataset)
        written = seed_customer(options.events)
        from unmo_cli.db import open_database
        from unmo_cli.workspace import load_workspace

        db = open_database(load_workspace())
        try:
            analyze(db)  # after the customer's rows too, as a real database has them
        finally:
            db.dispose()
        counted = json.loads(subprocess.run(
            [*UNMO, "customer", "timeline", SLUG, "--json"], env=env, capture_output=True,
            check=True).stdout)
        kinds: dict[str, int] = {}
        for event in counted:
            kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
        print(f"{describe(dataset)} generated in {took:.1f} s; {SLUG}: {len(counted):,} events "
              f"({', '.join(f'{k} {n:,}' for k, n in sorted(kinds.items()))}) from "
              f"{sum(written.values()):,} rows ({written.get('health_checks', 0):,} health "
              f"checks); median of {options.runs}, load average {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} CPUs")
        measured = COMMANDS | REFERENCE
        commands = {"floor": FLOOR} | {name: UNMO + args for name, (args, _) in measured.items()}
        envs = {name: env | extra for name, (_, extra) in measured.items()}
        compared = ["timeline (pipe, 80 columns)", "timeline --json"]
        with_baseline(commands, envs, options.baseline, compared)
        found = interleaved(commands, env, options.runs, envs)
        floor = found["floor"].median
        print(f"  {'import floor':36} {seconds(floor):>8}  CPU "
              f"{seconds(statistics.median(found['floor'].cpu)):>8}")
        figures = {}
        for name in [n for n in commands if n != "floor"]:
            runs = found[name]
            figures[name] = {"median_s": runs.median, "ratio": runs.median / floor,
                             "cpu_s": statistics.median(runs.cpu), "peak_mb": max(runs.peak_mb),
                             "bytes": runs.output_bytes}
            print(f"  {name:42} {seconds(runs.median):>8}  {runs.median / floor:4.2f}× floor  "
                  f"CPU {seconds(statistics.median(runs.cpu)):>8}  peak "
                  f"{max(runs.peak_mb):5.0f} MB  {runs.output_bytes:,} bytes")
        worst = max(COMMANDS, key=lambda n: figures[n]["median_s"])
        judged = verdict(found[worst], found["floor"], GOAL_S)
        goal = {"figure": f"`unmo customer timeline`, a customer of {len(counted):,} events, "
                          f"whole process, slowest form ({worst.removeprefix('timeline ')})",
                "goal": f"≤ {GOAL_S:g} s (≤ {judged['goal_ratio']:.2f}× floor)",
                "value": describe_verdict(judged), "met": judged["met"]}
        print(f"  {goal['figure']}: {goal['value']}; goal {goal['goal']}: "
              f"{'met' if goal['met'] else 'MISSED'}")
        valgrind = [n for n in commands if n in compared or n.endswith("[baseline]")]
        instruction_ratios = (count_instructions(commands, envs, valgrind, env)
                              if options.instructions else {})
        if options.json:
            print(json.dumps({"events": len(counted), "kinds": kinds, "rows": written,
                              "floor_s": floor, "figures": figures,
                              "instruction_ratios": instruction_ratios, "goals": [goal],
                              "runs": options.runs}))
    finally:
        if options.keep:
            print(f"\nworkspace kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
