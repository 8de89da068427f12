"""Onboarding speed, each as a whole process (what a user waits for):

    python benchmarks/bench_onboard.py [--runs N] [--batch 1000] [--json]
                                       [--postgres-url postgresql+psycopg://USER@HOST:PORT/DB]

1. `unmo --help` against `python -c "import typer"` (goal: ratio ≤ 1.5);
2. one non-interactive `unmo onboard … --yes` in a workspace whose database is already there,
   run interleaved with the import floor of the stack it needs (`python -c "import typer,
   sqlmodel, jinja2, rich.console"`): the medians and their RATIO (goal ≤ 1.2), which a busy
   machine charges alike; and the same in a fresh workspace (creates and migrates the database);
3. `unmo onboard --from FILE` with 1,000 customers (goal ≤ 30 s; --batch 0 skips it).
Prints medians and the machine; asserts nothing. With --postgres-url (a role that may CREATE
DATABASE) every figure but the first is measured on SQLite and again on a fresh PostgreSQL
database; without it, UNMO_DATABASE_URL (an empty database) measures on that database instead of
each workspace's SQLite file."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchtools import (
    FLOOR_STACK,
    clean_env,
    compile_package,
    databases,
    fresh_database,
    instructions,
    interleaved,
    machine,
    median_ms,
    run_timed,
    unmo_command,
)

FLAGS = ["--contact-name", "Growth Team", "--contact-email", "growth@techstart.example",
         "--industry", "gaming", "--integration", "hybrid", "--platforms", "ios,android",
         "--events-per-day", "50000", "--provider", "appsflyer", "--mrr", "2500", "--yes"]
GOAL_RATIO = 1.2


def _batch_file(path: Path, count: int) -> None:
    import yaml

    integrations = ["sdk", "s2s", "hybrid"]
    records = [{
        "name": f"Benchmark Customer {n:05d}", "contact_name": "Ops Team",
        "contact_email": f"ops{n}@bench.example", "industry": "other",
        "integration": integrations[n % 3], "platforms": ["ios", "android"],
        "events_per_day": 1000 + n, "provider": "none", "mrr": 99.5,
    } for n in range(count)]
    for record in records:
        if record["integration"] == "s2s":  # the contract: platforms only for sdk and hybrid
            del record["platforms"]
    path.write_text(yaml.safe_dump(records, sort_keys=False), encoding="utf-8")


def measure(label: str, server_url: str | None, args: argparse.Namespace) -> dict:
    unmo = unmo_command()
    figures: dict = {"database": label}
    with tempfile.TemporaryDirectory() as scratch, fresh_database(server_url) as url:
        url = url or os.environ.get("UNMO_DATABASE_URL")
        root = Path(scratch)
        used = root / "used"
        used.mkdir()
        env = clean_env(used, url)
        run_timed([*unmo, "onboard", "Already There", *FLAGS], env)  # creates the database
        times = interleaved({
            "floor": ([sys.executable, "-c", FLOOR_STACK], clean_env()),
            "onboard": (lambda n: [*unmo, "onboard", f"Second Mobile {n}", *FLAGS], env),
        }, args.runs)
        floor, onboard = median_ms(times["floor"]), median_ms(times["onboard"])
        floor_cpu, onboard_cpu = median_ms(times["floor:cpu"]), median_ms(times["onboard:cpu"])
        ratio = onboard / floor
        print(f"[{label}] one onboarding, database there: {onboard:6.0f} ms (CPU "
              f"{onboard_cpu:4.0f})   import floor {floor:4.0f} ms (CPU {floor_cpu:4.0f})   "
              f"ratio {ratio:.2f}, CPU {onboard_cpu / floor_cpu:.2f} (goal ≤ {GOAL_RATIO}: "
              f"{'met' if ratio <= GOAL_RATIO else 'NOT met'})")
        figures.update(floor_s=floor / 1000, onboard_s=onboard / 1000, ratio=ratio,
                       floor_cpu_s=floor_cpu / 1000, onboard_cpu_s=onboard_cpu / 1000)
        if args.instructions:
            floor_ir = instructions([sys.executable, "-c", FLOOR_STACK], clean_env())
            onboard_ir = instructions([sys.executable, "-m", "unmo_cli", "onboard",
                                       "Counted Mobile", *FLAGS], env)
            print(f"[{label}] instructions: onboarding {onboard_ir / 1e9:.2f} G, import floor "
                  f"{floor_ir / 1e9:.2f} G, ratio {onboard_ir / floor_ir:.2f}")
            figures.update(instructions_ratio=onboard_ir / floor_ir)

        fresh, fresh_cpu = [], []
        for n in range(args.runs + 1):
            workspace = root / f"fresh-{n}"
            workspace.mkdir()
            wall, cpu, _ = run_timed([*unmo, "onboard", f"Fresh Mobile {n}", *FLAGS],
                                     clean_env(workspace, url))
            if n:
                fresh.append(wall)
                fresh_cpu.append(cpu)
        print(f"[{label}] one onboarding, fresh workspace: {median_ms(fresh):6.0f} ms wall "
              f"{median_ms(fresh_cpu):5.0f} ms CPU (creates and migrates the database)")
        figures.update(onboard_fresh_s=statistics.median(fresh))

        if args.batch:
            batch = root / "batch.yaml"
            _batch_file(batch, args.batch)
            workspace = root / "batch"
            workspace.mkdir()
            batch_s, batch_cpu, _ = run_timed([*unmo, "onboard", "--from", str(batch)],
                                              clean_env(workspace, url))
            folders = sum(1 for p in (workspace / "customers").iterdir() if p.is_dir())
            print(f"[{label}] onboard --from, {args.batch} customers {batch_s:5.1f} s wall "
                  f"{batch_cpu:5.1f} s CPU ({folders} folders; goal ≤ 30 s)")
            figures.update(batch=args.batch, batch_s=batch_s, batch_cpu_s=batch_cpu)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    parser.add_argument("--batch", type=int, default=1000,
                        help="customers in the --from file (0: skip)")
    parser.add_argument("--postgres-url", default=None,
                        help="a PostgreSQL server: measure there too, on a fresh database")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions (valgrind): ratios no load can move")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    args = parser.parse_args()
    compile_package()
    unmo = unmo_command()
    print(machine())
    times = interleaved({"typer": ([sys.executable, "-c", "import typer"], clean_env()),
                         "help": ([*unmo, "--help"], clean_env())}, args.runs)
    typer_ms, help_ms = median_ms(times["typer"]), median_ms(times["help"])
    print(f"unmo --help {help_ms:6.0f} ms   python -c 'import typer' {typer_ms:4.0f} ms   ratio "
          f"{help_ms / typer_ms:.2f} (goal ≤ 1.5)")
    # run by run_all.py with UNMO_DATABASE_URL: that database, and say so
    targets = databases(args.postgres_url) if args.postgres_url or not os.environ.get(
        "UNMO_DATABASE_URL") else [("PostgreSQL", None)]
    results = [measure(label, url, args) for label, url in targets]
    probe = Path(tempfile.mkdtemp())
    started = time.perf_counter()
    for n in range(1000):
        (probe / f"f{n}").write_bytes(b"x" * 2000)
    print(f"(this disk: {(time.perf_counter() - started):.2f} ms per small file created; "
          "the batch writes ~24 files and folders per customer)")
    for path in probe.iterdir():
        path.unlink()
    probe.rmdir()
    if args.json:
        first = results[0]
        print(json.dumps({"runs": args.runs, "typer_s": typer_ms / 1000, "help_s": help_ms / 1000,
                          **first, "by_database": results}))


if __name__ == "__main__":
    main()
