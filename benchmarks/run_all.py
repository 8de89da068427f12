"""Every figure issue 14 names (and the earlier issues' figures), on SQLite and on PostgreSQL, as
ONE markdown table: each figure, its goal, and whether it is met.

    python benchmarks/run_all.py [--postgres-url postgresql+psycopg://postgres@127.0.0.1:PORT/postgres]
                                 [--quick | --full] [--only NAME,NAME] [--report-runs N]

Runs the benchmark scripts of REGISTRY (one line each: the script beside this file, its
arguments, the goals it judges) as subprocesses with `--json` (each ends with one JSON line of
figures; their human text goes to stderr here as a progress log) and prints the table on stdout,
headed by the machine (CPU model, cores, Python), the date and the load average before and after
the run. A script reports its goals itself: its JSON line has "goals", a list of {"figure",
"goal", "value", "met"}; the older scripts' figures are turned into rows here (legacy_rows).
Without --postgres-url only SQLite is measured. With it, the URL names a server whose role may
CREATE DATABASE: every benchmark run gets a fresh database there, passed to the script as
UNMO_DATABASE_URL, and dropped afterwards. --quick shrinks every size for a smoke run (its figures
are not the issues' figures); --full adds the largest sizes of the growth curves (100,000
customers). Each benchmark is bounded in time (BENCH_TIMEOUT_S). Asserts nothing: a missed goal is
a "NO" in the table.

To add a benchmark: write benchmarks/bench_<what>.py printing its goals in its --json line, and
add one Bench(...) line to REGISTRY.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH_TIMEOUT_S = 1800  # a hang must end the run, a slow machine must not
LOADS: list[float] = []  # the 1-minute load average after each script: how busy the machine was
LATENCY_MS = 20
CONCURRENCY = 32


class BenchFailed(Exception):
    """A benchmark script ended with an error; the table shows it instead of a figure."""


@dataclass
class Database:
    """Where one benchmark run stores its data: SQLite (the workspace's own file, nothing to make)
    or a PostgreSQL server on which each run gets a fresh database."""

    label: str
    server_url: str | None = None
    _engine: object = None
    _names: Iterator[int] = field(default_factory=itertools.count)

    @contextmanager
    def fresh(self) -> Iterator[str | None]:
        """A URL for UNMO_DATABASE_URL (None on SQLite), dropped when the run ends."""
        if self.server_url is None:
            yield None
            return
        from sqlalchemy.engine import make_url

        name = f"unmo_bench_{os.getpid()}_{next(self._names)}"
        self._execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(self.server_url).set(database=name).render_as_string(
                hide_password=False)
        finally:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def describe(self) -> str:
        if self.server_url is None:
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version} (a file in each temporary workspace)"
        version = self._scalar("SHOW server_version")
        settings = ", ".join(f"{name}={self._scalar(f'SHOW {name}')}" for name in
                             ("fsync", "synchronous_commit", "shared_buffers"))
        host = self._url().host or "local socket"
        return f"PostgreSQL {version} on {host} ({settings})"

    def _url(self):
        from sqlalchemy.engine import make_url

        return make_url(self.server_url)

    def _connection(self):
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            self._engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT",
                                         poolclass=NullPool)
        return self._engine.connect()  # type: ignore[attr-defined]

    def _execute(self, sql: str) -> None:
        with self._connection() as connection:
            connection.exec_driver_sql(sql)

    def _scalar(self, sql: str) -> str:
        with self._connection() as connection:
            return str(connection.exec_driver_sql(sql).scalar())


def run_bench(script: str, args: list[str], database_url: str | None) -> dict:
    """Run benchmarks/<script> --json with the database in UNMO_DATABASE_URL; its last stdout line
    is the figures. Its human text is echoed to stderr as a progress log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if database_url:
        env["UNMO_DATABASE_URL"] = database_url
    command = [sys.executable, str(HERE / script), *args, "--json"]
    log(f"$ {' '.join(command[1:])}" + ("  [PostgreSQL]" if database_url else "  [SQLite]"))
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                               cwd=HERE.parent)
    last = ""
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        if line.startswith("{"):
            last = line
        else:
            log(f"    {line}")
    try:
        code = process.wait(timeout=BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise BenchFailed(f"{script} did not finish in {BENCH_TIMEOUT_S} s") from None
    LOADS.append(os.getloadavg()[0])
    log(f"    ({script} took {time.perf_counter() - started:.0f} s; load average now "
        f"{LOADS[-1]:.2f})")
    if code != 0 or not last:
        raise BenchFailed(f"{script} failed (exit {code})")
    return json.loads(last)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the registry: one line per benchmark -------------------------------------------------------

Args = tuple[str, ...]


@dataclass(frozen=True)
class Bench:
    """A benchmark script and how run_all runs it: its arguments for a normal run, for --quick
    and for --full (the growth curves' largest sizes); `no_database` for one that opens none
    (measured once, shown in the SQLite column); `runner` for one that needs more than one
    fresh database per run; `rows` turns an older script's figures into table rows (a newer
    script prints its own "goals")."""

    name: str
    script: str
    normal: Args = ()
    quick: Args = ()
    full: Args | None = None  # None: the normal arguments
    no_database: bool = False
    runner: Callable[[Bench, Database, Args], dict] | None = None
    rows: Callable[[dict, Args], list[tuple[str, str, str, bool | None]]] | None = None

    def arguments(self, mode: str) -> Args:
        if mode == "quick":
            return self.quick
        if mode == "full" and self.full is not None:
            return self.full
        return self.normal


def run_plain(bench: Bench, db: Database, args: Args) -> dict:
    with db.fresh() as url:
        return run_bench(bench.script, list(args), url)


def run_import(bench: Bench, db: Database, args: Args) -> dict:
    """One script run per measurement, each on an empty database; `args` ends with the runs."""
    *rest, runs = args
    found = []
    for _ in range(int(runs)):
        with db.fresh() as url:
            found.append(run_bench(bench.script, [*rest, "--runs", "1"], url))
    return {"rows": int(rest[rest.index("--rows") + 1]), "runs": len(found),
            "import_s": [s for run in found for s in run["import_s"]],
            "cpu_s": [s for run in found for s in run["cpu_s"]]}


def run_health(bench: Bench, db: Database, args: Args) -> dict:
    with db.fresh() as url, db.fresh() as empty:
        return run_bench(bench.script, list(args) + (["--empty-database-url", empty]
                                                     if empty else []), url)


def _value(args: Args, flag: str) -> str:
    return args[args.index(flag) + 1]


def startup_rows(f: dict, args: Args) -> list[tuple]:
    return [("`unmo --help` ÷ `python -c \"import typer\"`, whole process (median of "
             f"{_value(args, '--runs')})", "≤ 1.5×",
             f"{f['ratio']:.2f}× ({seconds(f['help_s'])} ÷ {seconds(f['typer_s'])})",
             f["ratio"] <= 1.5)]


def onboard_rows(f: dict, args: Args) -> list[tuple]:
    # issue 14 restated the first issues' 0.5 s as a ratio to the import floor of the stack
    # onboarding needs, measured in the same run: ≤ 1.2×
    return [("one non-interactive `unmo onboard NAME … --yes`, whole process, database already "
             f"there (median of {_value(args, '--runs')})", "≤ 1.2× the import floor (0.5 s)",
             f"{f['ratio']:.2f}× ({seconds(f['onboard_s'])} ÷ {seconds(f['floor_s'])}; CPU "
             f"{f['onboard_cpu_s'] / f['floor_cpu_s']:.2f}×)", f["ratio"] <= 1.2),
            (f"`unmo onboard --from FILE`, {int(_value(args, '--batch')):,} customers, whole "
             "process", "≤ 30 s", f"{f['batch_s']:.1f} s (CPU {f['batch_cpu_s']:.1f} s)",
             f["batch_s"] <= 30)]


def import_rows(f: dict, args: Args) -> list[tuple]:
    median = statistics.median(f["import_s"])
    return [(f"`unmo feedback import`, {f['rows']:,} CSV rows, whole process (median of "
             f"{f['runs']}, empty database each)", "≤ 3 s",
             f"{seconds(median)} (CPU {seconds(statistics.median(f['cpu_s']))})", median <= 3.0)]


def health_rows(f: dict, args: Args) -> list[tuple]:
    """Issue 14's goal: unmo's checking (its own duration, first call to last) ≤ 1.1 × httpx used
    the way that measured best (one AsyncClient per worker) against the same server in the same
    run; and the fixed cost (one customer against an empty workspace), shown beside it."""
    customers = int(_value(args, "--customers"))
    ideal = customers * LATENCY_MS / 1000 / CONCURRENCY
    at = next(c for c in f["by_concurrency"] if c["concurrency"] == CONCURRENCY)
    check = statistics.median(at["check_s"])
    whole = statistics.median(at["whole_s"])
    httpx = statistics.median(at["floors"]["httpx-per-worker"])
    rows = [(f"`unmo health --all`, {customers:,} customers, {LATENCY_MS} ms loopback API, "
             f"concurrency {CONCURRENCY}: checking ÷ httpx with one AsyncClient per worker, "
             f"same server, same run (median of {_value(args, '--runs')}; ideal {customers:,} × "
             f"{LATENCY_MS} ms ÷ {CONCURRENCY} = {seconds(ideal)})", "≤ 1.1×",
             f"{check / httpx:.2f}× ({seconds(check)} ÷ {seconds(httpx)}; whole process "
             f"{seconds(whole)}, CPU {seconds(statistics.median(at['cpu_s']))})",
             check / httpx <= 1.1)]
    if "one_customer_s" in f:
        rows.append(("`unmo health --all` of one customer (its fixed cost) and of an empty "
                     "workspace, whole process", "— (cut it)",
                     f"{seconds(f['one_customer_s'])} and {seconds(f['startup_s'])}", None))
    return rows


def judged_cell(judged: dict) -> str:
    """A figure judged by measure.verdict: wall ratio (the goal's), CPU ratio beside it."""
    return (f"{seconds(judged['figure_s'])} = {judged['ratio']:.2f}× floor "
            f"{seconds(judged['floor_s'])} (CPU {judged['cpu_ratio']:.2f}×)")


def sla_rows(f: dict, args: Args) -> list[tuple]:
    return [(f"`unmo report sla --format json`, {f['customers']:,} customers, "
             f"{f['checks']:,} checks, whole process",
             f"≤ {f['json']['goal_s']:g} s (≤ {f['json']['goal_ratio']:.2f}× floor)",
             judged_cell(f["json"]), f["json"]["met"])]


def audit_rows(f: dict, args: Args) -> list[tuple]:
    return [(f"`unmo audit verify` over {f['events']:,} events, whole process",
             f"≤ {f['goal_s']:g} s (≤ {f['goal_ratio']:.2f}× floor)", judged_cell(f), f["met"])]


def health_args(customers: int, runs: int) -> Args:
    return ("--customers", str(customers), "--latency-ms", str(LATENCY_MS), "--concurrency",
            str(CONCURRENCY), "--runs", str(runs))


REGISTRY: list[Bench] = [
    Bench("startup", "bench_startup.py", ("--runs", "21"), ("--runs", "5"), no_database=True,
          rows=startup_rows),
    Bench("onboard", "bench_onboard.py", ("--runs", "7", "--batch", "1000"),
          ("--runs", "3", "--batch", "100"), rows=onboard_rows),
    Bench("import", "bench_feedback_import.py", ("--rows", "100000", "3"),
          ("--rows", "10000", "1"), runner=run_import, rows=import_rows),
    # issue 11: the report's budget holds with 10 MRR changes per customer in the ledger
    Bench("report", "bench_report.py",
          ("--customers", "10000", "--mrr-changes", "10", "--runs", "5"),
          ("--customers", "1000", "--feedback", "50000", "--checks", "50000", "--runs", "2"),
          full=("--full", "--mrr-changes", "10", "--runs", "3")),
    Bench("lists", "bench_lists.py", ("--customers", "1000,10000", "--runs", "5"),
          ("--customers", "1000", "--runs", "2"), full=("--full", "--runs", "3")),
    Bench("health", "bench_health.py", health_args(1000, 3), health_args(200, 1),
          runner=run_health, rows=health_rows),
    Bench("timeline", "bench_timeline.py", ("--events", "10000", "--runs", "7"),
          ("--events", "1000", "--customers", "100", "--runs", "2")),
    Bench("completion", "bench_completion.py"),  # speedcli: shell completion at 10,000 slugs
    Bench("tasks", "bench_tasks.py", ("--tasks", "10000", "--runs", "7"),
          ("--tasks", "1000", "--runs", "2")),  # issue 11: task list over 10,000 tasks
    Bench("sla", "bench_sla.py", ("--customers", "1000", "--runs", "5"),
          ("--customers", "100", "--days", "3", "--runs", "2"), rows=sla_rows),  # issue 12
    Bench("audit", "bench_audit.py", ("--events", "1000000", "--runs", "3"),
          ("--events", "10000", "--runs", "2"), rows=audit_rows),  # issue 12
]


# --- the table ------------------------------------------------------------------------------------

def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**NO**")


def rows_of(bench: Bench, args: Args, found: dict[str, dict | str]
            ) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """Table rows (figure, goal, {database: cell}, {database: met}); `found` maps a database
    label to the script's figures or to the failure's text."""
    table: dict[tuple[str, str], tuple[dict[str, str], dict[str, str]]] = {}
    for label, figures in found.items():
        if isinstance(figures, str) and figures.startswith("no benchmark yet"):
            rows = [(f"`{bench.name}` (issue 14)", "—", figures, None)]
        elif isinstance(figures, str):
            rows = [(f"`{bench.script}`", "—", f"failed: {figures}", False)]
        elif bench.rows is not None:
            try:
                rows = bench.rows(figures, args)
            except (KeyError, StopIteration, TypeError, ValueError) as exc:  # the table goes on
                rows = [(f"`{bench.script}`", "—", f"figures not understood: "
                         f"{type(exc).__name__} {exc}", False)]
        else:
            rows = [(g["figure"], g["goal"], g["value"], g["met"])
                    for g in figures.get("goals", [])]
        for figure, goal, cell, ok in rows:
            cells, oks = table.setdefault((figure, goal), ({}, {}))
            cells[label], oks[label] = cell, met(ok)
    return [(figure, goal, cells, oks) for (figure, goal), (cells, oks) in table.items()]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    names = [bench.name for bench in REGISTRY]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="a PostgreSQL server URL whose role may CREATE "
                        "DATABASE, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    sizes.add_argument("--full", action="store_true",
                       help="the growth curves' largest sizes too (100,000 customers)")
    parser.add_argument("--only", action="append", default=[],
                        help=f"run only these (comma-separated, repeatable): {', '.join(names)}")
    parser.add_argument("--report-runs", type=int,
                        help="runs of the report command (the dataset is generated once)")
    options = parser.parse_args()
    only = [n.strip() for arg in options.only for n in arg.split(",") if n.strip()] or names
    unknown = sorted(set(only) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    mode = "quick" if options.quick else "full" if options.full else "normal"

    databases = [Database("SQLite")]
    if options.postgres_url:
        databases.append(Database("PostgreSQL", options.postgres_url))
    described = [db.describe() for db in databases]  # fails early on a wrong server URL
    load_before = os.getloadavg()
    began = datetime.now(UTC)
    started = time.perf_counter()

    results: list[tuple[Bench, Args, dict[str, dict | str]]] = []
    for bench in REGISTRY:
        if bench.name not in only:
            continue
        args = bench.arguments(mode)
        if bench.name == "report" and options.report_runs:
            args = (*args, "--runs", str(options.report_runs))
        found: dict[str, dict | str] = {}
        if not (HERE / bench.script).exists():
            found["SQLite"] = f"no benchmark yet (benchmarks/{bench.script})"
            results.append((bench, args, found))
            continue
        for db in databases[:1] if bench.no_database else databases:
            log(f"\n== {bench.name} on {db.label}")
            try:
                found[db.label] = (bench.runner or run_plain)(bench, db, args)
            except BenchFailed as exc:
                found[db.label] = str(exc)
                log(f"    {exc}")
        results.append((bench, args, found))
    load_after = os.getloadavg()
    took = time.perf_counter() - started

    lines = []
    if options.quick:
        lines.append("**Quick smoke run: reduced sizes, not the issues' figures; goals not "
                     "judged.**\n")
    lines.append(f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
                 f"{platform.release()}, Python {platform.python_version()}.  ")
    lines.append(f"Databases: {'; '.join(described)}.  ")
    lines.append(f"Date: {began:%Y-%m-%d %H:%M} UTC; load average before the run "
                 f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} "
                 f"(1 / 5 / 15 min), {max(LOADS, default=load_after[0]):.2f} at most between "
                 f"benchmarks, {load_after[0]:.2f} after; the run took {took / 60:.1f} min.\n")
    lines.append("| figure | goal | SQLite | PostgreSQL | met? |")
    lines.append("|---|---|---|---|---|")
    for bench, args, found in results:
        for figure, goal, cells, oks in rows_of(bench, args, found):
            sqlite = cells.get("SQLite", "not run")
            if bench.no_database:
                postgres = "same (opens no database)"
            elif len(databases) > 1:
                postgres = cells.get("PostgreSQL", "not run")
            else:
                postgres = "not run (no --postgres-url)"
            verdicts = {db.label: oks[db.label] for db in databases if db.label in oks}
            verdict = (next(iter(verdicts.values())) if len(set(verdicts.values())) == 1 else
                       ", ".join(f"{label} {ok}" for label, ok in verdicts.items()))
            if options.quick and verdict != "—":
                verdict = "— (quick run: the goals are for the full sizes)"
            lines.append(f"| {figure} | {goal} | {sqlite} | {postgres} | {verdict} |")
    print("\n".join(lines))
    failed = any(isinstance(f, str) and not f.startswith("no benchmark yet")
                 for _, _, found in results for f in found.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
