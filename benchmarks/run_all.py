"""Every figure the issues name, on SQLite and on PostgreSQL, as ONE markdown table.

    python benchmarks/run_all.py [--postgres-url postgresql+psycopg://postgres@127.0.0.1:PORT/postgres]
                                 [--quick] [--only startup,onboard,import,report,health]
                                 [--report-runs N]

Runs the bench_*.py scripts beside this file as subprocesses with `--json` (each ends with one JSON
line of figures; their human text goes to stderr here as a progress log) and prints the table on
stdout, headed by the machine (CPU model, cores, Python), the date and the load average before and
after the run. Without --postgres-url only SQLite is measured. With it, the URL names a server
whose role may CREATE DATABASE: every benchmark run gets a fresh database there, passed to the
script as UNMO_DATABASE_URL, and dropped afterwards. --quick shrinks every size for a smoke run
(its figures are not the issues' figures). Asserts nothing: a missed goal is a "NO" in the table.
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
FIGURES = ("startup", "onboard", "import", "report", "health")
BENCH_TIMEOUT_S = 1800  # a hang must end the run, a slow machine must not
LOADS: list[float] = []  # the 1-minute load average after each script: how busy the machine was

# Sizes of a full run (the issues' figures) and of a --quick smoke run.
FULL = {"startup_runs": 21, "onboard_runs": 7, "batch": 1000, "import_rows": 100_000,
        "import_runs": 3, "customers": 10_000, "feedback": 1_000_000, "checks": 1_000_000,
        "report_runs": 5, "health_customers": 1000, "health_runs": 3}
QUICK = {"startup_runs": 5, "onboard_runs": 3, "batch": 100, "import_rows": 10_000,
         "import_runs": 1, "customers": 1000, "feedback": 50_000, "checks": 50_000,
         "report_runs": 2, "health_customers": 200, "health_runs": 1}
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


# --- one function per figure: runs the script(s) on one database, returns its figures -----------

def startup(db: Database, size: dict) -> dict:
    with db.fresh() as url:
        return run_bench("bench_startup.py", ["--runs", str(size["startup_runs"])], url)


def onboard(db: Database, size: dict) -> dict:
    with db.fresh() as url:
        return run_bench("bench_onboard.py", ["--runs", str(size["onboard_runs"]),
                                              "--batch", str(size["batch"])], url)


def feedback_import(db: Database, size: dict) -> dict:
    """One script run per measurement, each on an empty database."""
    runs = []
    for _ in range(size["import_runs"]):
        with db.fresh() as url:
            runs.append(run_bench("bench_feedback_import.py",
                                  ["--rows", str(size["import_rows"]), "--runs", "1"], url))
    return {"rows": size["import_rows"], "runs": len(runs),
            "import_s": [s for run in runs for s in run["import_s"]],
            "cpu_s": [s for run in runs for s in run["cpu_s"]]}


def report(db: Database, size: dict) -> dict:
    with db.fresh() as url:
        return run_bench("bench_report.py", [
            "--customers", str(size["customers"]), "--feedback", str(size["feedback"]),
            "--checks", str(size["checks"]), "--runs", str(size["report_runs"])], url)


def health(db: Database, size: dict) -> dict:
    args = ["--customers", str(size["health_customers"]), "--latency-ms", str(LATENCY_MS),
            "--concurrency", str(CONCURRENCY), "--runs", str(size["health_runs"])]
    with db.fresh() as url, db.fresh() as empty:
        return run_bench("bench_health.py",
                         args + (["--empty-database-url", empty] if empty else []), url)


RUNNERS: dict[str, Callable[[Database, dict], dict]] = {
    "startup": startup, "onboard": onboard, "import": feedback_import, "report": report,
    "health": health}


# --- the table ------------------------------------------------------------------------------------

def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def met(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def rows_for(name: str, size: dict, found: dict[str, dict | str]) -> list[tuple]:
    """Table rows (figure, goal, {database label: cell}, {database label: met}) for one figure;
    `found` maps a database label to its figures or to the failure's text."""

    def each(cell: Callable[[dict], tuple[str, str]]) -> tuple[dict, dict]:
        cells, oks = {}, {}
        for label, figures in found.items():
            if isinstance(figures, str):
                cells[label], oks[label] = f"failed: {figures}", "**NO**"
            else:
                cells[label], oks[label] = cell(figures)
        return cells, oks

    if name == "startup":
        def cell(f):
            return (f"{f['ratio']:.2f}× ({seconds(f['help_s'])} ÷ {seconds(f['typer_s'])})",
                    met(f["ratio"] <= 1.5))
        return [("`unmo --help` ÷ `python -c \"import typer\"`, whole process "
                 f"(median of {size['startup_runs']})", "≤ 1.5×", *each(cell))]
    if name == "onboard":
        def one(f):
            return (f"{seconds(f['onboard_s'])} (CPU {seconds(f['onboard_cpu_s'])})",
                    met(f["onboard_s"] <= 0.5))

        def batch(f):
            return (f"{f['batch_s']:.1f} s (CPU {f['batch_cpu_s']:.1f} s)",
                    met(f["batch_s"] <= 30))
        batch_goal = "≤ 30 s"
        return [("one non-interactive `unmo onboard NAME … --yes`, whole process, database "
                 f"already there (median of {size['onboard_runs']})", "≤ 0.5 s", *each(one)),
                (f"`unmo onboard --from FILE`, {size['batch']:,} customers, whole process",
                 batch_goal, *each(batch))]
    if name == "import":
        goal = 3.0

        def cell(f):
            median = statistics.median(f["import_s"])
            return (f"{seconds(median)} (CPU {seconds(statistics.median(f['cpu_s']))})",
                    met(median <= goal))
        return [(f"`unmo feedback import`, {size['import_rows']:,} CSV rows, whole process "
                 f"(median of {size['import_runs']}, empty database each)", f"≤ {goal:g} s",
                 *each(cell))]
    if name == "report":
        def whole(f):
            median = statistics.median(f["whole_s"])
            return (f"{seconds(median)} (CPU {seconds(statistics.median(f['cpu_s']))})",
                    met(median <= 1.5))

        def floor(f):
            return seconds(f["floor_s"]), "—"

        def ratio(f):
            return f"{statistics.median(f['whole_s']) / f['floor_s']:.1f}×", "—"
        data = (f"{size['customers']:,} customers, {size['feedback']:,} feedback, "
                f"{size['checks']:,} health checks")
        return [(f"`unmo report weekly --format json`, {data}, whole process "
                 f"(median of {size['report_runs']})", "≤ 1.5 s", *each(whole)),
                ("its heaviest SQL aggregate alone, raw through the driver (the floor)",
                 "— (printed)", *each(floor)),
                ("report ÷ floor", "— (printed)", *each(ratio))]
    if name == "health":
        floor_s = size["health_customers"] * LATENCY_MS / 1000 / CONCURRENCY

        def cell(f):
            at = next(c for c in f["by_concurrency"] if c["concurrency"] == CONCURRENCY)
            median = statistics.median(at["whole_s"])
            ok = median <= at["goal_s"] and median <= 5.0
            return (f"{seconds(median)} ({median / floor_s:.2f}× floor; goal "
                    f"{seconds(at['goal_s'])} = 1.5 × floor + start-up "
                    f"{seconds(f['startup_s'])}; CPU {seconds(statistics.median(at['cpu_s']))})",
                    met(ok))
        return [(f"`unmo health --all`, {size['health_customers']:,} customers, {LATENCY_MS} ms "
                 f"loopback API, concurrency {CONCURRENCY}, whole process (median of "
                 f"{size['health_runs']}); floor {size['health_customers']:,} × {LATENCY_MS} ms "
                 f"÷ {CONCURRENCY} = {seconds(floor_s)}",
                 "≤ 1.5 × floor + start-up, and ≤ 5 s", *each(cell))]
    raise ValueError(name)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="a PostgreSQL server URL whose role may CREATE "
                        "DATABASE, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", action="append", default=[],
                        help=f"run only these figures (comma-separated, repeatable): "
                             f"{', '.join(FIGURES)}")
    parser.add_argument("--report-runs", type=int,
                        help="runs of the report command (the dataset is generated once)")
    options = parser.parse_args()
    only = [n.strip() for arg in options.only for n in arg.split(",") if n.strip()] or FIGURES
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    size = dict(QUICK if options.quick else FULL)
    if options.report_runs:
        size["report_runs"] = options.report_runs

    databases = [Database("SQLite")]
    if options.postgres_url:
        databases.append(Database("PostgreSQL", options.postgres_url))
    described = [db.describe() for db in databases]  # fails early on a wrong server URL
    load_before = os.getloadavg()
    began = datetime.now(UTC)
    started = time.perf_counter()

    results: dict[str, dict[str, dict | str]] = {}
    for name in FIGURES:
        if name not in only:
            continue
        # start-up opens no database: measured once, shown in the SQLite column
        targets = databases[:1] if name == "startup" else databases
        results[name] = {}
        for db in targets:
            log(f"\n== {name} on {db.label}")
            try:
                results[name][db.label] = RUNNERS[name](db, size)
            except BenchFailed as exc:
                results[name][db.label] = str(exc)
                log(f"    {exc}")
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
    for name, found in results.items():
        for figure, goal, cells, oks in rows_for(name, size, found):
            sqlite = cells.get("SQLite", "not run")
            if name == "startup":
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
    return 1 if any(isinstance(f, str) for found in results.values() for f in found.values()) \
        else 0


if __name__ == "__main__":
    raise SystemExit(main())
