"""Times `unmo health --all` over many customers against a loopback API answering in 20 ms, and
beside it, in the same run against the same server, the floors: the same calls made by bare
clients (benchmarks/health_floors.py: httpx with one AsyncClient per worker and one shared SSL
context — the configuration unmo uses —, httpx with one shared pool, aiohttp, raw asyncio
streams), each in its own process, run interleaved with unmo's so that load charges all alike.

Creates N customers (default 1,000) straight through the project's database adapter (bulk
INSERTs of customers and their hashed keys) plus each one's `.env`, starts `unmo sandbox
--latency-ms 20` in its own process (a threaded server: one thread per keep-alive connection),
then runs `unmo health --all --format json` as a user would (a fresh process, results recorded)
and prints, for each concurrency:

  * unmo's checking time (the JSON's duration_s: the calls, from the first to the last) and the
    whole process's wall and CPU time;
  * each floor's time for the same calls, and the RATIO unmo ÷ floor (goal: ≤ 1.1 × httpx per
    worker);
  * the floor N × latency ÷ concurrency (the API's own time, perfectly overlapped);
and the fixed cost: the whole process over one customer against the same over none.

    python benchmarks/bench_health.py [--customers N] [--latency-ms MS] [--concurrency 32,64]
                                      [--runs R] [--keep] [--json] [--instructions]
                                      [--postgres-url URL | --empty-database-url URL]

aiohttp comes from the `bench` extra (pip install -e '.[bench]'); without it that floor is
skipped. --postgres-url (a role that may CREATE DATABASE) measures on SQLite and again on fresh
PostgreSQL databases. Without it, UNMO_DATABASE_URL (an empty database) measures on that database
instead of the workspace's SQLite file; the empty-workspace runs then need a second, empty
database: --empty-database-url.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchtools import (
    clean_env,
    compile_package,
    databases,
    fresh_database,
    instructions,
    machine,
    run_timed,
)

FLOORS = ["httpx-per-worker", "aiohttp", "streams"]  # (httpx-shared: 4-6x slower, on request)
GOAL_RATIO = 1.1
HERE = Path(__file__).resolve().parent


def generate(customers: int) -> list[str]:
    """Customers, their four keys (secret ones as hashes) and their .env files; returns the live
    secret keys (what the floors send)."""
    from sqlalchemy import insert

    from unmo_cli import apikeys, clock
    from unmo_cli.db import open_database
    from unmo_cli.db.models import ApiKey, Customer
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    db = open_database(ws)
    at = clock.to_db(clock.parse_instant("2026-11-01T09:00:00Z"))
    people, keys, live = [], [], []
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
            if (kind, environment) == ("secret", "live"):
                live.append(key)
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
    return live


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


def floor_seconds(client: str, url: str, keys_file: Path, concurrency: int,
                  env: dict[str, str]) -> float:
    _, _, done = run_timed([sys.executable, str(HERE / "health_floors.py"), client, url,
                            str(keys_file), str(concurrency)], env)
    figures = json.loads(done.stdout)
    if figures["ok"] != len(json.loads(keys_file.read_text())):
        raise SystemExit(f"{client}: {figures['ok']} answers of 200, expected every one "
                         f"({done.stderr.strip()[-300:]})")
    return figures["seconds"]


def unmo_health(env: dict[str, str], concurrency: int | None = None
                ) -> tuple[float, float, float, dict]:
    """(whole wall, whole CPU, checking seconds, summary) of one `unmo health --all` process."""
    args = [sys.executable, "-m", "unmo_cli", "health", "--all", "--format", "json"]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    wall, cpu, done = run_timed(args, env, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"unmo health failed: {done.stderr.strip()}")
    document = json.loads(done.stdout)
    return wall, cpu, document["duration_s"], document["summary"]


def measure(label: str, server_url: str | None, options: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix="unmo-bench-health-"))
    sandbox = None
    floors = [f for f in FLOORS if f != "aiohttp" or importlib.util.find_spec("aiohttp")]
    try:
        with fresh_database(server_url) as url, fresh_database(server_url) as empty_url, \
                fresh_database(server_url) as one_url:
            url = url or os.environ.get("UNMO_DATABASE_URL")
            empty_url = empty_url or options.empty_database_url
            env = clean_env(root, url)
            os.environ.update(env)
            started = time.perf_counter()
            keys = generate(options.customers)
            keys_file = root / "keys.json"
            keys_file.write_text(json.dumps(keys))
            print(f"[{label}] workspace {root}: {options.customers} customers and .env files in "
                  f"{time.perf_counter() - started:.2f} s")
            sandbox, api = start_sandbox(options.latency_ms, env)
            env["UNMO_API_URL"] = api
            empty = clean_env(root / "empty", empty_url) | {"UNMO_API_URL": api}
            (root / "empty").mkdir()
            one = None
            if url is None or one_url is not None:  # (not with a lone UNMO_DATABASE_URL)
                one_root = root / "one"
                one_root.mkdir()
                one = clean_env(one_root, one_url) | {"UNMO_API_URL": api}
                os.environ.pop("UNMO_DATABASE_URL", None)
                os.environ.update(one)
                generate(1)  # its key is not the sandbox's: one 401 answer, a whole request
                os.environ.update(env)
            figures = fixed_cost(label, empty, one, options.runs)
            if options.instructions:
                figures |= fixed_instructions(label, empty, one)
            for concurrency in (int(c) for c in options.concurrency.split(",")):
                figures.setdefault("by_concurrency", []).append(
                    compare(label, env, api, keys_file, concurrency, floors, options))
        return figures
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=10)
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def fixed_cost(label: str, empty: dict[str, str], one: dict[str, str] | None,
               runs: int) -> dict:
    """The same command over no customer and over one, interleaved: what a run costs before
    its first request (imports, the database, the client)."""
    none_s, one_s = [], []
    for n in range(runs + 3):
        wall = unmo_health(empty)[0]
        if n:
            none_s.append(wall)
        if one is not None:
            wall = unmo_health(one)[0]
            if n:
                one_s.append(wall)
    empty_ms = statistics.median(none_s) * 1000
    figures = {"database": label, "startup_s": empty_ms / 1000}
    if not one_s:
        print(f"[{label}] start-up: an empty workspace {empty_ms:5.0f} ms")
        return figures
    one_ms = statistics.median(one_s) * 1000
    print(f"[{label}] fixed cost: one customer {one_ms:5.0f} ms, an empty workspace "
          f"{empty_ms:5.0f} ms (ratio {one_ms / empty_ms:.2f})")
    return figures | {"one_customer_s": one_ms / 1000}


def fixed_instructions(label: str, empty: dict[str, str], one: dict[str, str] | None
                       ) -> dict:
    """The instructions (valgrind) of `unmo health --all --format json` over no customer and
    over one: the fixed cost as a figure the machine's load does not move."""
    command = [sys.executable, "-m", "unmo_cli", "health", "--all", "--format", "json"]
    empty_ir = instructions(command, empty)
    figures = {"empty_instructions": empty_ir}
    line = f"[{label}] instructions: an empty workspace {empty_ir / 1e9:.2f} G"
    if one is not None:
        one_ir = instructions(command, one, exit_codes=(0, 1))  # its one check fails: exit 1
        figures["one_customer_instructions"] = one_ir
        line += f", one customer {one_ir / 1e9:.2f} G (ratio {one_ir / empty_ir:.2f})"
    print(line)
    return figures


