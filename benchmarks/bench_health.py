"""Times `unmo health --all` over many customers against a loopback API answering in 20 ms.

Creates N customers (default 1,000) straight through the project's database adapter (bulk
INSERTs of customers and their hashed keys) plus each one's `.env`, starts `unmo sandbox
--latency-ms 20` in its own process (a threaded server: one thread per keep-alive connection),
then runs `unmo health --all --format json` as a user would (a fresh process, results recorded)
at several concurrencies, and prints for each:

  * the whole process's wall time,
  * the floor N × latency ÷ concurrency (the API's own time, perfectly overlapped),
  * the goal 1.5 × floor + start-up (start-up = the same command over a workspace without
    customers), and whether it is met,
  * at the default concurrency 32, whether the run took at most 5 s,
  * the process's CPU time (user + system): the client's own cost, which loaded machines and
    the floor do not show.

    python benchmarks/bench_health.py [--customers N] [--latency-ms MS]
                                      [--concurrency 8,32,64] [--runs R] [--keep] [--json]
                                      [--empty-database-url URL]

UNMO_DATABASE_URL (an empty database) measures on that database instead of the workspace's SQLite
file; the start-up run then needs a second, empty database: --empty-database-url.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(customers: int) -> None:
    """Customers, their four keys (secret ones as hashes) and their .env files."""
    from sqlalchemy import insert

    from unmo_cli import apikeys, clock
    from unmo_cli.db import open_database
    from unmo_cli.db.models import ApiKey, Customer
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    db = open_database(ws)
    at = clock.to_db(clock.parse_instant("2026-11-01T09:00:00Z"))
    people, keys = [], []
    for n in range(1, customers + 1):
        slug = f"customer-{n:05d}"
        people.append({"id": n, "slug": slug, "name_key": f"customer{n:05d}",
                       "name": f"Customer {n:05d}", "industry": "gaming", "integration": "sdk",
                       "platforms": "ios,android", "provider": "appsflyer",
                       "events_per_day": 10_000 + n, "mrr_cents": 250_000,
                       "contact_name": "Growth Team", "contact_email": f"growth@{slug}.example",
                       "phase": "setup", "created_at": at})
        env = {}
        for kind, environment in (("secret", "live"), ("secret", "test"),
                                  ("publishable", "live"), ("publishable", "test")):
            key = apikeys.generate(kind, environment)
            env[f"UNMO_{kind.upper()}_KEY_{environment.upper()}"] = key
            keys.append({"customer_id": n, "kind": kind, "environment": environment,
                         "key_hash": apikeys.hash_key(key), "hint": apikeys.hint(key),
                         "publishable_value": key if kind == "publishable" else None,
                         "created_at": at})
        folder = ws.customer_dir(slug)
        folder.mkdir(parents=True)
        fd = os.open(folder / ".env", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{name}={value}\n" for name, value in env.items()))
    with db.session() as session:
        session.execute(insert(Customer), people)
        session.execute(insert(ApiKey), keys)
    db.dispose()


def start_sandbox(latency_ms: int, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "unmo_cli", "sandbox", "--port", "0", "--quiet",
         "--latency-ms", str(latency_ms)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    if " at http" not in line:
        process.kill()
        raise SystemExit(f"the sandbox did not start: {line.strip()}")
    return process, line.split(" at ", 1)[1].split(" ", 1)[0]


def timed(args: list[str], env: dict[str, str]
          ) -> tuple[float, subprocess.CompletedProcess, float]:
    """(wall seconds, the finished process, its CPU seconds, user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, done, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", default="8,32,64")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary workspace.")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    parser.add_argument("--empty-database-url", default=None,
                        help="an empty database for the start-up run (with UNMO_DATABASE_URL)")
    options = parser.parse_args()
    database_url = os.environ.get("UNMO_DATABASE_URL")
    if database_url and not options.empty_database_url:
        sys.exit("with UNMO_DATABASE_URL the start-up run needs a second, empty database: "
                 "--empty-database-url URL")

    root = Path(tempfile.mkdtemp(prefix="unmo-bench-health-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env |= {"UNMO_WORKSPACE": str(root), "NO_COLOR": "1"}
    if database_url:
        env["UNMO_DATABASE_URL"] = database_url
    os.environ.update({"UNMO_WORKSPACE": str(root)})
    sandbox = None
    try:
        started = time.perf_counter()
        generate(options.customers)
        print(f"workspace {root}: {options.customers} customers and .env files in "
              f"{time.perf_counter() - started:.2f} s")
        sandbox, url = start_sandbox(options.latency_ms, env)
        env["UNMO_API_URL"] = url
        unmo = [sys.executable, "-m", "unmo_cli"]
        bare = statistics.median(timed(unmo + ["--version"], env)[0] for _ in range(5))
        # Start-up of the command itself: the same run over an empty workspace (imports, settings,
        # opening the database), so the goal charges the per-customer work only.
        empty = env | {"UNMO_WORKSPACE": str(root / "empty")}
        if options.empty_database_url:
            empty["UNMO_DATABASE_URL"] = options.empty_database_url
        (root / "empty").mkdir()
        timed(unmo + ["health", "--all"], empty)
        startup = statistics.median(
            timed(unmo + ["health", "--all", "--format", "json"], empty)[0] for _ in range(5))
        load = os.getloadavg()[0]
        print(f"sandbox at {url}, answering every request after {options.latency_ms} ms\n"
              f"start-up: `unmo health --all` over no customers {startup:.3f} s (bare `unmo "
              f"--version` {bare:.3f} s); load average {load:.1f} on {os.cpu_count()} CPUs\n")
        figures: list[dict] = []
        print(f"{'concurrency':>11} {'whole (median)':>15} {'best':>7} {'floor':>7} "
              f"{'goal':>7}  met  {'CPU (median)':>12}  results")
        for concurrency in (int(c) for c in options.concurrency.split(",")):
            floor = options.customers * options.latency_ms / 1000 / concurrency
            goal = 1.5 * floor + startup
            times, cpus, summary = [], [], {}
            for _ in range(options.runs):
                elapsed, done, cpu = timed(unmo + ["health", "--all", "--format", "json",
                                                   "--concurrency", str(concurrency)], env)
                if done.returncode not in (0, 1):
                    raise SystemExit(f"unmo health failed: {done.stderr.strip()}")
                summary = json.loads(done.stdout)["summary"]
                times.append(elapsed)
                cpus.append(cpu)
            median = statistics.median(times)
            met = median <= goal and (concurrency != 32 or median <= 5.0)
            print(f"{concurrency:>11} {median:>13.3f} s {min(times):>5.3f} s {floor:>5.3f} s "
                  f"{goal:>5.3f} s  {'yes' if met else 'NO ':3}  "
                  f"{statistics.median(cpus):>10.3f} s  "
                  f"{summary.get('healthy')} healthy of {summary.get('total')}")
            figures.append({"concurrency": concurrency, "whole_s": times, "cpu_s": cpus,
                            "floor_s": floor, "goal_s": goal, "healthy": summary.get("healthy"),
                            "total": summary.get("total")})
        print("\nwhole = a fresh `unmo health --all --format json` process (reads every .env, "
              "checks, records every result in one transaction); floor = customers × latency ÷ "
              "concurrency; goal = 1.5 × floor + start-up, and ≤ 5 s at concurrency 32.")
        if options.json:
            print(json.dumps({"customers": options.customers, "latency_ms": options.latency_ms,
                              "runs": options.runs, "startup_s": startup, "version_s": bare,
                              "by_concurrency": figures}))
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=10)
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
