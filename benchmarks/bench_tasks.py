"""Times `unmo task list` over 10,000 open tasks (issue 11: under 0.5 s, whole process), on 1,000
customers (benchmarks/seed.py) with 12,000 tasks: 10,000 open (a fifth overdue, a tenth without a
due date, one owner in ten the same person) and 2,000 done, inserted in bulk.

    python benchmarks/bench_tasks.py [--tasks 10000] [--runs R] [--baseline DIR] [--instructions]
        [--json]

Fresh processes as a user runs them, taking turns with the import floor (benchmarks/measure.py),
so every figure is a ratio measured in one run: `task list` into a pipe (every open task),
`--json`, `--all --json` (open and done), `--overdue`, `--mine` and one customer's. A goal of G
seconds is met when median ÷ floor <= G ÷ REFERENCE_FLOOR_S. UNMO_DATABASE_URL (an empty
PostgreSQL database) measures there instead of a SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
from datetime import date, timedelta
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
from seed import END, NOW, Dataset, analyze, clear, generate, insert  # noqa: E402

ME = "ana@team.example"
COMMANDS = {
    "task list (pipe, 80 columns)": (["task", "list"], {}),
    "task list --json": (["task", "list", "--json"], {}),
    "task list --all --json": (["task", "list", "--all", "--json"], {}),
    "task list --overdue": (["task", "list", "--overdue"], {}),
    "task list --mine": (["task", "list", "--mine"], {"UNMO_ACTOR": ME}),
    "task list SLUG": (["task", "list", "customer-00042"], {}),
}
GOAL_S = 0.5


def seed_tasks(customers: int, open_tasks: int, done_tasks: int, seed: int = 11) -> None:
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Task
    from unmo_cli.workspace import load_workspace

    rng = random.Random(seed)
    today = END.date()
    owners = [ME] + [f"csm{n}@team.example" for n in range(1, 10)]

    def row(status: str) -> tuple:
        created = END - timedelta(days=rng.random() * 90)
        due: date | None = today + timedelta(days=rng.randrange(-15, 60))
        if rng.random() < 0.1:
            due = None
        done_at = created + timedelta(days=rng.random() * 5) if status == "done" else None
        return (rng.randrange(1, customers + 1), f"Follow up on ticket {rng.randrange(10**6)}",
                rng.choice(owners), due, status, None, 1, created, done_at or created, done_at)

    db = open_database(load_workspace())
    try:
        insert(db, Task.__table__, ("customer_id", "title", "owner", "due_on", "status",
                                    "playbook", "fired", "created_at", "updated_at", "done_at"),
               [row("open") for _ in range(open_tasks)] + [row("done")
                                                          for _ in range(done_tasks)])
        analyze(db)
    finally:
        db.dispose()


def clear_tasks() -> None:
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Task
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.engine.begin() as connection:
            connection.execute(Task.__table__.delete())
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="open tasks (default 10000)")
    parser.add_argument("--runs", type=int, default=5)
    add_comparison_options(parser)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="unmo-bench-tasks-"))
    os.environ.update({"UNMO_WORKSPACE": str(root), "UNMO_NOW": NOW})
    env = clean_env(UNMO_WORKSPACE=str(root), UNMO_NOW=NOW)
    try:
        if os.environ.get("UNMO_DATABASE_URL"):
            clear_tasks()
            clear()
        generate(Dataset(customers=1_000))
        seed_tasks(1_000, options.tasks, options.tasks // 5)
        database = "PostgreSQL" if os.environ.get("UNMO_DATABASE_URL") else "SQLite"
        print(f"{database}: 1,000 customers, {options.tasks:,} open and {options.tasks // 5:,} "
              f"done tasks; median of {options.runs}, load average {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} CPUs")
        commands = {"floor": FLOOR} | {name: UNMO + args for name, (args, _) in COMMANDS.items()}
        envs = {name: env | extra for name, (_, extra) in COMMANDS.items()}
        compared = ["task list (pipe, 80 columns)", "task list --all --json"]
        with_baseline(commands, envs, options.baseline, compared)
        found = interleaved(commands, env, options.runs, envs)
        floor = found["floor"].median
        print(f"  {'import floor':30} {seconds(floor):>8}")
        figures = {}
        for name in [n for n in commands if n != "floor"]:
            runs = found[name]
            figures[name] = {"median_s": runs.median, "ratio": runs.median / floor,
                             "cpu_s": statistics.median(runs.cpu), "bytes": runs.output_bytes}
            print(f"  {name:42} {seconds(runs.median):>8}  {runs.median / floor:4.2f}× floor  "
                  f"CPU {seconds(statistics.median(runs.cpu)):>8}  {runs.output_bytes:,} bytes")
        worst = max(COMMANDS, key=lambda n: figures[n]["median_s"])
        judged = verdict(found[worst], found["floor"], GOAL_S)
        what = f"`unmo task list`, {options.tasks:,} open tasks, whole process, slowest ({worst})"
        print(f"  {what}: {describe_verdict(judged)}; goal ≤ {GOAL_S:g} s "
              f"(≤ {judged['goal_ratio']:.2f}× floor): {'met' if judged['met'] else 'MISSED'}")
        valgrind = [n for n in commands if n in compared or n.endswith("[baseline]")]
        instruction_ratios = (count_instructions(commands, envs, valgrind, env)
                              if options.instructions else {})
        if options.json:
            print(json.dumps({"database": database, "floor_s": floor, "figures": figures,
                              "instruction_ratios": instruction_ratios,
                              "goals": [{"figure": what, "value": describe_verdict(judged),
                                         "goal": f"≤ {GOAL_S:g} s", "met": judged["met"]}]}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