def compare(label: str, env: dict[str, str], api: str, keys_file: Path, concurrency: int,
            floors: list[str], options: argparse.Namespace) -> dict:
    walls, cpus, checks = [], [], []
    floor_times: dict[str, list[float]] = {f: [] for f in floors}
    summary: dict = {}
    unmo_health(env, concurrency)  # warm-up: page cache, the sandbox's threads
    for _ in range(options.runs):
        wall, cpu, check, summary = unmo_health(env, concurrency)
        walls.append(wall)
        cpus.append(cpu)
        checks.append(check)
        for floor in floors:
            floor_times[floor].append(floor_seconds(floor, api, keys_file, concurrency, env))
    ideal = options.customers * options.latency_ms / 1000 / concurrency
    check = statistics.median(checks)
    print(f"[{label}] concurrency {concurrency}: unmo checking {check:.3f} s (whole process "
          f"{statistics.median(walls):.3f} s, CPU {statistics.median(cpus):.3f} s; "
          f"{summary.get('healthy')} healthy of {summary.get('total')}); "
          f"ideal {options.customers} × {options.latency_ms} ms ÷ {concurrency} = {ideal:.3f} s")
    figures = {"concurrency": concurrency, "check_s": checks, "whole_s": walls, "cpu_s": cpus,
               "floor_s": ideal, "healthy": summary.get("healthy"),
               "total": summary.get("total"), "floors": {}}
    for floor in floors:
        seconds = statistics.median(floor_times[floor])
        ratio = check / seconds
        verdict = ""
        if floor == "httpx-per-worker":
            verdict = f"  (goal ≤ {GOAL_RATIO}: {'met' if ratio <= GOAL_RATIO else 'NOT met'})"
        print(f"    {floor:<17} {seconds:.3f} s   unmo ÷ it {ratio:.2f}{verdict}")
        figures["floors"][floor] = floor_times[floor]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--concurrency", default="32")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary workspace.")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the fixed cost's instructions (valgrind)")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for benchmarks/run_all.py)")
    parser.add_argument("--postgres-url", default=None,
                        help="a PostgreSQL server: measure there too, on fresh databases")
    parser.add_argument("--empty-database-url", default=None,
                        help="an empty database for the start-up run (with UNMO_DATABASE_URL)")
    options = parser.parse_args()
    if os.environ.get("UNMO_DATABASE_URL") and not options.empty_database_url \
            and not options.postgres_url:
        sys.exit("with UNMO_DATABASE_URL the start-up run needs a second, empty database: "
                 "--empty-database-url URL")
    compile_package()
    print(machine())
    results = [measure(label, url, options) for label, url in databases(options.postgres_url)]
    print("\nchecking = unmo's duration_s, the calls from the first to the last, as each floor "
          "times its own; whole = the fresh `unmo health --all --format json` process (reads "
          "every .env, checks, records every result in one transaction).")
    if options.json:
        first = results[0]
        print(json.dumps({"customers": options.customers, "latency_ms": options.latency_ms,
                          "runs": options.runs, **first, "by_database": results}))


if __name__ == "__main__":
    main()
